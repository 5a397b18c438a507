import type { FastifyInstance } from 'fastify';
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
import { publishThroughOutbox, startControlTotalsPublisher } from '../../runtime/control-totals.ts';
import type { RunningService, ServiceDeps } from '../../runtime/service.ts';
import { startStage, type StageApi } from '../../runtime/stage.ts';
import { brandFilter, seesBrand } from '../../runtime/auth.ts';
import { asProblems, brandQuery, HttpError, notFound, principalOf, problemAnswer, problemResponses, send } from '../../runtime/http.ts';
import { brandTopicsPreparer } from '../../topics/apply.ts';
import { brandTopics, topics } from '../../topics/catalog.ts';
import { brandZones, collectInvoice, storeInvoices, type CollectOutcome, type CollectorDeps, type GatewayProvider, type InvoiceRow } from './collector.ts';
import { issueCreditNote, receiveWebhook, recordManualPayment, requestRefund, sendRefund, settleRefunds, storePaymentMethod, type OpResult, type RefundGatewayFor } from './operations.ts';
import { openCreditRefunds, refundCredit, storeCreditRefunds } from './credit-refunds.ts';
import type { CreditRefundRecord } from '../../contracts/payment.ts';
import { migrations, offsets, SCHEMA } from './schema.ts';
import { collectInvoiceBody, collectInvoicesBody, collectionSummaryBody, collectionRunBody, collectSchemas, CreditNoteRequest, ManualPaymentRequest, operationAnswers, PaymentMethodRequest, RefundRequest, webhookBody } from './api-schemas.ts';
import { answer } from '../../runtime/json-schema.ts';
import { renderedEmailBody } from '../../documents/schemas.ts';
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
  const controlTotals = startControlTotalsPublisher({ db, schema: SCHEMA, logger, publish: publishThroughOutbox(SCHEMA) });
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
        else gateway = registry.createForBrand(brand.code, id, env, { now: webhookNow });
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
    onReference: (records) => {
      applyReferenceRecords(tables, records, logger);
      for (const b of tables.brands()) brandZones.set(b.code, b.timeZone);
    },
    handleBatch: (records) => handleBatch(records),
    storedOffsets: () => store.load(groupId),
    api: (ctx) => {
      metrics.outcomes = new client.Counter({ name: 'rateline_collect_outcomes_total', help: 'Invoice collection turns, by outcome', labelNames: ['outcome'], registers: [ctx.metrics.registry] });
      return collectApi({ db, collector, manual, refundGateway, runNow, tables, logger });
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
    ...(stage.apiUrl ? { apiUrl: stage.apiUrl } : {}),
    runNow,
    flush: async () => {
      await controlTotals.flush();
      return outbox!.drain();
    },
    stop: async () => {
      stopping = true;
      if (timer) clearInterval(timer);
      await draining;
      await running?.catch(() => undefined);
      await controlTotals.stop();
      await outbox?.stop();
      await stage.stop();
    },
  };
}

// ------------------------------------------------------------------ HTTP

export interface RouteDeps {
  db: Knex;
  collector: CollectorDeps;
  manual: ManualGateway;
  refundGateway: RefundGatewayFor;
  runNow(brand?: string): Promise<CollectionReport>;
  tables: ReferenceTables;
  logger: CollectorDeps['logger'];
}

/** The brand an object of collect's belongs to (undefined: no such object), for the key's scope. */
async function brandOf(db: Knex, table: 'invoices' | 'payments', column: string, id: string): Promise<string | undefined> {
  const row: { brand: string } | undefined = await db(`${SCHEMA}.${table}`).where({ [column]: id }).first('brand');
  return row?.brand;
}

const { 401: _noKey, ...webhookProblems } = problemResponses;

export function collectApi(r: RouteDeps): StageApi {
  const documents = builtinDocumentRenderers();

  /**
   * A JSON request that moves money or stores a payment method: card data is refused before
   * anything reads it (and nothing logs the body); the object it names must be of the key's brand.
   */
  const jsonOp = <T>(app: FastifyInstance, path: keyof typeof operationAnswers, operationId: string, summary: string, request: { $id: string }, parse: (body: unknown) => Parsed<T>, brandOfInput: (input: T) => Promise<string | undefined>, op: (input: T) => Promise<OpResult>) =>
    // The schema describes the body (OpenAPI); validate.ts validates it, after the card-data check.
    app.post(path, { config: { audit: true }, validatorCompiler: () => () => true, schema: { operationId, summary, tags: ['operations'], body: { $ref: `${request.$id}#` }, response: { ...operationAnswers[path], 409: problemAnswer('Conflicts with a charge in flight or the invoice state'), 502: problemAnswer('The gateway refused the payment method'), ...problemResponses } } }, async (request, reply) => {
      const body = request.body;
      const card = cardDataProblems(body);
      if (card.length > 0) {
        r.logger.warn('request with card data refused', { path: request.routeOptions.url, fields: card.length });
        throw new HttpError(422, 'card_data_refused', 'card data is never sent here: tokenize it with the gateway', asProblems(card));
      }
      const parsed = parse(body);
      if (!parsed.ok) throw new HttpError(422, 'invalid_request', 'the request is invalid', asProblems(parsed.problems));
      const brand = await brandOfInput(parsed.value);
      if (brand === undefined || !seesBrand(principalOf(request), brand)) throw notFound('the invoice or account named', 'not_found');
      return send(reply, await op(parsed.value));
    });

  return {
    title: 'rateline collect',
    schemas: collectSchemas,
    audit: { db: r.db, schema: SCHEMA },
    description: "Collection of issued invoices: manual payments, refunds, credit notes, payment methods, receipts and each invoice's collection state. A brand's key sees and acts on its own brand only; webhooks are signature-checked by their gateway instead.",
    routes: (app) => {
      app.post<{ Querystring: { brand?: string } }>(
        '/collection-runs',
        { config: { audit: true }, schema: { operationId: 'runCollection', summary: "Collect every brand's due invoices (or one brand's) now", tags: ['collection'], querystring: brandQuery, response: { 200: collectionRunBody, ...problemResponses } } },
        async (request, reply) => {
          const scope = brandFilter(principalOf(request), request.query.brand);
          if (scope === 'none') throw notFound(`brand ${request.query.brand}`);
          return send(reply, { status: 200, body: await r.runNow(scope.brand) });
        },
      );
      // /webhooks/<gateway>/<brand>: no key (the gateway signs); the raw bytes go to the plugin, never a re-parsed body.
      void app.register(async (webhooks) => {
        webhooks.removeAllContentTypeParsers();
        webhooks.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
        webhooks.post<{ Params: { gateway: string; brand: string }; Body: Buffer | undefined }>(
          '/webhooks/:gateway/:brand',
          {
            config: { public: true },
            schema: {
              operationId: 'receiveWebhook',
              summary: "A gateway's event, checked with the gateway's signature (no API key)",
              tags: ['webhooks'],
              security: [],
              params: { type: 'object', properties: { gateway: { type: 'string', pattern: '^[a-z0-9_-]+$' }, brand: { type: 'string', pattern: '^[a-z0-9-]+$' } }, required: ['gateway', 'brand'] },
              response: { 200: answer('Acknowledged (applied, or ignored with why)', webhookBody), 202: answer('Acknowledged and queued: the invoice is not known yet', webhookBody), ...webhookProblems },
            },
          },
          async (request, reply) => send(reply, await receiveWebhook(r.collector, request.params.gateway, request.params.brand, request.body ?? Buffer.alloc(0), request.headers)),
        );
      });
      const invoiceBrand = (input: { invoiceId: string }) => brandOf(r.db, 'invoices', 'invoice_id', input.invoiceId);
      jsonOp(app, '/payments/manual', 'recordManualPayment', 'Record a cheque or wire received for an invoice', ManualPaymentRequest, parseManualPayment, invoiceBrand, (input) => recordManualPayment(r.collector, r.manual, input));
      jsonOp(app, '/refunds', 'requestRefund', 'Refund part or all of what was paid on an invoice', RefundRequest, parseRefund, invoiceBrand, (input) => requestRefund(r.collector, r.refundGateway, input));
      jsonOp(app, '/credit-notes', 'issueCreditNote', 'Credit an invoice: the part already paid is refunded or kept as credit (settle)', CreditNoteRequest, parseCreditNote, invoiceBrand, (input) => issueCreditNote(r.collector, r.refundGateway, input));
      jsonOp(app, '/payment-methods', 'storePaymentMethod', "Store a customer's tokenized payment method (never card data)", PaymentMethodRequest, parsePaymentMethod, async (input) => input.brand, (input) => storePaymentMethod(r.collector, input));
      // /receipts/<paymentId>.html | .pdf | .email (the receipt email as JSON).
      app.get<{ Params: { document: string } }>(
        '/receipts/:document',
        { schema: { operationId: 'getReceipt', summary: 'A receipt as <paymentId>.html, .pdf or .email', tags: ['receipts'], params: { type: 'object', properties: { document: { type: 'string', pattern: '^.+\\.(html|pdf|email)$' } }, required: ['document'] }, response: { 200: { description: 'The receipt', content: { 'text/html': { schema: { type: 'string' } }, 'application/pdf': { schema: { type: 'string', format: 'binary' } }, 'application/json': { schema: renderedEmailBody } } }, ...problemResponses } } },
        async (request, reply) => {
          const [, paymentId, format] = /^(.+)\.(html|pdf|email)$/.exec(request.params.document) as unknown as [string, string, 'html' | 'pdf' | 'email'];
          const brand = await brandOf(r.db, 'payments', 'payment_id', paymentId);
          if (brand === undefined || !seesBrand(principalOf(request), brand)) throw notFound(`payment ${paymentId}`, 'payment_not_found');
          let out: Awaited<ReturnType<typeof renderReceipt>>;
          try {
            out = await renderReceipt(r, documents, paymentId, format);
          } catch (error) {
            throw new HttpError(422, 'render_failed', (error as Error).message);
          }
          if (!out) throw notFound(`payment ${paymentId}`, 'payment_not_found');
          return send(reply, { status: 200, type: out.type, body: out.body });
        },
      );
      // /invoices?brand=&collection=: where collection stands; /invoices/<id>: one invoice with attempts and events.
      // The console's Today screen: per brand, invoices by where collection stands and by payment status.
      app.get<{ Querystring: { brand?: string } }>(
        '/collection-summary',
        { schema: { operationId: 'getCollectionSummary', summary: 'Per brand: open invoices by collection state (due, retry_scheduled, stopped, ...) and every invoice by payment status', tags: ['invoices'], querystring: brandQuery, response: { 200: collectionSummaryBody, ...problemResponses } } },
        async (request, reply) => {
          const scope = brandFilter(principalOf(request), request.query.brand);
          if (scope === 'none') return send(reply, { status: 200, body: { brands: [] } });
          const rows: { brand: string; collection: string; payment_status: string; n: number }[] = await r.db(`${SCHEMA}.invoices`)
            .modify((q) => void (scope.brand ? q.where('brand', scope.brand) : q))
            .groupBy('brand', 'collection', 'payment_status')
            .select('brand', 'collection', 'payment_status', r.db.raw('count(*)::int as n'));
          const brands = new Map<string, { brand: string; byCollection: Record<string, number>; byPaymentStatus: Record<string, number> }>();
          for (const row of rows) {
            const e = brands.get(row.brand) ?? brands.set(row.brand, { brand: row.brand, byCollection: {}, byPaymentStatus: {} }).get(row.brand)!;
            e.byCollection[row.collection] = (e.byCollection[row.collection] ?? 0) + row.n;
            e.byPaymentStatus[row.payment_status] = (e.byPaymentStatus[row.payment_status] ?? 0) + row.n;
          }
          return send(reply, { status: 200, body: { brands: [...brands.values()].sort((a, b) => a.brand.localeCompare(b.brand)) } });
        },
      );
      app.get<{ Querystring: { brand?: string; accountId?: string; collection?: string; paymentStatus?: string; after?: string; limit?: number } }>(
        '/invoices',
        {
          schema: {
            operationId: 'listCollectInvoices',
            summary: 'Invoices and where their collection stands',
            tags: ['invoices'],
            querystring: { type: 'object', properties: { brand: { type: 'string' }, accountId: { type: 'string' }, collection: { type: 'string' }, paymentStatus: { type: 'string' }, after: { type: 'string', description: 'The next page: invoices whose id sorts after this one' }, limit: { type: 'integer', minimum: 1, maximum: 10000 } }, additionalProperties: false },
            response: { 200: collectInvoicesBody, ...problemResponses },
          },
        },
        async (request, reply) => {
          const scope = brandFilter(principalOf(request), request.query.brand);
          if (scope === 'none') return send(reply, { status: 200, body: { invoices: [] } });
          const query = r.db(`${SCHEMA}.invoices`).select('invoice_id', 'invoice_number', 'brand', 'account_id', 'currency', 'total', 'due_at', 'payment_status', 'collection', 'next_attempt_on', 'stop_reason');
          const filters = { ...request.query, brand: scope.brand };
          for (const [param, column] of [['brand', 'brand'], ['accountId', 'account_id'], ['collection', 'collection'], ['paymentStatus', 'payment_status']] as const) {
            const value = filters[param];
            if (value) void query.where(column, value);
          }
          if (request.query.after) void query.where('invoice_id', '>', request.query.after);
          return send(reply, { status: 200, body: { invoices: await query.orderBy('invoice_id').limit(request.query.limit ?? 100) } });
        },
      );
      app.get<{ Params: { invoiceId: string } }>(
        '/invoices/:invoiceId',
        { schema: { operationId: 'getCollectInvoice', summary: 'One invoice with its attempts, payment events, payments, refunds and credit notes', tags: ['invoices'], params: { type: 'object', properties: { invoiceId: { type: 'string' } }, required: ['invoiceId'] }, response: { 200: collectInvoiceBody, ...problemResponses } } },
        async (request, reply) => {
          const { invoiceId } = request.params;
          const invoice: { brand: string } | undefined = await r.db(`${SCHEMA}.invoices`).where({ invoice_id: invoiceId }).first();
          if (!invoice || !seesBrand(principalOf(request), invoice.brand)) throw notFound(`invoice ${invoiceId}`, 'invoice_not_found');
          const [attempts, events, payments, refunds, creditNotes] = await Promise.all([
            r.db(`${SCHEMA}.attempts`).where({ invoice_id: invoiceId }).orderBy('attempt'),
            r.db(`${SCHEMA}.payment_events`).where({ invoice_id: invoiceId }).orderBy('received_at'),
            r.db(`${SCHEMA}.payments`).where({ invoice_id: invoiceId }),
            r.db(`${SCHEMA}.refunds`).where({ invoice_id: invoiceId }).orderBy('n'),
            r.db(`${SCHEMA}.credit_notes`).where({ invoice_id: invoiceId }).orderBy('n'),
          ]);
          return send(reply, { status: 200, body: { invoice, attempts, events, payments, refunds, creditNotes } });
        },
      );
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
