export { draftInvoice, feeInAdvance, invoiceIdFor } from './draft.ts';
export { buildInvoice, roundInvoice } from './round.ts';
export { summarizeUsage, type ChargeFigures } from './usage.ts';
export { InvoicingError } from './types.ts';
export type {
  Adjustment,
  BillingBrand,
  BillingPlan,
  BillingSubscription,
  CancellationCreditPolicy,
  Commitment,
  CommitmentDiscount,
  DraftLine,
  Invoice,
  InvoiceBuildInput,
  InvoiceDraft,
  InvoiceInput,
  InvoiceLine,
  InvoiceLineKind,
  InvoiceTax,
  InvoicingErrorCode,
  PlanChange,
  UsageSummary,
  UsageSummaryLine,
  UsageTier,
} from './types.ts';
