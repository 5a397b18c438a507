import { Decimal } from 'decimal.js';
import type { Knex } from 'knex';
import { createHash } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { addFigures, controlTotalKey, type ControlFigures, type ControlScope, type ControlSlice, type ControlTally, type ControlTotal, type ScopeKind, type Stage } from '../domain/assurance/control-totals.ts';
import { topics, valueSubject } from '../topics/catalog.ts';
import { commit, runTogether, type Statement } from './db.ts';
import { BatchProducer, standardHeaders, type OutgoingMessage } from './kafka.ts';
import type { Logger } from './log.ts';
import { enqueue, type OutboxEvent } from './outbox.ts';
import { loadSchema, type AvroSerde } from './serde.ts';

/**
 * Control totals as stages keep and publish them (domain/assurance/control-totals.ts). A stateful
 * stage appends each batch's figures to its own `control_total_deltas` in the batch's transaction:
 * one insert, no row lock, so batches of other partitions and other instances never wait on each
 * other for a brand's or a source's day. A publisher (one at a time per schema, under an advisory
 * lock) folds the committed deltas into the cumulative `control_totals` rows and publishes each
 * changed row in the same transaction (produced before commit, or through the service's outbox):
 * a redelivered batch, rolled back before, is counted once, and the compacted topic's latest figure
 * is a committed one. A stateless stage publishes its batch's figures with its outputs, keyed by
 * the batch's first offset (see foldControlTotals).
 */
export const CONTROL_TOTALS_TABLE = 'control_totals';
export const CONTROL_TOTAL_DELTAS_TABLE = 'control_total_deltas';

/** The migration step that creates a stage's tables in its own schema. */
export function controlTotalsMigration(schema: string): { up(db: Knex): Promise<void> } {
  return {
    up: async (db) => {
      await db.schema.withSchema(schema).createTable(CONTROL_TOTALS_TABLE, (t) => {
        t.text('key').primary();
        t.text('stage').notNullable();
        t.text('scope_kind').notNullable();
        t.text('scope').notNullable();
        t.text('day').notNullable();
        t.jsonb('figures').notNullable();
        t.bigInteger('version').notNullable();
        t.timestamp('updated_at', { useTz: true }).notNullable();
      });
      await db.schema.withSchema(schema).createTable(CONTROL_TOTAL_DELTAS_TABLE, (t) => {
        t.bigIncrements('id').primary();
        t.text('key').notNullable();
        t.text('stage').notNullable();
        t.text('scope_kind').notNullable();
        t.text('scope').notNullable();
        t.text('day').notNullable();
        t.jsonb('figures').notNullable();
      });
    },
  };
}

interface StoredFigures {
  counts: Record<string, number>;
  seconds: Record<string, number>;
  amounts: Record<string, string>;
}

const toStored = (f: ControlFigures): StoredFigures => ({ counts: { ...f.counts }, seconds: { ...f.seconds }, amounts: Object.fromEntries(Object.entries(f.amounts).map(([k, v]) => [k, v.toFixed()])) });
const fromStored = (f: StoredFigures): ControlFigures => ({ counts: f.counts, seconds: f.seconds, amounts: Object.fromEntries(Object.entries(f.amounts).map(([k, v]) => [k, new Decimal(v)])) });

/** Appends the batch's figures in the caller's transaction: one statement, whatever the batch size, taking no lock. */
export async function recordControlTotals(trx: Knex.Transaction, schema: string, tally: ControlTally): Promise<void> {
  await runTogether(trx, [controlTotalsStatement(schema, tally)]);
}

/** recordControlTotals as a statement (none when the tally is empty), to send with the batch's other writes. */
export function controlTotalsStatement(schema: string, tally: ControlTally): Statement | undefined {
  const entries = tally.list();
  if (entries.length === 0) return undefined;
  return {
    sql: `insert into ${schema}.${CONTROL_TOTAL_DELTAS_TABLE} (key, stage, scope_kind, scope, day, figures)
     select * from unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::jsonb[])`,
    bindings: [
      entries.map((e) => controlTotalKey({ ...e.scope, slice: null })), entries.map((e) => e.scope.stage), entries.map((e) => e.scope.scopeKind),
      entries.map((e) => e.scope.scope), entries.map((e) => e.scope.day), entries.map((e) => JSON.stringify(toStored(e.figures))),
    ],
  };
}

export interface ControlTotalsPublisherOptions {
  db: Knex;
  schema: string;
  logger: Logger;
  /** Sends the new cumulative figures inside the publisher's transaction (produce before commit, or enqueue in the outbox). */
  publish(trx: Knex.Transaction, totals: ControlTotal[]): Promise<void>;
  /** How often committed deltas are folded and published (default 1 s). */
  intervalMs?: number;
  now?: () => number;
}

export interface ControlTotalsPublisher {
  /** Folds and publishes every delta committed before the call (unless another instance holds the publisher's lock); resolves with how many it folded. */
  flush(): Promise<number>;
  /** A last flush, then no more. */
  stop(): Promise<void>;
}

// The advisory lock's first key, with the deltas table's hash as the second (apart from the outbox relay's class).
const PUBLISHER_LOCK_CLASS = 0x6374_6f74; // "ctot"
const FOLD_BATCH = 5000;

/** Starts the stage's control-total publisher: every interval, and on flush(). */
export function startControlTotalsPublisher(options: ControlTotalsPublisherOptions): ControlTotalsPublisher {
  const { db, schema, logger } = options;
  const table = `${schema}.${CONTROL_TOTALS_TABLE}`;
  const deltas = `${schema}.${CONTROL_TOTAL_DELTAS_TABLE}`;
  const now = options.now ?? Date.now;

  const foldOnce = async (): Promise<number> => {
    const trx = await db.transaction();
    try {
      const { rows: lock } = (await trx.raw('select pg_try_advisory_xact_lock(?, hashtext(?)) as ok', [PUBLISHER_LOCK_CLASS, deltas])) as { rows: { ok: boolean }[] };
      if (!lock[0]?.ok) {
        await trx.rollback();
        return 0;
      }
      // Taken out in this transaction: if publishing fails, they are back for the next try.
      const { rows } = (await trx.raw(`delete from ${deltas} where id in (select id from ${deltas} order by id limit ?) returning key, stage, scope_kind, scope, day, figures`, [FOLD_BATCH])) as {
        rows: { key: string; stage: string; scope_kind: string; scope: string; day: string; figures: StoredFigures }[];
      };
      if (rows.length === 0) {
        await commit(trx);
        return 0;
      }
      const added = new Map<string, { scope: ControlScope; figures: ControlFigures }>();
      for (const r of rows) {
        const had = added.get(r.key);
        const figures = fromStored(r.figures);
        added.set(r.key, { scope: { stage: r.stage as Stage, scopeKind: r.scope_kind as ScopeKind, scope: r.scope, day: r.day }, figures: had ? addFigures(had.figures, figures) : figures });
      }
      const keys = [...added.keys()].sort();
      const { rows: storedRows } = (await trx.raw(`select key, figures, version from ${table} where key = any(?::text[])`, [keys])) as { rows: { key: string; figures: StoredFigures; version: string }[] };
      const stored = new Map(storedRows.map((r) => [r.key, r]));
      const at = now();
      const totals: ControlTotal[] = keys.map((key) => {
        const { scope, figures } = added.get(key)!;
        const before = stored.get(key);
        return { ...scope, slice: null, figures: before ? addFigures(fromStored(before.figures), figures) : figures, version: Number(before?.version ?? 0) + 1, updatedAt: at };
      });
      await trx.raw(
        `insert into ${table} (key, stage, scope_kind, scope, day, figures, version, updated_at)
         select k, s, sk, sc, d, f, v, to_timestamp(? / 1000.0) from unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::jsonb[], ?::bigint[]) as t(k, s, sk, sc, d, f, v)
         on conflict (key) do update set figures = excluded.figures, version = excluded.version, updated_at = excluded.updated_at`,
        [at, keys, totals.map((t) => t.stage), totals.map((t) => t.scopeKind), totals.map((t) => t.scope), totals.map((t) => t.day), totals.map((t) => JSON.stringify(toStored(t.figures))), totals.map((t) => t.version)],
      );
      await options.publish(trx, totals);
      await commit(trx);
      return rows.length;
    } catch (err) {
      await trx.rollback().catch(() => undefined);
      throw err;
    }
  };

  // One fold at a time in this process; a flush waits for the one under way, then folds what is left.
  let chain: Promise<unknown> = Promise.resolve();
  const flush = (): Promise<number> => {
    const run = chain.then(async () => {
      let folded = 0;
      for (;;) {
        const n = await foldOnce();
        folded += n;
        if (n < FOLD_BATCH) return folded;
      }
    });
    chain = run.catch(() => undefined);
    return run;
  };

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    timer = setTimeout(() => {
      flush()
        .catch((error: unknown) => logger.error('control totals not published (the next turn tries again)', { schema, error }))
        .finally(() => {
          if (!stopped) tick();
        });
    }, options.intervalMs ?? 1000);
  };
  tick();
  return {
    flush,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await flush().catch((error: unknown) => logger.error('control totals not published at stop (the next start publishes them)', { schema, error }));
    },
  };
}

/** A publisher's `publish` for a stage that produces directly: its own idempotent producer, sent before the fold commits. */
export async function controlTotalsProducer(kafka: Kafka, serde: AvroSerde): Promise<{ publish(trx: Knex.Transaction, totals: ControlTotal[]): Promise<void>; stop(): Promise<void> }> {
  const encode = serde.encoder<ControlTotalRecord>(await serde.register(valueSubject(topics.controlTotals.name), loadSchema('control-total')));
  const producer = await BatchProducer.connect(kafka);
  return {
    publish: async (_trx, totals) => {
      await producer.send({ [topics.controlTotals.name]: controlTotalMessages(encode, totals) });
    },
    stop: () => producer.stop(),
  };
}

/** The Avro record (schemas/control-total.avsc). */
export interface ControlTotalRecord {
  stage: string;
  scopeKind: string;
  scope: string;
  day: string;
  slice: ControlSlice | null;
  counts: Record<string, number>;
  seconds: Record<string, number>;
  amounts: { measure: string; currency: string; amount: Decimal }[];
  version: number;
  updatedAt: number;
}

export function toControlTotalRecord(t: ControlTotal): ControlTotalRecord {
  return {
    stage: t.stage, scopeKind: t.scopeKind, scope: t.scope, day: t.day, slice: t.slice,
    counts: { ...t.figures.counts }, seconds: { ...t.figures.seconds },
    amounts: Object.entries(t.figures.amounts).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, amount]) => {
      const space = k.lastIndexOf(' ');
      return { measure: k.slice(0, space), currency: k.slice(space + 1), amount };
    }),
    version: t.version, updatedAt: t.updatedAt,
  };
}

export function fromControlTotalRecord(r: ControlTotalRecord): ControlTotal {
  const amounts: Record<string, Decimal> = {};
  for (const a of r.amounts) amounts[`${a.measure} ${a.currency}`] = new Decimal(a.amount);
  return {
    stage: r.stage as ControlTotal['stage'], scopeKind: r.scopeKind as ControlTotal['scopeKind'], scope: r.scope, day: r.day,
    slice: r.slice === null ? null : { topic: r.slice.topic, partition: r.slice.partition, firstOffset: Number(r.slice.firstOffset), lastOffset: Number(r.slice.lastOffset) },
    figures: { counts: mapNumbers(r.counts), seconds: mapNumbers(r.seconds), amounts }, version: Number(r.version), updatedAt: Number(r.updatedAt),
  };
}

const mapNumbers = (m: Record<string, number | bigint>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Number(v)]));

/**
 * A cumulative figure's id names its content too: a fold whose commit failed after it was sent is
 * folded again with the same version, possibly with more deltas, and must not look like a repeat.
 */
const eventIdOf = (t: ControlTotal) =>
  t.slice === null
    ? `${controlTotalKey(t)}#${t.version}-${createHash('sha256').update(JSON.stringify(toStored(t.figures))).digest('base64url').slice(0, 12)}`
    : `${controlTotalKey(t)}-${t.slice.lastOffset}`;

/** Messages for a stage that produces directly (in the same send as its outputs). */
export function controlTotalMessages(encode: (value: ControlTotalRecord) => Buffer, totals: readonly ControlTotal[]): OutgoingMessage[] {
  return totals.map((t) => ({ key: controlTotalKey(t), value: encode(toControlTotalRecord(t)), headers: standardHeaders({ eventId: eventIdOf(t), ...(t.scopeKind === 'brand' ? { brand: t.scope } : {}) }) }));
}

/** Outbox events for a stage that publishes through its outbox. */
export function controlTotalEvents(totals: readonly ControlTotal[]): OutboxEvent[] {
  return totals.map((t) => ({ topic: topics.controlTotals.name, schema: 'control-total', key: controlTotalKey(t), eventId: eventIdOf(t), brand: t.scopeKind === 'brand' ? t.scope : null, payload: toControlTotalRecord(t) }));
}

/** A publisher's `publish` for a stage with an outbox: the figures leave after whatever its earlier transactions enqueued. */
export function publishThroughOutbox(schema: string): (trx: Knex.Transaction, totals: ControlTotal[]) => Promise<void> {
  return async (trx, totals) => {
    await enqueue(trx, schema, controlTotalEvents(totals));
  };
}

/** A stateless stage's batch: its figures keyed by the batch's first offset, version 1. */
export function sliceTotals(tally: ControlTally, slice: ControlSlice, now: number): ControlTotal[] {
  return tally.list().map((e) => ({ ...e.scope, slice, figures: e.figures, version: 1, updatedAt: now }));
}
