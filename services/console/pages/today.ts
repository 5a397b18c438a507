import { DateTime } from 'luxon';
import { html, query, type Html } from '../html.ts';
import { errorBox } from '../layout.ts';
import { rowChart } from '../charts.ts';
import type { Outcome } from '../services.ts';
import { pageNumber, visibleBrands, PAGE_SIZE, type PageContext } from './context.ts';

interface BillRunSummary { brand: string; due: number; held: number; issuedSince: number; holds: { subscriptionId: string; periodIndex: number; code: string; message: string }[] }
interface CollectionSummary { brand: string; byCollection: Record<string, number>; byPaymentStatus: Record<string, number> }
interface DunningSummary { brand: string; byStatus: Record<string, number>; stepsSince: Record<string, number> }

/** Collection states that need a person: the run gave up, there is nothing to charge, or the brand's gateway is not set up. */
const COLLECTION_ACTION = ['stopped', 'no_payment_method', 'gateway_unavailable'];
/** Consumer lag above which a stage is shown as behind. */
const LAG_ACTION = 10_000;

const first = <T extends { brand: string }>(o: Outcome<{ brands: T[] }>, brand: string): T | undefined => (o.ok ? o.value.brands.find((b) => b.brand === brand) : undefined);
const cell = (n: number, action: boolean, href?: string) => {
  const text = href && n > 0 ? html`<a href="${href}">${n}</a>` : html`${n}`;
  return html`<td class="num${action && n > 0 ? ' action' : ''}">${text}</td>`;
};

/** Today: per brand, in its zone, what the runs did since yesterday and where a person is needed. */
export async function todayPage(ctx: PageContext, q: { page?: string; q?: string }): Promise<Html> {
  // With twenty brands and more, ops narrow the page to the brands they look after.
  const filter = (q.q ?? '').trim().toLowerCase();
  const brands = visibleBrands(ctx).filter((b) => filter === '' || b.code.toLowerCase().includes(filter) || b.name.toLowerCase().includes(filter));
  const page = pageNumber(q.page);
  const shown = brands.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
  const rows = await Promise.all(
    shown.map(async (brand) => {
      const local = DateTime.fromMillis(ctx.now, { zone: brand.timeZone });
      const since = local.startOf('day').minus({ days: 1 });
      const sinceIso = since.toUTC().toISO()!;
      const [bill, collection, dunning] = await Promise.all([
        ctx.client.tryGet<{ brands: BillRunSummary[] }>('billrun', '/bill-run-summary', { brand: brand.code, since: sinceIso }),
        ctx.client.tryGet<{ brands: CollectionSummary[] }>('collect', '/collection-summary', { brand: brand.code }),
        ctx.client.tryGet<{ brands: DunningSummary[] }>('ageing', '/dunning-summary', { brand: brand.code, since: sinceIso }),
      ]);
      const troubles = ctx.feed.list({ brand: brand.code, since: since.toMillis() });
      return { brand, local, since, bill, collection, dunning, troubles, b: first(bill, brand.code), c: first(collection, brand.code), d: first(dunning, brand.code) };
    }),
  );
  const unbranded = ctx.session.principal.kind === 'parent' ? ctx.feed.list({ since: ctx.now - 2 * 86_400_000 }).filter((t) => t.brand === null) : [];
  const lag = await ctx.lag().catch((err: unknown) => new Error((err as Error).message));
  const failures = rows.flatMap((r) => [r.bill, r.collection, r.dunning].flatMap((o) => (o.ok ? [] : [o.error]))).filter((e, i, all) => all.findIndex((x) => x.service === e.service) === i);

  return html`
${failures.map((e) => errorBox(`${e.service}: ${e.message}`))}
<p class="muted">Each brand in its own time zone; "since yesterday" is from the start of yesterday there. Red cells need a person.</p>
<form method="get" action="/" role="search"><label for="brand-filter">Brands whose code or name has</label> <input id="brand-filter" name="q" value="${q.q ?? ''}" size="24"> <button type="submit">Show</button></form>
<table aria-label="Brands today">
<thead><tr><th scope="col">Brand</th><th scope="col">Local time</th><th scope="col" class="num">Billings due</th><th scope="col" class="num">Invoices since yesterday</th><th scope="col" class="num">Held</th>
<th scope="col" class="num">Open: due</th><th scope="col" class="num">Retry scheduled</th><th scope="col" class="num">Stopped / no method / no gateway</th><th scope="col" class="num">Paid</th>
<th scope="col">Dunning (accounts)</th><th scope="col">Steps since yesterday</th><th scope="col" class="num">Rejections + dead letters</th></tr></thead>
<tbody>
${rows.map((r) => {
  const code = r.brand.code;
  const coll = r.c?.byCollection ?? {};
  const action = COLLECTION_ACTION.reduce((n, k) => n + (coll[k] ?? 0), 0);
  const suspended = (r.d?.byStatus.suspended ?? 0) + (r.d?.byStatus.cancelled ?? 0);
  return html`<tr data-brand="${code}">
<th scope="row"><a href="/customers${query({ brand: code })}">${code}</a><div class="muted">${r.brand.name}</div></th>
<td>${r.local.toFormat('yyyy-LL-dd HH:mm')} <span class="muted">${r.brand.timeZone}</span></td>
${cell(r.b?.due ?? 0, false)}
${cell(r.b?.issuedSince ?? 0, false, `/invoices${query({ brand: code })}`)}
<td class="num${(r.b?.held ?? 0) > 0 ? ' action' : ''}">${(r.b?.held ?? 0) > 0 ? html`<details><summary>${r.b!.held}</summary><ul>${r.b!.holds.map((h) => html`<li>${h.subscriptionId} #${h.periodIndex}: ${h.code}: ${h.message}</li>`)}</ul></details>` : '0'}</td>
${cell(coll.due ?? 0, false, `/invoices${query({ brand: code, collection: 'due' })}`)}
${cell(coll.retry_scheduled ?? 0, false, `/invoices${query({ brand: code, collection: 'retry_scheduled' })}`)}
${cell(action, true, `/invoices${query({ brand: code, collection: COLLECTION_ACTION.find((k) => (coll[k] ?? 0) > 0) })}`)}
${cell(coll.paid ?? 0, false)}
<td class="${suspended > 0 ? 'action' : ''}">${Object.entries(r.d?.byStatus ?? {}).map(([s, n]) => html`${s} ${n}<br>`)}</td>
<td>${Object.entries(r.d?.stepsSince ?? {}).map(([s, n]) => html`${s} ${n}<br>`) }</td>
${cell(r.troubles.length, true, `/rejections${query({ brand: code })}`)}
</tr>`;
})}
</tbody></table>
${pager(page, brands.length, (p) => `/${query({ page: p, q: q.q })}`)}
${ctx.session.principal.kind === 'parent' ? html`<h2>Rejections without a brand (last two days)</h2><p class="${unbranded.length > 0 ? 'action' : 'ok'}"><a href="/rejections?brand=none">${unbranded.length} rejected CDRs or dead letters</a> carry no brand (an unknown number, an unreadable record).</p>` : ''}
<p><a href="/charts">Charts: usage and revenue per day, collection rate</a></p>
<h2>Pipeline lag</h2>
${lag instanceof Error ? errorBox(`lag not available: ${lag.message}`) : html`<table aria-label="Consumer lag"><thead><tr><th scope="col">Consumer group</th><th scope="col">Topics</th><th scope="col" class="num">Records behind</th></tr></thead><tbody>
${lag.map((l) => html`<tr><td>${l.group}</td><td>${l.topics.join(', ')}</td><td class="num${l.lag > LAG_ACTION ? ' action' : ''}">${l.lag}</td></tr>`)}</tbody></table>${lagChart(lag)}`}`;
}

/** A bar per stage, drawn on the server. */
const lagChart = (lag: { group: string; lag: number }[]): Html => rowChart('Records behind per consumer group', lag.map((l) => ({ label: l.group, value: l.lag, text: String(l.lag), alert: l.lag > LAG_ACTION })));

export function pager(page: number, total: number | undefined, href: (page: number) => string, hasMore?: boolean): Html {
  const last = total === undefined ? undefined : Math.max(1, Math.ceil(total / PAGE_SIZE));
  const more = hasMore ?? (last !== undefined && page < last);
  return html`<nav class="pager" aria-label="Pages">${page > 1 ? html`<a href="${href(page - 1)}" rel="prev">Previous page</a>` : ''}<span>Page ${page}${last !== undefined ? ` of ${last}` : ''}</span>${more ? html`<a href="${href(page + 1)}" rel="next">Next page</a>` : ''}</nav>`;
}
