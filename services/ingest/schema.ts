import type { Knex } from 'knex';
import { offsetStore } from '../../runtime/db.ts';
import { controlTotalsMigration } from '../../runtime/control-totals.ts';

/** ingest's own PostgreSQL schema: the dedupe window, consumed offsets, CDR file jobs. */
export const SCHEMA = 'ingest';
export const offsets = offsetStore(SCHEMA);

export const migrations: Record<string, { up(db: Knex): Promise<void> }> = {
  '001_seen_cdrs': {
    up: async (db) => {
      // One row per (source, cdrId), by its deterministic event id: the final guard against
      // accepting a CDR twice. `origin` tells a redelivery (same offset) from a duplicate.
      await db.schema.withSchema(SCHEMA).createTable('seen_cdrs', (t) => {
        t.text('event_id').primary();
        t.text('source').notNullable();
        t.text('cdr_id').notNullable();
        t.text('origin').notNullable();
        t.timestamp('first_seen_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.index(['first_seen_at']);
      });
      await offsets.table(db);
    },
  },
  '002_file_jobs': {
    up: async (db) => {
      await db.schema.withSchema(SCHEMA).createTable('file_jobs', (t) => {
        t.text('job_id').primary(); // sha-256 of the file's bytes and mapping
        t.text('file_name').notNullable();
        t.text('source').notNullable();
        t.text('status').notNullable(); // running, done
        t.jsonb('summary');
        t.timestamp('started_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp('finished_at', { useTz: true });
      });
    },
  },
  '003_seen_cdrs_start_time': {
    up: async (db) => {
      // The CDR's start time, by which the window forgets it. Nullable, so that adding it
      // rewrites nothing and an older instance still running in a rolling deploy can insert:
      // a row without it is forgotten by its first_seen_at, which is no earlier than its start
      // for any CDR not stamped ahead of ingest's clock (index on first_seen_at since 001).
      await db.schema.withSchema(SCHEMA).alterTable('seen_cdrs', (t) => {
        t.timestamp('start_time', { useTz: true });
        t.index(['start_time']);
      });
    },
  },
  '004_control_totals': controlTotalsMigration(SCHEMA),
};
