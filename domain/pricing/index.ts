export { PricingError, priceUsage, priceTotal, validatePriceModel } from './pricing.ts';
export type {
  PriceModel,
  PerUnitPriceModel,
  GraduatedPriceModel,
  VolumePriceModel,
  PriceTier,
  PricedUsage,
  TierLine,
  PricingErrorCode,
} from './pricing.ts';
