import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControllableClock } from '../domain/billrun/index.ts';
import { cdrEventId } from '../domain/cdr/index.ts';
import { publishReference } from '../contracts/reference.ts';
import type { CdrAcceptedRecord, CdrRawRecord, CdrRejectedRecord } from '../contracts/records.ts';
import { createDb } from '../runtime/db.ts';
import { BatchProducer, runBatchConsumer, standardHeaders, type RunningConsumer } from '../runtime/kafka.ts';
import { createLogger } from '../runtime/log.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import { startIngest, type RunningIngest } from '../services/ingest/index.ts';
import type { PruneReport } from '../services/ingest/dedupe-window.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, topics, valueSubject } from '../topics/catalog.ts';
import { smallBrandReference } from './support/small-brand.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// Years before every other suite's calls (2026), so that this suite's prunes forget only its own rows.
const T0 = Date.parse('2020-01-15T00:00:00.000Z');

const suffix = uniqueSuffix();
const source = `window-${suffix}`;
const config = testConfig('ingest-dedupe-window');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const clock = new ControllableClock(T0);
const logLines: Record<string, unknown>[] = [];
let ingest: RunningIngest;
let db: Knex;
let reader: RunningConsumer;
const accepted = new Map<string, CdrAcceptedRecord[]>();
const rejected: CdrRejectedRecord[] = [];

const call = (cdrId: string, start: number): CdrRawRecord => ({
  source, cdrId, callingNumber: '+12125550123', calledNumber: '+18005550100', usageType: 'LCA',
  startTime: start, endTime: start + 60_000, durationSeconds: 60, attributes: {}, receivedAt: null,
});

async function produce(cdrs: CdrRawRecord[]): Promise<void> {
  const encode = serde.encoder<CdrRawRecord>(await serde.register(valueSubject(topics.cdrRaw.name), loadSchema('cdr.raw')));
  const producer = await BatchProducer.connect(kafka);
  try {
    await producer.send({ [topics.cdrRaw.name]: cdrs.map((c) => ({ key: `${c.source}/${c.cdrId}`, value: encode(c), headers: standardHeaders({ eventId: cdrEventId(c.source, c.cdrId) }) })) });
  } finally {
    await producer.stop();
  }
}

const acceptedCount = () => [...accepted.values()].reduce((n, list) => n + list.length, 0);
const outcomes = (want: number) => eventually(`${want} outcomes of ${source}`, () => (acceptedCount() + rejected.length >= want ? true : undefined), 30_000);
const reasons = () => rejected.map((r) => `${r.reason}:${r.cdrId}`).sort();
const seenRows = async () => ((await db('ingest.seen_cdrs').where({ source }).orderBy('cdr_id').select('cdr_id', 'start_time')) as { cdr_id: string; start_time: Date }[]).map((r) => `${r.cdr_id}@${r.start_time.toISOString()}`);
const prunedMetric = async () => Number(/^rateline_dedupe_pruned_total\{[^}]*\} (\d+)$/m.exec(await (await fetch(`${ingest.url}/metrics`)).text())?.[1]);
const postPrune = async () => {
  const response = await fetch(`${ingest.url}/dedupe-prunes`, { method: 'POST' });
  expect(response.status).toBe(200);
  return (await response.json()) as PruneReport;
};

beforeAll(async () => {
  const reference = smallBrandReference({ brand: `dw${suffix}`, number: '+18005550100', assigned: false });
  await applyTopics(kafka, serde, allTopics([]));
  const producer = await BatchProducer.connect(kafka);
  await publishReference(reference, producer, serde);
  await producer.stop();

  // Outputs from here on: the shared topics hold other suites' records too.
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<string, string>();
  for (const topic of [topics.cdrAccepted.name, topics.cdrRejected.name]) {
    for (const p of await admin.fetchTopicOffsets(topic)) ends.set(`${topic}:${p.partition}`, p.high);
  }
  await admin.disconnect();
  reader = await runBatchConsumer(kafka, {
    groupId: `dedupe-window-reader-${suffix}`,
    topics: [topics.cdrAccepted.name, topics.cdrRejected.name],
    storedOffsets: async () => ends,
    handle: async (records) => {
      await serde.prepare(records.map((r) => r.value));
      for (const r of records) {
        if (r.topic === topics.cdrAccepted.name) {
          const cdr = serde.decode<CdrAcceptedRecord>(r.value!);
          if (cdr.source === source) accepted.set(cdr.eventId, [...(accepted.get(cdr.eventId) ?? []), cdr]);
        } else {
          const rejection = serde.decode<CdrRejectedRecord>(r.value!);
          if (rejection.source === source) rejected.push(rejection);
        }
      }
    },
  });

  db = createDb(config.postgres);
  const logger = createLogger({}, 'info', (line) => logLines.push(JSON.parse(line) as Record<string, unknown>));
  // An empty environment: the documented defaults (45 days, hourly), whatever the suite sets.
  ingest = await startIngest(config, { kafka, serde, logger, clock }, { env: {} });
});

afterAll(async () => {
  await ingest?.stop();
  await reader?.stop();
  await db?.destroy();
});

describe('ingest de-duplication window', () => {
  it('rejects CDRs older than the window, prunes past it, and never accepts a CDR twice', async () => {
    // At T0 = 2020-01-15T00:00Z the 45-day window starts at 2019-12-01T00:00Z (14 days to
    // 01-01, 31 more).
    const a = call('a', T0 - DAY); // 2020-01-14T00:00Z
    const b = call('b', T0 - 45 * DAY - 1); // one ms before the window
    const c = call('c', T0 - 45 * DAY); // exactly at its edge: inside
    const d = call('d', T0 - DAY + HOUR); // 2020-01-14T01:00Z: where the later prune stops
    await produce([a, a, b, c, d]);
    await outcomes(5);
    expect([...accepted.keys()].sort()).toEqual([a, c, d].map((x) => cdrEventId(source, x.cdrId)).sort());
    expect(reasons()).toEqual(['duplicate_cdr:a', 'outside_dedupe_window:b']);
    expect(rejected.find((r) => r.cdrId === 'b')!.detail).toBe(
      'started 2019-11-30T23:59:59.999Z, before 2019-12-01T00:00:00.000Z: ingest de-duplicates over a window of 45 days, so an older CDR cannot be told from one already accepted',
    );
    expect(await seenRows()).toEqual(['a@2020-01-14T00:00:00.000Z', 'c@2019-12-01T00:00:00.000Z', 'd@2020-01-14T01:00:00.000Z']);

    // A prune now forgets nothing of this run: its cut-off is the window's edge less an hour.
    expect((await postPrune()).before).toBe('2019-11-30T23:00:00.000Z');
    expect(await seenRows()).toHaveLength(3);
    const prunedBefore = await prunedMetric();

    // 44 days 2 hours on: 2020-02-28T02:00Z. The window starts at 2020-01-14T02:00Z; the prune
    // forgets what started before 2020-01-14T01:00Z: a and c, not d (at the cut-off itself).
    clock.advance(44 * DAY + 2 * HOUR);
    const report = await postPrune();
    expect(report.before).toBe('2020-01-14T01:00:00.000Z');
    expect(report.pruned).toBeGreaterThanOrEqual(2);
    expect(await seenRows()).toEqual(['d@2020-01-14T01:00:00.000Z']);
    expect((await prunedMetric()) - prunedBefore).toBe(report.pruned);
    expect(logLines.filter((l) => l.msg === 'dedupe prune' && l.level === 'info').at(-1)).toMatchObject({ before: report.before, pruned: report.pruned, windowDays: 45 });

    // a, sent again after its row was forgotten, is outside the window, not accepted again; so
    // is d, whose row is kept; a new call is accepted.
    const e = call('e', clock.now() - 60_000);
    await produce([a, d, e]);
    await outcomes(8);
    expect(reasons()).toEqual(['duplicate_cdr:a', 'outside_dedupe_window:a', 'outside_dedupe_window:b', 'outside_dedupe_window:d']);
    expect(rejected.find((r) => r.cdrId === 'a' && r.reason === 'outside_dedupe_window')!.detail).toMatch(/^started 2020-01-14T00:00:00\.000Z, before 2020-01-14T02:00:00\.000Z: .* window of 45 days/);
    expect([...accepted.values()].map((list) => `${list[0]!.cdrId}x${list.length}`).sort()).toEqual(['ax1', 'cx1', 'dx1', 'ex1']);
    expect(await seenRows()).toEqual(['d@2020-01-14T01:00:00.000Z', `e@${new Date(e.startTime).toISOString()}`]);

    // Counts in = counts out: 8 CDRs, 4 accepted and 4 rejected, nothing late or extra.
    await new Promise((r) => setTimeout(r, 500));
    expect(acceptedCount() + rejected.length).toBe(8);
  });
});
