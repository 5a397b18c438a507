export { append, cdrBalance, changedCopies, chargesWithoutCdr, invoiceArithmetic, invoiceNumbering, paymentsWithoutInvoice } from './checks.ts';
export type { CdrOutcomeFact, Discrepancy, InvoiceFact, RawCdrFact } from './checks.ts';
export { ControlTally, controlBalance, controlTotalKey, foldControlTotals, localDay, sliceOverlaps, utcDay } from './control-totals.ts';
export type { ControlFigures, ControlSlice, ControlTotal, Stage } from './control-totals.ts';
export { cashPosition, chargedVersusControl, chargedVersusInvoiced, currentCharges, drawdownArithmetic, includedWithinGrants, invoicesVersusControl, ratingDrift } from './chain.ts';
export type { CashSummary, ChargeFact, DrawFact, InvoicedUsageFact, PaymentFact, RerateFact } from './chain.ts';
export { gatewayVersusRecorded } from './gateway.ts';
export type { GatewayChargeFact, GatewayComparison, RecordedChargeFact } from './gateway.ts';
