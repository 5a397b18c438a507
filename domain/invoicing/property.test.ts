import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { dec, minorUnits, roundToMinor } from '../money/index.ts';
import type { RoundingMode } from '../money/index.ts';
import { nthPeriod } from '../periods/index.ts';
import { BuiltinTaxEngine } from '../tax/index.ts';
import { buildInvoice } from './index.ts';
import type { BillingBrand, BillingPlan, InvoiceBuildInput, UsageSummary } from './index.ts';
import { seededRandom as prng } from '../prng.ts';

const engine = new BuiltinTaxEngine();
const MODES: RoundingMode[] = ['half_up', 'half_even', 'down', 'up'];
type Place = readonly [Omit<BillingBrand, 'roundingMode' | 'cancellationCredit'>, string, string | null];
const PLACES: readonly Place[] = [
  ...['NY', 'TX', 'WA', 'CA', 'OR'].map((r) => [{ code: 'B-US', country: 'US', currency: 'USD', timeZone: 'America/New_York', taxRegime: 'us_sales_tax', paymentTermsDays: 14 }, 'US', r] as Place),
  ...['ON', 'QC', 'BC', 'SK', 'MB', 'NS', 'AB'].map((r) => [{ code: 'B-CA', country: 'CA', currency: 'CAD', timeZone: 'America/Toronto', taxRegime: 'ca_gst_hst_pst_qst', paymentTermsDays: 30 }, 'CA', r] as Place),
  [{ code: 'B-UK', country: 'GB', currency: 'GBP', timeZone: 'Europe/London', taxRegime: 'uk_vat', paymentTermsDays: 7 }, 'GB', null],
];

function randomInput(seed: number): InvoiceBuildInput {
  const rand = prng(seed);
  const int = (n: number): number => Math.floor(rand() * n);
  const pick = <T,>(xs: readonly T[]): T => xs[int(xs.length)]!;
  /** A random amount with up to 6 decimals, as a string (never a JS float). */
  const amount = (maxWhole: number, signed = false): string => {
    const micros = BigInt(int(maxWhole * 1_000_000));
    const text = new Decimal(micros.toString()).dividedBy(1_000_000).toFixed();
    return signed && rand() < 0.4 ? `-${text}` : text;
  };
  const [place, country, region] = pick(PLACES);
  const brand: BillingBrand = { ...place, roundingMode: pick(MODES), cancellationCredit: pick(['prorated', 'none'] as const) };
  // Months of 31 days, so any day 1-31 is a date; anniversaries on the 29th-31st clamp later.
  const anchor = `2026-${pick(['01', '03', '05', '07', '08'])}-${String(1 + int(31)).padStart(2, '0')}`;
  const index = 1 + int(14);
  const ended = nthPeriod(anchor, index - 1, brand.timeZone);
  const period = nthPeriod(anchor, index, brand.timeZone);
  const span = ended.end.getTime() - ended.start.getTime();
  const inEnded = (): Date => new Date(ended.start.getTime() + Math.floor((rand() * span) / 1000) * 1000);
  const plan = (id: string): BillingPlan => ({
    planId: id, version: 1, name: id, monthlyFee: amount(300), commitmentDiscount: rand() < 0.5 ? { months: 12, percent: amount(30) } : null,
  });
  const planA = plan('a');
  const planB = plan('b');
  const change = rand() < 0.3 ? { at: inEnded(), from: planA, to: planB } : null;
  const cancelledAt = rand() < 0.2 ? (change ? new Date(change.at.getTime() + 1000) : inEnded()) : null;
  const trialEndsAt = rand() < 0.2 ? inEnded() : null;
  const usage: UsageSummary[] = Array.from({ length: int(3) }, (_, u) => ({
    usageType: `U${u}`, unitSeconds: pick([1, 60]), calls: int(100), billableSeconds: int(100000), includedSeconds: int(50000), overageSeconds: int(50000),
    tiers: Array.from({ length: 1 + int(3) }, (_, t) => ({
      tier: t, seconds: int(20000), unitPrice: dec(amount(1)), flatFee: dec(0), amount: dec(amount(80)),
    })),
  }));
  return {
    brand,
    subscription: {
      subscriptionId: `s${seed}`, accountId: `a${seed}`, anchor, trialEndsAt, cancelledAt,
      commitment: rand() < 0.5 ? { months: 12, startsAt: ended.start, endsAt: new Date(ended.start.getTime() + 365 * 86400_000) } : null,
    },
    plan: change ? planB : planA,
    period,
    issuedAt: new Date(period.start.getTime() + 3 * 3600_000),
    usage,
    adjustments: Array.from({ length: int(3) }, (_, i) => ({
      adjustmentId: `adj${i}`, reason: 'rerating' as const, usageType: null, description: 'adj', amount: dec(amount(20, true)), periodStart: ended.start, periodEnd: ended.end,
    })),
    planChanges: change ? [change] : [],
    customerTax: { country, region, taxIds: [], exemptions: [] },
    taxEngine: engine,
  };
}

describe('buildInvoice, property: the one rounding step keeps lines, taxes and totals in agreement', () => {
  it('for 500 random invoices (seeded)', () => {
    const seen = { taxed: 0, changes: 0, cancellations: 0, trials: 0, discounts: 0, negative: 0 };
    for (let seed = 1; seed <= 500; seed++) {
      const input = randomInput(seed);
      const invoice = buildInvoice(input);
      const ids = invoice.lines.map((l) => l.lineId);
      if (invoice.taxTotal.isZero() === false) seen.taxed++;
      if (ids.includes('proration:change-1:credit')) seen.changes++;
      if (ids.includes('proration:cancellation')) seen.cancellations++;
      if (ids.includes('proration:trial-end')) seen.trials++;
      if (ids.includes('discount')) seen.discounts++;
      if (invoice.total.isNegative()) seen.negative++;
      const { currency } = invoice;
      const mode = input.brand.roundingMode;
      const exponent = minorUnits(currency);
      const ctx = `seed ${seed}`;

      // Every line is its unrounded amount rounded once; the lines sum exactly to the subtotal.
      for (const l of invoice.lines) {
        expect(l.amount.equals(roundToMinor(l.unroundedAmount, currency, mode)), ctx).toBe(true);
        expect(l.amount.decimalPlaces(), ctx).toBeLessThanOrEqual(exponent);
      }
      const sumLines = invoice.lines.reduce((s, l) => s.plus(l.amount), dec(0));
      expect(sumLines.equals(invoice.subtotal), ctx).toBe(true);

      // Each tax is round(sum of the UNROUNDED taxable lines × rate), rounded once.
      const base = invoice.lines.filter((l) => l.taxable).reduce((s, l) => s.plus(l.unroundedAmount), dec(0));
      for (const t of invoice.taxes) {
        expect(t.taxableAmount.equals(base), ctx).toBe(true);
        expect(t.amount.equals(roundToMinor(base.times(t.rate), currency, mode)), ctx).toBe(true);
      }
      const sumTaxes = invoice.taxes.reduce((s, t) => s.plus(t.amount), dec(0));
      expect(sumTaxes.equals(invoice.taxTotal), ctx).toBe(true);
      expect(invoice.subtotal.plus(invoice.taxTotal).equals(invoice.total), ctx).toBe(true);

      // A usage summary equals its rounded tier lines.
      for (const s of invoice.usageSummaries) {
        const own = invoice.lines.filter((l) => l.kind === 'usage' && l.usageType === s.usageType);
        expect(own.reduce((x, l) => x.plus(l.amount), dec(0)).equals(s.amount), ctx).toBe(true);
      }

      // Deterministic: the same input gives the same invoice.
      expect(buildInvoice(input), ctx).toEqual(invoice);
    }
    // The generator reaches every kind of line the rules treat specially.
    for (const [what, count] of Object.entries(seen)) expect(count, what).toBeGreaterThan(5);
  }, 60_000);
});
