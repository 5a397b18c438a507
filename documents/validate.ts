import { Decimal } from 'decimal.js';
import { IANAZone } from 'luxon';
import { MINOR_UNITS } from '../domain/money/index.ts';
import { DocumentError } from './types.ts';
import type { BrandBranding, CustomerBlock, InvoiceDocumentInput, PostalAddress, ReceiptDocumentInput } from './types.ts';

const HEX_COLOUR = /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i;
const EMAIL = /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/;
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Twelve or more digits in a row (spaces or dashes between allowed) look like a card number. */
const PAN_LIKE = /(?:\d[ -]?){12,}/;

function checkAddress(at: string, a: PostalAddress | null | undefined, problems: string[]): void {
  if (!a) {
    problems.push(`${at} is missing`);
    return;
  }
  if (!a.line1?.trim()) problems.push(`${at}.line1 is empty`);
  if (!a.city?.trim()) problems.push(`${at}.city is empty`);
  if (!/^[A-Z]{2}$/.test(a.country ?? '')) problems.push(`${at}.country "${a.country}" is not an ISO 3166-1 alpha-2 code`);
}

function checkLocale(locale: string, problems: string[]): void {
  try {
    const [canonical] = Intl.getCanonicalLocales(locale);
    if (!canonical || Intl.NumberFormat.supportedLocalesOf([canonical]).length === 0) problems.push(`branding.locale "${locale}" is not supported by this runtime's ICU`);
  } catch {
    problems.push(`branding.locale "${locale}" is not a BCP 47 locale`);
  }
}

function checkBranding(b: BrandBranding, problems: string[]): void {
  if (!b.brandCode?.trim()) problems.push('branding.brandCode is empty');
  if (!b.template?.trim()) problems.push('branding.template is empty');
  if (!b.displayName?.trim()) problems.push('branding.displayName is empty');
  if (!b.legalName?.trim()) problems.push('branding.legalName is empty');
  for (const [field, v] of [['primaryColour', b.primaryColour], ['accentColour', b.accentColour]] as const) {
    if (!HEX_COLOUR.test(v ?? '')) problems.push(`branding.${field} "${v}" is not #rgb or #rrggbb`);
  }
  checkLocale(b.locale, problems);
  if (!IANAZone.isValidZone(b.timeZone)) problems.push(`branding.timeZone "${b.timeZone}" is not an IANA zone`);
  checkAddress('branding.address', b.address, problems);
  if (b.remitToAddress) checkAddress('branding.remitToAddress', b.remitToAddress, problems);
  if (!EMAIL.test(b.supportEmail ?? '')) problems.push(`branding.supportEmail "${b.supportEmail}" is not an email address`);
  if (!EMAIL.test(b.emailFrom?.address ?? '')) problems.push(`branding.emailFrom.address "${b.emailFrom?.address}" is not an email address`);
  if (b.logo) {
    if (!(b.logo.width > 0 && b.logo.height > 0)) problems.push('branding.logo width and height must be > 0');
    if (b.logo.kind === 'png' && !PNG_SIGNATURE.every((byte, i) => b.logo?.kind === 'png' && b.logo.data[i] === byte)) {
      problems.push('branding.logo.data is not a PNG');
    }
    if (b.logo.kind === 'svg' && !/^\s*(<\?xml[^>]*>\s*)?<svg[\s>]/.test(b.logo.svg)) problems.push('branding.logo.svg does not start with <svg');
  }
}

function checkCustomer(c: CustomerBlock, problems: string[]): void {
  if (!c.name?.trim()) problems.push('customer.name is empty');
  if (!c.accountId?.trim()) problems.push('customer.accountId is empty');
  if (!EMAIL.test(c.email ?? '')) problems.push(`customer.email "${c.email}" is not an email address`);
  checkAddress('customer.billingAddress', c.billingAddress, problems);
}

function checkMinor(at: string, v: Decimal, currency: string, problems: string[]): void {
  const digits = MINOR_UNITS[currency];
  if (!Decimal.isDecimal(v) || !v.isFinite()) problems.push(`${at} is not a finite Decimal`);
  else if (digits !== undefined && v.decimalPlaces() > digits) problems.push(`${at} ${v.toFixed()} has more than ${digits} decimals (not rounded to ${currency} minor units)`);
}

function fail(what: string, problems: string[]): never {
  throw new DocumentError('invalid_document_input', `invalid ${what}: ${problems.join('; ')}`, problems);
}

/** Checks an invoice document's input once, reporting every problem. */
export function validateInvoiceDocument(input: InvoiceDocumentInput): void {
  const problems: string[] = [];
  const { invoice } = input;
  checkBranding(input.branding, problems);
  checkCustomer(input.customer, problems);
  const cur = invoice.currency;
  if (MINOR_UNITS[cur] === undefined) problems.push(`invoice.currency "${cur}" is not a known currency`);
  invoice.lines.forEach((l, i) => checkMinor(`invoice.lines[${i}] (${l.lineId}).amount`, l.amount, cur, problems));
  invoice.taxes.forEach((t, i) => checkMinor(`invoice.taxes[${i}] (${t.taxCode}).amount`, t.amount, cur, problems));
  invoice.usageSummaries.forEach((u, i) => checkMinor(`invoice.usageSummaries[${i}] (${u.usageType}).amount`, u.amount, cur, problems));
  checkMinor('invoice.subtotal', invoice.subtotal, cur, problems);
  checkMinor('invoice.taxTotal', invoice.taxTotal, cur, problems);
  checkMinor('invoice.total', invoice.total, cur, problems);
  if (invoice.accountId !== input.customer.accountId) problems.push(`customer.accountId ${input.customer.accountId} is not the invoice's account ${invoice.accountId}`);
  if (invoice.brand !== input.branding.brandCode) problems.push(`branding.brandCode ${input.branding.brandCode} is not the invoice's brand ${invoice.brand}`);
  if (problems.length > 0) fail('invoice document input', problems);
}

/** Checks a receipt document's input once, reporting every problem. */
export function validateReceiptDocument(input: ReceiptDocumentInput): void {
  const problems: string[] = [];
  const { receipt } = input;
  checkBranding(input.branding, problems);
  checkCustomer(input.customer, problems);
  if (MINOR_UNITS[receipt.currency] === undefined) problems.push(`receipt.currency "${receipt.currency}" is not a known currency`);
  checkMinor('receipt.amount', receipt.amount, receipt.currency, problems);
  if (receipt.balanceAfter) checkMinor('receipt.balanceAfter', receipt.balanceAfter, receipt.currency, problems);
  if (!(receipt.paidAt instanceof Date) || Number.isNaN(receipt.paidAt.getTime())) problems.push('receipt.paidAt is not a valid instant');
  if (!receipt.paymentId?.trim()) problems.push('receipt.paymentId is empty');
  if (!receipt.invoiceNumber?.trim()) problems.push('receipt.invoiceNumber is empty');
  // Invariant 7: no card data. A label that could hold a card number is refused, not printed.
  for (const [field, v] of [['methodLabel', receipt.methodLabel], ['gatewayReference', receipt.gatewayReference]] as const) {
    if (PAN_LIKE.test(v ?? '')) problems.push(`receipt.${field} contains a run of 12 or more digits (a card number?): pass a token-free label such as "Visa •••• 4242"`);
  }
  if (problems.length > 0) fail('receipt document input', problems);
}

/** Checks the branding and customer of a notice email (documents/notices.ts) once, reporting every problem. */
export function validateNoticeInput(branding: BrandBranding, customer: CustomerBlock): void {
  const problems: string[] = [];
  checkBranding(branding, problems);
  checkCustomer(customer, problems);
  if (problems.length > 0) fail('notice email input', problems);
}
