/**
 * Small builders for the JSON Schemas of API bodies (fastify validates requests with them,
 * @fastify/swagger documents them, the response check holds answers to them). Objects are
 * closed and every property required unless said otherwise, so a field added to an answer
 * without its documentation fails the suites (RATELINE_CHECK_RESPONSES).
 */
type Schema = Record<string, unknown>;

export const text = { type: 'string' } as const;
export const integer = { type: 'integer' } as const;
export const boolean = { type: 'boolean' } as const;
/** Money and quantities on the API: a decimal as a string, never a float. */
export const decimal = { type: 'string', pattern: '^-?[0-9]+(\\.[0-9]+)?$' } as const;
export const currency = { type: 'string', pattern: '^[A-Z]{3}$' } as const;
/** An instant, ISO 8601 in UTC. */
export const instant = { type: 'string', format: 'date-time' } as const;

export function nullable<S extends Schema>(schema: S): Schema {
  return { ...schema, type: [schema.type as string, 'null'] };
}

export function arrayOf(items: Schema, description?: string): Schema {
  return { type: 'array', items, ...(description ? { description } : {}) };
}

/** A closed object; `optional` names the properties that may be absent. */
export function object(properties: Record<string, Schema>, options: { optional?: string[]; description?: string; open?: boolean } = {}): Schema {
  const optional = new Set(options.optional ?? []);
  return {
    type: 'object',
    ...(options.description ? { description: options.description } : {}),
    properties,
    required: Object.keys(properties).filter((p) => !optional.has(p)),
    additionalProperties: options.open ?? false,
  };
}

/** A map of counts by a key from an open set (outcomes, reasons). */
export const counts = { type: 'object', additionalProperties: { type: 'integer' } } as const;

/** A success answer's schema with its description, for a route's `response`. */
export const answer = (description: string, schema: Schema): Schema => ({ ...schema, description });
