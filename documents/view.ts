import { Decimal } from 'decimal.js';
import { amountDue, creditFromInvoice } from '../domain/credit/index.ts';
import type { InvoiceLine } from '../domain/invoicing/index.ts';
import { minorUnits } from '../domain/money/index.ts';
import type { PriceModel } from '../domain/pricing/index.ts';
import {
  formatAddress,
  formatAmount,
  formatDate,
  formatDateTime,
  formatPeriod,
  formatQuantity,
  formatRate,
  formatUnitPrice,
} from './format.ts';
import { labelsFor } from './labels.ts';
import type { Labels } from './labels.ts';
import type { BrandBranding, BrandLogo, CustomerBlock, InvoiceDocumentInput, ReceiptDocumentInput } from './types.ts';

/**
 * The documents as formatted strings, computed once and drawn by both the HTML and the PDF
 * renderer, so the two always say the same thing. Every value here is display text
 * (not yet escaped for HTML).
 */

export interface BrandView {
  readonly displayName: string;
  readonly legalName: string;
  readonly addressLines: readonly string[];
  readonly remitToLines: readonly string[] | null;
  readonly registrations: readonly string[];
  readonly primaryColour: string;
  readonly accentColour: string;
  readonly logo: BrandLogo | null;
  readonly contactLines: readonly string[];
  readonly supportEmail: string;
  readonly footerText: string;
}

export interface CustomerView {
  readonly name: string;
  readonly addressLines: readonly string[];
  readonly taxId: string | null;
  readonly email: string;
}

export interface Field {
  readonly label: string;
  readonly value: string;
}

export interface LineView {
  readonly description: string;
  readonly period: string;
  readonly quantity: string;
  readonly unitPrice: string;
  readonly amount: string;
}

export interface TierRowView {
  readonly tier: string;
  readonly range: string;
  readonly unitPrice: string;
  readonly units: string;
  readonly amount: string;
}

export interface UsageView {
  readonly usageType: string;
  readonly unit: string;
  readonly calls: string;
  readonly billable: string;
  readonly included: string;
  readonly overage: string;
  readonly amount: string;
  readonly tableTitle: string;
  readonly tiers: readonly TierRowView[];
  readonly note: string | null;
}

export interface TaxView {
  readonly name: string;
  readonly jurisdiction: string;
  readonly taxable: string;
  readonly rate: string;
  readonly amount: string;
  readonly note: string | null;
}

export interface InvoiceView {
  readonly labels: Labels;
  readonly locale: string;
  readonly title: string;
  readonly isDraft: boolean;
  readonly number: string;
  readonly brand: BrandView;
  readonly customer: CustomerView;
  readonly fields: readonly Field[];
  readonly lines: readonly LineView[];
  /** Plan changes of the period billed in arrears, in words (a plan swap), shown under the lines. */
  readonly notes: readonly string[];
  readonly usage: readonly UsageView[];
  readonly taxes: readonly TaxView[];
  readonly subtotal: string;
  readonly taxTotal: string;
  readonly total: string;
  /** The credit balance consumed, as a negative amount; null when none. */
  readonly creditApplied: string | null;
  /** What the customer is asked to pay: the total less credit applied, never below zero. */
  readonly amountDue: string;
  /** For a negative invoice: the sentence saying where its credit goes; else null. */
  readonly creditNote: string | null;
  readonly dueDate: string;
  readonly issueDate: string;
  readonly paymentTerms: string;
  readonly paymentInstructions: string | null;
  readonly questions: string;
  readonly viewUrl: string | null;
}

export interface ReceiptView {
  readonly labels: Labels;
  readonly locale: string;
  readonly title: string;
  readonly number: string;
  readonly brand: BrandView;
  readonly customer: CustomerView;
  readonly fields: readonly Field[];
  readonly amount: string;
  readonly invoiceNumber: string;
  readonly paidOn: string;
  readonly questions: string;
}

export function brandView(b: BrandBranding): BrandView {
  const contact = [b.supportEmail];
  if (b.supportPhone) contact.push(b.supportPhone);
  if (b.website) contact.push(b.website);
  return {
    displayName: b.displayName,
    legalName: b.legalName,
    addressLines: formatAddress(b.address, b.locale),
    remitToLines: b.remitToAddress ? formatAddress(b.remitToAddress, b.locale) : null,
    registrations: b.taxRegistrations.map((r) => `${r.label} ${r.value}`),
    primaryColour: b.primaryColour,
    accentColour: b.accentColour,
    logo: b.logo,
    contactLines: contact,
    supportEmail: b.supportEmail,
    footerText: b.footerText,
  };
}

export function customerView(c: CustomerBlock, locale: string): CustomerView {
  return { name: c.name, addressLines: formatAddress(c.billingAddress, locale), taxId: c.taxId ?? null, email: c.email };
}

/** The tier index of a usage line, from its semantic id `usage:<type>:t<k>` or `usage:<type>:t<k>:<n>` (k is 1-based). */
export function tierOfLine(line: InvoiceLine): number | null {
  const m = /:t(\d+)(?::\d+)?$/.exec(line.lineId);
  return m ? Number(m[1]) - 1 : null;
}

/** A tier's range in price units from the usage type's price model: "first 100 min", "over 100 up to 500 min". */
function tierRange(model: PriceModel | undefined, tier: number, unit: string, l: Labels, locale: string, currency: string): string {
  if (model === undefined) return l.tierN(tier + 1);
  if (model.kind === 'per_unit') return l.allUnits;
  const t = model.tiers[tier];
  if (t === undefined) return l.tierN(tier + 1);
  const lo = tier === 0 ? null : model.tiers[tier - 1]?.upTo ?? null;
  const q = (n: number): string => formatQuantity(n, locale, 6);
  let range: string;
  if (t.upTo === null) range = l.over(q(lo ?? 0), unit);
  else if (lo === null) range = l.upTo(q(t.upTo), unit);
  else range = l.between(q(lo), q(t.upTo), unit);
  if (t.flatFee && !new Decimal(t.flatFee).isZero()) range += ` (+ ${formatUnitPrice(new Decimal(t.flatFee), currency, locale)})`;
  return range;
}

export function invoiceView(input: InvoiceDocumentInput): InvoiceView {
  const { invoice, branding, customer } = input;
  const locale = branding.locale;
  const zone = branding.timeZone;
  const cur = invoice.currency;
  const l = labelsFor(locale);
  const money = (v: Decimal): string => formatAmount(v, cur, locale);
  const period = (s: Date, e: Date): string => formatPeriod(s, e, zone, locale);
  const isDraft = invoice.invoiceNumber === null;
  const number = invoice.invoiceNumber ?? `${l.draft} ${invoice.invoiceId}`;
  const dueDate = formatDate(invoice.dueAt, zone, locale);
  const issueDate = formatDate(invoice.issuedAt, zone, locale);
  const credit = input.creditApplied ?? new Decimal(0);
  const unitSecondsOf = new Map(invoice.usageSummaries.map((u) => [u.usageType, u.unitSeconds]));

  const fields: Field[] = [
    { label: l.invoiceNumber, value: number },
    { label: l.accountId, value: customer.accountId },
    { label: l.issueDate, value: issueDate },
    { label: l.dueDate, value: dueDate },
    { label: l.servicePeriod, value: period(invoice.periodStart, invoice.periodEnd) },
  ];
  if (invoice.usagePeriod) fields.push({ label: l.usagePeriod, value: period(invoice.usagePeriod.start, invoice.usagePeriod.end) });

  const lines: LineView[] = invoice.lines.map((line) => {
    const unitSeconds = line.usageType !== null ? unitSecondsOf.get(line.usageType) : undefined;
    const isUsage = line.kind === 'usage' && unitSeconds !== undefined;
    return {
      description: line.description,
      period: period(line.periodStart, line.periodEnd),
      quantity: isUsage ? `${formatQuantity(line.quantity, locale)} ${l.unitName(unitSeconds)}` : formatQuantity(line.quantity, locale, 4),
      unitPrice: formatUnitPrice(line.unitPrice, cur, locale),
      amount: money(line.amount),
    };
  });

  const usage: UsageView[] = invoice.usageSummaries.map((u) => {
    const unit = l.unitName(u.unitSeconds);
    const model = input.priceModels?.[u.usageType];
    const tierLines = u.lineIds
      .map((id) => invoice.lines.find((x) => x.lineId === id))
      .filter((x): x is InvoiceLine => x !== undefined);
    const tiers: TierRowView[] = tierLines.map((line) => {
      const tier = tierOfLine(line) ?? 0;
      return {
        tier: String(tier + 1),
        range: tierRange(model, tier, unit, l, locale, cur),
        unitPrice: formatUnitPrice(line.unitPrice, cur, locale),
        units: `${formatQuantity(line.quantity, locale)} ${unit}`,
        amount: money(line.amount),
      };
    });
    const note = model?.kind === 'volume' ? l.volumeNote : model?.kind === 'graduated' ? l.graduatedNote : null;
    return {
      usageType: u.usageType,
      unit,
      calls: formatQuantity(u.calls, locale, 0),
      billable: `${formatQuantity(u.billableUnits, locale)} ${unit}`,
      included: `${formatQuantity(u.includedUnits, locale)} ${unit}`,
      overage: `${formatQuantity(u.overageUnits, locale)} ${unit}`,
      amount: money(u.amount),
      tableTitle: l.pricingTable(u.usageType, unit),
      tiers,
      note: tiers.length > 0 ? note : null,
    };
  });

  const taxes: TaxView[] = invoice.taxes.map((t) => {
    let note: string | null = null;
    if (t.exemption?.kind === 'certificate') note = l.exempt(t.exemption.reason, t.exemption.reference);
    else if (t.exemption?.kind === 'reverse_charge') note = l.reverseCharge(t.exemption.reference);
    return {
      name: t.name,
      jurisdiction: t.jurisdiction,
      // The base is the sum of the UNROUNDED lines (the tax is computed on it); shown to the cent.
      taxable: money(t.taxableAmount.toDecimalPlaces(minorUnits(cur), Decimal.ROUND_HALF_EVEN)),
      rate: formatRate(t.exemption ? t.statutoryRate : t.rate, locale),
      amount: money(t.amount),
      note,
    };
  });

  return {
    labels: l,
    locale,
    title: isDraft ? `${l.invoice} (${l.draft})` : l.invoice,
    isDraft,
    number,
    brand: brandView(branding),
    customer: customerView(customer, locale),
    fields,
    lines,
    notes: invoice.notes ?? [],
    usage,
    taxes,
    subtotal: money(invoice.subtotal),
    taxTotal: money(invoice.taxTotal),
    total: money(invoice.total),
    creditApplied: credit.gt(0) ? money(credit.negated()) : null,
    amountDue: money(amountDue(invoice.total, credit)),
    creditNote: invoice.total.lt(0) ? l.creditAdded(money(creditFromInvoice(invoice.total))) : null,
    dueDate,
    issueDate,
    paymentTerms: l.paymentTerms(dueDate),
    paymentInstructions: branding.paymentInstructions ?? null,
    questions: l.questions(branding.supportEmail),
    viewUrl: input.viewUrl ?? null,
  };
}

export function receiptView(input: ReceiptDocumentInput): ReceiptView {
  const { receipt, branding, customer } = input;
  const locale = branding.locale;
  const l = labelsFor(locale);
  const amount = formatAmount(receipt.amount, receipt.currency, locale);
  const number = receipt.receiptNumber ?? receipt.paymentId;
  const paidOn = formatDateTime(receipt.paidAt, branding.timeZone, locale);
  const fields: Field[] = [
    { label: l.receiptNumber, value: number },
    { label: l.paymentFor, value: receipt.invoiceNumber },
    { label: l.accountId, value: customer.accountId },
    { label: l.paidOn, value: paidOn },
    { label: l.paymentMethod, value: receipt.methodLabel },
    { label: l.reference, value: receipt.gatewayReference },
    { label: l.amountPaid, value: amount },
  ];
  if (receipt.balanceAfter) fields.push({ label: l.balanceAfter, value: formatAmount(receipt.balanceAfter, receipt.currency, locale) });
  return {
    labels: l,
    locale,
    title: l.receipt,
    number,
    brand: brandView(branding),
    customer: customerView(customer, locale),
    fields,
    amount,
    invoiceNumber: receipt.invoiceNumber,
    paidOn,
    questions: l.questions(branding.supportEmail),
  };
}
