import type http from 'node:http';
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
import type { RunningService, ServiceDeps } from '../../runtime/service.ts';
import { startStage, type StageContext } from '../../runtime/stage.ts';
import { sleep } from '../../runtime/time.ts';
import { brandTopicsPreparer } from '../../topics/apply.ts';
import { brandingFromReference, builtinDocumentRenderers, customerBlockFromReference, priceModelsOf, reviveInvoice, type DocumentRendererRegistry } from '../../documents/index.ts';
import { brandTopics, topics } from '../../topics/catalog.ts';
import { paymentEventId, type PaymentRecord } from '../../contracts/payment.ts';
import { addCreditEntry, creditStatement, lockCreditAccounts, outstandingCredit, recordPayout } from './credit.ts';
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
        const usage = deps.serde.decode<UsageCharged>(r.value, 'usage.charged');
        // A re-rating run's charges (version > 1) reach billing as its usage.rerated
        // differences (added, removed, changed); storing them too would count them twice.
        if (usage.ratingVersion === 1) charged.push(usage);
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
      report.published = outbox ? await outbox.drain() : 0;
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
    routes: (ctx) => {
      context = ctx;
      return billRunRoutes(db, runNow, tables, deps.clock);
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
    runNow,
    stop: async () => {
      stopping = true;
      if (timer) clearInterval(timer);
      await running?.catch(() => undefined);
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
async function commissionStatements(db: Knex, tables: ReferenceTables, month: string, agent: string | null) {
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
  const invoices = rows.map((r) => reviveInvoice(r.document));
  const brands = tables.brands().filter((b) => b.commission !== null);
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
     on conflict (event_id) do nothing`,
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
      source: change.lt(0) ? 'refund' : p.kind === 'credit_note' ? 'credit_note' : 'overpayment',
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
    `insert into ${SCHEMA}.rerated (event_id, brand, subscription_id, period_start, usage_type, rating_version, amount_delta, currency)
     select * from unnest(?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[], ?::int[], ?::numeric[], ?::text[])
     on conflict (event_id) do nothing`,
    [
      rerated.map((r) => r.eventId),
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

/** Ops endpoints: run now, list and read invoices (the stored document, with unrounded amounts for audit). */
function billRunRoutes(db: Knex, runNow: (brand?: string) => Promise<BillRunReport>, tables: ReferenceTables, clock: { now(): number }): Record<string, http.RequestListener> {
  const json = (res: http.ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const documents = builtinDocumentRenderers();
  return {
    // /invoices/<id>.json (the stored audit copy), .html, .pdf, .email (the notification, as JSON).
    '/invoices/': (req, res) => {
      const match = /^\/invoices\/([^/]+)\.(json|html|pdf|email)$/.exec(decodeURIComponent((req.url ?? '').split('?')[0]!));
      if (!match || req.method !== 'GET') return json(res, 404, { error: 'not_found', hint: 'GET /invoices/<invoiceId>.(json|html|pdf|email)' });
      const [, invoiceId, format] = match as unknown as [string, string, string];
      renderStoredInvoice(db, tables, documents, invoiceId, format).then(
        (out) => (out === undefined ? json(res, 404, { error: 'invoice_not_found', invoiceId }) : res.writeHead(200, { 'content-type': out.type }).end(out.body)),
        (error: Error) => json(res, 422, { error: 'render_failed', message: error.message }),
      );
    },
    '/bill-runs': (req, res) => {
      if (req.method !== 'POST') return json(res, 405, { error: 'method_not_allowed', allowed: ['POST'] });
      const brand = new URL(req.url ?? '/', 'http://x').searchParams.get('brand') ?? undefined;
      runNow(brand).then(
        (report) => json(res, 200, report),
        (error: Error) => json(res, 500, { error: 'bill_run_failed', message: error.message }),
      );
    },
    // Agents' monthly statements from the invoices issued (fee, discount, proration and credit lines).
    '/commission-statements': (req, res) => {
      const params = new URL(req.url ?? '/', 'http://x').searchParams;
      commissionStatements(db, tables, params.get('month') ?? '', params.get('agent')).then(
        (statements) => json(res, 200, { statements }),
        (error: Error & { code?: string }) => json(res, error.code === 'invalid_commission_input' ? 400 : 500, { error: error.code ?? 'statement_failed', message: error.message }),
      );
    },
    // What the company owes its customers: accounts with credit left (?brand= for one brand).
    '/credit-balances': (req, res) => {
      if (req.method !== 'GET') return json(res, 405, { error: 'method_not_allowed', allowed: ['GET'] });
      outstandingCredit(db, new URL(req.url ?? '/', 'http://x').searchParams.get('brand')).then(
        (balances) => json(res, 200, { balances }),
        (error: Error) => json(res, 500, { error: 'query_failed', message: error.message }),
      );
    },
    // GET /credit-balances/<accountId>: balances and entries; POST /credit-balances/<accountId>/payouts: a cheque or transfer of credit.
    '/credit-balances/': (req, res) => {
      const match = /^\/credit-balances\/([^/]+)(\/payouts)?$/.exec(decodeURIComponent((req.url ?? '').split('?')[0]!));
      if (!match) return json(res, 404, { error: 'not_found', hint: 'GET /credit-balances/<accountId>, POST /credit-balances/<accountId>/payouts' });
      const accountId = match[1]!;
      if (!match[2]) {
        if (req.method !== 'GET') return json(res, 405, { error: 'method_not_allowed', allowed: ['GET'] });
        return void creditStatement(db, accountId).then(
          (statement) => (statement ? json(res, 200, statement) : json(res, 404, { error: 'no_credit_balance', accountId })),
          (error: Error) => json(res, 500, { error: 'query_failed', message: error.message }),
        );
      }
      if (req.method !== 'POST') return json(res, 405, { error: 'method_not_allowed', allowed: ['POST'] });
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          return json(res, 400, { error: 'invalid_json' });
        }
        const missing = ['currency', 'amount', 'reference', 'recordedBy'].filter((k) => typeof body[k] !== 'string' || body[k] === '');
        if (missing.length > 0) return json(res, 422, { error: 'invalid_payout', problems: missing.map((k) => `${k} is required (a string)`) });
        const input = { accountId, currency: String(body['currency']), amount: String(body['amount']), reference: String(body['reference']), recordedBy: String(body['recordedBy']) };
        recordPayout(db, input, new Date(clock.now())).then(
          (out) => json(res, out.status, out.body),
          (error: Error) => json(res, 500, { error: 'payout_failed', message: error.message }),
        );
      });
    },
    '/invoices': (req, res) => {
      const params = new URL(req.url ?? '/', 'http://x').searchParams;
      // Invoices published before the runtime outbox (billrun 002) carry their own published_at.
      const query = db(`${SCHEMA}.invoices as i`)
        .leftJoin(`${SCHEMA}.outbox as o`, 'o.event_id', 'i.invoice_id')
        .select('i.invoice_id', 'i.invoice_number', 'i.brand', 'i.account_id', 'i.subscription_id', 'i.period_index', 'i.kind', 'i.issued_at', 'i.due_at', 'i.currency', 'i.total', db.raw('coalesce(o.published_at, i.published_at) as published_at'));
      for (const [param, column] of [['brand', 'brand'], ['accountId', 'account_id'], ['subscriptionId', 'subscription_id'], ['invoiceId', 'invoice_id']] as const) {
        const value = params.get(param);
        if (value) void query.where(`i.${column}`, value);
      }
      query.orderBy('i.invoice_number').limit(Math.min(Number(params.get('limit') ?? 100) || 100, 1000)).then(
        (rows) => json(res, 200, { invoices: rows }),
        (error: Error) => json(res, 500, { error: 'query_failed', message: error.message }),
      );
    },
  };
}
