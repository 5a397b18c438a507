import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import { loadReferenceFile, ReferenceTables, type ReferenceData } from '../domain/reference/index.ts';
import { cdrEventId } from '../domain/cdr/index.ts';
import { ratePipeline, type AcceptedCdr } from '../domain/mediation/index.ts';
import { publishReference } from '../contracts/reference.ts';
import type { CdrRawRecord, CdrRejectedRecord, UsageChargedRecord } from '../contracts/records.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, topics, valueSubject } from '../topics/catalog.ts';
import { BatchProducer, runBatchConsumer, standardHeaders, startGroupAtEnd, type ConsumedRecord } from '../runtime/kafka.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import { silentLogger } from '../runtime/log.ts';
import { systemClock } from '../runtime/time.ts';
import { startPipeline } from '../services/all.ts';
import type { RunningService } from '../runtime/service.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { withRunSuffix } from '../cli/pipeline-demo.ts';

const source = `smoke-${uniqueSuffix()}`;
let reference: ReferenceData;
let pipeline: RunningService;
const config = testConfig('pipeline-smoke');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);

beforeAll(async () => {
  const loaded = await loadReferenceFile('domain/reference/fixtures/sample-reference.json');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.error));
  // Accounts and subscriptions of this run only: earlier runs' usage does not drain its buckets.
  reference = withRunSuffix(loaded.value, source);
  await applyTopics(kafka, serde, allTopics(reference.brands.map((b) => b.code)));
  const producer = await BatchProducer.connect(kafka);
  await publishReference(reference, producer, serde);
  await producer.stop();
  pipeline = await startPipeline(config, { kafka, serde, logger: silentLogger, clock: systemClock });
});

afterAll(async () => {
  await pipeline?.stop();
});

function call(i: number, calledNumber: string, startIso: string, seconds: number, usageType = 'LCA'): CdrRawRecord {
  const start = Date.parse(startIso);
  return { source, cdrId: `c${i}`, callingNumber: '+12125550123', calledNumber, usageType, startTime: start, endTime: start + seconds * 1000, durationSeconds: seconds, attributes: {}, receivedAt: null };
}

describe('the mediation pipeline, smoke', () => {
  it('charges good CDRs exactly as the pure chain does and rejects the rest with reasons', async () => {
    const cdrs: CdrRawRecord[] = [
      call(1, '+18005550100', '2026-03-05T15:00:00Z', 95),
      call(2, '+1 (800) 555-0101', '2026-03-05T15:10:00Z', 31), // normalised by ingest
      call(3, '+18005550199', '2026-03-20T15:59:59Z', 61), // before the reassignment: acct-us-1001
      call(4, '+18005550199', '2026-03-20T16:00:00Z', 61), // at it: acct-us-1002
      call(5, '+448005550100', '2026-03-05T12:00:00Z', 300, 'CHAT'),
      call(6, '+18665550100', '2026-03-05T14:00:00Z', 29),
      call(7, '+18005559999', '2026-03-05T15:00:00Z', 60), // nobody's number
      call(8, 'not-a-number', '2026-03-05T15:00:00Z', 60),
      call(1, '+18005550100', '2026-03-05T15:00:00Z', 95), // a duplicate of c1
    ];
    // The reader starts at the outputs' current end: every earlier suite's records are not read.
    const readerGroup = `smoke-reader-${uniqueSuffix()}`;
    await startGroupAtEnd(kafka, readerGroup, [topics.usageCharged.name, topics.cdrRejected.name]);
    const producer = await BatchProducer.connect(kafka);
    const encode = serde.encoder<CdrRawRecord>(await serde.register(valueSubject(topics.cdrRaw.name), loadSchema('cdr.raw')));
    await producer.send({ [topics.cdrRaw.name]: cdrs.map((c) => ({ key: `${c.source}/${c.cdrId}`, value: encode(c), headers: standardHeaders({ eventId: c.cdrId }) })) });
    await producer.stop();

    const charged = new Map<string, UsageChargedRecord>();
    const rejected: CdrRejectedRecord[] = [];
    const collect = async (records: ConsumedRecord[]) => {
      await serde.prepare(records.map((r) => r.value));
      for (const r of records) {
        if (r.topic === topics.usageCharged.name) {
          const usage = serde.decode<UsageChargedRecord>(r.value!);
          if (usage.source === source) charged.set(usage.eventId, usage);
        } else {
          const rejection = serde.decode<CdrRejectedRecord>(r.value!);
          if (rejection.source === source || rejection.detail.includes(source)) rejected.push(rejection);
        }
      }
    };
    const reader = await runBatchConsumer(kafka, { groupId: readerGroup, topics: [topics.usageCharged.name, topics.cdrRejected.name], handle: collect });
    await eventually('6 charged and 3 rejected', () => (charged.size === 6 && rejected.length >= 3 ? true : undefined), 90_000).catch((error: Error) => {
      throw new Error(`${error.message}: charged ${[...charged.values()].map((c) => c.cdrId).sort().join(', ') || 'none'}; rejected ${rejected.map((r) => `${r.stage}:${r.reason}:${r.cdrId}`).join(', ') || 'none'}`);
    });
    await reader.stop();

    expect(rejected.map((r) => `${r.stage}:${r.reason}:${r.cdrId}`).sort()).toEqual(['ingest:duplicate_cdr:c1', 'ingest:invalid_number:c8', 'resolve:unresolved_number:c7']);
    expect(charged.get(cdrEventId(source, 'c3'))!.accountId).toBe(`acct-us-1001-${source}`);
    expect(charged.get(cdrEventId(source, 'c4'))!.accountId).toBe(`acct-us-1002-${source}`);

    // The services produce what the pure chain produces over the same accepted CDRs.
    const accepted: AcceptedCdr[] = cdrs.slice(0, 6).map((c) => ({ ...c, calledNumber: c.calledNumber.replace(/[^+\d]/g, ''), eventId: cdrEventId(c.source, c.cdrId), origin: { topic: null, partition: null, offset: null, file: null, line: null }, acceptedAt: 0 }));
    const expected = ratePipeline(accepted, ReferenceTables.fromData(reference));
    for (const want of expected.charged) {
      const got = charged.get(want.eventId)!;
      expect({ id: got.eventId, billable: got.billableSeconds, included: got.includedSeconds, overage: got.overageSeconds, amount: new Decimal(got.amount).toFixed(6) }).toEqual({
        id: want.eventId, billable: want.billableSeconds, included: want.includedSeconds, overage: want.overageSeconds, amount: want.amount.toFixed(6),
      });
    }
  });
});
