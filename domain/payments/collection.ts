import { DateTime } from 'luxon';
import { chargeKey } from './keys.ts';
import { isSettled, type InvoicePaymentState } from './state.ts';
import type { ChargeResult, ChargeStatus } from './types.ts';

/**
 * What to do with a gateway's answer. The collect service stores the attempt and its
 * status, then asks `nextCollectionAttempt` what to do on the next daily run.
 */
export type ChargeClassification =
  | { readonly kind: 'paid' }
  /** Accepted; the webhook tells the end. */
  | { readonly kind: 'await_webhook' }
  /** Nothing was charged and it may pass later: a new attempt (a new key) on the schedule. */
  | { readonly kind: 'retry_new_attempt' }
  /** The charge may or may not have happened: settle with the same attempt and key. */
  | { readonly kind: 'settle_same_attempt' }
  /** No automatic retry: the customer (hard decline) or ops (a non-retryable error) must act. */
  | { readonly kind: 'final_failure'; readonly reason: 'hard_declined' | 'needs_ops' };

export function classifyCharge(result: Pick<ChargeResult, 'status'> & { readonly retryable?: boolean }): ChargeClassification {
  switch (result.status) {
    case 'succeeded':
      return { kind: 'paid' };
    case 'pending':
      return { kind: 'await_webhook' };
    case 'soft_decline':
      return { kind: 'retry_new_attempt' };
    case 'gateway_error':
      // A gateway that answered "error" did not charge (Stripe and PayPal store the error
      // under the key, so re-sending the same key would only replay it): a new attempt.
      return result.retryable === false ? { kind: 'final_failure', reason: 'needs_ops' } : { kind: 'retry_new_attempt' };
    case 'network_error':
    case 'indeterminate':
      return { kind: 'settle_same_attempt' };
    case 'hard_decline':
      return { kind: 'final_failure', reason: 'hard_declined' };
  }
}

/** A brand's collection schedule. */
export interface RetryPolicy {
  /** IANA zone in which the brand's days are counted. */
  readonly zone: string;
  /**
   * Brand-local days after the due date on which a declined (soft) or failed (retryable)
   * charge is tried again, e.g. [1, 3, 5, 7]. The first attempt is on the due date.
   */
  readonly retryDays: readonly number[];
}

/** One stored attempt: saved with its key before the gateway call, updated with the answer. */
export interface AttemptRecord {
  readonly attempt: number;
  /** When the (latest) gateway call of this attempt was made, epoch ms. */
  readonly at: number;
  /** null: saved, but no answer recorded yet (a crash between save and answer). */
  readonly status: ChargeStatus | null;
  /** For `gateway_error`: whether it may pass by retrying. */
  readonly retryable?: boolean;
  /** The gateway's reference of the charge, once it answered with one. */
  readonly reference?: string | null;
}

export interface CollectionInput {
  readonly invoiceId: string;
  /** Due instant, epoch ms; its brand-local date is day 0. */
  readonly dueAt: number;
  /** From the invoice's payment state: checked first, so a paid invoice is never charged. */
  readonly paid: boolean;
  readonly attempts: readonly AttemptRecord[];
  readonly policy: RetryPolicy;
  readonly now: number;
}

export type CollectionDecision =
  | { readonly action: 'charge'; readonly attempt: number; readonly idempotencyKey: string; readonly scheduledDay: number }
  /**
   * The last attempt's outcome is unknown: look it up (gateway.findCharge) and, if it is
   * not found, re-send the same request with the same key. Never a new key.
   */
  | { readonly action: 'settle'; readonly attempt: number; readonly idempotencyKey: string }
  | { readonly action: 'await_webhook'; readonly attempt: number }
  | { readonly action: 'wait'; readonly until: string; readonly nextAttempt: number }
  | { readonly action: 'stop'; readonly reason: 'already_paid' | 'hard_declined' | 'needs_ops' | 'retries_exhausted' };

export class CollectionError extends Error {
  override readonly name = 'CollectionError';
  readonly retryable = false;
  constructor(
    readonly code: 'invalid_policy' | 'invalid_attempts',
    message: string,
  ) {
    super(message);
  }
}

function localDay(ms: number, zone: string): DateTime {
  const dt = DateTime.fromMillis(ms, { zone });
  if (!dt.isValid) throw new CollectionError('invalid_policy', `invalid zone "${zone}": ${dt.invalidExplanation ?? ''}`);
  // The calendar date re-read in UTC: whole-day differences, whatever DST does locally.
  return DateTime.fromISO(dt.toISODate()!, { zone: 'utc' });
}

function checkPolicy(policy: RetryPolicy): number[] {
  const days = [...policy.retryDays];
  const problems: string[] = [];
  days.forEach((d, i) => {
    if (!Number.isSafeInteger(d) || d < 1) problems.push(`retryDays[${i}] = ${d} must be a whole number ≥ 1`);
    if (i > 0 && d <= days[i - 1]!) problems.push(`retryDays must increase (${days[i - 1]} then ${d})`);
  });
  if (problems.length > 0) throw new CollectionError('invalid_policy', problems.join('; '));
  return days;
}

/**
 * The daily collection run's decision for one invoice. A function of its input only: run it
 * twice, or after a restart, and it says the same thing.
 *
 * A retry takes the first scheduled day strictly after the day of the last attempt, so a
 * run that missed days catches up with one attempt, never a burst.
 */
export function nextCollectionAttempt(input: CollectionInput): CollectionDecision {
  const { policy, invoiceId } = input;
  const retryDays = checkPolicy(policy);
  if (input.paid) return { action: 'stop', reason: 'already_paid' };

  const due = localDay(input.dueAt, policy.zone);
  const today = localDay(input.now, policy.zone);
  const offset = (day: DateTime) => Math.round(day.diff(due, 'days').days);
  const todayOffset = offset(today);

  let last: AttemptRecord | undefined;
  for (const a of input.attempts) {
    if (!Number.isSafeInteger(a.attempt) || a.attempt < 1) {
      throw new CollectionError('invalid_attempts', `attempt number ${a.attempt} of ${invoiceId} must be ≥ 1`);
    }
    if (!last || a.attempt > last.attempt || (a.attempt === last.attempt && a.at > last.at)) last = a;
  }

  if (!last) {
    if (todayOffset < 0) return { action: 'wait', until: due.toISODate()!, nextAttempt: 1 };
    return { action: 'charge', attempt: 1, idempotencyKey: chargeKey(invoiceId, 1), scheduledDay: 0 };
  }

  const settle = { action: 'settle', attempt: last.attempt, idempotencyKey: chargeKey(invoiceId, last.attempt) } as const;
  if (last.status === null) return settle; // saved before the call, no answer stored: unknown

  const classification = classifyCharge({ status: last.status, retryable: last.retryable });
  switch (classification.kind) {
    case 'paid':
      return { action: 'stop', reason: 'already_paid' };
    case 'final_failure':
      return { action: 'stop', reason: classification.reason };
    case 'settle_same_attempt':
      return settle;
    case 'await_webhook':
      // A pending charge whose webhook has not come by the next day is asked about.
      return offset(localDay(last.at, policy.zone)) < todayOffset ? settle : { action: 'await_webhook', attempt: last.attempt };
    case 'retry_new_attempt': {
      const lastOffset = offset(localDay(last.at, policy.zone));
      const slot = retryDays.find((d) => d > lastOffset);
      if (slot === undefined) return { action: 'stop', reason: 'retries_exhausted' };
      const nextAttempt = last.attempt + 1;
      if (todayOffset < slot) return { action: 'wait', until: due.plus({ days: slot }).toISODate()!, nextAttempt };
      return { action: 'charge', attempt: nextAttempt, idempotencyKey: chargeKey(invoiceId, nextAttempt), scheduledDay: slot };
    }
  }
}

/**
 * The charge attempt whose outcome is still open on an unsettled invoice: saved before its
 * gateway call and not answered yet, answered with an unknown outcome (settled later with the
 * same key), or pending at the gateway with no webhook that ended it. Its answer may change
 * what was paid, so nothing that depends on that (a manual payment, a refund, a credit note)
 * is decided on the invoice until it ends. A settled invoice has none: whatever the attempt
 * says, nothing more is owed.
 */
export function chargeInFlight(state: InvoicePaymentState, attempts: readonly AttemptRecord[]): AttemptRecord | undefined {
  if (isSettled(state)) return undefined;
  const last = attempts.reduce<AttemptRecord | undefined>((a, b) => (!a || b.attempt > a.attempt ? b : a), undefined);
  if (!last) return undefined;
  if (last.status === null) return last;
  switch (classifyCharge({ status: last.status, retryable: last.retryable }).kind) {
    case 'settle_same_attempt':
      return last;
    case 'await_webhook': {
      const charge = last.reference ? state.charges[last.reference] : undefined;
      return charge && charge.status !== 'pending' ? undefined : last;
    }
    default:
      return undefined;
  }
}
