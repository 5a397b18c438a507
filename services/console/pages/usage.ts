import { DateTime } from 'luxon';
import type { IncrementRecord, RatingRuleRecord } from '../../../domain/reference/index.ts';
import { html, query, type Html } from '../html.ts';
import { errorBox } from '../layout.ts';
import { asE164 } from './customers.ts';
import { pageNumber, type PageContext } from './context.ts';
import { pager } from './today.ts';

interface ChargedCall {
  eventId: string; ratingVersion: number; subscriptionId: string; calledNumber: string | null; startTime: string | null; durationSeconds: number | null; usageType: string;
  ruleId: string | null; ruleVersion: number | null; billableSeconds: number; includedSeconds: number; overageSeconds: number; draws: { bucketId: string; seconds: number }[] | null; amount: string; currency: string;
}

const USAGE_PAGE = 100;

const increment = (i: IncrementRecord) => `${i.seconds} s ${i.rounding}${i.rounding === 'nearest' && i.tie ? ` (ties ${i.tie})` : ''}`;

/** How the rule turns a duration into billable seconds, in the words a clerk checks a call by. */
export function roundingOf(rule: RatingRuleRecord | undefined): string {
  if (!rule) return 'rule not on ref.rating-rules';
  const parts = [`first ${increment(rule.initialIncrement)}, then ${increment(rule.mainIncrement)}`];
  if (rule.minimumSeconds > 0) parts.push(`minimum ${rule.minimumSeconds} s`);
  if (rule.freeSeconds > 0) parts.push(`${rule.freeSeconds} s free (${rule.freeMode})`);
  return parts.join('; ');
}

/** The zone whose days the form's dates are: the account's brand, or the brand of the number's latest holder; else UTC. */
function zoneFor(ctx: PageContext, accountId: string | undefined, number: string | undefined): string {
  const customer = accountId ? ctx.tables.customer(accountId) : undefined;
  const holder = number ? ctx.tables.numberHistory(number)?.assignments.at(-1) : undefined;
  const brand = customer?.brand ?? holder?.brand;
  return (brand && ctx.tables.brand(brand)?.timeZone) || 'UTC';
}

/**
 * Usage: the calls of an account or a number that started in a period, each as drawdown charged
 * it (its latest rating version): the rule and its rounding, billable seconds, the buckets drawn,
 * overage and its amount.
 */
export async function usagePage(ctx: PageContext, q: { accountId?: string; number?: string; from?: string; to?: string; page?: string }): Promise<Html> {
  const accountId = q.accountId?.trim() || undefined;
  const number = q.number?.trim() ? (asE164(q.number) ?? q.number.trim()) : undefined;
  const zone = zoneFor(ctx, accountId, number);
  const today = DateTime.fromMillis(ctx.now, { zone }).startOf('day');
  const fromDay = q.from && DateTime.fromISO(q.from, { zone }).isValid ? DateTime.fromISO(q.from, { zone }) : today.minus({ days: 30 });
  const toDay = q.to && DateTime.fromISO(q.to, { zone }).isValid ? DateTime.fromISO(q.to, { zone }) : today;
  const page = pageNumber(q.page);
  const form = html`<form method="get" action="/usage" role="search" aria-label="Usage">
<label for="accountId">Account id</label><input id="accountId" name="accountId" value="${accountId ?? ''}" size="30">
<label for="number">or number</label><input id="number" name="number" value="${q.number ?? ''}" size="20">
<label for="from">From (first day)</label><input id="from" name="from" type="date" value="${fromDay.toISODate()}">
<label for="to">To (last day)</label><input id="to" name="to" type="date" value="${toDay.toISODate()}">
<button type="submit">Show usage</button></form>`;
  if (!accountId && !number) return html`${form}<p class="muted">Name an account or a number.</p>`;
  if (accountId && number) return html`${form}${errorBox('Name an account or a number, not both.')}`;
  const params = { ...(accountId ? { accountId } : { number: number! }), from: fromDay.toUTC().toISO()!, to: toDay.plus({ days: 1 }).toUTC().toISO()!, limit: USAGE_PAGE, offset: (page - 1) * USAGE_PAGE };
  const found = await ctx.client.tryGet<{ usage: ChargedCall[]; more: boolean }>('drawdown', '/usage', params);
  if (!found.ok) return html`${form}${errorBox(`drawdown: ${found.error.message}`, found.error.problems)}`;
  const calls = found.value.usage;
  const when = (iso: string | null) => (iso ? DateTime.fromISO(iso, { zone }).toFormat('yyyy-LL-dd HH:mm:ss') : '?');
  const totals = calls.reduce((t, c) => ({ billable: t.billable + c.billableSeconds, included: t.included + c.includedSeconds, overage: t.overage + c.overageSeconds }), { billable: 0, included: 0, overage: 0 });
  return html`${form}
<p class="muted" data-test="usage-count">${calls.length}${found.value.more ? '+' : ''} call${calls.length === 1 ? '' : 's'} from ${fromDay.toISODate()} to ${toDay.toISODate()} (${zone}); on this page ${totals.billable} billable s, ${totals.included} s from included buckets, ${totals.overage} s overage.</p>
<table aria-label="Charged calls"><thead><tr><th scope="col">Started (${zone})</th><th scope="col">Number</th><th scope="col">Subscription</th><th scope="col" class="num">Duration s</th><th scope="col">Rule</th><th scope="col">Rounding</th><th scope="col" class="num">Billable s</th><th scope="col">Buckets drawn</th><th scope="col" class="num">Overage s</th><th scope="col" class="num">Amount</th><th scope="col" class="num">Version</th></tr></thead><tbody>
${calls.map((c) => {
  const rule = c.ruleId && c.ruleVersion !== null ? ctx.tables.ratingRule(c.ruleId, c.ruleVersion) : undefined;
  return html`<tr data-event="${c.eventId}"><td>${when(c.startTime)}</td><td>${c.calledNumber ?? ''}</td><td>${c.subscriptionId}</td><td class="num" data-test="duration">${c.durationSeconds ?? ''}</td>
<td>${c.ruleId ? `${c.ruleId} v${c.ruleVersion}` : '?'}</td><td data-test="rounding">${roundingOf(rule)}</td><td class="num" data-test="billable">${c.billableSeconds}</td>
<td data-test="draws">${(c.draws ?? []).filter((d) => d.seconds > 0).map((d) => `${d.bucketId}: ${d.seconds} s`).join(', ') || 'none'}</td><td class="num" data-test="overage">${c.overageSeconds}</td><td class="num">${c.amount} ${c.currency}</td><td class="num">${c.ratingVersion}</td></tr>`;
})}
</tbody></table>
${pager(page, undefined, (p) => `/usage${query({ accountId, number: q.number, from: fromDay.toISODate(), to: toDay.toISODate(), page: p })}`, found.value.more)}`;
}
