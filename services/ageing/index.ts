import { answer, arrayOf, counts, instant, integer, nullable, object, text } from '../../runtime/json-schema.ts';
import type { PaymentRecord } from '../../contracts/payment.ts';
import type { LifecycleRecord } from '../../contracts/lifecycle.ts';
import type { Knex } from 'knex';
import { ageAccount, validateDunningPolicy } from '../../domain/ageing/index.ts';
import type { AgeingInvoice, AgeingPayment, AgeingState, DunningPolicy, DunningStep, LifecycleEvent } from '../../domain/ageing/index.ts';
import { money } from '../../domain/money/index.ts';
import { ReferenceTables } from '../../domain/reference/index.ts';
import type { Brand } from '../../domain/reference/index.ts';
import { allReferenceTopics, applyReferenceRecords } from '../../contracts/reference.ts';
import { amountDueOf, type InvoiceEvent } from '../../contracts/invoice.ts';
import { classifyFailure, ConfigError } from '../../runtime/errors.ts';
import { wholeNumberSetting, type RuntimeConfig } from '../../runtime/config.ts';
import { createDb, inTransaction, migrateService } from '../../runtime/db.ts';
import type { ConsumedRecord } from '../../runtime/kafka.ts';
import { enqueue, startOutboxRelay, type OutboxRelay } from '../../runtime/outbox.ts';
import type { RunningService, ServiceDeps } from '../../runtime/service.ts';
import { startStage, type StageApi } from '../../runtime/stage.ts';
import { brandFilter, seesBrand } from '../../runtime/auth.ts';
import { brandQuery, notFound, principalOf, problemResponses, send } from '../../runtime/http.ts';
import { applyTopics } from '../../topics/apply.ts';
import { topics } from '../../topics/catalog.ts';
import { COUNTS_AS_PAID, migrations, offsets, SCHEMA, settleInvoices } from './schema.ts';

export const GROUP_ID = 'rateline-ageing';
/** Every brand's invoices and payments topics. */
export const DEFAULT_TOPIC_PATTERN = /^brand\.[a-z0-9-]+\.(invoices|payments)$/;

export interface AgeingOptions {
  parentCompany?: string;
  /** How often the ageing run looks (default AGEING_INTERVAL_MS or 1 h; 0: only on demand). Steps are per brand-local day, so running often emits nothing new. */
  intervalMs?: number;
  /** Which topics to consume (default AGEING_TOPIC_PATTERN, or every brand's invoices and payments). */
  topicPattern?: RegExp;
  /** Consumer group and key of the stored offsets (default AGEING_GROUP_ID or rateline-ageing). */
  groupId?: string;
  env?: Readonly<Record<string, string | undefined>>;
}

export type { LifecycleRecord } from '../../contracts/lifecycle.ts';

/** The payment event fields ageing reads (schemas/payment.avsc). */

export interface AgeingReport {
  at: string;
  brands: { brand: string; accounts: number; events: number; problems?: string[]; held?: { accountId: string; code: string; message: string }[] }[];
  /** Brands whose run failed on infrastructure (the next run ages them). */
  failed: { brand: string; error: string }[];
  events: number;
  published: number;
}

export interface RunningAgeing extends RunningService {
  runNow(brand?: string): Promise<AgeingReport>;
  flush(): Promise<number>;
}

const ACTION: Record<LifecycleEvent['step'], string> = {
  reminder: 'reminder_sent',
  suspend: 'suspended',
  cancel: 'cancelled',
  write_off: 'written_off',
  reactivate: 'reactivated',
};

/** Money received that lowers what is owed: succeeded charges and manual payments, and credit notes. Refunds do not reopen dunning. */
// Parenthesised whole: it follows a brand condition, which an unbracketed `or` would escape.

export function toLifecycleRecord(brand: string, subscriptionId: string | null, e: LifecycleEvent): LifecycleRecord {
  return {
    eventId: e.eventId,
    brand,
    accountId: e.accountId,
    subscriptionId,
    action: ACTION[e.step],
    reason: e.step === 'reactivate' ? 'paid_in_full' : `invoice_overdue_${e.daysOverdue}_days`,
    invoiceId: e.invoiceId,
    effectiveAt: e.at,
  };
}

/**
 * ageing: stores every brand's invoices and payments (idempotent on their ids, offsets in the
 * same transaction) and, on the injected clock, runs each brand's dunning steps per account
 * (domain/ageing). Each step is written once (its deterministic id is the key) with the
 * account's new state in one transaction, then published on account.lifecycle from that outbox.
 */
export async function startAgeing(config: RuntimeConfig, deps: ServiceDeps, options: AgeingOptions = {}): Promise<RunningAgeing> {
  const env = options.env ?? process.env;
  const logger = deps.logger.child({ stage: 'ageing' });
  const intervalMs = options.intervalMs ?? wholeNumberSetting(env, 'AGEING_INTERVAL_MS', 3_600_000);
  const groupId = options.groupId ?? env['AGEING_GROUP_ID'] ?? GROUP_ID;
  let pattern = options.topicPattern ?? DEFAULT_TOPIC_PATTERN;
  if (!options.topicPattern && env['AGEING_TOPIC_PATTERN']) {
    try {
      pattern = new RegExp(env['AGEING_TOPIC_PATTERN']);
    } catch (error) {
      throw new ConfigError([`AGEING_TOPIC_PATTERN is not a regular expression: ${(error as Error).message}`]);
    }
  }
  const db = createDb(config.postgres);
  await migrateService(db, SCHEMA, migrations);
  const store = offsets.store(db);
  const tables = new ReferenceTables(options.parentCompany ?? env['RATELINE_PARENT_COMPANY'] ?? 'ansr-group');

  const handleBatch = async (records: ConsumedRecord[]) => {
    await deps.serde.prepare(records.map((r) => r.value));
    const last = records[records.length - 1]!;
    const isInvoices = last.topic.endsWith('.invoices');
    await inTransaction(db, async (trx) => {
      if (isInvoices) {
        const invoices = records.map((r) => deps.serde.decode<InvoiceEvent>(r.value, 'invoice'));
        await trx(`${SCHEMA}.invoices`)
          // What is owed is the amount due: the total less the credit balance it consumed; a negative invoice owes nothing.
          .insert(invoices.map((i) => ({ invoice_id: i.invoiceId, brand: i.brand, account_id: i.accountId, subscription_id: i.subscriptionId, due_at: new Date(i.dueAt), total: amountDueOf(i).toFixed(), currency: i.currency })))
          .onConflict('invoice_id')
          .ignore();
        // Payments may have arrived first (another topic).
        await settleInvoices(trx, invoices.map((i) => i.invoiceId));
      } else {
        const payments = records.map((r) => deps.serde.decode<PaymentRecord>(r.value, 'payment'));
        await trx(`${SCHEMA}.payments`)
          .insert(
            payments.map((p) => ({
              event_id: p.eventId ?? `${p.paymentId}:${p.status}`,
              invoice_id: p.invoiceId,
              brand: p.brand,
              account_id: p.accountId,
              kind: p.kind ?? 'charge',
              status: p.status,
              amount: p.amount.toFixed(),
              currency: p.currency,
              occurred_at: new Date(p.occurredAt),
            })),
          )
          .onConflict('event_id')
          .ignore();
        await settleInvoices(trx, [...new Set(payments.map((p) => p.invoiceId))]);
      }
      await store.saveAfter(trx, groupId, last);
    });
  };

  let running: Promise<AgeingReport> | undefined;
  const runNow = (only?: string): Promise<AgeingReport> => {
    const next = (running ?? Promise.resolve()).catch(() => undefined).then(async () => {
      const now = deps.clock.now();
      const report: AgeingReport = { at: new Date(now).toISOString(), brands: [], failed: [], events: 0, published: 0 };
      const withInvoices: string[] = await db(`${SCHEMA}.invoices`).distinct('brand').pluck('brand');
      for (const code of withInvoices.sort()) {
        if (only !== undefined && code !== only) continue;
        const brand = tables.brand(code);
        if (!brand || brand.dunningSteps.length === 0) continue;
        // One brand failing (its database work) does not keep the others from their steps.
        try {
          const result = await ageBrand(db, brand, now, logger);
          report.brands.push(result);
          report.events += result.events;
        } catch (error) {
          logger.error('brand ageing run failed', { brand: code, error });
          report.failed.push({ brand: code, error: (error as Error).message });
        }
      }
      report.published = outbox ? await outbox.drain() : 0;
      logger.info('ageing run', { at: report.at, events: report.events, published: report.published });
      return report;
    });
    running = next;
    return next;
  };

  let outbox: OutboxRelay | undefined;
  const stage = await startStage(config, deps, {
    name: 'ageing',
    groupId,
    inputTopics: [pattern],
    deadLetterTopic: topics.deadLetter.name,
    referenceTopics: allReferenceTopics,
    onReference: (records) => applyReferenceRecords(tables, records, logger),
    handleBatch: (records) => handleBatch(records),
    storedOffsets: () => store.load(groupId),
    api: () => ageingApi(db, runNow),
    healthChecks: { outbox: () => ({ ok: outbox?.isHealthy() ?? true }) },
    close: () => db.destroy(),
  });
  outbox = await startOutboxRelay({ db, schema: SCHEMA, kafka: deps.kafka, serde: deps.serde, logger, metrics: stage.metrics, prepareTopic: async () => void (await applyTopics(deps.kafka, deps.serde, [topics.accountLifecycle])) });
  const timer = intervalMs > 0 ? setInterval(() => void runNow().catch((error: unknown) => logger.error('scheduled ageing run failed', { error })), intervalMs) : undefined;

  return {
    name: 'ageing',
    url: stage.url,
    ...(stage.apiUrl ? { apiUrl: stage.apiUrl } : {}),
    runNow,
    flush: () => outbox!.drain(),
    stop: async () => {
      if (timer) clearInterval(timer);
      await running?.catch(() => undefined);
      await outbox?.stop();
      await stage.stop();
    },
  };
}

/** One brand's run: every account with invoices, aged as of `now`; new steps and state in one transaction per account. */
async function ageBrand(db: Knex, brand: Brand, now: number, logger: ServiceDeps['logger']): Promise<AgeingReport['brands'][number]> {
  const policy: DunningPolicy = { zone: brand.timeZone, steps: brand.dunningSteps as readonly DunningStep[] };
  const problems = validateDunningPolicy(policy);
  if (problems.length > 0) {
    logger.error('brand dunning policy refused', { brand: brand.code, problems });
    return { brand: brand.code, accounts: 0, events: 0, problems };
  }
  // Open items only: the invoices not paid in full at `now`, and every invoice of a suspended
  // account (whose reactivation names the invoice that suspended it). An account with neither
  // has no step to take and nothing to reactivate: domain/ageing would emit nothing for it.
  const at = new Date(now);
  const suspended: string[] = await db(`${SCHEMA}.accounts`).where({ brand: brand.code, status: 'suspended' }).pluck('account_id');
  const invoiceRows: { invoice_id: string; account_id: string; subscription_id: string; due_at: Date; total: string; currency: string }[] = await db(`${SCHEMA}.invoices`)
    .where({ brand: brand.code })
    .where((q) => void q.whereNull('settled_at').orWhere('settled_at', '>', at).orWhereIn('account_id', suspended));
  const paymentRows: { invoice_id: string; account_id: string; amount: string; currency: string; occurred_at: Date }[] = (
    await db.raw(`select * from ${SCHEMA}.payments where invoice_id = any(?) and ${COUNTS_AS_PAID}`, [invoiceRows.map((i) => i.invoice_id)])
  ).rows;
  const accountRows: { account_id: string; emitted: AgeingState['emitted'] }[] = (
    await db.raw(`select account_id, emitted from ${SCHEMA}.accounts where account_id = any(?)`, [[...new Set(invoiceRows.map((i) => i.account_id))]])
  ).rows;
  const states = new Map(accountRows.map((a) => [a.account_id, { emitted: typeof a.emitted === 'string' ? JSON.parse(a.emitted) : a.emitted } as AgeingState]));

  const byAccount = new Map<string, { invoices: AgeingInvoice[]; payments: AgeingPayment[]; subscriptions: Map<string, string> }>();
  const entry = (account: string) => {
    let e = byAccount.get(account);
    if (!e) byAccount.set(account, (e = { invoices: [], payments: [], subscriptions: new Map() }));
    return e;
  };
  for (const i of invoiceRows) {
    const e = entry(i.account_id);
    e.invoices.push({ invoiceId: i.invoice_id, dueAt: i.due_at.getTime(), total: money(i.total, i.currency) });
    e.subscriptions.set(i.invoice_id, i.subscription_id);
  }
  for (const p of paymentRows) entry(p.account_id).payments.push({ invoiceId: p.invoice_id, amount: money(p.amount, p.currency), at: p.occurred_at.getTime() });

  let events = 0;
  const held: { accountId: string; code: string; message: string }[] = [];
  for (const [accountId, data] of byAccount) {
    if (data.invoices.length === 0) continue;
    const state = states.get(accountId) ?? { emitted: [] };
    let result: ReturnType<typeof ageAccount>;
    try {
      result = ageAccount({ policy, accountId, invoices: data.invoices, payments: data.payments, state, now });
    } catch (error) {
      // An account the domain refuses (e.g. mixed currencies) is held with the reason, and the
      // brand's other accounts take their steps; the next run tries it again.
      const { code } = classifyFailure(error);
      held.push({ accountId, code, message: (error as Error).message });
      logger.error('account ageing held', { brand: brand.code, accountId, code, error });
      continue;
    }
    // The state only grows with events: nothing new, nothing to write.
    if (result.events.length === 0) continue;
    const records = result.events.map((e) => toLifecycleRecord(brand.code, data.subscriptions.get(e.invoiceId) ?? null, e));
    await inTransaction(db, async (trx) => {
      await trx(`${SCHEMA}.lifecycle_events`)
        .insert(
          result.events.map((e, i) => ({
            event_id: e.eventId,
            brand: brand.code,
            account_id: accountId,
            invoice_id: e.invoiceId,
            step: e.step,
            local_date: e.localDate,
            event: JSON.stringify({ ...records[i]!, effectiveAt: new Date(records[i]!.effectiveAt).toISOString() }),
            created_at: new Date(now),
          })),
        )
        .onConflict('event_id')
        .ignore();
      // Another instance ageing the same account at once writes the same ids: enqueued once.
      await enqueue(
        trx,
        SCHEMA,
        records.map((r) => ({ topic: topics.accountLifecycle.name, schema: topics.accountLifecycle.schema, key: accountId, eventId: r.eventId, brand: brand.code, payload: r })),
      );
      await trx(`${SCHEMA}.accounts`)
        .insert({ account_id: accountId, brand: brand.code, emitted: JSON.stringify(result.state.emitted), status: result.status, updated_at: new Date(now) })
        .onConflict('account_id')
        .merge();
    });
    events += result.events.length;
  }
  return { brand: brand.code, accounts: byAccount.size, events, ...(held.length > 0 ? { held } : {}) };
}

export function ageingApi(db: Knex, runNow: (brand?: string) => Promise<AgeingReport>): StageApi {
  const accountBody = answer(
    "The account's dunning status (null before its first invoice was aged) and the steps taken, oldest first",
    object({
      account: { oneOf: [{ type: 'null' }, object({ account_id: text, brand: text, status: text, updated_at: instant }, { open: true })] },
      events: arrayOf(object({ event_id: text, step: text, invoice_id: text, local_date: text, published_at: nullable(instant) })),
    }),
  );
  const runBody = answer(
    'The run report: per brand the accounts aged, the steps taken and the accounts held with why',
    object({
      at: instant,
      brands: arrayOf(object({ brand: text, accounts: integer, events: integer, problems: arrayOf(text), held: arrayOf(object({ accountId: text, code: text, message: text })) }, { optional: ['problems', 'held'] })),
      failed: arrayOf(object({ brand: text, error: text })),
      events: integer,
      published: integer,
    }),
  );
  return {
    title: 'rateline ageing',
    audit: { db, schema: SCHEMA },
    description: "Ageing runs and each account's dunning status. A brand's key sees its own brand only.",
    routes: (app) => {
      app.post<{ Querystring: { brand?: string } }>(
        '/ageing-runs',
        { config: { audit: true }, schema: { operationId: 'runAgeing', summary: "Age every brand's accounts (or one brand's) now", tags: ['ageing'], querystring: brandQuery, response: { 200: runBody, ...problemResponses } } },
        async (request, reply) => {
          const scope = brandFilter(principalOf(request), request.query.brand);
          if (scope === 'none') throw notFound(`brand ${request.query.brand}`);
          return send(reply, { status: 200, body: await runNow(scope.brand) });
        },
      );
      // The console's Today screen: per brand, accounts by dunning status and the steps taken since an instant.
      app.get<{ Querystring: { brand?: string; since?: string } }>(
        '/dunning-summary',
        {
          schema: {
            operationId: 'getDunningSummary',
            summary: 'Per brand: accounts by dunning status and the dunning steps taken since an instant',
            tags: ['ageing'],
            querystring: { type: 'object', properties: { brand: brandQuery.properties.brand, since: { type: 'string', format: 'date-time', description: 'Count steps taken at or after this instant (default: 24 hours ago)' } }, additionalProperties: false },
            response: { 200: answer('One entry per brand with accounts: accounts by dunning status, steps taken since the instant', object({ brands: arrayOf(object({ brand: text, byStatus: counts, stepsSince: counts })) })), ...problemResponses },
          },
        },
        async (request, reply) => {
          const scope = brandFilter(principalOf(request), request.query.brand);
          if (scope === 'none') return send(reply, { status: 200, body: { brands: [] } });
          const since = request.query.since ? new Date(request.query.since) : new Date(Date.now() - 86_400_000);
          const narrow = (q: Knex.QueryBuilder) => void (scope.brand ? q.where('brand', scope.brand) : q);
          const [statuses, steps] = await Promise.all([
            db(`${SCHEMA}.accounts`).modify(narrow).groupBy('brand', 'status').select('brand', 'status', db.raw('count(*)::int as n')) as Promise<{ brand: string; status: string; n: number }[]>,
            db(`${SCHEMA}.lifecycle_events`).modify(narrow).where('created_at', '>=', since).groupBy('brand', 'step').select('brand', 'step', db.raw('count(*)::int as n')) as Promise<{ brand: string; step: string; n: number }[]>,
          ]);
          const brands = new Map<string, { brand: string; byStatus: Record<string, number>; stepsSince: Record<string, number> }>();
          const entry = (code: string) => brands.get(code) ?? brands.set(code, { brand: code, byStatus: {}, stepsSince: {} }).get(code)!;
          for (const s of statuses) entry(s.brand).byStatus[s.status] = s.n;
          for (const s of steps) entry(s.brand).stepsSince[s.step] = s.n;
          return send(reply, { status: 200, body: { brands: [...brands.values()].sort((a, b) => a.brand.localeCompare(b.brand)) } });
        },
      );
      // /accounts/<id>: the account's dunning status and the steps it went through.
      app.get<{ Params: { accountId: string } }>(
        '/accounts/:accountId',
        { schema: { operationId: 'getAccountAgeing', summary: "An account's dunning status and the steps it went through", tags: ['ageing'], params: { type: 'object', properties: { accountId: { type: 'string' } }, required: ['accountId'] }, response: { 200: accountBody, ...problemResponses } } },
        async (request, reply) => {
          const { accountId } = request.params;
          const account: { brand: string } | undefined = await db(`${SCHEMA}.accounts`).where({ account_id: accountId }).first();
          const events: { brand?: string }[] = await db(`${SCHEMA}.lifecycle_events as l`)
            .leftJoin(`${SCHEMA}.outbox as o`, 'o.event_id', 'l.event_id')
            .where({ 'l.account_id': accountId })
            .orderBy('l.seq')
            .select('l.event_id', 'l.step', 'l.invoice_id', 'l.local_date', 'o.published_at', 'l.brand');
          const brand = account?.brand ?? events[0]?.brand;
          if (brand === undefined || !seesBrand(principalOf(request), brand)) throw notFound(`account ${accountId}`, 'account_not_found');
          return send(reply, { status: 200, body: { account: account ?? null, events: events.map(({ brand: _brand, ...e }) => e) } });
        },
      );
    },
  };
}
