export { cdrBalance, invoiceArithmetic, invoiceNumbering, paymentsWithoutInvoice } from './checks.ts';
export type { CdrOutcomeFact, Discrepancy, InvoiceFact, RawCdrFact } from './checks.ts';
