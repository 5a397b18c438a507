import { billRunReportBody, billRunSummaryBody, commissionStatementsBody, creditStatementBody, invoiceListingBody, payoutAlreadyRecordedBody, payoutRecordedBody, storedInvoiceBody } from './api-schemas.ts';
import { renderedEmailBody } from '../../documents/schemas.ts';
import { Decimal } from 'decimal.js';
import client from 'prom-client';
import { DateTime } from 'luxon';
import { monthlyStatements } from '../../domain/commissions/index.ts';
import type { Knex } from 'knex';
import { ReferenceTables } from '../../domain/reference/index.ts';
import { BuiltinTaxEngine } from '../../domain/tax/index.ts';
import type { UsageCharged } from '../../domain/mediation/index.ts';
import { allReferenceTopics, applyReferenceRecords } from '../../contracts/reference.ts';
import { wholeNumberSetting, type RuntimeConfig } from '../../runtime/config.ts';
import { createDb, inTransaction, migrateService } from '../../runtime/db.ts';
import type { ConsumedRecord } from '../../runtime/kafka.ts';
import { startOutboxRelay, type OutboxRelay } from '../../runtime/outbox.ts';
import { publishThroughOutbox, startControlTotalsPublisher } from '../../runtime/control-totals.ts';
import type { RunningService, ServiceDeps } from '../../runtime/service.ts';
import { startStage, type StageApi, type StageContext } from '../../runtime/stage.ts';
import { brandFilter, seesBrand } from '../../runtime/auth.ts';
import { brandQuery, HttpError, notFound, principalOf, problemAnswer, problemResponses, send } from '../../runtime/http.ts';
import { sleep } from '../../runtime/time.ts';
import { dailyAnswer, dailyQuery, dailyWindow } from '../../runtime/daily.ts';
import { minorUnits } from '../../domain/money/index.ts';
import { brandTopicsPreparer } from '../../topics/apply.ts';
import { brandingFromReference, builtinDocumentRenderers, customerBlockFromReference, priceModelsOf, reviveInvoice, type DocumentRendererRegistry } from '../../documents/index.ts';
import { brandTopics, topics } from '../../topics/catalog.ts';
import { paymentEventId, type PaymentRecord } from '../../contracts/payment.ts';
import { addCreditEntry, creditStatement, lockCreditAccounts, outstandingCredit, recordPayout, requestCreditRefunds } from './credit.ts';
import { runBrandBillRun, syncNextBillings, type BillRunSettings, type BrandRunResult } from './run.ts';
import { migrations, offsets, SCHEMA } from './schema.ts';

export const GROUP_ID = 'rateline-billrun';
const PAYMENTS_PATTERN = /^brand\.[a-z0-9-]+\.payments$/;

export interface BillRunOptions {
  parentCompany?: string;
  /** How often the scheduler looks for due billings (default BILLRUN_INTERVAL_MS or 60 s; 0: only on demand). */
  intervalMs?: number;
  settings?: Partial<BillRunSettings>;
  /** How long a run waits for usage already in Kafka to be stored before billing (default 30 s). */
  usageDrainMs?: number;
  /** The brands this instance bills (default BILLRUN_BRANDS, comma-separated, or every brand): one instance per brand or group of brands. */
  brands?: readonly string[];
  /** Subscriptions billed per transaction (default BILLRUN_GROUP_SIZE or 200). */
  groupSize?: number;
  /** Brands billed at once (default BILLRUN_CONCURRENCY or 3), each in its own transactions. */
  concurrency?: number;
}

export interface BillRunReport {
  at: string;
  brands: BrandRunResult[];
  invoices: number;
  held: number;
  published: number;
  failed: { brand: string; error: string }[];
  /** How long the run waited for usage already in Kafka to be stored, and whether it all was. */
  usageWait: { ms: number; drained: boolean };
  /** Where the rest of the run's time went: next billings synced from reference changes, billing, publishing the invoices. */
  ms: { sync: number; bill: number; publish: number };
}

export interface RunningBillRun extends RunningService {
  /** Bills every brand (or one) as of the clock's now; what a scheduled run does. */
  runNow(brand?: string): Promise<BillRunReport>;
}

interface UsageReratedRecord {
  eventId: string;
  usageEventId: string;
  kind: string;
  brand: string;
  subscriptionId: string;
  periodStart: number;
  usageType: string;
  ratingVersion: number;
  currency: string;
  amountDelta: { toFixed(): string };
}

/**
 * bill-run: stores usage.charged and usage.rerated (idempotent on the event id, offsets in the
 * same transaction), and at each brand's billing hour in its zone invoices every subscription
 * whose anniversary has come (domain/billrun), publishing each invoice on brand.<code>.invoices
 * through an outbox. The clock is injected, so tests simulate months in seconds.
 */
export async function startBillRun(config: RuntimeConfig, deps: ServiceDeps, options: BillRunOptions = {}): Promise<RunningBillRun> {
  const logger = deps.logger.child({ stage: 'billrun' });
  const db = createDb(config.postgres, { poolMax: 8 });
  await migrateService(db, SCHEMA, migrations);
  const controlTotals = startControlTotalsPublisher({ db, schema: SCHEMA, logger: deps.logger, publish: publishThroughOutbox(SCHEMA) });
  const store = offsets.store(db);
  const tables = new ReferenceTables(options.parentCompany ?? process.env.RATELINE_PARENT_COMPANY ?? 'ansr-group');
  const settings: BillRunSettings = {
    maxCatchUpDays: options.settings?.maxCatchUpDays ?? wholeNumberSetting(process.env, 'BILLRUN_MAX_CATCH_UP_DAYS', 7),
    since: options.settings?.since ?? (process.env.BILLRUN_SINCE ? new Date(process.env.BILLRUN_SINCE) : null),
  };
  const taxEngine = new BuiltinTaxEngine();
  const handleBatch = async (records: ConsumedRecord[]) => {
    await deps.serde.prepare(records.map((r) => r.value));
    const charged: UsageCharged[] = [];
    const rerated: UsageReratedRecord[] = [];
    const payments: PaymentRecord[] = [];
    for (const r of records) {
      if (PAYMENTS_PATTERN.test(r.topic)) payments.push(deps.serde.decode<PaymentRecord>(r.value, 'payment'));
      else if (r.topic === topics.usageCharged.name) {
        // Every version: a period not invoiced yet is billed in its latest (domain/billrun settleUsage).
        charged.push(deps.serde.decode<UsageCharged>(r.value, 'usage.charged'));
      } else rerated.push(deps.serde.decode<UsageReratedRecord>(r.value, 'usage.rerated'));
    }
    const last = records[records.length - 1]!;
    await inTransaction(db, async (trx) => {
      await insertCharges(trx, charged);
      await insertRerated(trx, rerated);
      await recordPaymentFacts(trx, payments);
      await store.saveAfter(trx, GROUP_ID, last);
    });
  };

  const metrics = { invoices: undefined as client.Counter<'brand'> | undefined, held: undefined as client.Gauge<'brand'> | undefined };
  let running: Promise<BillRunReport> | undefined;
  let stage: Awaited<ReturnType<typeof startStage>> | undefined;

  let context: StageContext | undefined;
  let stopping = false;
  const mine = options.brands ?? (process.env.BILLRUN_BRANDS ? process.env.BILLRUN_BRANDS.split(',').map((b) => b.trim()) : undefined);
  const owns = (brand: string) => mine === undefined || mine.includes(brand);
  const groupSize = options.groupSize ?? wholeNumberSetting(process.env, 'BILLRUN_GROUP_SIZE', 200);
  const concurrency = Math.max(1, options.concurrency ?? wholeNumberSetting(process.env, 'BILLRUN_CONCURRENCY', 3));
  // Subscriptions (and brands) whose reference records arrived since the last sync of their
  // next billings: every one at start, then only what the catalogue changes.
  const changedSubscriptions = new Set<string>();
  const changedBrands = new Set<string>();
  const syncChanged = async () => {
    // Another instance's brands are its business; a subscription gone from the tables loses its row.
    const ids = [...changedSubscriptions].filter((id) => {
      const s = tables.subscription(id);
      return s === undefined || owns(s.brand);
    });
    for (const code of changedBrands) if (owns(code)) for (const s of tables.subscriptionsOf(code)) ids.push(s.subscriptionId);
    changedSubscriptions.clear();
    changedBrands.clear();
    if (ids.length === 0) return;
    try {
      const { changed } = await syncNextBillings(db, { tables, ids, since: settings.since, owns });
      logger.info('next billings synced', { subscriptions: ids.length, changed });
    } catch (error) {
      for (const id of ids) changedSubscriptions.add(id);
      throw error;
    }
  };
  const runNow = (only?: string): Promise<BillRunReport> => {
    // One run at a time in this process; other instances share the due subscriptions (SKIP LOCKED).
    const next = (running ?? Promise.resolve()).catch(() => undefined).then(async () => {
      const now = new Date(deps.clock.now());
      const waitStarted = Date.now();
      const drained = await drainUsage(options.usageDrainMs ?? wholeNumberSetting(process.env, 'BILLRUN_USAGE_DRAIN_MS', 30_000));
      const report: BillRunReport = { at: now.toISOString(), brands: [], invoices: 0, held: 0, published: 0, failed: [], usageWait: { ms: Date.now() - waitStarted, drained }, ms: { sync: 0, bill: 0, publish: 0 } };
      const syncStarted = Date.now();
      await syncChanged();
      const billStarted = Date.now();
      report.ms.sync = billStarted - syncStarted;
      const selected = tables.brands().filter((b) => owns(b.code) && (only === undefined || b.code === only));
      const ordered = selected.sort((a, b) => (a.code < b.code ? -1 : 1));
      const results: (BrandRunResult | undefined)[] = [];
      const failures: ({ brand: string; error: string } | undefined)[] = [];
      const billBrand = async (index: number) => {
        const brand = ordered[index]!;
        // A stop leaves the brands not yet begun, and the rest of the one under way, to the next run.
        if (stopping) {
          failures[index] = { brand: brand.code, error: 'the service stopped before this brand was billed; the next run bills it' };
          return;
        }
        try {
          logger.info('bill run started', { brand: brand.code, at: now.toISOString() });
          const result = await runBrandBillRun(db, { brand, tables, now, settings, taxEngine, logger, groupSize, shouldStop: () => stopping });
          if (result.stopped) failures[index] = { brand: brand.code, error: `the service stopped after ${result.invoiced.length} invoices of this brand; the next run bills the rest` };
          // After the brand's invoices (a closing account's last credit is on the ledger by then).
          else result.creditRefunds = (await requestCreditRefunds(db, brand, tables, now)).map((r) => ({ accountId: r.accountId, currency: r.currency, amount: r.amount.toFixed(2) }));
          results[index] = result;
          if (context) {
            metrics.invoices ??= new client.Counter({ name: 'rateline_invoices_issued_total', help: 'Invoices issued, by brand', labelNames: ['brand'], registers: [context.metrics.registry] });
            metrics.held ??= new client.Gauge({ name: 'rateline_billings_held', help: 'Due billings that could not be invoiced in the last run, by brand', labelNames: ['brand'], registers: [context.metrics.registry] });
            metrics.invoices.inc({ brand: brand.code }, result.invoiced.length);
            metrics.held.set({ brand: brand.code }, result.held.length);
          }
          for (const w of result.warnings) logger.warn('billing beyond catch-up limit', { brand: brand.code, warning: w });
        } catch (error) {
          logger.error('brand bill run failed', { brand: brand.code, error });
          failures[index] = { brand: brand.code, error: (error as Error).message };
        }
      };
      // Brands bill side by side (each its own numbering lock), so one brand's database waits
      // overlap another's invoice building; the report keeps brand order.
      let nextIndex = 0;
      const worker = async () => {
        while (nextIndex < ordered.length) await billBrand(nextIndex++);
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, ordered.length) }, worker));
      for (let i = 0; i < ordered.length; i += 1) {
        const result = results[i];
        if (result) {
          report.brands.push(result);
          report.invoices += result.invoiced.length;
          report.held += result.held.length;
        }
        if (failures[i]) report.failed.push(failures[i]!);
      }
      const publishStarted = Date.now();
      report.ms.bill = publishStarted - billStarted;
      // A stopping service leaves publishing to the relay of its next start.
      if (!stopping) await controlTotals.flush();
      report.published = outbox && !stopping ? await outbox.drain() : 0;
      report.ms.publish = Date.now() - publishStarted;
      logger.info('bill run', { at: report.at, invoices: report.invoices, held: report.held, published: report.published, failed: report.failed.length });
      return report;
    });
    running = next;
    return next;
  };

  /** Waits until the usage already in Kafka when the run starts is stored, so the period's usage is on its invoice. */
  const drainUsage = async (limitMs: number): Promise<boolean> => {
    const admin = deps.kafka.admin();
    await admin.connect();
    try {
      const targets: { key: string; high: bigint }[] = [];
      for (const topic of [topics.usageCharged.name, topics.usageRerated.name]) {
        for (const p of await admin.fetchTopicOffsets(topic)) targets.push({ key: `${topic}:${p.partition}`, high: BigInt(p.high) });
      }
      const deadline = Date.now() + limitMs;
      for (;;) {
        const stored = await store.load(GROUP_ID);
        const behind = targets.filter((x) => BigInt(stored.get(x.key) ?? '0') < x.high);
        if (behind.length === 0) return true;
        if (Date.now() >= deadline || stopping) {
          logger.warn('billing before usage is drained: late usage will be carried to the next invoice', { behind: behind.map((b) => b.key) });
          return false;
        }
        await sleep(200);
      }
    } finally {
      await admin.disconnect();
    }
  };

  let outbox: OutboxRelay | undefined;
  stage = await startStage(config, deps, {
    name: 'billrun',
    groupId: GROUP_ID,
    // Every brand's payments: what collect moved to customers' credit balances, and the refunds
    // and credit notes that commission statements claw back.
    inputTopics: [topics.usageCharged.name, topics.usageRerated.name, PAYMENTS_PATTERN],
    deadLetterTopic: topics.deadLetter.name,
    referenceTopics: allReferenceTopics,
    onReference: (records) => {
      applyReferenceRecords(tables, records, logger);
      for (const r of records) {
        if (r.topic === topics.refSubscriptions.name) changedSubscriptions.add(r.key);
        else if (r.topic === topics.refBrands.name) changedBrands.add(r.key);
      }
    },
    handleBatch: (records) => handleBatch(records),
    storedOffsets: () => store.load(GROUP_ID),
    api: (ctx) => {
      context = ctx;
      return billRunApi(db, runNow, tables, deps.clock);
    },
    healthChecks: { outbox: () => ({ ok: outbox?.isHealthy() ?? true }) },
    close: () => db.destroy(),
  });
  // Each brand's topics are created the first time it has an invoice to send.
  outbox = await startOutboxRelay({
    db,
    schema: SCHEMA,
    kafka: deps.kafka,
    serde: deps.serde,
    logger,
    metrics: stage.metrics,
    prepareTopic: brandTopicsPreparer(deps.kafka, deps.serde),
  });

  const intervalMs = options.intervalMs ?? wholeNumberSetting(process.env, 'BILLRUN_INTERVAL_MS', 60_000);
  const timer = intervalMs > 0 ? setInterval(() => void runNow().catch((error: unknown) => logger.error('scheduled bill run failed', { error })), intervalMs) : undefined;
  const started = stage;
  return {
    name: 'billrun',
    url: started.url,
    ...(started.apiUrl ? { apiUrl: started.apiUrl } : {}),
    runNow,
    stop: async () => {
      stopping = true;
      if (timer) clearInterval(timer);
      await running?.catch(() => undefined);
      await controlTotals.stop();
      await outbox?.stop();
      await started.stop();
    },
  };
}

/**
 * Monthly agent statements (domain/commissions) from this service's invoices: the month is the
 * invoice's brand-local tax point; the agent is the customer's selling agent; the rule is the
 * brand's. Refunds and credit notes (from collect's payment events) take back their share of
 * their invoice's commission in the month they happened, whenever the invoice was issued.
 */
async function commissionStatements(db: Knex, tables: ReferenceTables, month: string, agent: string | null, brand?: string) {
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) throw Object.assign(new Error(`month "${month}" is not YYYY-MM`), { code: 'invalid_commission_input' });
  // Tax points of the month fall within a day of its UTC bounds in any zone.
  const start = DateTime.fromISO(`${month}-01`, { zone: 'utc' });
  const from = start.minus({ days: 2 }).toJSDate();
  const to = start.plus({ months: 1, days: 2 }).toJSDate();
  const reductions: { event_id: string; invoice_id: string; amount: string; at: Date }[] = await db(`${SCHEMA}.invoice_reductions`).where('at', '>=', from).andWhere('at', '<', to);
  const rows: { document: unknown }[] = await db(`${SCHEMA}.invoices`)
    .where((q) => void q.where('issued_at', '>=', from).andWhere('issued_at', '<', to))
    .orWhereIn('invoice_id', reductions.map((r) => r.invoice_id))
    .select('document');
  // Every invoice of the window, and the older ones a refund of the month is about (no tax-point filter here:
  // monthlyStatements puts each line in its own month).
  const invoices = rows.map((r) => reviveInvoice(r.document));
  const brands = tables.brands().filter((b) => b.commission !== null && (brand === undefined || b.code === brand));
  const subscriptions = [...new Set(invoices.map((i) => i.subscriptionId))].flatMap((id) => {
    const s = tables.subscription(id);
    return s ? [{ subscriptionId: id, agentId: tables.customer(s.accountId)?.agentId ?? null, anchor: new Date(s.anchor) }] : [];
  });
  const eligible = invoices.filter((i) => brands.some((b) => b.code === i.brand) && subscriptions.some((s) => s.subscriptionId === i.subscriptionId));
  const eligibleIds = new Set(eligible.map((i) => i.invoiceId));
  const input = {
    brands: brands.map((b) => ({ code: b.code, timeZone: b.timeZone })),
    rules: brands.map((b) => ({ brand: b.code, initialPercent: b.commission!.initialPercent, initialMonths: b.commission!.initialPeriods, recurringPercent: b.commission!.recurringPercent })),
    subscriptions,
    invoices: eligible,
    refunds: reductions.filter((r) => eligibleIds.has(r.invoice_id)).map((r) => ({ refundId: r.event_id, invoiceId: r.invoice_id, amount: new Decimal(r.amount).toFixed(), refundedAt: r.at })),
  };
  const statements = monthlyStatements(input, month, 'half_up');
  return agent ? statements.filter((s) => s.agentId === agent) : statements;
}

/** An invoice as the customer sees it, rendered on demand from the stored copy with the brand's current branding. */
async function renderStoredInvoice(
  db: Knex,
  tables: ReferenceTables,
  documents: DocumentRendererRegistry,
  invoiceId: string,
  format: string,
): Promise<{ type: string; body: string | Buffer } | undefined> {
  const row: { document: unknown } | undefined = await db(`${SCHEMA}.invoices`).where({ invoice_id: invoiceId }).first('document');
  if (!row) return undefined;
  if (format === 'json') return { type: 'application/json', body: JSON.stringify(row.document) };
  const invoice = reviveInvoice(row.document);
  const brand = tables.brand(invoice.brand);
  const customer = tables.customer(invoice.accountId);
  const subscription = tables.subscription(invoice.subscriptionId);
  if (!brand || !customer) throw new Error(`brand ${invoice.brand} or customer ${invoice.accountId} is not in the reference tables`);
  const plan = subscription ? tables.plan(subscription.planId, subscription.planVersion) : undefined;
  const branding = brandingFromReference(brand);
  const creditApplied = new Decimal((row.document as { creditApplied?: string }).creditApplied ?? 0);
  const input = { invoice, branding, customer: customerBlockFromReference(customer), creditApplied, ...(plan ? { priceModels: priceModelsOf(plan) } : {}) };
  const renderer = documents.forBrand(branding);
  if (format === 'html') return { type: 'text/html; charset=utf-8', body: renderer.renderInvoiceHtml(input) };
  if (format === 'pdf') return { type: 'application/pdf', body: await renderer.renderInvoicePdf(input) };
  return { type: 'application/json', body: JSON.stringify(renderer.renderInvoiceEmail(input)) };
}

async function insertCharges(trx: Knex.Transaction, charged: UsageCharged[]): Promise<void> {
  if (charged.length === 0) return;
  // One statement per batch; a redelivered record meets its own key and changes nothing.
  await trx.raw(
    `insert into ${SCHEMA}.charges (event_id, rating_version, brand, account_id, subscription_id, period_start, period_end, usage_type,
       billable_seconds, included_seconds, overage_seconds, amount, currency, tiers)
     select * from unnest(?::text[], ?::int[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::numeric[], ?::text[], ?::jsonb[])
     on conflict (event_id, rating_version) do nothing`,
    [
      charged.map((c) => c.eventId),
      charged.map((c) => c.ratingVersion),
      charged.map((c) => c.brand),
      charged.map((c) => c.accountId),
      charged.map((c) => c.subscriptionId),
      charged.map((c) => c.periodStart),
      charged.map((c) => c.periodEnd),
      charged.map((c) => c.usageType),
      charged.map((c) => c.billableSeconds),
      charged.map((c) => c.includedSeconds),
      charged.map((c) => c.overageSeconds),
      charged.map((c) => c.amount.toFixed()),
      charged.map((c) => c.currency),
      charged.map((c) =>
        JSON.stringify(c.tiers.map((x) => ({ tier: x.tier, seconds: x.seconds, unitPrice: x.unitPrice.toFixed(), flatFee: x.flatFee.toFixed(), amount: x.amount.toFixed() }))),
      ),
    ],
  );
}

/**
 * Collect's payment events, once each (their event id is the key): what an event moved to a
 * customer's credit balance becomes a ledger entry, under the account's lock; refunds and
 * credit notes are kept per invoice for commission clawback (a refund a credit note asked for
 * is inside the credit note's amount already).
 */
async function recordPaymentFacts(trx: Knex.Transaction, payments: PaymentRecord[]): Promise<void> {
  const credits = payments.filter((p) => p.creditBalanceChange && !p.creditBalanceChange.isZero());
  await lockCreditAccounts(trx, credits.map((p) => ({ brand: p.brand, accountId: p.accountId, currency: p.currency })));
  for (const p of credits) {
    const change = p.creditBalanceChange!;
    await addCreditEntry(trx, {
      entryId: `payment:${paymentEventId(p)}`,
      brand: p.brand,
      accountId: p.accountId,
      currency: p.currency,
      source: change.lt(0) ? 'refund' : p.kind === 'credit_refund' ? 'refund_reversed' : p.kind === 'credit_note' ? 'credit_note' : 'overpayment',
      amount: change,
      invoiceId: p.invoiceId,
      reference: p.paymentId,
      recordedBy: null,
      at: new Date(p.occurredAt),
    });
  }
  const reductions = payments.filter((p) => (p.kind === 'credit_note' && p.status === 'SUCCEEDED') || (p.kind === 'refund' && p.status === 'REFUNDED' && !p.creditNoteId));
  if (reductions.length === 0) return;
  await trx(`${SCHEMA}.invoice_reductions`)
    .insert(reductions.map((p) => ({ event_id: paymentEventId(p), invoice_id: p.invoiceId, kind: p.kind, amount: p.amount.toFixed(), currency: p.currency, at: new Date(p.occurredAt) })))
    .onConflict('event_id')
    .ignore();
}

async function insertRerated(trx: Knex.Transaction, rerated: UsageReratedRecord[]): Promise<void> {
  if (rerated.length === 0) return;
  await trx.raw(
    `insert into ${SCHEMA}.rerated (event_id, usage_event_id, kind, brand, subscription_id, period_start, usage_type, rating_version, amount_delta, currency)
     select * from unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[], ?::int[], ?::numeric[], ?::text[])
     on conflict (event_id) do nothing`,
    [
      rerated.map((r) => r.eventId),
      rerated.map((r) => r.usageEventId),
      rerated.map((r) => r.kind),
      rerated.map((r) => r.brand),
      rerated.map((r) => r.subscriptionId),
      rerated.map((r) => r.periodStart),
      rerated.map((r) => r.usageType),
      rerated.map((r) => r.ratingVersion),
      rerated.map((r) => r.amountDelta.toFixed()),
      rerated.map((r) => r.currency),
    ],
  );
}

/** The API: run now, list and read invoices (the stored document, with unrounded amounts for audit), agents' statements, credit balances. */
export function billRunApi(db: Knex, runNow: (brand?: string) => Promise<BillRunReport>, tables: ReferenceTables, clock: { now(): number } = { now: Date.now }): StageApi {
  const documents = builtinDocumentRenderers();
  return {
    title: 'rateline bill-run',
    audit: { db, schema: SCHEMA },
    description: "Bill runs, the invoices they issued and agents' commission statements. A brand's key sees its own brand only.",
    routes: (app) => {
      // /invoices/<id>.json (the stored audit copy), .html, .pdf, .email (the notification, as JSON).
      app.get<{ Params: { document: string } }>(
        '/invoices/:document',
        { schema: { operationId: 'getInvoiceDocument', summary: 'An invoice as <invoiceId>.json (stored copy), .html, .pdf or .email', tags: ['invoices'], params: { type: 'object', properties: { document: { type: 'string', pattern: '^.+\\.(json|html|pdf|email)$' } }, required: ['document'] }, response: { 200: { description: 'The document: the stored copy (.json) or the email (.email) as JSON, HTML or PDF', content: { 'application/json': { schema: { oneOf: [storedInvoiceBody, renderedEmailBody] } }, 'text/html': { schema: { type: 'string' } }, 'application/pdf': { schema: { type: 'string', format: 'binary' } } } }, ...problemResponses } } },
        async (request, reply) => {
          const [, invoiceId, format] = /^(.+)\.(json|html|pdf|email)$/.exec(request.params.document)!;
          const owner: { brand: string } | undefined = await db(`${SCHEMA}.invoices`).where({ invoice_id: invoiceId }).first('brand');
          if (!owner || !seesBrand(principalOf(request), owner.brand)) throw notFound(`invoice ${invoiceId}`, 'invoice_not_found');
          let out: Awaited<ReturnType<typeof renderStoredInvoice>>;
          try {
            out = await renderStoredInvoice(db, tables, documents, invoiceId!, format!);
          } catch (error) {
            throw new HttpError(422, 'render_failed', (error as Error).message);
          }
          if (!out) throw notFound(`invoice ${invoiceId}`, 'invoice_not_found');
          return send(reply, { status: 200, type: out.type, body: out.body });
        },
      );
      app.post<{ Querystring: { brand?: string } }>(
        '/bill-runs',
        { config: { audit: true }, schema: { operationId: 'runBills', summary: "Bill every brand (or one) now; a brand's key bills its own brand", tags: ['bill-runs'], querystring: brandQuery, response: { 200: billRunReportBody, ...problemResponses } } },
        async (request, reply) => {
          const scope = brandFilter(principalOf(request), request.query.brand);
          if (scope === 'none') throw notFound(`brand ${request.query.brand}`);
          return send(reply, { status: 200, body: await runNow(scope.brand) });
        },
      );
      // Agents' monthly statements from the invoices issued (fee, discount, proration and credit lines).
      app.get<{ Querystring: { month: string; agent?: string } }>(
        '/commission-statements',
        { schema: { operationId: 'listCommissionStatements', summary: "Agents' statements of a month; a brand's key gets its brand's invoices only", tags: ['commissions'], querystring: { type: 'object', properties: { month: { type: 'string', description: 'YYYY-MM' }, agent: { type: 'string' } }, required: ['month'], additionalProperties: false }, response: { 200: commissionStatementsBody, ...problemResponses } } },
        async (request, reply) => {
          const principal = principalOf(request);
          try {
            const statements = await commissionStatements(db, tables, request.query.month, request.query.agent ?? null, principal.kind === 'brand' ? principal.brand : undefined);
            return send(reply, { status: 200, body: { statements } });
          } catch (error) {
            if ((error as { code?: string }).code === 'invalid_commission_input') throw new HttpError(400, 'invalid_commission_input', (error as Error).message);
            throw error;
          }
        },
      );
      // What the company owes its customers: accounts with credit left (a brand's key: its own brand).
      app.get<{ Querystring: { brand?: string } }>(
        '/credit-balances',
        { schema: { operationId: 'listCreditBalances', summary: 'Accounts with a credit balance, by brand: what is owed to customers', tags: ['credit'], querystring: brandQuery, response: { 200: { description: 'Balances', type: 'object', properties: { balances: { type: 'array', items: { type: 'object', properties: { brand: { type: 'string' }, accountId: { type: 'string' }, currency: { type: 'string' }, balance: { type: 'string' } } } } } }, ...problemResponses } } },
        async (request, reply) => {
          const scope = brandFilter(principalOf(request), request.query.brand);
          if (scope === 'none') return send(reply, { status: 200, body: { balances: [] } });
          return send(reply, { status: 200, body: { balances: await outstandingCredit(db, scope.brand ?? null) } });
        },
      );
      app.get<{ Params: { accountId: string } }>(
        '/credit-balances/:accountId',
        { schema: { operationId: 'getCreditBalance', summary: "An account's credit balances (the sums of its entries) and its ledger entries", tags: ['credit'], params: { type: 'object', properties: { accountId: { type: 'string' } }, required: ['accountId'] }, response: { 200: creditStatementBody, ...problemResponses } } },
        async (request, reply) => {
          const statement = await creditStatement(db, request.params.accountId);
          if (!statement || !seesBrand(principalOf(request), statement.brand)) throw notFound(`credit balance of ${request.params.accountId}`, 'no_credit_balance');
          return send(reply, { status: 200, body: statement });
        },
      );
      app.post<{ Params: { accountId: string }; Body: { currency: string; amount: string; reference: string; recordedBy: string } }>(
        '/credit-balances/:accountId/payouts',
        {
          config: { audit: true },
          schema: {
            operationId: 'recordCreditPayout',
            summary: 'Credit given back by cheque or transfer (never more than the balance; the same reference twice is one payout)',
            tags: ['credit'],
            params: { type: 'object', properties: { accountId: { type: 'string' } }, required: ['accountId'] },
            body: { type: 'object', properties: { currency: { type: 'string', pattern: '^[A-Z]{3}$' }, amount: { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)?$' }, reference: { type: 'string', minLength: 1, maxLength: 100 }, recordedBy: { type: 'string', minLength: 1, maxLength: 200 } }, required: ['currency', 'amount', 'reference', 'recordedBy'], additionalProperties: false },
            response: { 200: payoutAlreadyRecordedBody, 201: payoutRecordedBody, 409: problemAnswer('More than the balance'), ...problemResponses },
          },
        },
        async (request, reply) => {
          const owner: { brand: string } | undefined = await db(`${SCHEMA}.credit_accounts`).where({ account_id: request.params.accountId, currency: request.body.currency }).first('brand');
          if (!owner || !seesBrand(principalOf(request), owner.brand)) throw notFound(`credit balance of ${request.params.accountId} in ${request.body.currency}`, 'no_credit_balance');
          return send(reply, await recordPayout(db, { accountId: request.params.accountId, ...request.body }, new Date(clock.now())));
        },
      );
      // What the console's Today screen shows per brand: billings due now, held (with reasons), invoices issued since an instant.
      app.get<{ Querystring: { brand?: string; since?: string } }>(
        '/bill-run-summary',
        {
          schema: {
            operationId: 'getBillRunSummary',
            summary: 'Per brand: billings due now, billings held with their reasons, invoices issued since an instant',
            tags: ['bill-runs'],
            querystring: { type: 'object', properties: { brand: brandQuery.properties.brand, since: { type: 'string', format: 'date-time', description: 'Count invoices issued at or after this instant (default: 24 hours ago)' } }, additionalProperties: false },
            response: { 200: billRunSummaryBody, ...problemResponses },
          },
        },
        async (request, reply) => {
          const scope = brandFilter(principalOf(request), request.query.brand);
          if (scope === 'none') return send(reply, { status: 200, body: { brands: [] } });
          return send(reply, { status: 200, body: { brands: await billRunSummary(db, scope.brand, new Date(clock.now()), request.query.since ? new Date(request.query.since) : new Date(clock.now() - 86_400_000)) } });
        },
      );
      app.get<{ Querystring: { brand: string; from: string; to: string; zone?: string } }>(
        '/revenue-by-day',
        {
          schema: {
            operationId: 'getRevenueByDay',
            summary: "A brand's invoices issued per day (in the zone given): count and total, per currency (credit notes are collect's)",
            tags: ['invoices'],
            querystring: dailyQuery,
            response: {
              200: dailyAnswer('Days with invoices, oldest first, per currency', { invoices: { type: 'integer' }, total: { type: 'string', description: "Sum of the invoices' totals" }, currency: { type: 'string' } }, ['invoices', 'total', 'currency']),
              ...problemResponses,
            },
          },
        },
        async (request, reply) => {
          const window = dailyWindow(request);
          const { rows } = (await db.raw(
            `select to_char(issued_at at time zone ?, 'YYYY-MM-DD') as day, currency, count(*)::int as invoices, sum(total) as total
             from ${SCHEMA}.invoices where brand = ? and issued_at >= ? and issued_at < ? group by 1, 2 order by 1, 2`,
            [window.zone, window.brand, window.from, window.to],
          )) as { rows: { day: string; currency: string; invoices: number; total: string }[] };
          return send(reply, { status: 200, body: { days: rows.map((r) => ({ day: r.day, invoices: r.invoices, total: new Decimal(r.total).toFixed(minorUnits(r.currency)), currency: r.currency })) } });
        },
      );
      app.get<{ Querystring: { brand?: string; accountId?: string; subscriptionId?: string; invoiceId?: string; invoiceNumber?: string; after?: string; limit?: number } }>(
        '/invoices',
        {
          schema: {
            operationId: 'listInvoices',
            summary: 'Invoices issued, by brand, account, subscription, id or number',
            tags: ['invoices'],
            querystring: { type: 'object', properties: { brand: { type: 'string' }, accountId: { type: 'string' }, subscriptionId: { type: 'string' }, invoiceId: { type: 'string' }, invoiceNumber: { type: 'string' }, after: { type: 'string', description: 'The next page: invoices numbered after this invoice number' }, limit: { type: 'integer', minimum: 1, maximum: 1000 } }, additionalProperties: false },
            response: { 200: invoiceListingBody, ...problemResponses },
          },
        },
        async (request, reply) => {
          const scope = brandFilter(principalOf(request), request.query.brand);
          if (scope === 'none') return send(reply, { status: 200, body: { invoices: [] } });
          // Invoices published before the runtime outbox (billrun 002) carry their own published_at.
          const query = db(`${SCHEMA}.invoices as i`)
            .leftJoin(`${SCHEMA}.outbox as o`, 'o.event_id', 'i.invoice_id')
            .select('i.invoice_id', 'i.invoice_number', 'i.brand', 'i.account_id', 'i.subscription_id', 'i.period_index', 'i.kind', 'i.issued_at', 'i.due_at', 'i.currency', 'i.total', db.raw('coalesce(o.published_at, i.published_at) as published_at'));
          const filters = { ...request.query, brand: scope.brand };
          for (const [param, column] of [['brand', 'brand'], ['accountId', 'account_id'], ['subscriptionId', 'subscription_id'], ['invoiceId', 'invoice_id'], ['invoiceNumber', 'invoice_number']] as const) {
            const value = filters[param];
            if (value) void query.where(`i.${column}`, value);
          }
          if (request.query.after) void query.where('i.invoice_number', '>', request.query.after);
          const rows = await query.orderBy('i.invoice_number').limit(request.query.limit ?? 100);
          return send(reply, { status: 200, body: { invoices: rows } });
        },
      );
    },
  };
}

/** Per brand: billings due at `now` (not yet billed), billings held with the latest reasons, invoices issued since `since`. */
export async function billRunSummary(db: Knex, brand: string | undefined, now: Date, since: Date) {
  const byBrand = (q: Knex.QueryBuilder): Knex.QueryBuilder => (brand ? q.where('brand', brand) : q) as Knex.QueryBuilder;
  const [due, held, issued, holds] = await Promise.all([
    byBrand(db(`${SCHEMA}.next_billings`).whereNotNull('due_at').where('due_at', '<=', now)).groupBy('brand').select('brand', db.raw('count(*)::int as n')),
    byBrand(db(`${SCHEMA}.holds`)).groupBy('brand').select('brand', db.raw('count(*)::int as n')),
    byBrand(db(`${SCHEMA}.invoices`).where('issued_at', '>=', since)).groupBy('brand').select('brand', db.raw('count(*)::int as n')),
    byBrand(db(`${SCHEMA}.holds`)).orderBy('last_seen', 'desc').limit(200).select('brand', 'subscription_id', 'period_index', 'code', 'message', 'first_seen', 'last_seen'),
  ]);
  const brands = new Map<string, { brand: string; due: number; held: number; issuedSince: number; holds: unknown[] }>();
  const entry = (code: string) => brands.get(code) ?? brands.set(code, { brand: code, due: 0, held: 0, issuedSince: 0, holds: [] }).get(code)!;
  for (const r of due as { brand: string; n: number }[]) entry(r.brand).due = r.n;
  for (const r of held as { brand: string; n: number }[]) entry(r.brand).held = r.n;
  for (const r of issued as { brand: string; n: number }[]) entry(r.brand).issuedSince = r.n;
  for (const h of holds as { brand: string; subscription_id: string; period_index: number; code: string; message: string; first_seen: Date; last_seen: Date }[]) {
    const e = entry(h.brand);
    if (e.holds.length < 20) e.holds.push({ subscriptionId: h.subscription_id, periodIndex: h.period_index, code: h.code, message: h.message, firstSeen: h.first_seen, lastSeen: h.last_seen });
  }
  return [...brands.values()].sort((a, b) => a.brand.localeCompare(b.brand));
}
