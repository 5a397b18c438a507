import type { Knex } from 'knex';
import { offsetStore } from '../../runtime/db.ts';
import { createOutboxTable } from '../../runtime/outbox.ts';

/** usage-alerts' own PostgreSQL schema. */
export const SCHEMA = 'usage_alerts';
export const offsets = offsetStore(SCHEMA);

export const migrations: Record<string, { up(db: Knex): Promise<void> }> = {
  '001_calls_alerts_outbox': {
    up: async (db) => {
      // Each charged call once, in its latest rating version: a re-rating replaces the call's
      // figures, it never adds them twice. Only brands with thresholds are kept.
      await db.schema.withSchema(SCHEMA).createTable('calls', (t) => {
        t.text('event_id').primary();
        t.integer('rating_version').notNullable();
        t.text('subscription_id').notNullable();
        t.text('usage_type').notNullable();
        t.bigInteger('period_start').notNullable();
        t.bigInteger('billable_seconds').notNullable();
        t.decimal('overage_amount', 24, 6).notNullable();
        t.index(['subscription_id', 'usage_type', 'period_start']);
      });
      // Thresholds emitted: once per subscription, usage type, period and threshold, for good.
      await db.schema.withSchema(SCHEMA).createTable('alerts', (t) => {
        t.text('event_id').primary();
        t.text('brand').notNullable();
        t.text('subscription_id').notNullable();
        t.text('usage_type').notNullable();
        t.bigInteger('period_start').notNullable();
        t.text('threshold').notNullable();
        t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.unique(['subscription_id', 'usage_type', 'period_start', 'threshold']);
      });
      await createOutboxTable(db, SCHEMA);
      await offsets.table(db);
    },
  },
};
