import { Decimal } from 'decimal.js';
import { dec, roundToMinor } from '../money/index.ts';
import type { TaxCalculation } from '../tax/index.ts';
import { draftInvoice } from './draft.ts';
import { InvoicingError } from './types.ts';
import type { Invoice, InvoiceBuildInput, InvoiceDraft, InvoiceLine, InvoiceTax, UsageSummaryLine } from './types.ts';

/**
 * THE rounding step of an invoice, and the only one:
 * - each line's unrounded amount is rounded to minor units by the brand's mode;
 * - the subtotal IS the sum of the rounded lines (so the lines always add up to it);
 * - each tax, computed by the engine on the sum of the UNROUNDED taxable lines, is
 *   rounded once; the tax total is the sum of the rounded taxes;
 * - total = subtotal + taxTotal.
 * A usage type's summary amount is the sum of its rounded tier lines, so the document's
 * summary and its tier table agree to the cent.
 */
export function roundInvoice(draft: InvoiceDraft, taxes: TaxCalculation): Invoice {
  const { currency, roundingMode } = draft;
  const round = (v: Decimal): Decimal => roundToMinor(v, currency, roundingMode);

  const problems: string[] = [];
  taxes.taxes.forEach((t, i) => {
    for (const [field, v] of [['rate', t.rate], ['taxableAmount', t.taxableAmount], ['tax', t.tax]] as const) {
      if (!(v instanceof Decimal) || !v.isFinite()) problems.push(`taxes[${i}] (${t.taxCode}).${field} is not a finite Decimal`);
    }
  });
  if (new Set(taxes.taxes.map((t) => t.taxCode)).size !== taxes.taxes.length) problems.push('the tax engine returned a tax code twice');
  if (problems.length > 0) {
    throw new InvoicingError('invalid_tax_result', `tax engine ${taxes.engineId} returned an invalid result: ${problems.join('; ')}`, problems);
  }

  const lines: InvoiceLine[] = draft.lines.map((l) => ({ ...l, amount: round(l.amount), unroundedAmount: l.amount }));
  const subtotal = lines.reduce((sum, l) => sum.plus(l.amount), dec(0));
  const taxLines: InvoiceTax[] = taxes.taxes.map((t) => ({
    taxCode: t.taxCode,
    jurisdiction: t.jurisdiction,
    name: t.name,
    rate: t.rate,
    statutoryRate: t.statutoryRate,
    taxableAmount: t.taxableAmount,
    unroundedAmount: t.tax,
    amount: round(t.tax),
    exemption: t.exemption,
  }));
  const taxTotal = taxLines.reduce((sum, t) => sum.plus(t.amount), dec(0));

  const usageSummaries: UsageSummaryLine[] = [...draft.usage]
    .sort((a, b) => (a.usageType < b.usageType ? -1 : a.usageType > b.usageType ? 1 : 0))
    .map((u) => {
      const own = lines.filter((l) => l.kind === 'usage' && l.usageType === u.usageType);
      const units = (s: number): Decimal => dec(s).dividedBy(u.unitSeconds).toDecimalPlaces(6, Decimal.ROUND_HALF_EVEN);
      return {
        usageType: u.usageType,
        calls: u.calls,
        unitSeconds: u.unitSeconds,
        billableUnits: units(u.billableSeconds),
        includedUnits: units(u.includedSeconds),
        overageUnits: units(u.overageSeconds),
        amount: own.reduce((sum, l) => sum.plus(l.amount), dec(0)),
        lineIds: own.map((l) => l.lineId),
      };
    });

  return {
    invoiceId: draft.invoiceId,
    invoiceNumber: null,
    brand: draft.brand,
    accountId: draft.accountId,
    subscriptionId: draft.subscriptionId,
    periodStart: draft.periodStart,
    periodEnd: draft.periodEnd,
    usagePeriod: draft.usagePeriod,
    issuedAt: draft.issuedAt,
    dueAt: draft.dueAt,
    taxPoint: draft.taxPoint,
    currency,
    lines,
    usageSummaries,
    notes: draft.notes,
    taxes: taxLines,
    taxEngineId: taxes.engineId,
    subtotal,
    taxTotal,
    total: subtotal.plus(taxTotal),
  };
}

/**
 * The whole invoice with a synchronous tax engine: draft, taxes, one rounding step.
 * With an engine that answers asynchronously (an external service), the bill run does
 * the same three steps itself: `draftInvoice`, `await engine.calculate(draft.taxRequest)`,
 * `roundInvoice`.
 */
export function buildInvoice(input: InvoiceBuildInput): Invoice {
  const draft = draftInvoice(input);
  return roundInvoice(draft, input.taxEngine.calculate(draft.taxRequest));
}
