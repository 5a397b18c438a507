import { Decimal } from 'decimal.js';
import { MONEY_SCALE, dec, minorUnits } from '../money/index.ts';

/**
 * One tier of a tiered price model. Bounds and prices are in the model's price unit
 * (a minute when `unitSeconds` is 60); prices are decimal strings, never JS numbers.
 */
export interface PriceTier {
  /** Inclusive upper bound in price units; null only on the last tier (no bound). */
  readonly upTo: number | null;
  /** Price per price unit. */
  readonly unitPrice: string;
  /** Charged once when the tier is reached (graduated) or when the total falls in it (volume). */
  readonly flatFee?: string;
}

interface PriceModelBase {
  readonly currency: string;
  /**
   * Base units (seconds) per price unit: 60 for per-minute prices, 1 for per-second prices
   * or for counted usage (messages). Quantities are always given in base units.
   */
  readonly unitSeconds: number;
}

/** Every unit at one price. */
export interface PerUnitPriceModel extends PriceModelBase {
  readonly kind: 'per_unit';
  readonly unitPrice: string;
}

/** Each tier's units at that tier's price (plus the tier's flat fee once reached). */
export interface GraduatedPriceModel extends PriceModelBase {
  readonly kind: 'graduated';
  readonly tiers: readonly PriceTier[];
}

/** All units at the price of the tier the period's total falls in (plus its flat fee). */
export interface VolumePriceModel extends PriceModelBase {
  readonly kind: 'volume';
  readonly tiers: readonly PriceTier[];
}

export type PriceModel = PerUnitPriceModel | GraduatedPriceModel | VolumePriceModel;

/** One line of the breakdown. Units are base units (seconds); amounts are unrounded. */
export interface TierLine {
  /** 0-based index of the tier (0 for a per-unit model). */
  readonly tier: number;
  /** Base units priced on this line; negative on a volume re-pricing line (see priceUsage). */
  readonly units: number;
  readonly unitPrice: Decimal;
  /** The flat fee included in `amount` (zero when none was charged or given back). */
  readonly flatFee: Decimal;
  readonly amount: Decimal;
}

export interface PricedUsage {
  readonly currency: string;
  readonly unitsBefore: number;
  readonly units: number;
  /** Unrounded, at MONEY_SCALE; may be negative for volume pricing (see priceUsage). */
  readonly amount: Decimal;
  readonly lines: readonly TierLine[];
}

export type PricingErrorCode = 'invalid_price_model' | 'invalid_quantity';

export class PricingError extends Error {
  override readonly name = 'PricingError';
  readonly retryable = false;
  constructor(
    readonly code: PricingErrorCode,
    message: string,
    readonly problems: readonly string[] = [message],
  ) {
    super(message);
  }
}

interface CompiledTier {
  readonly index: number;
  /** Exclusive lower and inclusive upper bound in base units; hi null = unbounded. */
  readonly lo: number;
  readonly hi: number | null;
  readonly unitPrice: Decimal;
  readonly flatFee: Decimal;
}

interface CompiledModel {
  readonly kind: 'graduated' | 'volume';
  readonly currency: string;
  readonly unitSeconds: Decimal;
  readonly tiers: readonly CompiledTier[];
}

const PRICE = /^\d+(\.\d+)?$/;

/** Every problem of a price model at once; an empty list means valid. */
export function validatePriceModel(model: PriceModel): string[] {
  const problems: string[] = [];
  try {
    minorUnits(model.currency);
  } catch {
    problems.push(`currency "${model.currency}" is not a known ISO 4217 code`);
  }
  if (!Number.isSafeInteger(model.unitSeconds) || model.unitSeconds <= 0) {
    problems.push(`unitSeconds ${model.unitSeconds} is not a positive integer`);
  }
  const price = (text: unknown, where: string): void => {
    if (typeof text !== 'string' || !PRICE.test(text)) {
      problems.push(`${where} ${JSON.stringify(text)} is not a non-negative decimal string`);
    } else if (dec(text).decimalPlaces() > MONEY_SCALE) {
      problems.push(`${where} ${text} has more than ${MONEY_SCALE} decimal places`);
    }
  };
  switch (model.kind) {
    case 'per_unit':
      price(model.unitPrice, 'unitPrice');
      break;
    case 'graduated':
    case 'volume': {
      if (model.tiers.length === 0) problems.push('a tiered model needs at least one tier');
      let previous = 0;
      model.tiers.forEach((tier, i) => {
        price(tier.unitPrice, `tiers[${i}].unitPrice`);
        if (tier.flatFee !== undefined) price(tier.flatFee, `tiers[${i}].flatFee`);
        const last = i === model.tiers.length - 1;
        if (tier.upTo === null) {
          if (!last) problems.push(`tiers[${i}].upTo is null but only the last tier may be unbounded`);
          return;
        }
        if (last) problems.push(`the last tier must be unbounded (upTo: null)`);
        const bound = tier.upTo * model.unitSeconds;
        if (!Number.isSafeInteger(bound) || bound <= previous) {
          problems.push(
            `tiers[${i}].upTo ${tier.upTo} must be above the previous bound and a whole number of base units`,
          );
        } else {
          previous = bound;
        }
      });
      break;
    }
    default:
      problems.push(`unknown price model kind ${JSON.stringify((model as { kind: unknown }).kind)}`);
  }
  return problems;
}

const compiled = new WeakMap<PriceModel, CompiledModel>();

/** Validates once per model object and keeps the Decimal form (the hot path is per call). */
function compile(model: PriceModel): CompiledModel {
  const cached = compiled.get(model);
  if (cached) return cached;
  const problems = validatePriceModel(model);
  if (problems.length > 0) {
    throw new PricingError('invalid_price_model', `invalid price model: ${problems.join('; ')}`, problems);
  }
  const tiers: readonly PriceTier[] =
    model.kind === 'per_unit' ? [{ upTo: null, unitPrice: model.unitPrice }] : model.tiers;
  let lo = 0;
  const result: CompiledModel = {
    kind: model.kind === 'volume' ? 'volume' : 'graduated',
    currency: model.currency,
    unitSeconds: dec(model.unitSeconds),
    tiers: tiers.map((tier, index) => {
      const hi = tier.upTo === null ? null : tier.upTo * model.unitSeconds;
      const t = { index, lo, hi, unitPrice: dec(tier.unitPrice), flatFee: dec(tier.flatFee ?? '0') };
      lo = hi ?? lo;
      return t;
    }),
  };
  compiled.set(model, result);
  return result;
}

/** units × price per price unit, at MONEY_SCALE (half-even): the one quantization. */
function extend(units: number, unitPrice: Decimal, unitSeconds: Decimal): Decimal {
  return dec(units)
    .times(unitPrice)
    .dividedBy(unitSeconds)
    .toDecimalPlaces(MONEY_SCALE, Decimal.ROUND_HALF_EVEN);
}

function unitsInTier(tier: CompiledTier, total: number): number {
  const top = tier.hi === null ? total : Math.min(total, tier.hi);
  return Math.max(0, top - tier.lo);
}

/** Cumulative amount of one graduated tier when the period's total is `total`. */
function graduatedTierAmount(m: CompiledModel, tier: CompiledTier, total: number): Decimal {
  const units = unitsInTier(tier, total);
  if (units === 0) return dec(0);
  return extend(units, tier.unitPrice, m.unitSeconds).plus(tier.flatFee);
}

function volumeTier(m: CompiledModel, total: number): CompiledTier {
  const tier = m.tiers.find((t) => t.hi === null || total <= t.hi);
  // compile() guarantees an unbounded last tier
  return tier ?? (m.tiers[m.tiers.length - 1] as CompiledTier);
}

/** Cumulative amount of a volume model when the period's total is `total`. */
function volumeAmount(m: CompiledModel, total: number): Decimal {
  if (total === 0) return dec(0);
  const tier = volumeTier(m, total);
  return extend(total, tier.unitPrice, m.unitSeconds).plus(tier.flatFee);
}

function checkQuantity(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new PricingError('invalid_quantity', `${what} ${value} is not a non-negative integer`);
  }
}

/**
 * Prices `units` base units of usage when `unitsBefore` units of the same period and
 * usage type were already priced.
 *
 * Every model is priced as a difference of one cumulative function of the period's
 * total: charge = F(unitsBefore + units) − F(unitsBefore), per tier. Quantization to
 * MONEY_SCALE happens inside F, so the charges of any sequence of calls telescope to
 * exactly F(period total): pricing call by call, in any split, equals pricing the total
 * at once, to the last decimal. One call's amount may differ by 0.000001 depending on
 * what came before it; the period's sum never does.
 *
 * Graduated: F is the sum over tiers of (units in tier × price + flat fee once the tier
 * is reached); a call crossing a bound gets one line per tier it touches.
 *
 * Volume: F(total) = total × price of the tier the total falls in (+ that tier's flat
 * fee), F(0) = 0. When a call moves the total into another tier, every earlier unit is
 * re-priced: the call gets a line giving back the previous total at its old tier
 * (negative units and amount) and a line for the new total at the new tier. The charge
 * can be negative when the new tier is cheaper (a credit); that is what makes the
 * period's sum equal the volume price of its total.
 */
export function priceUsage(model: PriceModel, unitsBefore: number, units: number): PricedUsage {
  checkQuantity(unitsBefore, 'unitsBefore');
  checkQuantity(units, 'units');
  const m = compile(model);
  const after = unitsBefore + units;
  checkQuantity(after, 'unitsBefore + units');
  const lines: TierLine[] = [];

  if (m.kind === 'graduated') {
    for (const tier of m.tiers) {
      const inTier = unitsInTier(tier, after) - unitsInTier(tier, unitsBefore);
      if (inTier === 0) continue;
      const feeNow = unitsInTier(tier, unitsBefore) === 0 ? tier.flatFee : dec(0);
      lines.push({
        tier: tier.index,
        units: inTier,
        unitPrice: tier.unitPrice,
        flatFee: feeNow,
        amount: graduatedTierAmount(m, tier, after).minus(graduatedTierAmount(m, tier, unitsBefore)),
      });
    }
  } else if (units > 0) {
    const next = volumeTier(m, after);
    const previous = unitsBefore === 0 ? null : volumeTier(m, unitsBefore);
    if (previous === null || previous.index === next.index) {
      lines.push({
        tier: next.index,
        units,
        unitPrice: next.unitPrice,
        flatFee: previous === null ? next.flatFee : dec(0),
        amount: volumeAmount(m, after).minus(volumeAmount(m, unitsBefore)),
      });
    } else {
      lines.push({
        tier: previous.index,
        units: -unitsBefore,
        unitPrice: previous.unitPrice,
        flatFee: previous.flatFee.negated(),
        amount: volumeAmount(m, unitsBefore).negated(),
      });
      lines.push({
        tier: next.index,
        units: after,
        unitPrice: next.unitPrice,
        flatFee: next.flatFee,
        amount: volumeAmount(m, after),
      });
    }
  }

  const amount = lines.reduce((sum, line) => sum.plus(line.amount), dec(0));
  return { currency: m.currency, unitsBefore, units, amount, lines };
}

/** The price of a period's total at once: priceUsage(model, 0, units). */
export function priceTotal(model: PriceModel, units: number): PricedUsage {
  return priceUsage(model, 0, units);
}
