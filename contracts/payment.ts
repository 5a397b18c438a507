import type { Decimal } from 'decimal.js';

/** `brand.<code>.payments` (schemas/payment.avsc) as avsc reads and writes it. */
export interface PaymentRecord {
  paymentId: string;
  invoiceId: string;
  brand: string;
  accountId: string;
  attempt: number;
  gateway: string;
  gatewayReference: string | null;
  status: 'SUCCEEDED' | 'FAILED' | 'PENDING' | 'REFUNDED';
  failureKind: string | null;
  failureMessage: string | null;
  currency: string;
  amount: Decimal;
  occurredAt: number;
  kind: 'charge' | 'manual' | 'refund' | 'credit_note' | 'credit_refund';
  eventId: string | null;
  methodLabel: string | null;
  /** Moved to (+) or from (−) the customer's credit balance by this event; null: nothing. */
  creditBalanceChange?: Decimal | null;
  /** For a refund a credit note asked for: the credit note (already counted by its own event). */
  creditNoteId?: string | null;
}

/** The de-duplication key of a payment event (older records have no eventId). */
export const paymentEventId = (p: Pick<PaymentRecord, 'eventId' | 'paymentId' | 'status'>) => p.eventId ?? `${p.paymentId}:${p.status}`;

/** `brand.<code>.credit-refunds` (schemas/credit.refund.avsc) as avsc reads and writes it. */
export interface CreditRefundRecord {
  requestId: string;
  brand: string;
  accountId: string;
  currency: string;
  amount: Decimal;
  requestedAt: number;
  reason: string;
}
