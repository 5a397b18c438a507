import { DateTime } from 'luxon';
import type { Customer, Subscription } from '../../../domain/reference/index.ts';
import { seesBrand } from '../../../runtime/auth.ts';
import { html, money, query, type Html } from '../html.ts';
import { errorBox, minutes } from '../layout.ts';
import { pager } from './today.ts';
import { pageNumber, visibleBrands, PAGE_SIZE, type PageContext } from './context.ts';

/** A number as typed (spaces, dashes, brackets, a North American 10 or 11 digits) in E.164, or undefined if it is not one. */
export function asE164(text: string): string | undefined {
  const digits = text.replace(/[\s().-]/g, '');
  if (/^\+[1-9]\d{6,14}$/.test(digits)) return digits;
  if (/^\d{10}$/.test(digits)) return `+1${digits}`;
  if (/^1\d{10}$/.test(digits)) return `+${digits}`;
  return undefined;
}

interface InvoiceRow { invoice_id: string; invoice_number: string; brand: string; account_id: string; subscription_id: string; issued_at: string; due_at: string; currency: string; total: string; kind?: string }

/**
 * Finds accounts by name (part of it, any case), account id, toll-free number (who holds it now,
 * else who held it last) or invoice number (asked of bill-run), within the key's brands.
 */
async function search(ctx: PageContext, text: string, brand: string | undefined): Promise<{ customers: Customer[]; how: string }> {
  const sees = (c: Customer | undefined): c is Customer => c !== undefined && seesBrand(ctx.session.principal, c.brand) && (brand === undefined || c.brand === brand);
  const t = text.trim();
  if (t === '') return { customers: visibleCustomers(ctx, brand), how: 'all' };
  const byId = ctx.tables.customer(t);
  if (sees(byId)) return { customers: [byId], how: 'account id' };
  const number = asE164(t);
  if (number) {
    const history = ctx.tables.numberHistory(number);
    const holder = history ? (ctx.tables.resolveNumber(number, ctx.now) ?? [...history.assignments].sort((a, b) => b.effectiveFrom - a.effectiveFrom)[0]) : undefined;
    const customer = holder ? ctx.tables.customer(holder.accountId) : undefined;
    if (sees(customer)) return { customers: [customer], how: `number ${number}` };
  }
  if (/\d/.test(t) && !/\s/.test(t)) {
    const found = await ctx.client.tryGet<{ invoices: InvoiceRow[] }>('billrun', '/invoices', { invoiceNumber: t, ...(brand ? { brand } : {}) });
    const invoice = found.ok ? found.value.invoices[0] : undefined;
    const customer = invoice ? ctx.tables.customer(invoice.account_id) : undefined;
    if (sees(customer)) return { customers: [customer], how: `invoice ${t}` };
  }
  const needle = t.toLowerCase();
  return { customers: visibleCustomers(ctx, brand).filter((c) => c.name.toLowerCase().includes(needle) || (c.externalId ?? '').toLowerCase() === needle), how: 'name' };
}

const visibleCustomers = (ctx: PageContext, brand: string | undefined) =>
  ctx.tables.customers(brand).filter((c) => seesBrand(ctx.session.principal, c.brand)).sort((a, b) => a.name.localeCompare(b.name) || a.accountId.localeCompare(b.accountId));

export async function customersPage(ctx: PageContext, q: { q?: string; brand?: string; page?: string }): Promise<Html> {
  const brands = visibleBrands(ctx);
  const brand = q.brand && brands.some((b) => b.code === q.brand) ? q.brand : undefined;
  const { customers, how } = await search(ctx, q.q ?? '', brand);
  const page = pageNumber(q.page);
  const shown = customers.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
  return html`
<form method="get" action="/customers" role="search">
<label for="q">Name, account id, toll-free number or invoice number</label>
<input id="q" name="q" value="${q.q ?? ''}" size="40" autofocus>
${brands.length > 1 ? html`<label for="brand">Brand</label><select id="brand" name="brand"><option value="">Every brand</option>${brands.map((b) => html`<option value="${b.code}"${b.code === brand ? html` selected` : ''}>${b.code}</option>`)}</select>` : ''}
<button type="submit">Search</button></form>
<p class="muted" data-test="result-count">${customers.length} account${customers.length === 1 ? '' : 's'}${q.q ? ` found by ${how}` : ''}</p>
<table aria-label="Accounts"><thead><tr><th scope="col">Name</th><th scope="col">Account</th><th scope="col">Brand</th><th scope="col">Email</th></tr></thead><tbody>
${shown.map((c) => html`<tr><td><a href="/accounts/${encodeURIComponent(c.accountId)}">${c.name}</a></td><td>${c.accountId}</td><td>${c.brand}</td><td>${c.email}</td></tr>`)}
</tbody></table>
${pager(page, customers.length, (p) => `/customers${query({ q: q.q, brand, page: p })}`)}`;
}

interface Period { periodIndex: number; periodStart: string; periodEnd: string; planId: string; planVersion: number; buckets: { bucketId: string; usageType: string; granted: number; remaining: number }[]; overageSeconds: Record<string, number> }
interface CollectInvoice { invoice_id: string; invoice_number: string; payment_status: string; collection: string; next_attempt_on: string | null; stop_reason: string | null; total: string; currency: string }
interface CreditStatement { balances: { currency: string; balance: string }[]; entries: { source: string; amount: string; currency?: string; invoiceId: string | null; at?: string; createdAt?: string }[] }
interface Dunning { account: { status: string } | null; events: { step: string; invoice_id: string; local_date: string }[] }

/** One account: subscriptions with plan, numbers with their history, minutes left as drawdown holds them, invoices, payments, credit, dunning. */
export async function accountPage(ctx: PageContext, accountId: string): Promise<{ title: string; body: Html } | undefined> {
  const customer = ctx.tables.customer(accountId);
  if (!customer || !seesBrand(ctx.session.principal, customer.brand)) return undefined;
  const brand = ctx.tables.brand(customer.brand);
  const zone = brand?.timeZone ?? 'UTC';
  const subscriptions = ctx.tables.subscriptionsOf(customer.brand).filter((s) => s.accountId === accountId).sort((a, b) => a.subscriptionId.localeCompare(b.subscriptionId));
  const subscriptionIds = new Set(subscriptions.map((s) => s.subscriptionId));
  const numbers = ctx.tables.numberHistories().filter((n) => n.assignments.some((a) => subscriptionIds.has(a.subscriptionId)));
  const [invoices, collection, credit, dunning, ...periods] = await Promise.all([
    ctx.client.tryGet<{ invoices: InvoiceRow[] }>('billrun', '/invoices', { accountId, limit: 50 }),
    ctx.client.tryGet<{ invoices: CollectInvoice[] }>('collect', '/invoices', { accountId, limit: 50 }),
    ctx.client.tryGet<CreditStatement>('billrun', `/credit-balances/${encodeURIComponent(accountId)}`),
    ctx.client.tryGet<Dunning>('ageing', `/accounts/${encodeURIComponent(accountId)}`),
    ...subscriptions.map((s) => ctx.client.tryGet<{ periods: Period[] }>('drawdown', `/subscriptions/${encodeURIComponent(s.subscriptionId)}/periods`, { limit: 1 })),
  ]);
  const when = (ms: number | string) => DateTime.fromMillis(typeof ms === 'string' ? Date.parse(ms) : ms, { zone }).toFormat('yyyy-LL-dd HH:mm');
  const byInvoice = new Map((collection.ok ? collection.value.invoices : []).map((i) => [i.invoice_id, i]));
  const notFoundIsNone = <T,>(o: typeof credit | typeof dunning) => (!o.ok && o.error.status === 404 ? undefined : o);
  const creditOutcome = notFoundIsNone(credit) as typeof credit | undefined;
  const dunningOutcome = notFoundIsNone(dunning) as typeof dunning | undefined;

  const subscriptionBlock = (s: Subscription, i: number): Html => {
    const plan = ctx.tables.plan(s.planId, s.planVersion);
    const outcome = periods[i]!;
    const period = outcome.ok ? outcome.value.periods[0] : undefined;
    const current = period && Date.parse(period.periodStart) <= ctx.now && ctx.now < Date.parse(period.periodEnd);
    const grants = [...(plan?.grants ?? []), ...s.addOnGrants];
    return html`<section aria-labelledby="sub-${i}"><h3 id="sub-${i}">${s.subscriptionId}: ${plan?.name ?? s.planId} (plan ${s.planId} v${s.planVersion}), ${s.status}</h3>
<dl><dt>Anniversary</dt><dd>${when(s.anchor)} (${zone})</dd><dt>Monthly fee</dt><dd>${plan ? `${plan.monthlyFee.toString()} ${plan.currency}` : '?'}</dd>
${s.cancelledAt ? html`<dt>Cancelled</dt><dd>${when(s.cancelledAt)}</dd>` : ''}</dl>
${outcome.ok ? '' : errorBox(`minutes left: ${outcome.error.message}`)}
<table aria-label="Included minutes of ${s.subscriptionId}"><thead><tr><th scope="col">Bucket</th><th scope="col">Usage type</th><th scope="col">Period</th><th scope="col" class="num">Included minutes</th><th scope="col" class="num">Minutes left</th><th scope="col" class="num">Overage minutes</th></tr></thead><tbody>
${period
  ? period.buckets.map((b) => html`<tr data-bucket="${b.bucketId}"><td>${b.bucketId}</td><td>${b.usageType}</td><td>${when(period.periodStart)} to ${when(period.periodEnd)}${current ? '' : html` <span class="muted">(latest with usage)</span>`}</td><td class="num">${minutes(b.granted)}</td><td class="num" data-test="minutes-left">${minutes(b.remaining)}</td><td class="num">${minutes(period.overageSeconds[b.usageType] ?? 0)}</td></tr>`)
  : grants.map((g) => html`<tr data-bucket="${g.bucketId}"><td>${g.bucketId}</td><td>${g.usageType}</td><td>no usage drawn yet</td><td class="num">${minutes(g.seconds)}</td><td class="num" data-test="minutes-left">${minutes(g.seconds)}</td><td class="num">0</td></tr>`)}
</tbody></table></section>`;
  };

  const body = html`
<dl><dt>Account</dt><dd>${customer.accountId}</dd><dt>Brand</dt><dd>${customer.brand}</dd><dt>Email</dt><dd>${customer.email}</dd>
<dt>Payment method</dt><dd>${customer.defaultPaymentMethod ? `${customer.defaultPaymentMethod.label} (${customer.defaultPaymentMethod.gateway})` : html`<span class="action">none</span>`}</dd>
<dt>Credit balance</dt><dd data-test="credit-balance">${creditOutcome === undefined ? '0.00' : creditOutcome.ok ? creditOutcome.value.balances.map((b) => `${b.balance} ${b.currency}`).join(', ') || '0.00' : creditOutcome.error.message}</dd>
<dt>Dunning</dt><dd data-test="dunning">${dunningOutcome === undefined ? 'not in dunning' : dunningOutcome.ok ? html`${dunningOutcome.value.account?.status ?? 'current'}${dunningOutcome.value.events.length > 0 ? html`: ${dunningOutcome.value.events.map((e) => `${e.step} on ${e.local_date} (${e.invoice_id})`).join('; ')}` : ''}` : dunningOutcome.error.message}</dd></dl>
<p><a href="/usage${query({ accountId })}">Calls and how each was rated</a></p>
<h2>Subscriptions</h2>
${subscriptions.length === 0 ? html`<p>No subscription.</p>` : subscriptions.map(subscriptionBlock)}
<h2>Numbers</h2>
<table aria-label="Numbers"><thead><tr><th scope="col">Number</th><th scope="col">Assignments (oldest first)</th></tr></thead><tbody>
${numbers.map((n) => html`<tr><td>${n.number}</td><td><ul>${n.assignments.map((a) => html`<li>${a.subscriptionId}${a.accountId === accountId ? '' : ` (account ${a.accountId})`}: ${when(a.effectiveFrom)} to ${a.effectiveTo === null ? 'now' : when(a.effectiveTo)}</li>`)}</ul></td></tr>`)}
</tbody></table>
<h2>Invoices and payments</h2>
${invoices.ok ? '' : errorBox(`invoices: ${invoices.error.message}`)}${collection.ok ? '' : errorBox(`collection: ${collection.error.message}`)}
<table aria-label="Invoices"><thead><tr><th scope="col">Invoice</th><th scope="col">Issued</th><th scope="col">Due</th><th scope="col" class="num">Total</th><th scope="col">Payment</th><th scope="col">Collection</th></tr></thead><tbody>
${(invoices.ok ? invoices.value.invoices : []).map((i) => {
  const c = byInvoice.get(i.invoice_id);
  return html`<tr><td><a href="/invoices/${encodeURIComponent(i.invoice_id)}">${i.invoice_number}</a></td><td>${when(i.issued_at)}</td><td>${when(i.due_at)}</td><td class="num">${money(i.total, i.currency)}</td><td>${c?.payment_status ?? '?'}</td><td class="${c && ['stopped', 'no_payment_method'].includes(c.collection) ? 'action' : ''}">${c?.collection ?? '?'}${c?.stop_reason ? `: ${c.stop_reason}` : ''}</td></tr>`;
})}
</tbody></table>
${creditOutcome?.ok && creditOutcome.value.entries.length > 0 ? html`<h2>Credit ledger</h2><table aria-label="Credit ledger"><thead><tr><th scope="col">Entry</th><th scope="col" class="num">Amount</th><th scope="col">Invoice</th></tr></thead><tbody>${creditOutcome.value.entries.map((e) => html`<tr><td>${e.source}</td><td class="num">${e.amount}</td><td>${e.invoiceId ?? ''}</td></tr>`)}</tbody></table>` : ''}`;
  return { title: `${customer.name}`, body };
}

export { visibleBrands };
