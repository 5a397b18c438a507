export { AgeingError, ageAccount, lifecycleEventId, validateDunningPolicy } from './ageing.ts';
export type {
  AgeAccountInput,
  AgeAccountResult,
  AgeingInvoice,
  AgeingPayment,
  AgeingState,
  DunningAction,
  DunningPolicy,
  DunningStep,
  InvoiceAge,
  LifecycleEvent,
  LifecycleEventType,
} from './ageing.ts';
