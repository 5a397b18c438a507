export { DEFAULT_MAX_CATCH_UP_DAYS, billingInstant, billingKey, dueBillings, nextBilling } from './due.ts';
export { INVOICE_NUMBER_DIGITS, allocateInvoiceNumbers, formatInvoiceNumber } from './numbers.ts';
export { ControllableClock } from './clock.ts';
export { BillRunError } from './types.ts';
export type {
  BillRunBrand,
  BillRunErrorCode,
  BillRunSubscription,
  BillingKind,
  DueBilling,
  DueBillingsInput,
  DueBillingsResult,
  InvoiceNumberAllocation,
  InvoiceRef,
  NextBilling,
  NextBillingInput,
  NumberedInvoice,
  SkippedBilling,
} from './types.ts';
export { assembleInvoiceInput, billingBrand, billingSubscription, planInForce } from './assemble.ts';
export type { AssemblyProblem, CarriedAmount, InvoiceAssembly, StoredCharge, StoredTier } from './assemble.ts';
export { settleUsage } from './settle.ts';
export type { PendingCharge, PendingRerate, UsageSettlement, UsageSettlementInput } from './settle.ts';
