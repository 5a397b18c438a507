import { topics } from '../../../topics/catalog.ts';
import { html, query, type Html } from '../html.ts';
import { ServiceError } from '../services.ts';
import { pageNumber, PAGE_SIZE, type PageContext } from './context.ts';
import { pager } from './today.ts';

/** Rejected CDRs and dead letters the console has followed (since two days before it started), newest first, with counts by reason. */
export function rejectionsPage(ctx: PageContext, q: { brand?: string; kind?: string; reason?: string; page?: string }, notice?: string): Html {
  const principal = ctx.session.principal;
  const onlyBrand = principal.kind === 'brand' ? principal.brand : undefined;
  const all = ctx.feed.list({ onlyBrand, kind: q.kind, reason: q.reason }).filter((t) => (q.brand === 'none' ? t.brand === null : !q.brand || t.brand === q.brand));
  const byReason = new Map<string, number>();
  for (const t of all) byReason.set(`${t.kind} ${t.reason}`, (byReason.get(`${t.kind} ${t.reason}`) ?? 0) + 1);
  const page = pageNumber(q.page);
  const shown = all.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
  return html`
${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
<p class="muted">Fix the cause first (e.g. assign the number in the catalogue), then redrive: the record goes back to the stage that rejected it, through ingest's API, confirmed first and recorded in ingest's audit trail. Many at once: <code>rateline redrive</code> or <code>rateline dlq redrive</code>.</p>
<table aria-label="By reason"><thead><tr><th scope="col">Kind and reason</th><th scope="col" class="num">Records</th></tr></thead><tbody>
${[...byReason.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => {
  const [kind, reason] = k.split(' ');
  return html`<tr><td><a href="/rejections${query({ brand: q.brand, kind, reason })}">${k}</a></td><td class="num">${n}</td></tr>`;
})}</tbody></table>
<table aria-label="Rejections and dead letters"><thead><tr><th scope="col">When (UTC)</th><th scope="col">Kind</th><th scope="col">Brand</th><th scope="col">Where</th><th scope="col">Reason</th><th scope="col">Detail</th><th scope="col">CDR</th><th scope="col">Record</th><th scope="col">Redrive</th></tr></thead><tbody>
${shown.map((t) => html`<tr data-record="${t.at}"><td>${new Date(t.time).toISOString().slice(0, 19).replace('T', ' ')}</td><td>${t.kind}</td><td>${t.brand ?? ''}</td><td>${t.where}</td><td>${t.reason}</td><td>${t.detail}</td><td>${t.source ?? ''}${t.cdrId ? `/${t.cdrId}` : ''}</td><td>${t.at}</td>
<td>${t.redrivable ? html`<form method="post" action="/rejections/redrive" class="inline"><input type="hidden" name="formToken" value="${ctx.session.formToken}"><input type="hidden" name="record" value="${t.at}"><button type="submit" aria-label="Redrive ${t.at}">Redrive</button></form>` : html`<span class="muted">no</span>`}</td></tr>`)}
</tbody></table>
${pager(page, all.length, (p) => `/rejections${query({ brand: q.brand, kind: q.kind, reason: q.reason, page: p })}`)}`;
}

/** `cdr.rejected:0:12` or `ops.dead-letter:1:7` as the feed lists it: which of ingest's redrive routes, and the ref it takes. */
export function redriveTarget(record: string): { path: '/rejections/redrive' | '/dead-letters/redrive'; ref: string } | undefined {
  const m = /^(.+):(\d+):(\d+)$/.exec(record);
  if (!m) return undefined;
  if (m[1] === topics.cdrRejected.name) return { path: '/rejections/redrive', ref: `${m[2]}:${m[3]}` };
  if (m[1] === topics.deadLetter.name) return { path: '/dead-letters/redrive', ref: `${m[2]}:${m[3]}` };
  return undefined;
}

/** The confirmation step: the record, why it was refused, where it goes back. */
export function confirmRedrivePage(ctx: PageContext, record: string): Html {
  const item = ctx.feed.find(record);
  return html`<p data-test="confirm-text">Send ${record}${item ? ` (${item.kind} at ${item.where}: ${item.reason}${item.cdrId ? `, CDR ${item.source ?? ''}/${item.cdrId}` : ''})` : ''} back to the stage that ${item?.kind === 'dead-letter' ? 'dead-lettered' : 'rejected'} it? Do this after fixing the cause, or it comes back the same way.</p>
<form method="post" action="/rejections/redrive"><input type="hidden" name="formToken" value="${ctx.session.formToken}"><input type="hidden" name="confirm" value="yes"><input type="hidden" name="record" value="${record}">
<button type="submit">Confirm: redrive</button> <a href="/rejections">Cancel</a></form>`;
}

interface RejectionRedrive { matched: number; notRedrivable: number; republished: Record<string, number> }
interface DeadLetterRedrive { alreadyRedriven: number; unredrivable: Record<string, number>; sent: Record<string, number> }

/** Sends the confirmed redrive to ingest with the signed-in key; ingest checks the scope and records the call in its audit trail. */
export async function performRedrive(ctx: PageContext, record: string): Promise<{ ok: boolean; message: string }> {
  const target = redriveTarget(record);
  if (!target) return { ok: false, message: `${record} is not a record of ${topics.cdrRejected.name} or ${topics.deadLetter.name}` };
  try {
    const { body } = await ctx.client.post<RejectionRedrive & DeadLetterRedrive>('ingest', target.path, { refs: [target.ref] });
    const sent = Object.entries(target.path === '/rejections/redrive' ? body.republished : body.sent);
    if (sent.length > 0) return { ok: true, message: `Redriven: ${record} sent back to ${sent.map(([t]) => t).join(', ')}.` };
    const why = target.path === '/rejections/redrive' ? (body.matched === 0 ? 'not found, or not your brand\'s' : 'it cannot go back (a file line or an unreadable record)') : body.alreadyRedriven > 0 ? 'it was already redriven' : Object.keys(body.unredrivable).join(', ') || 'not found';
    return { ok: false, message: `Nothing sent for ${record}: ${why}.` };
  } catch (err) {
    if (!(err instanceof ServiceError)) throw err;
    return { ok: false, message: `${err.service} refused: ${err.message}` };
  }
}
