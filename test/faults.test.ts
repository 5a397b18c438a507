import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import knex, { type Knex } from 'knex';
import type { Kafka } from 'kafkajs';
import { publishReference } from '../contracts/reference.ts';
import { parseReferenceFile } from '../domain/reference/index.ts';
import type { CdrRawRecord, CdrRejectedRecord } from '../contracts/records.ts';
import { loadRuntimeConfig } from '../runtime/config.ts';
import { BatchProducer, createKafka, runBatchConsumer, standardHeaders, type ConsumedRecord, type OutgoingMessage, type RunningConsumer } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import { scanTopic } from '../runtime/topic-scan.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, brandTopics, topics, valueSubject } from '../topics/catalog.ts';
import { eventually, uniqueSuffix } from './helpers.ts';
import { collectOutcomes, type Outcomes } from './support/collect.ts';
import { invoiceEvent, publishInvoices } from './support/collect-fixtures.ts';
import { buildScenario, type Scenario } from './support/mediation-scenario.ts';
import { PrivateStack } from './support/private-stack.ts';
import { ServiceProcess } from '../infra/service-process.ts';
import { publishTestKeys, withKey, type TestKey } from './support/api-keys.ts';

/**
 * Failure as a first-class path, in the production shape: every service in its own process on a
 * stack of this suite's own, fed poison on every input while good records flow, then the broker
 * SIGKILLed, PostgreSQL stopped immediately, the registry stopped, and services stopped in the
 * middle of a backoff. Every count, second and cent is compared with the scenario's independent
 * calculation (test/support/mediation-scenario.ts).
 */
// Below the kernel's ephemeral range (32768 and up), so no client's outgoing connection can hold one of its ports.
const stack = new PrivateStack(29_000);
const brand = `poison-${uniqueSuffix()}`;
const services = ['ingest', 'resolve', 'rate', 'drawdown', 'billrun', 'collect', 'ageing', 'catalog'] as const;
type ServiceName = (typeof services)[number];
const processes = new Map<ServiceName, ServiceProcess>();
let kafka: Kafka;
let serde: AvroSerde;
let db: Knex;
let producer: BatchProducer;
let deadLetters: ConsumedRecord[] = [];
const describeDeadLetter = (d: ConsumedRecord) => `${d.headers['dlq-service']} ${d.headers['dlq-topic']} ${d.key?.toString()} ${d.headers['dlq-error-code']}`;
let deadLetterReader: RunningConsumer;
const readers: Outcomes[] = [];

const service = (name: ServiceName) => processes.get(name)!;
const startedOnce = (p: ServiceProcess) => eventually(`${p.name} started`, () => (p.startsLogged() > p.kills ? true : undefined), 120_000);

/** Produces through broker restarts: a send that fails is tried again (ids make repeats harmless downstream). */
async function sendSurely(byTopic: Record<string, OutgoingMessage[]>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await producer.send(byTopic);
    } catch (error) {
      if (attempt > 60) throw error;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

let encodeCdr: (cdr: CdrRawRecord) => Buffer;
async function produceCdrs(cdrs: CdrRawRecord[]): Promise<void> {
  for (let i = 0; i < cdrs.length; i += 2000) {
    await sendSurely({ [topics.cdrRaw.name]: cdrs.slice(i, i + 2000).map((c) => ({ key: `${c.source}/${c.cdrId}`, value: encodeCdr(c), headers: standardHeaders({ eventId: c.cdrId }) })) });
  }
}

/**
 * Every test's scenario, its reference data and its outcome reader are made before any fault: a
 * test reader is harness, and a new group joining right after broker kills took over a minute.
 */
const scenarios = new Map<string, { scenario: Scenario; outcomes: Outcomes }>();
async function prepareScenarios(sizes: Record<string, number>): Promise<void> {
  for (const [name, size] of Object.entries(sizes)) {
    const scenario = buildScenario(uniqueSuffix(), size);
    await publishReference(scenario.reference, producer, serde);
    const outcomes = await collectOutcomes(kafka, serde, scenario.source);
    readers.push(outcomes);
    scenarios.set(name, { scenario, outcomes });
    setupStep(`scenario ${name} (${size} CDRs) published`);
  }
  const admin = kafka.admin();
  await admin.connect();
  try {
    await eventually('every outcome reader in its group', async () => {
      const { groups } = await admin.describeGroups(readers.map((r) => r.groupId));
      return groups.every((g) => g.state === 'Stable') ? true : undefined;
    }, 120_000);
  } finally {
    await admin.disconnect();
  }
}
const scenarioWithReference = async (name: string) => scenarios.get(name)!;

const rejectedTotal = (s: Scenario) => Object.values(s.expected.rejectedByReason).reduce((a, b) => a + b, 0);

/** Waits for every CDR of the scenario to end charged or rejected, then checks every figure against the scenario's own calculation. */
async function expectExactTotals(scenario: Scenario, outcomes: Outcomes, label: string): Promise<void> {
  await eventually(
    `${label}: ${scenario.expected.charged} charged and ${rejectedTotal(scenario)} rejected`,
    () => (outcomes.charged.size >= scenario.expected.charged && outcomes.rejected.size >= rejectedTotal(scenario) ? true : undefined),
    300_000,
  );
  // A send the test retried across a fault may have landed twice: every copy is a record in, so
  // counts in = counts out is checked against what cdr.raw holds, and each bad CDR is rejected
  // with its own reason (its copies again with that reason, a good CDR's copies as duplicates).
  // The extra copies' rejections may still be on their way (the last fault delays them): wait
  // for as many outcomes as records, then compare exactly (one more would be a CDR out twice).
  let produced = 0;
  await scanTopic(kafka, topics.cdrRaw.name, (records) => {
    for (const r of records) if (r.key?.toString().startsWith(`${scenario.source}/`)) produced++;
  });
  await eventually(`${label}: an outcome for each of the ${produced} records on cdr.raw`, () => (outcomes.charged.size + outcomes.rejected.size >= produced ? true : undefined), 120_000).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 1500));
  expect(outcomes.charged.size).toBe(scenario.expected.charged);
  expect(outcomes.charged.size + outcomes.rejected.size).toBe(produced);
  const cdrsByReason: Record<string, Set<string>> = {};
  for (const [, [rejection]] of outcomes.rejected) (cdrsByReason[rejection!.reason] ??= new Set()).add(rejection!.cdrId ?? '');
  for (const [reason, count] of Object.entries(scenario.expected.rejectedByReason)) {
    if (reason === 'duplicate_cdr') expect(cdrsByReason[reason]?.size ?? 0).toBeGreaterThanOrEqual(Math.min(1, count));
    else expect({ reason, cdrs: cdrsByReason[reason]?.size ?? 0 }).toEqual({ reason, cdrs: count });
  }
  expect(Object.keys(cdrsByReason).sort()).toEqual(Object.keys(scenario.expected.rejectedByReason).sort());
  const actual = new Map<string, string>();
  const sums = new Map<string, { billable: number; included: number; overage: number; amount: Decimal; currency: string }>();
  for (const [, deliveries] of outcomes.charged) {
    const usage = deliveries[0]!;
    // A redelivery after a fault is the same record, never a different charge.
    for (const again of deliveries) expect(new Decimal(again.amount).toFixed(6)).toBe(new Decimal(usage.amount).toFixed(6));
    const sum = sums.get(usage.subscriptionId) ?? { billable: 0, included: 0, overage: 0, amount: new Decimal(0), currency: usage.currency };
    sum.billable += usage.billableSeconds;
    sum.included += usage.includedSeconds;
    sum.overage += usage.overageSeconds;
    sum.amount = sum.amount.plus(usage.amount);
    sums.set(usage.subscriptionId, sum);
  }
  for (const [id, v] of sums) actual.set(id, `${v.billable}/${v.included}/${v.overage} ${v.amount.toFixed(6)} ${v.currency}`);
  const expected = new Map([...scenario.expected.bySubscription].filter(([, v]) => v.billable > 0).map(([id, v]) => [id, `${v.billable}/${v.included}/${v.overage} ${v.amount.toFixed(6)} ${v.currency}`]));
  expect(Object.fromEntries([...actual].sort())).toEqual(Object.fromEntries([...expected].sort()));
  // drawdown's table: one charge per CDR (its unique key), the same money: nothing charged twice.
  // drawdown produces a batch before its transaction commits, so the last batch's rows may still
  // be on their way (retrying after a fault) when its records are read: wait for the count, then
  // compare it exactly (more rows than CDRs would be a double charge and fails the same way).
  const chargeRows = async () =>
    (await db('drawdown.charges')
      .whereIn('subscription_id', [...scenario.expected.bySubscription.keys()])
      .select(db.raw('count(*) as n'), db.raw('sum(amount) as amount'))) as { n: string; amount: string | null }[];
  await eventually(`${label}: drawdown's rows committed`, async () => (Number((await chargeRows())[0]!.n) >= scenario.expected.charged ? true : undefined), 60_000).catch(() => undefined);
  const rows = await chargeRows();
  expect(Number(rows[0]!.n)).toBe(scenario.expected.charged);
  const expectedMoney = [...scenario.expected.bySubscription.values()].reduce((a, v) => a.plus(v.amount), new Decimal(0));
  expect(new Decimal(rows[0]!.amount ?? 0).toFixed(6)).toBe(expectedMoney.toFixed(6));
}

/** How long after `since` the pipeline charged another record of this scenario. */
async function msUntilProgress(outcomes: Outcomes, since: number): Promise<number> {
  const before = outcomes.charged.size;
  await eventually('charging to go on', () => (outcomes.charged.size > before ? true : undefined), 120_000);
  return Date.now() - since;
}

// Each step of the set-up prints how long it took: a slow CI run then says where its time went.
const setupStarted = Date.now();
const setupStep = (step: string) => console.log(`[faults setup] ${step} after ${((Date.now() - setupStarted) / 1000).toFixed(1)} s`);

beforeAll(async () => {
  try {
    await setUp();
  } catch (error) {
    // What each part and service last said, so a failed set-up in CI can be read from its output.
    for (const p of processes.values()) console.log(`[faults setup] ${p.name} log, last lines:\n${p.logTail(20)}`);
    console.log(`[faults setup] private stack logs: ${stack.logTails(20)}`);
    throw error;
  }
}, 600_000);

async function setUp(): Promise<void> {
  const endpoints = await stack.start();
  setupStep('private stack up');
  const config = loadRuntimeConfig('faults', { KAFKA_BROKERS: endpoints.kafkaBrokers, SCHEMA_REGISTRY_URL: endpoints.schemaRegistryUrl, DATABASE_URL: endpoints.databaseUrl });
  kafka = createKafka(config.kafka, silentLogger);
  serde = new AvroSerde(endpoints.schemaRegistryUrl);
  db = knex({ client: 'pg', connection: endpoints.databaseUrl, pool: { min: 0, max: 2 } });
  await applyTopics(kafka, serde, allTopics([brand]));
  producer = await BatchProducer.connect(kafka);
  encodeCdr = serde.encoder<CdrRawRecord>(await serde.register(valueSubject(topics.cdrRaw.name), loadSchema('cdr.raw')));
  const env = {
    KAFKA_BROKERS: endpoints.kafkaBrokers,
    SCHEMA_REGISTRY_URL: endpoints.schemaRegistryUrl,
    DATABASE_URL: endpoints.databaseUrl,
    BILLRUN_INTERVAL_MS: '0',
    BILLRUN_USAGE_DRAIN_MS: '1000',
    COLLECT_INTERVAL_MS: '0',
    AGEING_INTERVAL_MS: '0',
  };
  for (const name of services) processes.set(name, new ServiceProcess(name, env));
  for (const p of processes.values()) p.start();
  for (const p of processes.values()) await startedOnce(p);
  setupStep(`${processes.size} services started`);
  deadLetterReader = await runBatchConsumer(kafka, { groupId: `dlq-${uniqueSuffix()}`, topics: [topics.deadLetter.name], handle: async (records) => void deadLetters.push(...records) });
  await prepareScenarios({ poison: 10_000, broker: 30_000, postgres: 30_000, registry: 10_000, sigterm: 5_000 });
  setupStep('scenarios and their readers ready');
}

afterAll(async () => {
  for (const r of readers) await r.reader.stop().catch(() => undefined);
  await deadLetterReader?.stop().catch(() => undefined);
  for (const p of processes.values()) await p.stop();
  await producer?.stop().catch(() => undefined);
  await db?.destroy();
  await stack.stop();
}, 120_000);

describe('every consumer, each in its own process, fed poison while good records flow', () => {
  it('rejects or dead-letters each poison record with its reason and lets 10,000 CDRs through to the cent', { timeout: 400_000 }, async () => {
    const run = uniqueSuffix();
    const intruderId = await serde.register(`test.intruder-${run}-value`, { type: 'record', name: 'Intruder', namespace: 'test', fields: [{ name: 'eventId', type: 'string' }] });
    const intruder = serde.encoder<{ eventId: string }>(intruderId)({ eventId: `intruder-${run}` });
    /** The five kinds of poison for a topic whose values are `schema`, each with the code it must end with. */
    const poisons = async (topic: string, schema: string, withNull: boolean) => {
      const id = await serde.register(valueSubject(topic), loadSchema(schema));
      const header = Buffer.alloc(5);
      header.writeInt32BE(id, 1);
      const unknown = Buffer.from([0, 0x7f, 0xff, 0xfe, 0x01, 0x02, 0x03]);
      const kinds: [string, Buffer | null, string][] = [
        ['garbage', Buffer.from(`garbage ${run} ${topic}`), 'not_confluent_avro'],
        ['unknown schema', Buffer.concat([unknown, Buffer.from(run)]), 'unknown_schema'],
        ['truncated', Buffer.concat([header, Buffer.from([0x06, 0x61])]), 'undecodable_avro'],
        ['another schema', intruder, 'wrong_schema'],
      ];
      if (withNull) kinds.push(['null value', null, 'null_value']);
      return kinds.map(([kind, value, code]) => ({ topic, kind, value, code, key: `poison-${run}-${kind.replace(' ', '-')}` }));
    };
    const streams: [string, string, ServiceName[]][] = [
      [topics.cdrAccepted.name, 'cdr.accepted', ['resolve']],
      [topics.usageResolved.name, 'usage.resolved', ['rate']],
      [topics.usageRated.name, 'usage.rated', ['drawdown']],
      [topics.usageCharged.name, 'usage.charged', ['billrun']],
      [topics.usageRerated.name, 'usage.rerated', ['billrun']],
      [brandTopics(brand).invoices.name, 'invoice', ['collect', 'ageing']],
      [brandTopics(brand).payments.name, 'payment', ['ageing', 'billrun']],
      [brandTopics(brand).creditRefunds.name, 'credit.refund', ['collect']],
      [topics.accountLifecycle.name, 'account.lifecycle', ['catalog']],
      // A reference topic: every stream service reads it; a null value there is a deletion, not poison.
      [topics.refPlans.name, 'ref.plans', ['resolve', 'rate', 'drawdown', 'billrun', 'collect', 'ageing']],
    ];
    const expectedDead: { topic: string; kind: string; code: string; service: ServiceName }[] = [];
    const batch: Record<string, OutgoingMessage[]> = {};
    for (const [topic, schema, readBy] of streams) {
      for (const p of await poisons(topic, schema, !topic.startsWith('ref.'))) {
        (batch[topic] ??= []).push({ key: p.key, value: p.value });
        for (const name of readBy) expectedDead.push({ topic, kind: p.kind, code: p.code, service: name });
      }
    }
    const rawPoisons = await poisons(topics.cdrRaw.name, 'cdr.raw', true);
    batch[topics.cdrRaw.name] = rawPoisons.map((p) => ({ key: p.key, value: p.value }));

    const { scenario, outcomes } = await scenarioWithReference('poison');
    const producedAt = Date.now();
    await sendSurely(batch);
    // Good records behind the poison, on every input.
    await produceCdrs(scenario.cdrs);
    const goodInvoices = [1, 2, 3].map((n) => invoiceEvent({ invoiceId: `inv-${run}-${n}`, brand, accountId: `acct-${run}`, currency: 'USD', total: '10.00', issuedAt: producedAt, dueAt: producedAt + 86_400_000 }));
    await publishInvoices(kafka, serde, goodInvoices);

    // Within 30 s, each poison record is set aside with its reason by each service that reads it.
    const deadFor = (e: (typeof expectedDead)[number]) =>
      deadLetters.find((d) => d.headers['dlq-topic'] === e.topic && d.headers['dlq-service'] === e.service && d.key?.toString() === `poison-${run}-${e.kind.replace(' ', '-')}`);
    await eventually(
      `${expectedDead.length} dead letters`,
      () => (expectedDead.every(deadFor) ? true : undefined),
      30_000,
    ).catch((error: Error) => {
      const missing = expectedDead.filter((e) => !deadFor(e)).map((e) => `${e.service} ${e.topic} ${e.kind}`);
      throw new Error(`${error.message}; missing: ${missing.join(', ')}`);
    });
    const latest = Math.max(...expectedDead.map((e) => Number(deadFor(e)!.headers['dlq-at']) - producedAt));
    console.log(`[poison] ${expectedDead.length} dead letters, the last ${latest} ms after the poison was produced`);
    for (const e of expectedDead) {
      const dead = deadFor(e)!;
      expect({ where: `${e.service} ${e.topic} ${e.kind}`, code: dead.headers['dlq-error-code'] }).toEqual({ where: `${e.service} ${e.topic} ${e.kind}`, code: e.code });
      expect(dead.headers['dlq-offset']).toMatch(/^\d+$/);
      const original = batch[e.topic]!.find((m) => m.key === dead.key?.toString())!;
      expect(dead.value === null ? null : Buffer.from(dead.value).toString('hex')).toBe(original.value === null ? null : original.value.toString('hex'));
    }
    // No service dead-lettered anything else: the good records all went through.
    const unexpected = deadLetters.filter((d) => !expectedDead.some((e) => deadFor(e) === d) && !d.key?.toString().startsWith(`poison-${run}`));
    expect(unexpected.map(describeDeadLetter)).toEqual([]);

    // cdr.raw's poison is rejected like any bad CDR, so counts in equal counts out.
    const rejections = new Map<string, CdrRejectedRecord>();
    const rejectedReader = await runBatchConsumer(kafka, {
      groupId: `rejected-${run}`,
      topics: [topics.cdrRejected.name],
      handle: async (records) => {
        await serde.prepare(records.map((r) => r.value));
        for (const r of records) {
          const rejection = serde.decode<CdrRejectedRecord>(r.value, 'cdr.rejected');
          if (rejection.stage === 'ingest') rejections.set(Buffer.from(rejection.payload).toString('hex'), rejection);
        }
      },
    });
    try {
      await eventually('the five cdr.raw poison records rejected', () => (rawPoisons.every((p) => rejections.has((p.value ?? Buffer.alloc(0)).toString('hex'))) ? true : undefined), 30_000);
      for (const p of rawPoisons) expect({ kind: p.kind, reason: rejections.get((p.value ?? Buffer.alloc(0)).toString('hex'))!.reason }).toEqual({ kind: p.kind, reason: p.code });
    } finally {
      await rejectedReader.stop();
    }

    await expectExactTotals(scenario, outcomes, 'behind the poison');
    // The billing consumers went on past the poison too.
    await eventually('the good invoices stored by collect and ageing', async () => {
      const stored = await db('collect.invoices').whereIn('invoice_id', goodInvoices.map((i) => i.invoiceId)).count({ n: '*' });
      const aged = await db('ageing.invoices').whereIn('invoice_id', goodInvoices.map((i) => i.invoiceId)).count({ n: '*' });
      return Number(stored[0]!.n) === 3 && Number(aged[0]!.n) === 3 ? true : undefined;
    });
    await eventually('billrun stored the scenario usage', async () => {
      const rows = await db('billrun.charges').whereIn('subscription_id', [...scenario.expected.bySubscription.keys()]).count({ n: '*' });
      return Number(rows[0]!.n) === scenario.expected.charged ? true : undefined;
    });
  });
});

describe('infrastructure faults while CDRs flow through the four mediation services', () => {
  /** Three rounds of: CDRs flowing, a fault, the part restarted; how long until charging went on each time. */
  async function threeFaults(scenario: Scenario, outcomes: Outcomes, fault: () => Promise<void>): Promise<number[]> {
    const slice = Math.ceil(scenario.cdrs.length / 4);
    const recoveries: number[] = [];
    for (let k = 0; k < 3; k++) {
      // A part that died by itself after the last fault (seen once: the broker, after a restart) is started again.
      await stack.restartMissing();
      await produceCdrs(scenario.cdrs.slice(k * slice, (k + 1) * slice));
      await eventually('charging under way', () => (outcomes.charged.size > k * slice * 0.5 ? true : undefined), 120_000);
      await fault();
      await new Promise((r) => setTimeout(r, 3000));
      await stack.restartMissing();
      const back = Date.now();
      await produceCdrs(scenario.cdrs.slice((k + 1) * slice, (k + 1) * slice + 500));
      recoveries.push(await msUntilProgress(outcomes, back));
    }
    await produceCdrs(scenario.cdrs.slice(3 * slice + 500));
    return recoveries;
  }
  const seconds = (list: number[]) => list.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ');

  it('the broker SIGKILLed 3 times: every service recovers by itself, totals exact, nothing charged twice', { timeout: 600_000 }, async () => {
    const { scenario, outcomes } = await scenarioWithReference('broker');
    const deadBefore = deadLetters.length;
    const recoveries = await threeFaults(scenario, outcomes, () => stack.signal('kafka', 'SIGKILL'));
    console.log(`[faults] broker SIGKILLed 3 times: charging went on ${seconds(recoveries)} after the broker was back`);
    await expectExactTotals(scenario, outcomes, 'after 3 broker kills');
    // A reference reader that rejoins after the broker came back reads its topics again from their
    // start: the poison there was set aside once, by the first read, not once more per rejoin.
    expect(deadLetters.slice(deadBefore).map(describeDeadLetter)).toEqual([]);
    // No service was restarted: each started exactly once.
    for (const name of ['ingest', 'resolve', 'rate', 'drawdown'] as const) expect({ name, starts: service(name).startsLogged() }).toEqual({ name, starts: 1 });
  });

  it('PostgreSQL stopped immediately 3 times: every service recovers by itself, totals exact, nothing charged twice', { timeout: 600_000 }, async () => {
    const { scenario, outcomes } = await scenarioWithReference('postgres');
    const deadBefore = deadLetters.length;
    // SIGQUIT is PostgreSQL's immediate shutdown (pg_ctl stop -m immediate): no checkpoint, clients cut off.
    const recoveries = await threeFaults(scenario, outcomes, () => stack.signal('postgres', 'SIGQUIT'));
    console.log(`[faults] PostgreSQL stopped 3 times: charging went on ${seconds(recoveries)} after it was back`);
    await expectExactTotals(scenario, outcomes, 'after 3 database stops');
    const retried = service('drawdown').logLines().filter((l) => l.msg === 'batch failed, retrying').length;
    console.log(`[faults] drawdown retried ${retried} batches while the database was away`);
    // A lost connection is retried, never taken for bad data (a BEGIN on a cut connection once was).
    expect(deadLetters.slice(deadBefore).map(describeDeadLetter)).toEqual([]);
    for (const name of ['ingest', 'resolve', 'rate', 'drawdown'] as const) expect({ name, starts: service(name).startsLogged() }).toEqual({ name, starts: 1 });
  });

  it('the registry stopped for 30 s while records with a schema version it must fetch arrive: retried, nothing dead-lettered, nothing lost', { timeout: 400_000 }, async () => {
    const { scenario, outcomes } = await scenarioWithReference('registry');
    // A newer compatible version of cdr.raw (an added optional field): ingest has never seen its id.
    const v2 = loadSchema('cdr.raw') as { fields: unknown[] };
    const v2Id = await serde.register(valueSubject(topics.cdrRaw.name), { ...v2, fields: [...v2.fields, { name: 'trunkGroup', type: ['null', 'string'], default: null }] } as never);
    const encodeV2 = serde.encoder<CdrRawRecord & { trunkGroup: string | null }>(v2Id);
    const deadBefore = deadLetters.length;
    const half = scenario.cdrs.length / 2;
    await produceCdrs(scenario.cdrs.slice(0, half));
    await stack.signal('registry', 'SIGTERM');
    const down = Date.now();
    for (let i = half; i < scenario.cdrs.length; i += 2000) {
      await sendSurely({ [topics.cdrRaw.name]: scenario.cdrs.slice(i, i + 2000).map((c) => ({ key: `${c.source}/${c.cdrId}`, value: encodeV2({ ...c, trunkGroup: 'tg-1' }), headers: standardHeaders({ eventId: c.cdrId }) })) });
    }
    await eventually('ingest retrying the batch it cannot decode yet', () => (service('ingest').logLines().some((l) => l.msg === 'batch failed, retrying' && l.code === 'registry_unavailable' && Date.parse(String(l.time)) >= down) ? true : undefined), 60_000);
    const health = await fetch(`${service('ingest').opsUrl()}/healthz`);
    expect(health.status).toBe(503);
    const body = (await health.json()) as { status: string; checks: { processing: { detail: string; since: string } } };
    expect(body.status).toBe('degraded');
    expect(body.checks.processing.detail).toMatch(/^registry_unavailable/);
    await new Promise((r) => setTimeout(r, Math.max(0, 30_000 - (Date.now() - down))));
    await stack.restartMissing();
    const back = Date.now();
    await expectExactTotals(scenario, outcomes, 'after a 30 s registry outage');
    console.log(`[faults] registry down ${((back - down) / 1000).toFixed(1)} s; all charged ${((Date.now() - back) / 1000).toFixed(1)} s after it was back`);
    expect(deadLetters.slice(deadBefore).map(describeDeadLetter)).toEqual([]);
    expect((await (await fetch(`${service('ingest').opsUrl()}/healthz`)).json()) as { status: string }).toMatchObject({ status: 'ok' });
  });

  it('SIGTERM in the middle of a backoff ends the process within 10 s; the next start finishes the work exactly once', { timeout: 400_000 }, async () => {
    const { scenario, outcomes } = await scenarioWithReference('sigterm');
    await stack.signal('postgres', 'SIGQUIT');
    await produceCdrs(scenario.cdrs);
    // ingest cannot store its de-duplication rows: it backs off, with a growing delay.
    const ingest = service('ingest');
    const stoppedAt = Date.now();
    await eventually('ingest in a backoff', () => (ingest.logLines().some((l) => l.msg === 'batch failed, retrying' && Number(l.delayMs) >= 1600 && Date.parse(String(l.time)) >= stoppedAt) ? true : undefined), 120_000);
    const tookMs = await ingest.stop();
    console.log(`[faults] ingest stopped in ${tookMs} ms during a backoff`);
    expect(tookMs).toBeLessThan(10_000);
    expect(ingest.exitCode).toBe(0);
    await stack.restartMissing();
    ingest.start();
    await expectExactTotals(scenario, outcomes, 'after a stop during a backoff');
  });
});

describe('stopping in the middle of a bill run', () => {
  it('SIGTERM during a bill run of 3,000 subscriptions: the process is gone within 10 s and the next start bills each subscription exactly once', { timeout: 400_000 }, async () => {
    const code = `stop-${uniqueSuffix()}`;
    const count = 3000;
    const anchor = new Date(Date.now() - 2 * 86_400_000).toISOString();
    const address = { line1: '1 Test Street', line2: null, city: 'Testville', region: 'NY', postalCode: '10001', country: 'US' };
    const parsed = parseReferenceFile({
      parentCompany: 'ansr-group',
      brands: [{ code, parentCompany: 'ansr-group', name: `Brand ${code}`, country: 'US', currency: 'USD', timeZone: 'UTC', billingHour: 0, taxRegime: 'none', gateway: 'manual', roundingMode: 'half_up', usageProducts: { LCA: `${code}-lca` } }],
      plans: [{ planId: `${code}-plan`, version: 1, owner: code, name: 'Flat', currency: 'USD', monthlyFee: '10.00', trialDays: 0, grants: [], priceModels: [], numberAllotment: 1 }],
      subscriptions: Array.from({ length: count }, (_, i) => ({ subscriptionId: `sub-${code}-${i}`, brand: code, accountId: `acct-${code}-${i}`, planId: `${code}-plan`, planVersion: 1, anchor, status: 'active' })),
      customers: Array.from({ length: count }, (_, i) => ({ accountId: `acct-${code}-${i}`, brand: code, name: `Customer ${i}`, email: `c${i}@example.com`, country: 'US', region: 'NY', postalAddress: address })),
      numbers: [],
      ratingRules: [],
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.error.slice(0, 3)));
    await publishReference(parsed.value, producer, serde);
    // Bill runs are asked for on the API with a key, which the restarted service reads from ref.api-keys.
    const [parentKey] = (await publishTestKeys(kafka, serde, [{ brand: null }])) as [TestKey];
    const billrun = service('billrun');
    // The reference reaches the running service through ref.*; a restart reads it all before starting.
    await billrun.stop();
    billrun.start();
    await eventually('billrun started again', () => (billrun.logLines().filter((l) => l.msg === 'started').length >= 2 ? true : undefined), 120_000);
    const run = fetch(`${billrun.apiUrl()}/bill-runs?brand=${code}`, { method: 'POST', headers: withKey(parentKey) }).catch(() => undefined);
    await eventually('the bill run under way', () => (billrun.logLines().some((l) => l.msg === 'bill run started' && l.brand === code) ? true : undefined), 60_000).catch(() => new Promise((r) => setTimeout(r, 1500)));
    const tookMs = await billrun.stop();
    await run;
    const invoicedBefore = Number((await db('billrun.invoices').where({ brand: code }).count({ n: '*' }))[0]!.n);
    console.log(`[faults] billrun stopped in ${tookMs} ms during a bill run; ${invoicedBefore} of ${count} invoiced before the stop`);
    expect(tookMs).toBeLessThan(10_000);
    billrun.start();
    await eventually('billrun started a third time', () => (billrun.logLines().filter((l) => l.msg === 'started').length >= 3 ? true : undefined), 120_000);
    const report = (await (await fetch(`${billrun.apiUrl()}/bill-runs?brand=${code}`, { method: 'POST', headers: withKey(parentKey) })).json()) as { invoices: number; held: number; failed: unknown[] };
    expect(report.failed).toEqual([]);
    const rows: { n: string; distinct: string; total: string }[] = await db('billrun.invoices')
      .where({ brand: code })
      .select(db.raw('count(*) as n'), db.raw('count(distinct subscription_id) as distinct'), db.raw('sum(total) as total'));
    expect({ invoices: Number(rows[0]!.n), subscriptions: Number(rows[0]!.distinct), total: new Decimal(rows[0]!.total).toFixed(2) }).toEqual({ invoices: count, subscriptions: count, total: '30000.00' });
    expect(report.invoices).toBe(count - invoicedBefore);
  });
});
