export type {
  Brand,
  BrandEntry,
  Branding,
  CommissionRule,
  Customer,
  CustomerEntry,
  CustomerExemption,
  CustomerTaxId,
  DunningStep,
  NotificationKindSetting,
  NotificationSettings,
  PlanSwapSettings,
  PostalAddress,
  PaymentMethodRef,
  PlanCommitmentDiscount,
  SubscriptionCommitment,
  SubscriptionPlanChange,
  DecimalValue,
  IncludedGrant,
  IncrementEntry,
  IncrementRecord,
  NumberAssignment,
  NumberAssignmentEntry,
  NumberEntry,
  NumberHistory,
  Plan,
  PlanEntry,
  PriceModelEntry,
  PriceModelKind,
  PriceModelRecord,
  PriceTierEntry,
  PriceTierRecord,
  RatingRuleEntry,
  RatingRuleRecord,
  ReferenceData,
  ReferenceFile,
  ReferenceIssue,
  ReferenceKind,
  ReferenceRecords,
  Result,
  Subscription,
  SubscriptionEntry,
  SubscriptionStatus,
} from './types.ts';
export {
  decimalText,
  grantsFor,
  isoOf,
  parseInstant,
  planKey,
  referenceKey,
  toPlanPricing,
  toPriceModel,
  toRatingRule,
} from './convert.ts';
export type { RecordForm } from './validate.ts';
export { E164, checkReferenceData, isTimeZone, readRecord, validateRecord } from './validate.ts';
export { parseReferenceFile } from './parse.ts';
export { loadReferenceFile } from './load.ts';
export type { ApplyOutcome } from './tables.ts';
export { ReferenceTables } from './tables.ts';
export type { GenerateOptions } from './generate.ts';
export { generateReference } from './generate.ts';
