import { DateTime } from 'luxon';
import { html, type Html } from '../html.ts';
import { errorBox } from '../layout.ts';
import { ServiceError } from '../services.ts';
import { visibleBrands, type PageContext } from './context.ts';

interface Difference { eventId: string; subscriptionId: string; periodStart: string; usageType: string; kind: string; includedSeconds: number; overageSeconds: number; amount: string; currency: string }
interface Adjustment { subscriptionId: string; periodStart: string; includedSeconds: number; overageSeconds: number; amount: string; currency: string; calls: number }
interface RerateAnswer { ratingVersion: number; periods: string[]; usages: number; differences: Difference[]; adjustments: Adjustment[]; rejections: number; committed: boolean; note?: string }

/** What the form names: one of brand, account or subscription, and the days (in the brand's zone) whose periods are re-rated. */
export interface RerateForm { scope?: string; id?: string; from?: string; to?: string }

const signed = (n: number) => (n > 0 ? `+${n}` : String(n));

function zoneOf(ctx: PageContext, form: RerateForm): string {
  const brand = form.scope === 'brand' ? form.id : form.scope === 'account' ? ctx.tables.customer(form.id ?? '')?.brand : ctx.tables.subscription(form.id ?? '')?.brand;
  return (brand && ctx.tables.brand(brand)?.timeZone) || 'UTC';
}

function rerateForm(ctx: PageContext, form: RerateForm, zone: string, problems: { path: string; message: string }[] = []): Html {
  const today = DateTime.fromMillis(ctx.now, { zone }).toISODate()!;
  const brands = visibleBrands(ctx);
  return html`<form method="post" action="/rerate" aria-label="Re-rate">
<input type="hidden" name="formToken" value="${ctx.session.formToken}">
<label for="scope">Re-rate</label><select id="scope" name="scope">${(['brand', 'account', 'subscription'] as const).map((s) => html`<option value="${s}"${form.scope === s ? html` selected` : ''}>${s}</option>`)}</select>
<label for="id">Brand code, account id or subscription id</label><input id="id" name="id" value="${form.id ?? (brands.length === 1 ? brands[0]!.code : '')}" required>
<label for="from">Periods overlapping from (first day)</label><input id="from" name="from" type="date" value="${form.from ?? today}" required>
<label for="to">to (last day)</label><input id="to" name="to" type="date" value="${form.to ?? today}" required>
${problems.length > 0 ? html`<div class="field-error">${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}</div>` : ''}
<p><button type="submit">Dry run</button></p></form>`;
}

export function reratePage(ctx: PageContext): Html {
  return html`<p class="muted">A re-rate recomputes whole periods under the current rules and plans and compares them with the version already charged. The dry run changes nothing; applying it writes a new rating version, and the differences become adjustments on the next invoices.</p>${rerateForm(ctx, {}, 'UTC')}`;
}

/** Asks drawdown for a dry run or the real thing, with the signed-in key (drawdown checks the scope and audits the call). */
export async function runRerate(ctx: PageContext, form: RerateForm, apply: boolean): Promise<{ status: number; body: Html }> {
  const zone = zoneOf(ctx, form);
  const from = DateTime.fromISO(form.from ?? '', { zone });
  const to = DateTime.fromISO(form.to ?? '', { zone });
  const scopeKey = form.scope === 'account' ? 'accountId' : form.scope === 'subscription' ? 'subscriptionId' : 'brand';
  if (!from.isValid || !to.isValid || !form.id) return { status: 422, body: html`${errorBox('Name what to re-rate and both days.')}${rerateForm(ctx, form, zone)}` };
  let answer: RerateAnswer;
  try {
    answer = (await ctx.client.post<RerateAnswer>('drawdown', '/reratings', { [scopeKey]: form.id, from: from.toUTC().toISO(), to: to.plus({ days: 1 }).toUTC().toISO(), dryRun: !apply })).body;
  } catch (err) {
    if (!(err instanceof ServiceError)) throw err;
    return { status: 422, body: html`${errorBox(`${err.service} refused: ${err.message}`, err.problems)}${rerateForm(ctx, form, zone)}` };
  }
  const when = (iso: string) => DateTime.fromISO(iso, { zone }).toFormat('yyyy-LL-dd HH:mm');
  const outcome = answer.committed
    ? html`<p class="notice" role="status" data-test="rerate-outcome">Applied: rating version ${answer.ratingVersion} committed; ${answer.differences.length} calls changed, their adjustments go to the next invoices.</p>`
    : html`<p class="notice" role="status" data-test="rerate-outcome">${apply ? 'Nothing applied' : 'Dry run'}: ${answer.note ?? ''} (${answer.usages} calls in ${answer.periods.length} periods, would be version ${answer.ratingVersion}).</p>`;
  return {
    status: 200,
    body: html`${outcome}
${answer.rejections > 0 ? errorBox(`${answer.rejections} calls could not be re-rated (their rule or plan is missing): they keep the version already charged.`) : ''}
<h2>Adjustments per period</h2>
<table aria-label="Adjustments"><thead><tr><th scope="col">Subscription</th><th scope="col">Period from (${zone})</th><th scope="col" class="num">Calls</th><th scope="col" class="num">Included s</th><th scope="col" class="num">Overage s</th><th scope="col" class="num">Amount</th></tr></thead><tbody>
${answer.adjustments.map((a) => html`<tr data-test="adjustment"><td>${a.subscriptionId}</td><td>${when(a.periodStart)}</td><td class="num">${a.calls}</td><td class="num">${signed(a.includedSeconds)}</td><td class="num">${signed(a.overageSeconds)}</td><td class="num">${a.amount} ${a.currency}</td></tr>`)}
</tbody></table>
<h2>Differences per call</h2>
<table aria-label="Differences"><thead><tr><th scope="col">Call (event)</th><th scope="col">Subscription</th><th scope="col">Usage type</th><th scope="col">Change</th><th scope="col" class="num">Included s</th><th scope="col" class="num">Overage s</th><th scope="col" class="num">Amount</th></tr></thead><tbody>
${answer.differences.slice(0, 500).map((d) => html`<tr data-test="difference"><td>${d.eventId}</td><td>${d.subscriptionId}</td><td>${d.usageType}</td><td>${d.kind}</td><td class="num">${signed(d.includedSeconds)}</td><td class="num">${signed(d.overageSeconds)}</td><td class="num">${d.amount} ${d.currency}</td></tr>`)}
</tbody></table>
${answer.differences.length > 500 ? html`<p class="muted">The first 500 of ${answer.differences.length} differences.</p>` : ''}
${!apply && answer.differences.length > 0
  ? html`<form method="post" action="/rerate" aria-label="Apply the re-rate"><input type="hidden" name="formToken" value="${ctx.session.formToken}"><input type="hidden" name="apply" value="yes">
${Object.entries(form).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v ?? ''}">`)}
<p>Applying re-rates the same scope again and commits what it finds (it may differ from this dry run if usage arrived since).</p><button type="submit">Apply: commit rating version ${answer.ratingVersion}</button> <a href="/rerate">Cancel</a></form>`
  : ''}
<h2>Another</h2>${rerateForm(ctx, form, zone)}`,
  };
}
