import { DateTime } from 'luxon';
import { html, money, query, type Html } from '../html.ts';
import { errorBox } from '../layout.ts';
import { ServiceError } from '../services.ts';
import { visibleBrands, PAGE_SIZE, type PageContext } from './context.ts';

interface CollectInvoice { invoice_id: string; invoice_number: string; brand: string; account_id: string; currency: string; total: string; due_at: string; payment_status: string; collection: string; next_attempt_on: string | null; stop_reason: string | null }
interface CollectDetail { invoice: CollectInvoice & { state?: unknown }; attempts: { attempt: number; status: string | null; amount?: string; created_at?: string; error_code?: string | null }[]; payments: { payment_id: string; amount: string; currency: string; paid_at: string; method_label: string }[]; refunds: { n: number; amount: string; status: string; reason: string }[]; creditNotes: { n: number; amount: string; reason: string; settle?: string }[] }
interface BilledInvoice { invoice_id: string; invoice_number: string; brand: string; account_id: string; subscription_id: string; issued_at: string; due_at: string; currency: string; total: string; kind?: string }

export const COLLECTION_STATES = ['due', 'awaiting_webhook', 'retry_scheduled', 'settling', 'no_payment_method', 'stopped', 'paid'];
export const PAYMENT_STATUSES = ['open', 'pending', 'partially_paid', 'paid', 'partially_refunded', 'refunded'];

const option = (value: string, selected: string | undefined, label = value) => html`<option value="${value}"${value === selected ? html` selected` : ''}>${label}</option>`;

/** Invoices with where collection stands, filtered and paged on the server (collect's list, by invoice id). */
export async function invoicesPage(ctx: PageContext, q: { brand?: string; collection?: string; paymentStatus?: string; accountId?: string; after?: string }): Promise<Html> {
  const brands = visibleBrands(ctx);
  const listed = await ctx.client.tryGet<{ invoices: CollectInvoice[] }>('collect', '/invoices', { brand: q.brand, collection: q.collection, paymentStatus: q.paymentStatus, accountId: q.accountId, after: q.after, limit: PAGE_SIZE + 1 });
  const rows = listed.ok ? listed.value.invoices : [];
  const shown = rows.slice(0, PAGE_SIZE);
  const filters = { brand: q.brand, collection: q.collection, paymentStatus: q.paymentStatus, accountId: q.accountId };
  return html`
<form method="get" action="/invoices" aria-label="Filter invoices">
${brands.length > 1 ? html`<label for="brand">Brand</label><select id="brand" name="brand">${option('', q.brand, 'Every brand')}${brands.map((b) => option(b.code, q.brand))}</select>` : ''}
<label for="collection">Collection</label><select id="collection" name="collection">${option('', q.collection, 'Any')}${COLLECTION_STATES.map((s) => option(s, q.collection))}</select>
<label for="paymentStatus">Payment status</label><select id="paymentStatus" name="paymentStatus">${option('', q.paymentStatus, 'Any')}${PAYMENT_STATUSES.map((s) => option(s, q.paymentStatus))}</select>
<label for="accountId">Account id</label><input id="accountId" name="accountId" value="${q.accountId ?? ''}">
<button type="submit">Filter</button></form>
${listed.ok ? '' : errorBox(`collect: ${listed.error.message}`)}
<table aria-label="Invoices"><thead><tr><th scope="col">Invoice</th><th scope="col">Brand</th><th scope="col">Account</th><th scope="col">Due</th><th scope="col" class="num">Total</th><th scope="col">Payment</th><th scope="col">Collection</th></tr></thead><tbody>
${shown.map((i) => html`<tr><td><a href="/invoices/${encodeURIComponent(i.invoice_id)}">${i.invoice_number}</a></td><td>${i.brand}</td><td><a href="/accounts/${encodeURIComponent(i.account_id)}">${i.account_id}</a></td><td>${i.due_at.slice(0, 10)}</td><td class="num">${money(i.total, i.currency)}</td><td>${i.payment_status}</td><td class="${['stopped', 'no_payment_method'].includes(i.collection) ? 'action' : ''}">${i.collection}${i.stop_reason ? `: ${i.stop_reason}` : ''}</td></tr>`)}
</tbody></table>
<nav class="pager" aria-label="Pages">${q.after ? html`<a href="/invoices${query(filters)}">First page</a>` : ''}${rows.length > PAGE_SIZE ? html`<a href="/invoices${query({ ...filters, after: shown[shown.length - 1]!.invoice_id })}" rel="next">Next page</a>` : ''}</nav>`;
}

export type InvoiceAction = 'credit-note' | 'refund' | 'manual-payment';
export const actionTitles: Record<InvoiceAction, string> = { 'credit-note': 'Issue a credit note', refund: 'Refund', 'manual-payment': 'Record a cheque or wire' };

/** The form of an action, filled with what was typed, with the service's problems beside their fields. */
function actionForm(ctx: PageContext, invoiceId: string, action: InvoiceAction, values: Record<string, string>, problems: { path: string; message: string }[] = []): Html {
  const fieldError = (name: string) => problems.filter((p) => p.path === name || p.path.endsWith(`.${name}`)).map((p) => html`<span class="field-error" id="${action}-${name}-error">${p.message}</span>`);
  const input = (name: string, label: string, attrs: Html = html``) => html`<label for="${action}-${name}">${label}</label><input id="${action}-${name}" name="${name}" value="${values[name] ?? ''}" ${attrs}>${fieldError(name)}`;
  return html`<form method="post" action="/invoices/${encodeURIComponent(invoiceId)}/${action}" aria-label="${actionTitles[action]}">
<input type="hidden" name="formToken" value="${ctx.session.formToken}">
${input('amount', 'Amount', html`inputmode="decimal" required`)}
${action === 'manual-payment'
  ? html`<label for="${action}-methodType">Method</label><select id="${action}-methodType" name="methodType">${option('cheque', values.methodType)}${option('wire', values.methodType)}</select>${input('reference', 'Cheque number or bank reference', html`required`)}`
  : input('reason', 'Reason', html`required`)}
${action === 'credit-note' ? html`<label for="${action}-settle">What was already paid goes</label><select id="${action}-settle" name="settle">${option('credit_balance', values.settle, "to the customer's credit balance")}${option('refund', values.settle, 'back to the card (refund)')}</select>` : ''}
<p><button type="submit">${actionTitles[action]}…</button> <span class="muted">You confirm on the next page.</span></p></form>`;
}

/** One invoice: amounts and collection, its documents as the customer sees them, and the money actions. */
export async function invoicePage(ctx: PageContext, invoiceId: string, forms: Partial<Record<InvoiceAction, { values: Record<string, string>; problems: { path: string; message: string }[]; message?: string }>> = {}, notice?: string): Promise<{ title: string; body: Html } | undefined> {
  const [billed, detail] = await Promise.all([
    ctx.client.tryGet<{ invoices: BilledInvoice[] }>('billrun', '/invoices', { invoiceId }),
    ctx.client.tryGet<CollectDetail>('collect', `/invoices/${encodeURIComponent(invoiceId)}`),
  ]);
  const invoice = billed.ok ? billed.value.invoices[0] : undefined;
  if (!invoice && !(detail.ok)) return undefined;
  const brand = ctx.tables.brand(invoice?.brand ?? (detail.ok ? detail.value.invoice.brand : ''));
  const when = (iso: string) => DateTime.fromISO(iso, { zone: brand?.timeZone ?? 'UTC' }).toFormat('yyyy-LL-dd HH:mm');
  const c = detail.ok ? detail.value : undefined;
  const number = invoice?.invoice_number ?? c?.invoice.invoice_number ?? invoiceId;
  const body = html`
${notice ? html`<div class="notice" role="status">${notice}</div>` : ''}
${billed.ok ? '' : errorBox(`billrun: ${billed.error.message}`)}${detail.ok || detail.error.status === 404 ? '' : errorBox(`collect: ${detail.error.message}`)}
<dl><dt>Invoice</dt><dd>${number} <span class="muted">(${invoiceId})</span></dd>
${invoice ? html`<dt>Account</dt><dd><a href="/accounts/${encodeURIComponent(invoice.account_id)}">${invoice.account_id}</a></dd><dt>Subscription</dt><dd>${invoice.subscription_id}</dd><dt>Issued</dt><dd>${when(invoice.issued_at)}</dd><dt>Due</dt><dd>${when(invoice.due_at)}</dd><dt>Total</dt><dd>${money(invoice.total, invoice.currency)}</dd>` : ''}
${c ? html`<dt>Payment status</dt><dd data-test="payment-status">${c.invoice.payment_status}</dd><dt>Collection</dt><dd>${c.invoice.collection}${c.invoice.next_attempt_on ? ` (next attempt ${c.invoice.next_attempt_on})` : ''}${c.invoice.stop_reason ? `: ${c.invoice.stop_reason}` : ''}</dd>` : ''}</dl>
<p>As the customer sees it: <a href="/invoices/${encodeURIComponent(invoiceId)}/document.html">HTML</a> · <a href="/invoices/${encodeURIComponent(invoiceId)}/document.pdf" data-test="invoice-pdf">PDF</a></p>
${c ? html`<h2>Payments</h2><table aria-label="Payments"><thead><tr><th scope="col">Payment</th><th scope="col">Paid</th><th scope="col">Method</th><th scope="col" class="num">Amount</th></tr></thead><tbody>${c.payments.map((p) => html`<tr><td>${p.payment_id}</td><td>${when(p.paid_at)}</td><td>${p.method_label}</td><td class="num">${money(p.amount, p.currency)}</td></tr>`)}</tbody></table>
<h2>Refunds and credit notes</h2><table aria-label="Refunds and credit notes"><thead><tr><th scope="col">What</th><th scope="col" class="num">Amount</th><th scope="col">Reason</th><th scope="col">Status</th></tr></thead><tbody>
${c.refunds.map((r) => html`<tr><td>refund ${r.n}</td><td class="num">${invoice ? money(r.amount, invoice.currency) : r.amount}</td><td>${r.reason}</td><td>${r.status}</td></tr>`)}
${c.creditNotes.map((n) => html`<tr data-test="credit-note"><td>credit note ${n.n}</td><td class="num">${invoice ? money(n.amount, invoice.currency) : n.amount}</td><td>${n.reason}</td><td>${n.settle ?? ''}</td></tr>`)}</tbody></table>
<h2>Actions</h2><p class="muted">Each is recorded by collect with your key's id (<a href="/audit">audit trail</a>).</p>
<div class="cards">${(['credit-note', 'refund', 'manual-payment'] as const).map((a) => html`<div class="card"><h3>${actionTitles[a]}</h3>${errorBox(forms[a]?.message, forms[a]?.problems ?? [])}${actionForm(ctx, invoiceId, a, forms[a]?.values ?? {}, forms[a]?.problems ?? [])}</div>`)}</div>` : html`<p class="muted">collect has not received this invoice yet.</p>`}`;
  return { title: `Invoice ${number}`, body };
}

/** The confirmation step: what will happen, with the same values posted again and `confirm`. */
export function confirmPage(ctx: PageContext, invoiceId: string, action: InvoiceAction, values: Record<string, string>): Html {
  const what =
    action === 'credit-note'
      ? `Credit ${values.amount} on invoice ${invoiceId} (${values.reason}); what was already paid goes ${values.settle === 'refund' ? 'back to the card' : "to the customer's credit balance"}.`
      : action === 'refund'
        ? `Refund ${values.amount} of what was paid on invoice ${invoiceId} (${values.reason}).`
        : `Record a ${values.methodType} of ${values.amount} (${values.reference}) against invoice ${invoiceId}.`;
  return html`<p data-test="confirm-text">${what}</p>
<form method="post" action="/invoices/${encodeURIComponent(invoiceId)}/${action}">
<input type="hidden" name="formToken" value="${ctx.session.formToken}"><input type="hidden" name="confirm" value="yes">
${Object.entries(values).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}
<button type="submit">Confirm: ${actionTitles[action]}</button> <a href="/invoices/${encodeURIComponent(invoiceId)}">Cancel</a></form>`;
}

/** Sends a confirmed action to collect with the signed-in key; collect validates, records the key id in its audit trail and answers. */
export async function performAction(ctx: PageContext, invoiceId: string, action: InvoiceAction, values: Record<string, string>): Promise<{ ok: true; message: string } | { ok: false; message: string; problems: { path: string; message: string }[] }> {
  const who = ctx.session.principal.kind === 'parent' ? `console (parent key ${ctx.session.principal.keyId})` : `console (${ctx.session.principal.brand} key ${ctx.session.principal.keyId})`;
  const call =
    action === 'credit-note'
      ? ctx.client.post('collect', '/credit-notes', { invoiceId, amount: values.amount, reason: values.reason, settle: values.settle === 'refund' ? 'refund' : 'credit_balance' })
      : action === 'refund'
        ? ctx.client.post('collect', '/refunds', { invoiceId, amount: values.amount, reason: values.reason })
        : ctx.client.post('collect', '/payments/manual', { invoiceId, amount: values.amount, methodType: values.methodType === 'wire' ? 'wire' : 'cheque', meta: values.methodType === 'wire' ? { bank_reference: values.reference } : { cheque_number: values.reference }, recordedBy: who });
  try {
    await call;
    return { ok: true, message: `${actionTitles[action]}: done.` };
  } catch (err) {
    if (!(err instanceof ServiceError)) throw err;
    return { ok: false, message: `${err.service} refused: ${err.message}`, problems: err.problems.map((p) => ({ path: p.path.replace(/^body\.?/, ''), message: p.message })) };
  }
}

interface AuditEvent { id: string; at: string; keyId: string; keyBrand: string | null; operation: string; method: string; path: string; status: number }

/** Who moved money: collect's and bill-run's audit trails, newest last, as the key may see them. */
export async function auditPage(ctx: PageContext): Promise<Html> {
  const sources = ['collect', 'billrun', 'ageing', 'ingest', 'drawdown', 'catalog'] as const;
  const trails = await Promise.all(sources.map((s) => ctx.client.tryGet<{ items: AuditEvent[] }>(s, '/audit-events', { limit: 1000 })));
  return html`${sources.map((s, i) => {
    const t = trails[i]!;
    if (!t.ok) return errorBox(`${s}: ${t.error.message}`);
    const events = t.value.items.slice(-50).reverse();
    return html`<h2>${s}</h2><table aria-label="${s} audit events"><thead><tr><th scope="col">When</th><th scope="col">Key id</th><th scope="col">Call</th><th scope="col">Status</th></tr></thead><tbody>
${events.map((e) => html`<tr data-test="audit-event"><td>${e.at}</td><td>${e.keyId}${e.keyBrand ? ` (${e.keyBrand})` : ''}</td><td>${e.method} ${e.path}</td><td>${e.status}</td></tr>`)}</tbody></table>`;
  })}`;
}
