import knex, { type Knex } from 'knex';
import type { PostgresConfig } from './config.ts';
import { TransientError } from './errors.ts';

/**
 * A knex pool for one service. Each service keeps its tables in its own PostgreSQL schema
 * (named after the service) and its own migrations table: no service reads another's tables.
 */
export function createDb(config: PostgresConfig, options: { poolMax?: number } = {}): Knex {
  return knex({ client: 'pg', connection: config.url, pool: { min: 0, max: options.poolMax ?? 5 } });
}

export async function migrateService(db: Knex, schema: string, migrations: Record<string, { up(db: Knex): Promise<void> }>): Promise<void> {
  try {
    await db.raw('create schema if not exists ??', [schema]);
    await db.migrate.latest({
      schemaName: schema,
      tableName: 'migrations',
      migrationSource: {
        getMigrations: async () => Object.keys(migrations).sort(),
        getMigrationName: (name: string) => name,
        getMigration: async (name: string) => ({ up: migrations[name]!.up, down: async () => undefined }),
      },
    });
  } catch (cause) {
    throw new TransientError('migration_failed', `migrate schema ${schema}`, cause);
  }
}

/**
 * Commits, and throws when the COMMIT failed. knex's `trx.commit()` resolves even then (the
 * database gone at that moment, a deferred constraint violated): the error only rejects the
 * transaction's `executionPromise`. Without this a caller that already produced its records would
 * go on as if its state were stored, and lose it.
 */
export async function commit(trx: Knex.Transaction): Promise<void> {
  await trx.commit();
  await trx.executionPromise;
}

/**
 * When BEGIN failed (a pooled connection the database had cut), knex only says "Transaction query
 * already complete" at the first statement; the cause (a lost connection, retryable) is on the
 * transaction's executionPromise. Returns that cause, so the failure is classified by it.
 */
async function failedBegin(trx: Knex.Transaction, err: unknown): Promise<unknown> {
  if (!(err instanceof Error) || !/Transaction query already complete/.test(err.message)) return undefined;
  return trx.executionPromise.then(
    () => undefined,
    (cause: unknown) => cause,
  );
}

/** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
export async function inTransaction<T>(db: Knex, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  const trx = await db.transaction();
  try {
    const result = await work(trx);
    await commit(trx);
    return result;
  } catch (err) {
    await trx.rollback().catch(() => undefined);
    throw (await failedBegin(trx, err)) ?? err;
  }
}

/** A statement with its bindings, to be sent alone or with others (runTogether). */
export interface Statement {
  sql: string;
  bindings: readonly Knex.RawBinding[];
}

/**
 * Several data-modifying statements as one (`WITH s0 AS (...), s1 AS (...) SELECT 1`): one round
 * trip instead of one each. They run on one snapshot, so none may read what another writes (each
 * caller's statements write their own tables); any one failing fails them all.
 */
export async function runTogether(trx: Knex.Transaction, statements: readonly (Statement | undefined)[]): Promise<void> {
  const parts = statements.filter((s): s is Statement => s !== undefined);
  if (parts.length === 0) return;
  if (parts.length === 1) {
    await trx.raw(parts[0]!.sql, [...parts[0]!.bindings]);
    return;
  }
  await trx.raw(`with ${parts.map((p, i) => `s${i} as (${p.sql})`).join(', ')} select 1`, parts.flatMap((p) => [...p.bindings]));
}

/** Consumed offsets kept in the same transaction as the state they produced. */
export interface StoredOffsets {
  load(groupId: string): Promise<Map<string, string>>;
  save(trx: Knex.Transaction, groupId: string, offsets: { topic: string; partition: number; offset: string }[]): Promise<void>;
  /** Saves the offset after the last record of a one-partition batch. */
  saveAfter(trx: Knex.Transaction, groupId: string, last: { topic: string; partition: number; offset: string }): Promise<void>;
  /** saveAfter as a statement, to send with others (runTogether). */
  saveAfterStatement(groupId: string, last: { topic: string; partition: number; offset: string }): Statement;
  /** For a batch of several partitions: the offset after each partition's last record, in one statement. */
  saveAfterEachStatement(groupId: string, records: readonly { topic: string; partition: number; offset: string }[]): Statement;
  /**
   * The stored next offset of each partition of the batch (`topic:partition`; absent: none yet),
   * its row locked until the transaction ends, rows locked in one order so two transactions
   * never wait on each other crosswise.
   */
  lockStored(trx: Knex.Transaction, groupId: string, records: readonly { topic: string; partition: number }[]): Promise<Map<string, bigint>>;
}

/** The offset after each partition's last record of a batch (records of a partition in order). */
function nextOffsetsOf(records: readonly { topic: string; partition: number; offset: string }[]): { topic: string; partition: number; offset: string }[] {
  const last = new Map<string, { topic: string; partition: number; offset: string }>();
  for (const r of records) last.set(`${r.topic}:${r.partition}`, r);
  return [...last.values()].map((r) => ({ topic: r.topic, partition: r.partition, offset: (BigInt(r.offset) + 1n).toString() }));
}

export function offsetStore(schema: string): { table: (db: Knex) => Promise<void>; store: (db: Knex) => StoredOffsets } {
  const table = `${schema}.consumer_offsets`;
  // Never backwards: a member that lost its partition in a rebalance may still finish an older
  // batch after the new owner committed a later one.
  const saveStatement = (groupId: string, o: { topic: string; partition: number; offset: string }): Statement => ({
    sql: `insert into ${table} (group_id, topic, partition, next_offset, updated_at) values (?, ?, ?, ?, now())
          on conflict (group_id, topic, partition) do update
          set next_offset = greatest(${table}.next_offset, excluded.next_offset), updated_at = now()`,
    bindings: [groupId, o.topic, o.partition, o.offset],
  });
  return {
    table: async (db) => {
      await db.schema.withSchema(schema).createTable('consumer_offsets', (t) => {
        t.text('group_id').notNullable();
        t.text('topic').notNullable();
        t.integer('partition').notNullable();
        t.bigInteger('next_offset').notNullable();
        t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.primary(['group_id', 'topic', 'partition']);
      });
    },
    store: (db) => ({
      saveAfter(trx, groupId, last) {
        return runTogether(trx, [this.saveAfterStatement(groupId, last)]);
      },
      saveAfterStatement: (groupId, last) => saveStatement(groupId, { topic: last.topic, partition: last.partition, offset: (BigInt(last.offset) + 1n).toString() }),
      saveAfterEachStatement: (groupId, records) => {
        const next = nextOffsetsOf(records);
        return {
          sql: `insert into ${table} (group_id, topic, partition, next_offset, updated_at)
                select ?::text, t, p, o, now() from unnest(?::text[], ?::int[], ?::bigint[]) as x(t, p, o)
                on conflict (group_id, topic, partition) do update
                set next_offset = greatest(${table}.next_offset, excluded.next_offset), updated_at = now()`,
          bindings: [groupId, next.map((n) => n.topic), next.map((n) => n.partition), next.map((n) => n.offset)],
        };
      },
      lockStored: async (trx, groupId, records) => {
        const partitions = new Map<string, { topic: string; partition: number }>();
        for (const r of records) partitions.set(`${r.topic}:${r.partition}`, r);
        const list = [...partitions.values()];
        const { rows } = (await trx.raw(
          `select o.topic, o.partition, o.next_offset from ${table} o
           join unnest(?::text[], ?::int[]) as b(topic, partition) using (topic, partition)
           where o.group_id = ? order by o.topic, o.partition for update of o`,
          [list.map((p) => p.topic), list.map((p) => p.partition), groupId],
        )) as { rows: { topic: string; partition: number; next_offset: string }[] };
        return new Map(rows.map((r) => [`${r.topic}:${r.partition}`, BigInt(r.next_offset)]));
      },
      load: async (groupId) => {
        const rows = await db(table).where({ group_id: groupId }).select('topic', 'partition', 'next_offset');
        return new Map(rows.map((r: { topic: string; partition: number; next_offset: string }) => [`${r.topic}:${r.partition}`, String(r.next_offset)]));
      },
      save: async (trx, groupId, offsets) => {
        for (const o of offsets) {
          const { sql, bindings } = saveStatement(groupId, o);
          await trx.raw(sql, [...bindings]);
        }
      },
    }),
  };
}
