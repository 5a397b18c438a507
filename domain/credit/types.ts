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
 * - `refund` (−): credit given back through the gateway, to the cards the customer paid with
 *   (the brand's policy at cancellation); written when asked, so nothing else can use it.
 * - `refund_reversed` (+): the part of such a refund the gateway could not give back (no
 *   charge left to refund, a refund declined): the customer's credit again.
 */
export type CreditSource = 'negative_invoice' | 'credit_note' | 'overpayment' | 'applied' | 'paid_out' | 'refund' | 'refund_reversed';

export const CREDIT_SOURCES: readonly CreditSource[] = ['negative_invoice', 'credit_note', 'overpayment', 'applied', 'paid_out', 'refund', 'refund_reversed'];

/**
 * What a brand does with credit an account still has when it has no active subscription left:
 * `pay_out` (the default): it stays on the ledger, listed as owed, until ops pay it out by
 * cheque or transfer; `refund`: it is refunded through the gateway to the account's most recent
 * card charges at the next bill run, and what cannot be refunded there stays as credit.
 */
export type CreditAtCancellation = 'pay_out' | 'refund';

/** A succeeded charge and what is left to refund on it at the gateway (every refund of it counted, in flight too). */
export interface RefundableCharge {
  readonly reference: string;
  readonly invoiceId: string;
  readonly gateway: string;
  readonly left: Decimal;
  /** When it was paid (epoch ms): the newest are refunded first. */
  readonly at: number;
}

/** The sign each source must have: a ledger never records a "negative overpayment". */
export const CREDIT_SIGN: Readonly<Record<CreditSource, 1 | -1>> = {
  negative_invoice: 1,
  credit_note: 1,
  overpayment: 1,
  applied: -1,
  paid_out: -1,
  refund: -1,
  refund_reversed: 1,
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
