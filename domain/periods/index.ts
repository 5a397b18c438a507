export {
  PeriodError,
  nthPeriod,
  periodFor,
  periodEndingOn,
  anniversaryFallsOn,
  localDateOf,
  dayBefore,
} from './periods.ts';
export type { Anchor, BillingPeriod, PeriodErrorCode } from './periods.ts';
