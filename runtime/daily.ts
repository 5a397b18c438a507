import { IANAZone } from 'luxon';
import type { FastifyRequest } from 'fastify';
import { seesBrand } from './auth.ts';
import { HttpError, notFound, principalOf } from './http.ts';

/** The query of a per-day summary route: one brand, an instant range, the zone whose days count (the brand's, as the caller knows it). */
export const dailyQuery = {
  type: 'object',
  properties: {
    brand: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,39}$' },
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    zone: { type: 'string', description: 'IANA time zone of the days (default UTC)' },
  },
  required: ['brand', 'from', 'to'],
  additionalProperties: false,
} as const;

export interface DailyWindow {
  brand: string;
  from: Date;
  to: Date;
  zone: string;
}

/** The answer of a per-day summary route: `{ days: [item] }`, oldest first. */
export function dailyAnswer(description: string, day: Record<string, unknown>, required: string[]) {
  return {
    description,
    type: 'object',
    properties: { days: { type: 'array', items: { type: 'object', properties: { day: { type: 'string', format: 'date' }, ...day }, required: ['day', ...required], additionalProperties: false } } },
    required: ['days'],
    additionalProperties: false,
  } as const;
}

/** A per-day query checked beyond its schema (at most 366 days, a real zone, every problem at once) and against the key's brand scope. */
export function dailyWindow(request: FastifyRequest<{ Querystring: { brand: string; from: string; to: string; zone?: string } }>): DailyWindow {
  const query = request.query;
  const from = new Date(query.from);
  const to = new Date(query.to);
  const zone = query.zone ?? 'UTC';
  const problems: { path: string; message: string }[] = [];
  if (!(to > from)) problems.push({ path: 'query.to', message: 'must be after from' });
  else if (to.getTime() - from.getTime() > 366 * 86_400_000) problems.push({ path: 'query.to', message: 'at most 366 days after from' });
  if (!IANAZone.isValidZone(zone)) problems.push({ path: 'query.zone', message: `${zone} is not an IANA time zone` });
  if (problems.length > 0) throw new HttpError(400, 'invalid_parameters', 'the period is invalid', problems);
  if (!seesBrand(principalOf(request), query.brand)) throw notFound(`brand ${query.brand}`, 'brand_not_found');
  return { brand: query.brand, from, to, zone };
}
