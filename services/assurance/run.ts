import { createHash, randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { Decimal } from 'decimal.js';
import type { InvoiceEvent } from '../../contracts/invoice.ts';
import { amountDueOf } from '../../contracts/invoice.ts';
import type { PaymentRecord } from '../../contracts/payment.ts';
import type { CdrRejectedRecord, UsageChargedRecord } from '../../contracts/records.ts';
import { allReferenceTopics, applyReferenceRecords } from '../../contracts/reference.ts';
import {
  cashPosition, cdrBalance, changedCopies, chargedVersusControl, chargesWithoutCdr, chargedVersusInvoiced, controlBalance, currentCharges, drawdownArithmetic, foldControlTotals, includedWithinGrants, invoiceArithmetic, invoiceNumbering, invoicesVersusControl,
  localDay, paymentsWithoutInvoice, ratingDrift, sliceOverlaps, utcDay,
  type CashSummary, type CdrOutcomeFact, type ChargeFact, type ControlTotal, type Discrepancy, type InvoiceFact, type InvoicedUsageFact, type PaymentFact, type RawCdrFact, type RerateFact,
} from '../../domain/assurance/index.ts';
import { append, gatewayVersusRecorded, type RecordedChargeFact } from '../../domain/assurance/index.ts';
import { cdrEventId } from '../../domain/cdr/dedupe-key.ts';
import { rateResolvedUsage } from '../../domain/mediation/index.ts';
import { grantsFor, type Brand } from '../../domain/reference/index.ts';
import type { PaymentGateway } from '../../gateways/types.ts';
import { DateTime } from 'luxon';
import { ReferenceTables } from '../../domain/reference/index.ts';
import { readCompactedTopics } from '../../runtime/compacted.ts';
import { fromControlTotalRecord, type ControlTotalRecord } from '../../runtime/control-totals.ts';
import { BatchProducer, standardHeaders } from '../../runtime/kafka.ts';
import { silentLogger } from '../../runtime/log.ts';
import { AvroSerde, loadSchema } from '../../runtime/serde.ts';
import { scanTopic, type RawRecord } from '../../runtime/topic-scan.ts';
import { applyTopics } from '../../topics/apply.ts';
import { brandTopics, topics, valueSubject } from '../../topics/catalog.ts';

/**
 * The consistency run over what the topics hold (a service never reads another's tables), for the
 * sources and brands named and a range of days. CDR side: every CDR that arrived ended charged or
 * rejected and was never charged twice, record by record, and the stages' control totals balance
 * along the chain. Money side: each brand's invoices add up, are numbered without gaps and match
 * the bill run's control totals; charged usage (current rating version) matches the usage and
 * adjustments invoiced per subscription and period; a sample of charges re-rated through the pure
 * rating code gives the live figures; drawn + overage = billable; no bucket drawn past its grant
 * in a period; no invoice holds more than it asks; no payment is about an invoice never issued.
 */
export interface ConsistencyScope {
  sources: string[];
  brands: string[];
  /** Days (YYYY-MM-DD), inclusive: UTC for sources, brand-local for brands. */
  from?: string;
  to?: string;
}

export interface ConsistencyOptions {
  /** Charges re-rated offline per brand (deterministically chosen by event id). */
  driftSample?: number;
  /** The brand's payment gateway, asked to list its charges for the days run (none: that check is left out, and the report says so). */
  gatewayFor?(brand: Brand): PaymentGateway | undefined;
}

/** How far past the days run the gateway is asked: its clock and collect's may put one charge either side of midnight. */
const GATEWAY_MARGIN_MS = 3_600_000;

export interface ConsistencyReport {
  runId: string;
  at: string;
  scope: ConsistencyScope;
  checked: { cdrs: number; outcomes: number; controlTotals: number; charges: number; rerated: number; invoices: number; payments: number; gatewayCharges: number };
  /** What this run could not check, and why (a gateway that cannot list its charges, no day range). */
  notes: string[];
  cash: { brand: string; currency: string; invoiced: string; paid: string; credited: string; toCreditBalance: string; open: string }[];
  discrepancies: Discrepancy[];
  verdict: string;
}

/** Decodes what it can; a record another writer left that this schema cannot read is not this run's to judge. */
async function decodeAll<T>(serde: AvroSerde, records: RawRecord[], schema: string): Promise<T[]> {
  await serde.prepare(records.map((r) => r.value)).catch(() => undefined);
  const out: T[] = [];
  for (const r of records) {
    try {
      if (r.value !== null) out.push(serde.decode<T>(r.value, schema));
    } catch {
      // poison is the dead-letter topic's business, not a consistency finding
    }
  }
  return out;
}

/** The reference tables as the catalogue publishes them now, for brand time zones and offline rating. */
async function loadReference(kafka: Kafka, serde: AvroSerde): Promise<ReferenceTables> {
  const tables = new ReferenceTables(process.env.RATELINE_PARENT_COMPANY ?? 'ansr-group');
  const reader = await readCompactedTopics(kafka, serde, allReferenceTopics, (records) => applyReferenceRecords(tables, records, silentLogger), silentLogger);
  try {
    await reader.ready;
  } finally {
    await reader.stop();
  }
  return tables;
}

/** What a copy of an event says, comparable across copies (decimals and longs as text). */
const fingerprint = (value: unknown) => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v instanceof Decimal ? v.toFixed() : v));

const sampleRank = (id: string) => createHash('sha256').update(id).digest('hex');

export async function consistencyRun(kafka: Kafka, serde: AvroSerde, scope: ConsistencyScope, now = Date.now(), options: ConsistencyOptions = {}): Promise<ConsistencyReport> {
  const sources = new Set(scope.sources);
  const brands = new Set(scope.brands);
  const inRange = (d: string) => (scope.from === undefined || d >= scope.from) && (scope.to === undefined || d <= scope.to);
  // Side by side, each scan mostly waits on the broker; usage.charged needs cdr.raw's ids and the brands' zones first.
  const tablesLoaded = brands.size > 0 ? loadReference(kafka, serde) : Promise.resolve(undefined);
  let tables: ReferenceTables | undefined;
  const zoneOf = (brand: string) => tables?.brand(brand)?.timeZone;

  const raw: RawCdrFact[] = [];
  const rawKeys = new Set<string>();
  const sourceCharges: { source: string; cdrId: string; eventId: string }[] = [];
  const chargeCopies = new Map<string, { id: string; fingerprint: string }[]>();
  const invoiceCopies = new Map<string, { id: string; fingerprint: string }[]>();
  const outcomes: CdrOutcomeFact[] = [];
  const charges: (ChargeFact & { day: string; live: UsageChargedRecord })[] = [];
  const scanCdrs = async () => {
    if (sources.size === 0) return;
    await scanTopic(kafka, topics.cdrRaw.name, (records) => {
      for (const r of records) {
        const key = r.key?.toString() ?? '';
        const slash = key.indexOf('/');
        if (slash <= 0) continue;
        const source = key.slice(0, slash);
        if (sources.has(source)) rawKeys.add(key);
        if (sources.has(source) && inRange(utcDay(r.timestamp))) raw.push({ source, cdrId: key.slice(slash + 1), day: utcDay(r.timestamp) });
      }
    });
  };
  const scanRejections = async () => {
    if (sources.size === 0) return;
    await scanTopic(kafka, topics.cdrRejected.name, async (records) => {
      for (const x of await decodeAll<CdrRejectedRecord>(serde, records, 'cdr.rejected')) {
        if (x.source !== null && x.cdrId !== null && sources.has(x.source)) outcomes.push({ source: x.source, cdrId: x.cdrId, kind: 'rejected', eventId: x.eventId, ratingVersion: 0 });
      }
    });
  };
  const scanCharges = async () => {
    await scanCdrs();
    tables = await tablesLoaded;
    // A charge's event id is its CDR's (source and CDR id digested at ingest). Decoding is most of a
    // run's time, so a charge whose brand header names a brand out of scope and whose id is no CDR
    // of a source in scope is not decoded; one without those headers always is.
    const wanted = new Set([...rawKeys].map((k) => cdrEventId(k.slice(0, k.indexOf('/')), k.slice(k.indexOf('/') + 1))));
    await scanTopic(kafka, topics.usageCharged.name, async (records) => {
      const ours = records.filter((r) => r.headers['brand'] === undefined || r.headers['event-id'] === undefined || brands.has(r.headers['brand']) || wanted.has(r.headers['event-id']));
      for (const u of await decodeAll<UsageChargedRecord>(serde, ours, 'usage.charged')) {
        if (sources.has(u.source)) {
          outcomes.push({ source: u.source, cdrId: u.cdrId, kind: 'charged', eventId: u.eventId, ratingVersion: u.ratingVersion });
          if (inRange(utcDay(Number(u.startTime)))) sourceCharges.push({ source: u.source, cdrId: u.cdrId, eventId: u.eventId });
        }
        if (brands.has(u.brand)) {
          // What a re-sent charge must repeat: whose it is and what it costs, not when it was sent.
          chargeCopies.set(u.brand, chargeCopies.get(u.brand) ?? []);
          chargeCopies.get(u.brand)!.push({ id: `${u.eventId}@${u.ratingVersion}`, fingerprint: fingerprint([u.subscriptionId, u.periodStart, u.billableSeconds, u.includedSeconds, u.overageSeconds, u.currency, u.amount, u.draws]) });
          charges.push({
            eventId: u.eventId, ratingVersion: u.ratingVersion, brand: u.brand, accountId: u.accountId, subscriptionId: u.subscriptionId, periodStart: Number(u.periodStart), currency: u.currency, amount: new Decimal(u.amount),
            billableSeconds: u.billableSeconds, includedSeconds: u.includedSeconds, overageSeconds: u.overageSeconds, draws: u.draws, day: localDay(Number(u.startTime), zoneOf(u.brand)), live: u,
          });
        }
      }
    });
  };

  const controlRecords: ControlTotal[] = [];
  const scanControl = () =>
    scanTopic(kafka, topics.controlTotals.name, async (records) => {
      for (const c of await decodeAll<ControlTotalRecord>(serde, records, 'control-total')) {
        if ((c.scopeKind === 'source' && sources.has(c.scope)) || (c.scopeKind === 'brand' && brands.has(c.scope))) controlRecords.push(fromControlTotalRecord(c));
      }
    });

  const invoices: (InvoiceFact & { day: string; usage: InvoicedUsageFact })[] = [];
  const payments: PaymentFact[] = [];
  const recordedCharges = new Map<string, RecordedChargeFact[]>();
  const scanBrand = async (brand: string) => {
    tables = await tablesLoaded;
    const seen = new Set<string>();
    await scanTopic(kafka, brandTopics(brand).invoices.name, async (records) => {
      for (const i of await decodeAll<InvoiceEvent>(serde, records, 'invoice')) {
        const copies = invoiceCopies.get(brand) ?? [];
        copies.push({ id: i.invoiceId, fingerprint: fingerprint(i) });
        invoiceCopies.set(brand, copies);
        if (seen.has(i.invoiceId)) continue; // a re-published invoice is the same invoice (changedCopies says if it is not)
        seen.add(i.invoiceId);
        invoices.push({
          invoiceId: i.invoiceId, invoiceNumber: i.invoiceNumber, brand: i.brand, currency: i.currency,
          lines: i.lines.map((l) => l.amount), taxes: i.taxes.map((t) => t.amount), subtotal: i.subtotal, taxTotal: i.taxTotal, total: i.total,
          creditApplied: i.creditApplied ?? new Decimal(0), amountDue: amountDueOf(i), day: localDay(Number(i.issuedAt), zoneOf(i.brand)),
          usage: {
            invoiceId: i.invoiceId, brand: i.brand, subscriptionId: i.subscriptionId, currency: i.currency,
            lines: i.lines.filter((l) => l.kind === 'usage' || l.kind === 'adjustment').map((l) => ({ periodStart: Number(l.periodStart), amount: l.amount, kind: l.kind })),
            usagePeriodStart: i.usagePeriodStart === null ? null : Number(i.usagePeriodStart), calls: i.usageSummaries.reduce((s, u) => s + u.calls, 0),
            seconds: i.usageSummaries.reduce((s, u) => s + new Decimal(u.billableUnits).times(u.unitSeconds).round().toNumber(), 0),
          },
        });
      }
    });
    await scanTopic(kafka, brandTopics(brand).payments.name, async (records) => {
      for (const p of await decodeAll<PaymentRecord>(serde, records, 'payment')) {
        const eventId = p.eventId ?? `${p.paymentId}:${p.status}`;
        payments.push({ eventId, invoiceId: p.invoiceId, brand: p.brand, kind: p.kind, status: p.status, currency: p.currency, amount: new Decimal(p.amount), creditBalanceChange: p.creditBalanceChange ?? null, creditNoteId: p.creditNoteId ?? null });
        if (p.kind === 'charge') {
          append(recordedCharges, p.brand, { eventId, invoiceId: p.invoiceId, gateway: p.gateway, reference: p.gatewayReference, status: p.status, currency: p.currency, amount: new Decimal(p.amount), occurredAt: Number(p.occurredAt) });
        }
      }
    });
  };
  await Promise.all([scanCharges(), scanRejections(), scanControl(), ...[...brands].sort().map(scanBrand)]);
  tables = await tablesLoaded;
  const folded = foldControlTotals(controlRecords);
  // Brands scanned side by side: keep the report's order stable.
  invoices.sort((a, b) => (a.brand < b.brand ? -1 : a.brand > b.brand ? 1 : 0));

  // Numbering and payments look at everything the brand issued (a gap is a gap whatever day it opened); the rest at the days asked for.
  const invoicesInRange = invoices.filter((i) => inRange(i.day));
  const current = currentCharges(charges) as typeof charges;
  const chargesInRange = current.filter((c) => inRange(c.day));
  const rerated = driftSample(chargesInRange, tables, options.driftSample ?? 500);
  const cash = cashPosition(invoicesInRange, payments);
  const notes: string[] = [];
  const gateway = await gatewayCharges(brands, tables, scope, options, recordedCharges, notes);
  const discrepancies = [
    ...cdrBalance(raw, outcomes),
    ...chargesWithoutCdr(rawKeys, sourceCharges),
    ...sliceOverlaps(controlRecords),
    ...controlBalance(folded, sources, inRange),
    ...invoiceArithmetic(invoicesInRange),
    ...invoiceNumbering(invoices),
    ...invoicesVersusControl([...folded.values()].filter((t) => inRange(t.day)), invoices),
    ...chargedVersusInvoiced(current, invoicesInRange.map((i) => i.usage)),
    ...chargedVersusControl([...folded.values()].filter((t) => inRange(t.day)), charges.filter((c) => inRange(c.day))),
    ...[...brands].sort().flatMap((b) => changedCopies('charge_changed', b, chargeCopies.get(b) ?? [])),
    ...[...brands].sort().flatMap((b) => changedCopies('invoice_changed', b, invoiceCopies.get(b) ?? [])),
    ...drawdownArithmetic(chargesInRange),
    ...includedWithinGrants(periodsOf(current, chargesInRange), (subscriptionId, planId, version) => {
      const plan = tables?.plan(planId, version);
      const subscription = tables?.subscription(subscriptionId);
      return plan && subscription ? grantsFor(plan, subscription) : undefined;
    }),
    ...ratingDrift(rerated),
    ...cash.discrepancies,
    ...paymentsWithoutInvoice(new Set(invoices.map((i) => i.invoiceId)), payments),
    ...gateway.discrepancies,
  ];
  const checked = { cdrs: raw.length, outcomes: outcomes.length, controlTotals: folded.size, charges: chargesInRange.length, rerated: rerated.length, invoices: invoicesInRange.length, payments: payments.length, gatewayCharges: gateway.listed };
  const what = `${checked.cdrs} CDRs, ${checked.controlTotals} control totals, ${checked.charges} charges, ${checked.invoices} invoices, ${checked.payments} payment events`;
  const verdict = discrepancies.length === 0 ? `clean: ${what} agree` : `${discrepancies.length} discrepancies in ${what}`;
  return { runId: `consistency-${randomUUID()}`, at: new Date(now).toISOString(), scope, checked, notes, cash: cash.summaries.map(cashLine), discrepancies, verdict };
}

/**
 * Each brand's gateway lists its charges for the brand-local days run (a little wider, for the
 * two clocks), compared with the charge events collect published (domain/assurance/gateway.ts).
 */
async function gatewayCharges(
  brands: ReadonlySet<string>, tables: ReferenceTables | undefined, scope: ConsistencyScope, options: ConsistencyOptions, recorded: ReadonlyMap<string, RecordedChargeFact[]>, notes: string[],
): Promise<{ listed: number; discrepancies: Discrepancy[] }> {
  let listed = 0;
  const discrepancies: Discrepancy[] = [];
  for (const code of [...brands].sort()) {
    const brand = tables?.brand(code);
    if (brand === undefined) continue;
    if (scope.from === undefined || scope.to === undefined) {
      notes.push(`${code}: gateway charges not compared (name a day range)`);
      continue;
    }
    let gateway: PaymentGateway | undefined;
    try {
      gateway = options.gatewayFor?.(brand);
    } catch (error) {
      notes.push(`${code}: gateway charges not compared (${(error as Error).message})`);
      continue;
    }
    if (gateway?.listCharges === undefined) {
      notes.push(`${code}: gateway charges not compared (${gateway ? `${gateway.id} cannot list its charges` : 'no gateway configured here'})`);
      continue;
    }
    const from = DateTime.fromISO(scope.from, { zone: brand.timeZone }).startOf('day').toMillis();
    const to = DateTime.fromISO(scope.to, { zone: brand.timeZone }).startOf('day').plus({ days: 1 }).toMillis();
    const answer = await gateway.listCharges({ from: from - GATEWAY_MARGIN_MS, to: to + GATEWAY_MARGIN_MS });
    if (!answer.ok) {
      notes.push(`${code}: gateway charges not compared (${gateway.id} answered ${answer.code}: ${answer.message})`);
      continue;
    }
    listed += answer.charges.length;
    const facts = answer.charges.map((c) => ({ reference: c.reference, invoiceId: c.invoiceId, status: c.status, currency: c.amount.currency, amount: c.amount.amount, createdAt: c.createdAt }));
    discrepancies.push(...gatewayVersusRecorded({ brand: code, gateway: gateway.id, from, to, listed: facts, recorded: recorded.get(code) ?? [] }));
  }
  return { listed, discrepancies };
}

/** Every current charge of the subscription periods the days run touch: a bucket is judged over its whole period. */
function periodsOf(current: readonly { live: UsageChargedRecord }[], inRange: readonly { live: UsageChargedRecord }[]) {
  const key = (u: UsageChargedRecord) => `${u.subscriptionId}|${String(u.periodStart)}`;
  const touched = new Set(inRange.map((c) => key(c.live)));
  return current
    .filter((c) => touched.has(key(c.live)))
    .map(({ live: u }) => ({ eventId: u.eventId, brand: u.brand, subscriptionId: u.subscriptionId, periodStart: Number(u.periodStart), planId: u.planId, planVersion: u.planVersion, draws: u.draws.map((d) => ({ bucketId: d.bucketId, seconds: Number(d.seconds) })) }));
}

const cashLine = (s: CashSummary) => ({ brand: s.brand, currency: s.currency, invoiced: s.invoiced.toFixed(2), paid: s.paid.toFixed(2), credited: s.credited.toFixed(2), toCreditBalance: s.toCreditBalance.toFixed(2), open: s.open.toFixed(2) });

/**
 * Live charges (rating version 1) re-rated through the pure rating code with the rules the
 * catalogue publishes now: the same rule version must give the same billable seconds. The sample
 * is the charges whose id hashes lowest, so two runs over one day look at the same calls.
 */
function driftSample(charges: readonly { live: UsageChargedRecord; brand: string; ratingVersion: number }[], tables: ReferenceTables | undefined, size: number): RerateFact[] {
  if (tables === undefined || size <= 0) return [];
  // A brand the catalogue does not publish has no rules to re-rate with: nothing to compare.
  const live = charges.filter((c) => c.ratingVersion === 1 && tables.brand(c.brand) !== undefined).map((c) => ({ c, rank: sampleRank(c.live.eventId) }));
  const byBrand = new Map<string, typeof live>();
  for (const x of live) append(byBrand, x.c.brand, x);
  const out: RerateFact[] = [];
  for (const list of byBrand.values()) {
    for (const { c } of list.sort((a, b) => (a.rank < b.rank ? -1 : 1)).slice(0, size)) {
      const u = c.live;
      const again = rateResolvedUsage({ ...u, startTime: Number(u.startTime), endTime: Number(u.endTime), resolvedAt: Number(u.ratedAt) }, tables, 1, Number(u.ratedAt));
      out.push({
        eventId: u.eventId, brand: u.brand,
        live: { ruleId: u.ruleId, ruleVersion: u.ruleVersion, billableSeconds: u.billableSeconds },
        offline: again.ok ? { ruleId: again.value.ruleId, ruleVersion: again.value.ruleVersion, billableSeconds: again.value.billableSeconds } : null,
      });
    }
  }
  return out;
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
