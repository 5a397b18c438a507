import { Decimal } from 'decimal.js';
import type { Knex } from 'knex';
import { ReferenceTables } from '../../domain/reference/index.ts';
import { periodKeyFor, rerate, type ChargeDifference, type PeriodAdjustment, type UsageCharged, type UsageResolved } from '../../domain/mediation/index.ts';
import { allReferenceTopics, applyReferenceRecords } from '../../contracts/reference.ts';
import type { RuntimeConfig } from '../../runtime/config.ts';
import { readCompactedTopics } from '../../runtime/compacted.ts';
import { replayTopic } from '../../runtime/replay.ts';
import { commit, createDb, migrateService } from '../../runtime/db.ts';
import { RatelineError, TransientError } from '../../runtime/errors.ts';
import { BatchProducer, partitionOfKey, standardHeaders } from '../../runtime/kafka.ts';
import { loadSchema } from '../../runtime/serde.ts';
import type { ServiceDeps } from '../../runtime/service.ts';
import { topics, valueSubject } from '../../topics/catalog.ts';
import { chargeDetails, migrations, SCHEMA } from './schema.ts';

/** Which usage to re-rate: the billing periods of the matching subscriptions that overlap [from, to). */
export interface RerateScope {
  brand?: string;
  accountId?: string;
  subscriptionId?: string;
  from: number;
  to: number;
}

export interface RerateRunOptions {
  /** Print the differences, commit and publish nothing. */
  dryRun?: boolean;
  /** Replay usage.resolved from this Kafka timestamp (default: the beginning of the topic). */
  replayFrom?: number;
  parentCompany?: string;
  /**
   * Re-rate only the calls already charged (a plan swap): a call resolved but still on its way
   * to the live drawdown is charged there, on the re-rated state, once; re-rating it here too
   * would charge it in two versions.
   */
  onlyCharged?: boolean;
  /**
   * The message key every usage in scope has on usage.resolved (a subscription's account): only
   * that key's partition is replayed. If it misses a call already charged in the window (the
   * topic's partition count changed since), every partition is replayed.
   */
  replayKey?: string;
  /** Refuse (retryably) until the reference data shows this subscription's plan change. */
  expectPlanChange?: { subscriptionId: string; toPlanId: string; toPlanVersion: number; at: number };
}

export interface RerateReport {
  ratingVersion: number;
  periods: string[];
  usages: number;
  differences: readonly ChargeDifference[];
  adjustments: readonly PeriodAdjustment[];
  rejections: number;
  /** The partitions of usage.resolved replayed: one key's, or all (no key, or the key's missed a charged call). */
  replayedPartitions: number[] | 'all';
  committed: boolean;
  /** Why nothing was committed, when nothing was. */
  note?: string;
}

interface UsageReratedRecord {
  eventId: string;
  usageEventId: string;
  brand: string;
  accountId: string;
  subscriptionId: string;
  periodStart: number;
  usageType: string;
  previousVersion: number;
  ratingVersion: number;
  kind: string;
  includedSecondsDelta: number;
  overageSecondsDelta: number;
  currency: string;
  amountDelta: Decimal;
  reratedAt: number;
}

/**
 * Re-rates the periods in scope under the current rules and plans: replays resolved usage from
 * Kafka, recomputes each period from full buckets (everything the old version drew is given back,
 * then drawn again in the order the calls were first charged, domain/drawdown README), and
 * compares with the version already charged. Unless it is a dry run or nothing differs, it
 * writes the new version's charges and bucket states in one transaction with the live
 * drawdown's rows locked, and publishes the new charged records and the per-CDR differences.
 * With the rules and plans unchanged it finds no difference and writes nothing, whatever order
 * the calls arrived in; a second run over the same scope does the same.
 */
export async function rerateScope(config: RuntimeConfig, deps: ServiceDeps, scope: RerateScope, options: RerateRunOptions = {}): Promise<RerateReport> {
  const tables = new ReferenceTables(options.parentCompany ?? process.env.RATELINE_PARENT_COMPANY ?? 'ansr-group');
  const reader = await readCompactedTopics(deps.kafka, deps.serde, allReferenceTopics, (records) => applyReferenceRecords(tables, records, deps.logger), deps.logger);
  await reader.ready;
  await reader.stop();
  const expected = options.expectPlanChange;
  if (expected !== undefined && !tables.subscription(expected.subscriptionId)?.planChanges.some((c) => c.toPlanId === expected.toPlanId && c.toPlanVersion === expected.toPlanVersion && c.at === expected.at)) {
    throw new TransientError('plan_change_not_visible', `ref.subscriptions does not show ${expected.subscriptionId}'s change to ${expected.toPlanId} v${expected.toPlanVersion} yet`);
  }

  const matches = (u: UsageResolved) =>
    (scope.brand === undefined || u.brand === scope.brand) && (scope.accountId === undefined || u.accountId === scope.accountId) && (scope.subscriptionId === undefined || u.subscriptionId === scope.subscriptionId);
  const db = createDb(config.postgres);
  try {
    await migrateService(db, SCHEMA, migrations);
    const { found: replayed, partitions: replayedPartitions } = await replayInScope(deps, db, scope, matches, options);

    // Whole periods: every usage of each period that overlaps the window.
    const byPeriod = new Map<string, { periodStart: number; periodEnd: number; usages: UsageResolved[] }>();
    for (const usage of replayed.values()) {
      const key = periodKeyFor(usage, tables);
      if (!key.ok) continue;
      const entry = byPeriod.get(key.value.key) ?? { periodStart: key.value.periodStart, periodEnd: key.value.periodEnd, usages: [] };
      entry.usages.push(usage);
      byPeriod.set(key.value.key, entry);
    }
    const periods = [...byPeriod].filter(([, p]) => p.periodStart < scope.to && p.periodEnd > scope.from);
    const periodKeys = periods.map(([key]) => key);
    const replayedUsages = periods.flatMap(([, p]) => p.usages);
    const periodStartOf = new Map(periods.map(([key, p]) => [key, p.periodStart]));

    const old = await latestCharges(db, periodKeys, periodStartOf);
    const chargedIds = new Set(old.records.map((r) => r.eventId));
    const usages = options.onlyCharged ? replayedUsages.filter((u) => chargedIds.has(u.eventId)) : replayedUsages;
    const replayedIds = new Set(usages.map((u) => u.eventId));
    const missing = old.records.filter((r) => !replayedIds.has(r.eventId));
    const base = { periods: periodKeys, usages: usages.length, replayedPartitions };
    if (missing.length > 0) {
      // With usage flowing (a swap), a call charged after the replay read the topic's end is
      // not in it: run again once the replay can see it.
      if (options.onlyCharged) throw new TransientError('rerate_raced', `${missing.length} usages were charged after the replay of ${topics.usageResolved.name} ended (e.g. ${missing[0]!.eventId}): run it again`);
      throw new RatelineError('replay_incomplete', `${missing.length} usages already charged in these periods are not in the replay of ${topics.usageResolved.name} (e.g. ${missing[0]!.eventId}): replay from earlier (--replay-from) or let the pipeline catch up`);
    }
    const ratingVersion = old.maxVersion + 1;
    const now = deps.clock.now();
    const result = rerate(usages, old.records, tables, ratingVersion, { at: now });
    const report: RerateReport = { ratingVersion, ...base, differences: result.differences, adjustments: result.adjustments, rejections: result.rejections.length, committed: false };
    // A period whose stored state is on another plan than the re-rated one (a swap whose new plan
    // charges the same) gets the new state anyway: the live drawdown charges its next calls on it.
    const storedPlans = await storedStatePlans(db, [...result.states.keys()]);
    const planMoved = new Set([...result.states.values()].filter((s) => { const p = storedPlans.get(s.key); return p !== undefined && (p.planId !== s.planId || p.planVersion !== s.planVersion); }).map((s) => `${s.subscriptionId}\u0000${s.periodStart}`));
    if (result.differences.length === 0 && planMoved.size === 0) return { ...report, note: 'no differences from the version already charged: nothing to do' };
    if (options.dryRun) return { ...report, note: 'dry run: nothing committed or published' };

    const changedPeriods = new Set(result.adjustments.map((a) => `${a.subscriptionId}\u0000${a.periodStart}`));
    const keep = (c: { subscriptionId: string; periodStart: number }) => changedPeriods.has(`${c.subscriptionId}\u0000${c.periodStart}`);
    const charged = result.charged.filter(keep);
    const touched = (c: { subscriptionId: string; periodStart: number }) => keep(c) || planMoved.has(`${c.subscriptionId}\u0000${c.periodStart}`);
    const states = [...result.states.values()].filter((s) => touched({ subscriptionId: s.subscriptionId, periodStart: s.periodStart }));
    const previousVersion = new Map(old.records.map((r) => [r.eventId, r.ratingVersion]));

    const producer = await BatchProducer.connect(deps.kafka);
    const trx = await db.transaction();
    try {
      // Lock the periods against the live drawdown, then check nothing was charged meanwhile.
      await trx(`${SCHEMA}.period_states`).whereIn('period_key', states.map((s) => s.key)).forUpdate().select('period_key');
      const again = await latestCharges(trx, states.map((s) => s.key), periodStartOf);
      if (again.records.length !== old.records.filter(touched).length || again.maxVersion !== old.maxVersion) {
        throw new TransientError('rerate_raced', 'usage was charged in these periods while re-rating: run it again');
      }
      const encodeCharged = deps.serde.encoder<UsageCharged>(await deps.serde.register(valueSubject(topics.usageCharged.name), loadSchema('usage.charged')));
      const encodeRerated = deps.serde.encoder<UsageReratedRecord>(await deps.serde.register(valueSubject(topics.usageRerated.name), loadSchema('usage.rerated')));
      const differences = result.differences.map((d): UsageReratedRecord => {
        const subscription = tables.subscription(d.subscriptionId)!;
        return {
          eventId: `${d.eventId}@v${ratingVersion}`,
          usageEventId: d.eventId,
          brand: subscription.brand,
          accountId: subscription.accountId,
          subscriptionId: d.subscriptionId,
          periodStart: d.periodStart,
          usageType: d.usageType,
          previousVersion: previousVersion.get(d.eventId) ?? 0,
          ratingVersion,
          kind: d.kind,
          includedSecondsDelta: d.includedSeconds,
          overageSecondsDelta: d.overageSeconds,
          currency: d.currency,
          amountDelta: d.amount,
          reratedAt: now,
        };
      });
      await producer.send({
        [topics.usageCharged.name]: charged.map((u) => ({ key: u.accountId, value: encodeCharged(u), headers: standardHeaders({ eventId: u.eventId, brand: u.brand }) })),
        [topics.usageRerated.name]: differences.map((d) => ({ key: d.accountId, value: encodeRerated(d), headers: standardHeaders({ eventId: d.eventId, brand: d.brand }) })),
      });
      const periodKeyOf = (c: { subscriptionId: string; periodStart: number }) => periodKeys.find((k) => periodStartOf.get(k) === c.periodStart && k.startsWith(`${c.subscriptionId}#`))!;
      const row = (u: UsageCharged, removed: boolean) => ({
        event_id: u.eventId,
        rating_version: ratingVersion,
        subscription_id: u.subscriptionId,
        period_key: periodKeyOf(u),
        usage_type: u.usageType,
        billable_seconds: removed ? 0 : u.billableSeconds,
        included_seconds: removed ? 0 : u.includedSeconds,
        overage_seconds: removed ? 0 : u.overageSeconds,
        amount: removed ? '0' : new Decimal(u.amount).toFixed(6),
        currency: u.currency,
        charged_at: new Date(now),
        charge_sequence: u.chargeSequence,
        removed,
        // A removed call's old record holds only what the comparison read (latestCharges).
        ...(removed ? {} : chargeDetails(u)),
      });
      // A call the new version no longer charges gets a row saying so: without it, the next
      // re-rate would take the old version's row for the latest and give the call back again.
      const oldRecord = new Map(old.records.map((r) => [r.eventId, r]));
      const removed = result.differences.filter((d) => d.kind === 'removed').map((d) => oldRecord.get(d.eventId)!);
      const rows = [...charged.map((u) => row(u, false)), ...removed.map((u) => row(u, true))];
      for (let i = 0; i < rows.length; i += 2000) await trx(`${SCHEMA}.charges`).insert(rows.slice(i, i + 2000));
      for (const state of states) {
        await trx(`${SCHEMA}.period_states`)
          .insert({ period_key: state.key, subscription_id: state.subscriptionId, period_index: state.periodIndex, state: JSON.stringify(state), updated_at: trx.fn.now() })
          .onConflict('period_key')
          .merge(['state', 'updated_at']);
      }
      await trx(`${SCHEMA}.rating_runs`).insert({ rating_version: ratingVersion, scope: JSON.stringify(scope), periods: states.length, usages: charged.length, differences: differences.length });
      await commit(trx);
    } catch (err) {
      await trx.rollback().catch(() => undefined);
      throw err;
    } finally {
      await producer.stop();
    }
    return { ...report, committed: true };
  } finally {
    await db.destroy();
  }
}

/**
 * The latest charged version of each usage in these periods, as the records compareVersions
 * needs (with the order they were first charged in); a usage whose latest version removed it
 * is not charged.
 */
async function latestCharges(db: Knex | Knex.Transaction, periodKeys: string[], periodStartOf: Map<string, number>): Promise<{ records: (UsageCharged & { ratingVersion: number })[]; maxVersion: number }> {
  if (periodKeys.length === 0) return { records: [], maxVersion: 0 };
  const rows: { event_id: string; rating_version: number; subscription_id: string; period_key: string; usage_type: string; billable_seconds: string; included_seconds: string; overage_seconds: string; amount: string; currency: string; charge_sequence: number; removed: boolean }[] = await db
    .select('*')
    .from(db.raw(`(select distinct on (event_id) * from ${SCHEMA}.charges where period_key = any(?) order by event_id, rating_version desc) latest`, [periodKeys]));
  let maxVersion = 0;
  for (const row of rows) maxVersion = Math.max(maxVersion, row.rating_version);
  const records = rows.filter((row) => !row.removed).map((row) => {
    // Only the fields a version comparison reads are known here; the rest stay empty.
    return {
      eventId: row.event_id,
      ratingVersion: row.rating_version,
      subscriptionId: row.subscription_id,
      periodStart: periodStartOf.get(row.period_key)!,
      usageType: row.usage_type,
      billableSeconds: Number(row.billable_seconds),
      includedSeconds: Number(row.included_seconds),
      overageSeconds: Number(row.overage_seconds),
      amount: new Decimal(row.amount),
      currency: row.currency,
      chargeSequence: row.charge_sequence,
    } as UsageCharged & { ratingVersion: number };
  });
  return { records, maxVersion };
}

/** Every matching resolved usage from a timestamp (or the beginning) up to the topic's end now, in some partitions or all. */
async function replayResolved(deps: ServiceDeps, matches: (u: UsageResolved) => boolean, replayFrom: number | undefined, partitions?: readonly number[]): Promise<Map<string, UsageResolved>> {
  const found = new Map<string, UsageResolved>();
  await replayTopic<UsageResolved>(
    deps.kafka,
    deps.serde,
    topics.usageResolved.name,
    replayFrom,
    (usage) => {
      if (matches(usage)) found.set(usage.eventId, usage);
    },
    partitions === undefined ? {} : { partitions },
  );
  return found;
}

/**
 * The replay a scope needs: with a replay key and a subscription, only the key's partition (on a
 * shared cluster the other partitions are nearly all of the topic), kept only if it holds every
 * call drawdown has charged in the subscription's periods overlapping the window; else, or
 * without a key, every partition.
 */
async function replayInScope(
  deps: ServiceDeps,
  db: Knex,
  scope: RerateScope,
  matches: (u: UsageResolved) => boolean,
  options: RerateRunOptions,
): Promise<{ found: Map<string, UsageResolved>; partitions: number[] | 'all' }> {
  const everything = async () => ({ found: await replayResolved(deps, matches, options.replayFrom), partitions: 'all' as const });
  if (options.replayKey === undefined || scope.subscriptionId === undefined) return everything();
  const admin = deps.kafka.admin();
  await admin.connect();
  const partitions = await admin.fetchTopicOffsets(topics.usageResolved.name).finally(() => admin.disconnect());
  // Read before the replay: a call charged after it is the race rerateScope already retries.
  const { rows } = (await db.raw(
    `select distinct c.event_id from ${SCHEMA}.charges c join ${SCHEMA}.period_states p on p.period_key = c.period_key
     where p.subscription_id = ? and (p.state->>'periodStart')::bigint < ? and (p.state->>'periodEnd')::bigint > ?`,
    [scope.subscriptionId, scope.to, scope.from],
  )) as { rows: { event_id: string }[] };
  const partition = partitionOfKey(topics.usageResolved.name, options.replayKey, partitions.length);
  const narrowed = await replayResolved(deps, matches, options.replayFrom, [partition]);
  if (rows.every((r) => narrowed.has(r.event_id))) return { found: narrowed, partitions: [partition] };
  deps.logger.warn('re-rating: the key\'s partition lacks calls already charged; replaying every partition', { subscriptionId: scope.subscriptionId, key: options.replayKey });
  return everything();
}

/** The plan each stored period state was opened or last re-rated on. */
async function storedStatePlans(db: Knex, keys: string[]): Promise<Map<string, { planId: string; planVersion: number }>> {
  if (keys.length === 0) return new Map();
  const { rows } = (await db.raw(`select period_key, state->>'planId' as plan_id, (state->>'planVersion')::int as plan_version from ${SCHEMA}.period_states where period_key = any(?)`, [keys])) as { rows: { period_key: string; plan_id: string; plan_version: number }[] };
  return new Map(rows.map((r) => [r.period_key, { planId: r.plan_id, planVersion: r.plan_version }]));
}
