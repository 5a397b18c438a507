export { BuiltinTaxEngine, rateInForce, validateRateTables } from './engine.ts';
export { DEFAULT_RATE_TABLES } from './rates.ts';
export type { EffectiveRate, RegimeTable, TaxComponent } from './rates.ts';
export { TaxEngineRegistry } from './registry.ts';
export { TaxError } from './types.ts';
export type {
  CustomerTaxContext,
  SyncTaxEngine,
  TaxableLine,
  TaxCalculation,
  TaxEngine,
  TaxErrorCode,
  TaxExemption,
  TaxId,
  TaxLine,
  TaxLineExemption,
  TaxRegime,
  TaxRequest,
} from './types.ts';
