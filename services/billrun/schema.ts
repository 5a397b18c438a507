import type { Knex } from 'knex';
import { controlTotalsMigration } from '../../runtime/control-totals.ts';
import { offsetStore } from '../../runtime/db.ts';
import { createOutboxTable, enqueue } from '../../runtime/outbox.ts';
import { avroType, loadSchema } from '../../runtime/serde.ts';
import { brandTopics } from '../../topics/catalog.ts';

/** bill-run's own PostgreSQL schema. */
export const SCHEMA = 'billrun';
export const offsets = offsetStore(SCHEMA);

export const migrations: Record<string, { up(db: Knex): Promise<void> }> = {
  '001_charges_invoices_numbers': {
    up: async (db) => {
      // Every usage.charged record, once (the event id is the key): what invoices add up.
      // invoice_id is set by the invoice that billed it, in the same transaction.
      await db.schema.withSchema(SCHEMA).createTable('charges', (t) => {
        t.text('event_id').primary();
        t.integer('rating_version').notNullable();
        t.text('brand').notNullable();
        t.text('account_id').notNullable();
        t.text('subscription_id').notNullable();
        t.bigInteger('period_start').notNullable();
        t.bigInteger('period_end').notNullable();
        t.text('usage_type').notNullable();
        t.bigInteger('billable_seconds').notNullable();
        t.bigInteger('included_seconds').notNullable();
        t.bigInteger('overage_seconds').notNullable();
        t.decimal('amount', 24, 6).notNullable();
        t.text('currency').notNullable();
        t.jsonb('tiers').notNullable();
        t.text('invoice_id');
        t.index(['subscription_id', 'invoice_id']);
      });
      // usage.rerated differences: each becomes part of an adjustment on the next invoice.
      await db.schema.withSchema(SCHEMA).createTable('rerated', (t) => {
        t.text('event_id').primary();
        t.text('brand').notNullable();
        t.text('subscription_id').notNullable();
        t.bigInteger('period_start').notNullable();
        t.text('usage_type').notNullable();
        t.integer('rating_version').notNullable();
        t.decimal('amount_delta', 24, 6).notNullable();
        t.text('currency').notNullable();
        t.text('invoice_id');
        t.index(['subscription_id', 'invoice_id']);
      });
      // One invoice per subscription and period: a second one fails loudly (unique), never skipped.
      await db.schema.withSchema(SCHEMA).createTable('invoices', (t) => {
        t.text('invoice_id').primary();
        t.text('invoice_number').notNullable().unique();
        t.text('brand').notNullable();
        t.text('account_id').notNullable();
        t.text('subscription_id').notNullable();
        t.integer('period_index').notNullable();
        t.text('kind').notNullable();
        t.timestamp('due_at', { useTz: true }).notNullable();
        t.timestamp('issued_at', { useTz: true }).notNullable();
        t.text('currency').notNullable();
        t.decimal('total', 24, 6).notNullable();
        t.jsonb('document').notNullable();
        // The Avro record as published: the outbox row; published_at null until the broker has it.
        // (Both unused from 002 on, where invoices go out through runtime/outbox.)
        t.binary('payload').notNullable();
        t.timestamp('published_at', { useTz: true });
        t.unique(['subscription_id', 'period_index']);
        t.index(['brand', 'published_at']);
      });
      await db.schema.withSchema(SCHEMA).createTable('invoice_numbers', (t) => {
        t.text('brand').primary();
        t.bigInteger('last_number').notNullable();
      });
      // Billings that are due but cannot be invoiced yet (no customer record, unknown plan,
      // a tax engine refusal): kept in view for ops, retried by every run, removed when billed.
      await db.schema.withSchema(SCHEMA).createTable('holds', (t) => {
        t.text('billing_key').primary();
        t.text('brand').notNullable();
        t.text('subscription_id').notNullable();
        t.integer('period_index').notNullable();
        t.text('code').notNullable();
        t.text('message').notNullable();
        t.timestamp('first_seen', { useTz: true }).notNullable();
        t.timestamp('last_seen', { useTz: true }).notNullable();
      });
      await offsets.table(db);
    },
  },
  '002_runtime_outbox': {
    up: async (db) => {
      // Invoices go out through runtime/outbox. Those not yet published move into it, read back
      // from their stored Avro body (after the 5-byte wire header) and checked to re-encode to
      // the same bytes, so a body written with another schema stops the migration, never a
      // wrong event.
      await createOutboxTable(db, SCHEMA);
      await db.raw(`alter table ${SCHEMA}.invoices alter column payload drop not null`);
      // Those bodies were written before the credit fields (003) were in the schema.
      const current = loadSchema('invoice') as { fields: { name: string }[] };
      const type = avroType({ ...current, fields: current.fields.filter((f) => f.name !== 'creditApplied' && f.name !== 'amountDue') } as unknown as ReturnType<typeof loadSchema>);
      const rows: { invoice_id: string; brand: string; account_id: string; payload: Buffer }[] = await db(`${SCHEMA}.invoices`)
        .whereNull('published_at')
        .orderBy(['brand', 'invoice_number'])
        .select('invoice_id', 'brand', 'account_id', 'payload');
      const events = rows.map((r) => {
        const body = r.payload.subarray(5);
        const event = type.fromBuffer(body);
        if (!type.toBuffer(event).equals(body)) throw new Error(`invoice ${r.invoice_id} was stored with another invoice schema: publish it with the previous version first`);
        return { topic: brandTopics(r.brand).invoices.name, schema: 'invoice', key: r.account_id, eventId: r.invoice_id, brand: r.brand, payload: event };
      });
      await db.transaction((trx) => enqueue(trx, SCHEMA, events));
    },
  },
  '003_credit_balances': {
    up: async (db) => {
      // A customer's credit balance per account and currency (domain/credit): the entries are the
      // truth, their sum the balance. One row per account and currency is what concurrent writers
      // lock (FOR UPDATE) before they read the sum and add an entry.
      await db.schema.withSchema(SCHEMA).createTable('credit_accounts', (t) => {
        t.text('account_id').notNullable();
        t.text('currency').notNullable();
        t.text('brand').notNullable();
        t.primary(['account_id', 'currency']);
      });
      await db.schema.withSchema(SCHEMA).createTable('credit_entries', (t) => {
        // Deterministic (the invoice, payment event or payout it records): a redelivery adds nothing.
        t.text('entry_id').primary();
        // The order entries entered the ledger (`at` is when their fact happened, which may be earlier).
        t.bigIncrements('seq', { primaryKey: false });
        t.text('account_id').notNullable();
        t.text('currency').notNullable();
        t.text('brand').notNullable();
        t.text('source').notNullable();
        t.decimal('amount', 24, 6).notNullable();
        t.text('invoice_id');
        t.text('reference');
        t.text('recorded_by');
        t.timestamp('at', { useTz: true }).notNullable();
        t.index(['account_id', 'currency']);
        t.index(['brand']);
      });
      await db.raw(`alter table ${SCHEMA}.credit_entries add constraint credit_entries_source check (source in ('negative_invoice', 'credit_note', 'overpayment', 'applied', 'paid_out', 'refund', 'refund_reversed'))`);
      // Refunds and credit notes of invoices, from collect's payment events: commission clawback.
      await db.schema.withSchema(SCHEMA).createTable('invoice_reductions', (t) => {
        t.text('event_id').primary();
        t.text('invoice_id').notNullable();
        t.text('kind').notNullable();
        t.decimal('amount', 24, 6).notNullable();
        t.text('currency').notNullable();
        t.timestamp('at', { useTz: true }).notNullable();
        t.index(['invoice_id']);
      });
      await db.raw(`alter table ${SCHEMA}.invoices add column credit_applied numeric(24, 6) not null default 0`);
    },
  },
  '004_next_billings': {
    up: async (db) => {
      // Each subscription's next billing (domain/billrun nextBilling): the first period not yet
      // invoiced and when it falls due, so a bill run finds its work with an indexed range
      // (due_at <= now) instead of walking every subscription from its anchor. A held or
      // skipped billing keeps its row due, so every run retries it. `basis` is the subscription's
      // billing fields the row was computed from: a reference change that leaves them alone
      // costs nothing. Rows are made by the service from ref.subscriptions (from the invoices
      // and holds already there, for subscriptions billed before this table).
      await db.schema.withSchema(SCHEMA).createTable('next_billings', (t) => {
        t.text('subscription_id').primary();
        t.text('brand').notNullable();
        t.integer('period_index').notNullable();
        // Null: nothing more will ever be due (cancelled, final invoice issued).
        t.timestamp('due_at', { useTz: true });
        t.text('basis').notNullable();
      });
      await db.raw(`create index next_billings_due on ${SCHEMA}.next_billings (brand, due_at, subscription_id) where due_at is not null`);
    },
  },
  '005_control_totals': controlTotalsMigration(SCHEMA),
  '006_rating_versions': {
    up: async (db) => {
      // Every rating version of a call is kept (keyed by call and version), so an invoice bills a
      // period not invoiced yet in its latest version: a re-rated period (a plan swap) shows the new
      // plan's tiers and included minutes rather than the old ones and a difference.
      await db.raw(`alter table ${SCHEMA}.charges drop constraint charges_pkey, add primary key (event_id, rating_version)`);
      // settles: the version the invoice billed the call in full (a line, late usage or a removal);
      // a difference up to it is inside that invoice, a newer one an adjustment. Every charge
      // billed before this migration was billed as it was.
      await db.raw(`alter table ${SCHEMA}.charges add column settles boolean not null default false`);
      await db.raw(`update ${SCHEMA}.charges set settles = true where invoice_id is not null`);
      await db.raw(`alter table ${SCHEMA}.rerated add column usage_event_id text, add column kind text, add column settles boolean not null default false`);
      await db.raw(`update ${SCHEMA}.rerated set usage_event_id = regexp_replace(event_id, '@v[0-9]+$', '')`);
      await db.raw(`alter table ${SCHEMA}.rerated alter column usage_event_id set not null`);
      await db.raw(`create index rerated_usage_event on ${SCHEMA}.rerated (usage_event_id)`);
    },
  },
};
