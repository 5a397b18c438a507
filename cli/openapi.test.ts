import fs from 'node:fs';
import client from 'prom-client';
import { describe, expect, it } from 'vitest';
import { buildApi, type ApiOptions } from '../runtime/http.ts';
import { silentLogger } from '../runtime/log.ts';
import { openApiDocument } from '../services/catalog/openapi.ts';
import { catalogApi } from '../services/catalog/server.ts';
import { documentedServices, openApiFile, serviceOpenApiText } from './openapi.ts';

describe("every service's OpenAPI document", () => {
  it.each(Object.keys(documentedServices))('%s: committed as the routes make it (npx tsx cli/openapi.ts)', async (service) => {
    expect(fs.readFileSync(openApiFile(service), 'utf8')).toBe(await serviceOpenApiText(service));
  });

  it.each(Object.keys(documentedServices))('%s: every operation has an id, a summary, a success answer and the problem answers', async (service) => {
    const doc = JSON.parse(await serviceOpenApiText(service)) as { paths: Record<string, Record<string, { operationId?: string; summary?: string; responses: Record<string, unknown>; security?: unknown[] }>> };
    const operations = Object.entries(doc.paths).flatMap(([p, methods]) => Object.entries(methods).map(([m, op]) => ({ name: `${m} ${p}`, ...op })));
    expect(operations.length).toBeGreaterThan(0);
    for (const op of operations) {
      expect(op.operationId, op.name).toBeTruthy();
      expect(op.summary, op.name).toBeTruthy();
      expect(Object.keys(op.responses).some((status) => /^2\d\d$/.test(status)), op.name).toBe(true);
      // Webhooks carry their gateway's signature instead of a key.
      if (!(op.security && op.security.length === 0)) expect(Object.keys(op.responses), op.name).toContain('401');
    }
  });

  it.each(Object.keys(documentedServices))('%s: every request and success body is described: properties, not a bare object', async (service) => {
    const doc = JSON.parse(await serviceOpenApiText(service)) as { paths: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, Schema> } };
    const bare: string[] = [];
    for (const [p, methods] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(methods)) {
        for (const [status, answer] of Object.entries(op.responses)) {
          if (!status.startsWith('2')) continue;
          for (const [media, { schema }] of Object.entries(answer.content ?? {})) if (media.includes('json') && !described(schema, doc.components?.schemas ?? {})) bare.push(`${m} ${p} ${status} ${media}`);
        }
        for (const [media, { schema }] of Object.entries(op.requestBody?.content ?? {})) if (media.includes('json') && !described(schema, doc.components?.schemas ?? {})) bare.push(`${m} ${p} request ${media}`);
      }
    }
    expect(bare).toEqual([]);
  });
});

type Schema = { $ref?: string; type?: unknown; properties?: Record<string, Schema>; items?: Schema; oneOf?: Schema[]; additionalProperties?: unknown };
type Operation = { responses: Record<string, { content?: Record<string, { schema: Schema }> }>; requestBody?: { content?: Record<string, { schema: Schema }> } };

/** An object names its properties (or is a map of one described value); arrays describe their items; a union each member. */
function described(schema: Schema, components: Record<string, Schema>): boolean {
  if (schema.$ref) return described(components[schema.$ref.split('/').at(-1)!] ?? {}, components);
  if (schema.oneOf) return schema.oneOf.every((s) => described(s, components));
  if (schema.type === 'array') return schema.items !== undefined && described(schema.items, components);
  if (schema.type === 'object' || schema.properties) {
    if (schema.properties) return Object.values(schema.properties).every((s) => !(s.type === 'object' || s.type === 'array') || described(s, components));
    return typeof schema.additionalProperties === 'object';
  }
  return schema.type !== undefined || schema.$ref !== undefined;
}

describe('every route of every service needs a key', () => {
  const refuseAll = { verify: () => ({ ok: false as const, reason: 'unknown' as const }) };
  const services: Record<string, () => Pick<ApiOptions, 'title' | 'description' | 'routes' | 'schemas'>> = {
    ...documentedServices,
    // Its routes only: no key reaches the database, which this test has none of.
    catalog: () => catalogApi({ db: undefined as never, catalog: undefined as never, metrics: { registry: new client.Registry() } as never, openApi: () => ({}), logger: silentLogger, now: Date.now }),
  };

  it.each(Object.keys(services))('%s: no key and an unknown key get 401 on every operation but the signed webhooks', async (service) => {
    const api = await buildApi({ ...services[service]!(), audit: undefined, verifier: refuseAll, logger: silentLogger, metrics: { registry: new client.Registry() } });
    try {
      const doc = api.swagger() as unknown as { paths: Record<string, Record<string, { security?: unknown[] }>> };
      const served = service === 'catalog' ? (openApiDocument() as typeof doc) : doc;
      const operations = Object.entries(served.paths).flatMap(([p, methods]) => Object.entries(methods).map(([method, op]) => ({ method: method.toUpperCase() as 'GET', url: p.replace(/\{(\w+)\}/g, 'x1.json'), public: op.security?.length === 0 })));
      expect(operations.length).toBeGreaterThan(0);
      // The catalogue's audit route is the runtime's (checked with the other services); without a database it is not mounted here.
      for (const op of operations.filter((o) => !o.public && !(service === 'catalog' && o.url === '/audit-events'))) {
        for (const headers of [{}, { 'x-api-key': 'rlk_unknown_key' }]) {
          const answer = await api.inject({ method: op.method, url: op.url, headers });
          expect(answer.statusCode, `${op.method} ${op.url} ${JSON.stringify(headers)}`).toBe(401);
          expect(answer.json().error).toBe('unauthenticated');
        }
      }
    } finally {
      await api.close();
    }
  });
});
