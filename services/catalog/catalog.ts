/**
 * The catalogue's use cases over PostgreSQL. Each change and the records it publishes are
 * written in one transaction (the records into the outbox); an unchanged re-submission
 * changes and publishes nothing, so imports can be re-run.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { validateRuleSet } from '../../domain/rating/index.ts';
import { swapTerms } from '../../domain/planswap/index.ts';
import { isoOf, toRatingRule, type NumberAssignment } from '../../domain/reference/index.ts';
import { topics } from '../../topics/catalog.ts';
import { inTransaction } from '../../runtime/db.ts';
import type { Clock } from '../../runtime/time.ts';
import { ApiError, assertValid, conflict, forbiddenBrand, invalid, notFound } from './errors.ts';
import { applyTransition, checkLifecycleConfig, lifecyclePolicy, type Action, type LifecycleConfig, type Status } from './lifecycle.ts';
import { enqueue, type OutboxEvent } from '../../runtime/outbox.ts';
import {
  addDays,
  addMonths,
  assignmentsView,
  brandRecord,
  customerRecord,
  lifecycleMessage,
  millisOf,
  numberRecord,
  planRecord,
  ratingRuleRecord,
  recordProblems,
  referenceMessage,
  subscriptionRecord,
  type BrandData,
  type CustomerData,
  type NotificationsData,
  type PlanSwapData,
  type PlanData,
  type RatingRuleData,
  type SubscriptionData,
} from './records.ts';
import { SCHEMA, t } from './schema.ts';
import { accessCreate, accessExisting, listScope, type Principal } from './scope.ts';
import { mergeProblems, validateBody, type Problem } from './validation.ts';

export interface Reply {
  status: number;
  body: unknown;
}

type Body = Record<string, unknown>;

/** JSON with sorted keys: equal content gives equal text whatever the key order. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Body).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}
const hashOf = (value: unknown) => createHash('sha256').update(stableJson(value)).digest('hex');

function idProblem(body: Body, field: string, fromPath: string): Problem[] {
  return body[field] !== undefined && body[field] !== fromPath ? [{ path: field, message: `is "${String(body[field])}", the URL names "${fromPath}"` }] : [];
}

const orNull = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

interface Row {
  data: unknown;
  revision: number;
  updated_at?: Date;
}

function view<T>(row: Row): T & { revision: number; updatedAt: string | undefined } {
  return { ...(row.data as T), revision: row.revision, updatedAt: row.updated_at?.toISOString() };
}

export interface ListQuery {
  brand?: string;
  limit?: number;
  after?: string;
  [filter: string]: string | number | undefined;
}

function pageOf<T>(items: T[], limit: number, idOf: (item: T) => string): { items: T[]; next: string | null } {
  const page = items.slice(0, limit);
  return { items: page, next: items.length > limit ? idOf(page[page.length - 1]!) : null };
}

export class Catalog {
  constructor(
    private readonly db: Knex,
    readonly parentCompany: string,
    private readonly clock: Clock,
  ) {}

  private async write<T>(work: (trx: Knex.Transaction, out: OutboxEvent[]) => Promise<T>): Promise<T> {
    return inTransaction(this.db, async (trx) => {
      const out: OutboxEvent[] = [];
      const value = await work(trx, out);
      await enqueue(trx, SCHEMA, out);
      return value;
    });
  }

  /** The parent company's row; made on first start. */
  async ensureParent(): Promise<void> {
    await this.db(t('companies')).insert({ code: this.parentCompany, kind: 'parent', parent_company: null, data: JSON.stringify({ code: this.parentCompany }) }).onConflict('code').ignore();
  }

  // ------------------------------------------------------------------ brands

  private async brandRow(trx: Knex | Knex.Transaction, code: string, lock = false) {
    const q = trx(t('companies')).where({ code, kind: 'brand' }).first();
    return (await (lock ? q.forUpdate() : q)) as (Row & { code: string; data: BrandData }) | undefined;
  }

  async getBrand(principal: Principal, code: string): Promise<Reply> {
    const row = await this.brandRow(this.db, code);
    if (!row || accessExisting(principal, code, this.parentCompany, 'read') !== 'ok') throw notFound(`brand ${code}`);
    return { status: 200, body: view<BrandData>(row) };
  }

  async listBrands(principal: Principal, query: ListQuery): Promise<Reply> {
    const scope = listScope(principal, query.brand, this.parentCompany, false);
    if (!scope.ok) throw forbiddenBrand(query.brand!);
    const limit = query.limit ?? 100;
    const q = this.db(t('companies')).where({ kind: 'brand' }).orderBy('code').limit(limit + 1);
    if (scope.owners) q.whereIn('code', scope.owners);
    if (query.after) q.where('code', '>', query.after);
    const rows = (await q) as (Row & { code: string })[];
    return { status: 200, body: pageOf(rows.map((r) => view<BrandData>(r)), limit, (b) => b.code) };
  }

  /** Creates or replaces a brand (PUT): idempotent, a change bumps its revision and is published. */
  async putBrand(principal: Principal, code: string, body: unknown): Promise<Reply> {
    return this.write(async (trx, out) => {
      const existing = await this.brandRow(trx, code, true);
      if (existing && accessExisting(principal, code, this.parentCompany, 'write') === 'not_found') throw notFound(`brand ${code}`);
      if (!existing && principal.kind !== 'parent') throw new ApiError(403, 'forbidden', 'only the parent company makes brands');
      if (code === this.parentCompany) throw invalid([{ path: 'code', message: `is the parent company's id` }]);
      const shape = validateBody('BrandInput', body);
      const b = (body ?? {}) as Body;
      const data: BrandData = {
        code,
        parentCompany: this.parentCompany,
        name: b.name as string,
        country: b.country as string,
        currency: b.currency as string,
        timeZone: b.timeZone as string,
        billingHour: b.billingHour as number,
        taxRegime: b.taxRegime as string,
        gateway: b.gateway as string,
        roundingMode: b.roundingMode as string,
        usageProducts: (b.usageProducts as Record<string, string>) ?? {},
        paymentTermsDays: (b.paymentTermsDays as number) ?? 14,
        cancellationCredit: (b.cancellationCredit as string) ?? 'prorated',
        creditAtCancellation: (b.creditAtCancellation as string) ?? 'pay_out',
        collectionRetryDays: (b.collectionRetryDays as number[]) ?? [],
        dunningSteps: (b.dunningSteps as BrandData['dunningSteps']) ?? [],
        branding: b.branding ? { ...(b.branding as NonNullable<BrandData['branding']>), logoSvg: orNull((b.branding as Body).logoSvg as string | null | undefined), address: postalAddress((b.branding as Body).address)! } : null,
        commission: orNull(b.commission as BrandData['commission']),
        // Only when given: a brand stored before notifications existed keeps its exact data.
        ...(b.notifications !== undefined ? { notifications: notificationsData(b.notifications as Body | null) } : {}),
        ...(b.planSwap !== undefined ? { planSwap: planSwapData(b.planSwap as Body | null) } : {}),
        lifecycle: (b.lifecycle as LifecycleConfig) ?? {},
      };
      const problems = mergeProblems(shape, [...idProblem(b, 'code', code), ...recordProblems('brand', brandRecord(data)), ...checkLifecycleConfig(data.lifecycle)]);
      if (existing && existing.data.currency !== data.currency && problems.length === 0) {
        const plan = await trx(t('plans')).where({ owner: code }).whereRaw(`data->>'currency' <> ?`, [data.currency]).first();
        if (plan) problems.push({ path: 'currency', message: `cannot change to ${data.currency}: plan ${String(plan.plan_id)} of this brand is in ${existing.data.currency}` });
      }
      assertValid(problems);
      if (existing && stableJson(existing.data) === stableJson(data)) return { status: 200, body: view<BrandData>(existing) };
      const revision = (existing?.revision ?? 0) + 1;
      if (existing) {
        await trx(t('companies')).where({ code }).update({ data: JSON.stringify(data), revision, updated_at: trx.fn.now() });
      } else {
        await trx(t('companies')).insert({ code, kind: 'brand', parent_company: this.parentCompany, data: JSON.stringify(data), revision });
      }
      out.push(referenceMessage('brand', brandRecord(data), revision, code));
      return { status: existing ? 200 : 201, body: { ...data, revision } };
    });
  }

  async patchBrand(principal: Principal, code: string, patch: unknown): Promise<Reply> {
    const current = (await this.getBrand(principal, code)).body as Body;
    return this.putBrand(principal, code, mergePatch(current, patch, ['parentCompany', 'revision', 'updatedAt']));
  }

  // ------------------------------------------------------------------ plans

  private async companyOwner(trx: Knex | Knex.Transaction, owner: string): Promise<{ kind: 'parent' | 'brand'; brand?: BrandData } | undefined> {
    if (owner === this.parentCompany) return { kind: 'parent' };
    const row = await this.brandRow(trx, owner);
    return row ? { kind: 'brand', brand: row.data } : undefined;
  }

  private async planVersion(trx: Knex | Knex.Transaction, planId: string, version?: number) {
    const q = trx(t('plans')).where({ plan_id: planId });
    if (version !== undefined) q.where({ version });
    return (await q.orderBy('version', 'desc').first()) as { plan_id: string; version: number; owner: string; data: PlanData; content_hash: string; created_at: Date } | undefined;
  }

  async getPlan(principal: Principal, planId: string, version?: number): Promise<Reply> {
    const row = await this.planVersion(this.db, planId, version);
    if (!row || accessExisting(principal, row.owner, this.parentCompany, 'read') !== 'ok') throw notFound(version ? `plan ${planId} version ${version}` : `plan ${planId}`);
    return { status: 200, body: { ...row.data, createdAt: row.created_at.toISOString() } };
  }

  async listPlanVersions(principal: Principal, planId: string): Promise<Reply> {
    const rows = (await this.db(t('plans')).where({ plan_id: planId }).orderBy('version')) as { owner: string; data: PlanData }[];
    if (rows.length === 0 || accessExisting(principal, rows[0]!.owner, this.parentCompany, 'read') !== 'ok') throw notFound(`plan ${planId}`);
    return { status: 200, body: { items: rows.map((r) => r.data), next: null } };
  }

  /** The latest version of each plan the principal may see. */
  async listPlans(principal: Principal, query: ListQuery): Promise<Reply> {
    const scope = listScope(principal, query.brand ?? (query.owner as string | undefined), this.parentCompany, true);
    if (!scope.ok) throw forbiddenBrand(String(query.brand ?? query.owner));
    const limit = query.limit ?? 100;
    const q = this.db(t('plans')).distinctOn('plan_id').orderBy([{ column: 'plan_id' }, { column: 'version', order: 'desc' }]).limit(limit + 1);
    if (scope.owners) q.whereIn('owner', scope.owners);
    if (query.after) q.where('plan_id', '>', query.after);
    const rows = (await q) as { data: PlanData }[];
    return { status: 200, body: pageOf(rows.map((r) => r.data), limit, (p) => p.planId) };
  }

  /**
   * A plan version (PUT /plans/{planId}). Content equal to the latest version changes nothing;
   * different content makes the next version (subscribers keep theirs until they change plan).
   * With `version` (imports), that exact version is made, or must already hold this content.
   */
  async putPlan(principal: Principal, planId: string, body: unknown): Promise<Reply> {
    return this.write(async (trx, out) => {
      const b = (body ?? {}) as Body;
      const latest = await this.planVersion(trx, planId);
      if (latest && accessExisting(principal, latest.owner, this.parentCompany, 'write') === 'not_found') throw notFound(`plan ${planId}`);
      if (latest && accessExisting(principal, latest.owner, this.parentCompany, 'write') === 'forbidden') throw forbiddenBrand(latest.owner);
      const owner = typeof b.owner === 'string' ? b.owner : '';
      if (owner && accessCreate(principal, owner) !== 'ok') throw forbiddenBrand(owner);
      const shape = validateBody('PlanInput', body);
      const content: Omit<PlanData, 'version'> = {
        planId,
        owner,
        name: b.name as string,
        currency: b.currency as string,
        monthlyFee: b.monthlyFee as string,
        trialDays: (b.trialDays as number) ?? 0,
        grants: (b.grants as PlanData['grants']) ?? [],
        priceModels: ((b.priceModels as Body[] | undefined) ?? []).map((m) => ({
          ...(m as PlanData['priceModels'][number]),
          tiers: (Array.isArray(m?.tiers) ? (m.tiers as Body[]) : []).map((tier) => ({ upTo: (tier?.upTo as number | null) ?? null, unitPrice: tier?.unitPrice as string, flatFee: (tier?.flatFee as string) ?? '0' })),
        })),
        numberAllotment: (b.numberAllotment as number) ?? 0,
        commitmentDiscount: orNull(b.commitmentDiscount as PlanData['commitmentDiscount']),
      };
      const domain: Problem[] = [...idProblem(b, 'planId', planId), ...recordProblems('plan', planRecord({ ...content, version: 1 }))];
      if (owner) {
        const company = await this.companyOwner(trx, owner);
        if (!company) domain.push({ path: 'owner', message: `"${owner}" is neither a brand nor the parent company ${this.parentCompany}` });
        else if (company.brand && company.brand.currency !== content.currency) domain.push({ path: 'currency', message: `is ${content.currency}, brand ${owner} bills in ${company.brand.currency}` });
      }
      if (latest && latest.owner !== owner && owner) domain.push({ path: 'owner', message: `plan ${planId} belongs to ${latest.owner}; a plan never changes owner` });
      assertValid(mergeProblems(shape, domain));
      const hash = hashOf(content);
      const requested = b.version as number | undefined;
      if (requested !== undefined) {
        const same = await this.planVersion(trx, planId, requested);
        if (same) {
          if (same.content_hash !== hash) throw conflict('version_exists', `plan ${planId} version ${requested} exists with other content: versions are never edited`);
          return { status: 200, body: same.data };
        }
      } else if (latest && latest.content_hash === hash) {
        return { status: 200, body: latest.data };
      }
      const version = requested ?? (latest?.version ?? 0) + 1;
      const data: PlanData = { ...content, version };
      await trx(t('plans')).insert({ plan_id: planId, version, owner, data: JSON.stringify(data), content_hash: hash });
      out.push(referenceMessage('plan', planRecord(data), 1, owner === this.parentCompany ? null : owner));
      return { status: 201, body: data };
    });
  }

  // ------------------------------------------------------------------ customers

  private async customerRow(trx: Knex | Knex.Transaction, accountId: string, lock = false) {
    const q = trx(t('customers')).where({ account_id: accountId }).first();
    return (await (lock ? q.forUpdate() : q)) as (Row & { brand: string; data: CustomerData }) | undefined;
  }

  async getCustomer(principal: Principal, accountId: string): Promise<Reply> {
    const row = await this.customerRow(this.db, accountId);
    if (!row || accessExisting(principal, row.brand, this.parentCompany, 'read') !== 'ok') throw notFound(`customer ${accountId}`);
    return { status: 200, body: view<CustomerData>(row) };
  }

  async listCustomers(principal: Principal, query: ListQuery): Promise<Reply> {
    const scope = listScope(principal, query.brand, this.parentCompany, false);
    if (!scope.ok) throw forbiddenBrand(query.brand!);
    const limit = query.limit ?? 100;
    const q = this.db(t('customers')).orderBy('account_id').limit(limit + 1);
    if (scope.owners) q.whereIn('brand', scope.owners);
    if (query.externalId) q.where({ external_id: query.externalId });
    if (query.after) q.where('account_id', '>', query.after);
    const rows = (await q) as (Row & { account_id: string })[];
    return { status: 200, body: pageOf(rows.map((r) => view<CustomerData>(r)), limit, (c) => c.accountId) };
  }

  async putCustomer(principal: Principal, accountId: string, body: unknown): Promise<Reply> {
    return this.write(async (trx, out) => {
      const b = (body ?? {}) as Body;
      const existing = await this.customerRow(trx, accountId, true);
      if (existing && accessExisting(principal, existing.brand, this.parentCompany, 'write') !== 'ok') throw notFound(`customer ${accountId}`);
      const brand = typeof b.brand === 'string' ? b.brand : '';
      if (brand && accessCreate(principal, brand) !== 'ok') throw forbiddenBrand(brand);
      const shape = validateBody('CustomerInput', body);
      const data: CustomerData = {
        accountId,
        brand,
        externalId: orNull(b.externalId as string | null | undefined),
        name: b.name as string,
        email: b.email as string,
        postalAddress: postalAddress(b.postalAddress),
        country: b.country as string,
        region: orNull(b.region as string | null | undefined),
        taxIds: (b.taxIds as CustomerData['taxIds']) ?? [],
        exemptions: ((b.exemptions as Body[] | undefined) ?? []).map((e) => ({ ...(e as unknown as CustomerData['exemptions'][number]), effectiveTo: orNull(e?.effectiveTo as string | null | undefined) })),
        agentId: orNull(b.agentId as string | null | undefined),
        defaultPaymentMethod: orNull(b.defaultPaymentMethod as CustomerData['defaultPaymentMethod'] | undefined),
        ...(b.billingContacts !== undefined ? { billingContacts: b.billingContacts as string[] } : {}),
      };
      const domain = [...idProblem(b, 'accountId', accountId), ...recordProblems('customer', customerRecord(data))];
      if (brand && !(await this.brandRow(trx, brand))) domain.push({ path: 'brand', message: `unknown brand "${brand}"` });
      if (existing && brand && existing.brand !== brand) domain.push({ path: 'brand', message: `is ${brand}; customer ${accountId} is of ${existing.brand} and cannot move` });
      if (data.externalId !== null && brand) {
        const other = await trx(t('customers')).where({ brand, external_id: data.externalId }).whereNot({ account_id: accountId }).first();
        if (other) domain.push({ path: 'externalId', message: `"${data.externalId}" is already the external id of account ${String(other.account_id)}` });
      }
      assertValid(mergeProblems(shape, domain));
      if (existing && stableJson(existing.data) === stableJson(data)) return { status: 200, body: view<CustomerData>(existing) };
      const revision = (existing?.revision ?? 0) + 1;
      const row = { brand, external_id: data.externalId, data: JSON.stringify(data), revision };
      if (existing) await trx(t('customers')).where({ account_id: accountId }).update({ ...row, updated_at: trx.fn.now() });
      else await trx(t('customers')).insert({ account_id: accountId, ...row });
      out.push(referenceMessage('customer', customerRecord(data), revision, brand));
      return { status: existing ? 200 : 201, body: { ...data, revision } };
    });
  }

  async patchCustomer(principal: Principal, accountId: string, patch: unknown): Promise<Reply> {
    const current = (await this.getCustomer(principal, accountId)).body as Body;
    return this.putCustomer(principal, accountId, mergePatch(current, patch, ['revision', 'updatedAt']));
  }

  // ------------------------------------------------------------------ subscriptions

  private async subscriptionRow(trx: Knex | Knex.Transaction, id: string, lock = false) {
    const q = trx(t('subscriptions')).where({ subscription_id: id }).first();
    return (await (lock ? q.forUpdate() : q)) as (Row & { brand: string; data: SubscriptionData }) | undefined;
  }

  private async subscriptionView(trx: Knex | Knex.Transaction, row: Row & { data: SubscriptionData }) {
    const numbers = (await trx(t('numbers')).where({ subscription_id: row.data.subscriptionId }).orderBy('number').pluck('number')) as string[];
    return { ...view<SubscriptionData>(row), numbers };
  }

  async getSubscription(principal: Principal, id: string): Promise<Reply> {
    const row = await this.subscriptionRow(this.db, id);
    if (!row || accessExisting(principal, row.brand, this.parentCompany, 'read') !== 'ok') throw notFound(`subscription ${id}`);
    return { status: 200, body: await this.subscriptionView(this.db, row) };
  }

  async listSubscriptions(principal: Principal, query: ListQuery): Promise<Reply> {
    const scope = listScope(principal, query.brand, this.parentCompany, false);
    if (!scope.ok) throw forbiddenBrand(query.brand!);
    const limit = query.limit ?? 100;
    const q = this.db(t('subscriptions')).orderBy('subscription_id').limit(limit + 1);
    if (scope.owners) q.whereIn('brand', scope.owners);
    if (query.accountId) q.where({ account_id: query.accountId });
    if (query.status) q.where({ status: query.status });
    if (query.after) q.where('subscription_id', '>', query.after);
    const rows = (await q) as (Row & { data: SubscriptionData })[];
    return { status: 200, body: pageOf(rows.map((r) => view<SubscriptionData>(r)), limit, (s) => s.subscriptionId) };
  }

  /**
   * Creates a subscription (PUT by id): trial when the plan has trial days unless `status`
   * says active. On an existing one, only add-on grants and the commitment may change here;
   * plan and status change through plan-change and transitions.
   */
  async putSubscription(principal: Principal, id: string, body: unknown): Promise<Reply> {
    return this.write(async (trx, out) => {
      const b = (body ?? {}) as Body;
      const existing = await this.subscriptionRow(trx, id, true);
      if (existing && accessExisting(principal, existing.brand, this.parentCompany, 'write') !== 'ok') throw notFound(`subscription ${id}`);
      const shape = validateBody('SubscriptionInput', body);
      const domain: Problem[] = [...idProblem(b, 'subscriptionId', id)];
      const accountId = typeof b.accountId === 'string' ? b.accountId : '';
      const customer = accountId ? await this.customerRow(trx, accountId) : undefined;
      if (accountId && (!customer || accessExisting(principal, customer.brand, this.parentCompany, 'read') !== 'ok')) domain.push({ path: 'accountId', message: `unknown account "${accountId}"` });
      const brandCode = customer?.brand ?? (typeof b.brand === 'string' ? b.brand : '');
      if (brandCode && accessCreate(principal, brandCode) !== 'ok') throw forbiddenBrand(brandCode);
      if (customer && typeof b.brand === 'string' && b.brand !== customer.brand) domain.push({ path: 'brand', message: `is ${b.brand}; account ${accountId} is a customer of ${customer.brand}` });
      const brand = brandCode ? (await this.brandRow(trx, brandCode))?.data : undefined;
      const planId = typeof b.planId === 'string' ? b.planId : '';
      const plan = planId ? await this.planVersion(trx, planId, b.planVersion as number | undefined) : undefined;
      if (planId && !plan) domain.push({ path: b.planVersion === undefined ? 'planId' : 'planVersion', message: `plan ${planId}${b.planVersion === undefined ? '' : ` version ${String(b.planVersion)}`} does not exist` });
      if (plan && brand) domain.push(...this.planFits(plan.data, brand, 'planId'));
      const addOnGrants = (b.addOnGrants as SubscriptionData['addOnGrants']) ?? [];
      if (plan) {
        const planBuckets = new Set(plan.data.grants.map((g) => g.bucketId));
        addOnGrants.forEach((g, i) => planBuckets.has(g?.bucketId) && domain.push({ path: `addOnGrants[${i}].bucketId`, message: `"${g.bucketId}" is also a bucket of plan ${planId}` }));
      }
      const problems = mergeProblems(shape, domain);
      if (problems.length === 0 && (!brand || !plan || !customer)) problems.push({ path: '', message: 'the account, its brand and the plan must exist' });
      assertValid(problems);
      const anchor = new Date(millisOf(b.anchor as string)).toISOString();
      const months = b.commitmentMonths as number | undefined;
      const commitment = months ? { months, startsAt: anchor, endsAt: addMonths(anchor, months, brand!.timeZone) } : null;
      if (existing) {
        const before = existing.data;
        const immutable: Problem[] = [];
        if (before.accountId !== accountId) immutable.push({ path: 'accountId', message: `is ${before.accountId} and cannot change` });
        if (before.planId !== planId || (b.planVersion !== undefined && before.planVersion !== b.planVersion)) immutable.push({ path: 'planId', message: `is ${before.planId} v${before.planVersion}: change plans with POST /subscriptions/${id}/plan-change` });
        if (millisOf(before.anchor) !== millisOf(anchor)) immutable.push({ path: 'anchor', message: `is ${before.anchor} and cannot change` });
        if (b.status !== undefined && b.status !== before.status) immutable.push({ path: 'status', message: `is ${before.status}: change it with POST /subscriptions/${id}/transitions` });
        if (immutable.length > 0) throw conflict('immutable_field', `subscription ${id} exists with other terms`, immutable);
        const data: SubscriptionData = { ...before, addOnGrants, commitment };
        if (stableJson(data) === stableJson(before)) return { status: 200, body: await this.subscriptionView(trx, existing) };
        assertValid(recordProblems('subscription', subscriptionRecord(data)));
        const revision = existing.revision + 1;
        await trx(t('subscriptions')).where({ subscription_id: id }).update({ data: JSON.stringify(data), revision, updated_at: trx.fn.now() });
        out.push(referenceMessage('subscription', subscriptionRecord(data), revision, data.brand));
        return { status: 200, body: { ...data, revision } };
      }
      const p = plan!.data;
      const status = (b.status as Status | undefined) ?? (p.trialDays > 0 ? 'trial' : 'active');
      const data: SubscriptionData = {
        subscriptionId: id,
        brand: brandCode,
        accountId,
        planId: p.planId,
        planVersion: p.version,
        addOnGrants,
        anchor,
        status,
        trialEndsAt: status === 'trial' ? addDays(anchor, p.trialDays, brand!.timeZone) : null,
        cancelledAt: null,
        commitment,
        planChanges: [],
      };
      assertValid(recordProblems('subscription', subscriptionRecord(data)));
      await trx(t('subscriptions')).insert({ subscription_id: id, brand: brandCode, account_id: accountId, plan_id: p.planId, plan_version: p.version, status, data: JSON.stringify(data), revision: 1 });
      const action = status === 'trial' ? 'trial_started' : 'activated';
      await this.recordLifecycle(trx, out, data, 1, action, null, 'subscription_created', millisOf(anchor));
      out.push(referenceMessage('subscription', subscriptionRecord(data), 1, brandCode));
      return { status: 201, body: { ...data, revision: 1, numbers: [] } };
    });
  }

  async patchSubscription(principal: Principal, id: string, patch: unknown): Promise<Reply> {
    const current = (await this.getSubscription(principal, id)).body as SubscriptionData & Body;
    const base: Body = { accountId: current.accountId, planId: current.planId, planVersion: current.planVersion, anchor: current.anchor, addOnGrants: current.addOnGrants };
    if (current.commitment) base.commitmentMonths = current.commitment.months;
    return this.putSubscription(principal, id, mergePatch(base, patch, []));
  }

  /** A plan a brand's subscription may use: the brand's own or the shared catalogue's, in its currency. */
  private planFits(plan: PlanData, brand: BrandData, path: string): Problem[] {
    const problems: Problem[] = [];
    if (plan.owner !== brand.code && plan.owner !== this.parentCompany) problems.push({ path, message: `plan ${plan.planId} belongs to ${plan.owner}, not to ${brand.code}` });
    if (plan.currency !== brand.currency) problems.push({ path, message: `plan ${plan.planId} v${plan.version} is in ${plan.currency}, brand ${brand.code} bills in ${brand.currency}` });
    return problems;
  }

  private async recordLifecycle(trx: Knex.Transaction, out: OutboxEvent[], s: SubscriptionData, revision: number, action: string, from: string | null, reason: string, at: number): Promise<void> {
    const eventId = `lifecycle:${s.subscriptionId}:${revision}:${action}`;
    await trx(t('lifecycle_events')).insert({ event_id: eventId, subscription_id: s.subscriptionId, brand: s.brand, account_id: s.accountId, action, from_status: from, to_status: s.status, reason, effective_at: new Date(at) });
    out.push(lifecycleMessage({ eventId, brand: s.brand, accountId: s.accountId, subscriptionId: s.subscriptionId, action, reason, invoiceId: null, effectiveAt: at }));
  }

  /**
   * A lifecycle action (activate, suspend, cancel, reactivate) if the brand allows it from the
   * subscription's status; cancel releases the numbers unless the brand says otherwise.
   */
  async transitionSubscription(principal: Principal, id: string, body: unknown): Promise<Reply> {
    assertValid(validateBody('TransitionRequest', body));
    const b = body as { action: Action; reason: string; effectiveAt?: string };
    return this.write(async (trx, out) => {
      const row = await this.subscriptionRow(trx, id, true);
      if (!row || accessExisting(principal, row.brand, this.parentCompany, 'write') !== 'ok') throw notFound(`subscription ${id}`);
      const brand = (await this.brandRow(trx, row.brand))!.data;
      const policy = lifecyclePolicy(brand.lifecycle);
      const at = b.effectiveAt ? millisOf(b.effectiveAt) : this.clock.now();
      const s = row.data;
      const outcome = applyTransition(
        policy,
        { status: s.status as Status, trialEndsAt: s.trialEndsAt === null ? null : millisOf(s.trialEndsAt), cancelledAt: s.cancelledAt === null ? null : millisOf(s.cancelledAt), billingPausedAt: s.billingPausedAt ? millisOf(s.billingPausedAt) : null },
        b.action,
        at,
      );
      if (!outcome.ok) throw conflict(outcome.code, outcome.message, [{ path: 'action', message: outcome.message }]);
      const next = outcome.next;
      const data: SubscriptionData = {
        ...s,
        status: next.status,
        trialEndsAt: next.trialEndsAt === null ? null : isoOf(next.trialEndsAt),
        cancelledAt: next.cancelledAt === null ? null : isoOf(next.cancelledAt),
        billingPausedAt: next.billingPausedAt == null ? null : isoOf(next.billingPausedAt),
      };
      const revision = row.revision + 1;
      assertValid(recordProblems('subscription', subscriptionRecord(data)));
      await trx(t('subscriptions')).where({ subscription_id: id }).update({ status: data.status, data: JSON.stringify(data), revision, updated_at: trx.fn.now() });
      let released: string[] = [];
      if (outcome.policy.numbers === 'release') released = await this.releaseNumbersOf(trx, out, id, at);
      await this.recordLifecycle(trx, out, data, revision, outcome.policy.event, s.status, b.reason, at);
      out.push(referenceMessage('subscription', subscriptionRecord(data), revision, data.brand));
      return { status: 200, body: { ...data, revision, effects: { billing: outcome.policy.billing, numbers: outcome.policy.numbers, released } } };
    });
  }

  /**
   * Activates trials that have ended, as of their own trialEndsAt (so a late sweep publishes
   * the same instant). A brand whose lifecycle does not allow activate from trial keeps them.
   * Returns the subscriptions activated.
   */
  async activateEndedTrials(limit = 500): Promise<string[]> {
    const now = this.clock.now();
    const due = (await this.db(t('subscriptions'))
      .where({ status: 'trial' })
      .whereRaw(`(data->>'trialEndsAt')::timestamptz <= ?`, [new Date(now)])
      .orderBy('subscription_id')
      .limit(limit)
      .pluck('subscription_id')) as string[];
    const activated: string[] = [];
    for (const id of due) {
      const done = await this.write(async (trx, out) => {
        const row = await this.subscriptionRow(trx, id, true);
        if (!row || row.data.status !== 'trial' || row.data.trialEndsAt === null) return false;
        const brand = (await this.brandRow(trx, row.brand))!.data;
        const at = millisOf(row.data.trialEndsAt);
        const outcome = applyTransition(lifecyclePolicy(brand.lifecycle), { status: 'trial', trialEndsAt: at, cancelledAt: null }, 'activate', at);
        if (!outcome.ok) return false;
        const data: SubscriptionData = { ...row.data, status: outcome.next.status };
        const revision = row.revision + 1;
        await trx(t('subscriptions')).where({ subscription_id: id }).update({ status: data.status, data: JSON.stringify(data), revision, updated_at: trx.fn.now() });
        await this.recordLifecycle(trx, out, data, revision, outcome.policy.event, 'trial', 'trial_ended', at);
        out.push(referenceMessage('subscription', subscriptionRecord(data), revision, data.brand));
        return true;
      });
      if (done) activated.push(id);
    }
    return activated;
  }

  /** Moves a subscription to another plan (version) from `at`, within its number allotment. */
  async changeSubscriptionPlan(principal: Principal, id: string, body: unknown): Promise<Reply> {
    assertValid(validateBody('PlanChangeRequest', body));
    const b = body as { planId: string; planVersion?: number; at?: string };
    return this.write(async (trx, out) => {
      const target = await this.planTarget(trx, principal, id, b.planId, b.planVersion);
      if (target.unchanged) return { status: 200, body: await this.subscriptionView(trx, target.row) };
      const at = b.at ? new Date(millisOf(b.at)).toISOString() : isoOf(this.clock.now());
      const last = target.row.data.planChanges.at(-1);
      if (last && millisOf(last.at) > millisOf(at)) throw invalid([{ path: 'at', message: `is before the last plan change (${last.at})` }]);
      const { data, revision } = await this.movePlan(trx, out, target, at);
      return { status: 200, body: { ...data, revision } };
    });
  }

  /**
   * A plan swap (domain/planswap swapTerms): the subscription moves to the plan from the start of
   * the period whose bill is about to be cut (the fee difference as the brand's policy says), and
   * a plan-swap event asks drawdown to re-rate that period's usage on it. Refused after the
   * period's cut-off (a request naming the period it was shown) and for a plan the brand may not
   * sell; a subscription already on the plan is answered unchanged (swap: null), so the same swap
   * twice swaps once (and with one Idempotency-Key the first answer is replayed).
   */
  async swapSubscriptionPlan(principal: Principal, id: string, body: unknown): Promise<Reply> {
    assertValid(validateBody('PlanSwapRequest', body));
    const b = body as { planId: string; planVersion?: number; periodStart?: string; recommendationId?: string };
    return this.write(async (trx, out) => {
      const target = await this.planTarget(trx, principal, id, b.planId, b.planVersion);
      if (target.unchanged) return { status: 200, body: { subscription: await this.subscriptionView(trx, target.row), swap: null } };
      const s = target.row.data;
      const now = this.clock.now();
      const outcome = swapTerms({
        subscription: { anchor: millisOf(s.anchor), status: s.status, planChanges: s.planChanges.map((c) => ({ ...c, at: millisOf(c.at) })) },
        brand: brandRecord(target.brand),
        now: new Date(now),
        ...(b.periodStart ? { periodStart: new Date(millisOf(b.periodStart)) } : {}),
      });
      if (!outcome.ok) throw conflict(outcome.code, outcome.message);
      const terms = outcome.terms;
      const { data, revision } = await this.movePlan(trx, out, target, terms.changeAt.toISOString());
      const swap = {
        eventId: `swap:${id}:${revision}`,
        brand: data.brand,
        accountId: data.accountId,
        subscriptionId: id,
        fromPlanId: s.planId,
        fromPlanVersion: s.planVersion,
        toPlanId: data.planId,
        toPlanVersion: data.planVersion,
        periodStart: terms.period.start.getTime(),
        periodEnd: terms.period.end.getTime(),
        rerateFrom: terms.rerateFrom.getTime(),
        changeAt: terms.changeAt.getTime(),
        feePolicy: terms.feePolicy,
        billRunAt: terms.billRunAt.getTime(),
        recommendationId: b.recommendationId ?? null,
        requestedAt: now,
      };
      out.push({ topic: topics.planSwaps.name, schema: 'plan-swap', key: id, eventId: swap.eventId, brand: data.brand, payload: swap });
      const instant = (ms: number) => new Date(ms).toISOString();
      return {
        status: 200,
        body: {
          subscription: { ...data, revision },
          swap: { ...swap, periodStart: instant(swap.periodStart), periodEnd: instant(swap.periodEnd), rerateFrom: instant(swap.rerateFrom), changeAt: instant(swap.changeAt), billRunAt: instant(swap.billRunAt), requestedAt: instant(now) },
        },
      };
    });
  }

  /** The subscription (locked) and the plan version it would move to, checked: the brand sells it and its allotment holds the numbers. */
  private async planTarget(trx: Knex.Transaction, principal: Principal, id: string, planId: string, planVersion?: number) {
    const row = await this.subscriptionRow(trx, id, true);
    if (!row || accessExisting(principal, row.brand, this.parentCompany, 'write') !== 'ok') throw notFound(`subscription ${id}`);
    if (row.data.status === 'cancelled') throw conflict('subscription_cancelled', `subscription ${id} is cancelled`);
    const plan = await this.planVersion(trx, planId, planVersion);
    if (!plan || accessExisting(principal, plan.owner, this.parentCompany, 'read') !== 'ok') throw invalid([{ path: planVersion ? 'planVersion' : 'planId', message: `plan ${planId}${planVersion ? ` version ${planVersion}` : ''} does not exist` }]);
    const brand = (await this.brandRow(trx, row.brand))!.data;
    assertValid(this.planFits(plan.data, brand, 'planId'));
    const unchanged = plan.plan_id === row.data.planId && plan.version === row.data.planVersion;
    if (!unchanged) {
      const held = Number(((await trx(t('numbers')).where({ subscription_id: id }).count({ n: '*' })) as { n: string }[])[0]!.n);
      if (held > plan.data.numberAllotment) throw conflict('allotment_exceeded', `the subscription holds ${held} numbers; plan ${plan.plan_id} v${plan.version} allows ${plan.data.numberAllotment}: release some first`, [{ path: 'planId', message: `allows ${plan.data.numberAllotment} numbers, the subscription holds ${held}` }]);
    }
    return { row, plan, brand, unchanged };
  }

  /** Records the move to the target plan at `at` and publishes the subscription. */
  private async movePlan(trx: Knex.Transaction, out: OutboxEvent[], target: { row: NonNullable<Awaited<ReturnType<Catalog['subscriptionRow']>>>; plan: { plan_id: string; version: number } }, at: string) {
    const s = target.row.data;
    const data: SubscriptionData = {
      ...s,
      planId: target.plan.plan_id,
      planVersion: target.plan.version,
      planChanges: [...s.planChanges, { at, fromPlanId: s.planId, fromPlanVersion: s.planVersion, toPlanId: target.plan.plan_id, toPlanVersion: target.plan.version }],
    };
    assertValid(recordProblems('subscription', subscriptionRecord(data)));
    const revision = target.row.revision + 1;
    await trx(t('subscriptions')).where({ subscription_id: target.row.data.subscriptionId }).update({ plan_id: data.planId, plan_version: data.planVersion, data: JSON.stringify(data), revision, updated_at: trx.fn.now() });
    out.push(referenceMessage('subscription', subscriptionRecord(data), revision, data.brand));
    return { data, revision };
  }

  // ------------------------------------------------------------------ numbers

  private async numberRow(trx: Knex | Knex.Transaction, number: string, lock = false) {
    const q = trx(t('numbers')).where({ number }).first();
    return (await (lock ? q.forUpdate() : q)) as { number: string; brand: string; subscription_id: string | null; assignments: NumberAssignment[]; revision: number } | undefined;
  }

  private numberView(row: { number: string; brand: string; subscription_id: string | null; assignments: NumberAssignment[]; revision: number }) {
    return { number: row.number, brand: row.brand, state: row.subscription_id ? 'assigned' : 'stock', subscriptionId: row.subscription_id, assignments: assignmentsView(row.assignments), revision: row.revision };
  }

  private async saveNumber(trx: Knex.Transaction, out: OutboxEvent[], row: { number: string; brand: string; revision: number }, assignments: NumberAssignment[], holder: string | null) {
    const record = numberRecord(row.number, assignments);
    const problems = recordProblems('number', record);
    if (problems.length > 0) throw conflict('invalid_assignment', `the number's history would be invalid`, problems);
    const revision = row.revision + 1;
    await trx(t('numbers')).where({ number: row.number }).update({ assignments: JSON.stringify(assignments), subscription_id: holder, revision, updated_at: trx.fn.now() });
    out.push(referenceMessage('number', record, revision, row.brand));
    return this.numberView({ ...row, subscription_id: holder, assignments, revision });
  }

  async getNumber(principal: Principal, number: string): Promise<Reply> {
    const row = await this.numberRow(this.db, number);
    if (!row || accessExisting(principal, row.brand, this.parentCompany, 'read') !== 'ok') throw notFound(`number ${number}`);
    return { status: 200, body: this.numberView(row) };
  }

  async listNumbers(principal: Principal, query: ListQuery): Promise<Reply> {
    const scope = listScope(principal, query.brand, this.parentCompany, false);
    if (!scope.ok) throw forbiddenBrand(query.brand!);
    const limit = query.limit ?? 100;
    const q = this.db(t('numbers')).orderBy('number').limit(limit + 1);
    if (scope.owners) q.whereIn('brand', scope.owners);
    if (query.state === 'stock') q.whereNull('subscription_id');
    if (query.state === 'assigned') q.whereNotNull('subscription_id');
    if (query.subscriptionId) q.where({ subscription_id: query.subscriptionId });
    if (query.after) q.where('number', '>', query.after);
    const rows = (await q) as Parameters<Catalog['numberView']>[0][];
    return { status: 200, body: pageOf(rows.map((r) => this.numberView(r)), limit, (n) => n.number) };
  }

  /** Puts a number in a brand's stock (PUT /numbers/{number}); idempotent. */
  async stockNumber(principal: Principal, number: string, body: unknown): Promise<Reply> {
    return this.write(async (trx, out) => {
      const existing = await this.numberRow(trx, number, true);
      if (existing && accessExisting(principal, existing.brand, this.parentCompany, 'write') !== 'ok') throw notFound(`number ${number}`);
      const b = (body ?? {}) as Body;
      const brand = typeof b.brand === 'string' ? b.brand : '';
      if (brand && accessCreate(principal, brand) !== 'ok') throw forbiddenBrand(brand);
      const problems = mergeProblems(validateBody('NumberStockRequest', body), recordProblems('number', numberRecord(number, [])).map((p) => ({ ...p, path: p.path === 'number' ? 'number (URL)' : p.path })));
      if (brand && !(await this.brandRow(trx, brand))) problems.push({ path: 'brand', message: `unknown brand "${brand}"` });
      assertValid(problems);
      if (existing) {
        if (existing.brand === brand) return { status: 200, body: this.numberView(existing) };
        if (existing.subscription_id) throw conflict('number_assigned', `${number} is assigned to ${existing.subscription_id}; release it before moving it to ${brand}`);
        await trx(t('numbers')).where({ number }).update({ brand, revision: existing.revision + 1, updated_at: trx.fn.now() });
        out.push(referenceMessage('number', numberRecord(number, existing.assignments), existing.revision + 1, brand));
        return { status: 200, body: this.numberView({ ...existing, brand, revision: existing.revision + 1 }) };
      }
      await trx(t('numbers')).insert({ number, brand, subscription_id: null, assignments: JSON.stringify([]), revision: 1 });
      out.push(referenceMessage('number', numberRecord(number, []), 1, brand));
      return { status: 201, body: this.numberView({ number, brand, subscription_id: null, assignments: [], revision: 1 }) };
    });
  }

  private async assignable(trx: Knex.Transaction, principal: Principal, numberBrand: string, subscriptionId: string) {
    const sub = await this.subscriptionRow(trx, subscriptionId, true);
    if (!sub || accessExisting(principal, sub.brand, this.parentCompany, 'read') !== 'ok') throw invalid([{ path: 'subscriptionId', message: `unknown subscription "${subscriptionId}"` }]);
    if (sub.brand !== numberBrand) throw invalid([{ path: 'subscriptionId', message: `is a subscription of ${sub.brand}; the number is in ${numberBrand}'s stock` }]);
    if (sub.data.status === 'cancelled') throw conflict('subscription_cancelled', `subscription ${subscriptionId} is cancelled`);
    const plan = (await this.planVersion(trx, sub.data.planId, sub.data.planVersion))!;
    const held = Number(((await trx(t('numbers')).where({ subscription_id: subscriptionId }).count({ n: '*' })) as { n: string }[])[0]!.n);
    if (held >= plan.data.numberAllotment) {
      throw conflict('allotment_exhausted', `subscription ${subscriptionId} holds ${held} numbers; plan ${plan.plan_id} v${plan.version} allows ${plan.data.numberAllotment}`, [{ path: 'subscriptionId', message: `has used its allotment of ${plan.data.numberAllotment} numbers` }]);
    }
    return sub.data;
  }

  private at(iso: string | undefined): number {
    return iso ? millisOf(iso) : this.clock.now();
  }

  async assignNumber(principal: Principal, number: string, body: unknown): Promise<Reply> {
    assertValid(validateBody('NumberAssignRequest', body));
    const b = body as { subscriptionId: string; effectiveFrom?: string };
    return this.write(async (trx, out) => {
      const row = await this.numberRow(trx, number, true);
      if (!row || accessExisting(principal, row.brand, this.parentCompany, 'write') !== 'ok') throw notFound(`number ${number}`);
      if (row.subscription_id === b.subscriptionId) return { status: 200, body: this.numberView(row) };
      if (row.subscription_id) throw conflict('number_assigned', `${number} is assigned to ${row.subscription_id}: release or reassign it`);
      const sub = await this.assignable(trx, principal, row.brand, b.subscriptionId);
      const from = this.at(b.effectiveFrom);
      const assignments = [...row.assignments, { assignmentId: `${number}#${row.assignments.length + 1}`, brand: row.brand, accountId: sub.accountId, subscriptionId: sub.subscriptionId, effectiveFrom: from, effectiveTo: null }];
      return { status: 200, body: await this.saveNumber(trx, out, row, assignments, sub.subscriptionId) };
    });
  }

  async releaseNumber(principal: Principal, number: string, body: unknown): Promise<Reply> {
    assertValid(validateBody('NumberReleaseRequest', body ?? {}));
    const b = (body ?? {}) as { effectiveAt?: string };
    return this.write(async (trx, out) => {
      const row = await this.numberRow(trx, number, true);
      if (!row || accessExisting(principal, row.brand, this.parentCompany, 'write') !== 'ok') throw notFound(`number ${number}`);
      if (!row.subscription_id) return { status: 200, body: this.numberView(row) };
      return { status: 200, body: await this.saveNumber(trx, out, row, closeOpen(row.assignments, this.at(b.effectiveAt)), null) };
    });
  }

  /** Ends the current assignment and starts one to another subscription at the same instant. */
  async reassignNumber(principal: Principal, number: string, body: unknown): Promise<Reply> {
    assertValid(validateBody('NumberAssignRequest', body));
    const b = body as { subscriptionId: string; effectiveFrom?: string };
    return this.write(async (trx, out) => {
      const row = await this.numberRow(trx, number, true);
      if (!row || accessExisting(principal, row.brand, this.parentCompany, 'write') !== 'ok') throw notFound(`number ${number}`);
      if (row.subscription_id === b.subscriptionId) return { status: 200, body: this.numberView(row) };
      if (!row.subscription_id) throw conflict('number_in_stock', `${number} is in stock: assign it instead`);
      const sub = await this.assignable(trx, principal, row.brand, b.subscriptionId);
      const at = this.at(b.effectiveFrom);
      const closed = closeOpen(row.assignments, at);
      const assignments = [...closed, { assignmentId: `${number}#${row.assignments.length + 1}`, brand: row.brand, accountId: sub.accountId, subscriptionId: sub.subscriptionId, effectiveFrom: at, effectiveTo: null }];
      return { status: 200, body: await this.saveNumber(trx, out, row, assignments, sub.subscriptionId) };
    });
  }

  /** Releases every number a subscription holds (a cancellation), at `at`. */
  private async releaseNumbersOf(trx: Knex.Transaction, out: OutboxEvent[], subscriptionId: string, at: number): Promise<string[]> {
    const rows = (await trx(t('numbers')).where({ subscription_id: subscriptionId }).orderBy('number').forUpdate()) as NonNullable<Awaited<ReturnType<Catalog['numberRow']>>>[];
    for (const row of rows) await this.saveNumber(trx, out, row, closeOpen(row.assignments, at), null);
    return rows.map((r) => r.number);
  }

  // ------------------------------------------------------------------ rating rules

  private async ruleVersion(trx: Knex | Knex.Transaction, ruleId: string, version?: number) {
    const q = trx(t('rating_rules')).where({ rule_id: ruleId });
    if (version !== undefined) q.where({ version });
    return (await q.orderBy('version', 'desc').first()) as { rule_id: string; version: number; company_id: string; data: RatingRuleData; content_hash: string } | undefined;
  }

  async getRatingRule(principal: Principal, ruleId: string, version?: number): Promise<Reply> {
    const row = await this.ruleVersion(this.db, ruleId, version);
    if (!row || accessExisting(principal, row.company_id, this.parentCompany, 'read') !== 'ok') throw notFound(`rating rule ${ruleId}`);
    return { status: 200, body: row.data };
  }

  async listRatingRules(principal: Principal, query: ListQuery): Promise<Reply> {
    const scope = listScope(principal, query.brand ?? (query.companyId as string | undefined), this.parentCompany, true);
    if (!scope.ok) throw forbiddenBrand(String(query.brand ?? query.companyId));
    const limit = query.limit ?? 100;
    const q = this.db(t('rating_rules')).orderBy([{ column: 'rule_id' }, { column: 'version' }]).limit(limit + 1);
    if (scope.owners) q.whereIn('company_id', scope.owners);
    if (query.usageType) q.where({ usage_type: query.usageType });
    if (query.after) q.where('rule_id', '>', query.after);
    const rows = (await q) as { data: RatingRuleData }[];
    return { status: 200, body: pageOf(rows.map((r) => r.data), limit, (r) => r.ruleId) };
  }

  /** A rating rule version (PUT /rating-rules/{ruleId}); versioned like plans, checked by domain/rating. */
  async putRatingRule(principal: Principal, ruleId: string, body: unknown): Promise<Reply> {
    return this.write(async (trx, out) => {
      const b = (body ?? {}) as Body;
      const latest = await this.ruleVersion(trx, ruleId);
      if (latest) {
        const access = accessExisting(principal, latest.company_id, this.parentCompany, 'write');
        if (access === 'not_found') throw notFound(`rating rule ${ruleId}`);
        if (access === 'forbidden') throw forbiddenBrand(latest.company_id);
      }
      const companyId = typeof b.companyId === 'string' ? b.companyId : '';
      if (companyId && accessCreate(principal, companyId) !== 'ok') throw forbiddenBrand(companyId);
      const shape = validateBody('RatingRuleInput', body);
      const increment = (v: unknown) => ({ seconds: (v as Body)?.seconds as number, rounding: (v as Body)?.rounding as string, tie: ((v as Body)?.tie as string | null | undefined) ?? null });
      const content: Omit<RatingRuleData, 'version'> = {
        ruleId,
        companyId,
        usageType: b.usageType as string,
        effectiveFrom: b.effectiveFrom as string,
        effectiveTo: orNull(b.effectiveTo as string | null | undefined),
        freeSeconds: b.freeSeconds as number,
        freeMode: b.freeMode as string,
        minimumSeconds: b.minimumSeconds as number,
        initialIncrement: increment(b.initialIncrement),
        mainIncrement: increment(b.mainIncrement),
        unit: (b.unit as string) ?? 'second',
      };
      const domain: Problem[] = [...idProblem(b, 'ruleId', ruleId)];
      if (shape.length === 0) domain.push(...recordProblems('ratingRule', ratingRuleRecord({ ...content, version: 1 })));
      if (companyId && !(await this.companyOwner(trx, companyId))) domain.push({ path: 'companyId', message: `"${companyId}" is neither a brand nor the parent company ${this.parentCompany}` });
      if (latest && companyId && latest.company_id !== companyId) domain.push({ path: 'companyId', message: `rule ${ruleId} belongs to ${latest.company_id}; a rule never changes company` });
      assertValid(mergeProblems(shape, domain));
      const hash = hashOf(content);
      const requested = b.version as number | undefined;
      if (requested !== undefined) {
        const same = await this.ruleVersion(trx, ruleId, requested);
        if (same) {
          if (same.content_hash !== hash) throw conflict('version_exists', `rule ${ruleId} version ${requested} exists with other content: versions are never edited`);
          return { status: 200, body: same.data };
        }
      } else if (latest && latest.content_hash === hash) {
        return { status: 200, body: latest.data };
      }
      const version = requested ?? (latest?.version ?? 0) + 1;
      const data: RatingRuleData = { ...content, version };
      // The set the rate service will index must stay selectable: no two rules of this
      // company and usage type with one version may overlap in time.
      const siblings = (await trx(t('rating_rules')).where({ company_id: companyId, usage_type: content.usageType, version }).whereNot({ rule_id: ruleId }).pluck('data')) as RatingRuleData[];
      const overlaps = validateRuleSet([...siblings, data].map((r) => toRatingRule(ratingRuleRecord(r)))).filter((i) => i.message.startsWith('overlaps'));
      if (overlaps.length > 0) throw conflict('rule_overlap', 'the rule overlaps another rule of this company and usage type', overlaps.map((i) => ({ path: 'effectiveFrom', message: `${i.ruleId} v${String(i.version)} ${i.message}` })));
      await trx(t('rating_rules')).insert({ rule_id: ruleId, version, company_id: companyId, usage_type: content.usageType, data: JSON.stringify(data), content_hash: hash });
      out.push(referenceMessage('ratingRule', ratingRuleRecord(data), 1, companyId === this.parentCompany ? null : companyId));
      return { status: 201, body: data };
    });
  }
}

/** An address with its optional lines as null, as the wire record has them. */
function postalAddress(value: unknown): CustomerData['postalAddress'] {
  if (value === undefined || value === null || typeof value !== 'object') return (value ?? null) as CustomerData['postalAddress'];
  const a = value as Body;
  return { ...(a as unknown as NonNullable<CustomerData['postalAddress']>), line2: orNull(a.line2 as string | null | undefined), region: orNull(a.region as string | null | undefined) };
}

/** Closes the open assignment at `at`. */
function closeOpen(assignments: readonly NumberAssignment[], at: number): NumberAssignment[] {
  return assignments.map((a) => (a.effectiveTo === null ? { ...a, effectiveTo: at } : a));
}

/**
 * JSON merge patch (RFC 7396) of `patch` onto the current representation, without the
 * fields the server adds. The result is validated as a whole, like a PUT.
 */
export function mergePatch(current: Body, patch: unknown, serverFields: string[]): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const base: Body = { ...current };
  for (const f of serverFields) delete base[f];
  const apply = (target: Body, p: Body): Body => {
    const out: Body = { ...target };
    for (const [k, v] of Object.entries(p)) {
      if (v === null) delete out[k];
      else if (typeof v === 'object' && !Array.isArray(v) && typeof out[k] === 'object' && out[k] !== null && !Array.isArray(out[k])) out[k] = apply(out[k] as Body, v as Body);
      else out[k] = v;
    }
    return out;
  };
  return apply(base, patch as Body);
}

/** Notification settings from a body, every field with its Avro default (the shape is checked by the schema). */
function notificationsData(n: Body | null): NotificationsData | null {
  if (n === null || typeof n !== 'object') return null;
  const kinds = (n.kinds as Record<string, { enabled?: boolean; recipients?: string }> | undefined) ?? {};
  return {
    senderName: orNull(n.senderName as string | null | undefined),
    senderAddress: orNull(n.senderAddress as string | null | undefined),
    replyTo: orNull(n.replyTo as string | null | undefined),
    template: orNull(n.template as string | null | undefined),
    kinds: Object.fromEntries(Object.entries(kinds).map(([kind, k]) => [kind, { enabled: k?.enabled ?? true, recipients: k?.recipients ?? 'all' }])),
    usageThresholdPercents: (n.usageThresholdPercents as number[] | undefined) ?? [],
    usageOverageAmount: orNull(n.usageOverageAmount as string | null | undefined),
  };
}

/** Plan-swap settings from a body, every field with its Avro default (the shape is checked by the schema). */
function planSwapData(n: Body | null): PlanSwapData | null {
  if (n === null || typeof n !== 'object') return null;
  return {
    feePolicy: (n.feePolicy as string | undefined) ?? 'prorated',
    lookBackPeriods: (n.lookBackPeriods as number | undefined) ?? 3,
    minSavingAmount: orNull(n.minSavingAmount as string | null | undefined),
    minSavingPercent: orNull(n.minSavingPercent as string | null | undefined),
    minConfidencePercent: (n.minConfidencePercent as number | undefined) ?? 50,
    recommendationHour: (n.recommendationHour as number | undefined) ?? 3,
  };
}
