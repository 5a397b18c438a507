import type { Knex } from 'knex';
import client from 'prom-client';
import { ReferenceTables } from '../../domain/reference/index.ts';
import { chargeRatedUsage, periodKeyFor, type ChargePeriodState, type UsageCharged, type UsageRated } from '../../domain/mediation/index.ts';
import { allReferenceTopics, applyReferenceRecords } from '../../contracts/reference.ts';
import { buildRejection } from '../../contracts/rejection.ts';
import { kafkaOrigin, type CdrRejectedRecord } from '../../contracts/records.ts';
import type { RuntimeConfig } from '../../runtime/config.ts';
import { ControlTally, localDay, utcDay } from '../../domain/assurance/control-totals.ts';
import { controlTotalsProducer, controlTotalsStatement, startControlTotalsPublisher } from '../../runtime/control-totals.ts';
import { createDb, inTransaction, migrateService, runTogether, type Statement, type StoredOffsets } from '../../runtime/db.ts';
import { standardHeaders, type ConsumedRecord, type OutgoingMessage } from '../../runtime/kafka.ts';
import { loadSchema } from '../../runtime/serde.ts';
import type { RunningService, ServiceDeps } from '../../runtime/service.ts';
import { sendCounted, startStage, type StageContext } from '../../runtime/stage.ts';
import { topics, valueSubject } from '../../topics/catalog.ts';
import { chargeDetails, migrations, offsets, SCHEMA } from './schema.ts';
import { drawdownApi } from './api.ts';
import { rerateScope } from './rerate.ts';

export const GROUP_ID = 'rateline-drawdown';

export interface DrawdownOptions {
  parentCompany?: string;
}

interface Pending {
  record: ConsumedRecord;
  rated: UsageRated;
  /** The period state key, computed once (it costs a time-zone calculation on a cache miss). */
  periodKey: string | undefined;
}

/**
 * drawdown: draws rated usage down against the subscription's included-unit buckets for its
 * billing period and prices the overage. State (buckets per period, charges, consumed offsets)
 * changes in one PostgreSQL transaction per batch; the charges table's key (event id, rating
 * version) makes a redelivered record a no-op, so no unit is drawn twice and none is lost.
 */
export async function startDrawdown(config: RuntimeConfig, deps: ServiceDeps, options: DrawdownOptions = {}): Promise<RunningService> {
  const db = createDb(config.postgres);
  await migrateService(db, SCHEMA, migrations);
  const store = offsets.store(db);
  const tables = new ReferenceTables(options.parentCompany ?? process.env.RATELINE_PARENT_COMPANY ?? 'ansr-group');
  const encodeCharged = deps.serde.encoder<UsageCharged>(await deps.serde.register(valueSubject(topics.usageCharged.name), loadSchema('usage.charged')));
  const encodeRejected = deps.serde.encoder<CdrRejectedRecord>(await deps.serde.register(valueSubject(topics.cdrRejected.name), loadSchema('cdr.rejected')));
  const controlSink = await controlTotalsProducer(deps.kafka, deps.serde);
  const controlTotals = startControlTotalsPublisher({ db, schema: SCHEMA, logger: deps.logger, publish: controlSink.publish });
  let exhausted: client.Counter<'usage_type'> | undefined;

  const handleBatch = async (records: ConsumedRecord[], context: StageContext) => {
    const { metrics } = context;
    const exhaustion = (exhausted ??= new client.Counter({ name: 'rateline_bucket_exhausted_total', help: 'Included-unit buckets drawn to zero, by usage type', labelNames: ['usage_type'], registers: [metrics.registry] }));
    await deps.serde.prepare(records.map((r) => r.value));
    const decoded: Pending[] = records.map((record) => {
      const rated = deps.serde.decode<UsageRated>(record.value, 'usage.rated');
      const key = periodKeyFor(rated, tables);
      return { record, rated, periodKey: key.ok ? key.value.key : undefined };
    });
    await inTransaction(db, async (trx) => {
      const fresh = await notYetCharged(trx, store, decoded, GROUP_ID);
      const states = await loadStates(trx, fresh);
      const changed = new Set<string>();
      const charged: OutgoingMessage[] = [];
      const chargeRows: ChargeRow[] = [];
      const rejected: OutgoingMessage[] = [];
      // Only records charged for the first time count: a redelivery was counted when it was charged.
      const tally = new ControlTally('drawdown');
      for (const { record, rated, periodKey } of fresh) {
        const before = periodKey === undefined ? undefined : states.get(periodKey);
        const outcome = chargeRatedUsage(before, rated, tables);
        const sourceDay = tally.at('source', rated.source, utcDay(rated.startTime)).count('in');
        if (!outcome.ok) {
          sourceDay.count(`rejected:${outcome.rejection.reason}`);
          const rejection = buildRejection({
            stage: 'drawdown',
            reason: outcome.rejection.reason,
            detail: outcome.rejection.detail,
            source: rated.source,
            cdrId: rated.cdrId,
            payload: record.value!,
            payloadFormat: 'avro-confluent',
            origin: kafkaOrigin(record.topic, record.partition, record.offset),
            subject: `${rated.eventId}@${rated.ratingVersion}`,
            now: deps.clock.now(),
          });
          rejected.push({ key: rated.source, value: encodeRejected(rejection), headers: standardHeaders({ eventId: rejection.eventId, brand: rated.brand }) });
          metrics.rejected.inc({ reason: outcome.rejection.reason });
          continue;
        }
        const usage = outcome.value;
        sourceDay.count('charged');
        tally
          .at('brand', usage.brand, localDay(usage.startTime, tables.brand(usage.brand)?.timeZone))
          .count('charged')
          .addSeconds('billable', usage.billableSeconds)
          .addSeconds('included', usage.includedSeconds)
          .addSeconds('overage', usage.overageSeconds)
          .amount('charged', usage.currency, usage.amount);
        for (const draw of usage.draws) {
          const bucket = outcome.state.drawdown.buckets.find((b) => b.bucketId === draw.bucketId);
          if (bucket && bucket.remaining === 0 && draw.seconds > 0) exhaustion.inc({ usage_type: usage.usageType });
        }
        states.set(outcome.state.key, outcome.state);
        changed.add(outcome.state.key);
        charged.push({ key: usage.accountId, value: encodeCharged(usage), headers: standardHeaders({ eventId: usage.eventId, brand: usage.brand }) });
        chargeRows.push({
          event_id: usage.eventId,
          rating_version: usage.ratingVersion,
          subscription_id: usage.subscriptionId,
          period_key: outcome.state.key,
          usage_type: usage.usageType,
          billable_seconds: usage.billableSeconds,
          included_seconds: usage.includedSeconds,
          overage_seconds: usage.overageSeconds,
          amount: usage.amount.toFixed(6),
          currency: usage.currency,
          charged_at: new Date(usage.chargedAt).toISOString(),
          charge_sequence: usage.chargeSequence,
          ...chargeDetails(usage),
        });
      }
      // Produce before the state commits: a crash in between re-sends the same ids, never loses.
      await sendCounted(context, { [topics.usageCharged.name]: charged, [topics.cdrRejected.name]: rejected });
      // The batch's writes in one round trip: control totals, period states, charges, consumed offset.
      await runTogether(trx, [
        controlTotalsStatement(SCHEMA, tally),
        saveStates([...changed].map((key) => states.get(key)!)),
        insertCharges(chargeRows),
        store.saveAfterEachStatement(GROUP_ID, records),
      ]);
    });
  };

  return startStage(config, deps, {
    name: 'drawdown',
    groupId: GROUP_ID,
    inputTopics: [topics.usageRated.name],
    deadLetterTopic: topics.deadLetter.name,
    referenceTopics: allReferenceTopics,
    onReference: (records) => applyReferenceRecords(tables, records, deps.logger),
    gatherPartitions: true,
    handleBatch,
    storedOffsets: () => store.load(GROUP_ID),
    api: () => drawdownApi(db, tables, (scope, runOptions) => rerateScope(config, deps, scope, { ...runOptions, ...(options.parentCompany ? { parentCompany: options.parentCompany } : {}) })),
    close: async () => {
      await controlTotals.stop();
      await controlSink.stop();
      await db.destroy();
    },
  });
}

/**
 * Drops records this stage already charged. Charges and consumed offsets commit in one
 * transaction, so a record below the partition's stored offset was charged; locking the partitions'
 * offset rows also keeps two group members (during a rebalance) from charging one partition at once.
 * Repeats within the batch are dropped too. The charges table's key stays the final guard.
 */
async function notYetCharged(trx: Knex.Transaction, store: StoredOffsets, batch: Pending[], groupId: string): Promise<Pending[]> {
  if (batch.length === 0) return [];
  const stored = await store.lockStored(trx, groupId, batch.map((p) => p.record));
  const seen = new Set<string>();
  const candidates = batch.filter(({ record, rated }) => {
    const id = `${rated.eventId}@${rated.ratingVersion}`;
    const next = stored.get(`${record.topic}:${record.partition}`);
    if ((next !== undefined && BigInt(record.offset) < next) || seen.has(id)) return false;
    seen.add(id);
    return true;
  });
  // Belt and braces: a usage can also arrive twice at different offsets (a producer retry
  // upstream), so ask the charges table about the rest.
  const done = new Set<string>();
  for (let i = 0; i < candidates.length; i += 5000) {
    const chunk = candidates.slice(i, i + 5000);
    // One array parameter per column: a fixed statement text whatever the batch size.
    const { rows } = (await trx.raw(
      `select c.event_id, c.rating_version from ${SCHEMA}.charges c
       join unnest(?::text[], ?::int[]) as b(event_id, rating_version) using (event_id, rating_version)`,
      [chunk.map(({ rated }) => rated.eventId), chunk.map(({ rated }) => rated.ratingVersion)],
    )) as { rows: { event_id: string; rating_version: number }[] };
    for (const r of rows) done.add(`${r.event_id}@${r.rating_version}`);
  }
  return candidates.filter(({ rated }) => !done.has(`${rated.eventId}@${rated.ratingVersion}`));
}

/** The stored states of the periods this batch touches, locked until the batch commits. */
async function loadStates(trx: Knex.Transaction, batch: Pending[]): Promise<Map<string, ChargePeriodState>> {
  const keys = new Set<string>();
  for (const { periodKey } of batch) if (periodKey !== undefined) keys.add(periodKey);
  const states = new Map<string, ChargePeriodState>();
  const list = [...keys];
  for (let i = 0; i < list.length; i += 5000) {
    const { rows } = (await trx.raw(`select period_key, state from ${SCHEMA}.period_states where period_key = any(?::text[]) for update`, [list.slice(i, i + 5000)])) as { rows: { period_key: string; state: ChargePeriodState }[] };
    for (const row of rows) states.set(row.period_key, row.state);
  }
  return states;
}

function saveStates(states: ChargePeriodState[]): Statement | undefined {
  if (states.length === 0) return undefined;
  return {
    sql: `insert into ${SCHEMA}.period_states (period_key, subscription_id, period_index, state, updated_at)
     select k, s, i, st::jsonb, now() from unnest(?::text[], ?::text[], ?::int[], ?::text[]) as t(k, s, i, st)
     on conflict (period_key) do update set state = excluded.state, updated_at = excluded.updated_at`,
    bindings: [states.map((x) => x.key), states.map((x) => x.subscriptionId), states.map((x) => x.periodIndex), states.map((x) => JSON.stringify(x))],
  };
}

interface ChargeRow extends ReturnType<typeof chargeDetails> {
  event_id: string;
  rating_version: number;
  subscription_id: string;
  period_key: string;
  usage_type: string;
  billable_seconds: number;
  included_seconds: number;
  overage_seconds: number;
  amount: string;
  currency: string;
  charged_at: string;
  charge_sequence: number;
}

/** One statement for the whole batch; the primary key (event, version) is the final guard. */
function insertCharges(rows: ChargeRow[]): Statement | undefined {
  if (rows.length === 0) return undefined;
  const column = <K extends keyof ChargeRow>(key: K) => rows.map((r) => r[key]);
  return {
    sql: `insert into ${SCHEMA}.charges (event_id, rating_version, subscription_id, period_key, usage_type, billable_seconds, included_seconds, overage_seconds, amount, currency, charged_at, charge_sequence,
       brand, account_id, called_number, start_time, duration_seconds, rule_id, rule_version, draws)
     select * from unnest(?::text[], ?::int[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::numeric[], ?::text[], ?::timestamptz[], ?::int[],
       ?::text[], ?::text[], ?::text[], ?::timestamptz[], ?::bigint[], ?::text[], ?::int[], ?::jsonb[])`,
    bindings: [column('event_id'), column('rating_version'), column('subscription_id'), column('period_key'), column('usage_type'), column('billable_seconds'), column('included_seconds'), column('overage_seconds'), column('amount'), column('currency'), column('charged_at'), column('charge_sequence'),
      column('brand'), column('account_id'), column('called_number'), column('start_time'), column('duration_seconds'), column('rule_id'), column('rule_version'), column('draws')],
  };
}
