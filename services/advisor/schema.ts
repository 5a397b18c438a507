import type { Knex } from 'knex';
import { offsetStore } from '../../runtime/db.ts';
import { createOutboxTable } from '../../runtime/outbox.ts';

/** The advisor's own PostgreSQL schema: the usage it recommends from, its recommendations, its runs. */
export const SCHEMA = 'advisor';
export const offsets = offsetStore(SCHEMA);

export const migrations: Record<string, { up(db: Knex): Promise<void> }> = {
  '001_usage_recommendations_runs': {
    up: async (db) => {
      // Each charged call once, in its latest rating version (a re-rating replaces its figures):
      // the per-subscription, per-period rated usage the advisor prices, read from usage.charged,
      // never from drawdown's or billrun's tables.
      await db.schema.withSchema(SCHEMA).createTable('calls', (t) => {
        t.text('event_id').primary();
        t.integer('rating_version').notNullable();
        t.text('brand').notNullable();
        t.text('subscription_id').notNullable();
        t.text('usage_type').notNullable();
        t.bigInteger('period_start').notNullable();
        t.bigInteger('billable_seconds').notNullable();
        t.index(['brand', 'period_start']);
        t.index(['subscription_id', 'period_start']);
      });
      // Every recommendation with its history: at most one live per subscription (the index).
      await db.schema.withSchema(SCHEMA).createTable('recommendations', (t) => {
        t.text('recommendation_id').primary();
        t.text('brand').notNullable();
        t.text('subscription_id').notNullable();
        t.text('account_id').notNullable();
        t.text('status').notNullable(); // live, superseded, withdrawn, accepted
        t.text('plan_id').notNullable();
        t.integer('plan_version').notNullable();
        t.decimal('saving_per_period', 24, 6).notNullable();
        t.text('currency').notNullable();
        t.jsonb('body').notNullable(); // the event as published (decimals as strings)
        t.text('superseded_by');
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.timestamp('ended_at', { useTz: true });
        t.index(['brand', 'status']);
        t.index(['subscription_id']);
      });
      await db.raw(`create unique index recommendations_one_live on ${SCHEMA}.recommendations (subscription_id) where status = 'live'`);
      // The scheduled run of a brand's local day, once.
      await db.schema.withSchema(SCHEMA).createTable('runs', (t) => {
        t.text('brand').notNullable();
        t.text('local_date').notNullable();
        t.integer('subscriptions').notNullable();
        t.integer('published').notNullable();
        t.timestamp('finished_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.primary(['brand', 'local_date']);
      });
      await createOutboxTable(db, SCHEMA);
      await offsets.table(db);
    },
  },
};
