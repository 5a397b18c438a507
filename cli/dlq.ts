import { parseArgs, type ParseArgsConfig } from 'node:util';
import cliProgress from 'cli-progress';
import { DateTime } from 'luxon';
import type { RuntimeConfig } from '../runtime/config.ts';
import { InvalidInputError } from '../runtime/errors.ts';
import { createKafka } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { DLQ, listDeadLetters, PREVIEW_BYTES, payloadJson, redriveDeadLetters, REDRIVEN, showDeadLetter, type DlqFilter, type DlqListing, type DlqShown, type Preview, type Progress, type RedriveReport } from '../runtime/dead-letters.ts';

export { describePayload, listDeadLetters, payloadJson, redriveDeadLetters, showDeadLetter } from '../runtime/dead-letters.ts';
export type { DeadLetter, DlqFilter, DlqListing, DlqShown, PayloadView, Preview, Progress, RedriveReport } from '../runtime/dead-letters.ts';


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
