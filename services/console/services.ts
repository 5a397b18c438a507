import type { ConsoleService, ServiceUrls } from './config.ts';

/** A service's refusal or absence, as the page shows it. */
export class ServiceError extends Error {
  constructor(
    readonly service: ConsoleService,
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems: { path: string; message: string }[] = [],
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: ServiceError };

/**
 * The other services' HTTP APIs, called with the signed-in person's key: each service checks the
 * key and its brand scope itself, so the console can never show more than the key may see.
 */
export class ServiceClient {
  constructor(
    private readonly urls: ServiceUrls,
    private readonly key: string,
  ) {}

  private url(service: ConsoleService, path: string, params: Record<string, string | number | undefined> = {}): string {
    const base = this.urls[service];
    if (!base) throw new ServiceError(service, 503, 'service_not_configured', `the console was not told where ${service} is (set ${service.toUpperCase()}_API_URL)`);
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
    const s = q.toString();
    return `${base}${path}${s ? `?${s}` : ''}`;
  }

  private async call(service: ConsoleService, method: string, path: string, params: Record<string, string | number | undefined>, body?: unknown): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(this.url(service, path, params), {
        method,
        headers: { 'x-api-key': this.key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      if (err instanceof ServiceError) throw err;
      throw new ServiceError(service, 503, 'service_unreachable', `${service} did not answer: ${(err as Error).message}`);
    }
    if (!res.ok) {
      const problem = (await res.json().catch(() => ({}))) as { error?: string; detail?: string; title?: string; problems?: { path: string; message: string }[] };
      throw new ServiceError(service, res.status, problem.error ?? `http_${res.status}`, problem.detail ?? problem.title ?? `${service} answered ${res.status}`, problem.problems ?? []);
    }
    return res;
  }

  async get<T>(service: ConsoleService, path: string, params: Record<string, string | number | undefined> = {}): Promise<T> {
    return (await (await this.call(service, 'GET', path, params)).json()) as T;
  }

  /** The same, as an outcome: one screen shows what it could get and says what it could not. */
  async tryGet<T>(service: ConsoleService, path: string, params: Record<string, string | number | undefined> = {}): Promise<Outcome<T>> {
    try {
      return { ok: true, value: await this.get<T>(service, path, params) };
    } catch (err) {
      if (err instanceof ServiceError) return { ok: false, error: err };
      throw err;
    }
  }

  async post<T>(service: ConsoleService, path: string, body: unknown, params: Record<string, string | number | undefined> = {}): Promise<{ status: number; body: T }> {
    const res = await this.call(service, 'POST', path, params, body);
    return { status: res.status, body: (await res.json()) as T };
  }

  /** Any other change (PUT, PATCH, DELETE) with a JSON body. */
  async send<T>(service: ConsoleService, method: 'PUT' | 'PATCH' | 'DELETE', path: string, body: unknown): Promise<{ status: number; body: T }> {
    const res = await this.call(service, method, path, {}, body);
    return { status: res.status, body: (await res.json()) as T };
  }

  /** A document as the service renders it (invoice HTML or PDF), passed through unchanged. */
  async document(service: ConsoleService, path: string): Promise<{ type: string; body: Buffer }> {
    const res = await this.call(service, 'GET', path, {});
    return { type: res.headers.get('content-type') ?? 'application/octet-stream', body: Buffer.from(await res.arrayBuffer()) };
  }
}
