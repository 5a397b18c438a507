import { createHash } from 'node:crypto';

/** Most gateways cap idempotency keys (PayPal-Request-Id: 108 characters). */
export const MAX_KEY_LENGTH = 100;

const SAFE_ID = /^[A-Za-z0-9_-]{1,64}$/;

export class PaymentKeyError extends Error {
  override readonly name = 'PaymentKeyError';
  readonly code = 'invalid_payment_key_input';
  readonly retryable = false;
}

function idPart(id: string, what: string): string {
  if (typeof id !== 'string' || id.length === 0) throw new PaymentKeyError(`${what} must be a non-empty string`);
  // Readable when it can be (ops grep gateway dashboards for it), a hash when it cannot.
  return SAFE_ID.test(id) ? id : `h${createHash('sha256').update(id, 'utf8').digest('hex').slice(0, 40)}`;
}

function positive(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new PaymentKeyError(`${what} must be a whole number ≥ 1, got ${n}`);
  return n;
}

/**
 * The idempotency key of charge attempt `attempt` (1, 2, ...) of an invoice. Deterministic:
 * the collect service saves it before the gateway call and re-sends the same key when the
 * outcome is unknown, so the gateway replays the first answer instead of charging again.
 * Injective: the attempt is the last dot-separated part and ids contain no dot.
 */
export function chargeKey(invoiceId: string, attempt: number): string {
  return `rl.chg.${idPart(invoiceId, 'invoice id')}.${positive(attempt, 'attempt')}`;
}

/** The idempotency key of the n-th refund (1, 2, ...) of an invoice. */
export function refundKey(invoiceId: string, refundNumber: number): string {
  return `rl.ref.${idPart(invoiceId, 'invoice id')}.${positive(refundNumber, 'refund number')}`;
}

/** The idempotency key for storing a payment method (customer creation + attach). */
export function methodKey(accountId: string, methodNumber: number): string {
  return `rl.pm.${idPart(accountId, 'account id')}.${positive(methodNumber, 'method number')}`;
}
