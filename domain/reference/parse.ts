import { checkReferenceData, readRecord } from './validate.ts';
import type { ReferenceData, ReferenceIssue, ReferenceKind, ReferenceRecords, Result } from './types.ts';

const SECTIONS: readonly (readonly [keyof Omit<ReferenceData, 'parentCompany'>, ReferenceKind])[] = [
  ['brands', 'brand'],
  ['numbers', 'number'],
  ['plans', 'plan'],
  ['subscriptions', 'subscription'],
  ['ratingRules', 'ratingRule'],
  ['customers', 'customer'],
];
/** Sections a file may leave out (read as empty). */
const OPTIONAL_SECTIONS = new Set(['customers']);

/**
 * A reference file (`{parentCompany, brands, numbers, plans, subscriptions, ratingRules, customers?}`,
 * instants as ISO 8601 strings with an offset, decimals as strings) checked as a whole:
 * the records in wire form, or every problem found, each with its path. Takes the JSON
 * text or the value JSON.parse made of it.
 */
export function parseReferenceFile(json: unknown): Result<ReferenceData, ReferenceIssue[]> {
  let input = json;
  if (typeof json === 'string') {
    try {
      input = JSON.parse(json);
    } catch (cause) {
      return { ok: false, error: [{ path: '', message: `not JSON: ${(cause as Error).message}` }] };
    }
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, error: [{ path: '', message: 'a reference file is a JSON object' }] };
  }
  const fields = input as Record<string, unknown>;
  const issues: ReferenceIssue[] = [];
  const parentCompany = fields['parentCompany'];
  if (typeof parentCompany !== 'string' || parentCompany.trim() === '') {
    issues.push({ path: 'parentCompany', message: 'must be the parent company id, a non-empty string' });
  }
  const known = new Set(['parentCompany', ...SECTIONS.map(([section]) => section)]);
  for (const key of Object.keys(fields)) {
    if (!known.has(key)) issues.push({ path: key, message: 'is not a section of a reference file' });
  }
  const data: Record<string, unknown[]> = {};
  for (const [section, kind] of SECTIONS) {
    const list = fields[section] ?? (OPTIONAL_SECTIONS.has(section) ? [] : undefined);
    if (!Array.isArray(list)) {
      issues.push({ path: section, message: `must be an array, got ${list === undefined ? 'nothing' : typeof list}` });
      data[section] = [];
      continue;
    }
    data[section] = list.map((item: unknown, i) => {
      const read = readRecord(kind, item, 'file', `${section}[${i}]`);
      issues.push(...read.issues);
      return read.record as ReferenceRecords[typeof kind];
    });
  }
  // Cross-record checks run too, so that one pass reports everything; a broken record keeps
  // its key fields, so references to it still resolve and add no noise.
  const parsed = { parentCompany: String(parentCompany), ...data } as unknown as ReferenceData;
  issues.push(...checkReferenceData(parsed));
  return issues.length > 0 ? { ok: false, error: issues } : { ok: true, value: parsed };
}
