import type { Money } from '../money/index.ts';

/**
 * What a gateway said about one charge attempt. Every gateway plugin maps its own answers
 * onto these; the domain never sees a gateway's name or its codes except as opaque text.
 *
 * - `succeeded`: money moved; `reference` is what a refund needs.
 * - `pending`: accepted, the outcome comes later by webhook (e.g. bank debits).
 * - `hard_decline`: the method will not work again without the customer (stolen, expired,
 *   authentication required). Never retried automatically.
 * - `soft_decline`: may pass later (insufficient funds, issuer unavailable): retried on
 *   the brand's schedule with a new attempt.
 * - `gateway_error`: the gateway answered with an error (5xx, rate limit, bad request).
 *   Nothing was charged. `retryable` false means configuration or a bug: ops must look.
 * - `network_error`: the request never left (connection refused, DNS): nothing charged.
 * - `indeterminate`: the request left and no answer came (timeout, reset): the charge may
 *   have happened. Settled by looking it up or re-sending with the same idempotency key.
 */
export type ChargeStatus =
  | 'succeeded'
  | 'pending'
  | 'hard_decline'
  | 'soft_decline'
  | 'gateway_error'
  | 'network_error'
  | 'indeterminate';

export type ChargeResult =
  | { readonly status: 'succeeded'; readonly reference: string; readonly amount: Money }
  | { readonly status: 'pending'; readonly reference: string; readonly amount: Money }
  | {
      readonly status: 'hard_decline' | 'soft_decline';
      readonly reference: string | null;
      /** The gateway's decline code, e.g. `insufficient_funds`, `INSTRUMENT_DECLINED`. */
      readonly code: string;
      readonly message: string;
    }
  | {
      readonly status: 'gateway_error';
      readonly reference: string | null;
      readonly code: string;
      readonly message: string;
      readonly retryable: boolean;
    }
  | { readonly status: 'network_error' | 'indeterminate'; readonly code: string; readonly message: string };

export type RefundStatus = 'succeeded' | 'pending' | 'failed' | 'gateway_error' | 'network_error' | 'indeterminate';

export type RefundResult =
  | { readonly status: 'succeeded' | 'pending'; readonly reference: string; readonly amount: Money }
  | { readonly status: 'failed'; readonly reference: string | null; readonly code: string; readonly message: string }
  | {
      readonly status: 'gateway_error' | 'network_error' | 'indeterminate';
      readonly code: string;
      readonly message: string;
      readonly retryable: boolean;
    };

/**
 * A payment fact parsed from a verified webhook (or recorded by ops for manual payments),
 * in the domain's words. `eventId` is the gateway's own event id: the dedupe key.
 */
export type PaymentEventType =
  | 'charge.pending'
  | 'charge.succeeded'
  | 'charge.failed'
  | 'refund.succeeded'
  | 'refund.failed';

export interface PaymentEvent {
  readonly eventId: string;
  readonly type: PaymentEventType;
  readonly invoiceId: string;
  /** The charge's gateway reference (PaymentIntent id, capture id, manual receipt id). */
  readonly chargeReference: string;
  /** For refund events, the refund's own reference. */
  readonly refundReference?: string;
  readonly amount: Money;
  /** When the gateway says it happened (epoch ms). */
  readonly occurredAt: number;
  /** For failures: the decline or error code. */
  readonly code?: string;
}
