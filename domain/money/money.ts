// The named import: under NodeNext, the default import of decimal.js types as the module namespace.
import { Decimal } from 'decimal.js';

/**
 * Internal scale of every unrounded amount: 6 decimal places, the same as the wire's
 * Avro decimal(18, 6). Amounts are kept at this scale until the one named step that
 * rounds them to the currency's minor unit (`roundToMinor`).
 */
export const MONEY_SCALE = 6;

/**
 * decimal.js with enough significant digits that no operation on amounts of 12 integer
 * digits and 6 decimals is ever rounded by the library's precision (the default is 20).
 * Every value this module returns is built by it.
 */
const Dec = Decimal.clone({ precision: 50, rounding: Decimal.ROUND_HALF_EVEN });

export type RoundingMode = 'half_up' | 'half_even' | 'down' | 'up';

const DECIMAL_MODES: Record<RoundingMode, Decimal.Rounding> = {
  half_up: Decimal.ROUND_HALF_UP, // ties away from zero
  half_even: Decimal.ROUND_HALF_EVEN, // ties to the even neighbour (banker's)
  down: Decimal.ROUND_DOWN, // towards zero
  up: Decimal.ROUND_UP, // away from zero
};

/**
 * ISO 4217 minor-unit exponents. Currencies not listed are refused rather than guessed:
 * a wrong exponent is a charge off by a factor of 10 or 100.
 */
export const MINOR_UNITS: Readonly<Record<string, number>> = Object.freeze({
  // two decimals
  USD: 2, CAD: 2, GBP: 2, EUR: 2, AUD: 2, NZD: 2, CHF: 2, SEK: 2, NOK: 2, DKK: 2,
  PLN: 2, CZK: 2, HUF: 2, RON: 2, MXN: 2, BRL: 2, ZAR: 2, INR: 2, SGD: 2, HKD: 2,
  CNY: 2, ILS: 2, AED: 2, SAR: 2, PHP: 2, THB: 2, MYR: 2, TRY: 2,
  // zero decimals
  JPY: 0, KRW: 0, CLP: 0, ISK: 0, VND: 0, XAF: 0, XOF: 0, PYG: 0, UGX: 0,
  // three decimals
  KWD: 3, BHD: 3, OMR: 3, JOD: 3, TND: 3, LYD: 3, IQD: 3,
});

export type MoneyErrorCode =
  | 'invalid_amount'
  | 'amount_scale_exceeded'
  | 'unknown_currency'
  | 'currency_mismatch';

export class MoneyError extends Error {
  override readonly name = 'MoneyError';
  readonly retryable = false;
  constructor(
    readonly code: MoneyErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** An amount in a currency. `amount` has at most MONEY_SCALE decimals and is unrounded. */
export interface Money {
  readonly amount: Decimal;
  readonly currency: string;
}

/** Builds a Decimal with this module's precision (never rounded at 20 digits). */
export function dec(value: Decimal.Value): Decimal {
  return new Dec(value);
}

/** The minor-unit exponent of a currency (2 for USD, 0 for JPY, 3 for KWD). */
export function minorUnits(currency: string): number {
  const exponent = MINOR_UNITS[currency];
  if (exponent === undefined) {
    throw new MoneyError('unknown_currency', `unknown currency "${currency}" (not in MINOR_UNITS)`);
  }
  return exponent;
}

const AMOUNT_PATTERN = /^-?\d+(\.\d+)?$/;

/**
 * Parses a plain decimal string ("12.5", "-0.000001"); no exponents, no separators, no
 * more than MONEY_SCALE decimals. Input is validated here, once, at the edge.
 */
export function parseMoney(amount: string, currency: string): Money {
  minorUnits(currency);
  const text = amount.trim();
  if (!AMOUNT_PATTERN.test(text)) {
    throw new MoneyError('invalid_amount', `"${amount}" is not a plain decimal amount`);
  }
  const value = dec(text);
  if (value.decimalPlaces() > MONEY_SCALE) {
    throw new MoneyError(
      'amount_scale_exceeded',
      `"${amount}" has more than ${MONEY_SCALE} decimal places`,
    );
  }
  return { amount: value.isZero() ? dec(0) : value, currency };
}

/** Builds Money from a Decimal or string; the amount must already fit MONEY_SCALE. */
export function money(amount: Decimal.Value, currency: string): Money {
  if (typeof amount === 'number') {
    // Only integers are accepted as numbers: 0.1 as a JS number is not 0.1.
    if (!Number.isSafeInteger(amount)) {
      throw new MoneyError('invalid_amount', `${amount} is not a safe integer; pass a string`);
    }
    return parseMoney(String(amount), currency);
  }
  if (typeof amount === 'string') return parseMoney(amount, currency);
  if (typeof amount === 'bigint') return parseMoney(amount.toString(), currency);
  if (!amount.isFinite()) throw new MoneyError('invalid_amount', `${amount.toString()} is not finite`);
  return parseMoney(amount.toFixed(), currency);
}

export function zero(currency: string): Money {
  minorUnits(currency);
  return { amount: dec(0), currency };
}

function sameCurrency(a: Money, b: Money): void {
  if (a.currency !== b.currency) {
    throw new MoneyError('currency_mismatch', `cannot combine ${a.currency} with ${b.currency}`);
  }
}

export function addMoney(a: Money, b: Money): Money {
  sameCurrency(a, b);
  return { amount: dec(a.amount).plus(b.amount), currency: a.currency };
}

export function subtractMoney(a: Money, b: Money): Money {
  sameCurrency(a, b);
  return { amount: dec(a.amount).minus(b.amount), currency: a.currency };
}

/** Sum of amounts in one currency; an empty list sums to zero. */
export function sumMoney(currency: string, items: readonly Money[]): Money {
  return items.reduce((acc, item) => addMoney(acc, item), zero(currency));
}

/**
 * Amount × quantity. The exact product is brought back to MONEY_SCALE with half-even:
 * that is the storage scale, not a currency rounding (that one is `roundToMinor`).
 */
export function multiplyMoney(m: Money, quantity: Decimal.Value): Money {
  const q = dec(quantity);
  if (!q.isFinite()) throw new MoneyError('invalid_amount', `quantity ${q.toString()} is not finite`);
  return {
    amount: dec(m.amount).times(q).toDecimalPlaces(MONEY_SCALE, Decimal.ROUND_HALF_EVEN),
    currency: m.currency,
  };
}

export function negateMoney(m: Money): Money {
  return { amount: dec(m.amount).negated(), currency: m.currency };
}

/** -1, 0 or 1; throws on different currencies (they have no order). */
export function compareMoney(a: Money, b: Money): -1 | 0 | 1 {
  sameCurrency(a, b);
  return a.amount.comparedTo(b.amount) as -1 | 0 | 1;
}

export function equalsMoney(a: Money, b: Money): boolean {
  return a.currency === b.currency && a.amount.equals(b.amount);
}

export function isZeroMoney(m: Money): boolean {
  return m.amount.isZero();
}

/**
 * THE rounding step: an unrounded amount to the currency's minor unit with the brand's
 * rounding mode. Call it once per amount that leaves the system (an invoice line, a
 * payment), never on intermediate values.
 */
export function roundToMinor(amount: Decimal.Value, currency: string, mode: RoundingMode): Decimal {
  const exponent = minorUnits(currency);
  const rounding = DECIMAL_MODES[mode];
  if (rounding === undefined) {
    throw new MoneyError('invalid_amount', `unknown rounding mode "${String(mode)}"`);
  }
  const rounded = dec(amount).toDecimalPlaces(exponent, rounding);
  return rounded.isZero() ? dec(0) : rounded; // no "-0.00"
}

/** `roundToMinor` for Money. */
export function roundMoney(m: Money, mode: RoundingMode): Money {
  return { amount: roundToMinor(m.amount, m.currency, mode), currency: m.currency };
}

/**
 * An amount already rounded to minor units as an integer count of them (cents), as
 * gateways want it. Refuses an unrounded amount instead of rounding it a second time.
 */
export function toMinorUnits(m: Money): bigint {
  const exponent = minorUnits(m.currency);
  if (m.amount.decimalPlaces() > exponent) {
    throw new MoneyError(
      'amount_scale_exceeded',
      `${m.amount.toFixed()} ${m.currency} is not rounded to ${exponent} decimals; call roundToMinor first`,
    );
  }
  return BigInt(dec(m.amount).times(dec(10).pow(exponent)).toFixed(0));
}

/** The inverse of toMinorUnits. */
export function fromMinorUnits(minor: bigint, currency: string): Money {
  const exponent = minorUnits(currency);
  return { amount: dec(minor.toString()).dividedBy(dec(10).pow(exponent)), currency };
}

/** Fixed-point text at MONEY_SCALE ("12.500000"), for logs and the wire's decimal. */
export function formatMoney(m: Money, scale: number = MONEY_SCALE): string {
  return `${m.amount.toFixed(scale)} ${m.currency}`;
}
