import fs from 'node:fs';
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { avroType, loadSchema, schemasDir } from '../runtime/serde.ts';

type Json = null | string | number | boolean | Json[] | { [key: string]: Json };
const names = fs.readdirSync(schemasDir).filter((f) => f.endsWith('.avsc')).map((f) => f.replace(/\.avsc$/, ''));

/** Builds a value for a schema by hand (avsc's random values overflow the decimal precision). */
function sample(schema: Json, named: Map<string, Json>, seed: { n: number }): unknown {
  seed.n++;
  if (typeof schema === 'string') {
    switch (schema) {
      case 'string': return `s${seed.n}`;
      case 'int': return seed.n;
      case 'long': return 1_790_000_000_000 + seed.n;
      case 'boolean': return seed.n % 2 === 0;
      case 'bytes': return Buffer.from([seed.n % 256, 0, 255]);
      default: return sample(named.get(schema) ?? named.get(schema.split('.').pop()!)!, named, seed);
    }
  }
  if (Array.isArray(schema)) return sample(schema[schema.length - 1]!, named, seed); // the non-null branch
  if (schema === null || typeof schema !== 'object') throw new Error(`unexpected schema ${String(schema)}`);
  if (schema.logicalType === 'decimal') return new Decimal(`-${seed.n}.123456`);
  switch (schema.type) {
    case 'record': {
      named.set(schema.name as string, schema);
      const value: Record<string, unknown> = {};
      for (const field of schema.fields as { name: string; type: Json }[]) value[field.name] = sample(field.type, named, seed);
      return value;
    }
    case 'enum':
      named.set(schema.name as string, schema);
      return (schema.symbols as string[])[seed.n % (schema.symbols as string[]).length];
    case 'array': return [sample(schema.items as Json, named, seed), sample(schema.items as Json, named, seed)];
    case 'map': return { a: sample(schema.values as Json, named, seed) };
    default: return sample(schema.type as Json, named, seed);
  }
}

function undocumented(schema: Json, path: string, out: string[]): string[] {
  if (Array.isArray(schema)) schema.forEach((s) => undocumented(s, path, out));
  else if (schema && typeof schema === 'object') {
    if (schema.type === 'record') {
      for (const field of schema.fields as { name: string; doc?: string; type: Json }[]) {
        if (!field.doc) out.push(`${path}.${field.name}`);
        undocumented(field.type, `${path}.${field.name}`, out);
      }
    } else if (schema.type === 'array') undocumented(schema.items as Json, path, out);
    else if (schema.type === 'map') undocumented(schema.values as Json, path, out);
  }
  return out;
}

describe('the Avro contracts', () => {
  it('has a schema for every event of the flow', () => {
    expect(names.sort()).toEqual(['account.lifecycle', 'cdr.accepted', 'cdr.raw', 'cdr.rejected', 'control-total', 'credit.refund', 'discrepancy', 'invoice', 'payment', 'plan-recommendation', 'plan-swap', 'ref.api-keys', 'ref.brands', 'ref.customers', 'ref.numbers', 'ref.plans', 'ref.rating-rules', 'ref.subscriptions', 'usage-alert', 'usage.charged', 'usage.rated', 'usage.rerated', 'usage.resolved']);
  });

  it.each(names)('%s documents every field', (name) => {
    expect(undocumented(loadSchema(name) as unknown as Json, name, [])).toEqual([]);
  });

  it.each(names)('%s round-trips a full value exactly', (name) => {
    const schema = loadSchema(name) as unknown as Json;
    const type = avroType(loadSchema(name));
    const value = sample(schema, new Map(), { n: 0 });
    const back = type.fromBuffer(type.toBuffer(value));
    // Decimals compare by value, everything else structurally.
    const normalise = (v: unknown): unknown =>
      Decimal.isDecimal(v) ? `dec:${(v as Decimal).toFixed()}` : Buffer.isBuffer(v) ? v.toString('hex') : Array.isArray(v) ? v.map(normalise) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalise(x)])) : v;
    expect(normalise(back)).toEqual(normalise(value));
  });

  it('keeps money exact on the wire: no JavaScript number in a decimal field', () => {
    const type = avroType(loadSchema('usage.charged'));
    const value = sample(loadSchema('usage.charged') as unknown as Json, new Map(), { n: 0 }) as Record<string, unknown>;
    expect(() => type.toBuffer({ ...value, amount: 0.1 })).toThrow(/never a JavaScript number/);
  });
});
