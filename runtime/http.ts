import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type client from 'prom-client';
import type { HttpConfig } from './config.ts';

/**
 * A named readiness check; /healthz is 200 only when every check passes. A check that fails with
 * `degraded` (a stage retrying a transient failure) makes the status `degraded` rather than
 * `unavailable`: the process works and will catch up, but is not processing now.
 */
export type HealthCheck = () => { ok: boolean; degraded?: boolean; detail?: string; since?: string };

export interface OpsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * The per-service operations endpoint: /metrics for Prometheus and /healthz for orchestrators.
 * Extra routes (e.g. an upload endpoint) can be mounted by the service.
 */
export async function startOpsServer(
  config: HttpConfig,
  registry: client.Registry,
  checks: Record<string, HealthCheck>,
  routes: Record<string, http.RequestListener> = {},
): Promise<OpsServer> {
  const server = http.createServer((req, res) => {
    const route = (req.url ?? '/').split('?')[0]!;
    if (route === '/metrics' && req.method === 'GET') {
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (err: Error) => res.writeHead(500).end(err.message),
      );
      return;
    }
    if (route === '/healthz' && req.method === 'GET') {
      const results = Object.fromEntries(Object.entries(checks).map(([name, check]) => [name, check()]));
      const failing = Object.values(results).filter((r) => !r.ok);
      const status = failing.length === 0 ? 'ok' : failing.every((r) => r.degraded) ? 'degraded' : 'unavailable';
      res.writeHead(status === 'ok' ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status, checks: results }));
      return;
    }
    // Exact routes first; a route ending in '/' takes every path under it (e.g. '/invoices/').
    const handler = routes[route] ?? Object.entries(routes).find(([prefix]) => prefix.endsWith('/') && route.startsWith(prefix))?.[1];
    if (handler) return handler(req, res);
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not_found', path: route }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new Error(`HTTP port ${config.port} is taken: set HTTP_PORT to another port`, { cause: err }) : err),
    );
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${config.host}:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
