import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishReference } from '../contracts/reference.ts';
import type { CdrAcceptedRecord, CdrRejectedRecord } from '../contracts/records.ts';
import { BatchProducer, runBatchConsumer, type ConsumedRecord, type RunningConsumer } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import type { RunningService } from '../runtime/service.ts';
import { systemClock } from '../runtime/time.ts';
import { startIngest } from '../services/ingest/index.ts';
import { applyTopics } from '../topics/apply.ts';
import { topics, valueSubject } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { ensureJvmProducerJars, runJvmProducer, type JvmProducerRun } from './support/jvm-producer.ts';
import { numberFor, smallBrandReference } from './support/small-brand.ts';

/*
 * cdr.raw written by a producer nobody here wrote: a Java program with kafka-clients and Apicurio's
 * Avro serde (test/jvm-producer), run in each of the ways a platform team may configure it, with
 * ingest running in this process. Every CDR sent comes out once, accepted or rejected with a reason.
 */

const suffix = uniqueSuffix();
const number = numberFor(suffix);
const config = testConfig('jvm-producer');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
// The Java serde speaks the registry's own API, beside the Confluent-compatible one rateline uses.
const registryBase = config.registry.url.replace(/\/apis\/ccompat\/v\d+\/?$/, '');
const watched = [topics.cdrRaw.name, topics.cdrAccepted.name, topics.cdrRejected.name];

let libs: string;
let ingest: RunningService;
let reader: RunningConsumer;
/** What this run's sources put on cdr.raw and got out of ingest, by source. */
const raw = new Map<string, ConsumedRecord[]>();
const accepted = new Map<string, CdrAcceptedRecord[]>();
const rejected = new Map<string, CdrRejectedRecord[]>();
const add = <T>(map: Map<string, T[]>, source: string, value: T) => map.set(source, [...(map.get(source) ?? []), value]);
const sourceOf = (key: Buffer | null) => key?.toString().split('/')[0] ?? '';

async function endOffsets(): Promise<Map<string, string>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const out = new Map<string, string>();
    for (const topic of watched) for (const p of await admin.fetchTopicOffsets(topic)) out.set(`${topic}:${p.partition}`, p.high);
    return out;
  } finally {
    await admin.disconnect();
  }
}

function produce(mode: JvmProducerRun['mode'], source: string, count: number, artifactId?: string) {
  return runJvmProducer(libs, { mode, count, source, brokers: config.kafka.brokers.join(','), registryUrl: registryBase, calledNumber: number, ...(artifactId ? { artifactId } : {}) });
}

/** Waits until `count` CDRs of the source came out, then a moment more: anything extra would show up too. */
async function outcomesOf(source: string, count: number, timeoutMs = 30_000) {
  const out = () => ({ accepted: accepted.get(source) ?? [], rejected: rejected.get(source) ?? [] });
  await eventually(`${count} CDRs of ${source} accepted or rejected`, () => (out().accepted.length + out().rejected.length >= count ? true : undefined), timeoutMs);
  await new Promise((r) => setTimeout(r, 1000));
  return out();
}

const ids = (count: number) => Array.from({ length: count }, (_, i) => `jvm-${i + 1}`).sort();

beforeAll(async () => {
  libs = ensureJvmProducerJars();
  await applyTopics(kafka, serde, Object.values(topics));
  const producer = await BatchProducer.connect(kafka);
  // A brand whose usage products include LCA, so ingest accepts the usage type on a fresh stack.
  await publishReference(smallBrandReference({ brand: `jvm-${suffix}`, number }), producer, serde);
  await producer.stop();
  ingest = await startIngest(config, { kafka, serde, logger: silentLogger, clock: systemClock });
  // Read from where the topics end now, so earlier suites' records are not read at all.
  const from = await endOffsets();
  reader = await runBatchConsumer(kafka, {
    groupId: `jvm-producer-test-${suffix}`,
    topics: watched,
    fromBeginning: false,
    storedOffsets: async () => from,
    handle: async (records) => {
      const mine = records.filter((r) => sourceOf(r.key).endsWith(`-${suffix}`));
      await serde.prepare(mine.filter((r) => r.topic !== topics.cdrRaw.name).map((r) => r.value));
      for (const r of mine) {
        if (r.topic === topics.cdrRaw.name) add(raw, sourceOf(r.key), r);
        else if (r.topic === topics.cdrAccepted.name) add(accepted, sourceOf(r.key), serde.decode<CdrAcceptedRecord>(r.value!));
        else add(rejected, sourceOf(r.key), serde.decode<CdrRejectedRecord>(r.value!));
      }
    },
  });
}, 300_000);

afterAll(async () => {
  await reader?.stop();
  await ingest?.stop();
});

describe('cdr.raw from a JVM producer with Apicurio\'s Avro serde', () => {
  it('configured for the Confluent wire format with content ids: all 50 CDRs accepted, exactly as written', async () => {
    const source = `jvm-ok-${suffix}`;
    await produce('correct', source, 50);
    const { accepted: ok, rejected: bad } = await outcomesOf(source, 50);
    expect(bad).toEqual([]);
    expect(ok.map((c) => c.cdrId).sort()).toEqual(ids(50));

    // Magic byte 0, then the id the Confluent-compatible API gives this schema: what rateline decodes.
    const schemaId = await serde.lookup(valueSubject(topics.cdrRaw.name), loadSchema('cdr.raw'));
    expect(schemaId).toBeDefined();
    for (const r of raw.get(source)!) {
      expect(r.value![0]).toBe(0);
      expect(r.value!.readInt32BE(1)).toBe(schemaId);
      expect(Object.keys(r.headers).filter((h) => h.startsWith('apicurio.'))).toEqual([]);
    }
    // CDR 7 as Producer.java builds it: starts 7 minutes after 15:00 UTC, lasts 30 + 7 seconds.
    expect(ok.find((c) => c.cdrId === 'jvm-7')).toMatchObject({
      source,
      callingNumber: '+12125550123',
      calledNumber: number,
      usageType: 'LCA',
      startTime: Date.parse('2026-03-05T15:07:00Z'),
      endTime: Date.parse('2026-03-05T15:07:37Z'),
      durationSeconds: 37,
      attributes: { platform: 'jvm-producer', mode: 'correct' },
    });
  });

  it('with the serde\'s defaults (schema id in headers): each CDR rejected as not_confluent_avro, source and CDR id read from its key', async () => {
    const source = `jvm-hdr-${suffix}`;
    await produce('headers', source, 20);
    const { accepted: ok, rejected: bad } = await outcomesOf(source, 20);
    expect(ok).toEqual([]);
    expect(bad.map((r) => r.cdrId).sort()).toEqual(ids(20));
    const sent = new Map(raw.get(source)!.map((r) => [`${r.partition}:${r.offset}`, r]));
    for (const rejection of bad) {
      expect(rejection).toMatchObject({ stage: 'ingest', reason: 'not_confluent_avro', source, payloadFormat: 'bytes' });
      expect(rejection.detail).toContain('apicurio.value.globalId');
      // The payload is the record exactly as it was read, for whoever fixes the producer.
      const original = sent.get(`${rejection.origin.partition}:${rejection.origin.offset}`)!;
      expect(original.key!.toString()).toBe(`${source}/${rejection.cdrId}`);
      expect(original.value![0]).not.toBe(0);
      expect(Buffer.compare(rejection.payload, original.value!)).toBe(0);
    }
  });

  // Passes once the runtime rejects schema ids the registry does not know (unknown_schema) instead
  // of retrying them as a registry outage; until then ingest retries these records without end.
  it('writing global ids, which the Confluent-compatible API does not know: each CDR rejected as unknown_schema', { timeout: 90_000 }, async () => {
    const source = `jvm-gid-${suffix}`;
    // cdr.raw's schema under a subject of its own: a version with a new global id and the existing
    // content id, so the global id is ahead of every content id (on a fresh registry cdr.raw-value's
    // global and content ids may coincide, and the mistake would go unseen).
    const subject = `jvm-global-${suffix}-value`;
    await serde.register(subject, loadSchema('cdr.raw'));
    const meta = (await (await fetch(`${registryBase}/apis/registry/v2/groups/default/artifacts/${subject}/meta`)).json()) as { globalId: number; contentId: number };
    expect(meta.globalId).not.toBe(meta.contentId);
    expect((await fetch(`${config.registry.url}/schemas/ids/${meta.globalId}`)).status).toBe(404);

    await produce('global-id', source, 10, subject);
    await eventually('10 records on cdr.raw', () => (raw.get(source)?.length === 10 ? true : undefined), 10_000);
    for (const r of raw.get(source)!) {
      expect(r.value![0]).toBe(0);
      expect(r.value!.readInt32BE(1)).toBe(meta.globalId);
    }
    const { accepted: ok, rejected: bad } = await outcomesOf(source, 10);
    expect(ok).toEqual([]);
    expect(bad.map((r) => r.cdrId).sort()).toEqual(ids(10));
    for (const rejection of bad) expect(rejection).toMatchObject({ stage: 'ingest', reason: 'unknown_schema', source, payloadFormat: 'avro-confluent' });
  });
});
