import type { Knex } from 'knex';
import { DateTime } from 'luxon';
import { latestRatingVersions, type UsageChargedRecord } from '../../contracts/records.ts';
import { allReferenceTopics, applyReferenceRecords } from '../../contracts/reference.ts';
import { dec } from '../../domain/money/index.ts';
import type { RoundingMode } from '../../domain/money/index.ts';
import { basisPeriods, nextRecommendationStep, plansOnSale, recommendationSettingsOf, recommendPlan, type Recommendation, type StoredPeriodUsage } from '../../domain/planswap/index.ts';
import { ReferenceTables, type Brand, type Subscription } from '../../domain/reference/index.ts';
import type { RuntimeConfig } from '../../runtime/config.ts';
import { createDb, inTransaction, migrateService } from '../../runtime/db.ts';
import type { ConsumedRecord } from '../../runtime/kafka.ts';
import { enqueue, startOutboxRelay, type OutboxEvent, type OutboxRelay } from '../../runtime/outbox.ts';
import type { RunningService, ServiceDeps } from '../../runtime/service.ts';
import { startStage } from '../../runtime/stage.ts';
import { brandTopicsPreparer } from '../../topics/apply.ts';
import { brandTopics, topics } from '../../topics/catalog.ts';
import { advisorApi } from './api.ts';
import { migrations, offsets, SCHEMA } from './schema.ts';

export const GROUP_ID = 'rateline-advisor';

export interface AdvisorOptions {
  parentCompany?: string;
  groupId?: string;
  /** The topic of charged usage (default usage.charged). */
  inputTopic?: string;
  env?: Readonly<Record<string, string | undefined>>;
}

export interface RunningAdvisor extends RunningService {
  /** Runs now for one brand (or every brand), whatever the hour; resolves with what it did. */
  runNow(brand?: string): Promise<AdvisorRunResult[]>;
  /** Publishes what the outbox holds now. */
  flush(): Promise<number>;
}

export interface AdvisorRunResult {
  brand: string;
  subscriptions: number;
  published: number;
  withdrawn: number;
  kept: number;
  /** Stored calls of periods older than any later run looks at, deleted by this run. */
  pruned: number;
}

/** `brand.<code>.recommendations` (schemas/plan-recommendation.avsc) as avsc writes it, decimals as strings in the outbox. */
export interface PlanRecommendationRecord {
  eventId: string;
  recommendationId: string;
  status: 'live' | 'withdrawn' | 'accepted';
  supersedes: string | null;
  brand: string;
  accountId: string;
  subscriptionId: string;
  currentPlanId: string;
  currentPlanVersion: number;
  planId: string;
  planVersion: number;
  planName: string;
  direction: string;
  currency: string;
  savingPerPeriod: string;
  savingPerYear: string;
  savingPercent: string;
  currentCostPerPeriod: string;
  newCostPerPeriod: string;
  confidencePercent: number;
  confidenceLevel: string;
  basis: { periodStart: number; periodEnd: number; projected: boolean; usage: { usageType: string; calls: number; billableSeconds: number }[]; currentCost: string; newCost: string }[];
  createdAt: number;
}

/**
 * advisor: recommends plans from each subscription's own usage. It keeps every charged call's
 * billable seconds (latest rating version) from usage.charged in its own tables, the
 * per-subscription, per-period usage it prices; once a brand-local day, at the brand's
 * recommendationHour, and on demand (POST /recommendation-runs), it prices each active
 * subscription's last N closed periods and the current one projected on its plan and on every
 * plan on sale (domain/planswap), keeps at most one live recommendation per subscription (a new
 * one supersedes the last, which stays as history) and publishes each change on
 * brand.<code>.recommendations through its outbox. Each run also deletes the brand's calls of
 * periods older than its look-back, so the usage kept is N + 1 periods per subscription.
 */
export async function startAdvisor(config: RuntimeConfig, deps: ServiceDeps, options: AdvisorOptions = {}): Promise<RunningAdvisor> {
  const env = options.env ?? process.env;
  const logger = deps.logger.child({ stage: 'advisor' });
  const groupId = options.groupId ?? env['ADVISOR_GROUP_ID'] ?? GROUP_ID;
  const intervalMs = Number(env['ADVISOR_INTERVAL_MS'] ?? 60_000);
  const db = createDb(config.postgres);
  await migrateService(db, SCHEMA, migrations);
  const store = offsets.store(db);
  const tables = new ReferenceTables(options.parentCompany ?? env['RATELINE_PARENT_COMPANY'] ?? 'ansr-group');
  let outbox: OutboxRelay | undefined;

  const handleBatch = async (records: ConsumedRecord[]) => {
    await deps.serde.prepare(records.map((r) => r.value));
    const charged = records.map((r) => deps.serde.decode<UsageChargedRecord>(r.value, 'usage.charged'));
    await inTransaction(db, async (trx) => {
      if (charged.length > 0) await upsertCalls(trx, charged);
      await store.saveAfter(trx, groupId, records[records.length - 1]!);
    });
  };

  const runBrands = async (brands: Brand[], scheduledOnly: boolean): Promise<AdvisorRunResult[]> => {
    const results: AdvisorRunResult[] = [];
    const now = deps.clock.now();
    for (const brand of brands) {
      const local = DateTime.fromMillis(now, { zone: brand.timeZone });
      const localDate = local.toISODate()!;
      if (scheduledOnly) {
        if (local.hour < (brand.planSwap?.recommendationHour ?? 3)) continue;
        if (await db(`${SCHEMA}.runs`).where({ brand: brand.code, local_date: localDate }).first()) continue;
      }
      const result = await runBrand(db, tables, brand, now, localDate);
      await db(`${SCHEMA}.runs`).insert({ brand: brand.code, local_date: localDate, subscriptions: result.subscriptions, published: result.published }).onConflict(['brand', 'local_date']).merge();
      results.push(result);
      if (result.published + result.withdrawn > 0) void outbox?.drain().catch(() => undefined);
      logger.info('recommendation run', { ...result });
    }
    return results;
  };
  const runNow = (brand?: string) => runBrands(tables.brands().filter((b) => brand === undefined || b.code === brand), false);

  const stage = await startStage(config, deps, {
    name: 'advisor',
    groupId,
    inputTopics: [options.inputTopic ?? topics.usageCharged.name],
    deadLetterTopic: topics.deadLetter.name,
    referenceTopics: allReferenceTopics,
    onReference: (records) => applyReferenceRecords(tables, records, logger),
    handleBatch: (records) => handleBatch(records),
    storedOffsets: () => store.load(groupId),
    api: () => advisorApi(db, { runNow, brandKnown: (code) => tables.brand(code) !== undefined }),
    healthChecks: { outbox: () => ({ ok: outbox?.isHealthy() ?? true }) },
    close: () => db.destroy(),
  });
  outbox = await startOutboxRelay({ db, schema: SCHEMA, kafka: deps.kafka, serde: deps.serde, logger, metrics: stage.metrics, prepareTopic: brandTopicsPreparer(deps.kafka, deps.serde) });

  let running: Promise<unknown> = Promise.resolve();
  const timer = intervalMs > 0
    ? setInterval(() => {
        running = running.then(() => runBrands(tables.brands(), true)).catch((error: unknown) => logger.error('recommendation run failed', { error }));
      }, intervalMs)
    : undefined;

  return {
    name: 'advisor',
    url: stage.url,
    ...(stage.apiUrl ? { apiUrl: stage.apiUrl } : {}),
    runNow,
    flush: () => outbox!.drain(),
    stop: async () => {
      if (timer) clearInterval(timer);
      await running.catch(() => undefined);
      await outbox?.stop();
      await stage.stop();
    },
  };
}

/** Each call in its latest rating version: an older version arriving late changes nothing. */
async function upsertCalls(trx: Knex.Transaction, calls: UsageChargedRecord[]): Promise<void> {
  const rows = latestRatingVersions(calls);
  await trx.raw(
    `insert into ${SCHEMA}.calls (event_id, rating_version, brand, subscription_id, usage_type, period_start, billable_seconds)
     select * from unnest(?::text[], ?::int[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::bigint[])
     on conflict (event_id) do update set rating_version = excluded.rating_version, brand = excluded.brand, subscription_id = excluded.subscription_id,
       usage_type = excluded.usage_type, period_start = excluded.period_start, billable_seconds = excluded.billable_seconds
     where ${SCHEMA}.calls.rating_version < excluded.rating_version`,
    [rows.map((c) => c.eventId), rows.map((c) => c.ratingVersion), rows.map((c) => c.brand), rows.map((c) => c.subscriptionId), rows.map((c) => c.usageType), rows.map((c) => c.periodStart), rows.map((c) => c.billableSeconds)],
  );
}

interface LiveRow {
  recommendation_id: string;
  subscription_id: string;
  plan_id: string;
  plan_version: number;
  saving_per_period: string;
  body: PlanRecommendationRecord;
}

/**
 * One brand's run, in one transaction: the usage summary of its subscriptions since the oldest
 * period looked at, each active subscription's outcome against its live recommendation, the
 * rows changed and the events enqueued.
 */
export async function runBrand(db: Knex, tables: ReferenceTables, brand: Brand, now: number, localDate: string): Promise<AdvisorRunResult> {
  const settings = recommendationSettingsOf(brand);
  const subscriptions = tables.subscriptionsOf(brand.code).filter((s) => s.status === 'active' || s.status === 'trial');
  const candidates = plansOnSale(tables.plans(), brand);
  const held = tables.numbersHeld(now);
  // A month is at most 31 days: the oldest period looked at starts after this.
  const since = now - (settings.periods + 1) * 31 * 86_400_000;
  const result: AdvisorRunResult = { brand: brand.code, subscriptions: subscriptions.length, published: 0, withdrawn: 0, kept: 0, pruned: 0 };
  await inTransaction(db, async (trx) => {
    const { rows } = (await trx.raw(
      `select subscription_id, period_start, usage_type, count(*)::int as calls, sum(billable_seconds)::bigint as billable_seconds
         from ${SCHEMA}.calls where brand = ? and period_start >= ? group by subscription_id, period_start, usage_type`,
      [brand.code, since],
    )) as { rows: { subscription_id: string; period_start: string; usage_type: string; calls: number; billable_seconds: string }[] };
    const usageBySubscription = new Map<string, StoredPeriodUsage[]>();
    for (const r of rows) {
      const list = usageBySubscription.get(r.subscription_id) ?? [];
      list.push({ periodStart: Number(r.period_start), usageType: r.usage_type, calls: r.calls, billableSeconds: Number(r.billable_seconds) });
      usageBySubscription.set(r.subscription_id, list);
    }
    const live = new Map<string, LiveRow>(
      ((await trx(`${SCHEMA}.recommendations`).where({ brand: brand.code, status: 'live' }).forUpdate().select('recommendation_id', 'subscription_id', 'plan_id', 'plan_version', 'saving_per_period', 'body')) as LiveRow[]).map((r) => [r.subscription_id, r]),
    );
    const events: OutboxEvent[] = [];
    const ended: { id: string; status: string; supersededBy: string | null }[] = [];
    const inserted: Record<string, unknown>[] = [];
    for (const subscription of subscriptions) {
      const currentPlan = tables.plan(subscription.planId, subscription.planVersion);
      if (currentPlan === undefined) continue;
      const before = live.get(subscription.subscriptionId) ?? null;
      if (before !== null && before.plan_id === subscription.planId && before.plan_version === subscription.planVersion) {
        // The customer took it (a swap): it ends as accepted, not withdrawn.
        ended.push({ id: before.recommendation_id, status: 'accepted', supersededBy: null });
        events.push(recommendationEvent({ ...before.body, status: 'accepted', createdAt: now }));
        live.delete(subscription.subscriptionId);
        continue;
      }
      const basis = basisPeriods(subscription, brand.timeZone, new Date(now), settings.periods, usageBySubscription.get(subscription.subscriptionId) ?? []);
      const outcome = recommendPlan({
        subscription,
        currentPlan,
        candidates,
        currency: brand.currency,
        roundingMode: brand.roundingMode as RoundingMode,
        numbersHeld: held.get(subscription.subscriptionId) ?? 0,
        closed: basis.closed,
        current: basis.current,
        now: new Date(now),
        settings,
      });
      const step = nextRecommendationStep(before === null ? null : { planId: before.plan_id, planVersion: before.plan_version, savingPerPeriod: dec(before.saving_per_period) }, outcome);
      if (step === 'keep') result.kept++;
      if (step === 'withdraw' && before !== null) {
        ended.push({ id: before.recommendation_id, status: 'withdrawn', supersededBy: null });
        events.push(recommendationEvent({ ...before.body, status: 'withdrawn', createdAt: now }));
        result.withdrawn++;
      }
      if (step === 'publish' && outcome.kind === 'recommend') {
        const record = recommendationRecord(subscription, currentPlan.planId, currentPlan.version, outcome.recommendation, before?.recommendation_id ?? null, localDate, now);
        if (before !== null) ended.push({ id: before.recommendation_id, status: 'superseded', supersededBy: record.recommendationId });
        inserted.push({
          recommendation_id: record.recommendationId,
          brand: brand.code,
          subscription_id: subscription.subscriptionId,
          account_id: subscription.accountId,
          status: 'live',
          plan_id: record.planId,
          plan_version: record.planVersion,
          saving_per_period: record.savingPerPeriod,
          currency: record.currency,
          body: JSON.stringify(record),
          created_at: new Date(now),
        });
        events.push(recommendationEvent(record));
        result.published++;
      }
    }
    // A live recommendation of a subscription no longer active (suspended, cancelled) is withdrawn.
    const active = new Set(subscriptions.map((s) => s.subscriptionId));
    for (const [subscriptionId, before] of live) {
      if (active.has(subscriptionId)) continue;
      ended.push({ id: before.recommendation_id, status: 'withdrawn', supersededBy: null });
      events.push(recommendationEvent({ ...before.body, status: 'withdrawn', createdAt: now }));
      result.withdrawn++;
    }
    for (const e of ended) {
      await trx(`${SCHEMA}.recommendations`).where({ recommendation_id: e.id }).update({ status: e.status, superseded_by: e.supersededBy, ended_at: new Date(now) });
    }
    for (let i = 0; i < inserted.length; i += 1000) await trx(`${SCHEMA}.recommendations`).insert(inserted.slice(i, i + 1000)).onConflict('recommendation_id').ignore();
    if (events.length > 0) await enqueue(trx, SCHEMA, events);
    // The brand's calls of periods before the look-back: this run did not read them and no later
    // one will (its window starts later), so the table holds N + 1 periods, not every call ever.
    // A brand that raises lookBackPeriods gets the longer history as it accrues.
    result.pruned = await trx(`${SCHEMA}.calls`).where({ brand: brand.code }).andWhere('period_start', '<', since).delete();
  });
  return result;
}

function recommendationRecord(s: Subscription, currentPlanId: string, currentPlanVersion: number, r: Recommendation, supersedes: string | null, localDate: string, now: number): PlanRecommendationRecord {
  const money = (d: { toFixed(n?: number): string }) => d.toFixed();
  return {
    eventId: '',
    recommendationId: `rec:${s.subscriptionId}:${localDate}:${r.planId}:v${r.planVersion}:${r.savingPerPeriod.toFixed()}`,
    status: 'live',
    supersedes,
    brand: s.brand,
    accountId: s.accountId,
    subscriptionId: s.subscriptionId,
    currentPlanId,
    currentPlanVersion,
    planId: r.planId,
    planVersion: r.planVersion,
    planName: r.planName,
    direction: r.direction,
    currency: r.currency,
    savingPerPeriod: money(r.savingPerPeriod),
    savingPerYear: money(r.savingPerYear),
    savingPercent: money(r.savingPercent),
    currentCostPerPeriod: money(r.currentCostPerPeriod),
    newCostPerPeriod: money(r.newCostPerPeriod),
    confidencePercent: Math.round(r.confidence.score * 100),
    confidenceLevel: r.confidence.level,
    basis: r.basis.map((b) => ({ periodStart: b.start.getTime(), periodEnd: b.end.getTime(), projected: b.projected, usage: b.usage.map((u) => ({ ...u })), currentCost: money(b.currentCost), newCost: money(b.newCost) })),
    createdAt: now,
  };
}

/** The event of a recommendation in a status: its id is the recommendation's and the status. */
function recommendationEvent(record: PlanRecommendationRecord): OutboxEvent {
  const payload = { ...record, eventId: `${record.recommendationId}:${record.status}` };
  return { topic: brandTopics(record.brand).recommendations.name, schema: 'plan-recommendation', key: record.subscriptionId, eventId: payload.eventId, brand: record.brand, payload };
}
