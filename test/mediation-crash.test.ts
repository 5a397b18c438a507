import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import knex from 'knex';
import { publishReference } from '../contracts/reference.ts';
import type { CdrRawRecord } from '../contracts/records.ts';
import { BatchProducer, standardHeaders } from '../runtime/kafka.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import { silentLogger } from '../runtime/log.ts';
import { systemClock } from '../runtime/time.ts';
import type { RunningService } from '../runtime/service.ts';
import { startPipeline } from '../services/all.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, topics, valueSubject } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { buildScenario } from './support/mediation-scenario.ts';
import { seededRandom } from '../domain/prng.ts';
import { collectOutcomes, type Outcomes } from './support/collect.ts';
import { ServiceProcess } from '../infra/service-process.ts';

const CDRS = 100_000;
const KILLS = 10;
const scenario = buildScenario(uniqueSuffix(), CDRS);
const config = testConfig('mediation-crash');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
// A short session timeout so that a killed member's partitions move on within seconds.
const childEnv = { KAFKA_BROKERS: config.kafka.brokers.join(','), SCHEMA_REGISTRY_URL: config.registry.url, DATABASE_URL: config.postgres.url, KAFKA_SESSION_TIMEOUT_MS: '6000' };
const rate = new ServiceProcess('rate', childEnv);
const drawdown = new ServiceProcess('drawdown', childEnv);
let front: RunningService;
let outcomes: Outcomes;

beforeAll(async () => {
  await applyTopics(kafka, serde, allTopics([]));
  const producer = await BatchProducer.connect(kafka);
  await publishReference(scenario.reference, producer, serde);
  await producer.stop();
  // ingest and resolve in this process; rate and drawdown as their own processes, to be killed.
  front = await startPipeline({ ...config, kafka: { ...config.kafka, sessionTimeoutMs: 6000 } }, { kafka, serde, logger: silentLogger, clock: systemClock }, ['ingest', 'resolve']);
  rate.start();
  drawdown.start();
  outcomes = await collectOutcomes(kafka, serde, scenario.source);
});

afterAll(async () => {
  await outcomes?.reader.stop();
  await rate.stop();
  await drawdown.stop();
  await front?.stop();
});

describe(`the mediation pipeline under SIGKILL (${KILLS} kills of rate and drawdown while ${CDRS.toLocaleString('en-US')} CDRs flow)`, () => {
  it('ends with exactly the totals of a clean run', { timeout: 900_000 }, async () => {
    const producer = await BatchProducer.connect(kafka);
    const encode = serde.encoder<CdrRawRecord>(await serde.register(valueSubject(topics.cdrRaw.name), loadSchema('cdr.raw')));
    const random = seededRandom(7);
    const slice = Math.ceil(scenario.cdrs.length / KILLS);
    for (let k = 0; k < KILLS; k++) {
      // Keep CDRs flowing: each round produces a slice, lets the services work, then kills one.
      const cdrs = scenario.cdrs.slice(k * slice, (k + 1) * slice);
      for (let i = 0; i < cdrs.length; i += 5000) {
        await producer.send({ [topics.cdrRaw.name]: cdrs.slice(i, i + 5000).map((c) => ({ key: `${c.source}/${c.cdrId}`, value: encode(c), headers: standardHeaders({ eventId: c.cdrId }) })) });
      }
      await new Promise((r) => setTimeout(r, 1500 + random() * 3000));
      const victim = k % 2 === 0 ? drawdown : rate;
      // Kill a running instance, not one still starting: it has joined its group and consumes.
      await eventually(`${victim.name} up before kill ${k + 1}`, () => (victim.startsLogged() >= victim.kills + 1 ? true : undefined), 60_000);
      victim.kill();
      await new Promise((r) => setTimeout(r, random() * 1000));
      victim.start();
    }
    await producer.stop();
    expect(rate.kills + drawdown.kills).toBe(KILLS);
    await eventually('the last instances up', () => (rate.startsLogged() > rate.kills && drawdown.startsLogged() > drawdown.kills ? true : undefined), 60_000);

    const rejectedTotal = Object.values(scenario.expected.rejectedByReason).reduce((a, b) => a + b, 0);
    await eventually(
      `${scenario.expected.charged} charged and ${rejectedTotal} rejected after ${KILLS} kills`,
      () => (outcomes.charged.size >= scenario.expected.charged && outcomes.rejected.size >= rejectedTotal ? true : undefined),
      600_000,
    );
    await new Promise((r) => setTimeout(r, 2000));
    expect(outcomes.charged.size).toBe(scenario.expected.charged);
    // Every kill was followed by a real restart: each instance started and logged it.
    expect(rate.startsLogged()).toBe(rate.kills + 1);
    expect(drawdown.startsLogged()).toBe(drawdown.kills + 1);

    // At-least-once delivery may repeat a record after a kill, but every repeat is identical.
    let redelivered = 0;
    const actual = new Map<string, { currency: string; billable: number; included: number; overage: number; amount: Decimal }>();
    for (const [, deliveries] of outcomes.charged) {
      const usage = deliveries[0]!;
      redelivered += deliveries.length - 1;
      for (const again of deliveries) {
        expect({ included: again.includedSeconds, overage: again.overageSeconds, amount: new Decimal(again.amount).toFixed(6) }).toEqual({ included: usage.includedSeconds, overage: usage.overageSeconds, amount: new Decimal(usage.amount).toFixed(6) });
      }
      const total = actual.get(usage.subscriptionId) ?? { currency: usage.currency, billable: 0, included: 0, overage: 0, amount: new Decimal(0) };
      total.billable += usage.billableSeconds;
      total.included += usage.includedSeconds;
      total.overage += usage.overageSeconds;
      total.amount = total.amount.plus(usage.amount);
      actual.set(usage.subscriptionId, total);
    }
    console.log(`[crash] ${KILLS} kills (rate ${rate.kills}, drawdown ${drawdown.kills}); ${redelivered} charged records delivered more than once, all identical`);
    const asText = (m: typeof actual) => Object.fromEntries([...m].sort().map(([k, v]) => [k, `${v.billable}/${v.included}/${v.overage} ${v.amount.toFixed(6)} ${v.currency}`]));
    expect(asText(actual)).toEqual(asText(scenario.expected.bySubscription));

    // drawdown's own state agrees: one charge row per CDR, the same money.
    const db = knex({ client: 'pg', connection: config.postgres.url });
    try {
      const rows: { subscription_id: string; n: string; amount: string; included: string }[] = await db('drawdown.charges')
        .whereIn('subscription_id', [...scenario.expected.bySubscription.keys()])
        .groupBy('subscription_id')
        .select('subscription_id', db.raw('count(*) as n'), db.raw('sum(amount) as amount'), db.raw('sum(included_seconds) as included'));
      expect(rows.reduce((s, r) => s + Number(r.n), 0)).toBe(scenario.expected.charged);
      for (const row of rows) {
        const want = scenario.expected.bySubscription.get(row.subscription_id)!;
        expect(new Decimal(row.amount).toFixed(6)).toBe(want.amount.toFixed(6));
        expect(Number(row.included)).toBe(want.included);
      }
    } finally {
      await db.destroy();
    }
  });
});
