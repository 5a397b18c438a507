import type { Kafka } from 'kafkajs';
import type { CdrRejectedRecord } from '../contracts/records.ts';
import { narrowTo } from './dead-letters.ts';
import { InvalidInputError } from './errors.ts';
import { BatchProducer, standardHeaders, type OutgoingMessage } from './kafka.ts';
import type { AvroSerde } from './serde.ts';
import { currentRanges, scanTopic, type PartitionRange } from './topic-scan.ts';
import { topics } from '../topics/catalog.ts';

/** Where a stage's rejected payload goes back in: the topic that stage consumes. */
export const rejectionInputs: Record<string, { topic: string; key: (record: Record<string, unknown>) => string }> = {
  ingest: { topic: topics.cdrRaw.name, key: (r) => `${String(r.source)}/${String(r.cdrId)}` },
  resolve: { topic: topics.cdrAccepted.name, key: (r) => `${String(r.source)}/${String(r.cdrId)}` },
  rate: { topic: topics.usageResolved.name, key: (r) => String(r.accountId) },
  drawdown: { topic: topics.usageRated.name, key: (r) => String(r.accountId) },
};

/** Which rejections on cdr.rejected to send back: by reason (and stage, source, since), or the records a person picked. */
export interface RejectionSelection {
  reason?: string;
  stage?: string;
  source?: string;
  /** Only rejections written at or after this instant (Kafka timestamp). */
  since?: number;
  /** Only these records (`<partition>:<offset>` on cdr.rejected). */
  refs?: readonly string[];
  /** Only records whose brand header is this brand (a brand's key); unset: any, including those with no brand yet. */
  brand?: string;
  dryRun?: boolean;
}

export interface RejectionRedriveReport {
  scanned: number;
  matched: number;
  /** Matching rejections that cannot go back in (a CSV line from a file job, an unreadable record): fix the source and send it again. */
  notRedrivable: number;
  republished: Record<string, number>;
  /** Each matching record, `<partition>:<offset>`, and where it went (null: not redrivable). */
  records: { ref: string; topic: string | null; reason: string }[];
}

async function rangesSince(kafka: Kafka, since: number | undefined): Promise<PartitionRange[]> {
  const ranges = await currentRanges(kafka, topics.cdrRejected.name);
  if (since === undefined) return ranges;
  const admin = kafka.admin();
  await admin.connect();
  try {
    const starts = await admin.fetchTopicOffsetsByTimestamp(topics.cdrRejected.name, since);
    return ranges.map((r) => {
      const start = starts.find((s) => s.partition === r.partition);
      const from = start && BigInt(start.offset) >= 0n ? BigInt(start.offset) : r.to;
      return { ...r, from: from > r.from ? from : r.from };
    });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Sends rejected records back to the topic of the stage that rejected them, once the cause is
 * fixed (a number assigned, a rule published). Safe to repeat: the payloads keep their event ids,
 * ingest de-duplicates on (source, CDR id) and drawdown on (event id, rating version). Records
 * that cannot be decoded are counted as not redrivable, never a reason to stop.
 */
export async function redriveRejections(kafka: Kafka, serde: AvroSerde, selection: RejectionSelection): Promise<RejectionRedriveReport> {
  if (selection.stage !== undefined && !rejectionInputs[selection.stage]) throw new InvalidInputError('invalid_parameters', `--stage must be one of ${Object.keys(rejectionInputs).join(', ')}`);
  if (selection.reason === undefined && selection.refs === undefined) throw new InvalidInputError('invalid_parameters', 'name the rejections to redrive: a reason or the records');
  const report: RejectionRedriveReport = { scanned: 0, matched: 0, notRedrivable: 0, republished: {}, records: [] };
  const out: Record<string, OutgoingMessage[]> = {};
  const ranges = narrowTo(await rangesSince(kafka, selection.since), selection.refs);
  report.scanned = await scanTopic(
    kafka,
    topics.cdrRejected.name,
    async (records) => {
      await serde.prepare(records.map((r) => r.value)).catch(() => undefined);
      for (const record of records) {
        const ref = `${record.partition}:${record.offset}`;
        if (selection.refs && !selection.refs.includes(ref)) continue;
        if (selection.brand !== undefined && record.headers.brand !== selection.brand) continue;
        let rejection: CdrRejectedRecord;
        try {
          rejection = serde.decode<CdrRejectedRecord>(record.value, 'cdr.rejected');
        } catch {
          if (selection.refs) {
            report.matched++;
            report.notRedrivable++;
            report.records.push({ ref, topic: null, reason: 'unreadable' });
          }
          continue;
        }
        if ((selection.reason !== undefined && rejection.reason !== selection.reason) || (selection.stage && rejection.stage !== selection.stage) || (selection.source && rejection.source !== selection.source)) continue;
        report.matched++;
        const target = rejectionInputs[rejection.stage];
        let original: Record<string, unknown> | undefined;
        if (target && rejection.payloadFormat === 'avro-confluent') {
          try {
            await serde.prepare([rejection.payload]);
            original = serde.decode<Record<string, unknown>>(rejection.payload);
          } catch {
            original = undefined;
          }
        }
        if (!target || !original) {
          report.notRedrivable++;
          report.records.push({ ref, topic: null, reason: rejection.reason });
          continue;
        }
        report.records.push({ ref, topic: target.topic, reason: rejection.reason });
        (out[target.topic] ??= []).push({ key: target.key(original), value: rejection.payload, headers: standardHeaders({ eventId: String(original.eventId ?? original.cdrId) }) });
      }
    },
    ranges,
  );
  for (const [t, messages] of Object.entries(out)) report.republished[t] = messages.length;
  if (!selection.dryRun && Object.keys(out).length > 0) {
    const producer = await BatchProducer.connect(kafka);
    try {
      await producer.send(out);
    } finally {
      await producer.stop();
    }
  }
  return report;
}
