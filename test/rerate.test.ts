import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import knex from 'knex';
import type { ReferenceData } from '../domain/reference/index.ts';
import { numberFor, smallBrandReference } from './support/small-brand.ts';
import { publishReference } from '../contracts/reference.ts';
import type { CdrRawRecord } from '../contracts/records.ts';
import { BatchProducer, partitionOfKey, standardHeaders } from '../runtime/kafka.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import { silentLogger } from '../runtime/log.ts';
import { systemClock } from '../runtime/time.ts';
import type { RunningService } from '../runtime/service.ts';
import { startPipeline } from '../services/all.ts';
import { rerateScope } from '../services/drawdown/rerate.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, topics, valueSubject } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { collectOutcomes, type Outcomes } from './support/collect.ts';

const suffix = uniqueSuffix();
const brand = `rr-${suffix}`;
const subscription = `sub-${brand}`;
const number = numberFor(suffix);
const config = testConfig('rerate');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const deps = { kafka, serde, logger: silentLogger, clock: systemClock };
let pipeline: RunningService;
let outcomes: Outcomes;

const perMinute = { seconds: 60, rounding: 'up' };
const per30 = { seconds: 30, rounding: 'up' };
const reference = (ruleVersions: { version: number; increment: { seconds: number; rounding: string } }[]) => smallBrandReference({ brand, number, ruleVersions });

async function publish(data: ReferenceData): Promise<void> {
  const producer = await BatchProducer.connect(kafka);
  await publishReference(data, producer, serde);
  await producer.stop();
}

async function chargeRows(): Promise<{ version: number; n: number; amount: string }[]> {
  const db = knex({ client: 'pg', connection: config.postgres.url });
  try {
    const rows: { rating_version: number; n: string; amount: string }[] = await db('drawdown.charges').where({ subscription_id: subscription }).groupBy('rating_version').orderBy('rating_version').select('rating_version', db.raw('count(*) as n'), db.raw('sum(amount) as amount'));
    return rows.map((r) => ({ version: r.rating_version, n: Number(r.n), amount: new Decimal(r.amount).toFixed(2) }));
  } finally {
    await db.destroy();
  }
}

const durations = [0, 1, 29, 30, 31, 59, 60, 61, 89, 90];
const scope = { brand, from: Date.parse('2026-03-01T00:00:00Z'), to: Date.parse('2026-04-01T00:00:00Z') };
// Replay usage.resolved from when this suite started: older records are other suites'.
const replayFrom = Date.now() - 60_000;

beforeAll(async () => {
  await applyTopics(kafka, serde, allTopics([]));
  await publish(reference([{ version: 1, increment: perMinute }]));
  pipeline = await startPipeline(config, deps);
  outcomes = await collectOutcomes(kafka, serde, `rerate-${suffix}`);
  const producer = await BatchProducer.connect(kafka);
  const encode = serde.encoder<CdrRawRecord>(await serde.register(valueSubject(topics.cdrRaw.name), loadSchema('cdr.raw')));
  const cdrs = durations.map((seconds, i): CdrRawRecord => {
    const start = Date.parse('2026-03-10T15:00:00Z') + i * 3_600_000;
    return { source: `rerate-${suffix}`, cdrId: `d${seconds}`, callingNumber: null, calledNumber: number, usageType: 'LCA', startTime: start, endTime: start + seconds * 1000, durationSeconds: seconds, attributes: {}, receivedAt: null };
  });
  await producer.send({ [topics.cdrRaw.name]: cdrs.map((c) => ({ key: `${c.source}/${c.cdrId}`, value: encode(c), headers: standardHeaders({ eventId: c.cdrId }) })) });
  await producer.stop();
  await eventually('10 calls charged', () => (outcomes.charged.size === 10 ? true : undefined), 120_000);
});

afterAll(async () => {
  await outcomes?.reader.stop();
  await pipeline?.stop();
});

describe('re-rating by replay', () => {
  it('after a rule change, the differences equal the hand-computed change; a dry run commits nothing; a second run changes nothing', async () => {
    // Version 1, per minute rounded up: 0, 60, 60, 60, 60, 60, 60, 120, 120, 120 s = 720 s = 0.72 USD.
    expect(await chargeRows()).toEqual([{ version: 1, n: 10, amount: '0.72' }]);

    // The brand moves to per 30 s rounded up: 0, 30, 30, 30, 60, 60, 60, 90, 90, 90 s.
    // Changed: the 1, 29, 30, 61, 89 and 90 s calls, each 30 s and 0.030 USD less: -180 s, -0.18 USD.
    await publish(reference([{ version: 1, increment: perMinute }, { version: 2, increment: per30 }]));

    const dry = await rerateScope(config, deps, scope, { dryRun: true, replayFrom });
    expect(dry.committed).toBe(false);
    expect(dry.differences.map((d) => [d.eventId.length > 0, d.kind, d.overageSeconds, d.amount.toFixed(3)])).toEqual(Array(6).fill([true, 'changed', -30, '-0.030']));
    expect(await chargeRows()).toEqual([{ version: 1, n: 10, amount: '0.72' }]);

    const run = await rerateScope(config, deps, scope, { replayFrom });
    expect(run.committed).toBe(true);
    expect(run.ratingVersion).toBe(2);
    expect(run.adjustments).toHaveLength(1);
    expect({ overage: run.adjustments[0]!.overageSeconds, amount: run.adjustments[0]!.amount.toFixed(2), currency: run.adjustments[0]!.currency }).toEqual({ overage: -180, amount: '-0.18', currency: 'USD' });
    // Version 2 holds the whole period again: 0 + 3 × 30 + 3 × 60 + 3 × 90 = 540 s = 0.54 USD.
    expect(await chargeRows()).toEqual([{ version: 1, n: 10, amount: '0.72' }, { version: 2, n: 10, amount: '0.54' }]);
    await eventually('the version 2 records on usage.charged', () => ([...outcomes.charged.values()].filter((d) => d.some((u) => u.ratingVersion === 2)).length === 10 ? true : undefined), 60_000);

    const second = await rerateScope(config, deps, scope, { replayFrom });
    expect(second.committed).toBe(false);
    expect(second.differences).toEqual([]);
    expect(await chargeRows()).toEqual([{ version: 1, n: 10, amount: '0.72' }, { version: 2, n: 10, amount: '0.54' }]);
  });
});

describe('re-rating calls that arrived out of order', () => {
  const late = `ro-${suffix}`;
  const lateSubscription = `sub-${late}`;
  const lateNumber = numberFor(uniqueSuffix());
  const lateScope = { brand: late, from: scope.from, to: scope.to };

  async function rows(): Promise<[number, number, number, number, string, boolean][]> {
    const db = knex({ client: 'pg', connection: config.postgres.url });
    try {
      const found: { rating_version: number; charge_sequence: number; included_seconds: string; overage_seconds: string; amount: string; removed: boolean }[] = await db('drawdown.charges')
        .where({ subscription_id: lateSubscription }).orderBy(['rating_version', 'charge_sequence']).select('rating_version', 'charge_sequence', 'included_seconds', 'overage_seconds', 'amount', 'removed');
      return found.map((r) => [r.rating_version, r.charge_sequence, Number(r.included_seconds), Number(r.overage_seconds), new Decimal(r.amount).toFixed(2), r.removed]);
    } finally {
      await db.destroy();
    }
  }

  it('with nothing changed, a re-rate writes no version; a call a re-rate removes is not given back twice', async () => {
    // 120 s included, then 0.001 a second. Four 60 s calls started 10:00, 11:00, 12:00, 13:00,
    // arriving the other way round, each charged before the next is sent.
    const data = smallBrandReference({ brand: late, number: lateNumber, includedSeconds: 120 });
    await publish(data);
    const producer = await BatchProducer.connect(kafka);
    const encode = serde.encoder<CdrRawRecord>(await serde.register(valueSubject(topics.cdrRaw.name), loadSchema('cdr.raw')));
    for (const [i, hour] of [13, 12, 11, 10].entries()) {
      const start = Date.parse(`2026-03-10T${hour}:00:00Z`);
      const cdr: CdrRawRecord = { source: `ro-${suffix}`, cdrId: `h${hour}`, callingNumber: null, calledNumber: lateNumber, usageType: 'LCA', startTime: start, endTime: start + 60_000, durationSeconds: 60, attributes: {}, receivedAt: null };
      await producer.send({ [topics.cdrRaw.name]: [{ key: `${cdr.source}/${cdr.cdrId}`, value: encode(cdr), headers: standardHeaders({ eventId: cdr.cdrId }) }] });
      await eventually(`call ${i + 1} charged`, async () => ((await rows()).length === i + 1 ? true : undefined), 60_000);
    }
    await producer.stop();
    // Drawn as they arrived: 13:00 and 12:00 take the 120 s; 11:00 and 10:00 are 60 s overage, 0.06 each.
    expect(await rows()).toEqual([
      [1, 1, 60, 0, '0.00', false],
      [1, 2, 60, 0, '0.00', false],
      [1, 3, 0, 60, '0.06', false],
      [1, 4, 0, 60, '0.06', false],
    ]);

    // Nothing changed: in the order charged, the same charges; no version, no difference.
    const unchanged = await rerateScope(config, deps, lateScope, { replayFrom });
    expect([unchanged.committed, unchanged.differences.length, unchanged.adjustments.length]).toEqual([false, 0, 0]);
    expect((await rows()).length).toBe(4);
    expect(unchanged.replayedPartitions).toBe('all');
    // A swap's re-rate of one subscription replays only its account's partition of usage.resolved
    // (the 4 calls are all there); a key whose partition lacks them falls back to every partition,
    // and finds the same 4 calls rather than none.
    const account = `acct-${late}`;
    const own = partitionOfKey(topics.usageResolved.name, account, topics.usageResolved.partitions);
    const elsewhere = Array.from({ length: 50 }, (_, i) => `other-${i}`).find((k) => partitionOfKey(topics.usageResolved.name, k, topics.usageResolved.partitions) !== own)!;
    const subscriptionScope = { subscriptionId: lateSubscription, from: scope.from, to: scope.to };
    const narrowed = await rerateScope(config, deps, subscriptionScope, { replayFrom, replayKey: account, dryRun: true });
    expect([narrowed.replayedPartitions, narrowed.usages, narrowed.differences.length]).toEqual([[own], 4, 0]);
    const fallback = await rerateScope(config, deps, subscriptionScope, { replayFrom, replayKey: elsewhere, dryRun: true });
    expect([fallback.replayedPartitions, fallback.usages, fallback.differences.length]).toEqual(['all', 4, 0]);

    // Plan version 2 keeps the 120 s but prices only IVR: the two overage calls can no longer be
    // charged and are removed (0.06 given back each); the included ones are unchanged.
    const plan = data.plans[0]!;
    await publish({
      ...data,
      plans: [plan, { ...plan, version: 2, priceModels: plan.priceModels.map((m) => ({ ...m, usageType: 'IVR' })) }],
      subscriptions: [{ ...data.subscriptions[0]!, planVersion: 2 }],
    });
    const swapped = await eventually('the plan swap seen', async () => {
      const run = await rerateScope(config, deps, lateScope, { replayFrom, dryRun: true });
      return run.differences.length > 0 ? run : undefined;
    }, 30_000);
    expect(swapped.differences.map((d) => [d.kind, d.amount.toFixed(2)])).toEqual([['removed', '-0.06'], ['removed', '-0.06']]);
    const run = await rerateScope(config, deps, lateScope, { replayFrom });
    expect([run.committed, run.ratingVersion, run.adjustments.map((a) => a.amount.toFixed(2))]).toEqual([true, 2, ['-0.12']]);
    expect((await rows()).slice(4)).toEqual([
      [2, 1, 60, 0, '0.00', false],
      [2, 2, 60, 0, '0.00', false],
      [2, 3, 0, 0, '0.00', true],
      [2, 4, 0, 0, '0.00', true],
    ]);
    // Again with nothing changed: the removed calls stay removed, nothing is given back twice.
    const again = await rerateScope(config, deps, lateScope, { replayFrom });
    expect([again.committed, again.differences.length]).toEqual([false, 0]);
    expect((await rows()).length).toBe(8);
  });
});
