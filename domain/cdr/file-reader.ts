import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseCsvLine } from './csv-line.ts';
import type { CompiledMapping, CsvMapping } from './csv-mapping.ts';
import { compileMapping, mapCsvLine } from './csv-mapping.ts';
import type { CdrIssue, CdrRejectCode, RawCdr, ValidationPolicy } from './types.ts';
import { validateCdr } from './validate.ts';

/**
 * Streaming a CDR file: the only I/O in this module. Lines are read one at a time through
 * node:readline, so memory stays bounded whatever the file size; mapping and validation
 * are the pure functions of csv-mapping.ts and validate.ts.
 */

export interface ReadCdrFileOptions {
  /** The file job id; becomes every record's `source`. */
  readonly source: string;
  /** Stamped on every record as `receivedAt`; default null. */
  readonly receivedAt?: number | null;
  /** When given, each mapped record is validated too and yielded normalised (E.164). */
  readonly policy?: ValidationPolicy;
  /** Default utf8. */
  readonly encoding?: BufferEncoding;
}

export type FileLineResult =
  | { readonly ok: true; readonly line: number; readonly cdr: RawCdr }
  | {
      readonly ok: false;
      /** 1-based physical line number in the file (header and blank lines count). */
      readonly line: number;
      readonly reason: CdrRejectCode;
      readonly detail: string;
      readonly rawLine: string;
      readonly issues: readonly CdrIssue[];
    };

/** A file that cannot be read as a whole: a bad header, or a mapping that does not check. */
export class CdrFileError extends Error {
  readonly code: 'invalid_header' | 'invalid_mapping';
  readonly retryable = false;
  readonly problems: readonly string[];

  constructor(code: 'invalid_header' | 'invalid_mapping', path: string, problems: readonly string[], options?: ErrorOptions) {
    super(`${code} in ${path}: ${problems.join('; ')}`, options);
    this.name = 'CdrFileError';
    this.code = code;
    this.problems = problems;
  }
}

/**
 * Yields one result per data line of a CDR file: the record, or the reason it was
 * rejected with the raw line. Blank lines and the header row are skipped and yield
 * nothing; line numbers stay physical so a reject points at the right line of the file.
 * A UTF-8 BOM and CRLF line ends are accepted. Throws `CdrFileError` before the first
 * result when the mapping does not check against the header.
 */
export async function* readCdrFile(
  path: string,
  mapping: CsvMapping,
  options: ReadCdrFileOptions,
): AsyncGenerator<FileLineResult, void, undefined> {
  const stream = createReadStream(path, { encoding: options.encoding ?? 'utf8', highWaterMark: 256 * 1024 });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let compiled: CompiledMapping | undefined;
  if (!mapping.header) compiled = compileOrThrow(mapping, undefined, path);
  const context = { source: options.source, receivedAt: options.receivedAt ?? null };
  let number = 0;
  try {
    for await (const physical of lines) {
      number++;
      let line = physical.endsWith('\r') ? physical.slice(0, -1) : physical;
      if (number === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
      if (line.trim() === '') continue;
      if (compiled === undefined) {
        const header = parseCsvLine(line, mapping.delimiter ?? ',');
        if (!header.ok) {
          throw new CdrFileError('invalid_header', path, [`line ${number}: ${header.error.message}`]);
        }
        compiled = compileOrThrow(mapping, header.value, path);
        continue;
      }
      const mapped = mapCsvLine(compiled, line, context);
      const checked = mapped.ok && options.policy !== undefined ? validateCdr(mapped.value, options.policy) : mapped;
      if (checked.ok) yield { ok: true, line: number, cdr: checked.value };
      else {
        yield {
          ok: false,
          line: number,
          reason: checked.error.code,
          detail: checked.error.message,
          rawLine: line,
          issues: checked.error.issues,
        };
      }
    }
  } finally {
    lines.close();
    stream.destroy();
  }
}

function compileOrThrow(mapping: CsvMapping, header: readonly string[] | undefined, path: string): CompiledMapping {
  const compiled = compileMapping(mapping, header);
  if (compiled.ok) return compiled.value;
  throw new CdrFileError(header === undefined ? 'invalid_mapping' : 'invalid_header', path, compiled.error);
}

/** Counts for one file: every data line is either accepted or rejected with a reason. */
export interface FileSummary {
  /** Data lines read (header and blank lines excluded): accepted + rejected. */
  readonly read: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly rejectedByReason: Readonly<Partial<Record<CdrRejectCode, number>>>;
}

export function emptySummary(): FileSummary {
  return { read: 0, accepted: 0, rejected: 0, rejectedByReason: {} };
}

/** The summary with one more result counted. */
export function tally(summary: FileSummary, result: FileLineResult): FileSummary {
  if (result.ok) return { ...summary, read: summary.read + 1, accepted: summary.accepted + 1 };
  return {
    read: summary.read + 1,
    accepted: summary.accepted,
    rejected: summary.rejected + 1,
    rejectedByReason: {
      ...summary.rejectedByReason,
      [result.reason]: (summary.rejectedByReason[result.reason] ?? 0) + 1,
    },
  };
}

/** Reads a whole file for its counts only (a dry run of a file job). */
export async function summariseFile(path: string, mapping: CsvMapping, options: ReadCdrFileOptions): Promise<FileSummary> {
  let accepted = 0;
  const byReason: Partial<Record<CdrRejectCode, number>> = {};
  let rejected = 0;
  for await (const result of readCdrFile(path, mapping, options)) {
    if (result.ok) accepted++;
    else {
      rejected++;
      byReason[result.reason] = (byReason[result.reason] ?? 0) + 1;
    }
  }
  return { read: accepted + rejected, accepted, rejected, rejectedByReason: byReason };
}
