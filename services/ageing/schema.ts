import type { Knex } from 'knex';
import { offsetStore } from '../../runtime/db.ts';
import { createOutboxTable } from '../../runtime/outbox.ts';
import { topics } from '../../topics/catalog.ts';

/** ageing's own PostgreSQL schema. */
export const SCHEMA = 'ageing';
export const offsets = offsetStore(SCHEMA);

export const migrations: Record<string, { up(db: Knex): Promise<void> }> = {
  '001_invoices_payments_accounts_events': {
    up: async (db) => {
      // Every invoice of every brand consumed (the invoice id is the key).
      await db.schema.withSchema(SCHEMA).createTable('invoices', (t) => {
        t.text('invoice_id').primary();
        t.text('brand').notNullable();
        t.text('account_id').notNullable();
        t.text('subscription_id').notNullable();
        t.timestamp('due_at', { useTz: true }).notNullable();
        t.decimal('total', 24, 6).notNullable();
        t.text('currency').notNullable();
        t.index(['brand', 'account_id']);
      });
      // Payment events (the event id is the key): succeeded charges, manual payments and credit
      // notes lower what is owed; the others are kept for the record.
      await db.schema.withSchema(SCHEMA).createTable('payments', (t) => {
        t.text('event_id').primary();
        t.text('invoice_id').notNullable();
        t.text('brand').notNullable();
        t.text('account_id').notNullable();
        t.text('kind').notNullable();
        t.text('status').notNullable();
        t.decimal('amount', 24, 6).notNullable();
        t.text('currency').notNullable();
        t.timestamp('occurred_at', { useTz: true }).notNullable();
        t.index(['brand', 'account_id']);
      });
      // Per account: the dunning steps already emitted (domain/ageing AgeingState) and the status they give.
      await db.schema.withSchema(SCHEMA).createTable('accounts', (t) => {
        t.text('account_id').primary();
        t.text('brand').notNullable();
        t.jsonb('emitted').notNullable();
        t.text('status').notNullable();
        t.timestamp('updated_at', { useTz: true }).notNullable();
      });
      // account.lifecycle events, with the event id as key the last guard that a step is never
      // emitted twice whatever restarts happen (the outbox until 002).
      await db.schema.withSchema(SCHEMA).createTable('lifecycle_events', (t) => {
        t.text('event_id').primary();
        t.text('brand').notNullable();
        t.text('account_id').notNullable();
        t.text('invoice_id').notNullable();
        t.text('step').notNullable();
        t.text('local_date').notNullable();
        t.jsonb('event').notNullable();
        t.bigIncrements('seq', { primaryKey: false });
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.timestamp('published_at', { useTz: true });
        t.index(['account_id']);
      });
      await offsets.table(db);
    },
  },
  '002_runtime_outbox': {
    up: async (db) => {
      // The events go out through runtime/outbox; the steps emitted so far move into it with
      // whether they were published, in the order they were written.
      await createOutboxTable(db, SCHEMA);
      await db.raw(
        `insert into ${SCHEMA}.outbox (event_id, topic, msg_key, brand, schema, payload, created_at, published_at)
         select event_id, ?, account_id, brand, ?, jsonb_set(event, '{effectiveAt}', to_jsonb((extract(epoch from (event->>'effectiveAt')::timestamptz) * 1000)::bigint)), created_at, published_at
         from ${SCHEMA}.lifecycle_events order by seq`,
        [topics.accountLifecycle.name, topics.accountLifecycle.schema],
      );
      await db.schema.withSchema(SCHEMA).alterTable('lifecycle_events', (t) => t.dropColumn('published_at'));
    },
  },
  '003_open_items': {
    up: async (db) => {
      // When each invoice was paid in full (its counting payments reached what it owes; the
      // epoch for one that owes nothing), or null while open: a run reads only the invoices
      // open at its `now`, not every invoice and payment of the brand.
      await db.raw(`alter table ${SCHEMA}.invoices add column settled_at timestamptz`);
      await db.raw(`create index payments_invoice on ${SCHEMA}.payments (invoice_id)`);
      await settleInvoices(db, null);
      await db.raw(`create index invoices_open on ${SCHEMA}.invoices (brand, settled_at)`);
    },
  },
};

/** Which payment events lower what an invoice owes (domain/ageing counts them). */
export const COUNTS_AS_PAID = `((kind in ('charge', 'manual') and status = 'SUCCEEDED') or kind = 'credit_note')`;

/**
 * Sets settled_at of these invoices (null: all) from their payments: the first instant at which
 * the counting payments made up to then reach the amount owed, as domain/ageing adds them
 * (every payment at or before an instant). An invoice with a payment in another currency stays
 * open, so the run holds its account with the reason as before.
 */
export async function settleInvoices(db: Knex | Knex.Transaction, invoiceIds: readonly string[] | null): Promise<void> {
  if (invoiceIds !== null && invoiceIds.length === 0) return;
  await db.raw(
    `update ${SCHEMA}.invoices i set settled_at = s.settled_at from (
       select v.invoice_id,
         case
           when v.total <= 0 then to_timestamp(0)
           when exists (select 1 from ${SCHEMA}.payments q where q.invoice_id = v.invoice_id and ${COUNTS_AS_PAID} and q.currency <> v.currency) then null
           else (select min(p.occurred_at) from (
                   select occurred_at, sum(amount) over (order by occurred_at) as paid
                   from ${SCHEMA}.payments q where q.invoice_id = v.invoice_id and ${COUNTS_AS_PAID}) p
                 where p.paid >= v.total)
         end as settled_at
       from ${SCHEMA}.invoices v ${invoiceIds === null ? '' : 'where v.invoice_id = any(?)'}
     ) s
     where i.invoice_id = s.invoice_id and i.settled_at is distinct from s.settled_at`,
    invoiceIds === null ? [] : [invoiceIds as string[]],
  );
}
