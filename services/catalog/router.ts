/**
 * A small router over node:http: one table of routes serves requests and describes the
 * OpenAPI paths, so the document cannot drift from what is served.
 */
export type Method = 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface RouteSpec<H> {
  method: Method;
  /** OpenAPI style: `/customers/{accountId}`. */
  path: string;
  handler: H;
}

export interface Match<H> {
  route: RouteSpec<H>;
  params: Record<string, string>;
}

interface Compiled<H> {
  route: RouteSpec<H>;
  segments: ({ literal: string } | { param: string })[];
}

export type Resolution<H> = { kind: 'match'; match: Match<H> } | { kind: 'method_not_allowed'; allowed: Method[] } | { kind: 'not_found' };

function splitPath(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

export class Router<H> {
  private readonly compiled: Compiled<H>[] = [];

  constructor(routes: readonly RouteSpec<H>[] = []) {
    for (const route of routes) this.add(route);
  }

  add(route: RouteSpec<H>): void {
    const segments = splitPath(route.path).map((s) => {
      const m = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(s);
      return m ? { param: m[1]! } : { literal: s };
    });
    const clash = this.compiled.find((c) => c.route.method === route.method && sameShape(c.segments, segments));
    if (clash) throw new Error(`route ${route.method} ${route.path} clashes with ${clash.route.path}`);
    this.compiled.push({ route, segments });
  }

  get routes(): readonly RouteSpec<H>[] {
    return this.compiled.map((c) => c.route);
  }

  /**
   * Finds the route for a method and a raw URL path. Literal segments win over parameters,
   * so `/numbers/stock` is never read as a number. Parameters are percent-decoded; a segment
   * that does not decode is no match.
   */
  resolve(method: string, rawPath: string): Resolution<H> {
    const parts = splitPath(rawPath);
    let best: { c: Compiled<H>; params: Record<string, string>; literals: number } | undefined;
    const allowed = new Set<Method>();
    for (const c of this.compiled) {
      if (c.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let literals = 0;
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const seg = c.segments[i]!;
        const part = parts[i]!;
        if ('literal' in seg) {
          ok = seg.literal === part;
          literals++;
        } else {
          try {
            params[seg.param] = decodeURIComponent(part);
          } catch {
            ok = false;
          }
        }
      }
      if (!ok) continue;
      allowed.add(c.route.method);
      if (c.route.method !== method) continue;
      if (!best || literals > best.literals) best = { c, params, literals };
    }
    if (best) return { kind: 'match', match: { route: best.c.route, params: best.params } };
    if (allowed.size > 0) return { kind: 'method_not_allowed', allowed: [...allowed] };
    return { kind: 'not_found' };
  }
}

function sameShape(a: Compiled<unknown>['segments'], b: Compiled<unknown>['segments']): boolean {
  if (a.length !== b.length) return false;
  return a.every((s, i) => {
    const t = b[i]!;
    if ('literal' in s) return 'literal' in t && t.literal === s.literal;
    return 'param' in t;
  });
}
