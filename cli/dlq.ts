import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { IHeaders, Kafka, Message, Producer } from 'kafkajs';
import cliProgress from 'cli-progress';
import { Decimal } from 'decimal.js';
import { DateTime } from 'luxon';
import type { RuntimeConfig } from '../runtime/config.ts';
import { InvalidInputError, RatelineError } from '../runtime/errors.ts';
import { cachedDefaultPartitioner, createKafka } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { currentRanges, scanTopic, type RawRecord } from '../runtime/topic-scan.ts';
import { applyTopics } from '../topics/apply.ts';
import { topics } from '../topics/catalog.ts';

const DLQ = topics.deadLetter.name;
const REDRIVEN = topics.deadLetterRedriven.name;
/** One id for every redrive: starting one fences (aborts) any other still sending. */
const REDRIVE_TRANSACTIONAL_ID = 'rateline-dlq-redrive';
/** Per transaction; under the broker's 1 MB record batch. */
const TRANSACTION_LIMIT = { records: 500, bytes: 900_000 };
const PREVIEW_BYTES = 256;

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
  (f.until === undefined || d.at < f.until);

/** Every dead-letter record present now that passes the filter (its limit aside), oldest first. */
async function readDeadLetters(kafka: Kafka, filter: DlqFilter, progress?: Progress): Promise<{ scanned: number; matched: DeadLetter[] }> {
  const ranges = await currentRanges(kafka, DLQ);
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

// ---- the command line ----

const filterOptions = {
  service: { type: 'string' },
  code: { type: 'string' },
  topic: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  limit: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

export const dlqUsage = `rateline dlq list|show|redrive: browse and redrive ops.dead-letter

  dlq list [filters] [--json]     one line per record (oldest first), then counts by service and code
  dlq show <partition>:<offset>   every header, the key, and the value decoded (Confluent Avro through
                                  the registry) or a bounded hex/UTF-8 preview with the reason
  dlq redrive (filters | --all) [--dry-run]
                                  send each matching record's original key, value and headers back to
                                  its dlq-topic, once (marked on ${REDRIVEN} in the same transaction)

  filters: --service s  --code c  --topic t  --since ISO  --until ISO (UTC unless the ISO has an
           offset; dead-lettered in [since, until))  --limit n (the n oldest)`;

function parse<O extends NonNullable<ParseArgsConfig['options']>>(command: string, args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new InvalidInputError('invalid_parameters', `dlq ${command}: ${(err as Error).message}\n\n${dlqUsage}`);
  }
}

function toFilter(command: string, values: Partial<Record<keyof typeof filterOptions, string>>): DlqFilter {
  const problems: string[] = [];
  const instant = (name: 'since' | 'until') => {
    const raw = values[name];
    if (raw === undefined) return undefined;
    const t = DateTime.fromISO(raw, { zone: 'utc' });
    if (!t.isValid) problems.push(`--${name} ${raw} is not an ISO instant (e.g. 2026-03-10T15:00:00Z)`);
    return t.toMillis();
  };
  const filter: DlqFilter = { service: values.service, code: values.code, topic: values.topic, since: instant('since'), until: instant('until') };
  if (values.limit !== undefined) {
    if (/^[1-9]\d*$/.test(values.limit)) filter.limit = Number(values.limit);
    else problems.push(`--limit ${values.limit} is not a positive whole number`);
  }
  if (problems.length > 0) throw new InvalidInputError('invalid_parameters', `dlq ${command}:\n  - ${problems.join('\n  - ')}`);
  return filter;
}

/** A bar on stderr when it is a terminal and the run is long; nothing otherwise. */
function terminalProgress(): { progress: Progress | undefined; stop(): void } {
  if (!process.stderr.isTTY) return { progress: undefined, stop: () => undefined };
  let bar: cliProgress.SingleBar | undefined;
  let current: string | undefined;
  const stop = () => {
    bar?.stop();
    bar = undefined;
  };
  return {
    progress: (phase, done, total) => {
      if (total < 1000) return;
      if (phase !== current) {
        stop();
        current = phase;
        bar = new cliProgress.SingleBar({ stream: process.stderr, format: `${phase} [{bar}] {value}/{total} records, {eta_formatted} left` }, cliProgress.Presets.shades_classic);
        bar.start(total, 0);
      }
      bar?.update(done);
    },
    stop,
  };
}

const iso = (ms: number) => new Date(ms).toISOString();
const oneLine = (s: string, max: number) => {
  const flat = s.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

function printListing(listing: DlqListing, out: (line: string) => void): void {
  const rows = listing.records.map((d) => [d.ref, iso(d.at), d.service || '-', `${d.topic || '-'}:${d.sourcePartition || '-'}:${d.sourceOffset || '-'}`, d.code || '-', `${oneLine(d.message, 200)}${d.redriven ? '  [redriven]' : ''}`]);
  const widths = rows.reduce((w, row) => w.map((n, i) => (i < row.length - 1 ? Math.max(n, row[i]!.length) : 0)), [0, 0, 0, 0, 0, 0]);
  for (const row of rows) out(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  const shown = listing.records.length < listing.matched ? ` (the ${listing.records.length} oldest shown: --limit)` : '';
  out(`${listing.matched} of ${listing.scanned} dead-letter records matched${shown}`);
  const counts = Object.entries(listing.counts).flatMap(([service, byCode]) => Object.entries(byCode).map(([code, n]) => [service || '-', code || '-', String(n)]));
  if (counts.length === 0) return;
  out('by service and code:');
  const w = [0, 1].map((i) => Math.max(...counts.map((c) => c[i]!.length)));
  for (const [service, code, n] of counts.sort((a, b) => a[0]!.localeCompare(b[0]!) || a[1]!.localeCompare(b[1]!))) out(`  ${service!.padEnd(w[0]!)}  ${code!.padEnd(w[1]!)}  ${n}`);
}

function printPreview(view: Preview, out: (line: string) => void): void {
  const cut = view.size > PREVIEW_BYTES ? ` (the first ${PREVIEW_BYTES} of ${view.size} bytes)` : '';
  out(`  utf8: ${JSON.stringify(view.utf8)}${cut}`);
  out(`  hex:  ${view.hex}${cut}`);
}

function printShown(shown: DlqShown, out: (line: string) => void): void {
  const d = shown.deadLetter;
  out(`${DLQ} ${d.ref}${shown.redriven ? '  [redriven]' : ''}`);
  out(`dead-lettered at ${iso(d.at)} (${d.atFrom === 'dlq-at' ? 'dlq-at header' : 'Kafka timestamp: no dlq-at header'})`);
  out('headers:');
  for (const [name, value] of Object.entries(d.record.headers)) out(`  ${name}: ${value}`);
  out(shown.key ? `key: ${shown.key.size} bytes` : 'key: null');
  if (shown.key) printPreview(shown.key, out);
  const value = shown.value;
  if (!value) out('value: null');
  else if (value.decoded) out(`value: ${value.size} bytes, Confluent Avro with schema id ${value.schemaId}:\n${payloadJson(value.value)}`);
  else {
    out(`value: ${value.size} bytes, not decoded: ${value.reason}`);
    printPreview(value, out);
  }
}

function printRedrive(report: RedriveReport, dryRun: boolean, out: (line: string) => void): void {
  const total = Object.values(report.sent).reduce((a, b) => a + b, 0);
  const where = Object.entries(report.sent).map(([topic, n]) => `${n} to ${topic}`).join(', ');
  out(`${dryRun ? 'dry run: would send' : 'sent'} ${total}${where ? `: ${where}` : ''}`);
  if (total === 0 && report.alreadyRedriven > 0) out('nothing to send: every matching record was already redriven');
  out(`skipped ${report.alreadyRedriven} already redriven, ${report.skippedByFilter} by filter (of ${report.scanned} dead-letter records)`);
  for (const [reason, n] of Object.entries(report.unredrivable)) out(`not redrivable: ${n} (${reason})`);
  if (report.leftByLimit > 0) out(`left for a later run by --limit: ${report.leftByLimit}`);
}

/** `rateline dlq ...`; returns the exit code. */
export async function dlqCommand(args: string[], config: RuntimeConfig, out: (line: string) => void): Promise<number> {
  const [command, ...rest] = args;
  const kafka = createKafka(config.kafka, silentLogger);
  const bar = terminalProgress();
  try {
    switch (command) {
      case 'list': {
        const { values } = parse(command, rest, { ...filterOptions, json: { type: 'boolean' } });
        const listing = await listDeadLetters(kafka, toFilter(command, values), bar.progress);
        bar.stop();
        if (!values.json) printListing(listing, out);
        else {
          const records = listing.records.map(({ record, ...d }) => ({ ...d, at: iso(d.at), key: record.key?.toString() ?? null }));
          out(JSON.stringify({ scanned: listing.scanned, matched: listing.matched, records, counts: listing.counts }, null, 2));
        }
        return 0;
      }
      case 'show': {
        const { positionals } = parse(command, rest, {});
        if (positionals.length !== 1) throw new InvalidInputError('invalid_parameters', `dlq show takes one <partition>:<offset>\n\n${dlqUsage}`);
        printShown(await showDeadLetter(kafka, new AvroSerde(config.registry.url), positionals[0]!), out);
        return 0;
      }
      case 'redrive': {
        const { values } = parse(command, rest, { ...filterOptions, 'dry-run': { type: 'boolean' }, all: { type: 'boolean' } });
        const filter = toFilter(command, values);
        if (!values.all && Object.values(filter).every((v) => v === undefined)) throw new InvalidInputError('invalid_parameters', 'dlq redrive: give filters (--service, --code, --topic, --since, --until, --limit) or --all to send back every record not yet redriven');
        const dryRun = values['dry-run'] === true;
        const report = await redriveDeadLetters(kafka, { ...filter, dryRun }, bar.progress);
        bar.stop();
        printRedrive(report, dryRun, out);
        return 0;
      }
    }
  } finally {
    bar.stop();
  }
  out(dlqUsage);
  return command === undefined || command === 'help' ? 0 : 2;
}
