/**
 * Every operation of the catalogue's API in one table: the router serves it and openapi.ts
 * documents it, so the document is the API.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Catalog, ListQuery, Reply } from './catalog.ts';
import { ApiError, invalid, notFound } from './errors.ts';
import type { Principal } from './scope.ts';
import { validateBody } from './validation.ts';

export type Method = 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface OperationContext {
  catalog: Catalog;
  principal: Principal;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  idempotencyKey: string | undefined;
  now: Date;
  createApiKey(options: { brand: string | null; label: string; expiresAt?: Date | null }): Promise<unknown>;
  revokeApiKey(keyId: string): Promise<unknown>;
}

export interface QueryParam {
  name: string;
  description: string;
  schema?: Record<string, unknown>;
}

export interface Operation {
  method: Method;
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  /** Component schema of the request body. */
  request?: string;
  /** Component schema of the success body; `list` wraps it in `{items, next}`. */
  response: string;
  list?: boolean;
  /** Success statuses. */
  statuses: number[];
  query?: QueryParam[];
  /** POST that honours an Idempotency-Key header. */
  idempotencyKey?: boolean;
  run(ctx: OperationContext): Promise<Reply>;
}

const LIST_QUERY: QueryParam[] = [
  { name: 'brand', description: "Only this brand's objects. A brand's key may name only its own brand.", schema: { type: 'string' } },
  { name: 'limit', description: 'Page size, 1-1000 (100).', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
  { name: 'after', description: 'The `next` cursor of the previous page.', schema: { type: 'string' } },
];

function listQuery(query: URLSearchParams, extra: string[] = []): ListQuery {
  const out: ListQuery = {};
  const limit = query.get('limit');
  if (limit !== null) {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw invalid([{ path: 'limit', message: `must be an integer from 1 to 1000, got "${limit}"` }]);
    out.limit = n;
  }
  for (const name of ['brand', 'after', ...extra]) {
    const v = query.get(name);
    if (v !== null && v !== '') out[name] = v;
  }
  return out;
}

function versionParam(raw: string | undefined, what: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw notFound(`${what} version ${raw}`);
  return n;
}

/**
 * The id of a POST create: the body's, else one derived from the Idempotency-Key (so a
 * retried create names the same object even if the first reply was lost), else a new one.
 */
function createdId(prefix: string, field: string, ctx: OperationContext): string {
  const body = (ctx.body ?? {}) as Record<string, unknown>;
  if (typeof body[field] === 'string') return body[field] as string;
  if (ctx.idempotencyKey) return `${prefix}-${createHash('sha256').update(`${ctx.principal.keyId}\u0000${ctx.idempotencyKey}`).digest('hex').slice(0, 20)}`;
  return `${prefix}-${randomUUID()}`;
}

export const operations: Operation[] = [
  // brands
  { method: 'GET', path: '/brands', operationId: 'listBrands', summary: 'Brands the key may see', tag: 'brands', response: 'Brand', list: true, statuses: [200], query: LIST_QUERY, run: (c) => c.catalog.listBrands(c.principal, listQuery(c.query)) },
  { method: 'GET', path: '/brands/{code}', operationId: 'getBrand', summary: 'A brand', tag: 'brands', response: 'Brand', statuses: [200], run: (c) => c.catalog.getBrand(c.principal, c.params.code!) },
  { method: 'PUT', path: '/brands/{code}', operationId: 'putBrand', summary: 'Create or replace a brand (parent key to create)', tag: 'brands', request: 'BrandInput', response: 'Brand', statuses: [200, 201], run: (c) => c.catalog.putBrand(c.principal, c.params.code!, c.body) },
  { method: 'PATCH', path: '/brands/{code}', operationId: 'patchBrand', summary: 'Change some fields of a brand (JSON merge patch)', tag: 'brands', request: 'BrandInput', response: 'Brand', statuses: [200], run: (c) => c.catalog.patchBrand(c.principal, c.params.code!, c.body) },

  // plans
  { method: 'GET', path: '/plans', operationId: 'listPlans', summary: "Latest version of each plan: the brand's own and the shared catalogue", tag: 'plans', response: 'Plan', list: true, statuses: [200], query: LIST_QUERY, run: (c) => c.catalog.listPlans(c.principal, listQuery(c.query, ['owner'])) },
  { method: 'GET', path: '/plans/{planId}', operationId: 'getPlan', summary: 'The latest version of a plan', tag: 'plans', response: 'Plan', statuses: [200], run: (c) => c.catalog.getPlan(c.principal, c.params.planId!) },
  { method: 'PUT', path: '/plans/{planId}', operationId: 'putPlan', summary: 'Create a plan, or its next version when the content differs', tag: 'plans', request: 'PlanInput', response: 'Plan', statuses: [200, 201], run: (c) => c.catalog.putPlan(c.principal, c.params.planId!, c.body) },
  { method: 'GET', path: '/plans/{planId}/versions', operationId: 'listPlanVersions', summary: 'Every version of a plan', tag: 'plans', response: 'Plan', list: true, statuses: [200], run: (c) => c.catalog.listPlanVersions(c.principal, c.params.planId!) },
  { method: 'GET', path: '/plans/{planId}/versions/{version}', operationId: 'getPlanVersion', summary: 'One version of a plan', tag: 'plans', response: 'Plan', statuses: [200], run: (c) => c.catalog.getPlan(c.principal, c.params.planId!, versionParam(c.params.version, `plan ${c.params.planId}`)) },

  // customers
  { method: 'GET', path: '/customers', operationId: 'listCustomers', summary: 'Customers the key may see', tag: 'customers', response: 'Customer', list: true, statuses: [200], query: [...LIST_QUERY, { name: 'externalId', description: 'Find by the id in the system it was imported from.' }], run: (c) => c.catalog.listCustomers(c.principal, listQuery(c.query, ['externalId'])) },
  { method: 'POST', path: '/customers', operationId: 'createCustomer', summary: 'Create a customer; accountId from the body, else from the Idempotency-Key', tag: 'customers', request: 'CustomerInput', response: 'Customer', statuses: [200, 201], idempotencyKey: true, run: (c) => c.catalog.putCustomer(c.principal, createdId('acc', 'accountId', c), c.body) },
  { method: 'GET', path: '/customers/{accountId}', operationId: 'getCustomer', summary: 'A customer', tag: 'customers', response: 'Customer', statuses: [200], run: (c) => c.catalog.getCustomer(c.principal, c.params.accountId!) },
  { method: 'PUT', path: '/customers/{accountId}', operationId: 'putCustomer', summary: 'Create or replace a customer', tag: 'customers', request: 'CustomerInput', response: 'Customer', statuses: [200, 201], run: (c) => c.catalog.putCustomer(c.principal, c.params.accountId!, c.body) },
  { method: 'PATCH', path: '/customers/{accountId}', operationId: 'patchCustomer', summary: 'Change some fields of a customer (JSON merge patch)', tag: 'customers', request: 'CustomerInput', response: 'Customer', statuses: [200], run: (c) => c.catalog.patchCustomer(c.principal, c.params.accountId!, c.body) },

  // subscriptions
  { method: 'GET', path: '/subscriptions', operationId: 'listSubscriptions', summary: 'Subscriptions the key may see', tag: 'subscriptions', response: 'Subscription', list: true, statuses: [200], query: [...LIST_QUERY, { name: 'accountId', description: 'Of one account.' }, { name: 'status', description: 'trial, active, suspended or cancelled.' }], run: (c) => c.catalog.listSubscriptions(c.principal, listQuery(c.query, ['accountId', 'status'])) },
  { method: 'POST', path: '/subscriptions', operationId: 'createSubscription', summary: 'Create a subscription; subscriptionId from the body, else from the Idempotency-Key', tag: 'subscriptions', request: 'SubscriptionInput', response: 'Subscription', statuses: [200, 201], idempotencyKey: true, run: (c) => c.catalog.putSubscription(c.principal, createdId('sub', 'subscriptionId', c), c.body) },
  { method: 'GET', path: '/subscriptions/{subscriptionId}', operationId: 'getSubscription', summary: 'A subscription with the numbers it holds', tag: 'subscriptions', response: 'Subscription', statuses: [200], run: (c) => c.catalog.getSubscription(c.principal, c.params.subscriptionId!) },
  { method: 'PUT', path: '/subscriptions/{subscriptionId}', operationId: 'putSubscription', summary: 'Create a subscription, or change its add-ons and commitment', tag: 'subscriptions', request: 'SubscriptionInput', response: 'Subscription', statuses: [200, 201], run: (c) => c.catalog.putSubscription(c.principal, c.params.subscriptionId!, c.body) },
  { method: 'PATCH', path: '/subscriptions/{subscriptionId}', operationId: 'patchSubscription', summary: 'Change add-ons or commitment (JSON merge patch)', tag: 'subscriptions', request: 'SubscriptionInput', response: 'Subscription', statuses: [200], run: (c) => c.catalog.patchSubscription(c.principal, c.params.subscriptionId!, c.body) },
  { method: 'POST', path: '/subscriptions/{subscriptionId}/transitions', operationId: 'transitionSubscription', summary: "A lifecycle action, if the brand's lifecycle allows it; published to account.lifecycle", tag: 'subscriptions', request: 'TransitionRequest', response: 'Subscription', statuses: [200], idempotencyKey: true, run: (c) => c.catalog.transitionSubscription(c.principal, c.params.subscriptionId!, c.body) },
  { method: 'POST', path: '/subscriptions/{subscriptionId}/plan-change', operationId: 'changeSubscriptionPlan', summary: 'Move to another plan or version from an instant', tag: 'subscriptions', request: 'PlanChangeRequest', response: 'Subscription', statuses: [200], idempotencyKey: true, run: (c) => c.catalog.changeSubscriptionPlan(c.principal, c.params.subscriptionId!, c.body) },
  { method: 'POST', path: '/subscriptions/{subscriptionId}/plan-swap', operationId: 'swapSubscriptionPlan', summary: "Swap plans from the start of the period whose bill is about to be cut; its usage is re-rated on the new plan (drawdown), the fee difference settled by the brand's policy", tag: 'subscriptions', request: 'PlanSwapRequest', response: 'PlanSwapResult', statuses: [200], idempotencyKey: true, run: (c) => c.catalog.swapSubscriptionPlan(c.principal, c.params.subscriptionId!, c.body) },

  // numbers
  { method: 'GET', path: '/numbers', operationId: 'listNumbers', summary: 'The number inventory', tag: 'numbers', response: 'Number', list: true, statuses: [200], query: [...LIST_QUERY, { name: 'state', description: 'stock or assigned.' }, { name: 'subscriptionId', description: 'Held by one subscription.' }], run: (c) => c.catalog.listNumbers(c.principal, listQuery(c.query, ['state', 'subscriptionId'])) },
  { method: 'GET', path: '/numbers/{number}', operationId: 'getNumber', summary: 'A number and its assignment history', tag: 'numbers', response: 'Number', statuses: [200], run: (c) => c.catalog.getNumber(c.principal, c.params.number!) },
  { method: 'PUT', path: '/numbers/{number}', operationId: 'stockNumber', summary: "Put a number (E.164, + as %2B or literal) in a brand's stock", tag: 'numbers', request: 'NumberStockRequest', response: 'Number', statuses: [200, 201], run: (c) => c.catalog.stockNumber(c.principal, c.params.number!, c.body) },
  { method: 'POST', path: '/numbers/{number}/assign', operationId: 'assignNumber', summary: "Assign a stocked number to a subscription, within its plan's allotment", tag: 'numbers', request: 'NumberAssignRequest', response: 'Number', statuses: [200], run: (c) => c.catalog.assignNumber(c.principal, c.params.number!, c.body) },
  { method: 'POST', path: '/numbers/{number}/release', operationId: 'releaseNumber', summary: 'End the current assignment; the number returns to stock', tag: 'numbers', request: 'NumberReleaseRequest', response: 'Number', statuses: [200], run: (c) => c.catalog.releaseNumber(c.principal, c.params.number!, c.body) },
  { method: 'POST', path: '/numbers/{number}/reassign', operationId: 'reassignNumber', summary: 'Move an assigned number to another subscription at one instant', tag: 'numbers', request: 'NumberAssignRequest', response: 'Number', statuses: [200], run: (c) => c.catalog.reassignNumber(c.principal, c.params.number!, c.body) },

  // rating rules
  { method: 'GET', path: '/rating-rules', operationId: 'listRatingRules', summary: "Rating rules: the brand's own and the parent's defaults", tag: 'rating-rules', response: 'RatingRule', list: true, statuses: [200], query: [...LIST_QUERY, { name: 'usageType', description: 'Of one usage type.' }], run: (c) => c.catalog.listRatingRules(c.principal, listQuery(c.query, ['companyId', 'usageType'])) },
  { method: 'GET', path: '/rating-rules/{ruleId}', operationId: 'getRatingRule', summary: 'The latest version of a rating rule', tag: 'rating-rules', response: 'RatingRule', statuses: [200], run: (c) => c.catalog.getRatingRule(c.principal, c.params.ruleId!) },
  { method: 'PUT', path: '/rating-rules/{ruleId}', operationId: 'putRatingRule', summary: 'Create a rating rule, or its next version when the content differs', tag: 'rating-rules', request: 'RatingRuleInput', response: 'RatingRule', statuses: [200, 201], run: (c) => c.catalog.putRatingRule(c.principal, c.params.ruleId!, c.body) },
  { method: 'GET', path: '/rating-rules/{ruleId}/versions/{version}', operationId: 'getRatingRuleVersion', summary: 'One version of a rating rule', tag: 'rating-rules', response: 'RatingRule', statuses: [200], run: (c) => c.catalog.getRatingRule(c.principal, c.params.ruleId!, versionParam(c.params.version, `rating rule ${c.params.ruleId}`)) },

  // keys
  {
    method: 'POST',
    path: '/api-keys',
    operationId: 'createApiKey',
    summary: "Make an API key (parent key only); the key is in the reply once, only its sha-256 is kept",
    tag: 'keys',
    request: 'ApiKeyRequest',
    response: 'ApiKeyCreated',
    statuses: [201],
    run: async (c) => {
      if (c.principal.kind !== 'parent') throw new ApiError(403, 'forbidden', "only the parent company's key makes keys");
      const problems = validateBody('ApiKeyRequest', c.body);
      if (problems.length > 0) throw invalid(problems);
      const b = c.body as { brand?: string | null; label: string; expiresAt?: string | null };
      if (b.brand) await c.catalog.getBrand(c.principal, b.brand).catch(() => {
        throw invalid([{ path: 'brand', message: `unknown brand "${b.brand}"` }]);
      });
      const expiresAt = b.expiresAt ? new Date(b.expiresAt) : null;
      if (expiresAt && expiresAt.getTime() <= c.now.getTime()) throw invalid([{ path: 'expiresAt', message: 'must be in the future' }]);
      return { status: 201, body: await c.createApiKey({ brand: b.brand ?? null, label: b.label, expiresAt }) };
    },
  },
  {
    method: 'POST',
    path: '/api-keys/{keyId}/revoke',
    operationId: 'revokeApiKey',
    summary: 'Revoke a key (parent key only): every service refuses it (401) once it has read the revocation from ref.api-keys',
    tag: 'keys',
    response: 'ApiKeyRevoked',
    statuses: [200],
    run: async (c) => {
      if (c.principal.kind !== 'parent') throw new ApiError(403, 'forbidden', "only the parent company's key revokes keys");
      const revoked = await c.revokeApiKey(c.params.keyId!);
      if (!revoked) throw notFound(`API key ${c.params.keyId}`);
      return { status: 200, body: revoked };
    },
  },
];
