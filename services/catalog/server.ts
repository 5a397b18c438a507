import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { HttpConfig } from '../../runtime/config.ts';
import { principalOf, send, startHttp, type HealthCheck, type HttpServers } from '../../runtime/http.ts';
import type { Logger } from '../../runtime/log.ts';
import type { ServiceMetrics } from '../../runtime/metrics.ts';
import type { Catalog, Reply } from './catalog.ts';
import { ApiError } from './errors.ts';
import { catalogKeyVerifier, createApiKey, revokeApiKey } from './keys.ts';
import { operations } from './operations.ts';
import { t } from './schema.ts';
import { stableJson } from './catalog.ts';

/**
 * The catalogue's HTTP servers: the API from the operation table with `/openapi.json` (the
 * runtime's fastify layer: key check, problem details) and, apart, the ops listener.
 */
export async function startApiServer(deps: {
  config: HttpConfig;
  db: Knex;
  catalog: Catalog;
  metrics: ServiceMetrics;
  checks: Record<string, HealthCheck>;
  openApi: () => unknown;
  logger: Logger;
  now: () => number;
}): Promise<HttpServers> {
  const { db, catalog } = deps;
  return startHttp(deps.config, deps.metrics.registry, deps.checks, {
    title: 'rateline catalogue',
    description: 'Brands, plans, customers, subscriptions, numbers, rating rules and API keys.',
    verifier: catalogKeyVerifier(db),
    logger: deps.logger,
    metrics: deps.metrics,
    openApi: deps.openApi,
    now: deps.now,
    routes: (app) => {
      for (const op of operations) {
        app.route<{ Params: Record<string, string>; Querystring: Record<string, string> }>({
          method: op.method,
          // The table's paths are OpenAPI style (`/customers/{accountId}`).
          url: op.path.replace(/\{(\w+)\}/g, ':$1'),
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
  });
}
