import { describe, expect, it } from 'vitest';
import { priceTotal } from '../pricing/index.ts';
import type { PriceModel } from '../pricing/index.ts';
import {
  DrawdownError,
  chargeBatch,
  chargeUsage,
  diffCharges,
  drawDown,
  openPeriod,
  recomputePeriod,
  sortUsages,
  summarizeCharges,
} from './index.ts';
import type { BucketGrant, PeriodState, PlanPricing, Usage, UsageCharge } from './index.ts';
import { seededRandom as prng } from '../prng.ts';

const MIN = 60;
const t0 = Date.parse('2026-03-01T00:00:00Z');
const usage = (cdrId: string, billableSeconds: number, usageType = 'voice', startOffset = 0): Usage => ({
  cdrId,
  usageType,
  billableSeconds,
  startedAt: new Date(t0 + startOffset * 1000),
});

const voicePerMinute: PriceModel = { kind: 'per_unit', currency: 'USD', unitSeconds: 60, unitPrice: '0.10' };
const smsEach: PriceModel = { kind: 'per_unit', currency: 'USD', unitSeconds: 1, unitPrice: '0.0075' };
const pricing: PlanPricing = { currency: 'USD', models: { voice: voicePerMinute, sms: smsEach } };

const remaining = (state: PeriodState): Record<string, number> =>
  Object.fromEntries(state.buckets.map((b) => [b.bucketId, b.remaining]));

/** Folds chargeUsage, failing on a rejection. */
function chargeAll(state: PeriodState, usages: Usage[], plan = pricing): { state: PeriodState; charges: UsageCharge[] } {
  const result = chargeBatch(state, usages, plan);
  expect(result.rejections).toEqual([]);
  return { state: result.state, charges: [...result.charges] };
}

describe('drawDown, hand-worked', () => {
  const thousandMinutes: BucketGrant[] = [{ bucketId: 'plan-voice', usageType: 'voice', seconds: 1000 * MIN, priority: 10 }];

  it('a bucket of 1000 minutes and a call that crosses it', () => {
    let state = openPeriod(thousandMinutes);
    const first = chargeUsage(state, usage('c1', 999 * MIN), pricing);
    if (!first.ok) throw new Error('rejected');
    expect([first.charge.includedSeconds, first.charge.overageSeconds, first.charge.amount.toFixed()]).toEqual([59_940, 0, '0']);
    expect(first.charge.exhausted).toEqual([]);
    state = first.state;

    // 150 s: 60 s included (the bucket's last minute), 90 s overage = 1.5 min x 0.10
    const crossing = chargeUsage(state, usage('c2', 150, 'voice', 1), pricing);
    if (!crossing.ok) throw new Error('rejected');
    expect(crossing.charge.draws).toEqual([{ bucketId: 'plan-voice', seconds: 60, remainingAfter: 0 }]);
    expect([crossing.charge.includedSeconds, crossing.charge.overageSeconds, crossing.charge.amount.toFixed()]).toEqual([60, 90, '0.15']);
    expect(crossing.charge.exhausted).toEqual([{ bucketId: 'plan-voice', usageType: 'voice', granted: 60_000, cdrId: 'c2' }]);
    state = crossing.state;
    expect(state.overageSeconds).toEqual({ voice: 90 });

    // 30 s more, all overage, priced after the 90 s already priced: F(120 s) - F(90 s) = 0.20 - 0.15
    const after = chargeUsage(state, usage('c3', 30, 'voice', 2), pricing);
    if (!after.ok) throw new Error('rejected');
    expect([after.charge.includedSeconds, after.charge.overageSeconds, after.charge.amount.toFixed()]).toEqual([0, 30, '0.05']);
    expect(after.charge.exhausted).toEqual([]); // exhausted once, reported once
  });

  it('does not modify the state it is given', () => {
    const state = openPeriod(thousandMinutes);
    const snapshot = JSON.stringify(state);
    drawDown(state, usage('c1', 600));
    expect(JSON.stringify(state)).toBe(snapshot);
  });

  it('two buckets: the lower priority number draws first, then the other', () => {
    const grants: BucketGrant[] = [
      { bucketId: 'plan', usageType: 'voice', seconds: 1200, priority: 10, source: 'plan' },
      { bucketId: 'addon-500', usageType: 'voice', seconds: 600, priority: 0, source: 'addon:500' },
    ];
    const drawn = drawDown(openPeriod(grants), usage('c1', 900));
    expect(drawn.draws).toEqual([
      { bucketId: 'addon-500', seconds: 600, remainingAfter: 0 },
      { bucketId: 'plan', seconds: 300, remainingAfter: 900 },
    ]);
    expect(drawn.exhausted.map((e) => e.bucketId)).toEqual(['addon-500']);
    expect([drawn.includedSeconds, drawn.overageSeconds]).toEqual([900, 0]);
  });

  it('equal priorities draw in bucketId order, whatever the grant order', () => {
    const grants: BucketGrant[] = [
      { bucketId: 'b', usageType: 'voice', seconds: 100, priority: 1 },
      { bucketId: 'a', usageType: 'voice', seconds: 100, priority: 1 },
    ];
    expect(drawDown(openPeriod(grants), usage('c1', 150)).draws.map((d) => [d.bucketId, d.seconds])).toEqual([
      ['a', 100],
      ['b', 50],
    ]);
  });

  it('a call that empties two buckets and goes over reports both and splits the rest', () => {
    const grants: BucketGrant[] = [
      { bucketId: 'a', usageType: 'voice', seconds: 60, priority: 0 },
      { bucketId: 'b', usageType: 'voice', seconds: 60, priority: 1 },
    ];
    const outcome = chargeUsage(openPeriod(grants), usage('c1', 300), pricing);
    if (!outcome.ok) throw new Error('rejected');
    expect(outcome.charge.exhausted.map((e) => e.bucketId)).toEqual(['a', 'b']);
    expect([outcome.charge.includedSeconds, outcome.charge.overageSeconds, outcome.charge.amount.toFixed()]).toEqual([120, 180, '0.3']);
  });

  it('a usage type with no bucket is all overage, at its own price', () => {
    const state = openPeriod(thousandMinutes);
    const outcome = chargeUsage(state, usage('s1', 4, 'sms'), pricing);
    if (!outcome.ok) throw new Error('rejected');
    expect([outcome.charge.includedSeconds, outcome.charge.overageSeconds, outcome.charge.amount.toFixed()]).toEqual([0, 4, '0.03']);
    expect(remaining(outcome.state)).toEqual({ 'plan-voice': 60_000 });
  });

  it('overage of a usage type the plan has no price for is rejected, and draws nothing', () => {
    const grants: BucketGrant[] = [{ bucketId: 'fax', usageType: 'fax', seconds: 60, priority: 0 }];
    const state = openPeriod(grants);
    const inside = chargeUsage(state, usage('f1', 60, 'fax'), pricing);
    expect(inside.ok && inside.charge.amount.toFixed()).toBe('0');
    const over = chargeUsage(state, usage('f2', 61, 'fax'), pricing);
    expect(over.ok).toBe(false);
    if (over.ok) return;
    expect(over.rejection.code).toBe('no_price_model');
    expect(over.state).toBe(state);
  });

  it('a zero-duration call draws nothing, costs nothing and exhausts nothing', () => {
    const empty = openPeriod([{ bucketId: 'p', usageType: 'voice', seconds: 0, priority: 0 }]);
    for (const state of [openPeriod(thousandMinutes), empty]) {
      const outcome = chargeUsage(state, usage('z', 0), pricing);
      if (!outcome.ok) throw new Error('rejected');
      expect(outcome.charge).toMatchObject({ includedSeconds: 0, overageSeconds: 0, draws: [], exhausted: [] });
      expect(outcome.charge.amount.isZero()).toBe(true);
      expect(outcome.state.buckets).toBe(state.buckets);
    }
  });

  it('rejects an invalid usage with a reason', () => {
    const outcome = chargeUsage(openPeriod([]), usage('bad', 1.5), pricing);
    expect(!outcome.ok && outcome.rejection.code).toBe('invalid_usage');
    expect(() => drawDown(openPeriod([]), usage('bad', -1))).toThrow(DrawdownError);
  });

  it('refuses invalid grants, reporting every problem', () => {
    try {
      openPeriod([
        { bucketId: 'a', usageType: 'voice', seconds: -1, priority: 0 },
        { bucketId: 'a', usageType: '', seconds: 10, priority: 0.5 },
      ]);
      expect.unreachable();
    } catch (error) {
      expect((error as DrawdownError).code).toBe('invalid_grant');
      expect((error as DrawdownError).problems).toHaveLength(4);
    }
  });

  it('refuses a price model in another currency than the plan', () => {
    const mixed: PlanPricing = { currency: 'USD', models: { voice: { ...voicePerMinute, currency: 'EUR' } } };
    expect(() => chargeUsage(openPeriod([]), usage('c', 1), mixed)).toThrow(/EUR/);
  });
});

describe('recomputePeriod and diffCharges', () => {
  const grants: BucketGrant[] = [{ bucketId: 'plan', usageType: 'voice', seconds: 900, priority: 0 }];

  it('recomputes in call-start order whatever the input order, and charges a duplicate once', () => {
    const a = usage('A', 600, 'voice', 0);
    const b = usage('B', 600, 'voice', 100);
    const result = recomputePeriod(grants, [b, a, { ...b }], pricing);
    expect(result.charges.map((c) => [c.cdrId, c.includedSeconds, c.overageSeconds, c.amount.toFixed()])).toEqual([
      ['A', 600, 0, '0'],
      ['B', 300, 300, '0.5'],
    ]);
    expect(result.rejections.map((r) => [r.cdrId, r.code])).toEqual([['B', 'duplicate_cdr']]);
  });

  it('a late CDR: give back everything, draw again in order, diff per CDR', () => {
    const a = usage('A', 600, 'voice', 0);
    const b = usage('B', 600, 'voice', 100);
    const late = usage('C', 120, 'voice', 50); // started between A and B, arrived after both
    const v1 = recomputePeriod(grants, [a, b], pricing);
    const v2 = recomputePeriod(grants, [a, b, late], pricing);
    // v2: A 600 included; C 120 included; B 180 included + 420 s overage = 7 min x 0.10
    expect(v2.charges.map((c) => [c.cdrId, c.includedSeconds, c.overageSeconds, c.amount.toFixed()])).toEqual([
      ['A', 600, 0, '0'],
      ['C', 120, 0, '0'],
      ['B', 180, 420, '0.7'],
    ]);
    expect(remaining(v2.state)).toEqual({ plan: 0 }); // drawn once: 900, not 900 + 900
    const diff = diffCharges(v1.charges, v2.charges);
    expect(diff.differences.map((d) => [d.cdrId, d.kind, d.includedSeconds, d.overageSeconds, d.amount.toFixed()])).toEqual([
      ['B', 'changed', -120, 120, '0.2'],
      ['C', 'added', 120, 0, '0'],
    ]);
    expect([diff.currency, diff.totals.includedSeconds, diff.totals.overageSeconds, diff.totals.amount.toFixed()]).toEqual([
      'USD', 0, 120, '0.2',
    ]);
  });

  it('a plan swap (what-if): the same usage on other grants and prices', () => {
    const usages = [usage('A', 600, 'voice', 0), usage('B', 600, 'voice', 100)];
    const current = recomputePeriod(grants, usages, pricing);
    const bigger = recomputePeriod(
      [{ bucketId: 'plan2', usageType: 'voice', seconds: 1200, priority: 0 }],
      usages,
      { currency: 'USD', models: { voice: { ...voicePerMinute, unitPrice: '0.05' } } },
    );
    const diff = diffCharges(current.charges, bigger.charges);
    expect(diff.differences.map((d) => [d.cdrId, d.includedSeconds, d.overageSeconds, d.amount.toFixed()])).toEqual([
      ['B', 300, -300, '-0.5'],
    ]);
  });

  it('a removed CDR and an unchanged version', () => {
    const v1 = recomputePeriod(grants, [usage('A', 60), usage('B', 60, 'voice', 1)], pricing);
    const v2 = recomputePeriod(grants, [usage('A', 60)], pricing);
    expect(diffCharges(v1.charges, v2.charges).differences.map((d) => [d.cdrId, d.kind, d.includedSeconds])).toEqual([
      ['B', 'removed', -60],
    ]);
    expect(diffCharges(v1.charges, v1.charges).differences).toEqual([]);
  });

  it('refuses to diff versions in different currencies or with a CDR twice', () => {
    const v = recomputePeriod(grants, [usage('A', 60)], pricing).charges;
    const eur = v.map((c) => ({ ...c, currency: 'EUR' }));
    expect(() => diffCharges(v, eur)).toThrow(expect.objectContaining({ code: 'currency_mismatch' }));
    expect(() => diffCharges([...v, ...v], v)).toThrow(expect.objectContaining({ code: 'duplicate_cdr' }));
  });
});

describe('property: one by one = recomputePeriod = any batching', () => {
  const plan: PlanPricing = {
    currency: 'USD',
    models: {
      voice: {
        kind: 'graduated',
        currency: 'USD',
        unitSeconds: 60,
        tiers: [
          { upTo: 30, unitPrice: '0.0137', flatFee: '0.5' },
          { upTo: 120, unitPrice: '0.011' },
          { upTo: null, unitPrice: '0.009' },
        ],
      },
      tollfree: {
        kind: 'volume',
        currency: 'USD',
        unitSeconds: 6,
        tiers: [
          { upTo: 100, unitPrice: '0.0031' },
          { upTo: null, unitPrice: '0.0017', flatFee: '2' },
        ],
      },
      sms: { kind: 'per_unit', currency: 'USD', unitSeconds: 1, unitPrice: '0.0075' },
    },
  };
  const types = ['voice', 'tollfree', 'sms'];

  function scenario(random: () => number): { grants: BucketGrant[]; usages: Usage[] } {
    const grants: BucketGrant[] = [];
    const bucketCount = Math.floor(random() * 5);
    for (let i = 0; i < bucketCount; i++) {
      grants.push({
        bucketId: `bucket-${Math.floor(random() * 1000)}-${i}`,
        usageType: types[Math.floor(random() * 2)]!, // sms never has a bucket
        seconds: Math.floor(random() * 3000),
        priority: Math.floor(random() * 3),
      });
    }
    const usages: Usage[] = [];
    const count = Math.floor(random() * 60);
    for (let i = 0; i < count; i++) {
      const r = random();
      usages.push(
        usage(
          `cdr-${i}-${Math.floor(random() * 1e6)}`,
          r < 0.1 ? 0 : Math.floor(random() * (r < 0.9 ? 400 : 3000)),
          types[Math.floor(random() * 3)]!,
          Math.floor(random() * 500), // collisions on start time exercise the cdrId tie-break
        ),
      );
    }
    return { grants, usages };
  }

  const figures = (charges: readonly UsageCharge[]) =>
    charges.map((c) => [c.cdrId, c.includedSeconds, c.overageSeconds, c.amount.toFixed(), c.draws.map((d) => `${d.bucketId}:${d.seconds}`).join(',')]);

  it('300 seeded scenarios', () => {
    const random = prng(20261125);
    for (let run = 0; run < 300; run++) {
      const { grants, usages } = scenario(random);
      const recomputed = recomputePeriod(grants, usages, plan);
      expect(recomputed.rejections).toEqual([]);
      const ordered = sortUsages(usages);

      // one by one through drawDown: the same draws and final buckets
      let state = openPeriod(grants);
      const drawn: Array<[string, number, number]> = [];
      for (const u of ordered) {
        const r = drawDown(state, u);
        drawn.push([u.cdrId, r.includedSeconds, r.overageSeconds]);
        state = r.state;
      }
      expect(drawn).toEqual(recomputed.charges.map((c) => [c.cdrId, c.includedSeconds, c.overageSeconds]));
      // drawDown leaves sequences alone; the recompute handed out 1..n, all charged.
      expect({ ...state, lastSequence: ordered.length }).toEqual(recomputed.state);
      expect(recomputed.charges.map((c) => c.sequence)).toEqual(ordered.map((_, i) => i + 1));

      // any split into batches (carrying the state) gives the identical charges
      let batched = openPeriod(grants);
      const charges: UsageCharge[] = [];
      for (let i = 0; i < ordered.length; ) {
        const size = 1 + Math.floor(random() * 10);
        const part = chargeAll(batched, ordered.slice(i, i + size), plan);
        batched = part.state;
        charges.push(...part.charges);
        i += size;
      }
      expect(figures(charges)).toEqual(figures(recomputed.charges));
      expect(batched).toEqual(recomputed.state);

      // input order does not matter to a recompute
      const shuffled = [...usages].sort(() => random() - 0.5);
      expect(figures(recomputePeriod(grants, shuffled, plan).charges)).toEqual(figures(recomputed.charges));

      // conservation, per usage type: included = min(used, granted); overage priced at once
      for (const totals of summarizeCharges(recomputed.charges)) {
        const granted = grants.filter((g) => g.usageType === totals.usageType).reduce((s, g) => s + g.seconds, 0);
        expect(totals.includedSeconds).toBe(Math.min(totals.billableSeconds, granted));
        expect(totals.overageSeconds).toBe(totals.billableSeconds - totals.includedSeconds);
        const model = plan.models[totals.usageType]!;
        expect(totals.amount.toFixed()).toBe(priceTotal(model, totals.overageSeconds).amount.toFixed());
      }
      // a version diffed against itself has no differences
      expect(diffCharges(recomputed.charges, charges).differences).toEqual([]);
    }
  });

  it('300 seeded scenarios: charged live in any arrival order, a recompute with the sequences changes nothing', () => {
    const random = prng(20261126);
    for (let run = 0; run < 300; run++) {
      const { grants, usages } = scenario(random);
      // Arrival order: anything, unrelated to call start; some usages arrive only later (never charged yet).
      const arrived = [...usages].sort(() => random() - 0.5);
      const later = arrived.splice(0, Math.floor(random() * 4));
      const live = chargeAll(openPeriod(grants), arrived, plan);
      expect(live.charges.map((c) => c.sequence)).toEqual(arrived.map((_, i) => i + 1));
      const sequenceOf = new Map(live.charges.map((c) => [c.cdrId, c.sequence]));
      const withSequences = usages.map((u) => (sequenceOf.has(u.cdrId) ? { ...u, sequence: sequenceOf.get(u.cdrId)! } : u));

      // Only what live charged, in any input order: identical charges and state.
      const replayed = recomputePeriod(grants, withSequences.filter((u) => u.sequence !== undefined).sort(() => random() - 0.5), plan);
      expect(replayed.charges).toEqual(live.charges);
      expect(replayed.state).toEqual(live.state);
      expect(diffCharges(live.charges, replayed.charges).differences).toEqual([]);

      // With the late usages: the calls charged before them keep their charges; the late ones are
      // drawn after them, by call start, exactly as if live charged them now in that order.
      const all = recomputePeriod(grants, withSequences, plan);
      const lateLive = chargeAll(live.state, sortUsages(later), plan);
      expect(all.charges).toEqual([...live.charges, ...lateLive.charges]);
      expect(all.state).toEqual(lateLive.state);
    }
  });
});
