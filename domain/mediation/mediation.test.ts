import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { avroOptions } from '../../runtime/avro-decimal.ts';
import { parseInstant, parseReferenceFile, ReferenceTables } from '../reference/index.ts';
import type { RatingRuleRecord, ReferenceData } from '../reference/index.ts';
import {
  chargeRatedUsage,
  periodKeyFor,
  ratePipeline,
  rateResolvedUsage,
  rerate,
  resolveUsage,
} from './index.ts';
import type { AcceptedCdr, ChargePeriodState, PipelineRejection, UsageCharged } from './index.ts';

const SAMPLE = new URL('../reference/fixtures/sample-reference.json', import.meta.url);

function sampleData(): ReferenceData {
  const parsed = parseReferenceFile(readFileSync(SAMPLE, 'utf8'));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
  return parsed.value;
}
/** Fresh tables per test: some tests apply changes. */
const sampleTables = () => ReferenceTables.fromData(sampleData());
const at = (iso: string) => parseInstant(iso)!;

function cdr(id: string, calledNumber: string, usageType: string, start: string, durationSeconds: number): AcceptedCdr {
  const startTime = at(start);
  return {
    eventId: `evt-${id}`,
    source: 'asterisk-test',
    cdrId: id,
    callingNumber: '+12125550000',
    calledNumber,
    usageType,
    startTime,
    endTime: startTime + durationSeconds * 1000,
    durationSeconds,
    attributes: { disposition: 'ANSWERED' },
    origin: { topic: 'cdr.raw', partition: 0, offset: 1, file: null, line: null },
    acceptedAt: startTime + durationSeconds * 1000 + 5000,
  };
}

/** The chain one record at a time, as the three services run it, with an in-memory state store. */
function stepByStep(cdrs: readonly AcceptedCdr[], tables: ReferenceTables) {
  const store = new Map<string, ChargePeriodState>();
  const charged: UsageCharged[] = [];
  const rejected: string[] = [];
  for (const c of cdrs) {
    const resolved = resolveUsage(c, tables);
    if (!resolved.ok) {
      rejected.push(`${c.eventId}:${resolved.rejection.reason}`);
      continue;
    }
    const rated = rateResolvedUsage(resolved.value, tables, 1, resolved.value.resolvedAt);
    if (!rated.ok) {
      rejected.push(`${c.eventId}:${rated.rejection.reason}`);
      continue;
    }
    const key = periodKeyFor(rated.value, tables);
    const state = key.ok ? store.get(key.value.key) : undefined;
    const outcome = chargeRatedUsage(state, rated.value, tables);
    if (!outcome.ok) {
      rejected.push(`${c.eventId}:${outcome.rejection.reason}`);
      continue;
    }
    store.set(outcome.state.key, outcome.state);
    charged.push(outcome.value);
  }
  return { charged, rejected, store };
}

function chargeOne(c: AcceptedCdr, tables: ReferenceTables): UsageCharged {
  const result = ratePipeline([c], tables);
  expect(result.rejections).toEqual([]);
  return result.charged[0]!;
}

const money = (value: Decimal) => value.toFixed(2);
const json = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

describe('one call in each sample brand, rated and charged', () => {
  it('ansr-us: brand rule 30/6 with 10 s grace, plan bucket then add-on, graduated overage in USD', () => {
    // 1000 s: past the 10 s grace, so billed in full: 30 s initial + 970 s in 6 s steps
    // (161.67 -> 162 steps = 972 s) = 1002 s. Buckets: plan us-starter-lca 600 s (priority 10),
    // then add-on 300 s (priority 20): 900 s included, 102 s overage = 1.7 min at 1.20 = 2.04 USD.
    const charged = chargeOne(cdr('us-1', '+18005550100', 'LCA', '2026-03-20T14:00:00Z', 1000), sampleTables());
    expect(charged).toMatchObject({
      eventId: 'evt-us-1',
      brand: 'ansr-us',
      accountId: 'acct-us-1001',
      subscriptionId: 'sub-us-1001',
      assignmentId: 'asg-us-0100-1',
      productId: 'ansr-us-live-answering',
      ratingVersion: 1,
      ruleId: 'ansr-us-lca',
      ruleVersion: 1,
      billableSeconds: 1002,
      // Anchor Jan 15 (New York): the period from Mar 15 00:00 EDT (04:00Z) to Apr 15 00:00 EDT.
      periodStart: at('2026-03-15T04:00:00Z'),
      periodEnd: at('2026-04-15T04:00:00Z'),
      planId: 'ansr-us-starter',
      planVersion: 1,
      includedSeconds: 900,
      overageSeconds: 102,
      draws: [
        { bucketId: 'us-starter-lca', seconds: 600 },
        { bucketId: 'sub-us-1001-addon-lca', seconds: 300 },
      ],
      currency: 'USD',
    });
    expect(money(charged.amount)).toBe('2.04');
    expect(json(charged.tiers)).toEqual([{ tier: 1, units: '1.7', unitPrice: '1.2', amount: '2.04', seconds: 102, flatFee: '0' }]);
  });

  it('ansr-uk: parent default rule 60/6, volume overage in GBP, period across the BST change', () => {
    // 2100 s with the parent's LCA rule: 60 s + 2040 s in 6 s steps (exactly 340) = 2100 s.
    // Bucket uk-std-lca 1800 s, so 300 s overage = 5 min; volume tier 1 (up to 60 min) at
    // 0.95 = 4.75 GBP.
    const charged = chargeOne(cdr('uk-1', '+448005550100', 'LCA', '2026-03-10T09:00:00Z', 2100), sampleTables());
    expect(charged).toMatchObject({
      brand: 'ansr-uk',
      productId: 'ansr-uk-live-answering',
      ruleId: 'ansr-group-lca-default',
      billableSeconds: 2100,
      // Anchor Jan 31 (London): Feb 28 00:00 GMT to Mar 31 00:00 BST (= Mar 30 23:00Z).
      periodStart: at('2026-02-28T00:00:00Z'),
      periodEnd: at('2026-03-30T23:00:00Z'),
      includedSeconds: 1800,
      overageSeconds: 300,
      draws: [{ bucketId: 'uk-std-lca', seconds: 1800 }],
      currency: 'GBP',
    });
    expect(money(charged.amount)).toBe('4.75');
    expect(json(charged.tiers)).toEqual([{ tier: 1, units: '5', unitPrice: '0.95', amount: '4.75', seconds: 300, flatFee: '0' }]);
  });

  it('lca-ca: brand rule 30/30 with 60 s minimum, add-on drawn first, per-unit overage in CAD', () => {
    // 1850 s: 30 s + 1820 s in 30 s steps (60.67 -> 61 = 1830 s) = 1860 s. The add-on
    // (priority 5) is drawn before the plan's bucket (priority 10): 600 + 1200 = 1800 s
    // included, 60 s overage = 1 min at 1.05 = 1.05 CAD.
    const charged = chargeOne(cdr('ca-1', '+18665550100', 'LCA', '2026-03-05T15:00:00Z', 1850), sampleTables());
    expect(charged).toMatchObject({
      brand: 'lca-ca',
      ruleId: 'lca-ca-lca',
      billableSeconds: 1860,
      // Anchor Mar 1 00:00 EST: period 0 runs to Apr 1 00:00 EDT.
      periodStart: at('2026-03-01T05:00:00Z'),
      periodEnd: at('2026-04-01T04:00:00Z'),
      includedSeconds: 1800,
      overageSeconds: 60,
      draws: [
        { bucketId: 'sub-ca-3001-addon-lca', seconds: 600 },
        { bucketId: 'ca-basic-lca', seconds: 1200 },
      ],
      currency: 'CAD',
    });
    expect(money(charged.amount)).toBe('1.05');
  });

  it('lca-ca: a 20 s call is raised to the 60 s minimum and fully included', () => {
    // 20 s -> one 30 s initial block -> raised to the 60 s minimum.
    const charged = chargeOne(cdr('ca-2', '+18665550100', 'LCA', '2026-03-05T15:00:00Z', 20), sampleTables());
    expect(charged).toMatchObject({ billableSeconds: 60, includedSeconds: 60, overageSeconds: 0, tiers: [] });
    expect(charged.amount.isZero()).toBe(true);
  });

  it('ansr-uk CHAT: the brand override deducts 30 s and rounds the rest to the nearest minute', () => {
    // 125 s - 30 s free = 95 s: 60 s initial + 35 s -> nearest minute (35 > 30) = 60 s: 120 s.
    const charged = chargeOne(cdr('uk-chat', '+448005550100', 'CHAT', '2026-03-10T09:00:00Z', 125), sampleTables());
    expect(charged).toMatchObject({ ruleId: 'ansr-uk-chat', billableSeconds: 120, includedSeconds: 120, productId: 'ansr-uk-web-chat' });
  });
});

describe('a call across the reassignment of a number is billed to its owner at the start', () => {
  it.each([
    ['2026-03-20T15:59:59Z', 'acct-us-1001', 'sub-us-1001'],
    ['2026-03-20T16:00:00Z', 'acct-us-1002', 'sub-us-1002'],
    ['2026-03-20T16:00:01Z', 'acct-us-1002', 'sub-us-1002'],
  ])('started %s', (start, accountId, subscriptionId) => {
    const resolved = resolveUsage(cdr('r', '+18005550199', 'LCA', start, 600), sampleTables());
    expect(resolved).toMatchObject({ ok: true, value: { accountId, subscriptionId } });
  });
});

describe('drawing across buckets', () => {
  it('splits the call that empties the plan bucket, then the add-on, into included and overage', () => {
    // Rule 30/6 (grace 10): 125 s -> 30 + 96 = 126 s; 900 s -> 30 + 870 = 900 s; 65 s -> 30 + 36 = 66 s.
    const calls = [
      cdr('b1', '+18005550100', 'LCA', '2026-03-20T14:00:00Z', 125),
      cdr('b2', '+18005550100', 'LCA', '2026-03-20T14:10:00Z', 900),
      cdr('b3', '+18005550100', 'LCA', '2026-03-20T14:30:00Z', 65),
    ];
    const result = ratePipeline(calls, sampleTables());
    expect(result.rejections).toEqual([]);
    const [one, two, three] = result.charged;
    // 126 s from the plan's 600 s: 474 s left.
    expect(one).toMatchObject({ billableSeconds: 126, includedSeconds: 126, overageSeconds: 0, draws: [{ bucketId: 'us-starter-lca', seconds: 126 }] });
    // 900 s: the plan's last 474 s, the add-on's 300 s, 126 s overage = 2.1 min at 1.20 = 2.52.
    expect(two).toMatchObject({
      billableSeconds: 900,
      includedSeconds: 774,
      overageSeconds: 126,
      draws: [
        { bucketId: 'us-starter-lca', seconds: 474 },
        { bucketId: 'sub-us-1001-addon-lca', seconds: 300 },
      ],
    });
    expect(money(two!.amount)).toBe('2.52');
    // Everything is overage now: 66 s = 1.1 min at 1.20 = 1.32.
    expect(three).toMatchObject({ includedSeconds: 0, overageSeconds: 66, draws: [] });
    expect(money(three!.amount)).toBe('1.32');
    const state = [...result.states.values()][0]!;
    expect(state.key).toBe('sub-us-1001#2');
    expect(state.drawdown.buckets.map((b) => b.remaining)).toEqual([0, 0]);
    expect(state.drawdown.overageSeconds).toEqual({ LCA: 192 });
  });
});

describe('every rejection reason', () => {
  const reasonOf = (tables: ReferenceTables, c: AcceptedCdr): PipelineRejection | undefined =>
    ratePipeline([c], tables).rejections[0];

  it.each([
    // A number released on Mar 10 05:00Z, and a number nobody has.
    ['unresolved_number', 'resolve', () => sampleTables(), cdr('x', '+18665550101', 'LCA', '2026-03-12T12:00:00Z', 60)],
    ['unresolved_number', 'resolve', () => sampleTables(), cdr('x', '+19995550000', 'LCA', '2026-03-12T12:00:00Z', 60)],
    // ansr-uk sells no IVR.
    ['no_product', 'resolve', () => sampleTables(), cdr('x', '+448005550100', 'IVR', '2026-03-12T12:00:00Z', 60)],
    [
      'unknown_brand',
      'resolve',
      () => {
        const t = sampleTables();
        t.apply('brand', 'lca-ca', null);
        return t;
      },
      cdr('x', '+18665550100', 'LCA', '2026-03-12T12:00:00Z', 60),
    ],
    [
      'subscription_missing',
      'resolve',
      () => {
        const t = sampleTables();
        t.apply('subscription', 'sub-ca-3001', null);
        return t;
      },
      cdr('x', '+18665550100', 'LCA', '2026-03-12T12:00:00Z', 60),
    ],
    [
      'no_rating_rule',
      'rate',
      () => {
        const t = sampleTables();
        t.apply('ratingRule', 'ansr-group-lca-default:1', null); // ansr-uk has no LCA rule of its own
        return t;
      },
      cdr('x', '+448005550100', 'LCA', '2026-03-12T12:00:00Z', 60),
    ],
    [
      'invalid_rating_rule',
      'rate',
      () => {
        const t = sampleTables();
        const rule = t.snapshot().ratingRules.find((r) => r.ruleId === 'lca-ca-lca')!;
        t.apply('ratingRule', 'lca-ca-lca-twin:1', { ...rule, ruleId: 'lca-ca-lca-twin' });
        return t;
      },
      cdr('x', '+18665550100', 'LCA', '2026-03-12T12:00:00Z', 60),
    ],
    [
      'plan_missing',
      'charge',
      () => {
        const t = sampleTables();
        t.apply('plan', 'lca-ca-basic:1', null);
        return t;
      },
      cdr('x', '+18665550100', 'LCA', '2026-03-12T12:00:00Z', 60),
    ],
    [
      'currency_mismatch',
      'charge',
      () => {
        const t = sampleTables();
        t.apply('plan', 'lca-ca-basic:1', { ...t.plan('lca-ca-basic', 1)!, currency: 'USD' });
        return t;
      },
      cdr('x', '+18665550100', 'LCA', '2026-03-12T12:00:00Z', 60),
    ],
    // ansr-us-pro has neither an IVR bucket nor an IVR price: 30 s of IVR overage.
    ['no_price_model', 'charge', () => sampleTables(), cdr('x', '+18005550101', 'IVR', '2026-03-12T12:00:00Z', 30)],
    [
      'instant_before_anchor',
      'charge',
      () => {
        const t = sampleTables();
        // The number is assigned a day before the subscription's first period starts.
        t.apply('number', '+18665550100', {
          number: '+18665550100',
          assignments: [{ ...t.numberHistory('+18665550100')!.assignments[0]!, effectiveFrom: at('2026-02-28T05:00:00Z') }],
        });
        return t;
      },
      cdr('x', '+18665550100', 'LCA', '2026-02-28T12:00:00Z', 60),
    ],
  ])('%s at %s', (reason, stage, tables, c) => {
    expect(reasonOf(tables(), c)).toMatchObject({ reason, stage, eventId: 'evt-x', cdrId: 'x', source: 'asterisk-test' });
  });

  it('period_state_mismatch: the state of another period is refused and left as it was', () => {
    const tables = sampleTables();
    const first = ratePipeline([cdr('p1', '+18665550100', 'LCA', '2026-03-05T15:00:00Z', 60)], tables);
    const state = [...first.states.values()][0]!;
    const resolved = resolveUsage(cdr('p2', '+18665550100', 'LCA', '2026-04-05T15:00:00Z', 60), tables);
    if (!resolved.ok) throw new Error(resolved.rejection.detail);
    const rated = rateResolvedUsage(resolved.value, tables, 1, 0);
    if (!rated.ok) throw new Error(rated.rejection.detail);
    const outcome = chargeRatedUsage(state, rated.value, tables);
    expect(outcome).toMatchObject({ ok: false, rejection: { reason: 'period_state_mismatch' } });
    expect(outcome.state).toBe(state);
  });
});

describe('ratePipeline', () => {
  const traffic = [
    cdr('t01', '+18005550100', 'LCA', '2026-03-20T14:00:00Z', 125),
    cdr('t02', '+448005550100', 'LCA', '2026-03-10T09:00:00Z', 2100),
    cdr('t03', '+18665550100', 'LCA', '2026-03-05T15:00:00Z', 1850),
    cdr('t04', '+18005550199', 'LCA', '2026-03-20T15:59:59Z', 600),
    cdr('t05', '+18005550199', 'LCA', '2026-03-20T16:00:00Z', 600),
    cdr('t06', '+18005550100', 'LCA', '2026-03-20T14:10:00Z', 900),
    cdr('t07', '+448005550100', 'IVR', '2026-03-10T09:05:00Z', 60),
    cdr('t08', '+448005550101', 'CHAT', '2026-03-05T10:00:00Z', 3000),
    cdr('t09', '+18665550101', 'LCA', '2026-03-12T12:00:00Z', 60),
    cdr('t10', '+18005550101', 'IVR', '2026-03-12T12:00:00Z', 30),
    cdr('t11', '+448005550100', 'LCA', '2026-03-10T10:00:00Z', 3600),
    cdr('t12', '+18005550100', 'LCA', '2026-04-20T14:00:00Z', 65),
    cdr('t13', '+18005550100', 'IVR', '2026-03-21T09:00:00Z', 61),
  ];

  it('gives what the services give one record at a time', () => {
    const tables = sampleTables();
    const steps = stepByStep(traffic, sampleTables());
    const result = ratePipeline(traffic, tables);
    expect(json(result.charged)).toEqual(json(steps.charged));
    expect(result.rejections.map((r) => `${r.eventId}:${r.reason}`)).toEqual(steps.rejected);
    expect(json([...result.states])).toEqual(json([...steps.store]));
    // Counts in = counts out.
    expect(result.charged.length + result.rejections.length).toBe(traffic.length);
    expect(steps.rejected).toEqual(['evt-t07:no_product', 'evt-t09:unresolved_number', 'evt-t10:no_price_model']);
  });

  it('gives the same result in batches, continuing from the states of the previous batch', () => {
    const whole = ratePipeline(traffic, sampleTables());
    const tables = sampleTables();
    const first = ratePipeline(traffic.slice(0, 6), tables);
    const second = ratePipeline(traffic.slice(6), tables, { states: first.states });
    expect(json([...first.charged, ...second.charged])).toEqual(json(whole.charged));
  });

  it('keeps the accepted eventId through every stage', () => {
    const result = ratePipeline(traffic, sampleTables());
    expect(result.charged.map((c) => c.eventId)).toEqual(result.charged.map((c) => `evt-${c.cdrId}`));
    expect(result.resolved.map((r) => r.eventId)).toEqual(
      traffic.filter((c) => !['t07', 't09'].includes(c.cdrId)).map((c) => c.eventId),
    );
  });

  it('prices a what-if on another plan by passing other tables (plan swap)', () => {
    const calls = traffic.filter((c) => c.calledNumber === '+18005550100' && c.usageType === 'LCA' && c.startTime < at('2026-04-01T00:00:00Z'));
    const actual = ratePipeline(calls, sampleTables());
    const swapped = sampleTables();
    swapped.apply('subscription', 'sub-us-1001', { ...swapped.subscription('sub-us-1001')!, planId: 'ansr-us-pro', planVersion: 2, addOnGrants: [] });
    const whatIf = ratePipeline(calls, swapped);
    // Starter: 126 + 900 = 1026 s against 900 s included: 126 s = 2.1 min at 1.20 = 2.52.
    // Pro v2: 6000 s included, nothing to pay.
    const total = (charged: readonly UsageCharged[]) => charged.reduce((sum, c) => sum.plus(c.amount), new Decimal(0));
    expect(money(total(actual.charged))).toBe('2.52');
    expect(money(total(whatIf.charged))).toBe('0.00');
    expect(whatIf.charged[0]).toMatchObject({ planId: 'ansr-us-pro', planVersion: 2 });
  });
});

describe('rerate', () => {
  const calls = [
    cdr('b1', '+18005550100', 'LCA', '2026-03-20T14:00:00Z', 125),
    cdr('b2', '+18005550100', 'LCA', '2026-03-20T14:10:00Z', 900),
    cdr('b3', '+18005550100', 'LCA', '2026-03-20T14:30:00Z', 65),
  ];

  function perMinuteFromV2(tables: ReferenceTables): void {
    const v1 = tables.snapshot().ratingRules.find((r) => r.ruleId === 'ansr-us-lca')!;
    const v2: RatingRuleRecord = {
      ...v1,
      version: 2,
      initialIncrement: { seconds: 60, rounding: 'up', tie: null },
      mainIncrement: { seconds: 60, rounding: 'up', tie: null },
    };
    expect(tables.apply('ratingRule', 'ansr-us-lca:2', v2).ok).toBe(true);
  }

  it('after a rule change, gives the new charges and the hand-computed per-CDR differences', () => {
    const tables = sampleTables();
    const live = ratePipeline(calls, tables);
    perMinuteFromV2(tables);
    const result = rerate(live.resolved, live.charged, tables, 2, { at: at('2026-04-01T00:00:00Z') });
    expect(result.rejections).toEqual([]);
    // Per minute: 125 s -> 180 s; 900 s -> 900 s; 65 s -> 120 s. From full buckets (600 + 300):
    // b1 draws 180 (420 left); b2 draws 420 + 300, 180 s overage = 3 min at 1.20 = 3.60;
    // b3 is 120 s overage = 2 min = 2.40.
    expect(result.charged.map((c) => [c.cdrId, c.ratingVersion, c.ruleVersion, c.billableSeconds, c.includedSeconds, c.overageSeconds, money(c.amount)])).toEqual([
      ['b1', 2, 2, 180, 180, 0, '0.00'],
      ['b2', 2, 2, 900, 720, 180, '3.60'],
      ['b3', 2, 2, 120, 0, 120, '2.40'],
    ]);
    // Before: b1 126 included; b2 774 included, 126 overage, 2.52; b3 66 overage, 1.32.
    expect(result.differences.map((d) => [d.eventId, d.kind, d.includedSeconds, d.overageSeconds, money(d.amount)])).toEqual([
      ['evt-b1', 'changed', 54, 0, '0.00'],
      ['evt-b2', 'changed', -54, 54, '1.08'],
      ['evt-b3', 'changed', 0, 54, '1.08'],
    ]);
    // 3.84 billed, 6.00 now: a 2.16 USD adjustment for the next invoice.
    expect(result.adjustments).toHaveLength(1);
    expect(result.adjustments[0]).toMatchObject({
      subscriptionId: 'sub-us-1001',
      periodStart: at('2026-03-15T04:00:00Z'),
      currency: 'USD',
      includedSeconds: 0,
      overageSeconds: 108,
    });
    expect(money(result.adjustments[0]!.amount)).toBe('2.16');
    expect(result.charged[0]).toMatchObject({ eventId: 'evt-b1', ratedAt: at('2026-04-01T00:00:00Z'), chargedAt: at('2026-04-01T00:00:00Z') });
  });

  it('re-rating twice gives no further difference', () => {
    const tables = sampleTables();
    const live = ratePipeline(calls, tables);
    perMinuteFromV2(tables);
    const second = rerate(live.resolved, live.charged, tables, 2);
    const third = rerate(live.resolved, second.charged, tables, 3);
    expect(third.differences).toEqual([]);
    expect(third.adjustments).toEqual([]);
    expect(json(third.charged.map((c) => ({ ...c, ratingVersion: 2 })))).toEqual(json(second.charged));
  });

  it('with unchanged rules and calls in start order, matches live charging exactly', () => {
    const tables = sampleTables();
    const live = ratePipeline(calls, tables);
    expect(rerate(live.resolved, live.charged, tables, 2).differences).toEqual([]);
  });

  it('calls that arrived out of order: drawn in the order charged, so a re-rate with nothing changed changes nothing', () => {
    const tables = sampleTables();
    // Arrival b3, b2, b1 (billable 66, 900, 126 s; buckets 600 + 300 s): b3 66 s included;
    // b2 834 included, 66 s overage = 1.32; b1 126 s overage = 2.52. Total 3.84, as in start order.
    const live = ratePipeline([calls[2]!, calls[1]!, calls[0]!], tables);
    expect(live.charged.map((c) => [c.cdrId, c.chargeSequence, c.includedSeconds, c.overageSeconds, money(c.amount)])).toEqual([
      ['b3', 1, 66, 0, '0.00'],
      ['b2', 2, 834, 66, '1.32'],
      ['b1', 3, 0, 126, '2.52'],
    ]);
    const unchanged = rerate(live.resolved, live.charged, tables, 2);
    expect(unchanged.differences).toEqual([]);
    expect(unchanged.adjustments).toEqual([]);
    expect(json(unchanged.charged.map((c) => ({ ...c, ratingVersion: 1 })))).toEqual(json(live.charged));

    // A late call (started at 13:00, before all of them; 60 s billable) draws from what is left,
    // nothing: 60 s overage = 1.20. The calls charged before it keep their charges, and a re-rate
    // with nothing changed still changes nothing.
    const late = ratePipeline([cdr('b0', '+18005550100', 'LCA', '2026-03-20T13:00:00Z', 60)], tables, { states: live.states });
    expect(late.charged.map((c) => [c.cdrId, c.chargeSequence, c.includedSeconds, c.overageSeconds, money(c.amount)])).toEqual([['b0', 4, 0, 60, '1.20']]);
    const again = rerate([...live.resolved, ...late.resolved], [...live.charged, ...late.charged], tables, 2);
    expect(again.differences).toEqual([]);

    // After a rule change (per minute: 180, 900, 120 s), still in the order charged: b3 120
    // included; b2 780 included, 120 s overage = 2.40; b1 180 s overage = 3.60. Against the live
    // charges: b1 +54 s overage +1.08; b2 −54 included, +54 overage, +1.08; b3 +54 included.
    perMinuteFromV2(tables);
    const changed = rerate(live.resolved, live.charged, tables, 2);
    expect(changed.charged.map((c) => [c.cdrId, c.chargeSequence, c.includedSeconds, c.overageSeconds, money(c.amount)])).toEqual([
      ['b3', 1, 120, 0, '0.00'],
      ['b2', 2, 780, 120, '2.40'],
      ['b1', 3, 0, 180, '3.60'],
    ]);
    expect(changed.differences.map((d) => [d.eventId, d.includedSeconds, d.overageSeconds, money(d.amount)])).toEqual([
      ['evt-b1', 0, 54, '1.08'],
      ['evt-b2', -54, 54, '1.08'],
      ['evt-b3', 54, 0, '0.00'],
    ]);
    expect(rerate(live.resolved, changed.charged, tables, 3).differences).toEqual([]);
  });

  it('re-rates a period on a swapped plan, and shows CDRs only in one version as added or removed', () => {
    const tables = sampleTables();
    const live = ratePipeline(calls, tables);
    tables.apply('subscription', 'sub-us-1001', { ...tables.subscription('sub-us-1001')!, planId: 'ansr-us-pro', planVersion: 2, addOnGrants: [] });
    // b3 left out of the stored usage: it shows as removed (its 1.32 given back).
    const result = rerate(live.resolved.slice(0, 2), live.charged, tables, 2);
    expect(result.charged.every((c) => c.planId === 'ansr-us-pro' && c.overageSeconds === 0)).toBe(true);
    expect(result.differences.map((d) => [d.eventId, d.kind, money(d.amount)])).toEqual([
      ['evt-b2', 'changed', '-2.52'],
      ['evt-b3', 'removed', '-1.32'],
    ]);
    expect(money(result.adjustments[0]!.amount)).toBe('-3.84');
  });
});

describe('the records fit their Avro schemas', () => {
  const type = (name: string) =>
    avro.Type.forSchema(JSON.parse(readFileSync(new URL(`../../schemas/${name}.avsc`, import.meta.url), 'utf8')), { ...avroOptions });

  it('usage.resolved, usage.rated and usage.charged round-trip', () => {
    const tables = sampleTables();
    const c = cdr('avro', '+18005550100', 'LCA', '2026-03-20T14:00:00Z', 1000);
    const { accepted, resolved, rated, charged } = (() => {
      const r = resolveUsage(c, tables);
      if (!r.ok) throw new Error('resolve');
      const q = rateResolvedUsage(r.value, tables, 1, r.value.resolvedAt);
      if (!q.ok) throw new Error('rate');
      const x = chargeRatedUsage(undefined, q.value, tables);
      if (!x.ok) throw new Error('charge');
      return { accepted: c, resolved: r.value, rated: q.value, charged: x.value };
    })();
    for (const [name, record] of [
      ['cdr.accepted', accepted],
      ['usage.resolved', resolved],
      ['usage.rated', rated],
      ['usage.charged', charged],
    ] as const) {
      const t = type(name);
      const decoded = t.fromBuffer(t.toBuffer(record));
      expect(json(decoded)).toEqual(json(record));
    }
  });

  it('a plan decoded from ref.plans applies to the tables and prices the same', () => {
    const t = type('ref.plans');
    const decoded = t.fromBuffer(t.toBuffer(sampleTables().plan('ansr-us-starter', 1)));
    const tables = sampleTables();
    expect(tables.apply('plan', 'ansr-us-starter:1', decoded).ok).toBe(true);
    const charged = chargeOne(cdr('us-1', '+18005550100', 'LCA', '2026-03-20T14:00:00Z', 1000), tables);
    expect(money(charged.amount)).toBe('2.04');
  });
});

describe('period keys of calls that straddle an anniversary', () => {
  it('are those of each call alone, in any order (the last few periods of a subscription are remembered)', () => {
    const tables = sampleTables();
    const subscription = sampleData().subscriptions[0]!;
    const anchor = new Date(subscription.anchor);
    // Instants around several anniversaries, visited back and forth.
    const instants: number[] = [];
    for (let month = 1; month <= 6; month++) {
      const anniversary = Date.UTC(anchor.getUTCFullYear(), anchor.getUTCMonth() + month, Math.min(anchor.getUTCDate(), 28));
      for (const offsetHours of [-30, -1, 0, 1, 30]) instants.push(anniversary + offsetHours * 3_600_000);
    }
    const order = [...instants, ...[...instants].reverse(), ...instants.filter((_, i) => i % 3 === 0)];
    const usage = (startTime: number) => ({ subscriptionId: subscription.subscriptionId, brand: subscription.brand, startTime });
    for (const startTime of order) {
      const fresh = periodKeyFor(usage(startTime), sampleTables());
      const remembered = periodKeyFor(usage(startTime), tables);
      expect(remembered).toEqual(fresh);
      if (remembered.ok) expect(remembered.value.periodStart <= startTime && startTime < remembered.value.periodEnd).toBe(true);
    }
  });
});
