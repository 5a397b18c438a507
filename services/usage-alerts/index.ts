import type { Knex } from 'knex';
import { Decimal } from 'decimal.js';
import { latestRatingVersions, type UsageChargedRecord } from '../../contracts/records.ts';
import { allReferenceTopics, applyReferenceRecords } from '../../contracts/reference.ts';
import { decimalOrNull, includedSecondsOf, reachedThresholds, thresholdKey, usageAlertId, type Threshold } from '../../domain/notify/index.ts';
import { ReferenceTables } from '../../domain/reference/index.ts';
import type { RuntimeConfig } from '../../runtime/config.ts';
import { createDb, inTransaction, migrateService } from '../../runtime/db.ts';
import type { ConsumedRecord } from '../../runtime/kafka.ts';
import { enqueue, startOutboxRelay, type OutboxEvent, type OutboxRelay } from '../../runtime/outbox.ts';
import type { RunningService, ServiceDeps } from '../../runtime/service.ts';
import { startStage } from '../../runtime/stage.ts';
import { brandTopicsPreparer } from '../../topics/apply.ts';
import { brandTopics, topics } from '../../topics/catalog.ts';
import { migrations, offsets, SCHEMA } from './schema.ts';

export const GROUP_ID = 'rateline-usage-alerts';

export interface UsageAlertsOptions {
  parentCompany?: string;
  /** Consumer group and key of the stored offsets (default USAGE_ALERTS_GROUP_ID or rateline-usage-alerts). */
  groupId?: string;
  /** The topic of charged usage (default usage.charged). */
  inputTopic?: string;
  env?: Readonly<Record<string, string | undefined>>;
}

export interface RunningUsageAlerts extends RunningService {
  /** Publishes what the outbox holds now; resolves with how many were sent. */
  flush(): Promise<number>;
}

/** `brand.<code>.usage-alerts` (schemas/usage-alert.avsc) as avsc writes it. */
export interface UsageAlertRecord {
  eventId: string;
  brand: string;
  accountId: string;
  subscriptionId: string;
  usageType: string;
  periodStart: number;
  periodEnd: number;
  thresholdKind: 'included_percent' | 'overage_amount';
  thresholdPercent: number | null;
  thresholdAmount: Decimal | null;
  includedSeconds: number;
  usedSeconds: number;
  unitSeconds: number;
  overageAmount: Decimal;
  currency: string;
  occurredAt: number;
}

/**
 * usage-alerts: consumes usage.charged and tells, on the brand's own usage-alerts topic, when a
 * subscription's usage of a type in a period reaches a threshold the brand set (a percent of
 * the included seconds, an overage amount), once per period and threshold.
 *
 * Per batch, in one transaction: each call's latest rating version replaces its earlier one
 * (so a re-rated period is counted once), the period totals of the subscriptions touched are
 * summed, thresholds reached and not yet emitted are recorded (unique per period and threshold:
 * a re-rated period never emits again) and enqueued on the outbox, and the offsets are saved.
 * Calls of brands without thresholds are not kept: thresholds set mid-period count the usage
 * from then on.
 */
export async function startUsageAlerts(config: RuntimeConfig, deps: ServiceDeps, options: UsageAlertsOptions = {}): Promise<RunningUsageAlerts> {
  const env = options.env ?? process.env;
  const logger = deps.logger.child({ stage: 'usage-alerts' });
  const groupId = options.groupId ?? env['USAGE_ALERTS_GROUP_ID'] ?? GROUP_ID;
  const db = createDb(config.postgres);
  await migrateService(db, SCHEMA, migrations);
  const store = offsets.store(db);
  const tables = new ReferenceTables(options.parentCompany ?? env['RATELINE_PARENT_COMPANY'] ?? 'ansr-group');
  let outbox: OutboxRelay | undefined;

  const handleBatch = async (records: ConsumedRecord[]) => {
    await deps.serde.prepare(records.map((r) => r.value));
    const charged = records.map((r) => deps.serde.decode<UsageChargedRecord>(r.value, 'usage.charged'));
    const watched = charged.filter((c) => {
      const n = tables.brand(c.brand)?.notifications;
      return !!n && (n.usageThresholdPercents.length > 0 || n.usageOverageAmount !== null);
    });
    const events: OutboxEvent[] = [];
    await inTransaction(db, async (trx) => {
      if (watched.length > 0) {
        await upsertCalls(trx, watched);
        events.push(...(await newAlerts(trx, tables, watched)));
        if (events.length > 0) await enqueue(trx, SCHEMA, events);
      }
      await store.saveAfter(trx, groupId, records[records.length - 1]!);
    });
    if (events.length > 0) {
      logger.info('usage thresholds reached', { alerts: events.length });
      void outbox?.drain().catch(() => undefined);
    }
  };

  const stage = await startStage(config, deps, {
    name: 'usage-alerts',
    groupId,
    inputTopics: [options.inputTopic ?? topics.usageCharged.name],
    deadLetterTopic: topics.deadLetter.name,
    referenceTopics: allReferenceTopics,
    onReference: (records) => applyReferenceRecords(tables, records, logger),
    handleBatch: (records) => handleBatch(records),
    storedOffsets: () => store.load(groupId),
    healthChecks: { outbox: () => ({ ok: outbox?.isHealthy() ?? true }) },
    close: () => db.destroy(),
  });
  outbox = await startOutboxRelay({ db, schema: SCHEMA, kafka: deps.kafka, serde: deps.serde, logger, metrics: stage.metrics, prepareTopic: brandTopicsPreparer(deps.kafka, deps.serde) });

  return {
    name: 'usage-alerts',
    url: stage.url,
    flush: () => outbox!.drain(),
    stop: async () => {
      await stage.stop();
      await outbox?.stop();
    },
  };
}

/** Each call in its latest rating version: an older version arriving late changes nothing. */
async function upsertCalls(trx: Knex.Transaction, calls: UsageChargedRecord[]): Promise<void> {
  // The last record of an event id in the batch with the highest version wins (one row per id in one statement).
  const rows = latestRatingVersions(calls);
  await trx.raw(
    `insert into ${SCHEMA}.calls (event_id, rating_version, subscription_id, usage_type, period_start, billable_seconds, overage_amount)
     select * from unnest(?::text[], ?::int[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::numeric[])
     on conflict (event_id) do update set rating_version = excluded.rating_version, subscription_id = excluded.subscription_id, usage_type = excluded.usage_type,
       period_start = excluded.period_start, billable_seconds = excluded.billable_seconds, overage_amount = excluded.overage_amount
     where ${SCHEMA}.calls.rating_version < excluded.rating_version`,
    [
      rows.map((c) => c.eventId),
      rows.map((c) => c.ratingVersion),
      rows.map((c) => c.subscriptionId),
      rows.map((c) => c.usageType),
      rows.map((c) => c.periodStart),
      rows.map((c) => c.billableSeconds),
      rows.map((c) => c.amount.toFixed()),
    ],
  );
}

/** The alerts the batch's periods now reach and have not emitted, recorded (unique) and returned for the outbox. */
async function newAlerts(trx: Knex.Transaction, tables: ReferenceTables, calls: UsageChargedRecord[]): Promise<OutboxEvent[]> {
  // The period of each (subscription, usage type), with the batch's last call in it.
  const periods = new Map<string, UsageChargedRecord>();
  for (const c of calls) periods.set(`${c.subscriptionId}\u0000${c.usageType}\u0000${c.periodStart}`, c);
  const keys = [...periods.values()];
  const { rows: totals } = (await trx.raw(
    `select k.subscription_id, k.usage_type, k.period_start, coalesce(sum(c.billable_seconds), 0)::bigint as used, coalesce(sum(c.overage_amount), 0)::text as overage,
            coalesce((select array_agg(a.threshold) from ${SCHEMA}.alerts a where a.subscription_id = k.subscription_id and a.usage_type = k.usage_type and a.period_start = k.period_start), '{}') as emitted
       from unnest(?::text[], ?::text[], ?::bigint[]) as k(subscription_id, usage_type, period_start)
       left join ${SCHEMA}.calls c on c.subscription_id = k.subscription_id and c.usage_type = k.usage_type and c.period_start = k.period_start
      group by k.subscription_id, k.usage_type, k.period_start`,
    [keys.map((c) => c.subscriptionId), keys.map((c) => c.usageType), keys.map((c) => c.periodStart)],
  )) as { rows: { subscription_id: string; usage_type: string; period_start: string; used: string; overage: string; emitted: string[] }[] };
  const byKey = new Map(totals.map((t) => [`${t.subscription_id}\u0000${t.usage_type}\u0000${t.period_start}`, t]));

  const alerts: { row: Record<string, unknown>; event: OutboxEvent }[] = [];
  for (const [key, c] of periods) {
    const total = byKey.get(key);
    const brand = tables.brand(c.brand);
    const settings = brand?.notifications;
    if (!total || !settings) continue;
    const plan = tables.plan(c.planId, c.planVersion);
    const subscription = tables.subscription(c.subscriptionId);
    const includedSeconds = includedSecondsOf(c.usageType, [...(plan?.grants ?? []), ...(subscription?.addOnGrants ?? [])]);
    const usage = { includedSeconds, usedSeconds: Number(total.used), overageAmount: new Decimal(total.overage) };
    const reached = reachedThresholds({ percents: settings.usageThresholdPercents, overageAmount: decimalOrNull(settings.usageOverageAmount) }, usage, new Set(total.emitted));
    const unitSeconds = plan?.priceModels.find((m) => m.usageType === c.usageType)?.unitSeconds ?? 60;
    for (const t of reached) {
      const record = alertRecord(c, t, usage, unitSeconds);
      alerts.push({
        row: { event_id: record.eventId, brand: c.brand, subscription_id: c.subscriptionId, usage_type: c.usageType, period_start: c.periodStart, threshold: thresholdKey(t) },
        event: { topic: brandTopics(c.brand).usageAlerts.name, schema: 'usage-alert', key: c.accountId, eventId: record.eventId, brand: c.brand, payload: record },
      });
    }
  }
  if (alerts.length === 0) return [];
  // Another instance (a rebalance) may have recorded the same threshold: only what this insert adds is published.
  const inserted: string[] = await trx(`${SCHEMA}.alerts`).insert(alerts.map((a) => a.row)).onConflict(['subscription_id', 'usage_type', 'period_start', 'threshold']).ignore().returning('event_id').then((rows: { event_id: string }[]) => rows.map((r) => r.event_id));
  const added = new Set(inserted);
  return alerts.filter((a) => added.has(a.event.eventId)).map((a) => a.event);
}

function alertRecord(c: UsageChargedRecord, t: Threshold, usage: { includedSeconds: number; usedSeconds: number; overageAmount: Decimal }, unitSeconds: number): UsageAlertRecord {
  return {
    eventId: usageAlertId(c.subscriptionId, c.usageType, c.periodStart, t),
    brand: c.brand,
    accountId: c.accountId,
    subscriptionId: c.subscriptionId,
    usageType: c.usageType,
    periodStart: c.periodStart,
    periodEnd: c.periodEnd,
    thresholdKind: t.kind,
    thresholdPercent: t.kind === 'included_percent' ? t.percent : null,
    thresholdAmount: t.kind === 'overage_amount' ? t.amount : null,
    includedSeconds: usage.includedSeconds,
    usedSeconds: usage.usedSeconds,
    unitSeconds,
    overageAmount: usage.overageAmount,
    currency: c.currency,
    occurredAt: c.startTime,
  };
}
