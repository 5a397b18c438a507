import { containsCardNumber, isCardFieldName } from '../domain/card-data.ts';
import type { PaymentMethodType } from './types.ts';

export type MetaValidation =
  | { readonly ok: true; readonly meta: Readonly<Record<string, string>> }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * Validates a payment method's meta against its type: every problem listed at once. Values
 * are never echoed in problems (one could be card data that must not reach a log).
 */
export function validateMethodMeta(types: readonly PaymentMethodType[], methodType: string, meta: Readonly<Record<string, unknown>>): MetaValidation {
  const type = types.find((t) => t.id === methodType);
  if (!type) {
    return { ok: false, problems: [`unknown payment method type "${methodType}"; this gateway takes: ${types.map((t) => t.id).join(', ')}`] };
  }
  const problems: string[] = [];
  const out: Record<string, string> = {};
  const fields = new Map(type.fields.map((f) => [f.name, f]));

  for (const [name, value] of Object.entries(meta ?? {})) {
    const text = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'bigint' ? String(value) : null;
    if (isCardFieldName(name)) {
      problems.push(`field "${name}" is card data: rateline never accepts card numbers or CVVs; send the gateway's token instead`);
      continue;
    }
    if (text !== null && containsCardNumber(text)) {
      problems.push(`field "${name}" looks like a card number (value not shown): send the gateway's token instead`);
      continue;
    }
    const field = fields.get(name);
    if (!field) {
      problems.push(`field "${name}" is not a ${methodType} field (expected: ${type.fields.map((f) => f.name).join(', ')})`);
      continue;
    }
    if (text === null) {
      problems.push(`field "${name}" must be a string`);
      continue;
    }
    if (!field.pattern.test(text)) {
      problems.push(`field "${name}" is not a valid ${field.description}`);
      continue;
    }
    out[name] = text;
  }
  for (const field of type.fields) {
    if (field.required && !(field.name in (meta ?? {}))) problems.push(`field "${field.name}" (${field.description}) is required`);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, meta: out };
}
