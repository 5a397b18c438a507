import type { Knex } from 'knex';

/**
 * The catalogue's own PostgreSQL schema. Identity, ownership and what is queried or
 * constrained are columns; the rest of an entity is its validated API representation in
 * `data` (jsonb), so a new optional field needs no migration. Every table has a natural
 * key: creates are idempotent on it.
 */
export const SCHEMA = 'catalog';
export const t = (table: string) => `${SCHEMA}.${table}`;

export const migrations: Record<string, { up(db: Knex): Promise<void> }> = {
  '001_catalog': {
    up: async (db) => {
      // A fresh builder per statement: a knex schema builder replays what it already holds.
      const s = () => db.schema.withSchema(SCHEMA);
      await s().createTable('companies', (tb) => {
        tb.text('code').primary(); // the parent company's id or a brand code
        tb.text('kind').notNullable(); // parent, brand
        tb.text('parent_company');
        tb.jsonb('data').notNullable();
        tb.integer('revision').notNullable().defaultTo(1);
        tb.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        tb.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
      });
      // A change to a plan or a rule is a new version; versions are never edited.
      await s().createTable('plans', (tb) => {
        tb.text('plan_id').notNullable();
        tb.integer('version').notNullable();
        tb.text('owner').notNullable();
        tb.jsonb('data').notNullable();
        tb.text('content_hash').notNullable();
        tb.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        tb.primary(['plan_id', 'version']);
        tb.index(['owner']);
      });
      await s().createTable('rating_rules', (tb) => {
        tb.text('rule_id').notNullable();
        tb.integer('version').notNullable();
        tb.text('company_id').notNullable();
        tb.text('usage_type').notNullable();
        tb.jsonb('data').notNullable();
        tb.text('content_hash').notNullable();
        tb.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        tb.primary(['rule_id', 'version']);
        tb.index(['company_id', 'usage_type']);
      });
      await s().createTable('customers', (tb) => {
        tb.text('account_id').primary();
        tb.text('brand').notNullable();
        tb.text('external_id');
        tb.jsonb('data').notNullable();
        tb.integer('revision').notNullable().defaultTo(1);
        tb.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        tb.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        tb.unique(['brand', 'external_id']); // imports find an account by the old system's id
      });
      await s().createTable('subscriptions', (tb) => {
        tb.text('subscription_id').primary();
        tb.text('brand').notNullable();
        tb.text('account_id').notNullable();
        tb.text('plan_id').notNullable();
        tb.integer('plan_version').notNullable();
        tb.text('status').notNullable();
        tb.jsonb('data').notNullable();
        tb.integer('revision').notNullable().defaultTo(1);
        tb.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        tb.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        tb.index(['brand']);
        tb.index(['account_id']);
      });
      await s().createTable('lifecycle_events', (tb) => {
        tb.text('event_id').primary();
        tb.text('subscription_id').notNullable();
        tb.text('brand').notNullable();
        tb.text('account_id').notNullable();
        tb.text('action').notNullable();
        tb.text('from_status');
        tb.text('to_status').notNullable();
        tb.text('reason').notNullable();
        tb.timestamp('effective_at', { useTz: true }).notNullable();
        tb.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        tb.index(['subscription_id']);
      });
      // The inventory: a number is stocked for a brand; `assignments` is its whole history.
      await s().createTable('numbers', (tb) => {
        tb.text('number').primary();
        tb.text('brand').notNullable();
        tb.text('subscription_id'); // the current holder, null in stock
        tb.jsonb('assignments').notNullable();
        tb.integer('revision').notNullable().defaultTo(1);
        tb.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        tb.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        tb.index(['brand']);
        tb.index(['subscription_id']);
      });
      await s().createTable('api_keys', (tb) => {
        tb.text('key_id').primary();
        tb.text('key_hash').notNullable().unique(); // sha-256 hex of the whole key
        tb.text('brand'); // null: the parent's key, sees all
        tb.text('label').notNullable();
        tb.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        tb.timestamp('revoked_at', { useTz: true });
      });
      await s().createTable('idempotency_keys', (tb) => {
        tb.text('api_key_id').notNullable();
        tb.text('idempotency_key').notNullable();
        tb.text('request_hash').notNullable();
        tb.integer('status').notNullable();
        tb.jsonb('body').notNullable();
        tb.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        tb.primary(['api_key_id', 'idempotency_key']);
      });
      // Written in the same transaction as the change it announces; the publisher sends and
      // marks it. A crash between send and mark re-sends: compaction and event ids absorb it.
      // (003 turns it into runtime/outbox's table.)
      await s().createTable('outbox', (tb) => {
        tb.bigIncrements('id').primary();
        tb.text('topic').notNullable();
        tb.text('schema').notNullable();
        tb.text('msg_key').notNullable();
        tb.text('event_id').notNullable();
        tb.text('brand');
        tb.jsonb('payload').notNullable();
        tb.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        tb.timestamp('sent_at', { useTz: true });
      });
      await db.raw(`create index outbox_unsent on ${t('outbox')} (id) where sent_at is null`);
    },
  },
  '002_dunning_applied': {
    up: async (db) => {
      // Dunning steps of the ageing service applied to subscriptions (or skipped, with why): once each.
      await db.schema.withSchema(SCHEMA).createTable('dunning_applied', (tb) => {
        tb.text('event_id').notNullable();
        tb.text('subscription_id').notNullable();
        tb.text('outcome').notNullable();
        tb.timestamp('applied_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        tb.primary(['event_id', 'subscription_id']);
      });
    },
  },
  '003_runtime_outbox': {
    up: async (db) => {
      // The outbox of 001 in runtime/outbox's shape: sent_at is published_at, and an event id is
      // enqueued once (a duplicate left by the old publisher was the same event).
      await db.raw(`alter table ${t('outbox')} rename column sent_at to published_at`);
      await db.raw(`alter index ${SCHEMA}.outbox_unsent rename to outbox_pending`);
      await db.raw(`delete from ${t('outbox')} a using ${t('outbox')} b where a.event_id = b.event_id and a.id > b.id`);
      await db.raw(`alter table ${t('outbox')} add constraint outbox_event_id_unique unique (event_id)`);
    },
  },
  '004_api_key_expiry': {
    up: async (db) => {
      // A key may expire; every key's state is published on ref.api-keys for the other services.
      await db.raw(`alter table ${t('api_keys')} add column expires_at timestamptz`);
    },
  },
};
