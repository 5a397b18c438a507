import { readFile } from 'node:fs/promises';
import { parseReferenceFile } from './parse.ts';
import type { ReferenceData, ReferenceIssue, Result } from './types.ts';

/** The one I/O of domain/reference: read a reference file and parse it (see parseReferenceFile). */
export async function loadReferenceFile(path: string): Promise<Result<ReferenceData, ReferenceIssue[]>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    return { ok: false, error: [{ path: '', message: `cannot read ${path}: ${(cause as Error).message}` }] };
  }
  return parseReferenceFile(text);
}
