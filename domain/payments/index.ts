export { MAX_KEY_LENGTH, PaymentKeyError, chargeKey, methodKey, refundKey } from './keys.ts';
export { CollectionError, chargeInFlight, classifyCharge, nextCollectionAttempt } from './collection.ts';
export type { AttemptRecord, ChargeClassification, CollectionDecision, CollectionInput, RetryPolicy } from './collection.ts';
export { applyPaymentEvent, applyPaymentEvents, isSettled, openPaymentState, outstanding, reduceAmountDue } from './state.ts';
export type {
  ApplyResult,
  ChargeEntry,
  ChargeEntryStatus,
  IgnoredReason,
  InvoicePaymentState,
  InvoicePaymentStatus,
  RefundEntry,
  RefundEntryStatus,
} from './state.ts';
export { planCreditNote, planRefund } from './refunds.ts';
export type { CreditNoteBasis, CreditNotePlan, PlanResult, RefundBasis } from './refunds.ts';
export type { ChargeResult, ChargeStatus, PaymentEvent, PaymentEventType, RefundResult, RefundStatus } from './types.ts';
