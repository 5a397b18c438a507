import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { ControllableClock } from '../domain/billrun/index.ts';
import { publishReference } from '../contracts/reference.ts';
import { createDb, inTransaction } from '../runtime/db.ts';
import { BatchProducer } from '../runtime/kafka.ts';
import { createLogger, silentLogger } from '../runtime/log.ts';
import { createOutboxTable, enqueue, startOutboxRelay, type OutboxEvent, type OutboxRelay } from '../runtime/outbox.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { startAgeing, type LifecycleRecord, type RunningAgeing } from '../services/ageing/index.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, topics } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, testTopic, uniqueSuffix } from './helpers.ts';
import { collectReference, invoiceEvent, publishInvoices, readAll, type BrandSpec } from './support/collect-fixtures.ts';

const suffix = uniqueSuffix();
const config = testConfig('outbox-test');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const db = createDb(config.postgres, { poolMax: 12 });

afterAll(async () => {
  await db.destroy();
});

/** Every record on `topic` with this brand, per key in offset order (a key lives on one partition). */
async function byKey(topic: string, brand: string): Promise<{ ids: string[]; keys: Map<string, LifecycleRecord[]> }> {
  const records = (await readAll<LifecycleRecord>(kafka, serde, [topic])).filter((r) => r.headers.brand === brand);
  const keys = new Map<string, LifecycleRecord[]>();
  for (const r of records) keys.set(r.value.accountId, [...(keys.get(r.value.accountId) ?? []), r.value]);
  return { ids: records.map((r) => r.headers['event-id']!), keys };
}

describe('runtime/outbox: two relays over one table', () => {
  const schema = `outbox_test_${suffix.replace(/-/g, '_')}`;
  const topic = testTopic('outbox', { partitions: 6, schema: 'account.lifecycle' });
  const brand = `outbox-${suffix}`;
  const relayDbs: Knex[] = [];
  const relays: OutboxRelay[] = [];
  const logLines: string[] = [];
  const logger = createLogger({ test: 'outbox' }, 'warn', (line) => logLines.push(line));

  beforeAll(async () => {
    await db.raw('create schema ??', [schema]);
    await createOutboxTable(db, schema);
    await applyTopics(kafka, serde, [topic]);
  });

  afterAll(async () => {
    for (const relay of relays) await relay.stop();
    for (const d of relayDbs) await d.destroy();
    await db.raw('drop schema if exists ?? cascade', [schema]);
  });

  const event = (key: string, seq: number): OutboxEvent => ({
    topic: topic.name,
    schema: 'account.lifecycle',
    key,
    eventId: `${key}:${seq}`,
    brand,
    // effectiveAt carries the key's sequence number: its order on the topic is the check.
    payload: { eventId: `${key}:${seq}`, brand, accountId: key, subscriptionId: null, action: 'outbox_test', reason: `seq_${seq}`, invoiceId: null, effectiveAt: seq },
  });

  it('publishes 2,000 events from 8 concurrent writers exactly once, each key in order: a backlog both relays start on, then live writes while one relay stops', async () => {
    const WRITERS = 8;
    const PER_WRITER = 250;
    const KEYS = 3;
    let written = 0;
    let stoppedFirst: Promise<void> | undefined;
    // Each writer owns 3 keys and writes transactions of 1 to 10 rows one after another, as a
    // service writes one account's events.
    const writers = Array.from({ length: WRITERS }, (_, w) => {
      const keys = Array.from({ length: KEYS }, (_, k) => `acct-${w}-${k}`);
      const next = new Map(keys.map((k) => [k, 0]));
      let n = 0;
      let round = 0;
      return async (upTo: number) => {
        while (n < upTo) {
          const size = Math.min(upTo - n, ((w * 7 + round * 3) % 10) + 1);
          const batch: OutboxEvent[] = [];
          for (let i = 0; i < size; i += 1) {
            const key = keys[(round + i) % keys.length]!;
            batch.push(event(key, next.get(key)!));
            next.set(key, next.get(key)! + 1);
          }
          await inTransaction(db, (trx) => enqueue(trx, schema, batch));
          n += size;
          round += 1;
          written += size;
          // The first relay goes away during the live writes (a replica shut down); the other carries on.
          if (written >= (WRITERS * PER_WRITER * 3) / 4) stoppedFirst ??= relays[0]!.stop();
        }
      };
    });
    // A backlog first, which both relays start on at once: slices of it race to the broker
    // unless one relay claims at a time.
    await Promise.all(writers.map((write) => write(PER_WRITER / 2)));
    const started = await Promise.all(
      [0, 1].map((i) => {
        relayDbs[i] = createDb(config.postgres);
        // A stop that has to abandon its claim re-sends it by design; this test wants the clean
        // stop's guarantee, so it gives the stop time even on a loaded machine.
        return startOutboxRelay({ db: relayDbs[i]!, schema, kafka, serde, logger, pollMs: 200, batchSize: 20, stopTimeoutMs: 60_000 });
      }),
    );
    relays.push(...started);
    await Promise.all(writers.map((write) => write(PER_WRITER)));
    await stoppedFirst;
    await relays[1]!.drain();

    expect(logLines).toEqual([]);
    const [pending] = await db(`${schema}.outbox`).whereNull('published_at').count({ n: '*' });
    expect(Number(pending!.n)).toBe(0);
    const { ids, keys } = await byKey(topic.name, brand);
    expect(ids).toHaveLength(WRITERS * PER_WRITER);
    expect(new Set(ids).size).toBe(WRITERS * PER_WRITER);
    expect(keys.size).toBe(WRITERS * KEYS);
    for (const [key, records] of keys) {
      expect(
        records.map((r) => r.effectiveAt),
        key,
      ).toEqual(records.map((_, i) => i));
    }
  });

  it('wakes a relay when the transaction commits; enqueues an event id once; refuses a payload that does not fit its schema in the transaction that made it', async () => {
    // Only the commit can bring this relay round: it polls once an hour.
    for (const relay of relays) await relay.stop();
    relays.push(await startOutboxRelay({ db: relayDbs[0]!, schema, kafka, serde, logger, pollMs: 3_600_000 }));
    await inTransaction(db, (trx) => enqueue(trx, schema, [event('woken', 0)]));
    await eventually('the woken relay published', async () => ((await db(`${schema}.outbox`).where('event_id', 'woken:0').first())?.published_at ? true : undefined));

    const first = await inTransaction(db, (trx) => enqueue(trx, schema, [event('again', 0)]));
    const second = await inTransaction(db, (trx) => enqueue(trx, schema, [event('again', 0), event('again', 1)]));
    expect([first, second]).toEqual([1, 1]);

    const bad = { ...event('bad', 0), payload: { ...(event('bad', 0).payload as object), effectiveAt: 'yesterday', action: null } };
    const refused = inTransaction(db, async (trx) => {
      await enqueue(trx, schema, [event('bad', 1)]);
      await enqueue(trx, schema, [bad]);
    });
    await expect(refused).rejects.toMatchObject({ code: 'invalid_outbox_event', details: { problems: ['action: null', 'effectiveAt: "yesterday"'] } });
    expect(await db(`${schema}.outbox`).where('msg_key', 'bad').count({ n: '*' })).toEqual([{ n: '0' }]);
  });
});

describe('ageing: two instances on one database', () => {
  const brand: BrandSpec = {
    code: `ob${suffix}`,
    gateway: 'stripe',
    currency: 'USD',
    timeZone: 'America/New_York',
    country: 'US',
    retryDays: [1],
    // Steps the catalogue's dunning listener passes over at once, so later suites reading
    // account.lifecycle on the same stack pay little for these events.
    steps: [
      { afterDays: 3, action: 'reminder' },
      { afterDays: 30, action: 'write_off' },
    ],
  };
  const ACCOUNTS = 300;
  const DAY = 86_400_000;
  const DUE = Date.parse('2026-01-05T17:00:00Z'); // noon in New York
  const clock = new ControllableClock(DUE);
  const instances: RunningAgeing[] = [];

  afterAll(async () => {
    for (const instance of instances) await instance.stop();
  });

  it('publishes every dunning step of 300 accounts once and in step order while both run at once, on two days', async () => {
    await applyTopics(kafka, serde, allTopics([brand.code]));
    const producer = await BatchProducer.connect(kafka);
    await publishReference(collectReference([brand], []), producer, serde);
    await producer.stop();
    const accountId = (i: number) => `ob-${suffix}-${i}`;
    await publishInvoices(
      kafka,
      serde,
      Array.from({ length: ACCOUNTS }, (_, i) => invoiceEvent({ invoiceId: `inv-${suffix}-${i}`, brand: brand.code, accountId: accountId(i), currency: 'USD', total: '20.00', issuedAt: DUE, dueAt: DUE })),
    );
    const options = { intervalMs: 0, topicPattern: new RegExp(`^brand\\.${brand.code}\\.invoices$`), groupId: `ageing-${suffix}` };
    for (let i = 0; i < 2; i += 1) instances.push(await startAgeing(config, { kafka, serde, logger: silentLogger, clock }, options));
    await eventually('both instances stored every invoice', async () => {
      const [row] = await db('ageing.invoices').where({ brand: brand.code }).count({ n: '*' });
      return Number(row!.n) === ACCOUNTS ? true : undefined;
    });

    // Day 5: reminders; day 35: write-offs. Each day both run at once.
    for (const day of [5, 35]) {
        clock.set(DUE + day * DAY);
      const reports = await Promise.all(instances.map((a) => a.runNow(brand.code)));
      // Both aged this brand's accounts and no other's; whichever committed a step first wrote it,
      // the other wrote nothing new.
      expect(reports.map((r) => r.brands[0]!.accounts), JSON.stringify(reports)).toEqual([ACCOUNTS, ACCOUNTS]);
    }
    await Promise.all(instances.map((a) => a.flush()));

    const { ids, keys } = await byKey(topics.accountLifecycle.name, brand.code);
    expect(ids).toHaveLength(2 * ACCOUNTS);
    expect(new Set(ids).size).toBe(2 * ACCOUNTS);
    expect(keys.size).toBe(ACCOUNTS);
    for (let i = 0; i < ACCOUNTS; i += 1) {
      expect(keys.get(accountId(i))!.map((r) => [r.action, r.reason])).toEqual([
        ['reminder_sent', 'invoice_overdue_5_days'],
        ['written_off', 'invoice_overdue_35_days'],
      ]);
    }
    const metrics = await (await fetch(`${instances[0]!.url}/metrics`)).text();
    expect(metrics).toMatch(/^rateline_outbox_pending\{service="ageing"\} 0$/m);
  });
});
