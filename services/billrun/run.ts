import { Decimal } from 'decimal.js';
import type { Knex } from 'knex';
import { allocateInvoiceNumbers, assembleInvoiceInput, BillRunError, billingKey, dueBillings, nextBilling, settleUsage, type DueBilling, type PendingCharge, type PendingRerate, type UsageSettlement } from '../../domain/billrun/index.ts';
import { compareIds } from '../../domain/billrun/due.ts';
import { amountDue, creditFromInvoice, creditToApply } from '../../domain/credit/index.ts';
import { buildInvoice, type Invoice } from '../../domain/invoicing/index.ts';
import { periodFor } from '../../domain/periods/index.ts';
import type { Brand, ReferenceTables, Subscription } from '../../domain/reference/index.ts';
import type { SyncTaxEngine } from '../../domain/tax/index.ts';
import { toInvoiceEvent } from '../../contracts/invoice.ts';
import { inTransaction } from '../../runtime/db.ts';
import type { Logger } from '../../runtime/log.ts';
import { enqueue, type OutboxEvent } from '../../runtime/outbox.ts';
import { ControlTally, localDay } from '../../domain/assurance/control-totals.ts';
import { recordControlTotals } from '../../runtime/control-totals.ts';
import { brandTopics } from '../../topics/catalog.ts';
import { addCreditEntry, creditKey, lockCreditAccounts } from './credit.ts';
import { SCHEMA } from './schema.ts';

export interface BillRunSettings {
  /** Billings due more than this many brand-local days ago wait for ops (domain/billrun). */
  maxCatchUpDays: number;
  /** Billings due before this instant are history from before rateline (a migration cut-over). */
  since: Date | null;
}

export interface BrandRunResult {
  brand: string;
  invoiced: { invoiceId: string; invoiceNumber: string; subscriptionId: string; periodIndex: number; total: string; currency: string; creditApplied: string; amountDue: string }[];
  held: { subscriptionId: string; periodIndex: number; code: string; message: string }[];
  warnings: string[];
  /** Credit balances asked of collect to refund (the brand's creditAtCancellation is refund). */
  creditRefunds?: { accountId: string; currency: string; amount: string }[];
  /** The run stopped (the service is stopping) before every due subscription was taken; the next run bills the rest. */
  stopped: boolean;
}

interface ChargeRow {
  event_id: string;
  rating_version: number;
  subscription_id: string;
  period_start: string;
  period_end: string;
  usage_type: string;
  billable_seconds: string;
  included_seconds: string;
  overage_seconds: string;
  amount: string;
  tiers: { tier: number; seconds: number; unitPrice: string; flatFee: string; amount: string }[];
}

interface RerateRow {
  event_id: string;
  usage_event_id: string;
  kind: string | null;
  subscription_id: string;
  period_start: string;
  usage_type: string;
  rating_version: number;
  amount_delta: string;
}

const t = (name: string) => `${SCHEMA}.${name}`;

/** A claimed next-billing row: the subscription, its first period not yet invoiced, when that fell due. */
interface NextRow {
  subscription_id: string;
  period_index: number;
  due_at: Date;
}

export interface BrandRunArgs {
  brand: Brand;
  tables: ReferenceTables;
  now: Date;
  settings: BillRunSettings;
  taxEngine: SyncTaxEngine;
  logger: Logger;
  /** Subscriptions billed per transaction (default 200). */
  groupSize?: number;
  /** Asked between transactions: true ends the run there (a stop); the rest waits for the next run. */
  shouldStop?: () => boolean;
}

/**
 * One brand's bill run at `now` (createBillRun): the subscriptions whose next billing is due
 * (next_billings.due_at <= now, an index range) are claimed a group at a time with FOR UPDATE
 * SKIP LOCKED, so two instances share the work and never bill one subscription at once, and
 * each group is billed in its own transaction: invoices, their gapless numbers (the brand's
 * numbering row is locked inside it), the charges and re-rating differences they consumed,
 * the credit applied or added (under the accounts' locks), the invoice events (in the outbox)
 * and the subscriptions' next billings commit together. A group that fails at the database is
 * billed again one subscription at a time, so the failing one is held with its reason and the
 * others bill. A stop ends the run between transactions.
 */
export async function runBrandBillRun(db: Knex, args: BrandRunArgs): Promise<BrandRunResult> {
  const { brand, now } = args;
  const groupSize = args.groupSize ?? 200;
  const result: BrandRunResult = { brand: brand.code, invoiced: [], held: [], warnings: [], stopped: false };
  const merge = (part: GroupResult) => {
    result.invoiced.push(...part.invoiced);
    result.held.push(...part.held);
    result.warnings.push(...part.warnings);
    for (const h of part.held) args.logger.warn('billing held', { brand: brand.code, ...h });
  };
  let cursor: { dueAt: Date; id: string } | null = null;
  for (;;) {
    if (args.shouldStop?.()) {
      result.stopped = true;
      break;
    }
    let claimed: NextRow[] = [];
    let part: GroupResult | undefined;
    try {
      part = await inTransaction(db, async (trx) => {
        claimed = await claimDue(trx, brand.code, now, cursor, groupSize);
        return claimed.length === 0 ? undefined : billGroup(trx, args, claimed);
      });
    } catch (error) {
      if (claimed.length === 0) throw error;
      args.logger.warn('bill run group failed: billing its subscriptions one at a time', { brand: brand.code, subscriptions: claimed.length, error });
      part = { invoiced: [], held: [], warnings: [] };
      for (const row of claimed) {
        if (args.shouldStop?.()) break;
        const alone = await billAlone(db, args, row);
        part.invoiced.push(...alone.invoiced);
        part.held.push(...alone.held);
        part.warnings.push(...alone.warnings);
      }
    }
    if (claimed.length === 0) break;
    merge(part!);
    const last = claimed[claimed.length - 1]!;
    cursor = { dueAt: last.due_at, id: last.subscription_id };
  }
  return result;
}

/**
 * The next due subscriptions of a brand after the run's cursor, locked; rows another
 * transaction holds are skipped (another instance bills them). Held rows stay due and behind
 * the cursor, so a run takes each subscription once and the next run retries it.
 */
async function claimDue(trx: Knex.Transaction, brand: string, now: Date, cursor: { dueAt: Date; id: string } | null, limit: number): Promise<NextRow[]> {
  const after = cursor === null ? '' : 'and (due_at, subscription_id) > (?, ?)';
  const params: Knex.RawBinding[] = [brand, now, ...(cursor === null ? [] : [cursor.dueAt, cursor.id]), limit];
  return (
    await trx.raw(
      `select subscription_id, period_index, due_at from ${t('next_billings')}
       where brand = ? and due_at is not null and due_at <= ? ${after}
       order by due_at, subscription_id limit ? for update skip locked`,
      params,
    )
  ).rows;
}

/** One subscription in its own transaction; a failure is recorded as a hold with its reason. */
async function billAlone(db: Knex, args: BrandRunArgs, row: NextRow): Promise<GroupResult> {
  try {
    return await inTransaction(db, async (trx) => {
      const rows: NextRow[] = (
        await trx.raw(`select subscription_id, period_index, due_at from ${t('next_billings')} where subscription_id = ? and due_at <= ? for update skip locked`, [row.subscription_id, args.now])
      ).rows;
      return rows.length === 0 ? { invoiced: [], held: [], warnings: [] } : billGroup(trx, args, rows);
    });
  } catch (error) {
    const pgCode = (error as { code?: unknown }).code;
    const code = typeof pgCode === 'string' && /^[a-z][a-z_]*$/.test(pgCode) ? pgCode : 'billing_failed';
    const detail = (error as { detail?: unknown }).detail;
    const message = `${(error as Error).message}${typeof detail === 'string' ? ` (${detail})` : ''}`;
    args.logger.error('billing failed: held', { brand: args.brand.code, subscriptionId: row.subscription_id, periodIndex: row.period_index, error });
    const held = { subscriptionId: row.subscription_id, periodIndex: row.period_index, code, message };
    await inTransaction(db, (trx) => recordHolds(trx, args.brand.code, [held], args.now));
    return { invoiced: [], held: [held], warnings: [] };
  }
}

type GroupResult = Pick<BrandRunResult, 'invoiced' | 'held' | 'warnings'>;

/**
 * Bills the claimed subscriptions in the caller's transaction: what each owes from its first
 * period not yet invoiced (the invoices table says which are, the unique key guards it), then
 * its next billing.
 */
async function billGroup(trx: Knex.Transaction, args: BrandRunArgs, claimed: readonly NextRow[]): Promise<GroupResult> {
  const { brand, tables, now, settings } = args;
  const result: GroupResult = { invoiced: [], held: [], warnings: [] };
  const present = claimed.filter((r) => tables.subscription(r.subscription_id)?.brand === brand.code);
  if (present.length === 0) return result;
  const ids = present.map((r) => r.subscription_id);
  const invoicedRows: { subscription_id: string; period_index: number }[] = (
    await trx.raw(
      `select i.subscription_id, i.period_index from ${t('invoices')} i join unnest(?::text[], ?::int[]) as f(id, n) on i.subscription_id = f.id and i.period_index >= f.n`,
      [ids, present.map((r) => r.period_index)],
    )
  ).rows;
  const invoiced = new Set(invoicedRows.map((r) => billingKey(r.subscription_id, r.period_index)));
  const fromPeriodIndex = new Map(present.map((r) => [r.subscription_id, r.period_index]));
  const subscriptions = ids.map((id) => tables.subscription(id)!);
  const input = { brand, now, invoiced, maxCatchUpDays: settings.maxCatchUpDays, since: settings.since, fromPeriodIndex };
  const dueList: DueBilling[] = [];
  try {
    const due = dueBillings({ ...input, subscriptions });
    dueList.push(...due.due);
    result.warnings.push(...due.warnings);
  } catch (error) {
    if (!(error instanceof BillRunError)) throw error;
    // A subscription the rules refuse (its input) is held with the reason; the others bill.
    for (const subscription of subscriptions) {
      try {
        const due = dueBillings({ ...input, subscriptions: [subscription] });
        dueList.push(...due.due);
        result.warnings.push(...due.warnings);
      } catch (one) {
        if (!(one instanceof BillRunError)) throw one;
        result.held.push({ subscriptionId: subscription.subscriptionId, periodIndex: fromPeriodIndex.get(subscription.subscriptionId)!, code: one.code, message: one.message });
      }
    }
  }

  const built: { billing: DueBilling; invoice: Invoice; settlement: UsageSettlement }[] = [];
  if (dueList.length > 0) {
    const dueIds = [...new Set(dueList.map((b) => b.subscriptionId))];
    const chargeRows: ChargeRow[] = (await trx.raw(`select * from ${t('charges')} where subscription_id = any(?) and invoice_id is null`, [dueIds])).rows;
    const rerateRows: RerateRow[] = (await trx.raw(`select * from ${t('rerated')} where subscription_id = any(?) and invoice_id is null`, [dueIds])).rows;
    const chargesBySub = groupBy(chargeRows, (r) => r.subscription_id);
    const reratesBySub = groupBy(rerateRows, (r) => r.subscription_id);
    const settledVersions = await settledVersionsOf(trx, dueList, chargeRows, rerateRows);

    // A subscription with two billings due (a missed month) takes them in period order: the
    // earlier invoice consumes what belongs to it, the later one the rest.
    const consumed = new Set<string>();
    for (const billing of [...dueList].sort((a, b) => (a.subscriptionId < b.subscriptionId ? -1 : a.subscriptionId > b.subscriptionId ? 1 : a.periodIndex - b.periodIndex))) {
      const subscription = tables.subscription(billing.subscriptionId)!;
      const settlement = settleUsage({
        usagePeriodStart: billing.usagePeriod?.start.getTime() ?? null,
        periodStart: billing.period.start.getTime(),
        charges: (chargesBySub.get(billing.subscriptionId) ?? []).filter((r) => !consumed.has(chargeKey(r.event_id, r.rating_version))).map(pendingCharge),
        rerates: (reratesBySub.get(billing.subscriptionId) ?? []).filter((r) => !consumed.has(`rerate:${r.event_id}`)).map(pendingRerate),
        settledVersions,
        periodEndOf: (start) => periodFor(new Date(subscription.anchor), new Date(start), brand.timeZone).end.getTime(),
      });
      const { charges, carried } = settlement;

      const assembled = assembleInvoiceInput({
        billing,
        brand,
        subscription,
        plans: (id, v) => tables.plan(id, v),
        customer: tables.customer(subscription.accountId),
        charges,
        carried,
        issuedAt: now,
      });
      if (!assembled.ok) {
        result.held.push({ subscriptionId: billing.subscriptionId, periodIndex: billing.periodIndex, ...assembled.problem });
        continue;
      }
      let invoice: Invoice;
      try {
        invoice = buildInvoice({ ...assembled.input, taxEngine: args.taxEngine });
      } catch (error) {
        const code = (error as { code?: string }).code ?? 'invoice_failed';
        result.held.push({ subscriptionId: billing.subscriptionId, periodIndex: billing.periodIndex, code, message: (error as Error).message });
        continue;
      }
      for (const c of settlement.consumedCharges) consumed.add(chargeKey(c.eventId, c.ratingVersion));
      for (const r of settlement.consumedRerates) consumed.add(`rerate:${r.eventId}`);
      built.push({ billing, invoice, settlement });
    }
  }

  if (built.length > 0) {
    // The brand's numbering row, locked until commit: numbers stay gapless across groups and instances.
    await trx.raw(`insert into ${t('invoice_numbers')} (brand, last_number) values (?, 0) on conflict (brand) do nothing`, [brand.code]);
    const numbering = await trx(t('invoice_numbers')).where({ brand: brand.code }).forUpdate().first('last_number');
    const lastNumber = Number(numbering?.last_number ?? 0);
    const allocation = allocateInvoiceNumbers(brand, lastNumber, built.map((b) => ({ ...b, subscriptionId: b.billing.subscriptionId, periodIndex: b.billing.periodIndex })));
    const events: OutboxEvent[] = [];
    const invoiceRows: Record<string, unknown>[] = [];
    const consumedCharges: ConsumedRow[] = [];
    const consumedRerates: ConsumedRow[] = [];
    const tally = new ControlTally('bill-run');
    // Credit balances: a negative invoice adds to its account's, a positive one consumes it, in
    // invoice-number order, under the accounts' locks (the payment consumer takes them too).
    const balances = await lockCreditAccounts(trx, allocation.numbered.map(({ invoice: b }) => ({ brand: brand.code, accountId: b.invoice.accountId, currency: b.invoice.currency })));
    for (const { invoice: b, invoiceNumber } of allocation.numbered) {
      const numbered = { ...b.invoice, invoiceNumber };
      const key = creditKey(numbered.accountId, numbered.currency);
      const creditApplied = creditToApply(balances.get(key)!, numbered.total);
      const creditAdded = creditFromInvoice(numbered.total);
      const credit = { brand: brand.code, accountId: numbered.accountId, currency: numbered.currency, invoiceId: numbered.invoiceId, reference: invoiceNumber, recordedBy: null, at: now };
      if (creditApplied.gt(0)) await addCreditEntry(trx, { ...credit, entryId: `applied:${numbered.invoiceId}`, source: 'applied', amount: creditApplied.negated() });
      if (creditAdded.gt(0)) await addCreditEntry(trx, { ...credit, entryId: `invoice:${numbered.invoiceId}`, source: 'negative_invoice', amount: creditAdded });
      balances.set(key, balances.get(key)!.minus(creditApplied).plus(creditAdded));
      const event = toInvoiceEvent(numbered, invoiceNumber, b.billing.kind, creditApplied);
      invoiceRows.push({
        invoice_id: numbered.invoiceId,
        invoice_number: invoiceNumber,
        brand: brand.code,
        account_id: numbered.accountId,
        subscription_id: numbered.subscriptionId,
        period_index: b.billing.periodIndex,
        kind: b.billing.kind,
        due_at: numbered.dueAt,
        issued_at: numbered.issuedAt,
        currency: numbered.currency,
        total: numbered.total.toFixed(),
        credit_applied: creditApplied.toFixed(),
        document: JSON.stringify({ ...numbered, kind: b.billing.kind, periodIndex: b.billing.periodIndex, creditApplied: creditApplied.toFixed() }),
      });
      events.push({ topic: brandTopics(brand.code).invoices.name, schema: 'invoice', key: numbered.accountId, eventId: numbered.invoiceId, brand: brand.code, payload: event });
      countInvoice(tally, brand, event);
      for (const c of b.settlement.consumedCharges) consumedCharges.push({ id: c.eventId, version: c.ratingVersion, invoiceId: numbered.invoiceId, settles: c.settles });
      for (const r of b.settlement.consumedRerates) consumedRerates.push({ id: r.eventId, version: null, invoiceId: numbered.invoiceId, settles: r.settles });
      result.invoiced.push({
        invoiceId: numbered.invoiceId, invoiceNumber, subscriptionId: numbered.subscriptionId, periodIndex: b.billing.periodIndex, total: numbered.total.toFixed(2), currency: numbered.currency,
        creditApplied: creditApplied.toFixed(2), amountDue: amountDue(numbered.total, creditApplied).toFixed(2),
      });
      invoiced.add(billingKey(numbered.subscriptionId, b.billing.periodIndex));
    }
    // A second invoice for a subscription and period fails here, loudly: (subscription_id, period_index) is unique.
    for (let i = 0; i < invoiceRows.length; i += 500) await trx(t('invoices')).insert(invoiceRows.slice(i, i + 500));
    // The brand's figures for the day change in the invoices' transaction (and leave through the outbox after them).
    await recordControlTotals(trx, SCHEMA, tally);
    await enqueue(trx, SCHEMA, events);
    await markConsumed(trx, 'charges', consumedCharges);
    await markConsumed(trx, 'rerated', consumedRerates);
    await trx(t('invoice_numbers')).where({ brand: brand.code }).update({ last_number: allocation.lastNumber });
    const billedKeys = allocation.numbered.map((n) => billingKey(n.invoice.billing.subscriptionId, n.invoice.billing.periodIndex));
    await trx(t('holds')).whereIn('billing_key', billedKeys).delete();
  }
  await recordHolds(trx, brand.code, result.held, now);
  await advanceNextBillings(trx, args, present, invoiced);
  return result;
}

/**
 * Each subscription's next billing after this transaction: its first period not invoiced from
 * where its row stood (a held or skipped billing stays there, due, and is retried every run).
 */
async function advanceNextBillings(trx: Knex.Transaction, args: BrandRunArgs, rows: readonly NextRow[], invoiced: ReadonlySet<string>): Promise<void> {
  const updates = { id: [] as string[], n: [] as number[], due: [] as (Date | null)[], basis: [] as string[] };
  for (const row of rows) {
    const subscription = args.tables.subscription(row.subscription_id)!;
    let from = row.period_index;
    while (invoiced.has(billingKey(row.subscription_id, from))) from += 1;
    let next: { periodIndex: number; dueAt: Date | null };
    try {
      next = nextBilling({ brand: args.brand, subscription, fromPeriodIndex: from, since: args.settings.since }) ?? { periodIndex: from, dueAt: null };
    } catch (error) {
      if (!(error instanceof BillRunError)) throw error;
      next = { periodIndex: from, dueAt: row.due_at }; // held above with the reason; retried every run
    }
    updates.id.push(row.subscription_id);
    updates.n.push(next.periodIndex);
    updates.due.push(next.dueAt);
    updates.basis.push(billingBasis(args.brand, subscription, args.settings.since));
  }
  await trx.raw(
    `update ${t('next_billings')} n set period_index = v.n, due_at = v.due, basis = v.basis
     from unnest(?::text[], ?::int[], ?::timestamptz[], ?::text[]) as v(id, n, due, basis) where n.subscription_id = v.id`,
    [updates.id, updates.n, isoOrNull(updates.due), updates.basis],
  );
}

async function recordHolds(trx: Knex.Transaction, brand: string, held: BrandRunResult['held'], now: Date): Promise<void> {
  for (const h of held) {
    await trx.raw(
      `insert into ${t('holds')} (billing_key, brand, subscription_id, period_index, code, message, first_seen, last_seen) values (?, ?, ?, ?, ?, ?, ?, ?)
       on conflict (billing_key) do update set code = excluded.code, message = excluded.message, last_seen = excluded.last_seen`,
      [billingKey(h.subscriptionId, h.periodIndex), brand, h.subscriptionId, h.periodIndex, h.code, h.message, now, now],
    );
  }
}

/** The billing fields a next-billing row is computed from: when they change, the row is computed again. */
export function billingBasis(brand: Pick<Brand, 'timeZone' | 'billingHour'>, s: Subscription, since: Date | null): string {
  return [s.brand, brand.timeZone, brand.billingHour, s.anchor, s.status, s.trialEndsAt ?? '', s.cancelledAt ?? '', since?.getTime() ?? ''].join('|');
}

/**
 * Makes or refreshes the next-billing rows of these subscriptions from the reference tables
 * (after a ref.subscriptions or ref.brands change, and for every subscription at start). A row
 * whose basis is unchanged is left alone; a new row starts after the subscription's last
 * invoice (or at its earliest hold), so subscriptions billed before the table bill on; a
 * subscription gone from the reference loses its row. Rows are locked in id order: a
 * subscription being billed is waited for, never computed from stale state.
 */
export async function syncNextBillings(
  db: Knex,
  args: { tables: ReferenceTables; ids: readonly string[]; since: Date | null; owns: (brand: string) => boolean },
): Promise<{ changed: number }> {
  let changed = 0;
  const ids = [...new Set(args.ids)].sort(compareIds);
  for (let i = 0; i < ids.length; i += 1000) {
    const chunk = ids.slice(i, i + 1000);
    changed += await inTransaction(db, async (trx) => {
      const rows: { subscription_id: string; period_index: number; basis: string }[] = (
        await trx.raw(`select subscription_id, period_index, basis from ${t('next_billings')} where subscription_id = any(?) order by subscription_id for update`, [chunk])
      ).rows;
      const byId = new Map(rows.map((r) => [r.subscription_id, r]));
      const missing = chunk.filter((id) => !byId.has(id) && args.tables.subscription(id) !== undefined);
      const starts = new Map<string, number>();
      if (missing.length > 0) {
        const last: { subscription_id: string; n: number }[] = (await trx.raw(`select subscription_id, max(period_index) as n from ${t('invoices')} where subscription_id = any(?) group by subscription_id`, [missing])).rows;
        for (const r of last) starts.set(r.subscription_id, Number(r.n) + 1);
        const held: { subscription_id: string; n: number }[] = (await trx.raw(`select subscription_id, min(period_index) as n from ${t('holds')} where subscription_id = any(?) group by subscription_id`, [missing])).rows;
        for (const r of held) starts.set(r.subscription_id, Math.min(starts.get(r.subscription_id) ?? Infinity, Number(r.n)));
      }
      const upsert = { id: [] as string[], brand: [] as string[], n: [] as number[], due: [] as (Date | null)[], basis: [] as string[] };
      const gone: string[] = [];
      for (const id of chunk) {
        const subscription = args.tables.subscription(id);
        const row = byId.get(id);
        if (subscription === undefined) {
          if (row) gone.push(id);
          continue;
        }
        const brand = args.tables.brand(subscription.brand);
        if (brand === undefined || !args.owns(subscription.brand)) continue;
        const basis = billingBasis(brand, subscription, args.since);
        if (row?.basis === basis) continue;
        const from = row?.period_index ?? starts.get(id) ?? 0;
        let next: { periodIndex: number; dueAt: Date | null };
        try {
          next = nextBilling({ brand, subscription, fromPeriodIndex: from, since: args.since }) ?? { periodIndex: from, dueAt: null };
        } catch (error) {
          if (!(error instanceof BillRunError)) throw error;
          // Due at once: the next run holds it with the reason the rules give.
          next = { periodIndex: from, dueAt: new Date(0) };
        }
        upsert.id.push(id);
        upsert.brand.push(subscription.brand);
        upsert.n.push(next.periodIndex);
        upsert.due.push(next.dueAt);
        upsert.basis.push(basis);
      }
      if (upsert.id.length > 0) {
        await trx.raw(
          `insert into ${t('next_billings')} (subscription_id, brand, period_index, due_at, basis)
           select * from unnest(?::text[], ?::text[], ?::int[], ?::timestamptz[], ?::text[])
           on conflict (subscription_id) do update set brand = excluded.brand, period_index = excluded.period_index, due_at = excluded.due_at, basis = excluded.basis`,
          [upsert.id, upsert.brand, upsert.n, isoOrNull(upsert.due), upsert.basis],
        );
      }
      if (gone.length > 0) await trx(t('next_billings')).whereIn('subscription_id', gone).delete();
      return upsert.id.length + gone.length;
    });
  }
  return { changed };
}

/** A usage row an invoice takes; `settles`: its version is the one the invoice billed the call in full (domain/billrun settleUsage). */
interface ConsumedRow {
  id: string;
  /** The rating version of a charge row (charges are keyed by call and version); null for a difference. */
  version: number | null;
  invoiceId: string;
  settles: boolean;
}

/** Marks exactly these rows as billed; a row another run billed first aborts the transaction. */
async function markConsumed(trx: Knex.Transaction, table: 'charges' | 'rerated', rows: readonly ConsumedRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 5000) {
    const slice = rows.slice(i, i + 5000);
    const byVersion = table === 'charges' ? 'and c.rating_version = v.rating_version' : '';
    const updated = await trx.raw(
      `update ${t(table)} c set invoice_id = v.invoice_id, settles = v.settles
       from unnest(?::text[], ?::int[], ?::text[], ?::boolean[]) as v(event_id, rating_version, invoice_id, settles)
       where c.event_id = v.event_id ${byVersion} and c.invoice_id is null`,
      [slice.map((r) => r.id), slice.map((r) => r.version) as number[], slice.map((r) => r.invoiceId), slice.map((r) => r.settles)],
    );
    if (updated.rowCount !== slice.length) {
      throw new Error(`${table}: ${slice.length - updated.rowCount} of ${slice.length} rows were billed by another invoice meanwhile`);
    }
  }
}

/**
 * Per call of a period already invoiced that these rows belong to, the version its invoices
 * billed in full: what settleUsage needs to tell a difference already billed from one to carry.
 * Rows of the periods billed in arrears now, or of the current period, need none.
 */
async function settledVersionsOf(trx: Knex.Transaction, due: readonly DueBilling[], charges: readonly ChargeRow[], rerates: readonly RerateRow[]): Promise<Map<string, number>> {
  const fresh = new Set(due.map((b) => `${b.subscriptionId}|${b.usagePeriod?.start.getTime() ?? ''}`));
  const lastStart = new Map<string, number>();
  for (const b of due) lastStart.set(b.subscriptionId, Math.max(lastStart.get(b.subscriptionId) ?? 0, b.period.start.getTime()));
  const late = (subscriptionId: string, periodStart: string) => Number(periodStart) < lastStart.get(subscriptionId)! && !fresh.has(`${subscriptionId}|${Number(periodStart)}`);
  const calls = [...new Set([...charges.filter((r) => late(r.subscription_id, r.period_start)).map((r) => r.event_id), ...rerates.filter((r) => late(r.subscription_id, r.period_start)).map((r) => r.usage_event_id)])];
  const settled = new Map<string, number>();
  if (calls.length === 0) return settled;
  const { rows } = (await trx.raw(
    `select event_id as call, max(rating_version) as version from ${t('charges')} where event_id = any(?) and invoice_id is not null and settles group by event_id
     union all
     select usage_event_id, max(rating_version) from ${t('rerated')} where usage_event_id = any(?) and invoice_id is not null and settles group by usage_event_id`,
    [calls, calls],
  )) as { rows: { call: string; version: number }[] };
  for (const r of rows) settled.set(r.call, Math.max(settled.get(r.call) ?? 0, Number(r.version)));
  return settled;
}

const chargeKey = (eventId: string, version: number) => `${eventId}@${version}`;

/** Instants for a timestamptz[] parameter (null where unknown). */
const isoOrNull = (instants: readonly (Date | null)[]) => instants.map((d) => (d === null ? null : d.toISOString())) as unknown as string[];

function pendingCharge(row: ChargeRow): PendingCharge {
  return {
    eventId: row.event_id,
    ratingVersion: row.rating_version,
    periodStart: Number(row.period_start),
    periodEnd: Number(row.period_end),
    usageType: row.usage_type,
    billableSeconds: Number(row.billable_seconds),
    includedSeconds: Number(row.included_seconds),
    overageSeconds: Number(row.overage_seconds),
    amount: new Decimal(row.amount),
    tiers: row.tiers.map((x) => ({ tier: x.tier, seconds: x.seconds, unitPrice: new Decimal(x.unitPrice), flatFee: new Decimal(x.flatFee), amount: new Decimal(x.amount) })),
  };
}

function pendingRerate(row: RerateRow): PendingRerate {
  return { eventId: row.event_id, usageEventId: row.usage_event_id, ratingVersion: row.rating_version, kind: row.kind, periodStart: Number(row.period_start), usageType: row.usage_type, amountDelta: new Decimal(row.amount_delta) };
}

function groupBy<T>(rows: readonly T[], key: (row: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    const list = map.get(k);
    if (list) list.push(row);
    else map.set(k, [row]);
  }
  return map;
}

/** One issued invoice on its brand's figures for its local issue day. */
function countInvoice(tally: ControlTally, brand: Brand, event: ReturnType<typeof toInvoiceEvent>): void {
  const day = localDay(event.issuedAt, brand.timeZone);
  const c = event.currency;
  tally.count('brand', brand.code, day, 'invoices').amount('brand', brand.code, day, 'invoiced', c, event.total).amount('brand', brand.code, day, 'tax', c, event.taxTotal);
  tally.amount('brand', brand.code, day, 'credit_applied', c, event.creditApplied ?? new Decimal(0)).amount('brand', brand.code, day, 'amount_due', c, event.amountDue ?? event.total);
  for (const u of event.usageSummaries) tally.count('brand', brand.code, day, 'usage_calls', u.calls).amount('brand', brand.code, day, 'usage', c, u.amount);
}
