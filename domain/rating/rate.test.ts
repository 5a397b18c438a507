import { describe, expect, it } from 'vitest';
import { indexRules, rateDuration, rateUsage, selectRule } from './rate.ts';
import type { RatingRule, Ratio, RuleQuery } from './types.ts';
import { UNIT_SECONDS } from './types.ts';

const UP = { mode: 'up' } as const;
const DOWN = { mode: 'down' } as const;

function rule(overrides: Partial<RatingRule> = {}): RatingRule {
  return {
    ruleId: 'test',
    version: 1,
    companyId: 'parent',
    usageType: 'lca',
    effectiveFrom: '2026-01-01T00:00:00Z',
    freeSeconds: 0,
    freeMode: 'grace',
    minimumSeconds: 0,
    initialIncrement: { seconds: 1, rounding: UP },
    mainIncrement: { seconds: 1, rounding: UP },
    unit: 'second',
    ...overrides,
  };
}

function billable(durationSeconds: number, r: RatingRule) {
  const rated = rateDuration(durationSeconds, r);
  if (!rated.ok) throw new Error(`unexpected ${rated.error.code}: ${rated.error.message}`);
  return rated.value;
}

// [duration, billable seconds, billable units as "n/d" in lowest terms, free seconds applied]
type Row = [number, number, string, number];

const units = (r: Ratio) => `${r.numerator}/${r.denominator}`;

function table(name: string, r: RatingRule, rows: Row[]) {
  describe(name, () => {
    it.each(rows)('%i s -> %i s billable (%s), %i s free', (duration, seconds, unitText, free) => {
      const rated = billable(duration, r);
      expect(rated.billableSeconds).toBe(seconds);
      expect(units(rated.billableUnits)).toBe(unitText);
      expect(rated.freeSecondsApplied).toBe(free);
    });
  });
}

// (a) Per second, no free time: billable = duration.
const perSecond = rule({ ruleId: 'per-second' });
table('(a) per second, no free time', perSecond, [
  [0, 0, '0/1', 0],
  [1, 1, '1/1', 0],
  [29, 29, '29/1', 0],
  [30, 30, '30/1', 0],
  [31, 31, '31/1', 0],
  [59, 59, '59/1', 0],
  [60, 60, '60/1', 0],
  [61, 61, '61/1', 0],
  [89, 89, '89/1', 0],
  [90, 90, '90/1', 0],
  [91, 91, '91/1', 0],
  [3599, 3599, '3599/1', 0],
  [3600, 3600, '3600/1', 0],
]);

// (b) First 30 s free (grace), 60 s minimum, then per 30 s rounded up; priced in minutes.
// <= 30 s: free. Otherwise the whole call is chargeable: the first 60 s are one block,
// the rest is ceil(rest / 30) * 30.
const graceSixtyThirtyUp = rule({
  ruleId: 'grace-60-30-up',
  freeSeconds: 30,
  freeMode: 'grace',
  minimumSeconds: 60,
  initialIncrement: { seconds: 60, rounding: UP },
  mainIncrement: { seconds: 30, rounding: UP },
  unit: 'minute',
});
table('(b) 30 s free (grace), 60 s minimum, then per 30 s up', graceSixtyThirtyUp, [
  [0, 0, '0/1', 0], //       free
  [1, 0, '0/1', 1], //       free
  [29, 0, '0/1', 29], //     free
  [30, 0, '0/1', 30], //     30 <= 30: free
  [31, 60, '1/1', 0], //     31 < 60: the initial block, rounded up, 60
  [59, 60, '1/1', 0], //     59 < 60: 60
  [60, 60, '1/1', 0], //     exactly the initial block
  [61, 90, '3/2', 0], //     60 + ceil(1/30)=1 block = 90
  [89, 90, '3/2', 0], //     60 + ceil(29/30)=1 = 90
  [90, 90, '3/2', 0], //     60 + 30/30=1 = 90
  [91, 120, '2/1', 0], //    60 + ceil(31/30)=2 = 120
  [3599, 3600, '60/1', 0], // 60 + ceil(3539/30): 3539 = 117*30 + 29 -> 118 -> 3540; 3600
  [3600, 3600, '60/1', 0], // 60 + 3540/30 = 118 exactly -> 3540; 3600
]);

// (c) 30 s free (grace), 30..60 s billed as 60, then per 30 s to the NEAREST 30 s, an exact
// half (15 s) rounding up. Main part: rest = q*30 + r; r*2 > 30 -> q+1, r*2 < 30 -> q.
const nearestTieUp = rule({
  ruleId: 'grace-60-30-nearest',
  freeSeconds: 30,
  freeMode: 'grace',
  initialIncrement: { seconds: 60, rounding: UP },
  mainIncrement: { seconds: 30, rounding: { mode: 'nearest', tie: 'up' } },
});
table('(c) 30 s free, 30-60 s as 60, then nearest 30 s (tie up)', nearestTieUp, [
  [0, 0, '0/1', 0],
  [1, 0, '0/1', 1],
  [29, 0, '0/1', 29],
  [30, 0, '0/1', 30],
  [31, 60, '60/1', 0], //     initial block rounded up
  [59, 60, '60/1', 0],
  [60, 60, '60/1', 0],
  [61, 60, '60/1', 0], //     rest 1: 2 < 30, round down to 0 blocks
  [89, 90, '90/1', 0], //     rest 29: 58 > 30, 1 block
  [90, 90, '90/1', 0], //     rest 30: exactly 1 block
  [91, 90, '90/1', 0], //     rest 31 = 1*30 + 1: 1 block
  [3599, 3600, '3600/1', 0], // rest 3539 = 117*30 + 29: 58 > 30 -> 118 blocks = 3540; 3600
  [3600, 3600, '3600/1', 0], // rest 3540 = 118 blocks exactly
  [75, 90, '90/1', 0], //     rest 15: the tie, rounded up to 1 block
  [105, 120, '120/1', 0], //  rest 45 = 1*30 + 15: tie, up to 2 blocks
]);

describe('(c) tie rules on an exact half of a 30 s block', () => {
  const withTie = (tie: 'up' | 'down' | 'even') =>
    rule({ ...nearestTieUp, mainIncrement: { seconds: 30, rounding: { mode: 'nearest', tie } } });
  // 75 s: rest 15 lies between 0 and 1 block; 105 s: rest 45 between 1 and 2 blocks.
  // even picks the even block count: 0 for 75 s, 2 for 105 s.
  it.each([
    ['up', 75, 90],
    ['down', 75, 60],
    ['even', 75, 60],
    ['up', 105, 120],
    ['down', 105, 90],
    ['even', 105, 120],
    ['even', 74, 60], // rest 14: below the half, tie rule irrelevant
    ['even', 76, 90], // rest 16: above the half
  ] as const)('tie %s: %i s -> %i s', (tie, duration, expected) => {
    expect(billable(duration, withTie(tie)).billableSeconds).toBe(expected);
  });
});

// (d) Per minute, rounded up (60/60): ceil(duration / 60) minutes.
const perMinuteUp = rule({
  ruleId: 'per-minute-up',
  initialIncrement: { seconds: 60, rounding: UP },
  mainIncrement: { seconds: 60, rounding: UP },
  unit: 'minute',
});
table('(d) per minute rounded up (60/60)', perMinuteUp, [
  [0, 0, '0/1', 0],
  [1, 60, '1/1', 0],
  [29, 60, '1/1', 0],
  [30, 60, '1/1', 0],
  [31, 60, '1/1', 0],
  [59, 60, '1/1', 0],
  [60, 60, '1/1', 0],
  [61, 120, '2/1', 0], //     60 + ceil(1/60)=1 minute
  [89, 120, '2/1', 0],
  [90, 120, '2/1', 0],
  [91, 120, '2/1', 0],
  [3599, 3600, '60/1', 0], // 60 + ceil(3539/60): 3539 = 58*60 + 59 -> 59 min; 60 min in all
  [3600, 3600, '60/1', 0], // 60 + 3540/60 = 59 exactly
]);

// (e) 30/6, the common US style: a 30 s first block, then per 6 s rounded up; priced in
// minutes, so the quantity comes out in tenths of a minute (6 s = 1/10 min).
const thirtySix = rule({
  ruleId: 'us-30-6',
  initialIncrement: { seconds: 30, rounding: UP },
  mainIncrement: { seconds: 6, rounding: UP },
  unit: 'minute',
});
table('(e) 30 s minimum then per 6 s (30/6)', thirtySix, [
  [0, 0, '0/1', 0],
  [1, 30, '1/2', 0], //       initial block rounded up
  [29, 30, '1/2', 0],
  [30, 30, '1/2', 0],
  [31, 36, '3/5', 0], //      30 + ceil(1/6)=1 -> 36 s = 36/60 = 3/5 min
  [59, 60, '1/1', 0], //      30 + ceil(29/6): 29 = 4*6 + 5 -> 5 blocks = 30; 60
  [60, 60, '1/1', 0], //      30 + 30/6 = 5 exactly
  [61, 66, '11/10', 0], //    30 + ceil(31/6): 31 = 5*6 + 1 -> 6 blocks = 36; 66 = 11/10 min
  [89, 90, '3/2', 0], //      30 + ceil(59/6): 59 = 9*6 + 5 -> 10 = 60; 90
  [90, 90, '3/2', 0], //      30 + 60/6 = 10 exactly
  [91, 96, '8/5', 0], //      30 + ceil(61/6): 61 = 10*6 + 1 -> 11 = 66; 96 = 8/5 min
  [3599, 3600, '60/1', 0], // 30 + ceil(3569/6): 3569 = 594*6 + 5 -> 595 = 3570; 3600
  [3600, 3600, '60/1', 0], // 30 + 3570/6 = 595 exactly
]);

// (f) Deduct mode: the first 30 s of every call are removed; the rest is billed with a 60 s
// first block and then per 30 s rounded up (the increments of (b), for contrast).
const deductSixtyThirty = rule({
  ruleId: 'deduct-30-60-30',
  freeSeconds: 30,
  freeMode: 'deduct',
  initialIncrement: { seconds: 60, rounding: UP },
  mainIncrement: { seconds: 30, rounding: UP },
});
table('(f) 30 s deducted, then 60 s block and per 30 s up', deductSixtyThirty, [
  [0, 0, '0/1', 0],
  [1, 0, '0/1', 1], //         all free
  [29, 0, '0/1', 29],
  [30, 0, '0/1', 30],
  [31, 60, '60/1', 30], //      chargeable 1: initial block up to 60
  [59, 60, '60/1', 30], //      chargeable 29
  [60, 60, '60/1', 30], //      chargeable 30
  [61, 60, '60/1', 30], //      chargeable 31 < 60 (grace mode gives 90 here)
  [89, 60, '60/1', 30], //      chargeable 59
  [90, 60, '60/1', 30], //      chargeable 60: exactly the initial block
  [91, 90, '90/1', 30], //      chargeable 61: 60 + ceil(1/30)=1 -> 90
  [3599, 3570, '3570/1', 30], // chargeable 3569: 60 + ceil(3509/30): 3509 = 116*30 + 29 -> 117 = 3510
  [3600, 3570, '3570/1', 30], // chargeable 3570: 60 + 3510/30 = 117 exactly
]);

// (f') Deduct mode per second: billable = max(0, duration - 30).
table(
  "(f') 30 s deducted, per second",
  rule({ ruleId: 'deduct-per-second', freeSeconds: 30, freeMode: 'deduct' }),
  [
    [0, 0, '0/1', 0],
    [1, 0, '0/1', 1],
    [29, 0, '0/1', 29],
    [30, 0, '0/1', 30],
    [31, 1, '1/1', 30],
    [59, 29, '29/1', 30],
    [60, 30, '30/1', 30],
    [61, 31, '31/1', 30],
    [89, 59, '59/1', 30],
    [90, 60, '60/1', 30],
    [91, 61, '61/1', 30],
    [3599, 3569, '3569/1', 30],
    [3600, 3570, '3570/1', 30],
  ],
);

describe('minimum', () => {
  const perSecondMinimum60 = rule({ minimumSeconds: 60 });
  it('raises any chargeable call to the minimum and says so', () => {
    expect(billable(1, perSecondMinimum60)).toMatchObject({ billableSeconds: 60, minimumApplied: true });
    expect(billable(59, perSecondMinimum60)).toMatchObject({ billableSeconds: 60, minimumApplied: true });
    expect(billable(60, perSecondMinimum60)).toMatchObject({ billableSeconds: 60, minimumApplied: false });
    expect(billable(61, perSecondMinimum60)).toMatchObject({ billableSeconds: 61, minimumApplied: false });
  });

  it('does not apply to a call with no chargeable time', () => {
    expect(billable(0, perSecondMinimum60)).toMatchObject({ billableSeconds: 0, minimumApplied: false });
    const graceMinimum = rule({ freeSeconds: 30, minimumSeconds: 60 });
    expect(billable(30, graceMinimum)).toMatchObject({ billableSeconds: 0, minimumApplied: false });
  });

  it('rescues a call that rounding down would bill at 0', () => {
    // Per minute rounded down: 59 s rounds to 0 blocks; 119 s = 60 + floor(59/60)=0 -> 60.
    const down = rule({
      initialIncrement: { seconds: 60, rounding: DOWN },
      mainIncrement: { seconds: 60, rounding: DOWN },
    });
    expect(billable(59, down).billableSeconds).toBe(0);
    expect(billable(119, down).billableSeconds).toBe(60);
    expect(billable(121, down).billableSeconds).toBe(120);
    expect(billable(59, { ...down, minimumSeconds: 60 })).toMatchObject({
      billableSeconds: 60,
      minimumApplied: true,
    });
  });
});

describe('initial increment', () => {
  it('rounds a partial initial block by its own rounding', () => {
    // Initial 60 s to the nearest, tie even: 29 -> 0 blocks, 30 (tie, 0 is even) -> 0, 31 -> 60.
    const r = rule({
      initialIncrement: { seconds: 60, rounding: { mode: 'nearest', tie: 'even' } },
      mainIncrement: { seconds: 1, rounding: UP },
    });
    expect(billable(29, r).billableSeconds).toBe(0);
    expect(billable(30, r).billableSeconds).toBe(0);
    expect(billable(31, r).billableSeconds).toBe(60);
    expect(billable(61, r)).toMatchObject({
      initialBilledSeconds: 60,
      mainBilledSeconds: 1,
      billableSeconds: 61,
    });
  });
});

describe('rateDuration errors', () => {
  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])(
    'rejects duration %s with invalid_duration',
    (duration) => {
      const rated = rateDuration(duration, perSecond);
      expect(rated.ok).toBe(false);
      if (!rated.ok) expect(rated.error.code).toBe('invalid_duration');
    },
  );

  it('refuses a rule whose increment is 0 instead of dividing by it', () => {
    const broken = rule({ mainIncrement: { seconds: 0, rounding: UP } });
    const rated = rateDuration(61, broken);
    expect(rated.ok).toBe(false);
    if (!rated.ok) {
      expect(rated.error.code).toBe('invalid_rating_rule');
      expect(rated.error.issues?.map((i) => i.field)).toEqual(['mainIncrement.seconds']);
    }
  });

  it('refuses a rule with an unknown rounding or free mode instead of guessing', () => {
    const broken = {
      ...perSecond,
      freeMode: 'maybe',
      mainIncrement: { seconds: 30, rounding: { mode: 'nearest' } },
    } as unknown as RatingRule;
    const rated = rateDuration(61, broken);
    expect(!rated.ok && rated.error.issues?.map((i) => i.field)).toEqual([
      'freeMode',
      'mainIncrement.rounding',
    ]);
  });
});

describe('properties over 0..7200 s for every style', () => {
  const styles = [
    perSecond,
    graceSixtyThirtyUp,
    nearestTieUp,
    perMinuteUp,
    thirtySix,
    deductSixtyThirty,
    rule({
      ...nearestTieUp,
      ruleId: 'grace-60-30-nearest-even',
      mainIncrement: { seconds: 30, rounding: { mode: 'nearest', tie: 'even' } },
    }),
  ];
  it.each(styles.map((s) => [s.ruleId, s] as const))(
    '%s: billable never falls as a call gets longer, and units are exact',
    (_, r) => {
      let previous = 0;
      for (let d = 0; d <= 7200; d++) {
        const rated = billable(d, r);
        expect(rated.billableSeconds).toBeGreaterThanOrEqual(previous);
        expect(Number.isSafeInteger(rated.billableSeconds)).toBe(true);
        expect(rated.freeSecondsApplied + rated.chargeableSeconds).toBe(d);
        const { numerator, denominator } = rated.billableUnits;
        expect(numerator * UNIT_SECONDS[r.unit]).toBe(rated.billableSeconds * denominator);
        previous = rated.billableSeconds;
      }
    },
  );

  it('30/6 is the same as a 30 s minimum with 6/6 increments', () => {
    const asMinimum = rule({
      minimumSeconds: 30,
      initialIncrement: { seconds: 6, rounding: UP },
      mainIncrement: { seconds: 6, rounding: UP },
      unit: 'minute',
    });
    for (let d = 0; d <= 7200; d++) {
      expect(billable(d, asMinimum).billableSeconds).toBe(billable(d, thirtySix).billableSeconds);
    }
  });
});

// Rule selection. Parent 'rl' holds defaults; brand 'acme' overrides LCA from March.
const parentLca = rule({ ruleId: 'rl-lca', companyId: 'rl', usageType: 'lca' });
const parentChat = rule({ ruleId: 'rl-chat', companyId: 'rl', usageType: 'chat' });
const acmeLcaV1 = rule({
  ruleId: 'acme-lca',
  version: 1,
  companyId: 'acme',
  usageType: 'lca',
  effectiveFrom: '2026-03-01T00:00:00Z',
  effectiveTo: '2026-06-01T00:00:00Z',
});
const acmeLcaV2 = rule({
  ...acmeLcaV1,
  version: 2,
  effectiveFrom: '2026-04-01T00:00:00Z',
  effectiveTo: undefined,
});
const rules: RatingRule[] = [parentLca, parentChat, acmeLcaV1, acmeLcaV2];

function selected(query: Partial<RuleQuery>, from: RatingRule[] = rules) {
  const result = selectRule(from, {
    brand: 'acme',
    parentCompany: 'rl',
    usageType: 'lca',
    at: '2026-03-15T12:00:00Z',
    ...query,
  });
  if (!result.ok) return result.error.code;
  return `${result.value.rule.ruleId} v${result.value.rule.version} (${result.value.source})`;
}

describe('selectRule', () => {
  it("prefers the brand's own rule and falls back to the parent's default", () => {
    expect(selected({})).toBe('acme-lca v1 (brand)');
    expect(selected({ brand: 'zeta' })).toBe('rl-lca v1 (parent)');
    // acme has no chat rule of its own.
    expect(selected({ usageType: 'chat' })).toBe('rl-chat v1 (parent)');
  });

  it('starts a rule at effectiveFrom inclusive', () => {
    expect(selected({ at: '2026-02-28T23:59:59Z' })).toBe('rl-lca v1 (parent)');
    expect(selected({ at: '2026-03-01T00:00:00Z' })).toBe('acme-lca v1 (brand)');
    expect(selected({ at: '2026-02-28T23:59:59.999Z' })).toBe('rl-lca v1 (parent)');
  });

  it('compares instants, whatever their offset or form', () => {
    expect(selected({ at: '2026-03-01T00:59:59+01:00' })).toBe('rl-lca v1 (parent)');
    expect(selected({ at: '2026-03-01T01:00:00+01:00' })).toBe('acme-lca v1 (brand)');
    expect(selected({ at: new Date('2026-03-01T00:00:00Z') })).toBe('acme-lca v1 (brand)');
    expect(selected({ at: Date.parse('2026-03-01T00:00:00Z') - 1 })).toBe('rl-lca v1 (parent)');
  });

  it('ends a rule at effectiveTo exclusive', () => {
    const onlyV1 = [parentLca, acmeLcaV1];
    expect(selected({ at: '2026-05-31T23:59:59Z' }, onlyV1)).toBe('acme-lca v1 (brand)');
    expect(selected({ at: '2026-06-01T00:00:00Z' }, onlyV1)).toBe('rl-lca v1 (parent)');
  });

  it('takes the highest version among those in force', () => {
    expect(selected({ at: '2026-03-31T23:59:59Z' })).toBe('acme-lca v1 (brand)');
    expect(selected({ at: '2026-04-01T00:00:00Z' })).toBe('acme-lca v2 (brand)');
    // v1 ends in June, v2 is open-ended: after June only v2 is in force.
    expect(selected({ at: '2027-01-01T00:00:00Z' })).toBe('acme-lca v2 (brand)');
    // A correction issued as v3 over the whole of v1's window wins there too.
    const v3 = { ...acmeLcaV1, version: 3 };
    expect(selected({ at: '2026-03-15T00:00:00Z' }, [...rules, v3])).toBe('acme-lca v3 (brand)');
    expect(selected({ at: '2026-07-01T00:00:00Z' }, [...rules, v3])).toBe('acme-lca v2 (brand)');
  });

  it('reports no_rating_rule when neither brand nor parent has one in force', () => {
    expect(selected({ usageType: 'sms' })).toBe('no_rating_rule');
    expect(selected({ at: '2025-12-31T23:59:59Z' })).toBe('no_rating_rule');
    expect(selected({ brand: 'zeta', parentCompany: 'other' })).toBe('no_rating_rule');
  });

  it('reports invalid_instant for a start that is not an instant', () => {
    expect(selected({ at: 'yesterday' })).toBe('invalid_instant');
    expect(selected({ at: '2026-03-15T12:00:00' })).toBe('invalid_instant'); // no offset
    expect(selected({ at: new Date(Number.NaN) })).toBe('invalid_instant');
  });

  it('refuses an invalid rule set rather than skipping the bad rule', () => {
    const broken = { ...acmeLcaV1, minimumSeconds: -5 };
    expect(selected({}, [parentLca, broken])).toBe('invalid_rating_rule');
  });

  it('gives the same answers from a prebuilt index', () => {
    const index = indexRules(rules);
    if (!index.ok) throw new Error('index should build');
    for (const at of ['2026-02-01T00:00:00Z', '2026-03-01T00:00:00Z', '2026-04-01T00:00:00Z']) {
      const fromIndex = selectRule(index.value, { brand: 'acme', parentCompany: 'rl', usageType: 'lca', at });
      const fromArray = selectRule(rules, { brand: 'acme', parentCompany: 'rl', usageType: 'lca', at });
      expect(fromIndex).toEqual(fromArray);
    }
  });
});

describe('rateUsage', () => {
  const brandRule = rule({
    ...graceSixtyThirtyUp,
    ruleId: 'acme-lca',
    version: 4,
    companyId: 'acme',
    usageType: 'lca',
  });
  const set = [parentLca, brandRule];
  const usage = {
    brand: 'acme',
    parentCompany: 'rl',
    usageType: 'lca',
    startedAt: '2026-05-01T09:00:00Z',
    durationSeconds: 91,
  };

  it('rates by the rule in force and names the rule and version applied', () => {
    const rated = rateUsage(usage, set);
    expect(rated).toEqual({
      ok: true,
      value: {
        durationSeconds: 91,
        freeSecondsApplied: 0,
        chargeableSeconds: 91,
        initialBilledSeconds: 60,
        mainBilledSeconds: 60, // ceil(31/30) = 2 blocks
        minimumApplied: false,
        billableSeconds: 120,
        unit: 'minute',
        billableUnits: { numerator: 2, denominator: 1 },
        ruleId: 'acme-lca',
        ruleVersion: 4,
        ruleCompanyId: 'acme',
        ruleSource: 'brand',
      },
    });
  });

  it('falls back to the parent default for another brand', () => {
    const rated = rateUsage({ ...usage, brand: 'zeta' }, set);
    expect(rated.ok && rated.value).toMatchObject({
      billableSeconds: 91,
      ruleId: 'rl-lca',
      ruleVersion: 1,
      ruleSource: 'parent',
    });
  });

  it('passes on typed errors', () => {
    const noRule = rateUsage({ ...usage, usageType: 'ivr' }, set);
    expect(!noRule.ok && noRule.error).toMatchObject({ code: 'no_rating_rule', retryable: false });
    const negative = rateUsage({ ...usage, durationSeconds: -3 }, set);
    expect(!negative.ok && negative.error.code).toBe('invalid_duration');
  });
});
