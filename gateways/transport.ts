/**
 * Sorting a failed HTTP call: did the request leave? A connection that was never made
 * (refused, no DNS answer) charged nothing: `network_error`. Anything after the request
 * left (timeout, reset, broken response) may have charged: `indeterminate`.
 */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ERR_INVALID_URL', 'UND_ERR_CONNECT_TIMEOUT']);

function codes(err: unknown): string[] {
  const out: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current && depth < 6; depth += 1) {
    const c = current as { code?: unknown; errno?: unknown; detail?: unknown; cause?: unknown };
    if (typeof c.code === 'string') out.push(c.code);
    current = c.detail ?? c.cause;
  }
  return out;
}

export function transportOutcome(err: unknown): { status: 'network_error' | 'indeterminate'; code: string; message: string } {
  const found = codes(err);
  const neverSent = found.find((c) => NEVER_SENT.has(c));
  const message = err instanceof Error ? err.message : String(err);
  if (neverSent) return { status: 'network_error', code: neverSent.toLowerCase(), message };
  return { status: 'indeterminate', code: (found.find((c) => /^E[A-Z]+$/.test(c)) ?? found[0] ?? 'no_response').toLowerCase(), message };
}

/** Problems with the optional endpoint settings every HTTP gateway takes: a base URL (tests, proxies) and a timeout. */
export function checkEndpointOptions(options: { readonly baseUrl?: string | undefined; readonly timeoutMs?: number | undefined }): string[] {
  const problems: string[] = [];
  if (options.baseUrl !== undefined) {
    try {
      const u = new URL(options.baseUrl);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') problems.push(`baseUrl ${options.baseUrl} must be http(s)`);
    } catch {
      problems.push(`baseUrl ${options.baseUrl} is not a URL`);
    }
  }
  if (options.timeoutMs !== undefined && (!Number.isInteger(options.timeoutMs) || options.timeoutMs <= 0)) problems.push('timeoutMs must be a positive whole number');
  return problems;
}
