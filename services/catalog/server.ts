import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { HttpConfig } from '../../runtime/config.ts';
import { principalOf, send, startHttp, type ApiOptions, type HealthCheck, type HttpServers } from '../../runtime/http.ts';
import type { Logger } from '../../runtime/log.ts';
import type { ServiceMetrics } from '../../runtime/metrics.ts';
import type { Catalog, Reply } from './catalog.ts';
import { ApiError } from './errors.ts';
import { catalogKeyVerifier, createApiKey, revokeApiKey } from './keys.ts';
import { operations } from './operations.ts';
import { SCHEMA, t } from './schema.ts';
import { validateBody } from './validation.ts';
import { stableJson } from './catalog.ts';

export interface CatalogApiDeps {
  config: HttpConfig;
  db: Knex;
  catalog: Catalog;
  metrics: ServiceMetrics;
  checks: Record<string, HealthCheck>;
  openApi: () => unknown;
  logger: Logger;
  now: () => number;
}

/** A success body against the operation's documented schema (a list wraps it in `{items, next}`). */
function successContract(response: string, list: boolean | undefined): (status: number, body: unknown) => { path: string; message: string }[] {
  return (_status, body) => {
    if (!list) return validateBody(response, body);
    const page = body as { items?: unknown; next?: unknown };
    if (!Array.isArray(page?.items) || !(page.next === null || typeof page.next === 'string')) return [{ path: '', message: 'is not a page of {items, next}' }];
    return page.items.flatMap((item, i) => validateBody(response, item).map((p) => ({ path: `items[${i}]${p.path === '' ? '' : `.${p.path}`}`, message: p.message })));
  };
}

/**
 * The catalogue's API from the operation table with `/openapi.json` (the runtime's fastify
 * layer: key check, problem details); every change (any method but GET) is in the audit trail.
 */
export function catalogApi(deps: Omit<CatalogApiDeps, 'config' | 'checks'>): ApiOptions {
  const { db, catalog } = deps;
  return {
    title: 'rateline catalogue',
    description: 'Brands, plans, customers, subscriptions, numbers, rating rules and API keys.',
    verifier: catalogKeyVerifier(db),
    logger: deps.logger,
    metrics: deps.metrics,
    openApi: deps.openApi,
    now: deps.now,
    audit: { db, schema: SCHEMA },
    routes: (app) => {
      for (const op of operations) {
        app.route<{ Params: Record<string, string>; Querystring: Record<string, string> }>({
          method: op.method,
          // The table's paths are OpenAPI style (`/customers/{accountId}`).
          url: op.path.replace(/\{(\w+)\}/g, ':$1'),
          config: { audit: op.method !== 'GET', checkResponse: successContract(op.response, op.list) },
          handler: async (request, reply) => {
            const principal = principalOf(request);
            const body = request.body;
            const query = new URLSearchParams(request.query);
            const path = request.url.split('?')[0]!;
            const header = request.headers['idempotency-key'];
            const idempotencyKey = op.idempotencyKey && typeof header === 'string' ? header : undefined;
            const context = {
              catalog,
              principal,
              params: request.params,
              query,
              body,
              now: new Date(deps.now()),
              createApiKey: (o: { brand: string | null; label: string; expiresAt?: Date | null }) => createApiKey(db, o),
              revokeApiKey: (keyId: string) => revokeApiKey(db, keyId, new Date(deps.now())),
            };
            if (!idempotencyKey) return send(reply, await op.run({ ...context, idempotencyKey: undefined }));
            const requestHash = createHash('sha256').update(stableJson({ method: request.method, path, body: body ?? null })).digest('hex');
            const stored = (await db(t('idempotency_keys')).where({ api_key_id: principal.keyId, idempotency_key: idempotencyKey }).first()) as { request_hash: string; status: number; body: unknown } | undefined;
            if (stored && stored.request_hash !== requestHash) throw new ApiError(422, 'idempotency_key_reused', 'this Idempotency-Key was used with another request', [{ path: 'Idempotency-Key', message: 'was used with another request' }]);
            if (stored) return send(reply, { status: stored.status, body: stored.body, headers: { 'idempotent-replayed': 'true' } });
            const answer: Reply = await op.run({ ...context, idempotencyKey });
            await db(t('idempotency_keys')).insert({ api_key_id: principal.keyId, idempotency_key: idempotencyKey, request_hash: requestHash, status: answer.status, body: JSON.stringify(answer.body) }).onConflict(['api_key_id', 'idempotency_key']).ignore();
            return send(reply, answer);
          },
        });
      }
    },
  };
}

/** The catalogue's HTTP servers: the API and, apart, the ops listener. */
export async function startApiServer(deps: CatalogApiDeps): Promise<HttpServers> {
  return startHttp(deps.config, deps.metrics.registry, deps.checks, catalogApi(deps));
}
