import { html, query, type Html } from '../html.ts';
import { errorBox } from '../layout.ts';
import { ServiceError } from '../services.ts';
import type { PageContext } from './context.ts';

interface Page<T> { items: T[]; next: string | null }
interface Brand { code: string; name: string; country: string; currency: string; timeZone: string; billingHour: number; taxRegime: string; gateway: string; roundingMode: string; paymentTermsDays?: number; revision?: number; updatedAt?: string }
interface Plan { planId: string; version: number; owner: string; name: string; currency: string; monthlyFee: string; trialDays?: number; numberAllotment?: number; grants: { bucketId: string; usageType: string; seconds: number }[]; priceModels: { usageType: string; kind: string; unitSeconds?: number; tiers?: { upTo: number | null; unitPrice: string }[] }[] }
interface Increment { seconds: number; rounding: string }
interface Rule { ruleId: string; version: number; companyId: string; usageType: string; effectiveFrom: string; effectiveTo?: string | null; freeSeconds: number; freeMode: string; minimumSeconds: number; initialIncrement: Increment; mainIncrement: Increment; unit?: string }
interface NumberEntry { number: string; brand: string; state: string; assignments?: { subscriptionId: string; effectiveFrom: string; effectiveTo: string | null }[] }

/** A setting changed from a console form: its path in the catalogue's body (dots for nested ones) and how a typed value is sent. */
interface Setting { field: string; label: string; kind: 'text' | 'integer' }

/** The brand settings a clerk changes from the console, as the catalogue names them; the catalogue validates each. */
export const brandSettings: readonly Setting[] = [
  { field: 'name', label: 'Name', kind: 'text' },
  { field: 'timeZone', label: 'Time zone (IANA)', kind: 'text' },
  { field: 'billingHour', label: 'Bill-run hour (local, 0-23)', kind: 'integer' },
  { field: 'paymentTermsDays', label: 'Payment terms (days)', kind: 'integer' },
  { field: 'roundingMode', label: 'Rounding mode', kind: 'text' },
  { field: 'gateway', label: 'Payment gateway', kind: 'text' },
  { field: 'taxRegime', label: 'Tax regime', kind: 'text' },
];

/** What a plan's form changes; grants and price models are kept as the latest version has them. */
export const planSettings: readonly Setting[] = [
  { field: 'name', label: 'Name', kind: 'text' },
  { field: 'monthlyFee', label: 'Monthly fee', kind: 'text' },
  { field: 'trialDays', label: 'Trial days', kind: 'integer' },
  { field: 'numberAllotment', label: 'Numbers included', kind: 'integer' },
];

export const ruleSettings: readonly Setting[] = [
  { field: 'effectiveFrom', label: 'Effective from (ISO instant)', kind: 'text' },
  { field: 'freeSeconds', label: 'Free seconds', kind: 'integer' },
  { field: 'freeMode', label: 'Free seconds are (grace or deduct)', kind: 'text' },
  { field: 'minimumSeconds', label: 'Minimum seconds', kind: 'integer' },
  { field: 'initialIncrement.seconds', label: 'First increment (s)', kind: 'integer' },
  { field: 'initialIncrement.rounding', label: 'First increment rounding (up, down, nearest)', kind: 'text' },
  { field: 'mainIncrement.seconds', label: 'Then increments of (s)', kind: 'integer' },
  { field: 'mainIncrement.rounding', label: 'Their rounding (up, down, nearest)', kind: 'text' },
];

/** The fields of a plan and a rule the catalogue takes back in a PUT (its PlanInput and RatingRuleInput). */
const planInput = ['owner', 'name', 'currency', 'monthlyFee', 'trialDays', 'grants', 'priceModels', 'numberAllotment', 'commitmentDiscount'];
const ruleInput = ['companyId', 'usageType', 'effectiveFrom', 'effectiveTo', 'freeSeconds', 'freeMode', 'minimumSeconds', 'initialIncrement', 'mainIncrement', 'unit'];

const valueAt = (object: unknown, path: string): unknown => path.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), object);

/** The typed values over `base` at their paths: whole numbers as numbers, anything else as typed (the catalogue says what is wrong with it). */
function withTyped(base: Record<string, unknown>, settings: readonly Setting[], values: Record<string, string>): Record<string, unknown> {
  const out = structuredClone(base);
  for (const s of settings) {
    const raw = values[s.field];
    if (raw === undefined) continue;
    const keys = s.field.split('.');
    let at = out;
    for (const k of keys.slice(0, -1)) at = (at[k] && typeof at[k] === 'object' ? at[k] : (at[k] = {})) as Record<string, unknown>;
    at[keys.at(-1)!] = s.kind === 'integer' && /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
  }
  return out;
}

/**
 * A form of settings sent to the catalogue, each problem it answered beside its field (a problem
 * on a field's part, e.g. `initialIncrement.seconds`, counts as the field's), the typed values kept.
 */
function settingsForm(ctx: PageContext, o: { action: string; label: string; button: string; settings: readonly Setting[]; current: unknown; form: EditForm | undefined }): Html {
  const path = (p: { path: string }) => p.path.replace(/^(body\.|\/)/, '').replace(/\//g, '.');
  const problemOf = (field: string) => o.form?.problems.filter((p) => path(p) === field || path(p).startsWith(`${field}.`)) ?? [];
  const unplaced = o.form?.problems.filter((p) => !o.settings.some((s) => problemOf(s.field).includes(p))) ?? [];
  const id = (field: string) => field.replace(/\./g, '-');
  return html`${o.form?.notice ? html`<p class="notice" role="status">${o.form.notice}</p>` : ''}${o.form?.message ? errorBox(o.form.message, unplaced) : ''}
<form method="post" action="${o.action}" aria-label="${o.label}" novalidate>
<input type="hidden" name="formToken" value="${ctx.session.formToken}">
${o.settings.map((s) => {
  const problems = problemOf(s.field);
  const value = o.form?.values[s.field] ?? String(valueAt(o.current, s.field) ?? '');
  return html`<label for="f-${id(s.field)}">${s.label}</label><input id="f-${id(s.field)}" name="${s.field}" value="${value}"${problems.length > 0 ? html` aria-invalid="true" aria-describedby="e-${id(s.field)}"` : ''}>
${problems.length > 0 ? html`<div class="field-error" id="e-${id(s.field)}" data-test="error-${s.field}">${problems.map((p) => p.message).join('; ')}</div>` : ''}`;
})}
<p><button type="submit">${o.button}</button></p></form>`;
}

/** Sends a change to the catalogue: done, or its refusal with the problems to show beside their fields. */
async function toCatalog<T>(send: () => Promise<{ body: T }>): Promise<{ ok: true; body: T } | { ok: false; message: string; problems: { path: string; message: string }[] }> {
  try {
    return { ok: true, body: (await send()).body };
  } catch (err) {
    if (!(err instanceof ServiceError)) throw err;
    return { ok: false, message: `${err.service} refused: ${err.message}`, problems: err.problems };
  }
}

const fee = (p: Plan) => `${p.monthlyFee} ${p.currency}`;
const inc = (i: Increment) => `${i.seconds} s ${i.rounding}`;

/** Catalogue: brands with their settings, plans and rating rules (latest versions), numbers; all read through the catalogue's API with the signed-in key. */
export async function catalogPage(ctx: PageContext, q: { after?: string; state?: string }): Promise<Html> {
  const [brands, plans, rules, numbers] = await Promise.all([
    ctx.client.tryGet<Page<Brand>>('catalog', '/brands', { limit: 1000 }),
    ctx.client.tryGet<Page<Plan>>('catalog', '/plans', { limit: 1000 }),
    ctx.client.tryGet<Page<Rule>>('catalog', '/rating-rules', { limit: 1000 }),
    ctx.client.tryGet<Page<NumberEntry>>('catalog', '/numbers', { limit: 50, after: q.after, state: q.state }),
  ]);
  const failed = [brands, plans, rules, numbers].flatMap((o) => (o.ok ? [] : [o.error.message]));
  // The catalogue lists every version of a rule: the table shows each one's latest.
  const latest = <T extends { version: number }>(items: T[], id: (item: T) => string): T[] => [...new Map([...items].sort((a, b) => a.version - b.version).map((i) => [id(i), i])).values()];
  return html`${failed.length > 0 ? errorBox(`catalog: ${failed[0]}`) : ''}
<h2>Brands</h2>
<table aria-label="Brands"><thead><tr><th scope="col">Brand</th><th scope="col">Name</th><th scope="col">Country</th><th scope="col">Currency</th><th scope="col">Time zone</th><th scope="col" class="num">Bill-run hour</th><th scope="col">Tax</th><th scope="col">Gateway</th><th scope="col">Rounding</th><th scope="col" class="num">Terms (days)</th></tr></thead><tbody>
${(brands.ok ? brands.value.items : []).map((b) => html`<tr data-brand="${b.code}"><th scope="row"><a href="/catalog/brands/${encodeURIComponent(b.code)}">${b.code}</a></th><td>${b.name}</td><td>${b.country}</td><td>${b.currency}</td><td>${b.timeZone}</td><td class="num">${b.billingHour}</td><td>${b.taxRegime}</td><td>${b.gateway}</td><td>${b.roundingMode}</td><td class="num">${b.paymentTermsDays ?? 0}</td></tr>`)}
</tbody></table>
<h2>Plans (latest versions)</h2>
<table aria-label="Plans"><thead><tr><th scope="col">Plan</th><th scope="col">Owner</th><th scope="col">Name</th><th scope="col" class="num">Version</th><th scope="col" class="num">Monthly fee</th><th scope="col">Included</th><th scope="col">Overage prices</th></tr></thead><tbody>
${(plans.ok ? latest(plans.value.items, (p) => p.planId) : []).map((p) => html`<tr data-plan="${p.planId}"><th scope="row"><a href="/catalog/plans/${encodeURIComponent(p.planId)}">${p.planId}</a></th><td>${p.owner}</td><td>${p.name}</td><td class="num">${p.version}</td><td class="num">${fee(p)}</td>
<td>${p.grants.map((g) => `${g.bucketId}: ${g.seconds / 60} min ${g.usageType}`).join(', ')}</td><td>${p.priceModels.map((m) => `${m.usageType} ${m.kind}${m.tiers ? ` ${m.tiers.map((t) => `${t.unitPrice}${t.upTo === null ? '' : ` to ${t.upTo}`}`).join(' / ')}` : ''}`).join('; ')}</td></tr>`)}
</tbody></table>
<h2>Rating rules (latest versions)</h2>
<table aria-label="Rating rules"><thead><tr><th scope="col">Rule</th><th scope="col">For</th><th scope="col">Usage type</th><th scope="col" class="num">Version</th><th scope="col">Effective</th><th scope="col">Increments</th><th scope="col">Minimum, free</th></tr></thead><tbody>
${(rules.ok ? latest(rules.value.items, (r) => r.ruleId) : []).map((r) => html`<tr data-rule="${r.ruleId}"><th scope="row"><a href="/catalog/rating-rules/${encodeURIComponent(r.ruleId)}">${r.ruleId}</a></th><td>${r.companyId}</td><td>${r.usageType}</td><td class="num">${r.version}</td><td>${r.effectiveFrom}${r.effectiveTo ? ` to ${r.effectiveTo}` : ''}</td><td>first ${inc(r.initialIncrement)}, then ${inc(r.mainIncrement)}</td><td>${r.minimumSeconds} s, ${r.freeSeconds} s ${r.freeMode}</td></tr>`)}
</tbody></table>
<h2 id="numbers">Number inventory</h2>
<form method="get" action="/catalog#numbers"><label for="state">State</label><select id="state" name="state"><option value="">Any</option>${['stock', 'assigned'].map((s) => html`<option value="${s}"${q.state === s ? html` selected` : ''}>${s}</option>`)}</select> <button type="submit">Filter</button></form>
<table aria-label="Numbers"><thead><tr><th scope="col">Number</th><th scope="col">Brand</th><th scope="col">State</th><th scope="col">Assignments</th></tr></thead><tbody>
${(numbers.ok ? numbers.value.items : []).map((n) => html`<tr><td>${n.number}</td><td>${n.brand}</td><td>${n.state}</td><td>${(n.assignments ?? []).map((a) => `${a.subscriptionId} from ${a.effectiveFrom}${a.effectiveTo ? ` to ${a.effectiveTo}` : ''}`).join('; ')}</td></tr>`)}
</tbody></table>
${numbers.ok && numbers.value.next ? html`<nav class="pager" aria-label="Pages"><a href="/catalog${query({ state: q.state, after: numbers.value.next })}#numbers" rel="next">Next numbers</a></nav>` : ''}`;
}

export interface EditForm {
  values: Record<string, string>;
  problems: { path: string; message: string }[];
  message?: string;
  notice?: string;
}

/** A brand's settings, with the form that changes them through the catalogue (its problems beside their fields). */
export async function brandPage(ctx: PageContext, code: string, form?: EditForm): Promise<{ title: string; body: Html } | undefined> {
  const found = await ctx.client.tryGet<Brand & Record<string, unknown>>('catalog', `/brands/${encodeURIComponent(code)}`);
  if (!found.ok) {
    if (found.error.status === 404 || found.error.status === 403) return undefined;
    return { title: `Brand ${code}`, body: errorBox(`catalog: ${found.error.message}`) };
  }
  const brand = found.value;
  const body = html`<dl><dt>Code</dt><dd>${brand.code}</dd><dt>Country</dt><dd>${brand.country}</dd><dt>Currency</dt><dd>${brand.currency}</dd><dt>Revision</dt><dd>${brand.revision ?? ''} ${brand.updatedAt ? `(${brand.updatedAt})` : ''}</dd></dl>
<h2>Settings</h2>
${settingsForm(ctx, { action: `/catalog/brands/${encodeURIComponent(code)}`, label: 'Brand settings', button: 'Save settings', settings: brandSettings, current: brand, form })}
<p class="muted">Saved by the catalogue (PATCH /brands/${code}), which checks each value and records the change with your key's id in its audit trail.</p>`;
  return { title: `Brand ${brand.code}: ${brand.name}`, body };
}

/** The changed settings to the catalogue as a merge patch. */
export async function saveBrand(ctx: PageContext, code: string, values: Record<string, string>): Promise<{ ok: true } | { ok: false; message: string; problems: { path: string; message: string }[] }> {
  return toCatalog(() => ctx.client.send('catalog', 'PATCH', `/brands/${encodeURIComponent(code)}`, withTyped({}, brandSettings, values)));
}

/** The latest version with the typed changes, as a PUT: different content makes the next version, the same changes nothing. */
async function saveVersioned(ctx: PageContext, path: string, input: string[], settings: readonly Setting[], values: Record<string, string>): Promise<{ ok: true; version: number } | { ok: false; message: string; problems: { path: string; message: string }[] }> {
  const latest = await ctx.client.tryGet<Record<string, unknown>>('catalog', path);
  if (!latest.ok) return { ok: false, message: `catalog: ${latest.error.message}`, problems: [] };
  const base = Object.fromEntries(input.filter((k) => latest.value[k] !== undefined).map((k) => [k, latest.value[k]]));
  const saved = await toCatalog(() => ctx.client.send<{ version: number }>('catalog', 'PUT', path, withTyped(base, settings, values)));
  return saved.ok ? { ok: true, version: saved.body.version } : saved;
}

export const savePlan = (ctx: PageContext, planId: string, values: Record<string, string>) => saveVersioned(ctx, `/plans/${encodeURIComponent(planId)}`, planInput, planSettings, values);
export const saveRule = (ctx: PageContext, ruleId: string, values: Record<string, string>) => saveVersioned(ctx, `/rating-rules/${encodeURIComponent(ruleId)}`, ruleInput, ruleSettings, values);

/** Every version of a plan, newest first. */
export async function planPage(ctx: PageContext, planId: string, form?: EditForm): Promise<{ title: string; body: Html } | undefined> {
  const versions = await ctx.client.tryGet<Page<Plan>>('catalog', `/plans/${encodeURIComponent(planId)}/versions`);
  if (!versions.ok) return versions.error.status === 404 ? undefined : { title: `Plan ${planId}`, body: errorBox(`catalog: ${versions.error.message}`) };
  const list = [...versions.value.items].sort((a, b) => b.version - a.version);
  return {
    title: `Plan ${planId}`,
    body: html`${editSection(ctx, `/catalog/plans/${encodeURIComponent(planId)}`, 'Plan', planSettings, list[0], form)}<h2>Versions</h2><table aria-label="Plan versions"><thead><tr><th scope="col" class="num">Version</th><th scope="col">Name</th><th scope="col" class="num">Monthly fee</th><th scope="col" class="num">Trial days</th><th scope="col" class="num">Numbers</th><th scope="col">Included</th><th scope="col">Price models</th></tr></thead><tbody>
${list.map((p) => html`<tr><td class="num">${p.version}</td><td>${p.name}</td><td class="num">${fee(p)}</td><td class="num">${p.trialDays ?? 0}</td><td class="num">${p.numberAllotment ?? ''}</td><td>${p.grants.map((g) => `${g.bucketId}: ${g.seconds} s ${g.usageType}`).join(', ')}</td><td><code>${JSON.stringify(p.priceModels)}</code></td></tr>`)}
</tbody></table>`,
  };
}

/** Every version of a rating rule, newest first (the catalogue answers one version at a time). */
export async function rulePage(ctx: PageContext, ruleId: string, form?: EditForm): Promise<{ title: string; body: Html } | undefined> {
  const latest = await ctx.client.tryGet<Rule>('catalog', `/rating-rules/${encodeURIComponent(ruleId)}`);
  if (!latest.ok) return latest.error.status === 404 ? undefined : { title: `Rating rule ${ruleId}`, body: errorBox(`catalog: ${latest.error.message}`) };
  const older = await Promise.all(Array.from({ length: Math.min(latest.value.version - 1, 50) }, (_, i) => ctx.client.tryGet<Rule>('catalog', `/rating-rules/${encodeURIComponent(ruleId)}/versions/${latest.value.version - 1 - i}`)));
  const list = [latest.value, ...older.flatMap((o) => (o.ok ? [o.value] : []))];
  return {
    title: `Rating rule ${ruleId}`,
    body: html`${editSection(ctx, `/catalog/rating-rules/${encodeURIComponent(ruleId)}`, 'Rating rule', ruleSettings, latest.value, form)}<h2>Versions</h2><table aria-label="Rule versions"><thead><tr><th scope="col" class="num">Version</th><th scope="col">Usage type</th><th scope="col">Effective</th><th scope="col">Increments</th><th scope="col">Minimum</th><th scope="col">Free</th><th scope="col">Unit</th></tr></thead><tbody>
${list.map((r) => html`<tr><td class="num">${r.version}</td><td>${r.usageType}</td><td>${r.effectiveFrom}${r.effectiveTo ? ` to ${r.effectiveTo}` : ''}</td><td>first ${inc(r.initialIncrement)}, then ${inc(r.mainIncrement)}</td><td>${r.minimumSeconds} s</td><td>${r.freeSeconds} s ${r.freeMode}</td><td>${r.unit ?? ''}</td></tr>`)}
</tbody></table>`,
  };
}

/** The form that makes a plan's or rule's next version from its latest. */
function editSection(ctx: PageContext, action: string, what: string, settings: readonly Setting[], latest: unknown, form: EditForm | undefined): Html {
  return html`<h2>Make the next version</h2>
${settingsForm(ctx, { action, label: `${what} settings`, button: 'Save as the next version', settings, current: latest, form })}
<p class="muted">Saved by the catalogue (PUT ${action.replace('/catalog', '')}) from the latest version with these changes; it checks each value. Subscribers keep their version of a plan until a plan change; a rule's new version rates calls from now on (re-rate to apply it to calls already charged).</p>`;
}
