import { describe, expect, it } from 'vitest';
import { dec } from '../money/index.ts';
import type { Plan } from '../reference/index.ts';
import { allPlans, basic500, max3000, mini100, pro1000, subscriptionOn, voiceMonth, withSms } from './fixtures.ts';
import {
  DEFAULT_RECOMMENDATION_SETTINGS,
  confidenceOf,
  nextRecommendationStep,
  projectPeriod,
  recommendPlan,
  recommendationSettingsOf,
  plansOnSale,
  basisPeriods,
  type PeriodUsage,
  type RecommendInput,
  type RecommendationSettings,
} from './recommend.ts';

const MIN = 60;

function input(current: Plan, closed: PeriodUsage[], extra: Partial<RecommendInput> = {}, settings: Partial<RecommendationSettings> = {}): RecommendInput {
  return {
    subscription: subscriptionOn(current),
    currentPlan: current,
    candidates: allPlans,
    currency: 'USD',
    roundingMode: 'half_up',
    numbersHeld: 1,
    closed,
    current: null,
    now: new Date('2026-04-16T00:00:00Z'),
    settings: { ...DEFAULT_RECOMMENDATION_SETTINGS, ...settings },
    ...extra,
  };
}

const steady800 = [voiceMonth(1, 800), voiceMonth(2, 800), voiceMonth(3, 800)];
const steady40 = [voiceMonth(1, 40), voiceMonth(2, 40), voiceMonth(3, 40)];

describe('recommendPlan, hand-worked', () => {
  it('300 minutes over a 500-minute plan, every month: upgrade to 1,000 minutes', () => {
    // Each period on basic-500: 20.00 + 300 min × 0.10 = 50.00.
    // pro-1000: 35.00 (800 within 1,000). max-3000: 90.00. mini-100: 5.00 + 700 × 0.15 = 110.00.
    // April so far (half of 30 days at 2026-04-16T00:00Z): 400 min → projected 400 × 2 = 800.
    // Saving 50.00 − 35.00 = 15.00 a period, × 12 = 180.00 a year, 15 / 50 = 30.00 %.
    const outcome = recommendPlan(input(basic500, steady800, { current: voiceMonth(4, 400) }));
    expect(outcome.kind).toBe('recommend');
    if (outcome.kind !== 'recommend') return;
    const r = outcome.recommendation;
    expect([r.planId, r.direction]).toEqual(['pro-1000', 'upgrade']);
    expect([r.savingPerPeriod.toFixed(2), r.savingPerYear.toFixed(2), r.savingPercent.toFixed(2)]).toEqual(['15.00', '180.00', '30.00']);
    expect([r.currentCostPerPeriod.toFixed(2), r.newCostPerPeriod.toFixed(2)]).toEqual(['50.00', '35.00']);
    expect(r.confidence).toEqual({ score: 1, level: 'high', closedPeriods: 3, coefficientOfVariation: 0 });
    expect(r.basis.map((b) => [b.projected, b.usage[0]!.billableSeconds, b.currentCost.toFixed(2), b.newCost.toFixed(2)])).toEqual([
      [false, 800 * MIN, '50.00', '35.00'],
      [false, 800 * MIN, '50.00', '35.00'],
      [false, 800 * MIN, '50.00', '35.00'],
      [true, 800 * MIN, '50.00', '35.00'],
    ]);
  });

  it('40 of 1,000 minutes: downgrade to the smallest plan that carries it', () => {
    // pro-1000: 35.00. basic-500: 20.00 (saving 15.00). mini-100: 5.00 (saving 30.00). max: 90.00.
    // 30.00 a period, 360.00 a year, 30 / 35 = 85.714… → 85.71 %.
    const outcome = recommendPlan(input(pro1000, steady40));
    expect(outcome.kind).toBe('recommend');
    if (outcome.kind !== 'recommend') return;
    const r = outcome.recommendation;
    expect([r.planId, r.direction, r.savingPerPeriod.toFixed(2), r.savingPerYear.toFixed(2), r.savingPercent.toFixed(2)]).toEqual(['mini-100', 'downgrade', '30.00', '360.00', '85.71']);
  });

  it('never a plan allotting fewer numbers than the subscription holds', () => {
    // 2 numbers: mini-100 allots 1, so basic-500 (allots 2): 35.00 − 20.00 = 15.00.
    const outcome = recommendPlan(input(pro1000, steady40, { numbersHeld: 2 }));
    expect(outcome.kind === 'recommend' && [outcome.recommendation.planId, outcome.recommendation.savingPerPeriod.toFixed(2)]).toEqual(['basic-500', '15.00']);
  });

  it('never a plan without a price for a usage type the customer uses', () => {
    // 800 min and 100 messages a month. Current basic-500 with sms at 0.01: 50.00 + 1.00 = 51.00.
    // pro-1000 (35.00) has no sms price: not a candidate. max-3000 with sms: 90.00 + 1.00 = 91.00.
    const sms = [voiceMonth(1, 800, 100), voiceMonth(2, 800, 100), voiceMonth(3, 800, 100)];
    const current = withSms(basic500);
    const outcome = recommendPlan(input(current, sms, { candidates: [current, pro1000, withSms(max3000), mini100] }));
    expect(outcome).toMatchObject({ kind: 'none', reason: 'no_cheaper_plan' });
    // With an sms price, pro-1000 carries it: 35.00 + 1.00 = 36.00, saving 15.00.
    const priced = recommendPlan(input(current, sms, { candidates: [current, withSms(pro1000)] }));
    expect(priced.kind === 'recommend' && [priced.recommendation.planId, priced.recommendation.savingPerPeriod.toFixed(2)]).toEqual(['pro-1000', '15.00']);
  });

  it('usage that jumps around: no recommendation, low confidence', () => {
    // 50, 1,500, 100 min on basic-500: 20.00, 20.00 + 1,000 × 0.10 = 120.00, 20.00; mean 53.33.
    // pro-1000: 35.00, 35.00 + 500 × 0.08 = 75.00, 35.00; mean 48.33: saving 5.00, above the floor.
    // Totals 3,000 / 90,000 / 6,000 s: mean 33,000, deviations −30,000, 57,000, −27,000;
    // variance (9e8 + 3.249e9 + 7.29e8) / 3 = 1.626e9, sd 40,323.7; CV 1.222 → steadiness 0, score 0.
    const jumpy = [voiceMonth(1, 50), voiceMonth(2, 1500), voiceMonth(3, 100)];
    const outcome = recommendPlan(input(basic500, jumpy));
    expect(outcome).toMatchObject({ kind: 'none', reason: 'low_confidence' });
    expect(confidenceOf(jumpy, 3, 3)).toEqual({ score: 0, level: 'low', closedPeriods: 3, coefficientOfVariation: 1.222 });
  });

  it('some swing lowers the confidence without silencing it', () => {
    // 700, 800, 900 min: mean 800, sd √((100² + 0 + 100²) / 3) = 81.65, CV 0.102 → score 0.898, high.
    // 600, 800, 1,000: CV 0.204 → 0.796, high; 400, 800, 1,200: CV 0.408 → 0.592, medium.
    expect(confidenceOf([voiceMonth(1, 700), voiceMonth(2, 800), voiceMonth(3, 900)], 3, 3)).toMatchObject({ score: 0.898, level: 'high' });
    expect(confidenceOf([voiceMonth(1, 400), voiceMonth(2, 800), voiceMonth(3, 1200)], 3, 3)).toMatchObject({ score: 0.592, level: 'medium' });
  });

  it('one closed month is a third of the history: low confidence, recommended only where the brand accepts it', () => {
    // 1 of 3 closed periods: score 1/3 × 1 = 0.333.
    const one = [voiceMonth(3, 800)];
    expect(recommendPlan(input(basic500, one))).toMatchObject({ kind: 'none', reason: 'low_confidence' });
    const accepted = recommendPlan(input(basic500, one, {}, { minConfidence: 0.3 }));
    expect(accepted.kind === 'recommend' && [accepted.recommendation.planId, accepted.recommendation.confidence.level, accepted.recommendation.confidence.score]).toEqual(['pro-1000', 'low', 0.333]);
  });

  it('a saving below the brand floor, by amount or by percent, is not recommended', () => {
    // 15.00 (30 %) a period against floors of 20.00, then of 40 %.
    expect(recommendPlan(input(basic500, steady800, {}, { minSavingAmount: dec('20') }))).toMatchObject({ kind: 'none', reason: 'below_threshold' });
    expect(recommendPlan(input(basic500, steady800, {}, { minSavingAmount: null, minSavingPercent: dec('40') }))).toMatchObject({ kind: 'none', reason: 'below_threshold' });
    expect(recommendPlan(input(basic500, steady800, {}, { minSavingAmount: dec('15'), minSavingPercent: dec('30') })).kind).toBe('recommend');
  });

  it('only the last N closed periods count', () => {
    // January's 3,000 min falls out of a 3-period look-back: the three 800-minute months decide.
    const outcome = recommendPlan(input(basic500, [voiceMonth(1, 3000), ...[2, 3, 4].map((m) => voiceMonth(m, 800))], { now: new Date('2026-05-02T00:00:00Z') }));
    expect(outcome.kind === 'recommend' && [outcome.recommendation.planId, outcome.recommendation.basis.length]).toEqual(['pro-1000', 3]);
  });

  it('no history, nothing to say; the cheapest plan already: nothing either', () => {
    expect(recommendPlan(input(basic500, [], { current: voiceMonth(4, 10), now: new Date('2026-04-03T00:00:00Z') }))).toMatchObject({ kind: 'none', reason: 'no_history' });
    expect(recommendPlan(input(mini100, steady40))).toMatchObject({ kind: 'none', reason: 'no_cheaper_plan' });
  });
});

describe('projectPeriod', () => {
  it('scales the usage so far to the whole period, once a quarter of it has passed', () => {
    // April: 30 days. At day 10 (1/3): 100 min → 300 min; 7 calls → 21. At day 7 (< 7.5): none.
    const april = { ...voiceMonth(4, 100), usage: [{ usageType: 'voice', calls: 7, billableSeconds: 6000 }] };
    expect(projectPeriod(april, new Date('2026-04-11T00:00:00Z'))?.usage).toEqual([{ usageType: 'voice', calls: 21, billableSeconds: 18000 }]);
    expect(projectPeriod(april, new Date('2026-04-08T00:00:00Z'))).toBeNull();
    // 1,000 s at 2/3 of the period: 1,500 s exactly; 1,001 s: 1,501.5 → 1,502 (half up).
    const at = new Date('2026-04-21T00:00:00Z');
    expect(projectPeriod({ ...april, usage: [{ usageType: 'voice', calls: 1, billableSeconds: 1001 }] }, at)?.usage[0]!.billableSeconds).toBe(1502);
  });
});

describe('nextRecommendationStep: one live recommendation per subscription', () => {
  const live = { planId: 'pro-1000', planVersion: 1, savingPerPeriod: dec('15.00') };
  const recommend = recommendPlan(input(basic500, steady800));
  const none = recommendPlan(input(basic500, [voiceMonth(1, 50), voiceMonth(2, 1500), voiceMonth(3, 100)]));
  it.each([
    ['first recommendation', null, recommend, 'publish'],
    ['the same plan and saving', live, recommend, 'keep'],
    ['another saving supersedes', { ...live, savingPerPeriod: dec('12.00') }, recommend, 'publish'],
    ['another plan supersedes', { ...live, planId: 'max-3000' }, recommend, 'publish'],
    ['no longer worth it', live, none, 'withdraw'],
    ['nothing before, nothing now', null, none, 'nothing'],
  ] as const)('%s', (_name, before, outcome, step) => {
    expect(nextRecommendationStep(before, outcome)).toBe(step);
  });
});

describe('recommendationSettingsOf: the brand setting', () => {
  it('reads the brand\'s floors and confidence, and defaults without one', () => {
    expect(recommendationSettingsOf({ planSwap: null })).toBe(DEFAULT_RECOMMENDATION_SETTINGS);
    const s = recommendationSettingsOf({ planSwap: { feePolicy: 'full', lookBackPeriods: 6, minSavingAmount: '2.50', minSavingPercent: null, minConfidencePercent: 70, recommendationHour: 4 } });
    expect([s.periods, s.minSavingAmount?.toFixed(2), s.minSavingPercent, s.minConfidence]).toEqual([6, '2.50', null, 0.7]);
  });
});

describe('plansOnSale', () => {
  it("the latest version of the brand's own and the parent's plans, in the brand's currency", () => {
    const brand = { code: 'ansr-us', parentCompany: 'ansr-group', currency: 'USD' };
    const plans = [basic500, { ...basic500, version: 2, monthlyFee: '19.00' }, { ...pro1000, owner: 'ansr-us' }, { ...mini100, owner: 'ansr-uk' }, { ...max3000, currency: 'GBP' }];
    expect(plansOnSale(plans, brand).map((p) => `${p.planId}:${p.version}`)).toEqual(['basic-500:2', 'pro-1000:1']);
  });
});

describe('basisPeriods', () => {
  it('the last N closed anniversary periods in the brand zone and the current one, with what was stored', () => {
    // Anchor 2026-01-31 in New York: periods start Jan 31, Feb 28, Mar 31, Apr 30 (local midnight).
    // On 2026-05-10 the current period started Apr 30; with N = 2 the closed ones are Feb 28 and Mar 31.
    const zone = 'America/New_York';
    const anchor = Date.parse('2026-01-31T05:00:00Z');
    const feb28 = Date.parse('2026-02-28T05:00:00Z');
    const mar31 = Date.parse('2026-03-31T04:00:00Z');
    const apr30 = Date.parse('2026-04-30T04:00:00Z');
    const rows = [
      { periodStart: Date.parse('2026-01-31T05:00:00Z'), usageType: 'voice', calls: 9, billableSeconds: 900 },
      { periodStart: mar31, usageType: 'voice', calls: 3, billableSeconds: 300 },
      { periodStart: apr30, usageType: 'voice', calls: 1, billableSeconds: 60 },
    ];
    const basis = basisPeriods({ anchor }, zone, new Date('2026-05-10T12:00:00Z'), 2, rows);
    expect(basis.closed.map((p) => [p.start.getTime(), p.end.getTime(), p.usage.map((u) => u.billableSeconds)])).toEqual([
      [feb28, mar31, []],
      [mar31, apr30, [300]],
    ]);
    expect([basis.current?.start.getTime(), basis.current?.usage[0]?.billableSeconds]).toEqual([apr30, 60]);
    // Ten days after the anchor: no closed period yet.
    expect(basisPeriods({ anchor }, zone, new Date('2026-02-10T00:00:00Z'), 3, rows).closed).toEqual([]);
  });
});
