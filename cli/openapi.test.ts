import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
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
      expect(Object.keys(op.responses), op.name).toContain('200');
      // Webhooks carry their gateway's signature instead of a key.
      if (!(op.security && op.security.length === 0)) expect(Object.keys(op.responses), op.name).toContain('401');
    }
  });
});
