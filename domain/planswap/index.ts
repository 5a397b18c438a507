export { priceOnPlan } from './whatif.ts';
export type { PricedUsageType, UsageTotal, WhatIfInput, WhatIfResult } from './whatif.ts';
export {
  DEFAULT_RECOMMENDATION_SETTINGS,
  MIN_PROJECTION_FRACTION,
  confidenceOf,
  nextRecommendationStep,
  planFits,
  projectPeriod,
  recommendPlan,
  recommendationSettingsOf,
  plansOnSale,
  basisPeriods,
} from './recommend.ts';
export type {
  Confidence,
  ConfidenceLevel,
  LiveRecommendation,
  NoRecommendationReason,
  PeriodComparison,
  PeriodUsage,
  Recommendation,
  RecommendInput,
  RecommendOutcome,
  RecommendationSettings,
  StoredPeriodUsage,
} from './recommend.ts';
export { DEFAULT_SWAP_CUTOFF_MARGIN_MS, swapTerms } from './swap.ts';
export type { SwapRefusalCode, SwapRequestTerms, SwapTerms, SwapTermsOutcome } from './swap.ts';
