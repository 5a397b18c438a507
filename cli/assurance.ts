import { createHash, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Kafka } from 'kafkajs';
import { Decimal } from 'decimal.js';
import type { InvoiceEvent } from '../contracts/invoice.ts';
import { amountDueOf } from '../contracts/invoice.ts';
import type { PaymentRecord } from '../contracts/payment.ts';
import type { CdrRejectedRecord, UsageChargedRecord } from '../contracts/records.ts';
import { cdrBalance, invoiceArithmetic, invoiceNumbering, paymentsWithoutInvoice, type CdrOutcomeFact, type Discrepancy, type InvoiceFact, type RawCdrFact } from '../domain/assurance/index.ts';
import type { RuntimeConfig } from '../runtime/config.ts';
import { InvalidInputError } from '../runtime/errors.ts';
import { BatchProducer, createKafka, standardHeaders } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import { scanTopic, type RawRecord } from '../runtime/topic-scan.ts';
import { applyTopics } from '../topics/apply.ts';
import { brandTopics, topics, valueSubject } from '../topics/catalog.ts';

/**
 * `rateline assurance run`: the consistency run over what the topics hold (a service never reads
 * another's tables), for the sources and brands named. It checks that every CDR that arrived in
 * the day range ended charged or rejected and was never charged twice, that each brand's
 * invoices add up and are numbered without gaps, and that no payment is about an invoice never
 * issued. Each finding is published on ops.discrepancies and printed; a clean run says so in one
 * line. It reads the topics from their start: a first step before per-stage control totals.
 */
export interface ConsistencyScope {
  sources: string[];
  brands: string[];
  /** UTC days (YYYY-MM-DD), inclusive, of the CDRs' arrival on cdr.raw. */
  from?: string;
  to?: string;
}

export interface ConsistencyReport {
  runId: string;
  at: string;
  scope: ConsistencyScope;
  checked: { cdrs: number; outcomes: number; invoices: number; payments: number };
  discrepancies: Discrepancy[];
  verdict: string;
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Decodes what it can; a record another writer left that this schema cannot read is not this run's to judge. */
async function decodeAll<T>(serde: AvroSerde, records: RawRecord[], schema: string): Promise<T[]> {
  await serde.prepare(records.map((r) => r.value)).catch(() => undefined);
  const out: T[] = [];
  for (const r of records) {
    try {
      out.push(serde.decode<T>(r.value, schema));
    } catch {
      // poison is the dead-letter topic's business, not a consistency finding
    }
  }
  return out;
}

export async function consistencyRun(kafka: Kafka, serde: AvroSerde, scope: ConsistencyScope, now = Date.now()): Promise<ConsistencyReport> {
  const sources = new Set(scope.sources);
  const inRange = (d: string) => (scope.from === undefined || d >= scope.from) && (scope.to === undefined || d <= scope.to);
  const raw: RawCdrFact[] = [];
  const outcomes: CdrOutcomeFact[] = [];
  if (sources.size > 0) {
    await scanTopic(kafka, topics.cdrRaw.name, (records) => {
      for (const r of records) {
        const key = r.key?.toString() ?? '';
        const slash = key.indexOf('/');
        if (slash <= 0) continue;
        const source = key.slice(0, slash);
        if (sources.has(source) && inRange(day(r.timestamp))) raw.push({ source, cdrId: key.slice(slash + 1), day: day(r.timestamp) });
      }
    });
    await scanTopic(kafka, topics.usageCharged.name, async (records) => {
      for (const u of await decodeAll<UsageChargedRecord>(serde, records, 'usage.charged')) {
        if (sources.has(u.source)) outcomes.push({ source: u.source, cdrId: u.cdrId, kind: 'charged', eventId: u.eventId, ratingVersion: u.ratingVersion });
      }
    });
    await scanTopic(kafka, topics.cdrRejected.name, async (records) => {
      for (const x of await decodeAll<CdrRejectedRecord>(serde, records, 'cdr.rejected')) {
        if (x.source !== null && x.cdrId !== null && sources.has(x.source)) outcomes.push({ source: x.source, cdrId: x.cdrId, kind: 'rejected', eventId: x.eventId, ratingVersion: 0 });
      }
    });
  }
  const invoices: InvoiceFact[] = [];
  const payments: { eventId: string; invoiceId: string; brand: string; kind: string }[] = [];
  for (const brand of scope.brands) {
    const seen = new Set<string>();
    await scanTopic(kafka, brandTopics(brand).invoices.name, async (records) => {
      for (const i of await decodeAll<InvoiceEvent>(serde, records, 'invoice')) {
        if (seen.has(i.invoiceId)) continue; // a re-published invoice is the same invoice
        seen.add(i.invoiceId);
        invoices.push({
          invoiceId: i.invoiceId, invoiceNumber: i.invoiceNumber, brand: i.brand, currency: i.currency,
          lines: i.lines.map((l) => l.amount), taxes: i.taxes.map((t) => t.amount), subtotal: i.subtotal, taxTotal: i.taxTotal, total: i.total,
          creditApplied: i.creditApplied ?? new Decimal(0), amountDue: amountDueOf(i),
        });
      }
    });
    await scanTopic(kafka, brandTopics(brand).payments.name, async (records) => {
      for (const p of await decodeAll<PaymentRecord>(serde, records, 'payment')) payments.push({ eventId: p.eventId ?? `${p.paymentId}:${p.status}`, invoiceId: p.invoiceId, brand: p.brand, kind: p.kind });
    });
  }
  const discrepancies = [
    ...cdrBalance(raw, outcomes),
    ...invoiceArithmetic(invoices),
    ...invoiceNumbering(invoices),
    ...paymentsWithoutInvoice(new Set(invoices.map((i) => i.invoiceId)), payments),
  ];
  const checked = { cdrs: raw.length, outcomes: outcomes.length, invoices: invoices.length, payments: payments.length };
  const what = `${checked.cdrs} CDRs, ${checked.invoices} invoices, ${checked.payments} payment events`;
  const verdict = discrepancies.length === 0 ? `clean: ${what} agree` : `${discrepancies.length} discrepancies in ${what}`;
  return { runId: `consistency-${randomUUID()}`, at: new Date(now).toISOString(), scope, checked, discrepancies, verdict };
}

/** Publishes each finding on ops.discrepancies, keyed by check and scope. */
export async function publishDiscrepancies(kafka: Kafka, serde: AvroSerde, report: ConsistencyReport): Promise<void> {
  if (report.discrepancies.length === 0) return;
  await applyTopics(kafka, serde, [topics.discrepancies]);
  const encode = serde.encoder<Record<string, unknown>>(await serde.register(valueSubject(topics.discrepancies.name), loadSchema('discrepancy')));
  const producer = await BatchProducer.connect(kafka);
  try {
    await producer.send({
      [topics.discrepancies.name]: report.discrepancies.map((d) => {
        const discrepancyId = `disc-${createHash('sha256').update(JSON.stringify([d.check, d.scope, d.expected, d.found, d.ids])).digest('base64url').slice(0, 24)}`;
        const value = { discrepancyId, runId: report.runId, check: d.check, scope: d.scope, expected: d.expected, found: d.found, ids: [...d.ids], detectedAt: Date.parse(report.at) };
        return { key: `${d.check} ${d.scope}`, value: encode(value), headers: standardHeaders({ eventId: discrepancyId }) };
      }),
    });
  } finally {
    await producer.stop();
  }
}

export const assuranceUsage = `rateline assurance run [--source s]... [--brand b]... [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--json]
  checks CDRs in = charged + rejected (per source and UTC day of arrival), no CDR charged twice,
  each brand's invoices add up and are numbered without gaps, no payment without an invoice;
  publishes each finding on ops.discrepancies; exit 0 when clean, 1 when something disagrees`;

export async function assuranceCommand(args: string[], config: RuntimeConfig, out: (line: string) => void): Promise<number> {
  const [command, ...rest] = args;
  if (command !== 'run') throw new InvalidInputError('invalid_parameters', assuranceUsage);
  const { values } = parseArgs({
    args: rest,
    options: { source: { type: 'string', multiple: true }, brand: { type: 'string', multiple: true }, from: { type: 'string' }, to: { type: 'string' }, json: { type: 'boolean' } },
    strict: true,
  });
  for (const [name, v] of [['from', values.from], ['to', values.to]] as const) {
    if (v !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(v)) throw new InvalidInputError('invalid_parameters', `--${name} "${v}" is not YYYY-MM-DD`);
  }
  const scope: ConsistencyScope = { sources: values.source ?? [], brands: values.brand ?? [], ...(values.from ? { from: values.from } : {}), ...(values.to ? { to: values.to } : {}) };
  if (scope.sources.length === 0 && scope.brands.length === 0) throw new InvalidInputError('invalid_parameters', `name at least one --source or --brand\n\n${assuranceUsage}`);
  const kafka = createKafka(config.kafka, silentLogger);
  const serde = new AvroSerde(config.registry.url);
  const report = await consistencyRun(kafka, serde, scope);
  await publishDiscrepancies(kafka, serde, report);
  if (values.json) out(JSON.stringify(report, null, 2));
  else {
    out(`consistency run ${report.runId}: ${report.verdict}`);
    for (const d of report.discrepancies) out(`  ${d.check} ${d.scope}: expected ${d.expected}, found ${d.found}${d.ids.length > 0 ? ` (${d.ids.slice(0, 10).join(', ')}${d.ids.length > 10 ? ', …' : ''})` : ''}`);
  }
  return report.discrepancies.length === 0 ? 0 : 1;
}
