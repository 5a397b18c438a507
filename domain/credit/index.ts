export { amountDue, balanceOf, creditFromInvoice, creditToApply, entryProblems, excessToMove, payoutProblems, planCreditRefund } from './credit.ts';
export { CREDIT_SIGN, CREDIT_SOURCES } from './types.ts';
export type { CreditAtCancellation, CreditEntry, CreditSource, RefundableCharge } from './types.ts';
