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

/** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
export async function inTransaction<T>(db: Knex, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  const trx = await db.transaction();
  try {
    const result = await work(trx);
    await trx.commit();
    return result;
  } catch (err) {
    await trx.rollback().catch(() => undefined);
    throw err;
  }
}

/** Consumed offsets kept in the same transaction as the state they produced. */
export interface StoredOffsets {
  load(groupId: string): Promise<Map<string, string>>;
  save(trx: Knex.Transaction, groupId: string, offsets: { topic: string; partition: number; offset: string }[]): Promise<void>;
  /** Saves the offset after the last record of a one-partition batch. */
  saveAfter(trx: Knex.Transaction, groupId: string, last: { topic: string; partition: number; offset: string }): Promise<void>;
}

export function offsetStore(schema: string): { table: (db: Knex) => Promise<void>; store: (db: Knex) => StoredOffsets } {
  const table = `${schema}.consumer_offsets`;
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
        return this.save(trx, groupId, [{ topic: last.topic, partition: last.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
      },
      load: async (groupId) => {
        const rows = await db(table).where({ group_id: groupId }).select('topic', 'partition', 'next_offset');
        return new Map(rows.map((r: { topic: string; partition: number; next_offset: string }) => [`${r.topic}:${r.partition}`, String(r.next_offset)]));
      },
      save: async (trx, groupId, offsets) => {
        // Never backwards: a member that lost its partition in a rebalance may still finish an
        // older batch after the new owner committed a later one.
        for (const o of offsets) {
          await trx.raw(
            `insert into ${table} (group_id, topic, partition, next_offset, updated_at) values (?, ?, ?, ?, now())
             on conflict (group_id, topic, partition) do update
             set next_offset = greatest(${table}.next_offset, excluded.next_offset), updated_at = now()`,
            [groupId, o.topic, o.partition, o.offset],
          );
        }
      },
    }),
  };
}
