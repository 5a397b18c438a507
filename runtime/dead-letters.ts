/**
 * ops.dead-letter: list, show and redrive (once each, marked on ops.dead-letter.redriven). Shared by
 * the `rateline dlq` command and the services that offer a redrive over HTTP.
 */
import type { IHeaders, Kafka, Message, Producer } from 'kafkajs';
import { Decimal } from 'decimal.js';
import { InvalidInputError, RatelineError } from './errors.ts';
import { cachedDefaultPartitioner } from './kafka.ts';
import type { AvroSerde } from './serde.ts';
import { currentRanges, scanTopic, type PartitionRange, type RawRecord } from './topic-scan.ts';
import { applyTopics } from '../topics/apply.ts';
import { topics } from '../topics/catalog.ts';

export const DLQ = topics.deadLetter.name;
export const REDRIVEN = topics.deadLetterRedriven.name;
/** One id for every redrive: starting one fences (aborts) any other still sending. */
const REDRIVE_TRANSACTIONAL_ID = 'rateline-dlq-redrive';
/** Per transaction; under the broker's 1 MB record batch. */
const TRANSACTION_LIMIT = { records: 500, bytes: 900_000 };
export const PREVIEW_BYTES = 256;

/** A dead-lettered record with the origin and error its dlq-* headers carry. */
export interface DeadLetter {
  /** `<partition>:<offset>` on ops.dead-letter: what `show` takes and what marks it redriven. */
  ref: string;
  /** When it was dead-lettered: the dlq-at header, else the record's Kafka timestamp. */
  at: number;
  atFrom: 'dlq-at' | 'timestamp';
  service: string;
  /** The topic it was consumed from and goes back to; empty when the header is missing. */
  topic: string;
  sourcePartition: string;
  sourceOffset: string;
  code: string;
  message: string;
  record: RawRecord;
}

export interface DlqFilter {
  service?: string;
  code?: string;
  topic?: string;
  /** Dead-lettered at or after (epoch ms). */
  since?: number;
  /** Dead-lettered before (epoch ms). */
  until?: number;
  /** At most this many records, oldest first. */
  limit?: number;
  /** Only these records (`<partition>:<offset>`), as a person picked them. */
  refs?: readonly string[];
}

/** Reports how far a long read or send has come (a progress bar on a terminal). */
export type Progress = (phase: 'read' | 'send', done: number, total: number) => void;

function toDeadLetter(record: RawRecord): DeadLetter {
  const h = record.headers;
  const stamped = /^\d+$/.test(h['dlq-at'] ?? '');
  return {
    ref: `${record.partition}:${record.offset}`,
    at: stamped ? Number(h['dlq-at']) : record.timestamp,
    atFrom: stamped ? 'dlq-at' : 'timestamp',
    service: h['dlq-service'] ?? '',
    topic: h['dlq-topic'] ?? '',
    sourcePartition: h['dlq-partition'] ?? '',
    sourceOffset: h['dlq-offset'] ?? '',
    code: h['dlq-error-code'] ?? '',
    message: h['dlq-error-message'] ?? '',
    record,
  };
}

const matches = (d: DeadLetter, f: DlqFilter) =>
  (f.service === undefined || d.service === f.service) &&
  (f.code === undefined || d.code === f.code) &&
  (f.topic === undefined || d.topic === f.topic) &&
  (f.since === undefined || d.at >= f.since) &&
  (f.until === undefined || d.at < f.until) &&
  (f.refs === undefined || f.refs.includes(d.ref));

/**
 * Only the stretch of each partition that holds the picked records, when records were picked (the
 * filter then keeps just those): a few reads, not the whole topic. One range per partition, as
 * scanTopic takes them.
 */
export function narrowTo(ranges: PartitionRange[], refs: readonly string[] | undefined): PartitionRange[] {
  if (refs === undefined) return ranges;
  const out = new Map<number, PartitionRange>();
  for (const ref of refs) {
    const parsed = /^(\d+):(\d+)$/.exec(ref);
    const range = parsed && ranges.find((r) => r.partition === Number(parsed[1]));
    if (!parsed || !range) continue;
    const offset = BigInt(parsed[2]!);
    if (offset < range.from || offset >= range.to) continue;
    const seen = out.get(range.partition);
    out.set(range.partition, seen ? { partition: range.partition, from: seen.from < offset ? seen.from : offset, to: seen.to > offset + 1n ? seen.to : offset + 1n } : { partition: range.partition, from: offset, to: offset + 1n });
  }
  return [...out.values()];
}

/** Every dead-letter record present now that passes the filter (its limit aside), oldest first. */
async function readDeadLetters(kafka: Kafka, filter: DlqFilter, progress?: Progress): Promise<{ scanned: number; matched: DeadLetter[] }> {
  const ranges = narrowTo(await currentRanges(kafka, DLQ), filter.refs);
  const total = ranges.reduce((n, r) => n + Number(r.to - r.from), 0);
  const matched: DeadLetter[] = [];
  let scanned = 0;
  await scanTopic(
    kafka,
    DLQ,
    (records) => {
      scanned += records.length;
      progress?.('read', scanned, total);
      for (const record of records) {
        const d = toDeadLetter(record);
        if (matches(d, filter)) matched.push(d);
      }
    },
    ranges,
  );
  matched.sort((a, b) => a.at - b.at || a.record.partition - b.record.partition || Number(BigInt(a.record.offset) - BigInt(b.record.offset)));
  return { scanned, matched };
}

/** The dead-letter records already sent back; none while the bookkeeping topic does not exist. */
async function redrivenRefs(kafka: Kafka): Promise<Set<string>> {
  const refs = new Set<string>();
  const ranges = await currentRanges(kafka, REDRIVEN).catch((err: unknown) => {
    if (err instanceof RatelineError && err.code === 'unknown_topic') return [];
    throw err;
  });
  await scanTopic(
    kafka,
    REDRIVEN,
    (records) => {
      for (const r of records) {
        const ref = r.key?.toString();
        // A tombstone takes the mark away: that record may be redriven again.
        if (ref !== undefined) r.value === null ? refs.delete(ref) : refs.add(ref);
      }
    },
    ranges,
  );
  return refs;
}

export interface DlqListing {
  scanned: number;
  matched: number;
  /** The first `limit` of the matching records, oldest first. */
  records: (DeadLetter & { redriven: boolean })[];
  /** Matching records by service, then error code. */
  counts: Record<string, Record<string, number>>;
}

export async function listDeadLetters(kafka: Kafka, filter: DlqFilter, progress?: Progress): Promise<DlqListing> {
  const [{ scanned, matched }, redriven] = await Promise.all([readDeadLetters(kafka, filter, progress), redrivenRefs(kafka)]);
  const counts: Record<string, Record<string, number>> = {};
  for (const d of matched) {
    const byCode = (counts[d.service] ??= {});
    byCode[d.code] = (byCode[d.code] ?? 0) + 1;
  }
  const shown = matched.slice(0, filter.limit ?? matched.length);
  return { scanned, matched: matched.length, records: shown.map((d) => ({ ...d, redriven: redriven.has(d.ref) })), counts };
}

/** The first bytes as text and as hex, bounded. */
export interface Preview {
  size: number;
  utf8: string;
  hex: string;
}

export type PayloadView = { decoded: true; size: number; schemaId: number; value: unknown } | ({ decoded: false; reason: string } & Preview);

function preview(bytes: Buffer): Preview {
  const head = bytes.subarray(0, PREVIEW_BYTES);
  // Control characters and invalid UTF-8 as dots, as a hex dump's text column shows them.
  const utf8 = head.toString('utf8').replace(/[\u0000-\u001f\u007f\ufffd]/g, '.');
  return { size: bytes.length, utf8, hex: head.toString('hex').replace(/(..)(?=.)/g, '$1 ') };
}

const undecoded = (bytes: Buffer, reason: string): PayloadView => ({ decoded: false, reason, ...preview(bytes) });

/** Decodes Confluent-framed Avro through the registry, or says why it cannot and gives a preview. */
export async function describePayload(serde: AvroSerde, bytes: Buffer): Promise<PayloadView> {
  if (bytes.length < 5 || bytes[0] !== 0) return undecoded(bytes, 'not Confluent Avro: it does not start with the magic byte 0 and a 4-byte schema id');
  const schemaId = bytes.readInt32BE(1);
  try {
    await serde.prepare([bytes]);
  } catch (err) {
    const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
    return undecoded(bytes, `schema id ${schemaId} could not be fetched from the registry (${cause})`);
  }
  try {
    return { decoded: true, size: bytes.length, schemaId, value: serde.decode(bytes) };
  } catch (err) {
    return undecoded(bytes, (err as Error).message);
  }
}

/** JSON with decimals as exact strings and bytes as hex. */
export function payloadJson(value: unknown): string {
  return JSON.stringify(
    value,
    function (this: Record<string, unknown>, key: string, v: unknown) {
      const original = this[key];
      if (Decimal.isDecimal(original)) return (original as Decimal).toFixed();
      if (Buffer.isBuffer(original)) return original.toString('hex');
      return typeof v === 'bigint' ? v.toString() : v;
    },
    2,
  );
}

export interface DlqShown {
  deadLetter: DeadLetter;
  redriven: boolean;
  key: Preview | null;
  value: PayloadView | null;
}

export async function showDeadLetter(kafka: Kafka, serde: AvroSerde, ref: string): Promise<DlqShown> {
  const parsed = /^(\d+):(\d+)$/.exec(ref);
  if (!parsed) throw new InvalidInputError('invalid_parameters', `dlq show takes <partition>:<offset> as dlq list prints it, e.g. 1:42 (got "${ref}")`);
  const [partition, offset] = [Number(parsed[1]), BigInt(parsed[2]!)];
  const range = (await currentRanges(kafka, DLQ)).find((r) => r.partition === partition);
  if (!range || offset < range.from || offset >= range.to) {
    const held = range ? (range.to > range.from ? `partition ${partition} holds offsets ${range.from} to ${range.to - 1n}` : `partition ${partition} is empty`) : `partition ${partition} does not exist`;
    throw new InvalidInputError('not_found', `${DLQ} has no record at ${ref}: ${held}`);
  }
  const found: RawRecord[] = [];
  const [redriven] = await Promise.all([redrivenRefs(kafka), scanTopic(kafka, DLQ, (records) => void found.push(...records), [{ partition, from: offset, to: offset + 1n }])]);
  if (!found[0]) throw new InvalidInputError('not_found', `${DLQ} has no record at ${ref} (removed by compaction or a transaction marker)`);
  const d = toDeadLetter(found[0]);
  return {
    deadLetter: d,
    redriven: redriven.has(d.ref),
    key: d.record.key && preview(d.record.key),
    value: d.record.value && (await describePayload(serde, d.record.value)),
  };
}

export interface RedriveReport {
  scanned: number;
  skippedByFilter: number;
  alreadyRedriven: number;
  /** Matching records that cannot go back, by reason. */
  unredrivable: Record<string, number>;
  /** Matching, not yet redriven, beyond --limit: for a later run. */
  leftByLimit: number;
  /** By target topic; with dryRun, what would be sent. */
  sent: Record<string, number>;
}

/** The record as it was consumed: its headers without the dlq-* ones, and where it comes back from. */
function redrivenHeaders(d: DeadLetter): IHeaders {
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(d.record.rawHeaders)) if (!name.startsWith('dlq-')) headers[name] = value;
  headers['redriven-from'] = `${DLQ}:${d.ref}`;
  return headers;
}

/**
 * A transactional producer whose id is initialised before anything is read: that aborts the open
 * transaction of any redrive still running, so the marks read next are final and no record goes
 * back twice even with two redrives at once.
 */
async function fencedProducer(kafka: Kafka): Promise<Producer> {
  await applyTopics(kafka, undefined, [topics.deadLetterRedriven]);
  const producer = kafka.producer({ transactionalId: REDRIVE_TRANSACTIONAL_ID, idempotent: true, maxInFlightRequests: 1, createPartitioner: cachedDefaultPartitioner });
  await producer.connect();
  // Begins nothing on the broker (no partition added yet), but initialises the producer id.
  await (await producer.transaction()).abort();
  return producer;
}

async function sendOnce(producer: Producer, selected: DeadLetter[], progress?: Progress): Promise<void> {
  let sent = 0;
  for (let i = 0; i < selected.length; ) {
    const chunk: DeadLetter[] = [];
    for (let bytes = 0; i < selected.length && chunk.length < TRANSACTION_LIMIT.records; i++) {
      const d = selected[i]!;
      bytes += (d.record.value?.length ?? 0) + (d.record.key?.length ?? 0) + 256;
      if (chunk.length > 0 && bytes > TRANSACTION_LIMIT.bytes) break;
      chunk.push(d);
    }
    const byTopic = new Map<string, Message[]>();
    for (const d of chunk) {
      if (!byTopic.has(d.topic)) byTopic.set(d.topic, []);
      byTopic.get(d.topic)!.push({ key: d.record.key, value: d.record.value, headers: redrivenHeaders(d) });
    }
    const redrivenAt = new Date().toISOString();
    const transaction = await producer.transaction();
    try {
      await transaction.sendBatch({
        acks: -1,
        topicMessages: [
          ...[...byTopic].map(([topic, messages]) => ({ topic, messages })),
          { topic: REDRIVEN, messages: chunk.map((d) => ({ key: d.ref, value: JSON.stringify({ topic: d.topic, redrivenAt }) })) },
        ],
      });
      await transaction.commit();
    } catch (cause) {
      await transaction.abort().catch(() => undefined);
      throw new RatelineError('redrive_failed', `redrive stopped after sending ${sent} of ${selected.length}: ${(cause as Error).message}. Run it again to send the rest: what was sent is skipped`, { retryable: true, cause });
    }
    sent += chunk.length;
    progress?.('send', sent, selected.length);
  }
}

/**
 * Sends each selected dead-letter record (oldest first) back to the topic it was consumed from,
 * with its original key, value and headers, once: its mark on ops.dead-letter.redriven is
 * written in the same transaction, and marked records are skipped.
 */
export async function redriveDeadLetters(kafka: Kafka, filter: DlqFilter & { dryRun?: boolean }, progress?: Progress): Promise<RedriveReport> {
  const producer = filter.dryRun ? undefined : await fencedProducer(kafka);
  try {
    const redriven = await redrivenRefs(kafka);
    const { scanned, matched } = await readDeadLetters(kafka, filter, progress);
    const admin = kafka.admin();
    await admin.connect();
    const existing = new Set(await admin.listTopics().finally(() => admin.disconnect()));
    const report: RedriveReport = { scanned, skippedByFilter: scanned - matched.length, alreadyRedriven: 0, unredrivable: {}, leftByLimit: 0, sent: {} };
    const pending: DeadLetter[] = [];
    for (const d of matched) {
      const problem = !d.topic ? 'no dlq-topic header' : !existing.has(d.topic) ? `topic ${d.topic} does not exist` : undefined;
      if (redriven.has(d.ref)) report.alreadyRedriven++;
      else if (problem) report.unredrivable[problem] = (report.unredrivable[problem] ?? 0) + 1;
      else pending.push(d);
    }
    const selected = pending.slice(0, filter.limit ?? pending.length);
    report.leftByLimit = pending.length - selected.length;
    for (const d of selected) report.sent[d.topic] = (report.sent[d.topic] ?? 0) + 1;
    if (producer) await sendOnce(producer, selected, progress);
    return report;
  } finally {
    await producer?.disconnect();
  }
}

