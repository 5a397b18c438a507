import { Decimal } from 'decimal.js';
import type { Knex } from 'knex';
import type { ReferenceTables } from '../../domain/reference/index.ts';
import type { ChargePeriodState } from '../../domain/mediation/index.ts';
import { seesBrand } from '../../runtime/auth.ts';
import { HttpError, notFound, principalOf, problemResponses, send } from '../../runtime/http.ts';
import type { StageApi } from '../../runtime/stage.ts';
import { SCHEMA } from './schema.ts';
import { dailyAnswer, dailyQuery, dailyWindow } from '../../runtime/daily.ts';
import type { RerateReport, RerateRunOptions, RerateScope } from './rerate.ts';

const bucketSchema = {
  type: 'object',
  properties: { bucketId: { type: 'string' }, usageType: { type: 'string' }, priority: { type: 'integer' }, granted: { type: 'integer', description: 'Included seconds of the period' }, remaining: { type: 'integer', description: 'Included seconds not yet drawn' }, source: { type: 'string' } },
  required: ['bucketId', 'usageType', 'priority', 'granted', 'remaining'],
  additionalProperties: false,
} as const;

const periodSchema = {
  type: 'object',
  properties: {
    periodIndex: { type: 'integer' },
    periodStart: { type: 'string', format: 'date-time' },
    periodEnd: { type: 'string', format: 'date-time' },
    planId: { type: 'string' },
    planVersion: { type: 'integer' },
    buckets: { type: 'array', items: bucketSchema },
    overageSeconds: { type: 'object', additionalProperties: { type: 'integer' }, description: 'Billable seconds beyond the buckets, per usage type' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
  required: ['periodIndex', 'periodStart', 'periodEnd', 'planId', 'planVersion', 'buckets', 'overageSeconds', 'updatedAt'],
  additionalProperties: false,
} as const;

const usageSchema = {
  type: 'object',
  properties: {
    eventId: { type: 'string' },
    ratingVersion: { type: 'integer', description: 'The version this answer shows: the latest that charged the call' },
    subscriptionId: { type: 'string' },
    accountId: { type: ['string', 'null'] },
    calledNumber: { type: ['string', 'null'] },
    startTime: { type: ['string', 'null'], format: 'date-time' },
    durationSeconds: { type: ['integer', 'null'], description: 'As the platform reported it' },
    usageType: { type: 'string' },
    ruleId: { type: ['string', 'null'], description: 'The rating rule that rounded it' },
    ruleVersion: { type: ['integer', 'null'] },
    billableSeconds: { type: 'integer', description: 'After the rule: free seconds, minimum, increments and rounding' },
    includedSeconds: { type: 'integer', description: 'Drawn from included buckets' },
    overageSeconds: { type: 'integer', description: 'Beyond the buckets, priced' },
    draws: { type: ['array', 'null'], items: { type: 'object', properties: { bucketId: { type: 'string' }, seconds: { type: 'integer' } }, required: ['bucketId', 'seconds'], additionalProperties: false } },
    amount: { type: 'string', description: 'The overage charge, unrounded (scale 6); rounded once, on the invoice' },
    currency: { type: 'string' },
    chargedAt: { type: 'string', format: 'date-time' },
  },
  required: ['eventId', 'ratingVersion', 'subscriptionId', 'accountId', 'calledNumber', 'startTime', 'durationSeconds', 'usageType', 'ruleId', 'ruleVersion', 'billableSeconds', 'includedSeconds', 'overageSeconds', 'draws', 'amount', 'currency', 'chargedAt'],
  additionalProperties: false,
} as const;

interface ChargeDetailRow {
  event_id: string; rating_version: number; subscription_id: string; account_id: string | null; called_number: string | null; start_time: Date | null; duration_seconds: string | null; usage_type: string;
  rule_id: string | null; rule_version: number | null; billable_seconds: string; included_seconds: string; overage_seconds: string; draws: { bucketId: string; seconds: number }[] | null; amount: string; currency: string; charged_at: Date;
}

const differenceSchema = {
  type: 'object',
  properties: {
    eventId: { type: 'string' }, subscriptionId: { type: 'string' }, periodStart: { type: 'string', format: 'date-time' }, usageType: { type: 'string' },
    kind: { enum: ['added', 'removed', 'changed'], description: 'added: charged only now; removed: charged only before' },
    includedSeconds: { type: 'integer', description: 'Change in seconds drawn from included buckets' }, overageSeconds: { type: 'integer', description: 'Change in overage seconds' },
    amount: { type: 'string', description: 'Change in the overage charge, unrounded (scale 6)' }, currency: { type: 'string' },
  },
  required: ['eventId', 'subscriptionId', 'periodStart', 'usageType', 'kind', 'includedSeconds', 'overageSeconds', 'amount', 'currency'],
  additionalProperties: false,
} as const;

const rerateAnswer = {
  description: 'What the re-rate found (and, unless a dry run or nothing differed, committed as a new rating version)',
  type: 'object',
  properties: {
    ratingVersion: { type: 'integer' },
    periods: { type: 'array', items: { type: 'string' }, description: 'The subscription periods re-rated' },
    usages: { type: 'integer' },
    differences: { type: 'array', items: differenceSchema },
    adjustments: {
      type: 'array',
      items: {
        type: 'object',
        properties: { subscriptionId: { type: 'string' }, periodStart: { type: 'string', format: 'date-time' }, includedSeconds: { type: 'integer' }, overageSeconds: { type: 'integer' }, amount: { type: 'string', description: 'What the next invoice carries for the period, unrounded' }, currency: { type: 'string' }, calls: { type: 'integer' } },
        required: ['subscriptionId', 'periodStart', 'includedSeconds', 'overageSeconds', 'amount', 'currency', 'calls'],
        additionalProperties: false,
      },
    },
    rejections: { type: 'integer', description: 'Usages that could not be re-rated' },
    committed: { type: 'boolean' },
    note: { type: 'string' },
  },
  required: ['ratingVersion', 'periods', 'usages', 'differences', 'adjustments', 'rejections', 'committed'],
  additionalProperties: false,
} as const;

/** Runs a re-rate (services/drawdown/rerate.ts) with the service's own configuration. */
export type RerateRunner = (scope: RerateScope, options: RerateRunOptions) => Promise<RerateReport>;

/** A usage becomes resolved after its call started, and a period is at most a month: replaying from 32 days before `from` finds every usage of the periods that overlap it. */
const REPLAY_MARGIN_MS = 32 * 86_400_000;

/**
 * drawdown's read API: a subscription's included-unit buckets per period as drawdown holds them
 * (the same state the next call draws from), so a person sees the minutes left that billing uses.
 * Brand scope comes from the subscription on ref.subscriptions.
 */
export function drawdownApi(db: Knex, tables: ReferenceTables, rerate: RerateRunner): StageApi {
  return {
    audit: { db, schema: SCHEMA },
    title: 'rateline drawdown',
    description: "Included-unit buckets per subscription and period, and the calls charged against them, as drawdown draws them. A brand's key sees its own brand only.",
    routes: (app) => {
      app.get<{ Params: { subscriptionId: string }; Querystring: { limit?: number } }>(
        '/subscriptions/:subscriptionId/periods',
        {
          schema: {
            operationId: 'listSubscriptionPeriods',
            summary: "A subscription's periods, newest first: included seconds granted and left per bucket, overage seconds per usage type",
            tags: ['drawdown'],
            params: { type: 'object', properties: { subscriptionId: { type: 'string' } }, required: ['subscriptionId'] },
            querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 120 } }, additionalProperties: false },
            response: { 200: { description: 'Periods with usage drawn, newest first', type: 'object', properties: { subscriptionId: { type: 'string' }, periods: { type: 'array', items: periodSchema } }, required: ['subscriptionId', 'periods'], additionalProperties: false }, ...problemResponses },
          },
        },
        async (request, reply) => {
          const { subscriptionId } = request.params;
          const subscription = tables.subscription(subscriptionId);
          if (!subscription || !seesBrand(principalOf(request), subscription.brand)) throw notFound(`subscription ${subscriptionId}`, 'subscription_not_found');
          const rows: { state: ChargePeriodState | string; updated_at: Date }[] = await db(`${SCHEMA}.period_states`)
            .where({ subscription_id: subscriptionId })
            .orderBy('period_index', 'desc')
            .limit(request.query.limit ?? 12)
            .select('state', 'updated_at');
          const periods = rows.map(({ state: stored, updated_at }) => {
            const state = (typeof stored === 'string' ? JSON.parse(stored) : stored) as ChargePeriodState;
            return {
              periodIndex: state.periodIndex,
              periodStart: new Date(state.periodStart).toISOString(),
              periodEnd: new Date(state.periodEnd).toISOString(),
              planId: state.planId,
              planVersion: state.planVersion,
              buckets: state.drawdown.buckets,
              overageSeconds: state.drawdown.overageSeconds,
              updatedAt: updated_at.toISOString(),
            };
          });
          return send(reply, { status: 200, body: { subscriptionId, periods } });
        },
      );

      app.get<{ Querystring: { accountId?: string; subscriptionId?: string; number?: string; from: string; to: string; limit?: number; offset?: number } }>(
        '/usage',
        {
          schema: {
            operationId: 'listChargedUsage',
            summary: 'Calls of an account, a subscription or a number that started in [from, to), oldest first, each as its latest rating version charged it: rule, billable seconds, buckets drawn, overage',
            tags: ['drawdown'],
            querystring: {
              type: 'object',
              properties: {
                accountId: { type: 'string' },
                subscriptionId: { type: 'string' },
                number: { type: 'string', description: 'E.164: calls to this number, by whoever held it' },
                from: { type: 'string', format: 'date-time' },
                to: { type: 'string', format: 'date-time' },
                limit: { type: 'integer', minimum: 1, maximum: 1000 },
                offset: { type: 'integer', minimum: 0 },
              },
              required: ['from', 'to'],
              additionalProperties: false,
            },
            response: {
              200: { description: 'Charged calls, oldest first', type: 'object', properties: { usage: { type: 'array', items: usageSchema }, more: { type: 'boolean', description: 'More calls after this page (next: offset + limit)' } }, required: ['usage', 'more'], additionalProperties: false },
              ...problemResponses,
            },
          },
        },
        async (request, reply) => {
          const q = request.query;
          const principal = principalOf(request);
          const named = [q.accountId, q.subscriptionId, q.number].filter((v) => v !== undefined).length;
          if (named !== 1) throw new HttpError(400, 'invalid_parameters', 'name one of accountId, subscriptionId or number', [{ path: 'query', message: 'exactly one of accountId, subscriptionId, number' }]);
          const from = new Date(q.from);
          const to = new Date(q.to);
          if (!(to > from)) throw new HttpError(400, 'invalid_parameters', 'to must be after from', [{ path: 'query.to', message: 'must be after from' }]);
          let subscriptions: string[];
          if (q.subscriptionId !== undefined) {
            const s = tables.subscription(q.subscriptionId);
            if (!s || !seesBrand(principal, s.brand)) throw notFound(`subscription ${q.subscriptionId}`, 'subscription_not_found');
            subscriptions = [s.subscriptionId];
          } else if (q.accountId !== undefined) {
            const customer = tables.customer(q.accountId);
            if (!customer || !seesBrand(principal, customer.brand)) throw notFound(`account ${q.accountId}`, 'account_not_found');
            subscriptions = tables.subscriptionsOf(customer.brand).filter((s) => s.accountId === q.accountId).map((s) => s.subscriptionId);
          } else {
            const history = tables.numberHistory(q.number!);
            subscriptions = [...new Set((history?.assignments ?? []).filter((a) => seesBrand(principal, a.brand)).map((a) => a.subscriptionId))];
            if (subscriptions.length === 0) throw notFound(`number ${q.number}`, 'number_not_found');
          }
          const limit = q.limit ?? 200;
          const offset = q.offset ?? 0;
          // The window selects calls by any version's row; the answer is each call's latest row,
          // unless that version no longer charges it (a removed row, which has no call details).
          const { rows } = (await db.raw(
            `with calls as (
               select distinct event_id from ${SCHEMA}.charges
               where subscription_id = any(?) and start_time >= ? and start_time < ? ${q.number !== undefined ? 'and called_number = ?' : ''}
             ), latest as (
               select distinct on (c.event_id) c.* from ${SCHEMA}.charges c join calls using (event_id) order by c.event_id, c.rating_version desc
             )
             select * from latest where not removed order by start_time, event_id limit ? offset ?`,
            [subscriptions, from, to, ...(q.number !== undefined ? [q.number] : []), limit + 1, offset],
          )) as { rows: ChargeDetailRow[] };
          const usage = rows.slice(0, limit).map((r) => ({
            eventId: r.event_id,
            ratingVersion: r.rating_version,
            subscriptionId: r.subscription_id,
            accountId: r.account_id,
            calledNumber: r.called_number,
            startTime: r.start_time?.toISOString() ?? null,
            durationSeconds: r.duration_seconds === null ? null : Number(r.duration_seconds),
            usageType: r.usage_type,
            ruleId: r.rule_id,
            ruleVersion: r.rule_version,
            billableSeconds: Number(r.billable_seconds),
            includedSeconds: Number(r.included_seconds),
            overageSeconds: Number(r.overage_seconds),
            draws: r.draws,
            amount: new Decimal(r.amount).toFixed(6),
            currency: r.currency,
            chargedAt: r.charged_at.toISOString(),
          }));
          return send(reply, { status: 200, body: { usage, more: rows.length > limit } });
        },
      );

      app.get<{ Querystring: { brand: string; from: string; to: string; zone?: string } }>(
        '/usage-by-day',
        {
          schema: {
            operationId: 'getUsageByDay',
            summary: "A brand's charged calls per day (in the zone given): calls, billable and overage seconds, overage amount",
            tags: ['drawdown'],
            querystring: dailyQuery,
            response: {
              200: dailyAnswer('Days with usage, oldest first, per currency', { calls: { type: 'integer' }, billableSeconds: { type: 'integer' }, overageSeconds: { type: 'integer' }, amount: { type: 'string', description: 'Overage, unrounded' }, currency: { type: 'string' } }, ['calls', 'billableSeconds', 'overageSeconds', 'amount', 'currency']),
              ...problemResponses,
            },
          },
        },
        async (request, reply) => {
          const window = dailyWindow(request);
          // Each call once, as its latest version charged it; a version that no longer charges it
          // (a removed row, without call details) takes it out of the sums.
          const { rows } = (await db.raw(
            `with calls as (
               select distinct event_id from ${SCHEMA}.charges where brand = ? and start_time >= ? and start_time < ?
             ), latest as (
               select distinct on (c.event_id) c.* from ${SCHEMA}.charges c join calls using (event_id) order by c.event_id, c.rating_version desc
             )
             select to_char(start_time at time zone ?, 'YYYY-MM-DD') as day, currency, count(*)::int as calls, sum(billable_seconds)::bigint as billable, sum(overage_seconds)::bigint as overage, sum(amount) as amount
             from latest where not removed group by 1, 2 order by 1, 2`,
            [window.brand, window.from, window.to, window.zone],
          )) as { rows: { day: string; currency: string; calls: number; billable: string; overage: string; amount: string }[] };
          const days = rows.map((r) => ({ day: r.day, calls: r.calls, billableSeconds: Number(r.billable), overageSeconds: Number(r.overage), amount: new Decimal(r.amount).toFixed(6), currency: r.currency }));
          return send(reply, { status: 200, body: { days } });
        },
      );

      app.post<{ Body: { brand?: string; accountId?: string; subscriptionId?: string; from: string; to: string; dryRun: boolean } }>(
        '/reratings',
        {
          config: { audit: true },
          schema: {
            operationId: 'rerate',
            summary: 'Re-rate the periods of a brand, account or subscription that overlap [from, to) under the current rules and plans: a dry run shows the differences; otherwise they are committed as a new rating version, the adjustments going to the next invoices',
            tags: ['drawdown'],
            body: {
              type: 'object',
              properties: { brand: { type: 'string' }, accountId: { type: 'string' }, subscriptionId: { type: 'string' }, from: { type: 'string', format: 'date-time' }, to: { type: 'string', format: 'date-time' }, dryRun: { type: 'boolean' } },
              required: ['from', 'to', 'dryRun'],
              additionalProperties: false,
            },
            response: { 200: rerateAnswer, ...problemResponses },
          },
        },
        async (request, reply) => {
          const b = request.body;
          const principal = principalOf(request);
          const problems = [];
          if (!b.brand && !b.accountId && !b.subscriptionId) problems.push({ path: 'body', message: 'name what to re-rate: brand, accountId or subscriptionId' });
          const from = Date.parse(b.from);
          const to = Date.parse(b.to);
          if (!(to > from)) problems.push({ path: 'body.to', message: 'must be after from' });
          if (problems.length > 0) throw new HttpError(400, 'invalid_parameters', 'the re-rate is not well defined', problems);
          const brandOf = b.subscriptionId ? tables.subscription(b.subscriptionId)?.brand : b.accountId ? tables.customer(b.accountId)?.brand : b.brand;
          if (!brandOf || !seesBrand(principal, brandOf) || (b.brand && brandOf !== b.brand)) throw notFound(b.subscriptionId ? `subscription ${b.subscriptionId}` : b.accountId ? `account ${b.accountId}` : `brand ${b.brand}`);
          // A brand's key re-rates its own brand's usage only, whatever else it names.
          const scope: RerateScope = { brand: brandOf, from, to, ...(b.accountId ? { accountId: b.accountId } : {}), ...(b.subscriptionId ? { subscriptionId: b.subscriptionId } : {}) };
          const report = await rerate(scope, { dryRun: b.dryRun, replayFrom: from - REPLAY_MARGIN_MS });
          const iso = (ms: number) => new Date(ms).toISOString();
          return send(reply, {
            status: 200,
            body: {
              ratingVersion: report.ratingVersion,
              periods: report.periods,
              usages: report.usages,
              differences: report.differences.map((d) => ({ eventId: d.eventId, subscriptionId: d.subscriptionId, periodStart: iso(d.periodStart), usageType: d.usageType, kind: d.kind, includedSeconds: d.includedSeconds, overageSeconds: d.overageSeconds, amount: d.amount.toFixed(6), currency: d.currency })),
              adjustments: report.adjustments.map((a) => ({ subscriptionId: a.subscriptionId, periodStart: iso(a.periodStart), includedSeconds: a.includedSeconds, overageSeconds: a.overageSeconds, amount: a.amount.toFixed(6), currency: a.currency, calls: a.differences.length })),
              rejections: report.rejections,
              committed: report.committed,
              ...(report.note ? { note: report.note } : {}),
            },
          });
        },
      );
    },
  };
}
