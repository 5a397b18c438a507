import { describe, expect, it } from 'vitest';
import { chargeBatch, openPeriod } from '../drawdown/index.ts';
import { dec } from '../money/index.ts';
import { grantsFor, toPlanPricing } from '../reference/index.ts';
import type { Plan, Subscription } from '../reference/index.ts';
import { seededRandom } from '../prng.ts';
import { basic500, mini100, month, pro1000, subscriptionOn, voicePlan } from './fixtures.ts';
import { priceOnPlan, type UsageTotal } from './whatif.ts';

const MIN = 60;
const voice = (minutes: number, seconds = 0): UsageTotal[] => [{ usageType: 'voice', calls: 1, billableSeconds: minutes * MIN + seconds }];
const april = month(4);

const graduated500: Plan = {
  ...voicePlan('grad-500', '20.00', 500, '0', 2),
  priceModels: [{ usageType: 'voice', kind: 'GRADUATED', unitSeconds: 60, tiers: [{ upTo: 100, unitPrice: '0.10', flatFee: '0' }, { upTo: null, unitPrice: '0.05', flatFee: '0' }] }],
};
const discounted = { ...pro1000, commitmentDiscount: { months: 12, percent: '10' } };
const committed = { months: 12, startsAt: Date.parse('2026-01-01T00:00:00Z'), endsAt: Date.parse('2027-01-01T00:00:00Z') };

describe('priceOnPlan: one period on any plan, hand-worked', () => {
  const cases: { name: string; plan: Plan; subscription?: Partial<Subscription>; usage: UsageTotal[]; fee: string; overage: string; total: string; included: number }[] = [
    // 800 min on 500 included: 300 min over × 0.10 = 30.00; + fee 20.00 = 50.00
    { name: '300 minutes over a 500-minute plan', plan: basic500, usage: voice(800), fee: '20', overage: '30', total: '50', included: 500 * MIN },
    // 800 min within 1,000 included: fee 35.00 only
    { name: 'the same usage on a 1,000-minute plan', plan: pro1000, usage: voice(800), fee: '35', overage: '0', total: '35', included: 800 * MIN },
    // 40 min within 100 included: fee 5.00
    { name: '40 minutes on a 100-minute plan', plan: mini100, usage: voice(40), fee: '5', overage: '0', total: '5', included: 40 * MIN },
    // trial until after the period's start: no fee; overage still 300 × 0.10 = 30.00
    { name: 'in trial at the period start: no fee', plan: basic500, subscription: { trialEndsAt: Date.parse('2026-04-10T00:00:00Z') }, usage: voice(800), fee: '0', overage: '30', total: '30', included: 500 * MIN },
    // 12-month commitment, plan gives 10%: 35.00 − 3.50 = 31.50
    { name: 'commitment discount', plan: discounted, subscription: { commitment: committed }, usage: voice(800), fee: '31.5', overage: '0', total: '31.5', included: 800 * MIN },
    // a commitment of another length earns nothing: 35.00
    { name: 'a commitment of another length', plan: discounted, subscription: { commitment: { ...committed, months: 24 } }, usage: voice(800), fee: '35', overage: '0', total: '35', included: 800 * MIN },
    // graduated overage 300 min: 100 × 0.10 + 200 × 0.05 = 10 + 10 = 20; + 20 = 40.00
    { name: 'graduated overage', plan: graduated500, usage: voice(800), fee: '20', overage: '20', total: '40', included: 500 * MIN },
    // an add-on of 200 min: 700 included, 100 over × 0.10 = 10.00; + 20 = 30.00
    { name: 'add-on grants count on any plan', plan: basic500, subscription: { addOnGrants: [{ bucketId: 'addon-200', usageType: 'voice', seconds: 200 * MIN, priority: 1 }] }, usage: voice(800), fee: '20', overage: '10', total: '30', included: 700 * MIN },
    // 501 min 1 s: 61 s over × 0.10 / 60 = 0.1016666… → 0.101667 (scale 6); total 20.101667 → 20.10
    { name: 'rounded once, at the total', plan: basic500, usage: voice(501, 1), fee: '20', overage: '0.101667', total: '20.1', included: 500 * MIN },
    // cancelled before the period: no fee; usage (none here) 0
    { name: 'cancelled by the period start', plan: basic500, subscription: { cancelledAt: Date.parse('2026-03-20T00:00:00Z') }, usage: [], fee: '0', overage: '0', total: '0', included: 0 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const result = priceOnPlan({ plan: c.plan, subscription: subscriptionOn(c.plan, c.subscription), period: april, usage: c.usage, roundingMode: 'half_up' });
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      expect(result.fee.toFixed()).toBe(c.fee);
      expect(result.usage.reduce((s, u) => s.plus(u.amount), dec(0)).toFixed()).toBe(c.overage);
      expect(result.usage.reduce((s, u) => s + u.includedSeconds, 0)).toBe(c.included);
      expect(result.total.toFixed()).toBe(c.total);
    });
  }

  it('a usage type the plan has no price for, beyond its grants, is not covered', () => {
    const result = priceOnPlan({ plan: basic500, subscription: subscriptionOn(basic500), period: april, usage: [...voice(10), { usageType: 'sms', calls: 5, billableSeconds: 5 }], roundingMode: 'half_up' });
    expect(result).toMatchObject({ ok: false, code: 'not_covered', usageType: 'sms' });
  });

  it('equals live charging of the same calls one by one, in any order, to the last decimal', () => {
    // A volume model re-prices every unit when a tier is crossed: the hardest case for totals.
    const volume: Plan = {
      ...voicePlan('vol-200', '10.00', 200, '0', 3),
      priceModels: [{ usageType: 'voice', kind: 'VOLUME', unitSeconds: 60, tiers: [{ upTo: 100, unitPrice: '0.12', flatFee: '1.00' }, { upTo: null, unitPrice: '0.07', flatFee: '0' }] }],
    };
    const random = seededRandom(14);
    for (let round = 0; round < 20; round++) {
      const calls = Array.from({ length: 40 }, (_, i) => ({ cdrId: `c${i}`, usageType: 'voice', billableSeconds: Math.floor(random() * 1200), startedAt: april.start }));
      const subscription = subscriptionOn(volume);
      const live = chargeBatch(openPeriod(grantsFor(volume, subscription)), calls, toPlanPricing(volume));
      const total = calls.reduce((s, c) => s + c.billableSeconds, 0);
      const whatIf = priceOnPlan({ plan: volume, subscription, period: april, usage: [{ usageType: 'voice', calls: calls.length, billableSeconds: total }], roundingMode: 'half_even' });
      if (!whatIf.ok) throw new Error(whatIf.message);
      expect(whatIf.usage[0]!.amount.toFixed()).toBe(live.charges.reduce((s, c) => s.plus(c.amount), dec(0)).toFixed());
      expect(whatIf.usage[0]!.includedSeconds).toBe(live.charges.reduce((s, c) => s + c.includedSeconds, 0));
    }
  });
});
