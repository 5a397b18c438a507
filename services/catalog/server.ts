import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Knex } from 'knex';
import client from 'prom-client';
import type { HttpConfig } from '../../runtime/config.ts';
import type { HealthCheck } from '../../runtime/http.ts';
import type { Logger } from '../../runtime/log.ts';
import type { ServiceMetrics } from '../../runtime/metrics.ts';
import type { Catalog, Reply } from './catalog.ts';
import { ApiError } from './errors.ts';
import { createApiKey, principalOf } from './keys.ts';
import { operations, type Operation } from './operations.ts';
import { Router } from './router.ts';
import { t } from './schema.ts';
import { stableJson } from './catalog.ts';

const MAX_BODY_BYTES = 1024 * 1024;

export interface ApiServer {
  url: string;
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers }).end(text);
}

async function readBody(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, 'body_too_large', `the body exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/(.+\+)?json\b/.test(type)) throw new ApiError(415, 'unsupported_media_type', `send JSON with content-type application/json, got "${type}"`);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (cause) {
    throw new ApiError(400, 'malformed_json', 'the body is not JSON', [{ path: '', message: (cause as Error).message }]);
  }
}

function presentedKey(req: http.IncomingMessage): string | undefined {
  const header = req.headers['x-api-key'];
  if (typeof header === 'string' && header !== '') return header;
  const auth = req.headers.authorization;
  const m = auth ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
  return m?.[1];
}

/**
 * The catalogue's HTTP server: the API from the operation table, `/openapi.json`, and the ops
 * endpoints every service has (`/metrics`, `/healthz`).
 */
export async function startApiServer(deps: {
  config: HttpConfig;
  db: Knex;
  catalog: Catalog;
  metrics: ServiceMetrics;
  checks: Record<string, HealthCheck>;
  openApi: () => unknown;
  logger: Logger;
}): Promise<ApiServer> {
  const { db, catalog, metrics, checks, logger } = deps;
  const router = new Router<Operation>(operations.map((op) => ({ method: op.method, path: op.path, handler: op })));
  const requests = new client.Counter({ name: 'rateline_http_requests_total', help: 'API requests by operation and status', labelNames: ['operation', 'status'], registers: [metrics.registry] });
  const openApiBody = JSON.stringify(deps.openApi());

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<string> => {
    const url = new URL(req.url ?? '/', 'http://catalog');
    const method = req.method ?? 'GET';
    if (method === 'GET' && url.pathname === '/openapi.json') {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(openApiBody);
      return 'openapi';
    }
    if (method === 'GET' && url.pathname === '/metrics') {
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(await metrics.registry.metrics());
      return 'metrics';
    }
    if (method === 'GET' && url.pathname === '/healthz') {
      const results = Object.fromEntries(Object.entries(checks).map(([name, check]) => [name, check()]));
      const ok = Object.values(results).every((r) => r.ok);
      send(res, ok ? 200 : 503, { status: ok ? 'ok' : 'unavailable', checks: results });
      return 'healthz';
    }
    const resolved = router.resolve(method, url.pathname);
    if (resolved.kind === 'not_found') throw new ApiError(404, 'not_found', `no route ${url.pathname}`);
    if (resolved.kind === 'method_not_allowed') {
      res.setHeader('allow', resolved.allowed.join(', '));
      throw new ApiError(405, 'method_not_allowed', `${method} is not allowed on ${url.pathname}; allowed: ${resolved.allowed.join(', ')}`);
    }
    const { route, params } = resolved.match;
    const op = route.handler;
    const key = presentedKey(req);
    const principal = key ? await principalOf(db, key) : undefined;
    if (!principal) throw new ApiError(401, 'unauthenticated', key ? 'unknown or revoked API key' : 'send the API key in X-Api-Key or Authorization: Bearer');
    const body = await readBody(req);
    const idempotencyKey = op.idempotencyKey ? (req.headers['idempotency-key'] as string | undefined) : undefined;
    let reply: Reply;
    let replayed = false;
    if (idempotencyKey) {
      const requestHash = createHash('sha256').update(stableJson({ method, path: url.pathname, body: body ?? null })).digest('hex');
      const stored = (await db(t('idempotency_keys')).where({ api_key_id: principal.keyId, idempotency_key: idempotencyKey }).first()) as { request_hash: string; status: number; body: unknown } | undefined;
      if (stored && stored.request_hash !== requestHash) throw new ApiError(422, 'idempotency_key_reused', 'this Idempotency-Key was used with another request', [{ path: 'Idempotency-Key', message: 'was used with another request' }]);
      if (stored) {
        reply = { status: stored.status, body: stored.body };
        replayed = true;
      } else {
        reply = await op.run({ catalog, principal, params, query: url.searchParams, body, idempotencyKey, createApiKey: (o) => createApiKey(db, o) });
        await db(t('idempotency_keys')).insert({ api_key_id: principal.keyId, idempotency_key: idempotencyKey, request_hash: requestHash, status: reply.status, body: JSON.stringify(reply.body) }).onConflict(['api_key_id', 'idempotency_key']).ignore();
      }
    } else {
      reply = await op.run({ catalog, principal, params, query: url.searchParams, body, idempotencyKey: undefined, createApiKey: (o) => createApiKey(db, o) });
    }
    send(res, reply.status, reply.body, replayed ? { 'idempotent-replayed': 'true' } : {});
    return op.operationId;
  };

  const server = http.createServer((req, res) => {
    handle(req, res).then(
      (operation) => requests.inc({ operation, status: String(res.statusCode) }),
      (err: unknown) => {
        if (err instanceof ApiError) {
          send(res, err.status, { error: err.code, message: err.message, problems: err.problems });
        } else if ((err as { code?: string }).code === '23505') {
          // A concurrent create of the same natural key: the caller may retry and get the winner's.
          send(res, 409, { error: 'concurrent_change', message: 'the object was changed concurrently; retry the request', problems: [] });
        } else {
          logger.error('request failed', { method: req.method, url: req.url, error: err });
          send(res, 500, { error: 'internal_error', message: 'the request failed; see the service log', problems: [] });
        }
        requests.inc({ operation: 'error', status: String(res.statusCode) });
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new Error(`HTTP port ${deps.config.port} is taken: set HTTP_PORT to another port`, { cause: err }) : err));
    server.listen(deps.config.port, deps.config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${deps.config.host}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
