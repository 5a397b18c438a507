import type { Decimal } from 'decimal.js';

/**
 * Where an entry of a customer's credit balance came from. Positive entries are money the
 * company owes the customer; negative ones are credit used or given back.
 *
 * - `negative_invoice` (+): an invoice that came out below zero (a cancellation credit, a
 *   re-rating credit larger than the period's charges).
 * - `credit_note` (+): the part of a credit note on a paid invoice kept as credit instead of
 *   refunded through the gateway.
 * - `overpayment` (+): money received beyond what an invoice asked (a cheque after a card
 *   charge, a larger wire).
 * - `applied` (−): credit consumed by a later invoice, shown on it as a line.
 * - `paid_out` (−): credit given back outside the gateway (a cheque or transfer recorded by ops),
 *   typically at cancellation.
 * - `refund` (−): money moved to credit that a gateway refund of its invoice gave back.
 */
export type CreditSource = 'negative_invoice' | 'credit_note' | 'overpayment' | 'applied' | 'paid_out' | 'refund';

export const CREDIT_SOURCES: readonly CreditSource[] = ['negative_invoice', 'credit_note', 'overpayment', 'applied', 'paid_out', 'refund'];

/** The sign each source must have: a ledger never records a "negative overpayment". */
export const CREDIT_SIGN: Readonly<Record<CreditSource, 1 | -1>> = {
  negative_invoice: 1,
  credit_note: 1,
  overpayment: 1,
  applied: -1,
  paid_out: -1,
  refund: -1,
};

export interface CreditEntry {
  /** Deterministic: from the invoice, payment event or payout it records, so a redelivery adds nothing. */
  readonly entryId: string;
  readonly accountId: string;
  readonly currency: string;
  readonly source: CreditSource;
  /** Signed: + owed to the customer, − used or given back. Minor units of the currency. */
  readonly amount: Decimal;
  readonly invoiceId: string | null;
  readonly at: Date;
}
