import type { Knex } from 'knex';
import { offsetStore } from '../../runtime/db.ts';

/** notify's own PostgreSQL schema. */
export const SCHEMA = 'notify';
export const offsets = offsetStore(SCHEMA);

export const migrations: Record<string, { up(db: Knex): Promise<void> }> = {
  '001_notifications': {
    up: async (db) => {
      // One row per notification, written with the consumed offsets in one transaction: the id
      // (event id + kind) is the key, so a redelivered event adds nothing. The sender claims a
      // row (status sending, lease), sends, and marks it sent: a row is never sent twice unless a
      // crash falls between the server's acceptance and that mark (then it is re-sent with the
      // same Message-ID, and counted in resent_after_crash).
      await db.schema.withSchema(SCHEMA).createTable('notifications', (t) => {
        t.text('notification_id').primary();
        t.text('kind').notNullable();
        t.text('event_id').notNullable();
        t.text('brand').notNullable();
        t.text('account_id').notNullable();
        t.text('source_topic').notNullable();
        t.jsonb('event').notNullable();
        // pending, sending, sent, failed, skipped
        t.text('status').notNullable();
        t.integer('attempts').notNullable().defaultTo(0);
        t.timestamp('next_attempt_at', { useTz: true }).notNullable();
        t.timestamp('lease_until', { useTz: true });
        t.specificType('recipients', 'text[]');
        t.text('message_id');
        t.text('reason');
        t.integer('resent_after_crash').notNullable().defaultTo(0);
        t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp('sent_at', { useTz: true });
        t.index(['brand', 'status']);
        t.index(['account_id']);
      });
      await db.raw(`create index notifications_due on ${SCHEMA}.notifications (next_attempt_at) where status in ('pending', 'sending')`);
      // Invoice numbers by invoice id: receipts and dunning notices name the invoice the customer knows.
      await db.schema.withSchema(SCHEMA).createTable('invoice_numbers', (t) => {
        t.text('invoice_id').primary();
        t.text('invoice_number').notNullable();
      });
      // Addresses a server refused for good (5xx): never written to again until removed.
      await db.schema.withSchema(SCHEMA).createTable('bounced_addresses', (t) => {
        t.text('address').primary();
        t.text('reason').notNullable();
        t.text('notification_id').notNullable();
        t.timestamp('bounced_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
      });
      await offsets.table(db);
    },
  },
  '002_send_started': {
    up: async (db) => {
      // The attempt whose SMTP send began: a claim taken over from a dead sender is a possible
      // second copy only if its send had begun (else it is simply sent late).
      await db.schema.withSchema(SCHEMA).alterTable('notifications', (t) => t.integer('send_started_attempt'));
    },
  },
};
