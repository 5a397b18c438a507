import { controlTotalsMigration } from '../../runtime/control-totals.ts';
import type { Knex } from 'knex';
import { offsetStore } from '../../runtime/db.ts';
import { brandTopics } from '../../topics/catalog.ts';

/** collect's own PostgreSQL schema. Instants are timestamptz, money numeric: no card data anywhere. */
export const SCHEMA = 'collect';
export const offsets = offsetStore(SCHEMA);

export const migrations: Record<string, { up(db: Knex): Promise<void> }> = {
  '001_invoices_attempts_events_outbox': {
    up: async (db) => {
      // One row per invoice to collect (the invoice id is the key: a redelivered event changes nothing).
      // `state` is domain/payments' InvoicePaymentState, built only from applied payment events.
      await db.schema.withSchema(SCHEMA).createTable('invoices', (t) => {
        t.text('invoice_id').primary();
        t.text('invoice_number').notNullable();
        t.text('brand').notNullable();
        t.text('account_id').notNullable();
        t.text('subscription_id').notNullable();
        t.text('currency').notNullable();
        t.decimal('total', 24, 6).notNullable();
        t.timestamp('issued_at', { useTz: true }).notNullable();
        t.timestamp('due_at', { useTz: true }).notNullable();
        t.timestamp('received_at', { useTz: true }).notNullable();
        t.jsonb('state').notNullable();
        // Derived from state: open, pending, partially_paid, paid, partially_refunded, refunded.
        t.text('payment_status').notNullable();
        // Where collection stands: due, awaiting_webhook, retry_scheduled, settling, no_payment_method, stopped, paid.
        t.text('collection').notNullable();
        t.text('next_attempt_on');
        t.text('stop_reason');
        t.timestamp('updated_at', { useTz: true }).notNullable();
        t.index(['brand', 'collection']);
      });
      // An attempt is saved with its idempotency key BEFORE the gateway call (status null);
      // every re-send of the attempt uses this row's key, amount and token.
      await db.schema.withSchema(SCHEMA).createTable('attempts', (t) => {
        t.text('invoice_id').notNullable();
        t.integer('attempt').notNullable();
        t.text('idempotency_key').notNullable().unique();
        t.text('gateway').notNullable();
        t.text('customer_ref').notNullable();
        t.text('method_ref').notNullable();
        t.text('method_label').notNullable();
        t.decimal('amount', 24, 6).notNullable();
        t.text('currency').notNullable();
        t.text('status');
        t.boolean('retryable');
        t.text('code');
        t.text('message');
        t.text('reference');
        t.integer('calls').notNullable().defaultTo(0);
        t.timestamp('at', { useTz: true }).notNullable();
        t.timestamp('answered_at', { useTz: true });
        t.primary(['invoice_id', 'attempt']);
      });
      // Every payment fact seen (charge answers, webhooks, manual records, refunds): the invoice and
      // the event id are the key (a gateway event is about one invoice), so a duplicate delivery is
      // recognised before the state machine even looks at it.
      await db.schema.withSchema(SCHEMA).createTable('payment_events', (t) => {
        t.text('invoice_id').notNullable();
        t.text('event_id').notNullable();
        t.text('source').notNullable();
        t.text('type').notNullable();
        t.text('charge_reference').notNullable();
        t.text('refund_reference');
        t.decimal('amount', 24, 6).notNullable();
        t.text('currency').notNullable();
        t.timestamp('occurred_at', { useTz: true }).notNullable();
        t.text('code');
        // false: the invoice was not known yet (a webhook before the invoice event); applied on arrival.
        t.boolean('applied').notNullable();
        t.boolean('changed').notNullable().defaultTo(false);
        t.text('ignored');
        t.timestamp('received_at', { useTz: true }).notNullable();
        t.primary(['invoice_id', 'event_id']);
        t.index(['invoice_id', 'applied']);
      });
      // One row per successful payment: what a receipt is rendered from.
      await db.schema.withSchema(SCHEMA).createTable('payments', (t) => {
        t.text('payment_id').primary();
        t.text('invoice_id').notNullable();
        t.text('brand').notNullable();
        t.text('account_id').notNullable();
        t.integer('attempt').notNullable();
        t.text('gateway').notNullable();
        t.text('reference').notNullable();
        t.decimal('amount', 24, 6).notNullable();
        t.text('currency').notNullable();
        t.timestamp('paid_at', { useTz: true }).notNullable();
        t.text('method_label').notNullable();
        t.decimal('balance_after', 24, 6).notNullable();
        t.index(['invoice_id', 'reference']);
      });
      await db.schema.withSchema(SCHEMA).createTable('refunds', (t) => {
        t.text('refund_id').primary();
        t.text('invoice_id').notNullable();
        t.integer('n').notNullable();
        t.text('idempotency_key').notNullable().unique();
        t.text('gateway').notNullable();
        t.text('charge_reference').notNullable();
        t.decimal('amount', 24, 6).notNullable();
        t.text('currency').notNullable();
        t.text('reason').notNullable();
        t.text('credit_note_id');
        // null: saved before the gateway call; succeeded, pending, failed, or an unknown outcome to re-send.
        t.text('status');
        t.text('reference');
        t.text('code');
        t.text('message');
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.timestamp('answered_at', { useTz: true });
        t.unique(['invoice_id', 'n']);
      });
      await db.schema.withSchema(SCHEMA).createTable('credit_notes', (t) => {
        t.text('credit_note_id').primary();
        t.text('invoice_id').notNullable();
        t.integer('n').notNullable();
        t.decimal('amount', 24, 6).notNullable();
        t.decimal('reduces_balance', 24, 6).notNullable();
        t.decimal('refund_amount', 24, 6).notNullable();
        t.text('currency').notNullable();
        t.text('reason').notNullable();
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.unique(['invoice_id', 'n']);
      });
      // Cheques and wires: the key is derived from the invoice and the cheque number / bank reference.
      await db.schema.withSchema(SCHEMA).createTable('manual_payments', (t) => {
        t.text('idempotency_key').primary();
        t.text('invoice_id').notNullable();
        t.decimal('amount', 24, 6).notNullable();
        t.text('currency').notNullable();
        t.text('method_type').notNullable();
        t.jsonb('meta').notNullable();
        t.timestamp('received_at', { useTz: true }).notNullable();
        t.text('recorded_by').notNullable();
        t.text('payment_id').notNullable();
      });
      // Tokens from the method-entry API: gateway ids and display hints only.
      await db.schema.withSchema(SCHEMA).createTable('payment_methods', (t) => {
        t.text('account_id').notNullable();
        t.integer('n').notNullable();
        t.text('brand').notNullable();
        t.text('gateway').notNullable();
        t.text('method_type').notNullable();
        t.text('customer_ref').notNullable();
        t.text('method_ref').notNullable();
        t.text('label').notNullable();
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.primary(['account_id', 'n']);
      });
      // Payment events to publish on brand.<code>.payments, written in the transaction that made them
      // (as JSON, encoded with the brand's registered schema when published). 002 turns it into
      // runtime/outbox's table.
      await db.schema.withSchema(SCHEMA).createTable('outbox', (t) => {
        t.bigIncrements('seq').primary();
        t.text('event_id').notNullable().unique();
        t.text('brand').notNullable();
        t.text('account_id').notNullable();
        t.jsonb('event').notNullable();
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.timestamp('published_at', { useTz: true });
      });
      await db.raw(`create index outbox_unpublished on ${SCHEMA}.outbox (seq) where published_at is null`);
      await offsets.table(db);
    },
  },
  '002_runtime_outbox': {
    up: async (db) => {
      // The outbox of 001 in runtime/outbox's shape, rows kept: the payload is the record as avsc
      // takes it (instants in epoch ms), the topic and schema are on each row.
      const o = `${SCHEMA}.outbox`;
      await db.raw(`alter table ${o} rename column seq to id`);
      await db.raw(`alter table ${o} rename column account_id to msg_key`);
      await db.raw(`alter table ${o} rename column event to payload`);
      await db.raw(`alter table ${o} add column topic text, add column schema text not null default 'payment'`);
      await db.raw(`alter table ${o} alter column schema drop default, alter column created_at set default now()`);
      await db.raw(`alter index ${SCHEMA}.outbox_unpublished rename to outbox_pending`);
      await db.raw(
        `update ${o} set payload = jsonb_set(payload, '{occurredAt}', to_jsonb((extract(epoch from (payload->>'occurredAt')::timestamptz) * 1000)::bigint))`,
      );
      const brands: string[] = await db(o).distinct('brand').pluck('brand');
      for (const brand of brands) await db(o).where({ brand }).update({ topic: brandTopics(brand).payments.name });
      await db.raw(`alter table ${o} alter column topic set not null, alter column brand drop not null`);
    },
  },
  '003_credit_balances': {
    up: async (db) => {
      // credit_applied: the customer's credit balance the invoice consumed (bill-run's ledger decided it);
      // moved_to_credit: money the invoice received beyond what it asks, handed to that ledger.
      await db.raw(`alter table ${SCHEMA}.invoices add column credit_applied numeric(24, 6) not null default 0, add column moved_to_credit numeric(24, 6) not null default 0`);
      // Credit balances bill-run asks to refund through the gateway (brand.<code>.credit-refunds):
      // open until split over the account's card charges (refund rows carrying the request's id).
      await db.schema.withSchema(SCHEMA).createTable('credit_refunds', (t) => {
        t.text('request_id').primary();
        t.text('brand').notNullable();
        t.text('account_id').notNullable();
        t.text('currency').notNullable();
        t.decimal('amount', 24, 6).notNullable();
        t.text('reason').notNullable();
        t.timestamp('requested_at', { useTz: true }).notNullable();
        t.text('status').notNullable();
        t.decimal('unrefundable', 24, 6);
        t.timestamp('received_at', { useTz: true }).notNullable();
        t.index(['status']);
      });
      await db.raw(`alter table ${SCHEMA}.refunds add column credit_refund_id text`);
    },
  },
  '004_open_invoices_index': {
    up: async (db) => {
      // A collection run pages through the invoices still to collect (neither paid nor stopped)
      // in invoice id order: this index holds only those, so a run reads what may be due, not
      // every invoice the service has collected.
      await db.raw(`create index invoices_open on ${SCHEMA}.invoices (invoice_id) where collection not in ('paid', 'stopped')`);
    },
  },
  '005_control_totals': controlTotalsMigration(SCHEMA),
};
