export type {
  BillingUnit,
  DurationRating,
  FreeMode,
  Increment,
  Instant,
  RatingError,
  RatingErrorCode,
  RatingRule,
  Ratio,
  Result,
  Rounding,
  RoundingMode,
  RuleIssue,
  RuleQuery,
  RuleRef,
  TieRule,
  UsageRating,
  UsageToRate,
} from './types.ts';
export { UNIT_SECONDS } from './types.ts';
export type { SelectedRule } from './rate.ts';
export { RuleIndex, indexRules, rateDuration, rateUsage, selectRule } from './rate.ts';
export { parseRule, validateRule, validateRuleSet } from './validate.ts';
