export {
  PeriodError,
  nthPeriod,
  periodFor,
  periodEndingOn,
  anniversaryFallsOn,
  localDateOf,
} from './periods.ts';
export type { Anchor, BillingPeriod, PeriodErrorCode } from './periods.ts';
