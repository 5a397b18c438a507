import { Decimal } from 'decimal.js';
import type { Knex } from 'knex';
import { balanceOf, entryProblems, payoutProblems, type CreditSource } from '../../domain/credit/index.ts';
import { minorUnits } from '../../domain/money/index.ts';
import type { CreditRefundRecord } from '../../contracts/payment.ts';
import type { Brand, ReferenceTables } from '../../domain/reference/index.ts';
import { inTransaction } from '../../runtime/db.ts';
import { enqueue } from '../../runtime/outbox.ts';
import { brandTopics } from '../../topics/catalog.ts';
import { SCHEMA } from './schema.ts';

/**
 * The bill run's credit ledger (domain/credit): one writer of each customer's credit balance.
 * Every writer locks the account's row per currency first (in a stable order when it takes
 * several), then reads the sum of the entries and adds its own, in the caller's transaction.
 */
const t = (name: string) => `${SCHEMA}.${name}`;

export interface CreditAccountKey {
  brand: string;
  accountId: string;
  currency: string;
}

export interface NewCreditEntry extends CreditAccountKey {
  entryId: string;
  source: CreditSource;
  amount: Decimal;
  invoiceId: string | null;
  reference: string | null;
  recordedBy: string | null;
  at: Date;
}

/** Locks each account's credit row (made on first use), in account-then-currency order; returns each balance. */
export async function lockCreditAccounts(trx: Knex.Transaction, keys: readonly CreditAccountKey[]): Promise<Map<string, Decimal>> {
  const unique = [...new Map(keys.map((k) => [creditKey(k.accountId, k.currency), k])).values()].sort((a, b) =>
    a.accountId < b.accountId ? -1 : a.accountId > b.accountId ? 1 : a.currency < b.currency ? -1 : a.currency > b.currency ? 1 : 0,
  );
  const balances = new Map<string, Decimal>();
  if (unique.length === 0) return balances;
  await trx(t('credit_accounts'))
    .insert(unique.map((k) => ({ account_id: k.accountId, currency: k.currency, brand: k.brand })))
    .onConflict(['account_id', 'currency'])
    .ignore();
  // One statement locks them all, in that order (the rows are sorted before they are locked),
  // then one reads their entries: a bill run's group takes hundreds of accounts at once.
  for (let i = 0; i < unique.length; i += 5000) {
    const slice = unique.slice(i, i + 5000);
    const pairs = [slice.map((k) => k.accountId), slice.map((k) => k.currency)];
    await trx.raw(
      `select a.account_id from ${t('credit_accounts')} a join unnest(?::text[], ?::text[]) as k(account_id, currency) using (account_id, currency)
       order by a.account_id collate "C", a.currency collate "C" for update of a`,
      pairs,
    );
    const entries: { account_id: string; currency: string; amount: string }[] = (
      await trx.raw(
        `select e.account_id, e.currency, e.amount from ${t('credit_entries')} e join unnest(?::text[], ?::text[]) as k(account_id, currency) using (account_id, currency)`,
        pairs,
      )
    ).rows;
    const byKey = new Map<string, { amount: Decimal }[]>();
    for (const e of entries) {
      const key = creditKey(e.account_id, e.currency);
      const list = byKey.get(key) ?? [];
      list.push({ amount: new Decimal(e.amount) });
      byKey.set(key, list);
    }
    for (const k of slice) balances.set(creditKey(k.accountId, k.currency), balanceOf(byKey.get(creditKey(k.accountId, k.currency)) ?? []));
  }
  return balances;
}

export const creditKey = (accountId: string, currency: string) => `${accountId}|${currency}`;

/** Adds an entry under a lock the caller holds; false when its id was recorded before (a redelivery). */
export async function addCreditEntry(trx: Knex.Transaction, entry: NewCreditEntry): Promise<boolean> {
  const problems = entryProblems(entry.source, entry.amount, entry.currency);
  if (problems.length > 0) throw Object.assign(new Error(`credit entry ${entry.entryId}: ${problems.join('; ')}`), { code: 'invalid_credit_entry' });
  const inserted = await trx(t('credit_entries'))
    .insert({
      entry_id: entry.entryId,
      account_id: entry.accountId,
      currency: entry.currency,
      brand: entry.brand,
      source: entry.source,
      amount: entry.amount.toFixed(),
      invoice_id: entry.invoiceId,
      reference: entry.reference,
      recorded_by: entry.recordedBy,
      at: entry.at,
    })
    .onConflict('entry_id')
    .ignore()
    .returning('entry_id');
  return inserted.length > 0;
}

export interface CreditStatement {
  accountId: string;
  brand: string;
  balances: { currency: string; balance: string }[];
  entries: { entryId: string; currency: string; source: string; amount: string; invoiceId: string | null; reference: string | null; recordedBy: string | null; at: string }[];
}

/** An account's balances (the sums of its entries) and its entries in the order they were recorded. */
export async function creditStatement(db: Knex, accountId: string): Promise<CreditStatement | undefined> {
  const rows: { entry_id: string; currency: string; source: string; amount: string; invoice_id: string | null; reference: string | null; recorded_by: string | null; at: Date }[] = await db(t('credit_entries'))
    .where({ account_id: accountId })
    .orderBy('seq');
  const known: { brand: string } | undefined = await db(t('credit_accounts')).where({ account_id: accountId }).first('brand');
  if (!known) return undefined;
  const byCurrency = new Map<string, Decimal>();
  for (const r of rows) byCurrency.set(r.currency, (byCurrency.get(r.currency) ?? new Decimal(0)).plus(r.amount));
  return {
    accountId,
    brand: known.brand,
    balances: [...byCurrency].map(([currency, balance]) => ({ currency, balance: balance.toFixed(minorUnits(currency)) })),
    entries: rows.map((r) => ({
      entryId: r.entry_id,
      currency: r.currency,
      source: r.source,
      amount: new Decimal(r.amount).toFixed(minorUnits(r.currency)),
      invoiceId: r.invoice_id,
      reference: r.reference,
      recordedBy: r.recorded_by,
      at: r.at.toISOString(),
    })),
  };
}

/** Every account of a brand (or all brands) with credit left: what the company owes its customers. */
export async function outstandingCredit(db: Knex, brand: string | null): Promise<{ brand: string; accountId: string; currency: string; balance: string }[]> {
  const query = db(t('credit_entries')).select('brand', 'account_id', 'currency').sum({ balance: 'amount' }).groupBy('brand', 'account_id', 'currency').havingRaw('sum(amount) <> 0').orderBy(['brand', 'account_id', 'currency']);
  if (brand) void query.where({ brand });
  const rows = (await query) as unknown as { brand: string; account_id: string; currency: string; balance: string }[];
  return rows.map((r) => ({ brand: r.brand, accountId: r.account_id, currency: r.currency, balance: new Decimal(r.balance).toFixed(minorUnits(r.currency)) }));
}

export interface PayoutInput {
  accountId: string;
  currency: string;
  amount: string;
  /** The cheque number or transfer reference: the payout's idempotency key with the account. */
  reference: string;
  recordedBy: string;
}

export type PayoutResult =
  | { status: 201; body: { entryId: string; balance: string } }
  | { status: 200; body: { entryId: string; duplicate: true } }
  | { status: 404 | 409 | 422; body: { error: string; problems: string[] } };

/** Credit given back outside the gateway (cheque, transfer), under the account's lock: never more than the balance. */
export async function recordPayout(db: Knex, input: PayoutInput, now: Date): Promise<PayoutResult> {
  const entryId = `payout:${input.accountId}:${input.currency}:${input.reference}`;
  let amount: Decimal;
  try {
    amount = new Decimal(input.amount);
  } catch {
    return { status: 422, body: { error: 'invalid_payout', problems: [`amount "${input.amount}" is not a decimal number`] } };
  }
  return inTransaction(db, async (trx) => {
    const account: { brand: string } | undefined = await trx(t('credit_accounts')).where({ account_id: input.accountId, currency: input.currency }).first('brand');
    if (!account) return { status: 404, body: { error: 'no_credit_balance', problems: [`account ${input.accountId} has no credit balance in ${input.currency}`] } };
    const balances = await lockCreditAccounts(trx, [{ brand: account.brand, accountId: input.accountId, currency: input.currency }]);
    const earlier: { amount: string } | undefined = await trx(t('credit_entries')).where({ entry_id: entryId }).first('amount');
    if (earlier) {
      if (new Decimal(earlier.amount).negated().eq(amount)) return { status: 200, body: { entryId, duplicate: true } };
      return { status: 409, body: { error: 'idempotency_conflict', problems: [`payout ${input.reference} was recorded with amount ${new Decimal(earlier.amount).negated().toFixed()}`] } };
    }
    const balance = balances.get(creditKey(input.accountId, input.currency))!;
    const problems = payoutProblems(balance, amount, input.currency);
    if (problems.length > 0) return { status: 422, body: { error: 'invalid_payout', problems } };
    await addCreditEntry(trx, {
      entryId, brand: account.brand, accountId: input.accountId, currency: input.currency, source: 'paid_out', amount: amount.negated(),
      invoiceId: null, reference: input.reference, recordedBy: input.recordedBy, at: now,
    });
    return { status: 201, body: { entryId, balance: balance.minus(amount).toFixed(minorUnits(input.currency)) } };
  });
}

/**
 * The brand's policy at cancellation (domain/credit CreditAtCancellation): with `refund`, every
 * account of the brand with credit left and no active subscription has its balance taken off
 * the ledger (a `refund` entry, so nothing else can use it) and asked of collect on
 * brand.<code>.credit-refunds through the outbox, in one transaction per account. Collect's
 * answer comes back on the payments topic; what it could not refund returns as
 * `refund_reversed`. Returns the requests made.
 */
export async function requestCreditRefunds(db: Knex, brand: Brand, tables: ReferenceTables, now: Date): Promise<CreditRefundRecord[]> {
  if (brand.creditAtCancellation !== 'refund') return [];
  const positive = (await db(t('credit_entries'))
    .where({ brand: brand.code })
    .select('account_id', 'currency')
    .groupBy('account_id', 'currency')
    .havingRaw('sum(amount) > 0')) as { account_id: string; currency: string }[];
  const closed = positive.filter((p) => {
    const subscriptions = tables.subscriptionsOf(brand.code).filter((s) => s.accountId === p.account_id);
    return tables.customer(p.account_id) !== undefined && subscriptions.every((s) => s.status === 'cancelled');
  });
  const requests: CreditRefundRecord[] = [];
  for (const p of closed) {
    const request = await inTransaction(db, async (trx) => {
      const balance = (await lockCreditAccounts(trx, [{ brand: brand.code, accountId: p.account_id, currency: p.currency }])).get(creditKey(p.account_id, p.currency))!;
      if (balance.lte(0)) return undefined;
      // Collect said the rest could not go back through the gateway, and nothing came since: ops pay it out.
      const latest: { source: string } | undefined = await trx(t('credit_entries')).where({ account_id: p.account_id, currency: p.currency }).orderBy('seq', 'desc').first('source');
      if (latest?.source === 'refund_reversed') return undefined;
      const [counted] = await trx(t('credit_entries')).where({ account_id: p.account_id, currency: p.currency, source: 'refund' }).count({ n: '*' });
      const requestId = `credit-refund-${p.account_id}-${p.currency}-${Number(counted!.n) + 1}`;
      const record: CreditRefundRecord = { requestId, brand: brand.code, accountId: p.account_id, currency: p.currency, amount: balance, requestedAt: now.getTime(), reason: 'account closed: credit balance refunded' };
      await addCreditEntry(trx, { entryId: requestId, brand: brand.code, accountId: p.account_id, currency: p.currency, source: 'refund', amount: balance.negated(), invoiceId: null, reference: requestId, recordedBy: null, at: now });
      await enqueue(trx, SCHEMA, [{ topic: brandTopics(brand.code).creditRefunds.name, schema: 'credit.refund', key: p.account_id, eventId: requestId, brand: brand.code, payload: record }]);
      return record;
    });
    if (request) requests.push(request);
  }
  return requests;
}
