import { createRequire } from 'node:module';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import findMyWay from 'find-my-way';
import type { ValidateFunction } from 'ajv';
import client from 'prom-client';
import type { HttpConfig } from './config.ts';
import { classifyFailure, RatelineError } from './errors.ts';
import { silentLogger, type Logger } from './log.ts';
import type { KeyVerifier, Principal } from './auth.ts';
import { auditPlugin, ensureAuditTable, type AuditTrail } from './audit.ts';

/**
 * A named readiness check; /healthz is 200 only when every check passes. A check that fails with
 * `degraded` (a stage retrying a transient failure) makes the status `degraded` rather than
 * `unavailable`: the process works and will catch up, but is not processing now.
 */
export type HealthCheck = () => { ok: boolean; degraded?: boolean; detail?: string; since?: string };

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller, set by the key check; undefined only on public routes (webhooks, /openapi.json). */
    principal: Principal | undefined;
  }
  interface FastifyContextConfig {
    /** No API key: the route checks its own signature (webhooks) or serves public text. */
    public?: boolean;
    /** Moves money: each call is recorded with the key's id (runtime/audit.ts). */
    audit?: boolean;
    /**
     * The contract check of a route documented outside its fastify schema (the catalogue's
     * operation table): the problems of a success body, none when it matches.
     */
    checkResponse?: (status: number, body: unknown) => Problem[];
  }
}

/** One problem in a request: where (`priceModels[0].unitPrice`, `query.month`) and what. */
export interface Problem {
  path: string;
  message: string;
}

/** An error that is an HTTP answer: its status, stable code and, for invalid requests, every problem. */
export class HttpError extends RatelineError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly problems: Problem[] = [],
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(code, message, { retryable: false, details: { status } });
    this.name = 'HttpError';
  }
}

export const notFound = (what: string, code = 'not_found') => new HttpError(404, code, `${what} was not found`);

/**
 * The one error body of every service (RFC 9457 problem details, application/problem+json):
 * `error` is the stable snake_case code, `detail` says what happened, `problems` lists every
 * problem of an invalid request; other members are the case's own (e.g. `attempt`).
 */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  error: string;
  detail?: string;
  problems?: Problem[];
  [extension: string]: unknown;
}

const titles: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 413: 'Content Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Content', 500: 'Internal Server Error', 503: 'Service Unavailable' };

/** Problems as `{path, message}`; a bare sentence is about the whole request (path ''). */
export function asProblems(problems: readonly unknown[]): Problem[] {
  return problems.map((p) => (typeof p === 'string' ? { path: '', message: p } : (p as Problem)));
}

export function problem(status: number, code: string, detail?: string, extras: Record<string, unknown> = {}): ProblemBody {
  const { problems, ...rest } = extras;
  return { type: `urn:rateline:problem:${code}`, title: titles[status] ?? 'Error', status, error: code, ...(detail === undefined ? {} : { detail }), ...(Array.isArray(problems) ? { problems: asProblems(problems) } : {}), ...rest };
}

/** The JSON Schema of the problem body, for OpenAPI. */
export const problemSchema = {
  $id: 'Problem',
  type: 'object',
  description: 'RFC 9457 problem details; `error` is the stable snake_case code.',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    error: { type: 'string' },
    detail: { type: 'string' },
    problems: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } }, required: ['path', 'message'] } },
  },
  required: ['type', 'title', 'status', 'error'],
  additionalProperties: true,
} as const;

/** A problem answer's schema with its description, for a route's `response`. */
export const problemAnswer = (description: string) => {
  const { $id: _id, ...schema } = problemSchema;
  return { ...schema, description };
};

/** The error answers every authenticated route may give, for route schemas (and so OpenAPI). */
export const problemResponses = {
  400: problemAnswer('Malformed JSON or invalid parameters'),
  401: problemAnswer('No API key, or an unknown, revoked or expired one'),
  404: problemAnswer("Not found, or another brand's"),
  422: problemAnswer('Invalid request: every problem, each with its path'),
  503: problemAnswer('A dependency (database, broker) is unavailable; retry'),
} as const;

/** `?brand=`: the parent's key may name any brand, a brand's key only its own (another brand: 404 or nothing). */
export const brandQuery = { type: 'object', properties: { brand: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,39}$' } }, additionalProperties: false } as const;

/**
 * Maps anything thrown to its HTTP answer, once for every service: our HTTP errors keep their
 * status; fastify's request errors (validation, media type, size, JSON) become 4xx; the error
 * family's codes decide the rest: retryable (database, broker away) is 503, a unique violation
 * a concurrent change (409), any other coded domain refusal 422, and anything else 500.
 */
export function problemOf(err: unknown): ProblemBody {
  if (err instanceof HttpError) return problem(err.status, err.code, err.message, { ...(err.problems.length > 0 ? { problems: err.problems } : {}), ...err.extensions });
  const e = err as { validation?: { instancePath?: string; params?: { missingProperty?: string; additionalProperty?: string }; message?: string }[]; validationContext?: string; code?: string; statusCode?: number; message?: string };
  if (e?.validation) {
    const problems = e.validation.map((v) => {
      const below = v.params?.missingProperty ?? v.params?.additionalProperty;
      const path = [e.validationContext === 'body' ? '' : e.validationContext, ...(v.instancePath ?? '').split('/').filter(Boolean), below].filter(Boolean).join('.');
      return { path, message: v.message ?? 'is invalid' };
    });
    return problem(e.validationContext === 'body' ? 422 : 400, e.validationContext === 'body' ? 'invalid_request' : 'invalid_parameters', 'the request is invalid', { problems });
  }
  if (e?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return problem(413, 'body_too_large', e.message);
  if (e?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return problem(415, 'unsupported_media_type', 'send JSON with content-type application/json');
  if (e?.code?.startsWith('FST_ERR_CTP_') || (e?.statusCode === 400 && err instanceof SyntaxError)) return problem(400, 'malformed_json', 'the body is not JSON', { problems: [{ path: '', message: e.message ?? '' }] });
  if (e?.statusCode === 404) return problem(404, 'not_found', e.message);
  const failure = classifyFailure(err);
  if (failure.code === 'sqlstate_23505') return problem(409, 'concurrent_change', 'the object was changed concurrently; retry the request');
  if (failure.retryable) return problem(503, failure.code, 'a dependency is unavailable; retry later');
  if (failure.code !== 'internal_error' && err instanceof RatelineError) return problem(422, failure.code, err.message, Array.isArray(err.details.problems) ? { problems: err.details.problems } : {});
  return problem(500, 'internal_error', 'the request failed; see the service log');
}

/** A handler's answer: JSON by default, or a document (`type` set, body text or bytes). */
export interface Reply {
  status: number;
  body: unknown;
  type?: string;
  headers?: Record<string, string>;
}

/**
 * Sends a use case's reply. A refusal (status >= 400) whose body carries `error` becomes a
 * problem body with the same code and members, so handlers keep returning their own results.
 */
export function send(reply: FastifyReply, answer: Reply): FastifyReply {
  if (answer.headers) void reply.headers(answer.headers);
  if (answer.type) return reply.code(answer.status).type(answer.type).send(answer.body);
  const body = answer.body as { error?: unknown; message?: unknown } | null;
  if (answer.status >= 400 && body && typeof body.error === 'string') {
    const { error, message, ...rest } = body as Record<string, unknown>;
    return reply.code(answer.status).type('application/problem+json').send(problem(answer.status, error as string, typeof message === 'string' ? message : undefined, rest));
  }
  return reply.code(answer.status).type('application/json; charset=utf-8').send(JSON.stringify(answer.body));
}

/** The key as presented: `X-Api-Key: <key>` or `Authorization: Bearer <key>`. */
export function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header !== '') return header;
  const m = request.headers.authorization ? /^Bearer\s+(\S+)$/i.exec(request.headers.authorization) : null;
  return m?.[1];
}

/** The principal of an authenticated route (the key check ran before the handler). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new HttpError(401, 'unauthenticated', 'this route needs an API key');
  return request.principal;
}

export interface ApiOptions {
  title: string;
  description: string;
  /** Keys: every route not marked `config: { public: true }` needs one. */
  verifier: KeyVerifier;
  logger: Logger;
  metrics: { registry: client.Registry };
  /** Body limit of JSON routes (1 MiB). */
  bodyLimit?: number;
  /** Shared schemas, referenced as `{ $ref: 'Name#' }` and listed in the OpenAPI components. */
  schemas?: Record<string, unknown>[];
  /** The routes. */
  routes(app: FastifyInstance): void | Promise<void>;
  /** Where audited calls are recorded (services whose routes move money). */
  audit?: AuditTrail;
  /** A service with its own OpenAPI document (made from the same schemas it validates with) serves it instead. */
  openApi?: () => unknown;
  now?: () => number;
  /**
   * Check every JSON answer against the route's documented response schema; an answer that
   * breaks its contract becomes a 500 `response_contract_violation` naming each problem. On in
   * the test suites (RATELINE_CHECK_RESPONSES=1), so the OpenAPI document cannot drift from what
   * the service sends; off in production, where it would cost a validation per answer.
   */
  checkResponses?: boolean;
}

const require = createRequire(import.meta.url);
// ajv and ajv-formats are CommonJS: load them the way every Node version resolves them.
const Ajv = require('ajv') as typeof import('ajv').default;
const addFormats = require('ajv-formats') as typeof import('ajv-formats').default;

type RouteResponses = Record<string, { content?: Record<string, { schema?: unknown }> } & Record<string, unknown>>;

/** The documented schema of an answer: by status (or its class, `2xx`), then by media type if it names several. */
function documentedResponse(responses: RouteResponses | undefined, status: number, contentType: string): unknown {
  const documented = responses?.[String(status)] ?? responses?.[`${String(status)[0]}xx`];
  if (!documented) return undefined;
  if (!documented.content) return documented;
  const media = contentType.split(';')[0]!.trim();
  return documented.content[media]?.schema;
}

/**
 * An onSend check of JSON answers against their route's response schemas (see
 * `ApiOptions.checkResponses`). Answers with no documented schema for their status are refused
 * too: an undocumented answer is as much a drift as a wrong one.
 */
function responseContractCheck(app: FastifyInstance, shared: Record<string, unknown>[]): void {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  for (const schema of shared) ajv.addSchema(schema as object);
  const compiled = new WeakMap<object, ValidateFunction>();
  const validatorOf = (schema: object): ValidateFunction => {
    let validate = compiled.get(schema);
    if (!validate) {
      // Shared schemas are added by $id; a route's own is compiled without one.
      const { $id: _id, description: _d, ...bare } = schema as Record<string, unknown>;
      validate = ajv.compile(bare);
      compiled.set(schema, validate);
    }
    return validate;
  };
  app.addHook('onSend', async (request, reply, payload) => {
    const contentType = String(reply.getHeader('content-type') ?? '');
    if (!/json/.test(contentType) || typeof payload !== 'string' || request.routeOptions.url === undefined || request.routeOptions.schema?.hide) return payload;
    const own = request.routeOptions.config?.checkResponse;
    if (own && reply.statusCode < 400) {
      const found = own(reply.statusCode, JSON.parse(payload));
      if (found.length === 0) return payload;
      return contractViolation(request, reply, payload, found);
    }
    // Refusals the layer itself makes on any route (413, 415, 409...) share the one problem shape.
    const schema = documentedResponse(request.routeOptions.schema?.response as RouteResponses | undefined, reply.statusCode, contentType) ?? (contentType.startsWith('application/problem+json') ? problemSchema : undefined);
    let problems: Problem[];
    if (schema === undefined || schema === null || typeof schema !== 'object') {
      problems = [{ path: '', message: `status ${reply.statusCode} (${contentType}) is not documented for ${request.method} ${request.routeOptions.url}` }];
    } else {
      const validate = validatorOf(schema);
      if (validate(JSON.parse(payload))) return payload;
      problems = (validate.errors ?? []).map((e) => ({ path: `${e.instancePath}${e.keyword === 'additionalProperties' ? `/${(e.params as { additionalProperty: string }).additionalProperty}` : ''}`, message: e.message ?? 'is invalid' }));
    }
    return contractViolation(request, reply, payload, problems);
  });
}

function contractViolation(request: FastifyRequest, reply: FastifyReply, payload: string, problems: Problem[]): string {
  void reply.code(500).type('application/problem+json');
  return JSON.stringify(problem(500, 'response_contract_violation', `the answer of ${request.method} ${request.routeOptions.url} does not match its documented schema`, { problems, answer: JSON.parse(payload) as unknown }));
}

/**
 * Routes by method, for the answer to a path that exists with another method (405 with
 * `Allow`, as HTTP asks) rather than fastify's 404.
 */
function methodIndex(app: FastifyInstance): (method: string, path: string) => string[] {
  const router = findMyWay();
  const known = new Set<string>();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method === 'HEAD' || known.has(`${method} ${route.url}`)) continue;
      known.add(`${method} ${route.url}`);
      router.on(method as 'GET', route.url, () => undefined);
    }
  });
  return (method, path) => ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].filter((m) => m !== method && router.find(m as 'GET', path) !== null);
}

/**
 * A service's API on fastify: routes with ajv-validated schemas, one JSON parser (an empty
 * body is no body), the key check, problem details for every error, a request counter, and
 * /openapi.json made by @fastify/swagger from the route schemas.
 */
export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: options.bodyLimit ?? 1024 * 1024, ajv: { customOptions: { allErrors: true, removeAdditional: false, coerceTypes: 'array' } } });
  const now = options.now ?? Date.now;
  const requests = new client.Counter({ name: 'rateline_http_requests_total', help: 'API requests by route and status', labelNames: ['route', 'status'], registers: [options.metrics.registry] });
  app.decorateRequest('principal', undefined);
  const allowedMethods = methodIndex(app);

  const defaultJson = app.getDefaultJsonParser('error', 'error');
  // JSON only; routes that take other bodies (webhooks, file uploads) add their own parsers.
  app.removeAllContentTypeParsers();
  const parseJson = (request: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    if (body === '') return done(null, undefined);
    defaultJson(request, body as string, done);
  };
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJson);
  app.addContentTypeParser(/^application\/[a-z.+-]+\+json/, { parseAs: 'string' }, parseJson);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: options.title, description: options.description, version: '1.0.0' },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key', description: "A catalogue API key: the parent's sees every brand, a brand's only its own." },
          bearer: { type: 'http', scheme: 'bearer', description: 'The same key as a bearer token.' },
        },
      },
      security: [{ apiKey: [] }, { bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  app.addSchema(problemSchema);
  for (const schema of options.schemas ?? []) app.addSchema(schema);

  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config?.public || request.routeOptions.url === undefined) return;
    const key = presentedKey(request);
    if (!key) throw new HttpError(401, 'unauthenticated', 'send an API key in X-Api-Key or Authorization: Bearer');
    const verified = await options.verifier.verify(key, now());
    if (!verified.ok) throw new HttpError(401, 'unauthenticated', verified.reason === 'unknown' ? 'unknown API key' : `the API key is ${verified.reason}`);
    request.principal = verified.principal;
  });
  app.addHook('onResponse', async (request, reply) => {
    requests.inc({ route: request.routeOptions.url ?? 'unknown', status: String(reply.statusCode) });
    // Who asked is the key's id; the key itself is never logged (nor any header).
    options.logger.debug('request', { method: request.method, route: request.routeOptions.url, status: reply.statusCode, keyId: request.principal?.keyId });
  });
  app.setErrorHandler((err, request, reply) => {
    const body = problemOf(err);
    if (body.status >= 500) options.logger.error('request failed', { method: request.method, route: request.routeOptions.url, error: err });
    if (body.status === 413 || body.status === 400) void reply.header('connection', 'close');
    void reply.code(body.status).type('application/problem+json').send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = allowedMethods(request.method, path);
    if (allowed.length > 0) return void reply.code(405).header('allow', allowed.join(', ')).type('application/problem+json').send(problem(405, 'method_not_allowed', `${path} answers ${allowed.join(', ')}, not ${request.method}`));
    void reply.code(404).type('application/problem+json').send(problem(404, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}`));
  });

  if (options.checkResponses ?? process.env.RATELINE_CHECK_RESPONSES === '1') responseContractCheck(app, [problemSchema, ...(options.schemas ?? [])]);
  if (options.audit) {
    await ensureAuditTable(options.audit);
    auditPlugin(options.audit, options.logger)(app);
  }
  await options.routes(app);
  const served = options.openApi;
  app.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, async (_request, reply) => reply.type('application/json; charset=utf-8').send(served ? served() : app.swagger()));
  await app.ready();
  return app;
}

/** The ops listener's own small app: /metrics for Prometheus, /healthz for orchestrators. */
function buildOps(registry: client.Registry, checks: Record<string, HealthCheck>, routes?: (app: FastifyInstance) => void): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  app.get('/healthz', async (_request, reply) => {
    const results = Object.fromEntries(Object.entries(checks).map(([name, check]) => [name, check()]));
    const failing = Object.values(results).filter((r) => !r.ok);
    const status = failing.length === 0 ? 'ok' : failing.every((r) => r.degraded) ? 'degraded' : 'unavailable';
    return reply.code(status === 'ok' ? 200 : 503).send({ status, checks: results });
  });
  app.setNotFoundHandler((request, reply) => void reply.code(404).type('application/problem+json').send(problem(404, 'not_found', `no route ${request.url.split('?')[0]} on the ops listener (/metrics, /healthz)`)));
  app.setErrorHandler((err, _request, reply) => void reply.code(500).type('application/problem+json').send(problem(500, 'internal_error', (err as Error).message)));
  routes?.(app);
  return app;
}

async function listen(app: FastifyInstance, host: string, port: number, variable: string): Promise<string> {
  try {
    await app.listen({ host, port });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new Error(`port ${port} is taken: set ${variable} to another port`, { cause: err });
    throw err;
  }
  const address = app.server.address();
  return `http://${host}:${typeof address === 'object' && address ? address.port : port}`;
}

export interface OpsServer {
  url: string;
  close(): Promise<void>;
}

/** The per-service operations endpoint alone (stages without an API). */
export async function startOpsServer(config: HttpConfig, registry: client.Registry, checks: Record<string, HealthCheck>, routes?: (app: FastifyInstance) => void): Promise<OpsServer> {
  const app = buildOps(registry, checks, routes);
  const url = await listen(app, config.host, config.opsPort ?? 0, 'OPS_PORT');
  return { url, close: () => app.close() };
}

export interface HttpServers {
  /** The ops listener (/metrics, /healthz). */
  url: string;
  /** The API listener. */
  apiUrl: string;
  api: FastifyInstance;
  close(): Promise<void>;
}

/** A service's two listeners: the API (HTTP_PORT) and the ops endpoint (OPS_PORT), apart. */
export async function startHttp(config: HttpConfig, registry: client.Registry, checks: Record<string, HealthCheck>, api: ApiOptions, opsRoutes?: (app: FastifyInstance) => void): Promise<HttpServers> {
  const app = await buildApi(api);
  const ops = await startOpsServer(config, registry, checks, opsRoutes);
  let apiUrl: string;
  try {
    apiUrl = await listen(app, config.host, config.port, 'HTTP_PORT');
  } catch (err) {
    await ops.close();
    throw err;
  }
  return {
    url: ops.url,
    apiUrl,
    api: app,
    close: async () => {
      await app.close();
      await ops.close();
    },
  };
}

/** The OpenAPI document of an API, as /openapi.json serves it, made without a listener or keys. */
export async function openApiOf(api: Pick<ApiOptions, 'title' | 'description' | 'routes' | 'schemas' | 'audit'>): Promise<Record<string, unknown>> {
  // The audit routes are documented; their table is not touched.
  const app = await buildApi({ ...api, audit: undefined, ...(api.audit ? { routes: async (a) => (auditPlugin(api.audit!, { error: () => undefined })(a), api.routes(a)) } : {}), verifier: { verify: () => ({ ok: false, reason: 'unknown' }) }, logger: silentLogger, metrics: { registry: new client.Registry() } });
  try {
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
  }
}

/** The committed form of a document: two-space JSON with a final newline. */
export const openApiText = (doc: unknown) => `${JSON.stringify(doc, null, 2)}\n`;
