/**
 * The OpenAPI 3.1 document, made from the operation table and the very schemas ajv
 * validates with. `npm exec tsx services/catalog/openapi.ts` writes services/catalog/openapi.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { listAuditEventsSchema } from '../../runtime/audit.ts';
import { componentSchemas } from './api-schemas.ts';
import { operations } from './operations.ts';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: ref('Error') } } });

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const params = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const query = (op.query ?? []).map((q) => ({ name: q.name, in: 'query', required: false, description: q.description, schema: q.schema ?? { type: 'string' } }));
    const headers = op.idempotencyKey
      ? [{ name: 'Idempotency-Key', in: 'header', required: false, description: 'The same key with the same body replays the first reply; with another body it is refused (422).', schema: { type: 'string', maxLength: 200 } }]
      : [];
    const body = op.list ? { type: 'object', properties: { items: { type: 'array', items: ref(op.response) }, next: { type: ['string', 'null'] } }, required: ['items', 'next'] } : ref(op.response);
    const responses: Record<string, unknown> = {};
    for (const status of op.statuses) responses[String(status)] = { description: status === 201 ? 'Created' : 'OK (an unchanged re-submission changes and publishes nothing)', content: { 'application/json': { schema: body } } };
    if (op.request) responses['422'] = errorResponse('Invalid: every problem, each with its path');
    responses['400'] = errorResponse('Malformed JSON or query');
    responses['401'] = errorResponse('No or unknown API key');
    if (op.method !== 'GET') responses['403'] = errorResponse("A brand's key writing for another brand or the shared catalogue");
    responses['404'] = errorResponse("Not found, or another brand's");
    if (op.method !== 'GET') responses['409'] = errorResponse('Conflicts with the current state (transition not allowed, number assigned, allotment used up, version exists)');
    (paths[op.path] ??= {})[op.method.toLowerCase()] = {
      operationId: op.operationId,
      summary: op.summary,
      tags: [op.tag],
      ...(params.length + query.length + headers.length > 0 ? { parameters: [...params, ...query, ...headers] } : {}),
      ...(op.request ? { requestBody: { required: op.request !== 'NumberReleaseRequest', content: { 'application/json': { schema: ref(op.request) } } } } : {}),
      responses,
    };
  }
  paths['/audit-events'] = { get: auditEventsOperation() };
  return {
    openapi: '3.1.0',
    info: {
      title: 'rateline catalogue',
      version: '1.0.0',
      description:
        'Brands, plans, customers, subscriptions, the toll-free number inventory and rating rules. Every change is published to the ref.* compacted topics (lifecycle changes also to account.lifecycle) through an outbox. Money is a decimal string, instants ISO 8601 with an offset.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: '/' }],
    security: [{ apiKey: [] }, { bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key', description: "The parent's key sees all; a brand's key only its brand." },
        bearer: { type: 'http', scheme: 'bearer', description: 'The same key as a bearer token.' },
      },
      schemas: componentSchemas,
    },
  };
}

/** The runtime's audit route (every catalogue change is recorded), documented from its own schema. */
function auditEventsOperation(): Record<string, unknown> {
  const { operationId, summary, tags, querystring, response } = listAuditEventsSchema();
  const { description, ...page } = response[200];
  return {
    operationId,
    summary,
    tags,
    parameters: Object.entries(querystring.properties).map(([name, schema]) => ({ name, in: 'query', required: false, schema })),
    responses: { '200': { description, content: { 'application/json': { schema: page } } }, '400': errorResponse('Malformed query'), '401': errorResponse('No or unknown API key') },
  };
}

export const openApiPath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'openapi.json');
export const openApiText = () => `${JSON.stringify(openApiDocument(), null, 2)}\n`;

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  fs.writeFileSync(openApiPath, openApiText());
  process.stdout.write(`wrote ${path.relative(process.cwd(), openApiPath)}\n`);
}
