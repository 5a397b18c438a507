import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { componentSchemas } from './api-schemas.ts';
import { openApiDocument, openApiPath, openApiText } from './openapi.ts';
import { operations } from './operations.ts';

describe('the OpenAPI document', () => {
  it('is committed as the code generates it (npx tsx services/catalog/openapi.ts)', () => {
    expect(fs.readFileSync(openApiPath, 'utf8')).toBe(openApiText());
  });

  it('documents every operation and uses the validation schemas as its components', () => {
    const doc = openApiDocument() as { paths: Record<string, Record<string, { operationId: string }>>; components: { schemas: unknown } };
    const documented = Object.values(doc.paths).flatMap((p) => Object.values(p).map((o) => o.operationId));
    // and the runtime's audit trail, which records every change
    expect(documented.sort()).toEqual([...operations.map((o) => o.operationId), 'listAuditEvents'].sort());
    expect(doc.components.schemas).toBe(componentSchemas);
  });

  it('resolves every reference it makes', () => {
    const text = openApiText();
    for (const [, name] of text.matchAll(/"#\/components\/schemas\/(\w+)"/g)) expect(componentSchemas, name).toHaveProperty(name!);
  });
});
