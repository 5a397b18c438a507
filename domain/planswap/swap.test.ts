import { describe, expect, it } from 'vitest';
import { basic500, subscriptionOn } from './fixtures.ts';
import { swapTerms } from './swap.ts';

// New York, bill run at 02:00 local. Anchored 2026-01-01 local: April's period is
// 2026-04-01T04:00Z to 2026-05-01T04:00Z (EDT); its bill run is due 2026-05-01 02:00 EDT = 06:00Z.
const brand = (feePolicy: 'full' | 'prorated') => ({ timeZone: 'America/New_York', billingHour: 2, planSwap: { feePolicy, lookBackPeriods: 3, minSavingAmount: null, minSavingPercent: null, minConfidencePercent: 50, recommendationHour: 3 } });
const subscription = subscriptionOn(basic500, { anchor: Date.parse('2026-01-01T05:00:00Z') });
const APRIL = Date.parse('2026-04-01T04:00:00Z');
const MAY = Date.parse('2026-05-01T04:00:00Z');
const APRIL_RUN = Date.parse('2026-05-01T06:00:00Z');

describe('swapTerms: which period a swap applies to, and the cut-off', () => {
  const cases: { name: string; now: string; policy: 'full' | 'prorated'; periodStart?: number; period?: number; changeAt?: string; refused?: string }[] = [
    { name: 'mid-period: the current period, from its start (full fee)', now: '2026-04-16T12:00:00Z', policy: 'full', period: APRIL, changeAt: '2026-04-01T04:00:00.000Z' },
    { name: 'mid-period, prorated: the fee changes now, usage from the start', now: '2026-04-16T12:00:00Z', policy: 'prorated', period: APRIL, changeAt: '2026-04-16T12:00:00.000Z' },
    // 05:58Z is 01:58 EDT on May 1: April has ended but its bill run (06:00Z) is two minutes away.
    { name: 'two minutes before the bill run: the period just ended', now: '2026-05-01T05:58:00Z', policy: 'full', period: APRIL, changeAt: '2026-04-01T04:00:00.000Z' },
    { name: 'the same, naming that period', now: '2026-05-01T05:58:00Z', policy: 'full', periodStart: APRIL, period: APRIL },
    // Within the 60 s margin of the run: April is closed; a request naming it is refused.
    { name: 'inside the cut-off margin, naming the closing period: refused', now: '2026-05-01T05:59:30Z', policy: 'full', periodStart: APRIL, refused: 'swap_after_cutoff' },
    { name: 'inside the cut-off margin, naming none: the new period', now: '2026-05-01T05:59:30Z', policy: 'full', period: MAY, changeAt: '2026-05-01T04:00:00.000Z' },
    { name: 'after the bill run, naming the billed period: refused', now: '2026-05-01T06:00:01Z', policy: 'prorated', periodStart: APRIL, refused: 'swap_after_cutoff' },
    { name: 'a period not yet open: refused', now: '2026-04-16T12:00:00Z', policy: 'full', periodStart: MAY, refused: 'invalid_swap_period' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const outcome = swapTerms({ subscription, brand: brand(c.policy), now: new Date(c.now), ...(c.periodStart !== undefined ? { periodStart: new Date(c.periodStart) } : {}) });
      if (c.refused !== undefined) {
        expect(outcome).toMatchObject({ ok: false, code: c.refused });
        return;
      }
      expect(outcome.ok).toBe(true);
      if (!outcome.ok) return;
      expect(outcome.terms.period.start.getTime()).toBe(c.period);
      expect(outcome.terms.rerateFrom.getTime()).toBe(c.period);
      if (c.period === APRIL) expect(outcome.terms.billRunAt.getTime()).toBe(APRIL_RUN);
      if (c.changeAt !== undefined) expect(outcome.terms.changeAt.toISOString()).toBe(c.changeAt);
    });
  }

  it('refuses a cancelled subscription and a swap that would precede the last plan change', () => {
    expect(swapTerms({ subscription: { ...subscription, status: 'cancelled' }, brand: brand('full'), now: new Date('2026-04-16T12:00:00Z') })).toMatchObject({ ok: false, code: 'subscription_not_swappable' });
    const changed = { ...subscription, planChanges: [{ at: Date.parse('2026-04-10T00:00:00Z'), fromPlanId: 'pro-1000', fromPlanVersion: 1, toPlanId: 'basic-500', toPlanVersion: 1 }] };
    expect(swapTerms({ subscription: changed, brand: brand('full'), now: new Date('2026-04-16T12:00:00Z') })).toMatchObject({ ok: false, code: 'swap_before_last_change' });
    expect(swapTerms({ subscription: changed, brand: brand('prorated'), now: new Date('2026-04-16T12:00:00Z') }).ok).toBe(true);
  });
});
