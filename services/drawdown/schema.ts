import type { Knex } from 'knex';
import { offsetStore } from '../../runtime/db.ts';
import { controlTotalsMigration } from '../../runtime/control-totals.ts';

/** drawdown's own PostgreSQL schema: bucket state per subscription period, charges, offsets. */
export const SCHEMA = 'drawdown';
export const offsets = offsetStore(SCHEMA);

export const migrations: Record<string, { up(db: Knex): Promise<void> }> = {
  '001_periods_and_charges': {
    up: async (db) => {
      await db.schema.withSchema(SCHEMA).createTable('period_states', (t) => {
        t.text('period_key').primary(); // subscriptionId#periodIndex
        t.text('subscription_id').notNullable();
        t.integer('period_index').notNullable();
        t.jsonb('state').notNullable(); // ChargePeriodState: buckets, overage so far, plan
        t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
      });
      // One row per CDR and rating version: the final guard against drawing a call twice.
      await db.schema.withSchema(SCHEMA).createTable('charges', (t) => {
        t.text('event_id').notNullable();
        t.integer('rating_version').notNullable();
        t.text('subscription_id').notNullable();
        t.text('period_key').notNullable();
        t.text('usage_type').notNullable();
        t.bigInteger('billable_seconds').notNullable();
        t.bigInteger('included_seconds').notNullable();
        t.bigInteger('overage_seconds').notNullable();
        t.decimal('amount', 24, 6).notNullable();
        t.text('currency').notNullable();
        t.timestamp('charged_at', { useTz: true }).notNullable();
        t.primary(['event_id', 'rating_version']);
        t.index(['period_key']);
      });
      await offsets.table(db);
    },
  },
  '002_rating_runs': {
    up: async (db) => {
      // Each committed re-rating run: what it covered and what it changed.
      await db.schema.withSchema(SCHEMA).createTable('rating_runs', (t) => {
        t.increments('run_id');
        t.integer('rating_version').notNullable();
        t.jsonb('scope').notNullable();
        t.integer('periods').notNullable();
        t.integer('usages').notNullable();
        t.integer('differences').notNullable();
        t.timestamp('committed_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
      });
    },
  },
  '003_charge_sequence': {
    up: async (db) => {
      // A call's place in its period's draw order (domain/drawdown README), kept by every rating
      // version; and a version's row for a call it no longer charges, so a later re-rate does not
      // take the older version's row for the latest and give the call back a second time.
      await db.schema.withSchema(SCHEMA).alterTable('charges', (t) => {
        t.integer('charge_sequence');
        t.boolean('removed').notNullable().defaultTo(false);
      });
      // Charges from before: first charged in the order of their first charge instant (then id).
      await db.raw(
        `update ${SCHEMA}.charges c set charge_sequence = f.seq
         from (select period_key, event_id, row_number() over (partition by period_key order by min(charged_at), event_id) as seq
               from ${SCHEMA}.charges group by period_key, event_id) f
         where c.period_key = f.period_key and c.event_id = f.event_id`,
      );
      await db.raw(`alter table ${SCHEMA}.charges alter column charge_sequence set not null`);
      await db.raw(
        `update ${SCHEMA}.period_states p set state = jsonb_set(state, '{drawdown,lastSequence}',
           to_jsonb(coalesce((select max(c.charge_sequence) from ${SCHEMA}.charges c where c.period_key = p.period_key), 0)))`,
      );
    },
  },
  '004_control_totals': controlTotalsMigration(SCHEMA),
  '005_charge_details': {
    up: async (db) => {
      // What a person asks of a charged call (which call, which rule, which buckets), so drawdown
      // can answer for a period, and per brand and day, without anyone replaying usage.charged.
      // Null on older rows.
      await db.schema.withSchema(SCHEMA).alterTable('charges', (t) => {
        t.text('brand');
        t.text('account_id');
        t.text('called_number');
        t.timestamp('start_time', { useTz: true });
        t.bigInteger('duration_seconds');
        t.text('rule_id');
        t.integer('rule_version');
        t.jsonb('draws');
        t.index(['subscription_id', 'start_time']);
        t.index(['brand', 'start_time']);
      });
    },
  },
};

/** The columns a charge row holds about the call beside its money (migration 005). */
export function chargeDetails(u: { brand: string; accountId: string; calledNumber: string; startTime: number; durationSeconds: number; ruleId: string; ruleVersion: number; draws: readonly { bucketId: string; seconds: number }[] }) {
  return { brand: u.brand, account_id: u.accountId, called_number: u.calledNumber, start_time: new Date(u.startTime).toISOString(), duration_seconds: u.durationSeconds, rule_id: u.ruleId, rule_version: u.ruleVersion, draws: JSON.stringify(u.draws) };
}
