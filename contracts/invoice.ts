import { Decimal } from 'decimal.js';
import { amountDue } from '../domain/credit/index.ts';
import type { BillingKind } from '../domain/billrun/index.ts';
import type { Invoice } from '../domain/invoicing/index.ts';
import { MONEY_SCALE } from '../domain/money/index.ts';

/**
 * A figure shown beside the money, not added up (a prorated or discounted unit price, the
 * taxable base), at the wire's scale. The invoice keeps them exact (the bill run's audit copy
 * has them); the amounts that add up are rounded to minor units and fit the scale as they are.
 */
const informative = (value: Decimal): Decimal => value.toDecimalPlaces(MONEY_SCALE, Decimal.ROUND_HALF_EVEN);

/** `brand.<code>.invoices` (schemas/invoice.avsc) as avsc reads and writes it. */
export interface InvoiceEvent {
  invoiceId: string;
  invoiceNumber: string;
  brand: string;
  accountId: string;
  subscriptionId: string;
  periodStart: number;
  periodEnd: number;
  issuedAt: number;
  dueAt: number;
  currency: string;
  lines: {
    lineId: string;
    kind: string;
    description: string;
    usageType: string | null;
    quantity: Decimal;
    unitPrice: Decimal;
    amount: Decimal;
    periodStart: number;
    periodEnd: number;
  }[];
  taxes: {
    taxCode: string;
    jurisdiction: string;
    rate: Decimal;
    taxableAmount: Decimal;
    amount: Decimal;
    name: string;
    exemptionReference: string | null;
  }[];
  subtotal: Decimal;
  taxTotal: Decimal;
  total: Decimal;
  kind: string;
  taxPoint: string;
  usageSummaries: {
    usageType: string;
    calls: number;
    unitSeconds: number;
    billableUnits: Decimal;
    includedUnits: Decimal;
    overageUnits: Decimal;
    amount: Decimal;
  }[];
  usagePeriodStart: number | null;
  usagePeriodEnd: number | null;
  /** The credit balance consumed; null in older events (none). */
  creditApplied?: Decimal | null;
  /** total − creditApplied, never below zero; null in older events (see amountDueOf). */
  amountDue?: Decimal | null;
  /** The plan changes of the period billed in arrears, in words; empty in older events. */
  notes?: string[];
}

/** What an invoice event asks the customer to pay, for events from before credit balances too. */
export function amountDueOf(event: Pick<InvoiceEvent, 'total' | 'creditApplied' | 'amountDue'>): Decimal {
  return event.amountDue ?? amountDue(event.total, event.creditApplied ?? new Decimal(0));
}

/** The event of a numbered invoice: rounded amounts only (the unrounded ones stay in the bill run's audit copy). */
export function toInvoiceEvent(invoice: Invoice, invoiceNumber: string, kind: BillingKind, creditApplied: Decimal = new Decimal(0)): InvoiceEvent {
  return {
    invoiceId: invoice.invoiceId,
    invoiceNumber,
    brand: invoice.brand,
    accountId: invoice.accountId,
    subscriptionId: invoice.subscriptionId,
    periodStart: invoice.periodStart.getTime(),
    periodEnd: invoice.periodEnd.getTime(),
    issuedAt: invoice.issuedAt.getTime(),
    dueAt: invoice.dueAt.getTime(),
    currency: invoice.currency,
    lines: invoice.lines.map((l) => ({
      lineId: l.lineId,
      kind: l.kind,
      description: l.description,
      usageType: l.usageType,
      quantity: l.quantity,
      unitPrice: informative(l.unitPrice),
      amount: l.amount,
      periodStart: l.periodStart.getTime(),
      periodEnd: l.periodEnd.getTime(),
    })),
    taxes: invoice.taxes.map((t) => ({
      taxCode: t.taxCode,
      jurisdiction: t.jurisdiction,
      rate: t.rate,
      taxableAmount: informative(t.taxableAmount),
      amount: t.amount,
      name: t.name,
      exemptionReference: t.exemption?.reference ?? null,
    })),
    subtotal: invoice.subtotal,
    taxTotal: invoice.taxTotal,
    total: invoice.total,
    kind,
    taxPoint: invoice.taxPoint,
    usageSummaries: invoice.usageSummaries.map((u) => ({
      usageType: u.usageType,
      calls: u.calls,
      unitSeconds: u.unitSeconds,
      billableUnits: u.billableUnits,
      includedUnits: u.includedUnits,
      overageUnits: u.overageUnits,
      amount: u.amount,
    })),
    usagePeriodStart: invoice.usagePeriod?.start.getTime() ?? null,
    usagePeriodEnd: invoice.usagePeriod?.end.getTime() ?? null,
    creditApplied: creditApplied.isZero() ? null : creditApplied,
    amountDue: amountDue(invoice.total, creditApplied),
    notes: [...(invoice.notes ?? [])],
  };
}
