import { compareIds } from './due.ts';
import { BillRunError } from './types.ts';
import type { BillRunBrand, InvoiceNumberAllocation, InvoiceRef, NumberedInvoice } from './types.ts';

/** Digits of the sequence, zero-padded; a longer number keeps all its digits (never wraps). */
export const INVOICE_NUMBER_DIGITS = 6;

/**
 * An invoice number: the brand code upper-cased, a dash, the sequence zero-padded to 6
 * digits: brand `ansr-us`, 123 → `ANSR-US-000123`; 1234567 → `ANSR-US-1234567`.
 */
export function formatInvoiceNumber(brandCode: string, sequence: number): string {
  return `${brandCode.toUpperCase()}-${String(sequence).padStart(INVOICE_NUMBER_DIGITS, '0')}`;
}

/**
 * Gapless invoice numbers for one brand: `lastNumber + 1`, `+ 2`, ... in a deterministic
 * order (subscription id by code unit, then period index), whatever the input order.
 * Pure: the caller stores the returned `lastNumber` in the same transaction as the
 * invoices, so a rolled-back run reuses the same numbers and a committed one never does.
 * A second invoice for the same subscription and period is refused, never numbered twice.
 */
export function allocateInvoiceNumbers<T extends InvoiceRef>(
  brand: Pick<BillRunBrand, 'code'>,
  lastNumber: number,
  invoices: readonly T[],
): InvoiceNumberAllocation<T> {
  const problems: string[] = [];
  if (!brand.code) problems.push('brand.code is empty');
  if (!Number.isSafeInteger(lastNumber) || lastNumber < 0) problems.push(`lastNumber ${lastNumber} is not an integer ≥ 0`);
  if (!Number.isSafeInteger(lastNumber + invoices.length)) problems.push('the sequence would overflow');
  const seen = new Set<string>();
  invoices.forEach((inv, i) => {
    if (!inv.subscriptionId) problems.push(`invoices[${i}].subscriptionId is empty`);
    if (!Number.isSafeInteger(inv.periodIndex) || inv.periodIndex < 0) {
      problems.push(`invoices[${i}].periodIndex ${inv.periodIndex} is not an integer ≥ 0`);
    }
    const key = `${inv.subscriptionId}#${inv.periodIndex}`;
    if (seen.has(key)) problems.push(`invoices[${i}]: a second invoice for ${inv.subscriptionId} period ${inv.periodIndex}`);
    seen.add(key);
  });
  if (problems.length > 0) {
    const duplicate = problems.some((p) => p.includes('a second invoice'));
    throw new BillRunError(
      duplicate ? 'duplicate_billing' : 'invalid_invoice_number_input',
      `cannot number invoices of ${brand.code}: ${problems.join('; ')}`,
      problems,
    );
  }
  const ordered = [...invoices].sort(
    (a, b) => compareIds(a.subscriptionId, b.subscriptionId) || a.periodIndex - b.periodIndex,
  );
  const numbered: NumberedInvoice<T>[] = ordered.map((invoice, i) => {
    const sequence = lastNumber + i + 1;
    return { invoice, sequence, invoiceNumber: formatInvoiceNumber(brand.code, sequence) };
  });
  return { numbered, lastNumber: lastNumber + numbered.length };
}
