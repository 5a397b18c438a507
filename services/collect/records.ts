import { Decimal } from 'decimal.js';
import { money } from '../../domain/money/index.ts';
import type { Money } from '../../domain/money/index.ts';
import type { ChargeEntry, InvoicePaymentState, RefundEntry } from '../../domain/payments/index.ts';

export type { PaymentRecord } from '../../contracts/payment.ts';

interface MoneyJson {
  amount: string;
  currency: string;
}
const m2j = (m: Money): MoneyJson => ({ amount: m.amount.toFixed(), currency: m.currency });
const j2m = (j: MoneyJson): Money => money(j.amount, j.currency);

/** InvoicePaymentState as stored in jsonb: money as strings, instants as ISO 8601. */
export function stateToJson(s: InvoicePaymentState): unknown {
  return {
    invoiceId: s.invoiceId,
    amountDue: m2j(s.amountDue),
    status: s.status,
    paid: m2j(s.paid),
    refunded: m2j(s.refunded),
    charges: Object.fromEntries(
      Object.entries(s.charges).map(([ref, c]) => [ref, { status: c.status, amount: m2j(c.amount), eventId: c.eventId, occurredAt: new Date(c.occurredAt).toISOString() }]),
    ),
    refunds: Object.fromEntries(Object.entries(s.refunds).map(([ref, r]) => [ref, { status: r.status, amount: m2j(r.amount), chargeReference: r.chargeReference, eventId: r.eventId }])),
    seenEventIds: s.seenEventIds,
  };
}

export function stateFromJson(raw: unknown): InvoicePaymentState {
  const j = (typeof raw === 'string' ? JSON.parse(raw) : raw) as {
    invoiceId: string;
    amountDue: MoneyJson;
    status: InvoicePaymentState['status'];
    paid: MoneyJson;
    refunded: MoneyJson;
    charges: Record<string, { status: ChargeEntry['status']; amount: MoneyJson; eventId: string; occurredAt: string }>;
    refunds: Record<string, { status: RefundEntry['status']; amount: MoneyJson; chargeReference: string; eventId: string }>;
    seenEventIds: string[];
  };
  return {
    invoiceId: j.invoiceId,
    amountDue: j2m(j.amountDue),
    status: j.status,
    paid: j2m(j.paid),
    refunded: j2m(j.refunded),
    charges: Object.fromEntries(Object.entries(j.charges).map(([ref, c]) => [ref, { status: c.status, amount: j2m(c.amount), eventId: c.eventId, occurredAt: Date.parse(c.occurredAt) }])),
    refunds: Object.fromEntries(Object.entries(j.refunds).map(([ref, r]) => [ref, { status: r.status, amount: j2m(r.amount), chargeReference: r.chargeReference, eventId: r.eventId }])),
    seenEventIds: j.seenEventIds,
  };
}

/** The payment id of a charge attempt (also the receipt's id): URL-safe, deterministic. */
export const attemptPaymentId = (invoiceId: string, attempt: number) => `pay-${invoiceId}-${attempt}`;
