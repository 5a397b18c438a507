import { describe, expect, it } from 'vitest';
import { PricingError, priceTotal, priceUsage, validatePriceModel } from './index.ts';
import type { PriceModel } from './index.ts';
import { seededRandom as prng } from '../prng.ts';

const perMinute: PriceModel = { kind: 'per_unit', currency: 'USD', unitSeconds: 60, unitPrice: '0.10' };
const perSecond: PriceModel = { kind: 'per_unit', currency: 'USD', unitSeconds: 1, unitPrice: '0.002' };
// 0.10 for the first 100 minutes, 0.08 up to 500 minutes, 0.05 beyond.
const tiers = [
  { upTo: 100, unitPrice: '0.10' },
  { upTo: 500, unitPrice: '0.08' },
  { upTo: null, unitPrice: '0.05' },
];
const graduated: PriceModel = { kind: 'graduated', currency: 'USD', unitSeconds: 60, tiers };
const graduatedWithFee: PriceModel = {
  kind: 'graduated',
  currency: 'USD',
  unitSeconds: 60,
  tiers: [tiers[0]!, { ...tiers[1]!, flatFee: '2.00' }, tiers[2]!],
};
const volume: PriceModel = { kind: 'volume', currency: 'USD', unitSeconds: 60, tiers };
const volumeWithFee: PriceModel = {
  kind: 'volume',
  currency: 'USD',
  unitSeconds: 60,
  tiers: [{ ...tiers[0]!, flatFee: '1.00' }, { ...tiers[1]!, flatFee: '5.00' }, tiers[2]!],
};

const MIN = 60;

describe('priceUsage, hand-worked', () => {
  const table: Array<[string, PriceModel, number, number, string]> = [
    // name, model, unitsBefore (s), units (s), expected amount
    ['90 s at 0.10/min', perMinute, 0, 90, '0.15'],
    ['1 s at 0.10/min', perMinute, 0, 1, '0.001667'], // 0.0016666... half-even at 6 dp
    ['7 s at 0.10/min', perMinute, 0, 7, '0.011667'],
    ['7 s after 7 s: F(14) - F(7) = 0.023333 - 0.011667', perMinute, 7, 7, '0.011666'],
    ['0 s', perMinute, 120, 0, '0'],
    ['per second 0.002 x 61', perSecond, 0, 61, '0.122'],
    ['graduated, inside tier 0', graduated, 0, 30 * MIN, '3'],
    ['graduated, 150 min at once: 100x0.10 + 50x0.08', graduated, 0, 150 * MIN, '14'],
    ['graduated, 600 min: 10 + 400x0.08 + 100x0.05', graduated, 0, 600 * MIN, '47'],
    ['graduated, 2 min across 100: 1x0.10 + 1x0.08', graduated, 99 * MIN, 2 * MIN, '0.18'],
    ['graduated, 90 s from 99.5 min: 30 s at 0.10 + 60 s at 0.08', graduated, 5970, 90, '0.13'],
    ['graduated, bound is inclusive: the 100th minute is tier 0', graduated, 99 * MIN, MIN, '0.1'],
    ['graduated fee: entering tier 1 adds 2.00', graduatedWithFee, 99 * MIN, 2 * MIN, '2.18'],
    ['graduated fee: charged once, not again', graduatedWithFee, 101 * MIN, MIN, '0.08'],
    ['volume 100 min: all at 0.10', volume, 0, 100 * MIN, '10'],
    ['volume 150 min: all at 0.08', volume, 0, 150 * MIN, '12'],
    ['volume 6001 s: all at 0.08 = 8.0013333', volume, 0, 6001, '8.001333'],
    ['volume 600 min: all at 0.05', volume, 0, 600 * MIN, '30'],
    ['volume same tier: 10 min more at 0.08', volume, 150 * MIN, 10 * MIN, '0.8'],
    ['volume crossing into a cheaper tier: 8.08 - 10.00 (a credit)', volume, 100 * MIN, MIN, '-1.92'],
    ['volume fee: 30 min = 3.00 + 1.00', volumeWithFee, 0, 30 * MIN, '4'],
    ['volume fee across: (8.08 + 5) - (10 + 1)', volumeWithFee, 100 * MIN, MIN, '2.08'],
  ];
  it.each(table)('%s', (_name, model, before, units, expected) => {
    expect(priceUsage(model, before, units).amount.toFixed()).toBe(expected);
  });

  it('breaks a graduated crossing down by tier', () => {
    const priced = priceUsage(graduatedWithFee, 5970, 90);
    expect(
      priced.lines.map((l) => [l.tier, l.units, l.unitPrice.toFixed(), l.flatFee.toFixed(), l.amount.toFixed()]),
    ).toEqual([
      [0, 30, '0.1', '0', '0.05'],
      [1, 60, '0.08', '2', '2.08'],
    ]);
    expect(priced.amount.toFixed()).toBe('2.13');
  });

  it('breaks a volume tier change down into a give-back and a re-price', () => {
    const priced = priceUsage(volume, 100 * MIN, MIN);
    expect(priced.lines.map((l) => [l.tier, l.units, l.unitPrice.toFixed(), l.amount.toFixed()])).toEqual([
      [0, -6000, '0.1', '-10'],
      [1, 6060, '0.08', '8.08'],
    ]);
  });

  it('gives no lines for zero units', () => {
    expect(priceUsage(graduated, 0, 0).lines).toEqual([]);
    expect(priceUsage(volumeWithFee, 0, 0).amount.toFixed()).toBe('0');
  });
});

describe('validation', () => {
  it('reports every problem of a model at once', () => {
    const bad: PriceModel = {
      kind: 'graduated',
      currency: 'XXX',
      unitSeconds: 0,
      tiers: [
        { upTo: null, unitPrice: '0.1' },
        { upTo: 50, unitPrice: '-1' },
      ],
    };
    const problems = validatePriceModel(bad);
    // currency, unitSeconds, an unbounded tier not last, a negative price, a bounded last
    // tier, and a bound that is not above the previous one (50 x 0 s)
    expect(problems).toHaveLength(6);
    try {
      priceTotal(bad, 1);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PricingError);
      expect((error as PricingError).code).toBe('invalid_price_model');
      expect((error as PricingError).problems).toEqual(problems);
    }
  });

  it('refuses decreasing bounds, fractional base units and prices as numbers', () => {
    expect(validatePriceModel({ ...volume, tiers: [{ upTo: 10, unitPrice: '1' }, { upTo: 5, unitPrice: '1' }, { upTo: null, unitPrice: '1' }] })).toHaveLength(1);
    expect(validatePriceModel({ ...graduated, unitSeconds: 60, tiers: [{ upTo: 0.001, unitPrice: '1' }, { upTo: null, unitPrice: '1' }] })).toHaveLength(1);
    expect(validatePriceModel({ ...perMinute, unitPrice: 0.1 as unknown as string })).toHaveLength(1);
    expect(validatePriceModel({ ...perMinute, unitPrice: '0.0000001' })).toHaveLength(1);
    expect(validatePriceModel(graduated)).toEqual([]);
  });

  it('refuses negative or fractional quantities', () => {
    expect(() => priceUsage(perMinute, -1, 10)).toThrow(PricingError);
    expect(() => priceUsage(perMinute, 0, 1.5)).toThrow(/not a non-negative integer/);
  });
});

describe('property: pricing call by call equals pricing the total at once', () => {
  const awkward: PriceModel[] = [
    { kind: 'per_unit', currency: 'USD', unitSeconds: 60, unitPrice: '0.0137' },
    {
      kind: 'graduated',
      currency: 'EUR',
      unitSeconds: 60,
      tiers: [
        { upTo: 7, unitPrice: '0.333333', flatFee: '0.5' },
        { upTo: 31, unitPrice: '0.019', flatFee: '1.25' },
        { upTo: null, unitPrice: '0.007' },
      ],
    },
    {
      kind: 'volume',
      currency: 'JPY',
      unitSeconds: 6,
      tiers: [
        { upTo: 50, unitPrice: '1.7', flatFee: '3' },
        { upTo: 300, unitPrice: '1.1' },
        { upTo: null, unitPrice: '0.9', flatFee: '10' },
      ],
    },
  ];
  const models = [perMinute, graduated, graduatedWithFee, volume, volumeWithFee, ...awkward];

  it.each(models.map((m, i) => [i, m] as const))('model %i, 200 random splits', (i, model) => {
    const random = prng(1000 + i);
    for (let run = 0; run < 200; run++) {
      const total = Math.floor(random() * 50_000);
      const atOnce = priceTotal(model, total);
      let before = 0;
      let sum = priceTotal(model, 0).amount;
      const unitsByTier = new Map<number, number>();
      while (before < total) {
        // mostly short calls, sometimes long ones, sometimes zero-length
        const r = random();
        const size = r < 0.1 ? 0 : r < 0.9 ? Math.floor(random() * 600) : Math.floor(random() * 20_000);
        const units = Math.min(size, total - before);
        const priced = priceUsage(model, before, units);
        sum = sum.plus(priced.amount);
        for (const line of priced.lines) {
          unitsByTier.set(line.tier, (unitsByTier.get(line.tier) ?? 0) + line.units);
        }
        const linesSum = priced.lines.reduce((s, l) => s.plus(l.amount), priceTotal(model, 0).amount);
        expect(linesSum.equals(priced.amount)).toBe(true);
        before += units;
      }
      expect(`${total}: ${sum.toFixed()}`).toBe(`${total}: ${atOnce.amount.toFixed()}`);
      // the breakdown's units per tier also add up to the at-once breakdown
      for (const line of atOnce.lines) expect(unitsByTier.get(line.tier) ?? 0).toBe(line.units);
      const nonZero = [...unitsByTier.entries()].filter(([, u]) => u !== 0);
      expect(nonZero.length).toBe(atOnce.lines.length);
    }
  });
});
