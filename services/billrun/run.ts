import { Decimal } from 'decimal.js';
import type { Knex } from 'knex';
import { allocateInvoiceNumbers, assembleInvoiceInput, billingKey, dueBillings, type CarriedAmount, type DueBilling, type StoredCharge } from '../../domain/billrun/index.ts';
import { amountDue, creditFromInvoice, creditToApply } from '../../domain/credit/index.ts';
import { buildInvoice, type Invoice } from '../../domain/invoicing/index.ts';
import { periodFor } from '../../domain/periods/index.ts';
import type { Brand, ReferenceTables } from '../../domain/reference/index.ts';
import type { SyncTaxEngine } from '../../domain/tax/index.ts';
import { toInvoiceEvent } from '../../contracts/invoice.ts';
import { inTransaction } from '../../runtime/db.ts';
import type { Logger } from '../../runtime/log.ts';
import { enqueue, type OutboxEvent } from '../../runtime/outbox.ts';
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
}

interface ChargeRow {
  event_id: string;
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
  subscription_id: string;
  period_start: string;
  usage_type: string;
  rating_version: number;
  amount_delta: string;
}

const t = (name: string) => `${SCHEMA}.${name}`;

/**
 * One brand's bill run at `now` (createBillRun): everything due and not yet invoiced, in one
 * transaction under a per-brand advisory lock, so two instances never bill a brand at once and
 * a crash leaves nothing half done. Invoices, their gapless numbers, the charges and
 * re-rating differences they consumed, and the invoice event (in the outbox) commit together.
 */
export async function runBrandBillRun(
  db: Knex,
  args: { brand: Brand; tables: ReferenceTables; now: Date; settings: BillRunSettings; taxEngine: SyncTaxEngine; logger: Logger; shouldStop?: () => boolean },
): Promise<BrandRunResult> {
  const { brand, tables, now, settings } = args;
  // A stop rolls the brand's run back (it commits whole or not at all): the next run bills it.
  const stopIfAsked = () => {
    if (args.shouldStop?.()) throw Object.assign(new Error(`the service is stopping: ${brand.code}'s bill run is rolled back for the next run`), { code: 'bill_run_stopped' });
  };
  return inTransaction(db, async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`billrun:${brand.code}`]);
    const invoicedRows: { subscription_id: string; period_index: number }[] = await trx(t('invoices')).where({ brand: brand.code }).select('subscription_id', 'period_index');
    const invoiced = new Set(invoicedRows.map((r) => billingKey(r.subscription_id, r.period_index)));
    const subscriptions = tables.subscriptionsOf(brand.code);
    const due = dueBillings({ brand, subscriptions, now, invoiced, maxCatchUpDays: settings.maxCatchUpDays, since: settings.since });
    const result: BrandRunResult = { brand: brand.code, invoiced: [], held: [], warnings: [...due.warnings] };
    if (due.due.length === 0) return result;

    const dueIds = [...new Set(due.due.map((b) => b.subscriptionId))];
    const chargeRows: ChargeRow[] = (await trx.raw(`select * from ${t('charges')} where subscription_id = any(?) and invoice_id is null`, [dueIds])).rows;
    const rerateRows: RerateRow[] = (await trx.raw(`select * from ${t('rerated')} where subscription_id = any(?) and invoice_id is null`, [dueIds])).rows;
    const chargesBySub = groupBy(chargeRows, (r) => r.subscription_id);
    const reratesBySub = groupBy(rerateRows, (r) => r.subscription_id);

    // A subscription with two billings due (a missed month) takes them in period order: the
    // earlier invoice consumes what belongs to it, the later one the rest.
    const built: { billing: DueBilling; invoice: Invoice; chargeIds: string[]; rerateIds: string[] }[] = [];
    const consumed = new Set<string>();
    for (const billing of [...due.due].sort((a, b) => (a.subscriptionId < b.subscriptionId ? -1 : a.subscriptionId > b.subscriptionId ? 1 : a.periodIndex - b.periodIndex))) {
      stopIfAsked();
      const subscription = tables.subscription(billing.subscriptionId)!;
      const periodStart = billing.period.start.getTime();
      const usageStart = billing.usagePeriod?.start.getTime();
      const charges: StoredCharge[] = [];
      const late = new Map<string, { rows: ChargeRow[] }>();
      for (const row of chargesBySub.get(billing.subscriptionId) ?? []) {
        if (consumed.has(row.event_id)) continue;
        const start = Number(row.period_start);
        if (start >= periodStart) continue; // the current period's usage: billed on the next anniversary
        if (start === usageStart) charges.push(storedCharge(row));
        else {
          // Usage of a period already invoiced: carried to this invoice as late usage.
          const key = `${start}|${row.usage_type}`;
          const entry = late.get(key) ?? { rows: [] };
          entry.rows.push(row);
          late.set(key, entry);
        }
      }
      const carried: CarriedAmount[] = [...late.values()].map(({ rows }) => ({
        reason: 'late_usage',
        usageType: rows[0]!.usage_type,
        periodStart: new Date(Number(rows[0]!.period_start)),
        periodEnd: new Date(Number(rows[0]!.period_end)),
        ratingVersion: 0,
        amount: rows.reduce((sum, r) => sum.plus(r.amount), new Decimal(0)),
        records: rows.length,
      }));
      const rerates = (reratesBySub.get(billing.subscriptionId) ?? []).filter((r) => !consumed.has(`rerate:${r.event_id}`));
      const reratedGroups = groupBy(rerates, (r) => `${r.period_start}|${r.usage_type}|${r.rating_version}`);
      for (const rows of reratedGroups.values()) {
        const start = new Date(Number(rows[0]!.period_start));
        const period = periodFor(new Date(subscription.anchor), start, brand.timeZone);
        carried.push({
          reason: 'rerating',
          usageType: rows[0]!.usage_type,
          periodStart: period.start,
          periodEnd: period.end,
          ratingVersion: rows[0]!.rating_version,
          amount: rows.reduce((sum, r) => sum.plus(r.amount_delta), new Decimal(0)),
          records: rows.length,
        });
      }
      carried.sort((a, b) => a.periodStart.getTime() - b.periodStart.getTime() || (a.usageType < b.usageType ? -1 : a.usageType > b.usageType ? 1 : 0) || a.ratingVersion - b.ratingVersion);

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
      const chargeIds = charges.map((c) => c.eventId).concat([...late.values()].flatMap(({ rows }) => rows.map((r) => r.event_id)));
      const rerateIds = rerates.map((r) => r.event_id);
      for (const id of chargeIds) consumed.add(id);
      for (const id of rerateIds) consumed.add(`rerate:${id}`);
      built.push({ billing, invoice, chargeIds, rerateIds });
    }

    const numbering = await trx(t('invoice_numbers')).where({ brand: brand.code }).forUpdate().first('last_number');
    const lastNumber = Number(numbering?.last_number ?? 0);
    const allocation = allocateInvoiceNumbers(brand, lastNumber, built.map((b) => ({ ...b, subscriptionId: b.billing.subscriptionId, periodIndex: b.billing.periodIndex })));
    const events: OutboxEvent[] = [];
    // Credit balances: a negative invoice adds to its account's, a positive one consumes it, in
    // invoice-number order, under the accounts' locks (the payment consumer takes them too).
    const balances = await lockCreditAccounts(trx, allocation.numbered.map(({ invoice: b }) => ({ brand: brand.code, accountId: b.invoice.accountId, currency: b.invoice.currency })));
    for (const { invoice: b, invoiceNumber } of allocation.numbered) {
      stopIfAsked();
      const numbered = { ...b.invoice, invoiceNumber };
      const key = creditKey(numbered.accountId, numbered.currency);
      const creditApplied = creditToApply(balances.get(key)!, numbered.total);
      const creditAdded = creditFromInvoice(numbered.total);
      const credit = { brand: brand.code, accountId: numbered.accountId, currency: numbered.currency, invoiceId: numbered.invoiceId, reference: invoiceNumber, recordedBy: null, at: now };
      if (creditApplied.gt(0)) await addCreditEntry(trx, { ...credit, entryId: `applied:${numbered.invoiceId}`, source: 'applied', amount: creditApplied.negated() });
      if (creditAdded.gt(0)) await addCreditEntry(trx, { ...credit, entryId: `invoice:${numbered.invoiceId}`, source: 'negative_invoice', amount: creditAdded });
      balances.set(key, balances.get(key)!.minus(creditApplied).plus(creditAdded));
      const event = toInvoiceEvent(numbered, invoiceNumber, b.billing.kind, creditApplied);
      await trx(t('invoices')).insert({
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
      await markConsumed(trx, 'charges', b.chargeIds, numbered.invoiceId);
      await markConsumed(trx, 'rerated', b.rerateIds, numbered.invoiceId);
      result.invoiced.push({
        invoiceId: numbered.invoiceId, invoiceNumber, subscriptionId: numbered.subscriptionId, periodIndex: b.billing.periodIndex, total: numbered.total.toFixed(2), currency: numbered.currency,
        creditApplied: creditApplied.toFixed(2), amountDue: amountDue(numbered.total, creditApplied).toFixed(2),
      });
    }
    await enqueue(trx, SCHEMA, events);
    if (allocation.numbered.length > 0) {
      await trx.raw(
        `insert into ${t('invoice_numbers')} (brand, last_number) values (?, ?) on conflict (brand) do update set last_number = excluded.last_number`,
        [brand.code, allocation.lastNumber],
      );
    }
    const billedKeys = allocation.numbered.map((n) => billingKey(n.invoice.billing.subscriptionId, n.invoice.billing.periodIndex));
    if (billedKeys.length > 0) await trx(t('holds')).whereIn('billing_key', billedKeys).delete();
    for (const h of result.held) {
      await trx.raw(
        `insert into ${t('holds')} (billing_key, brand, subscription_id, period_index, code, message, first_seen, last_seen) values (?, ?, ?, ?, ?, ?, ?, ?)
         on conflict (billing_key) do update set code = excluded.code, message = excluded.message, last_seen = excluded.last_seen`,
        [billingKey(h.subscriptionId, h.periodIndex), brand.code, h.subscriptionId, h.periodIndex, h.code, h.message, now, now],
      );
      args.logger.warn('billing held', { brand: brand.code, ...h });
    }
    return result;
  });
}

/** Marks exactly these rows as billed; a row another run billed first aborts the transaction. */
async function markConsumed(trx: Knex.Transaction, table: 'charges' | 'rerated', ids: string[], invoiceId: string): Promise<void> {
  if (ids.length === 0) return;
  const updated = await trx(t(table)).whereIn('event_id', ids).whereNull('invoice_id').update({ invoice_id: invoiceId });
  if (updated !== ids.length) {
    throw new Error(`${table}: ${ids.length - updated} of ${ids.length} rows for ${invoiceId} were billed by another invoice meanwhile`);
  }
}

function storedCharge(row: ChargeRow): StoredCharge {
  return {
    eventId: row.event_id,
    usageType: row.usage_type,
    billableSeconds: Number(row.billable_seconds),
    includedSeconds: Number(row.included_seconds),
    overageSeconds: Number(row.overage_seconds),
    amount: new Decimal(row.amount),
    tiers: row.tiers.map((x) => ({ tier: x.tier, seconds: x.seconds, unitPrice: new Decimal(x.unitPrice), flatFee: new Decimal(x.flatFee), amount: new Decimal(x.amount) })),
  };
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
