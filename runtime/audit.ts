import type { FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import { brandFilter } from './auth.ts';
import { principalOf, problemResponses, send } from './http.ts';

/**
 * Who moved money: every call of a route marked `config: { audit: true }` (refunds, credit notes,
 * manual payments, payment methods, bill and collection runs, uploads, every catalogue change) is recorded with the
 * key's id, before the answer leaves, in the service's own schema. Readable at GET /audit-events:
 * the parent's key sees every entry, a brand's key the entries made with its brand's keys.
 */
export interface AuditTrail {
  db: Knex;
  /** The service's PostgreSQL schema; the table is `<schema>.api_audit`. */
  schema: string;
}

export async function ensureAuditTable(trail: AuditTrail): Promise<void> {
  // Instances of a service starting together: one creates, the others wait and find it made.
  await trail.db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`${trail.schema}.api_audit`]);
    await trx.raw(`create schema if not exists ??`, [trail.schema]);
    await trx.raw(
      `create table if not exists ??.api_audit (
         id bigserial primary key,
         at timestamptz not null default now(),
         key_id text not null,
         key_brand text,
         operation text not null,
         method text not null,
         path text not null,
         status integer not null,
         request jsonb
       )`,
      [trail.schema],
    );
    // Read by key and by brand, in order.
    await trx.raw(`create index if not exists api_audit_key on ??.api_audit (key_id, id)`, [trail.schema]);
    await trx.raw(`create index if not exists api_audit_brand on ??.api_audit (key_brand, id)`, [trail.schema]);
  });
}

export interface AuditEntry {
  id: string;
  at: string;
  keyId: string;
  keyBrand: string | null;
  operation: string;
  method: string;
  path: string;
  status: number;
  request: unknown;
}

/**
 * GET /audit-events: its parameters and answer (the catalogue documents it from this too). A
 * function: runtime/http.ts and this module import each other.
 */
export const listAuditEventsSchema = () =>
  ({
  operationId: 'listAuditEvents',
  summary: "Who moved money or changed the catalogue: each audited call with the key's id, oldest first (a brand's key: its brand's keys' calls)",
  tags: ['audit'],
  querystring: { type: 'object', properties: { brand: { type: 'string' }, keyId: { type: 'string' }, after: { type: 'integer', minimum: 0, description: 'The last id of the previous page' }, limit: { type: 'integer', minimum: 1, maximum: 1000 } }, additionalProperties: false },
  response: {
    200: {
      description: 'Audit entries',
      type: 'object',
      properties: {
        items: {
          type: 'array',
          items: {
            type: 'object',
            properties: { id: { type: 'string' }, at: { type: 'string', format: 'date-time' }, keyId: { type: 'string' }, keyBrand: { type: ['string', 'null'] }, operation: { type: 'string' }, method: { type: 'string' }, path: { type: 'string' }, status: { type: 'integer' }, request: { description: 'The JSON body of an accepted call; null for a refused one' } },
            required: ['id', 'at', 'keyId', 'keyBrand', 'operation', 'method', 'path', 'status', 'request'],
            additionalProperties: false,
          },
        },
      },
      required: ['items'],
      additionalProperties: false,
    },
    ...problemResponses,
  },
}) as const;

/** Records audited calls (onSend: the row is written before the answer goes out) and serves GET /audit-events. */
export function auditPlugin(trail: AuditTrail, logger: { error(msg: string, fields?: Record<string, unknown>): void }): (app: FastifyInstance) => void {
  const table = `${trail.schema}.api_audit`;
  return (app) => {
    app.addHook('onSend', async (request, reply, payload) => {
      if (!request.routeOptions.config?.audit || !request.principal) return payload;
      const principal = request.principal;
      // A refused request's body is not kept: it may hold what was refused (card data, say).
      const body = reply.statusCode < 400 && request.body !== undefined && !Buffer.isBuffer(request.body) ? JSON.stringify(request.body) : null;
      try {
        await trail.db(table).insert({
          key_id: principal.keyId,
          key_brand: principal.kind === 'brand' ? principal.brand : null,
          operation: request.routeOptions.schema?.operationId ?? request.routeOptions.url,
          method: request.method,
          path: request.url,
          status: reply.statusCode,
          request: body,
        });
      } catch (error) {
        logger.error('audit entry not written', { operation: request.routeOptions.url, keyId: principal.keyId, error });
      }
      return payload;
    });
    app.get<{ Querystring: { brand?: string; keyId?: string; after?: number; limit?: number } }>(
      '/audit-events',
      {
        schema: listAuditEventsSchema(),
      },
      async (request, reply) => {
        const scope = brandFilter(principalOf(request), request.query.brand);
        if (scope === 'none') return send(reply, { status: 200, body: { items: [] } });
        const q = trail.db(table).where('id', '>', request.query.after ?? 0).orderBy('id').limit(request.query.limit ?? 100);
        if (scope.brand !== undefined) void q.where({ key_brand: scope.brand });
        if (request.query.keyId) void q.where({ key_id: request.query.keyId });
        const rows: { id: string; at: Date; key_id: string; key_brand: string | null; operation: string; method: string; path: string; status: number; request: unknown }[] = await q;
        const items: AuditEntry[] = rows.map((r) => ({ id: String(r.id), at: r.at.toISOString(), keyId: r.key_id, keyBrand: r.key_brand, operation: r.operation, method: r.method, path: r.path, status: r.status, request: r.request }));
        return send(reply, { status: 200, body: { items } });
      },
    );
  };
}
