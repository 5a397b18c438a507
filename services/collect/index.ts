import type http from 'node:http';
import client from 'prom-client';
import type { Knex } from 'knex';
import { Decimal } from 'decimal.js';
import { ReferenceTables } from '../../domain/reference/index.ts';
import type { Brand } from '../../domain/reference/index.ts';
import { allReferenceTopics, applyReferenceRecords } from '../../contracts/reference.ts';
import type { InvoiceEvent } from '../../contracts/invoice.ts';
import { brandingFromReference, builtinDocumentRenderers, customerBlockFromReference } from '../../documents/index.ts';
import { defaultGatewayRegistry, envSuffix, ManualGateway } from '../../gateways/index.ts';
import type { GatewayRegistry } from '../../gateways/index.ts';
import type { PaymentGateway } from '../../gateways/types.ts';
import { ConfigError } from '../../runtime/errors.ts';
import { wholeNumberSetting, type RuntimeConfig } from '../../runtime/config.ts';
import { createDb, inTransaction, migrateService } from '../../runtime/db.ts';
import type { ConsumedRecord } from '../../runtime/kafka.ts';
import { startOutboxRelay, type OutboxRelay } from '../../runtime/outbox.ts';
import type { RunningService, ServiceDeps } from '../../runtime/service.ts';
import { startStage } from '../../runtime/stage.ts';
import { brandTopicsPreparer } from '../../topics/apply.ts';
import { brandTopics, topics } from '../../topics/catalog.ts';
import { collectInvoice, storeInvoices, type CollectOutcome, type CollectorDeps, type GatewayProvider, type InvoiceRow } from './collector.ts';
import { issueCreditNote, receiveWebhook, recordManualPayment, requestRefund, sendRefund, settleRefunds, storePaymentMethod, type OpResult, type RefundGatewayFor } from './operations.ts';
import { openCreditRefunds, refundCredit, storeCreditRefunds } from './credit-refunds.ts';
import type { CreditRefundRecord } from '../../contracts/payment.ts';
import { migrations, offsets, SCHEMA } from './schema.ts';
import { cardDataProblems, parseCreditNote, parseManualPayment, parsePaymentMethod, parseRefund, type Parsed } from './validate.ts';

export const GROUP_ID = 'rateline-collect';
/** Every brand's invoices topic (brand codes are lowercase letters, digits and dashes). */
export const DEFAULT_INVOICE_PATTERN = /^brand\.[a-z0-9-]+\.invoices$/;
const CREDIT_REFUND_TOPIC = /^brand\.[a-z0-9-]+\.credit-refunds$/;

export interface CollectOptions {
  parentCompany?: string;
  /** How often the collection run looks for due work (default COLLECT_INTERVAL_MS or 5 min; 0: only on demand). */
  intervalMs?: number;
  /** Which invoices topics to consume (default COLLECT_TOPIC_PATTERN, or every brand's). */
  topicPattern?: RegExp;
  /** Consumer group, also the key of the offsets stored in PostgreSQL (default COLLECT_GROUP_ID or rateline-collect). */
  groupId?: string;
  /** Gateway calls in flight at once (default COLLECT_CONCURRENCY or 4). */
  concurrency?: number;
  /** How long an unanswered claim is left to its claimer before a run settles it (default COLLECT_CLAIM_LEASE_MS or 2 min). */
  claimLeaseMs?: number;
  /** Where gateway credentials come from (default process.env): RATELINE_GATEWAY_<BRAND>, STRIPE_*_<BRAND>, PAYPAL_*_<BRAND>. */
  env?: Readonly<Record<string, string | undefined>>;
  registry?: GatewayRegistry;
  /** Wall clock for webhook freshness (default Date.now): signatures are judged against real time, not the simulated clock. */
  webhookNow?: () => number;
}

export interface CollectionReport {
  at: string;
  invoices: number;
  outcomes: Partial<Record<CollectOutcome, number>>;
  refundsSettled: number;
  published: number;
  failed: { invoiceId: string; error: string }[];
}

export interface RunningCollect extends RunningService {
  /** The daily collection run as of the clock's now: charges due, retries, settles unknown outcomes. */
  runNow(brand?: string): Promise<CollectionReport>;
  /** Publishes the outbox now (tests; the service does it after every change). */
  flush(): Promise<number>;
}

/**
 * collect: stores every brand's invoices (idempotent on the invoice id, offsets in the same
 * transaction) and charges each through its brand's gateway with an idempotency key saved
 * before the call; a daily run on the injected clock retries on the brand's retry days and
 * settles unknown outcomes with the same key. Webhooks, manual payments, refunds and credit
 * notes come through the ops routes; every payment fact goes out on brand.<code>.payments
 * through an outbox, and each payment's receipt is rendered on demand.
 */
export async function startCollect(config: RuntimeConfig, deps: ServiceDeps, options: CollectOptions = {}): Promise<RunningCollect> {
  const env = options.env ?? process.env;
  const logger = deps.logger.child({ stage: 'collect' });
  const intervalMs = options.intervalMs ?? wholeNumberSetting(env, 'COLLECT_INTERVAL_MS', 300_000);
  const concurrency = Math.max(1, options.concurrency ?? wholeNumberSetting(env, 'COLLECT_CONCURRENCY', 4));
  const claimLeaseMs = options.claimLeaseMs ?? wholeNumberSetting(env, 'COLLECT_CLAIM_LEASE_MS', 120_000);
  const groupId = options.groupId ?? env['COLLECT_GROUP_ID'] ?? GROUP_ID;
  let pattern = options.topicPattern ?? DEFAULT_INVOICE_PATTERN;
  if (!options.topicPattern && env['COLLECT_TOPIC_PATTERN']) {
    try {
      pattern = new RegExp(env['COLLECT_TOPIC_PATTERN']);
    } catch (error) {
      throw new ConfigError([`COLLECT_TOPIC_PATTERN is not a regular expression: ${(error as Error).message}`]);
    }
  }
  const registry = options.registry ?? defaultGatewayRegistry();
  const webhookNow = options.webhookNow ?? Date.now;

  const db = createDb(config.postgres);
  await migrateService(db, SCHEMA, migrations);
  const store = offsets.store(db);
  const tables = new ReferenceTables(options.parentCompany ?? env['RATELINE_PARENT_COMPANY'] ?? 'ansr-group');
  const manual = new ManualGateway({ now: webhookNow });

  // One gateway per brand and id, built on first use; RATELINE_GATEWAY_<BRAND> overrides ref.brands' choice.
  const built = new Map<string, PaymentGateway>();
  const gateways: GatewayProvider = {
    forBrand(brand: Brand) {
      const id = env[`RATELINE_GATEWAY_${envSuffix(brand.code)}`] || brand.gateway;
      const key = `${brand.code}:${id}`;
      let gateway = built.get(key);
      if (!gateway) {
        if (id === manual.id) gateway = manual;
        else {
          const factory = registry.factory(id);
          gateway = registry.create(brand.code, { gateway: id, options: factory.optionsFromEnv(brand.code, env) }, { now: webhookNow });
        }
        built.set(key, gateway);
      }
      return gateway;
    },
  };
  const collector: CollectorDeps = { db, tables, clock: deps.clock, logger, gateways, claimLeaseMs };
  const refundGateway: RefundGatewayFor = (invoice, chargeGateway) => {
    if (chargeGateway === manual.id) return manual;
    const brand = tables.brand(invoice.brand);
    if (!brand) throw new ConfigError([`brand ${invoice.brand} is not in ref.brands`]);
    const gateway = gateways.forBrand(brand);
    if (gateway.id !== chargeGateway) throw new ConfigError([`the charge was made through ${chargeGateway}, brand ${brand.code} now uses ${gateway.id}: refund it there by hand`]);
    return gateway;
  };

  // ---------------------------------------------------------------- collecting
  // One turn per invoice at a time in this process (the consumer and a run may both reach it);
  // across instances the attempt's primary key decides who charges.
  const turns = new Map<string, Promise<CollectOutcome>>();
  const collectOne = (invoiceId: string): Promise<CollectOutcome> => {
    const earlier = turns.get(invoiceId) ?? Promise.resolve('taken' as CollectOutcome);
    const turn = earlier.catch(() => 'taken' as CollectOutcome).then(() => collectInvoice(collector, invoiceId));
    turns.set(invoiceId, turn);
    void turn.finally(() => {
      if (turns.get(invoiceId) === turn) turns.delete(invoiceId);
    }).catch(() => undefined);
    return turn;
  };
  const collectMany = async (ids: string[], report?: CollectionReport) => {
    let next = 0;
    const worker = async () => {
      // A stop lets each worker finish the invoice in hand; the rest wait for the next run.
      while (next < ids.length && !stopping) {
        const id = ids[next++]!;
        try {
          const outcome = await collectOne(id);
          if (report) report.outcomes[outcome] = (report.outcomes[outcome] ?? 0) + 1;
          metrics.outcomes?.inc({ outcome });
        } catch (error) {
          // The invoice stays stored; the next run takes it up again.
          logger.error('collecting an invoice failed', { invoiceId: id, error });
          report?.failed.push({ invoiceId: id, error: (error as Error).message });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker));
  };

  const metrics = { outcomes: undefined as client.Counter<'outcome'> | undefined };
  let running: Promise<CollectionReport> | undefined;
  const runNow = (brand?: string): Promise<CollectionReport> => {
    const next = (running ?? Promise.resolve()).catch(() => undefined).then(async () => {
      const report: CollectionReport = { at: new Date(deps.clock.now()).toISOString(), invoices: 0, outcomes: {}, refundsSettled: 0, published: 0, failed: [] };
      // This instance's brands: those whose invoices topic its pattern takes (another instance may own the rest).
      const known: string[] = await db(`${SCHEMA}.invoices`).distinct('brand').pluck('brand');
      const brands = known.filter((b) => (brand === undefined || b === brand) && pattern.test(brandTopics(b).invoices.name));
      let after = '';
      // Paged by invoice id so that a run over many invoices holds no long query open.
      while (!stopping) {
        // A retry whose brand-local day is after tomorrow (UTC) cannot be due today in any zone.
        const horizon = new Date(deps.clock.now() + 86_400_000).toISOString().slice(0, 10);
        const query = db(`${SCHEMA}.invoices`)
          .whereNotIn('collection', ['paid', 'stopped'])
          .where((q) => void q.whereNull('next_attempt_on').orWhere('next_attempt_on', '<=', horizon))
          .where('invoice_id', '>', after)
          .whereIn('brand', brands)
          .orderBy('invoice_id')
          .limit(1000)
          .pluck('invoice_id');
        const ids: string[] = await query;
        if (ids.length === 0) break;
        report.invoices += ids.length;
        await collectMany(ids, report);
        after = ids[ids.length - 1]!;
      }
      for (const b of brands) {
        for (const id of await openCreditRefunds(db, b)) await refundCredit(collector, (invoice, row) => sendRefund(collector, refundGateway, invoice, row), id);
        report.refundsSettled += await settleRefunds(collector, refundGateway, b);
      }
      report.published = outbox ? await outbox.drain() : 0;
      logger.info('collection run', { at: report.at, invoices: report.invoices, outcomes: report.outcomes, failed: report.failed.length });
      return report;
    });
    running = next;
    return next;
  };

  // ---------------------------------------------------------------- consuming invoices
  // New invoices are charged by a background worker, not inside the consumer's batch: a batch
  // of thousands of invoices must not hold the consumer past its session timeout. The queue
  // holds ids only; what is in it when the process dies is found again by the start-up pass.
  const queue = new Set<string>();
  let draining: Promise<void> | undefined;
  let stopping = false;
  const drain = async () => {
    while (queue.size > 0 && !stopping) {
      const ids = [...queue].slice(0, 500);
      for (const id of ids) queue.delete(id);
      await collectMany(ids);
    }
  };
  const enqueue = (ids: string[]) => {
    for (const id of ids) queue.add(id);
    if (draining || stopping) return;
    draining = drain()
      .catch((error: unknown) => logger.error('collecting new invoices failed (the next run takes them up)', { error }))
      .finally(() => {
        draining = undefined;
        if (queue.size > 0 && !stopping) enqueue([]);
      });
  };

  // Credit refunds bill-run asks for are sent the same way: after their batch commits, in the background.
  const refundCreditNow = (ids: string[]) => {
    void (async () => {
      for (const id of ids) {
        if (stopping) return;
        await refundCredit(collector, (invoice, row) => sendRefund(collector, refundGateway, invoice, row), id);
      }
    })().catch((error: unknown) => logger.error('credit refund failed (the next run takes it up)', { error }));
  };

  const handleBatch = async (records: ConsumedRecord[]) => {
    await deps.serde.prepare(records.map((r) => r.value));
    const last = records[records.length - 1]!;
    if (CREDIT_REFUND_TOPIC.test(last.topic)) {
      const requests = records.map((r) => deps.serde.decode<CreditRefundRecord>(r.value, 'credit.refund'));
      const fresh = await inTransaction(db, async (trx) => {
        const ids = await storeCreditRefunds(trx, requests, deps.clock.now());
        await store.saveAfter(trx, groupId, last);
        return ids;
      });
      refundCreditNow(fresh);
      return;
    }
    const invoices = records.map((r) => deps.serde.decode<InvoiceEvent>(r.value, 'invoice'));
    const fresh = await inTransaction(db, async (trx) => {
      const ids = await storeInvoices(trx, invoices, deps.clock.now());
      await store.saveAfter(trx, groupId, last);
      return ids;
    });
    // After the commit: the invoices and offsets are safe, so a crash from here on only leaves
    // work that the next run (and the start-up pass) picks up.
    enqueue(fresh);
  };

  let outbox: OutboxRelay | undefined;
  const stage = await startStage(config, deps, {
    name: 'collect',
    groupId,
    // The same brands' credit refund requests (bill-run's ledger asks; see credit-refunds.ts).
    inputTopics: [pattern, new RegExp(pattern.source.replace('invoices', 'credit-refunds'))],
    deadLetterTopic: topics.deadLetter.name,
    referenceTopics: allReferenceTopics,
    onReference: (records) => applyReferenceRecords(tables, records, logger),
    handleBatch: (records) => handleBatch(records),
    storedOffsets: () => store.load(groupId),
    routes: (ctx) => {
      metrics.outcomes = new client.Counter({ name: 'rateline_collect_outcomes_total', help: 'Invoice collection turns, by outcome', labelNames: ['outcome'], registers: [ctx.metrics.registry] });
      return collectRoutes({ db, collector, manual, refundGateway, runNow, tables, logger });
    },
    healthChecks: { outbox: () => ({ ok: outbox?.isHealthy() ?? true }) },
    close: () => db.destroy(),
  });
  // Payment events go out on their brand's topic, created the first time the brand has one.
  outbox = await startOutboxRelay({
    db,
    schema: SCHEMA,
    kafka: deps.kafka,
    serde: deps.serde,
    logger,
    metrics: stage.metrics,
    prepareTopic: brandTopicsPreparer(deps.kafka, deps.serde),
  });

  // Start-up pass: attempts left unanswered when the last process died are settled with their
  // own key (once their claim's lease has passed: until then a later run does it), invoices
  // stored but never charged are charged, the outbox is emptied.
  const startup = runNow().catch((error: unknown) => logger.error('start-up collection pass failed', { error }));
  const timer = intervalMs > 0 ? setInterval(() => void runNow().catch((error: unknown) => logger.error('scheduled collection run failed', { error })), intervalMs) : undefined;
  await startup;

  return {
    name: 'collect',
    url: stage.url,
    runNow,
    flush: () => outbox!.drain(),
    stop: async () => {
      stopping = true;
      if (timer) clearInterval(timer);
      await draining;
      await running?.catch(() => undefined);
      await outbox?.stop();
      await stage.stop();
    },
  };
}

// ------------------------------------------------------------------ HTTP

interface RouteDeps {
  db: Knex;
  collector: CollectorDeps;
  manual: ManualGateway;
  refundGateway: RefundGatewayFor;
  runNow(brand?: string): Promise<CollectionReport>;
  tables: ReferenceTables;
  logger: CollectorDeps['logger'];
}

const MAX_BODY = 1024 * 1024;

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const json = (res: http.ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

function collectRoutes(r: RouteDeps): Record<string, http.RequestListener> {
  const documents = builtinDocumentRenderers();

  /** A JSON ops request: card data is refused before anything reads it (and nothing logs the body). */
  const jsonOp =
    <T>(parse: (body: unknown) => Parsed<T>, op: (input: T) => Promise<OpResult>): http.RequestListener =>
    (req, res) => {
      if (req.method !== 'POST') return json(res, 405, { error: 'method_not_allowed', allowed: ['POST'] });
      void (async () => {
        let body: unknown;
        try {
          body = JSON.parse((await readBody(req)).toString('utf8'));
        } catch {
          return json(res, 400, { error: 'invalid_json', problems: ['the body must be JSON (at most 1 MB)'] });
        }
        const card = cardDataProblems(body);
        if (card.length > 0) {
          r.logger.warn('request with card data refused', { path: req.url, fields: card.length });
          return json(res, 422, { error: 'card_data_refused', problems: card });
        }
        const parsed = parse(body);
        if (!parsed.ok) return json(res, 422, { error: 'invalid_request', problems: parsed.problems });
        const result = await op(parsed.value);
        json(res, result.status, result.body);
      })().catch((error: Error) => {
        r.logger.error('ops request failed', { path: req.url, error });
        json(res, 500, { error: 'internal_error', message: error.message });
      });
    };

  return {
    '/collection-runs': (req, res) => {
      if (req.method !== 'POST') return json(res, 405, { error: 'method_not_allowed', allowed: ['POST'] });
      const brand = new URL(req.url ?? '/', 'http://x').searchParams.get('brand') ?? undefined;
      r.runNow(brand).then(
        (report) => json(res, 200, report),
        (error: Error) => json(res, 500, { error: 'collection_run_failed', message: error.message }),
      );
    },
    // /webhooks/<gateway>/<brand>: the raw bytes go to the plugin, never a re-parsed body.
    '/webhooks/': (req, res) => {
      const match = /^\/webhooks\/([a-z0-9_-]+)\/([a-z0-9-]+)$/.exec((req.url ?? '').split('?')[0]!);
      if (!match || req.method !== 'POST') return json(res, 404, { error: 'not_found', hint: 'POST /webhooks/<gateway>/<brand>' });
      void (async () => {
        const raw = await readBody(req);
        const result = await receiveWebhook(r.collector, match[1]!, match[2]!, raw, req.headers);
        json(res, result.status, result.body);
      })().catch((error: Error) => {
        r.logger.error('webhook failed', { path: req.url, error });
        json(res, 500, { error: 'internal_error', message: error.message });
      });
    },
    '/payments/manual': jsonOp(parseManualPayment, (input) => recordManualPayment(r.collector, r.manual, input)),
    '/refunds': jsonOp(parseRefund, (input) => requestRefund(r.collector, r.refundGateway, input)),
    '/credit-notes': jsonOp(parseCreditNote, (input) => issueCreditNote(r.collector, r.refundGateway, input)),
    '/payment-methods': jsonOp(parsePaymentMethod, (input) => storePaymentMethod(r.collector, input)),
    // /receipts/<paymentId>.html | .pdf | .email (the receipt email as JSON).
    '/receipts/': (req, res) => {
      const match = /^\/receipts\/(.+)\.(html|pdf|email)$/.exec(decodeURIComponent((req.url ?? '').split('?')[0]!));
      if (!match || req.method !== 'GET') return json(res, 404, { error: 'not_found', hint: 'GET /receipts/<paymentId>.(html|pdf|email)' });
      const [, paymentId, format] = match as unknown as [string, string, 'html' | 'pdf' | 'email'];
      renderReceipt(r, documents, paymentId, format).then(
        (out) => (out === undefined ? json(res, 404, { error: 'payment_not_found', paymentId }) : res.writeHead(200, { 'content-type': out.type }).end(out.body)),
        (error: Error) => json(res, 422, { error: 'render_failed', message: error.message }),
      );
    },
    // /invoices?brand=&collection=: where collection stands; /invoices/<id>: one invoice with attempts and events.
    '/invoices': (req, res) => {
      const params = new URL(req.url ?? '/', 'http://x').searchParams;
      const query = r.db(`${SCHEMA}.invoices`).select('invoice_id', 'invoice_number', 'brand', 'account_id', 'currency', 'total', 'due_at', 'payment_status', 'collection', 'next_attempt_on', 'stop_reason');
      for (const [param, column] of [['brand', 'brand'], ['accountId', 'account_id'], ['collection', 'collection'], ['paymentStatus', 'payment_status']] as const) {
        const value = params.get(param);
        if (value) void query.where(column, value);
      }
      query.orderBy('invoice_id').limit(Math.min(Number(params.get('limit') ?? 100) || 100, 10_000)).then(
        (rows) => json(res, 200, { invoices: rows }),
        (error: Error) => json(res, 500, { error: 'query_failed', message: error.message }),
      );
    },
    '/invoices/': (req, res) => {
      const invoiceId = decodeURIComponent((req.url ?? '').split('?')[0]!.slice('/invoices/'.length));
      void (async () => {
        const invoice = await r.db(`${SCHEMA}.invoices`).where({ invoice_id: invoiceId }).first();
        if (!invoice) return json(res, 404, { error: 'invoice_not_found', invoiceId });
        const [attempts, events, payments, refunds, creditNotes] = await Promise.all([
          r.db(`${SCHEMA}.attempts`).where({ invoice_id: invoiceId }).orderBy('attempt'),
          r.db(`${SCHEMA}.payment_events`).where({ invoice_id: invoiceId }).orderBy('received_at'),
          r.db(`${SCHEMA}.payments`).where({ invoice_id: invoiceId }),
          r.db(`${SCHEMA}.refunds`).where({ invoice_id: invoiceId }).orderBy('n'),
          r.db(`${SCHEMA}.credit_notes`).where({ invoice_id: invoiceId }).orderBy('n'),
        ]);
        json(res, 200, { invoice, attempts, events, payments, refunds, creditNotes });
      })().catch((error: Error) => json(res, 500, { error: 'query_failed', message: error.message }));
    },
  };
}

async function renderReceipt(
  r: RouteDeps,
  documents: ReturnType<typeof builtinDocumentRenderers>,
  paymentId: string,
  format: 'html' | 'pdf' | 'email',
): Promise<{ type: string; body: string | Buffer } | undefined> {
  const payment: { payment_id: string; invoice_id: string; brand: string; account_id: string; reference: string; amount: string; currency: string; paid_at: Date; method_label: string; balance_after: string } | undefined =
    await r.db(`${SCHEMA}.payments`).where({ payment_id: paymentId }).first();
  if (!payment) return undefined;
  const invoice: InvoiceRow = await r.db(`${SCHEMA}.invoices`).where({ invoice_id: payment.invoice_id }).first();
  const brand = r.tables.brand(payment.brand);
  const customer = r.tables.customer(payment.account_id);
  if (!brand || !customer) throw new Error(`brand ${payment.brand} or customer ${payment.account_id} is not in the reference tables`);
  const branding = brandingFromReference(brand);
  const input = {
    branding,
    customer: customerBlockFromReference(customer),
    receipt: {
      paymentId: payment.payment_id,
      receiptNumber: `R-${invoice.invoice_number}-${payment.payment_id.split('-').pop()}`,
      invoiceNumber: invoice.invoice_number,
      amount: new Decimal(payment.amount),
      currency: payment.currency,
      methodLabel: payment.method_label,
      paidAt: payment.paid_at,
      gatewayReference: payment.reference,
      balanceAfter: new Decimal(payment.balance_after),
    },
  };
  const renderer = documents.forBrand(branding);
  if (format === 'html') return { type: 'text/html; charset=utf-8', body: renderer.renderReceiptHtml(input) };
  if (format === 'pdf') return { type: 'application/pdf', body: await renderer.renderReceiptPdf(input) };
  return { type: 'application/json', body: JSON.stringify(renderer.renderReceiptEmail(input)) };
}
