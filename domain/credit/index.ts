export { amountDue, balanceOf, creditFromInvoice, creditToApply, entryProblems, excessToMove, payoutProblems } from './credit.ts';
export { CREDIT_SIGN, CREDIT_SOURCES } from './types.ts';
export type { CreditEntry, CreditSource } from './types.ts';
