import { Decimal } from 'decimal.js';
import { DateTime } from 'luxon';
import { columnChart, rowChart } from '../charts.ts';
import { html, type Html } from '../html.ts';
import { errorBox, minutes } from '../layout.ts';
import { visibleBrands, type PageContext } from './context.ts';

interface UsageDay { day: string; calls: number; billableSeconds: number; overageSeconds: number; amount: string; currency: string }
interface RevenueDay { day: string; invoices: number; total: string; currency: string }
interface CollectionSummary { brand: string; byPaymentStatus: Record<string, number> }

/** Below this share of invoices paid, a brand's collection bar is red. */
const COLLECTION_ACTION = new Decimal('0.8');

/** Every day of [first, last] in the zone, so a day without usage shows as a gap, not a missing column. */
function daysOf(first: DateTime, last: DateTime): string[] {
  const out: string[] = [];
  for (let d = first; d <= last; d = d.plus({ days: 1 })) out.push(d.toISODate()!);
  return out;
}

/** Charts: one brand's usage and revenue per day in its zone, and the collection rate of every brand the key sees. */
export async function chartsPage(ctx: PageContext, q: { brand?: string; days?: string }): Promise<Html> {
  const brands = visibleBrands(ctx);
  const brand = brands.find((b) => b.code === q.brand) ?? brands[0];
  if (!brand) return html`<p>No brand to chart.</p>`;
  const span = [7, 30, 90].includes(Number(q.days)) ? Number(q.days) : 30;
  const last = DateTime.fromMillis(ctx.now, { zone: brand.timeZone }).startOf('day');
  const first = last.minus({ days: span - 1 });
  const window = { brand: brand.code, from: first.toUTC().toISO()!, to: last.plus({ days: 1 }).toUTC().toISO()!, zone: brand.timeZone };
  const [usage, revenue, collection] = await Promise.all([
    ctx.client.tryGet<{ days: UsageDay[] }>('drawdown', '/usage-by-day', window),
    ctx.client.tryGet<{ days: RevenueDay[] }>('billrun', '/revenue-by-day', window),
    ctx.client.tryGet<{ brands: CollectionSummary[] }>('collect', '/collection-summary'),
  ]);
  const days = daysOf(first, last);
  const usageOf = new Map((usage.ok ? usage.value.days : []).filter((d) => d.currency === brand.currency).map((d) => [d.day, d]));
  const revenueOf = new Map((revenue.ok ? revenue.value.days : []).filter((d) => d.currency === brand.currency).map((d) => [d.day, d]));
  const rates = (collection.ok ? collection.value.brands : []).filter((c) => brands.some((b) => b.code === c.brand)).map((c) => {
    const all = Object.values(c.byPaymentStatus).reduce((a, b) => a + b, 0);
    const paid = c.byPaymentStatus.paid ?? 0;
    const rate = all === 0 ? new Decimal(0) : new Decimal(paid).div(all);
    return { label: c.brand, value: rate, text: `${rate.mul(100).toFixed(0)}% (${paid} of ${all} invoices paid)`, alert: all > 0 && rate.lt(COLLECTION_ACTION) };
  });
  const totalSeconds = [...usageOf.values()].reduce((n, d) => n + d.billableSeconds, 0);
  const totalRevenue = [...revenueOf.values()].reduce((n, d) => n.plus(d.total), new Decimal(0));
  return html`<form method="get" action="/charts" aria-label="Chart settings">
<label for="brand">Brand</label><select id="brand" name="brand">${brands.map((b) => html`<option value="${b.code}"${b.code === brand.code ? html` selected` : ''}>${b.code}</option>`)}</select>
<label for="days">Days</label><select id="days" name="days">${[7, 30, 90].map((n) => html`<option value="${n}"${n === span ? html` selected` : ''}>${n}</option>`)}</select>
<button type="submit">Show</button></form>
<p class="muted">${brand.code}, ${first.toISODate()} to ${last.toISODate()} in ${brand.timeZone}.</p>
<h2>Usage per day</h2>
${usage.ok ? columnChart(`Billable minutes per day, ${minutes(totalSeconds)} in all`, days.map((d) => ({ label: d, value: usageOf.get(d)?.billableSeconds ?? 0, text: `${minutes(usageOf.get(d)?.billableSeconds ?? 0)} min, ${usageOf.get(d)?.calls ?? 0} calls` })), { testId: 'usage-chart' }) : errorBox(`drawdown: ${usage.error.message}`)}
<h2>Revenue per day (invoices issued)</h2>
${revenue.ok ? columnChart(`Invoiced per day, ${totalRevenue.toFixed(2)} ${brand.currency} in all`, days.map((d) => ({ label: d, value: revenueOf.get(d)?.total ?? 0, text: `${revenueOf.get(d)?.total ?? '0'} ${brand.currency}, ${revenueOf.get(d)?.invoices ?? 0} invoices` })), { testId: 'revenue-chart' }) : errorBox(`billrun: ${revenue.error.message}`)}
<h2>Collection rate</h2>
<p class="muted">Invoices paid of all invoices collect holds, per brand; red below ${COLLECTION_ACTION.mul(100).toFixed(0)}%.</p>
${collection.ok ? html`<div data-test="collection-chart">${rowChart('Share of invoices paid per brand', rates, { max: 1 })}</div>` : errorBox(`collect: ${collection.error.message}`)}`;
}
