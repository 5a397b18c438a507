import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import knex from 'knex';
import { Decimal } from 'decimal.js';
import type { ReferenceData } from '../domain/reference/index.ts';
import { publishReference } from '../contracts/reference.ts';
import type { CdrRawRecord } from '../contracts/records.ts';
import { BatchProducer, standardHeaders } from '../runtime/kafka.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import { silentLogger } from '../runtime/log.ts';
import { systemClock } from '../runtime/time.ts';
import type { RunningService } from '../runtime/service.ts';
import { startPipeline } from '../services/all.ts';
import { redrive } from '../cli/redrive.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, topics, valueSubject } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { collectOutcomes, type Outcomes } from './support/collect.ts';
import { numberFor, smallBrandReference } from './support/small-brand.ts';

const suffix = uniqueSuffix();
const brand = `rd-${suffix}`;
const number = numberFor(suffix);
const source = `redrive-${suffix}`;
const config = testConfig('redrive');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const since = Date.now();
let pipeline: RunningService;
let outcomes: Outcomes;

async function publish(data: ReferenceData): Promise<void> {
  const producer = await BatchProducer.connect(kafka);
  await publishReference(data, producer, serde);
  await producer.stop();
}

beforeAll(async () => {
  await applyTopics(kafka, serde, allTopics([]));
  await publish(smallBrandReference({ brand, number, assigned: false }));
  pipeline = await startPipeline(config, { kafka, serde, logger: silentLogger, clock: systemClock });
  outcomes = await collectOutcomes(kafka, serde, source);
});

afterAll(async () => {
  await outcomes?.reader.stop();
  await pipeline?.stop();
});

describe('redrive of rejected records', () => {
  it('charges unresolved calls once the number is assigned, and a second redrive charges nothing twice', async () => {
    const producer = await BatchProducer.connect(kafka);
    const encode = serde.encoder<CdrRawRecord>(await serde.register(valueSubject(topics.cdrRaw.name), loadSchema('cdr.raw')));
    const start = Date.parse('2026-03-10T15:00:00Z');
    // 61, 90 and 125 s per minute rounded up: 120 + 120 + 180 = 420 s = 0.42 USD.
    const cdrs: CdrRawRecord[] = [61, 90, 125].map((seconds, i) => ({ source, cdrId: `r${i}`, callingNumber: null, calledNumber: number, usageType: 'LCA', startTime: start + i * 60_000, endTime: start + i * 60_000 + seconds * 1000, durationSeconds: seconds, attributes: {}, receivedAt: null }));
    await producer.send({ [topics.cdrRaw.name]: cdrs.map((c) => ({ key: `${c.source}/${c.cdrId}`, value: encode(c), headers: standardHeaders({ eventId: c.cdrId }) })) });
    await producer.stop();
    await eventually('3 unresolved_number rejections', () => ([...outcomes.rejected.values()].filter(([r]) => r!.reason === 'unresolved_number').length === 3 ? true : undefined), 120_000);
    expect(outcomes.charged.size).toBe(0);

    // Ops fix the inventory, then redrive. The resolve service picks the assignment up live.
    await publish(smallBrandReference({ brand, number }));
    await new Promise((r) => setTimeout(r, 2000));
    const dry = await redrive(config, { reason: 'unresolved_number', source, since, dryRun: true });
    expect(dry).toMatchObject({ matched: 3, notRedrivable: 0, republished: { [topics.cdrAccepted.name]: 3 } });
    const first = await redrive(config, { reason: 'unresolved_number', source, since });
    expect(first.matched).toBe(3);
    await eventually('3 charged after the redrive', () => (outcomes.charged.size === 3 ? true : undefined), 120_000);

    const second = await redrive(config, { reason: 'unresolved_number', source, since });
    expect(second.matched).toBe(3);
    await new Promise((r) => setTimeout(r, 5000));
    const db = knex({ client: 'pg', connection: config.postgres.url });
    try {
      const rows: { n: string; amount: string }[] = await db('drawdown.charges').where({ subscription_id: `sub-${brand}` }).select(db.raw('count(*) as n'), db.raw('sum(amount) as amount'));
      expect({ n: Number(rows[0]!.n), amount: new Decimal(rows[0]!.amount).toFixed(2) }).toEqual({ n: 3, amount: '0.42' });
    } finally {
      await db.destroy();
    }
  });
});
