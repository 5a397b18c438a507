import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { ReferenceIssue } from '../../domain/reference/index.ts';
import { componentSchemas } from './api-schemas.ts';

// ajv and ajv-formats are CommonJS: load them the way every Node version resolves them.
const require = createRequire(import.meta.url);
const Ajv2020 = require('ajv/dist/2020') as typeof import('ajv/dist/2020.js').default;
const addFormats = require('ajv-formats') as typeof import('ajv-formats').default;

/** One problem with a request, in domain/reference's path style (`tiers[1].unitPrice`). */
export type Problem = ReferenceIssue;

const DOCUMENT_ID = 'catalog';

const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, discriminator: false });
addFormats(ajv);
// The schemas live inside an OpenAPI-shaped document, so `#/components/schemas/X` resolves.
ajv.addKeyword({ keyword: 'components' });
ajv.addSchema({ $id: DOCUMENT_ID, components: { schemas: componentSchemas } });

const compiled = new Map<string, ValidateFunction>();

function validatorFor(name: string): ValidateFunction {
  let fn = compiled.get(name);
  if (!fn) {
    if (!(name in componentSchemas)) throw new Error(`no schema named ${name}`);
    fn = ajv.getSchema(`${DOCUMENT_ID}#/components/schemas/${name}`);
    if (!fn) throw new Error(`schema ${name} did not compile`);
    compiled.set(name, fn);
  }
  return fn;
}

/** `/priceModels/0/tiers/1` → `priceModels[0].tiers[1]`. */
export function pathOf(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}

const join = (base: string, key: string) => (base === '' ? key : `${base}.${key}`);

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  return JSON.stringify(value) ?? String(value);
}

/** One ajv error in words a caller can act on. */
function toProblem(error: ErrorObject): Problem | undefined {
  const path = pathOf(error.instancePath);
  const title = (error.parentSchema as { title?: string } | undefined)?.title;
  switch (error.keyword) {
    case 'required':
      return { path: join(path, (error.params as { missingProperty: string }).missingProperty), message: 'is required' };
    case 'additionalProperties':
      return { path: join(path, (error.params as { additionalProperty: string }).additionalProperty), message: 'is not a known field' };
    case 'type':
      if ((title === 'Money' || title === 'Percent') && typeof error.data === 'number') {
        return { path, message: `must be a decimal string such as "${error.data}", got the JSON number ${error.data}: money is never a float` };
      }
      return { path, message: `must be ${error.params.type as string}, got ${describe(error.data)}` };
    case 'pattern': {
      const what = (error.parentSchema as { description?: string } | undefined)?.description;
      return { path, message: `must be ${what ?? `like ${error.params.pattern as string}`}, got ${describe(error.data)}` };
    }
    case 'enum':
      return { path, message: `must be one of ${(error.params.allowedValues as unknown[]).join(', ')}, got ${describe(error.data)}` };
    case 'format':
      return { path, message: `must be ${formatWords[error.params.format as string] ?? `a ${error.params.format as string}`}, got ${describe(error.data)}` };
    case 'minLength':
      return { path, message: (error.params as { limit: number }).limit === 1 ? 'must not be empty' : `must be at least ${(error.params as { limit: number }).limit} characters` };
    case 'oneOf':
    case 'if':
      // The branch errors say what is wrong; the summary adds nothing.
      return undefined;
    default:
      return { path, message: `${error.message ?? 'is invalid'}` };
  }
}

const formatWords: Record<string, string> = {
  'date-time': 'an ISO 8601 instant with an offset (e.g. 2026-01-01T00:00:00Z)',
  date: 'a date YYYY-MM-DD',
  email: 'an email address',
};

/**
 * Every problem of `input` against the named component schema. For a nullable field (oneOf
 * [X, null]) ajv reports both branches; the null branch's "must be null" is dropped, so a
 * caller reads what X wants.
 */
export function validateBody(schemaName: string, input: unknown): Problem[] {
  const validate = validatorFor(schemaName);
  if (validate(input)) return [];
  const problems: Problem[] = [];
  const seen = new Set<string>();
  for (const error of validate.errors ?? []) {
    if (error.keyword === 'type' && error.params.type === 'null') continue;
    const problem = toProblem(error);
    if (!problem) continue;
    const key = `${problem.path}\u0000${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(problem);
  }
  return problems;
}

/**
 * Adds domain problems not already covered by a shape problem at the same path or above it:
 * a missing field is reported once, by the schema, not again by the domain reader.
 */
export function mergeProblems(shape: Problem[], domain: readonly Problem[]): Problem[] {
  const covered = (path: string) => shape.some((p) => p.path === path || path.startsWith(`${p.path}.`) || path.startsWith(`${p.path}[`) || p.path.startsWith(`${path}.`) || p.path.startsWith(`${path}[`));
  const out = [...shape];
  for (const d of domain) {
    if (covered(d.path)) continue;
    if (out.some((p) => p.path === d.path && p.message === d.message)) continue;
    out.push(d);
  }
  return out;
}
