import { addMoney, compareMoney, isZeroMoney, subtractMoney, zero } from '../money/index.ts';
import type { Money } from '../money/index.ts';
import type { PaymentEvent } from './types.ts';

export type ChargeEntryStatus = 'pending' | 'failed' | 'succeeded';
export type RefundEntryStatus = 'failed' | 'succeeded';

export interface ChargeEntry {
  readonly status: ChargeEntryStatus;
  readonly amount: Money;
  readonly eventId: string;
  readonly occurredAt: number;
}

export interface RefundEntry {
  readonly status: RefundEntryStatus;
  readonly amount: Money;
  readonly chargeReference: string;
  readonly eventId: string;
}

export type InvoicePaymentStatus = 'open' | 'pending' | 'partially_paid' | 'paid' | 'partially_refunded' | 'refunded';

/** Everything known about an invoice's money, built only from applied payment events. */
export interface InvoicePaymentState {
  readonly invoiceId: string;
  readonly amountDue: Money;
  readonly status: InvoicePaymentStatus;
  /** Sum of succeeded charges. */
  readonly paid: Money;
  /** Sum of succeeded refunds. */
  readonly refunded: Money;
  readonly charges: Readonly<Record<string, ChargeEntry>>;
  readonly refunds: Readonly<Record<string, RefundEntry>>;
  /** Event ids already applied (or seen and ignored): the first guard against redelivery. */
  readonly seenEventIds: readonly string[];
}

export type IgnoredReason = 'duplicate_event' | 'stale_transition' | 'other_invoice' | 'currency_mismatch';

export interface ApplyResult {
  readonly state: InvoicePaymentState;
  /** True only when the state moved; false for every redelivery and stale event. */
  readonly changed: boolean;
  readonly ignored?: IgnoredReason;
}

export function openPaymentState(invoiceId: string, amountDue: Money): InvoicePaymentState {
  return {
    invoiceId,
    amountDue,
    status: 'open',
    paid: zero(amountDue.currency),
    refunded: zero(amountDue.currency),
    charges: {},
    refunds: {},
    seenEventIds: [],
  };
}

/**
 * A charge only moves forward: pending → failed → succeeded. Failed → succeeded happens
 * when the gateway retries one charge (a PaymentIntent confirmed again); succeeded →
 * anything, and failed → pending, are out-of-order deliveries and change nothing.
 */
const CHARGE_RANK: Record<ChargeEntryStatus, number> = { pending: 1, failed: 2, succeeded: 3 };
const REFUND_RANK: Record<RefundEntryStatus, number> = { failed: 1, succeeded: 2 };

function derive(state: Omit<InvoicePaymentState, 'status' | 'paid' | 'refunded'>): InvoicePaymentState {
  const currency = state.amountDue.currency;
  let paid = zero(currency);
  let refunded = zero(currency);
  let anyPending = false;
  for (const c of Object.values(state.charges)) {
    if (c.status === 'succeeded') paid = addMoney(paid, c.amount);
    if (c.status === 'pending') anyPending = true;
  }
  for (const r of Object.values(state.refunds)) if (r.status === 'succeeded') refunded = addMoney(refunded, r.amount);

  let status: InvoicePaymentStatus;
  if (!isZeroMoney(paid) && compareMoney(refunded, paid) >= 0) status = 'refunded';
  else if (compareMoney(paid, state.amountDue) >= 0 && !isZeroMoney(paid)) status = isZeroMoney(refunded) ? 'paid' : 'partially_refunded';
  else if (anyPending) status = 'pending';
  else if (!isZeroMoney(subtractMoney(paid, refunded))) status = 'partially_paid';
  else status = 'open';
  return { ...state, status, paid, refunded };
}

/**
 * Applies one payment event. Idempotent and order-tolerant: the same event twice, or an
 * older event after a newer one, returns the state unchanged with `changed: false`.
 */
export function applyPaymentEvent(state: InvoicePaymentState, event: PaymentEvent): ApplyResult {
  if (event.invoiceId !== state.invoiceId) return { state, changed: false, ignored: 'other_invoice' };
  if (state.seenEventIds.includes(event.eventId)) return { state, changed: false, ignored: 'duplicate_event' };
  if (event.amount.currency !== state.amountDue.currency) return { state, changed: false, ignored: 'currency_mismatch' };
  const seen = [...state.seenEventIds, event.eventId];

  if (event.type.startsWith('charge.')) {
    const next: ChargeEntryStatus =
      event.type === 'charge.succeeded' ? 'succeeded' : event.type === 'charge.failed' ? 'failed' : 'pending';
    const current = state.charges[event.chargeReference];
    if (current && CHARGE_RANK[current.status] >= CHARGE_RANK[next]) {
      return { state: { ...state, seenEventIds: seen }, changed: false, ignored: 'stale_transition' };
    }
    const entry: ChargeEntry = { status: next, amount: event.amount, eventId: event.eventId, occurredAt: event.occurredAt };
    return { state: derive({ ...state, seenEventIds: seen, charges: { ...state.charges, [event.chargeReference]: entry } }), changed: true };
  }

  const refundRef = event.refundReference ?? event.eventId;
  const next: RefundEntryStatus = event.type === 'refund.succeeded' ? 'succeeded' : 'failed';
  const current = state.refunds[refundRef];
  if (current && REFUND_RANK[current.status] >= REFUND_RANK[next]) {
    return { state: { ...state, seenEventIds: seen }, changed: false, ignored: 'stale_transition' };
  }
  const entry: RefundEntry = { status: next, amount: event.amount, chargeReference: event.chargeReference, eventId: event.eventId };
  return { state: derive({ ...state, seenEventIds: seen, refunds: { ...state.refunds, [refundRef]: entry } }), changed: true };
}

/** Applies events in the order given; `changes` counts effective transitions. */
export function applyPaymentEvents(state: InvoicePaymentState, events: readonly PaymentEvent[]): { state: InvoicePaymentState; changes: number } {
  let changes = 0;
  for (const e of events) {
    const r = applyPaymentEvent(state, e);
    state = r.state;
    if (r.changed) changes += 1;
  }
  return { state, changes };
}

/** "Before charging, check the invoice is not already paid": true when nothing is owed. */
export function isSettled(state: InvoicePaymentState): boolean {
  return state.status === 'paid' || state.status === 'partially_refunded' || state.status === 'refunded';
}

/**
 * Lowers what is owed by a credit note's balance part (never below zero) and derives the
 * status again: a partly paid invoice whose remainder is credited becomes paid.
 */
export function reduceAmountDue(state: InvoicePaymentState, by: Money): InvoicePaymentState {
  if (by.currency !== state.amountDue.currency) throw new RangeError(`credit in ${by.currency} on an invoice in ${state.amountDue.currency}`);
  const lowered = subtractMoney(state.amountDue, by);
  const amountDue = compareMoney(lowered, zero(lowered.currency)) < 0 ? zero(lowered.currency) : lowered;
  return derive({ ...state, amountDue });
}

/** What is still to collect: amount due minus succeeded charges (never below zero). */
export function outstanding(state: InvoicePaymentState): Money {
  const left = subtractMoney(state.amountDue, state.paid);
  return compareMoney(left, zero(left.currency)) < 0 ? zero(left.currency) : left;
}
