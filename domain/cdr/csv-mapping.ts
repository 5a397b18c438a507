import type { IANAZone } from 'luxon';
import { parseCsvLine } from './csv-line.ts';
import { localTimeInstants, parseIsoWithOffset, zoneNamed } from './local-time.ts';
import type { CdrIssue, CdrRejection, RawCdr, Result } from './types.ts';
import { rejectionFrom } from './types.ts';

/**
 * Declarative mappings from a platform's CDR CSV to `RawCdr`.
 *
 * A mapping is plain data: it can live in configuration, travel with a file job and be
 * reviewed by someone who knows the platform but not this code. `compileMapping` checks
 * it once per file (names resolved against the header, the zone looked up), then
 * `mapCsvLine` / `mapFields` turn lines into records, purely.
 */

/** A column: 0-based index, or a name from the header row (or from `columns` when headerless). */
export type ColumnRef = number | string;

/** How the file writes instants. */
export type TimeFormat =
  /**
   * Wall-clock `yyyy-MM-dd HH:mm:ss` in an IANA zone: what Asterisk (`%Y-%m-%d %T`, the
   * server's local time unless `usegmtime=yes`) and FreeSWITCH (`*_stamp`) write. A
   * reading in the repeated hour when clocks go back is resolved by the durations, see
   * `chooseInstants`; one in the skipped hour is `invalid_timestamp`.
   */
  | { readonly kind: 'local'; readonly zone: string }
  /** ISO 8601 with an offset (`2026-11-02T14:03:07-05:00`, `...Z`); an offset is required. */
  | { readonly kind: 'iso' }
  /** Epoch seconds or milliseconds (FreeSWITCH `*_epoch` / `*_uepoch` style templates). */
  | { readonly kind: 'epoch'; readonly unit: 's' | 'ms' };

/** Where the usage type comes from. */
export type UsageTypeSource =
  /** The same for every line, e.g. one file job per usage type. */
  | { readonly kind: 'constant'; readonly value: string }
  /**
   * A column's value, optionally translated by `map` (exact match). A value missing from
   * `map` becomes `fallback` if given, else is kept as is for validation to judge.
   */
  | {
      readonly kind: 'column';
      readonly column: ColumnRef;
      readonly map?: Readonly<Record<string, string>>;
      readonly fallback?: string;
    };

/** Where the billable duration comes from. */
export type DurationSource =
  /** A column of whole seconds (Asterisk and FreeSWITCH `billsec`). */
  | { readonly kind: 'column'; readonly column: ColumnRef }
  /** end - (answer, or start), rounded to the nearest second. */
  | { readonly kind: 'computed' };

export interface CsvMapping {
  /** A label for messages and attributes, e.g. `asterisk`. */
  readonly platform: string;
  /** Whether the first non-blank line is a header row (skipped, names taken from it). */
  readonly header: boolean;
  /** Names of a headerless format's columns, in order; also fixes the expected column count. */
  readonly columns?: readonly string[];
  /** One character; default `,`. */
  readonly delimiter?: string;
  readonly cdrId: ColumnRef;
  /** Absent, empty, or a withheld marker (`anonymous`, ...) gives null. */
  readonly callingNumber?: ColumnRef;
  readonly calledNumber: ColumnRef;
  readonly usageType: UsageTypeSource;
  readonly time: TimeFormat;
  /** Call setup time. */
  readonly start: ColumnRef;
  /**
   * Answer time. When mapped, the record's `startTime` is the answer (billable durations
   * such as billsec are measured from it) and the setup instant is kept in
   * `attributes.setup_time` (ISO 8601, UTC).
   */
  readonly answer?: ColumnRef;
  readonly end: ColumnRef;
  readonly duration: DurationSource;
  /** Whole-call seconds (end - setup), used only to resolve ambiguous local times. */
  readonly totalDuration?: ColumnRef;
  /** Lines whose column value is not one of `values` are rejected as `not_answered`. */
  readonly answered?: { readonly column: ColumnRef; readonly values: readonly string[] };
  /** attribute name -> column; empty values are left out. */
  readonly attributes: Readonly<Record<string, ColumnRef>>;
  /** `attributes`: every column not otherwise mapped also goes to attributes under its name. */
  readonly otherColumns?: 'attributes' | 'ignore';
}

/** A mapping checked against a file's header: indexes resolved, zone loaded. */
export interface CompiledMapping {
  readonly mapping: CsvMapping;
  readonly delimiter: string;
  /** A name for every column (`column_<n>` where the format has none). */
  readonly names: readonly string[];
  /** The exact column count a line must have, when known. */
  readonly width: number | undefined;
  readonly zone: IANAZone | undefined;
  readonly index: {
    readonly cdrId: number;
    readonly callingNumber: number | undefined;
    readonly calledNumber: number;
    readonly usageType: number | undefined;
    readonly start: number;
    readonly answer: number | undefined;
    readonly end: number;
    readonly duration: number | undefined;
    readonly totalDuration: number | undefined;
    readonly answered: number | undefined;
  };
  readonly attributes: readonly (readonly [string, number])[];
}

export interface MapContext {
  /** The file job id: becomes `source`, so cdr ids are unique per job. */
  readonly source: string;
  readonly receivedAt?: number | null;
}

/**
 * Checks a mapping and resolves its column names. `header` is the file's header row
 * (required when `mapping.header`). Every problem is reported at once.
 */
export function compileMapping(mapping: CsvMapping, header?: readonly string[]): Result<CompiledMapping, string[]> {
  const problems: string[] = [];
  const delimiter = mapping.delimiter ?? ',';
  if (delimiter.length !== 1 || delimiter === '"') problems.push(`delimiter must be one character other than '"', got ${JSON.stringify(delimiter)}`);

  let names: readonly string[] | undefined;
  if (mapping.header) {
    if (header === undefined) return { ok: false, error: ['the mapping expects a header row but none was given'] };
    names = header.map((h) => h.trim());
  } else {
    names = mapping.columns;
  }
  const width = names?.length;

  const resolve = (ref: ColumnRef, what: string): number => {
    if (typeof ref === 'number') {
      if (!Number.isInteger(ref) || ref < 0 || (width !== undefined && ref >= width)) {
        problems.push(`${what}: column index ${ref} is out of range${width === undefined ? '' : ` (0-${width - 1})`}`);
        return -1;
      }
      return ref;
    }
    const at = names?.indexOf(ref) ?? -1;
    if (at === -1) problems.push(`${what}: no column named '${ref}'${names ? ` (have: ${names.join(', ')})` : ''}`);
    return at;
  };
  const optional = (ref: ColumnRef | undefined, what: string) => (ref === undefined ? undefined : resolve(ref, what));

  let zone: IANAZone | undefined;
  if (mapping.time.kind === 'local') {
    zone = zoneNamed(mapping.time.zone);
    if (zone === undefined) problems.push(`time.zone: '${mapping.time.zone}' is not an IANA time zone`);
  }
  if (mapping.usageType.kind === 'constant' && mapping.usageType.value.trim() === '') {
    problems.push('usageType.value: must be a non-empty string');
  }

  const index = {
    cdrId: resolve(mapping.cdrId, 'cdrId'),
    callingNumber: optional(mapping.callingNumber, 'callingNumber'),
    calledNumber: resolve(mapping.calledNumber, 'calledNumber'),
    usageType: mapping.usageType.kind === 'column' ? resolve(mapping.usageType.column, 'usageType.column') : undefined,
    start: resolve(mapping.start, 'start'),
    answer: optional(mapping.answer, 'answer'),
    end: resolve(mapping.end, 'end'),
    duration: mapping.duration.kind === 'column' ? resolve(mapping.duration.column, 'duration.column') : undefined,
    totalDuration: optional(mapping.totalDuration, 'totalDuration'),
    answered: optional(mapping.answered?.column, 'answered.column'),
  };
  const attributes: (readonly [string, number])[] = Object.entries(mapping.attributes).map(
    ([name, ref]) => [name, resolve(ref, `attributes.${name}`)] as const,
  );
  if (mapping.otherColumns === 'attributes') {
    if (names === undefined) problems.push('otherColumns: needs column names (a header or `columns`)');
    else {
      const used = new Set<number>([...Object.values(index), ...attributes.map(([, i]) => i)].filter((i) => i !== undefined));
      names.forEach((name, i) => {
        if (!used.has(i)) attributes.push([name, i]);
      });
    }
  }

  if (problems.length > 0) return { ok: false, error: problems };
  const allNames = names ?? [];
  return {
    ok: true,
    value: {
      mapping,
      delimiter,
      names: allNames,
      width,
      zone,
      index,
      attributes,
    },
  };
}

/** The column's name for messages. */
function nameOf(compiled: CompiledMapping, index: number): string {
  return compiled.names[index] ?? `column_${index + 1}`;
}

const INTEGER = /^-?\d+$/;

/** Parses one CSV line and maps it; see `mapFields`. */
export function mapCsvLine(compiled: CompiledMapping, line: string, context: MapContext): Result<RawCdr, CdrRejection> {
  const parsed = parseCsvLine(line, compiled.delimiter);
  if (!parsed.ok) {
    return {
      ok: false,
      error: rejectionFrom([
        { field: '', code: 'malformed_line', message: `${parsed.error.message} at character ${parsed.error.position}` },
      ]),
    };
  }
  return mapFields(compiled, parsed.value, context);
}

/**
 * Maps one line's fields to a RawCdr, or rejects it with every problem found. Numbers are
 * passed through as written (validation normalises them); times become UTC epoch ms.
 * A line that the platform marks unanswered is rejected as `not_answered` alone: its
 * empty answer time is expected, not a second problem.
 */
export function mapFields(
  compiled: CompiledMapping,
  fields: readonly string[],
  context: MapContext,
): Result<RawCdr, CdrRejection> {
  const { mapping, index } = compiled;
  if (compiled.width !== undefined && fields.length !== compiled.width) {
    return reject([
      {
        field: '',
        code: 'malformed_line',
        message: `expected ${compiled.width} columns for ${mapping.platform}, got ${fields.length}`,
      },
    ]);
  }
  const at = (i: number): string | undefined => fields[i];
  const text = (i: number): string => (at(i) ?? '').trim();
  if (index.cdrId >= fields.length || index.calledNumber >= fields.length || index.start >= fields.length || index.end >= fields.length) {
    return reject([{ field: '', code: 'malformed_line', message: `too few columns (${fields.length})` }]);
  }

  if (index.answered !== undefined && mapping.answered !== undefined) {
    const value = text(index.answered);
    if (!mapping.answered.values.includes(value)) {
      return reject([
        {
          field: nameOf(compiled, index.answered),
          code: 'not_answered',
          message: `is '${value}'; billable only when ${mapping.answered.values.map((v) => `'${v}'`).join(' or ')}`,
        },
      ]);
    }
  }

  const issues: CdrIssue[] = [];
  const required = (i: number): string => {
    const value = text(i);
    if (value === '') issues.push({ field: nameOf(compiled, i), code: 'missing_field', message: 'is empty' });
    return value;
  };

  const cdrId = required(index.cdrId);
  const calledNumber = required(index.calledNumber);
  const calling = index.callingNumber === undefined ? '' : text(index.callingNumber);

  let usageType: string;
  if (mapping.usageType.kind === 'constant') usageType = mapping.usageType.value;
  else {
    const raw = required(index.usageType!);
    const mapped = mapping.usageType.map?.[raw];
    usageType = mapped ?? mapping.usageType.fallback ?? raw;
  }

  // Times: every candidate instant of each reading, then one choice for all of them.
  const readTime = (i: number): number[] | undefined => {
    const value = required(i);
    if (value === '') return undefined;
    const instants = parseInstant(compiled, value);
    if (instants.ok) return instants.value;
    issues.push({ field: nameOf(compiled, i), code: 'invalid_timestamp', message: `'${value}' ${instants.error}` });
    return undefined;
  };
  const start = readTime(index.start);
  const answer = index.answer === undefined ? undefined : readTime(index.answer);
  const end = readTime(index.end);

  const readSeconds = (i: number): number | undefined => {
    const value = required(i);
    if (value === '') return undefined;
    if (!INTEGER.test(value)) {
      issues.push({ field: nameOf(compiled, i), code: 'invalid_duration', message: `'${value}' is not a whole number of seconds` });
      return undefined;
    }
    return Number(value);
  };
  const billable = index.duration === undefined ? undefined : readSeconds(index.duration);
  const total = index.totalDuration === undefined ? undefined : readSeconds(index.totalDuration);

  if (issues.length > 0 || start === undefined || end === undefined || (index.answer !== undefined && answer === undefined)) {
    return reject(issues);
  }

  const chosen = chooseInstants(start, answer, end, total, billable);
  const billingStart = chosen.answer ?? chosen.start;
  const durationSeconds = billable ?? Math.round((chosen.end - billingStart) / 1000);

  const attributes: Record<string, string> = {};
  for (const [name, i] of compiled.attributes) {
    const value = at(i);
    if (value !== undefined && value !== '') attributes[name] = value;
  }
  if (chosen.answer !== undefined) attributes['setup_time'] = new Date(chosen.start).toISOString();

  return {
    ok: true,
    value: {
      source: context.source,
      cdrId,
      callingNumber: calling === '' ? null : calling,
      calledNumber,
      usageType,
      startTime: billingStart,
      endTime: chosen.end,
      durationSeconds,
      attributes,
      receivedAt: context.receivedAt ?? null,
    },
  };
}

function reject(issues: readonly CdrIssue[]): Result<RawCdr, CdrRejection> {
  return { ok: false, error: rejectionFrom(issues) };
}

function parseInstant(compiled: CompiledMapping, value: string): Result<number[], string> {
  const time = compiled.mapping.time;
  switch (time.kind) {
    case 'iso': {
      const t = parseIsoWithOffset(value);
      return t === undefined ? { ok: false, error: 'is not an ISO 8601 date-time with an offset' } : { ok: true, value: [t] };
    }
    case 'epoch': {
      if (!/^\d+(\.\d+)?$/.test(value)) return { ok: false, error: `is not epoch ${time.unit === 's' ? 'seconds' : 'milliseconds'}` };
      const t = Math.round(Number(value) * (time.unit === 's' ? 1000 : 1));
      return Number.isSafeInteger(t) ? { ok: true, value: [t] } : { ok: false, error: 'is out of range' };
    }
    case 'local': {
      const reading = localTimeInstants(value, compiled.zone!);
      if (reading.ok) return { ok: true, value: [...reading.instants] };
      return {
        ok: false,
        error:
          reading.problem === 'nonexistent'
            ? `does not exist in ${time.zone} (skipped when clocks went forward)`
            : 'is not a yyyy-MM-dd HH:mm:ss local time',
      };
    }
  }
}

export interface ChosenInstants {
  readonly start: number;
  readonly answer: number | undefined;
  readonly end: number;
}

/**
 * Picks one instant per reading when a local time is ambiguous (the repeated hour when
 * clocks go back; each reading has one or two candidates, earliest first).
 *
 * The choice minimises the disagreement with the durations the platform measured with
 * its monotonic clock: |(end - start) - totalDuration| + |(end - billing start) - billable|,
 * and refuses orders where start > answer > end unless nothing else is possible. When the
 * durations cannot tell (a call wholly inside the repeated hour fits both readings), the
 * first occurrence wins: the earliest candidate of start, then answer, then end.
 */
export function chooseInstants(
  start: readonly number[],
  answer: readonly number[] | undefined,
  end: readonly number[],
  totalSeconds?: number,
  billableSeconds?: number,
): ChosenInstants {
  const answers: readonly (number | undefined)[] = answer ?? [undefined];
  let best: ChosenInstants | undefined;
  let bestCost = Infinity;
  for (const s of start) {
    for (const a of answers) {
      for (const e of end) {
        const from = a ?? s;
        let cost = s <= from && from <= e ? 0 : 1e12;
        if (totalSeconds !== undefined) cost += Math.abs((e - s) / 1000 - totalSeconds);
        if (billableSeconds !== undefined) cost += Math.abs((e - from) / 1000 - billableSeconds);
        if (cost < bestCost) {
          bestCost = cost;
          best = { start: s, answer: a, end: e };
        }
      }
    }
  }
  return best!;
}

// ---------------------------------------------------------------------------------------
// Ready mappings.

/**
 * Asterisk `cdr_csv` Master.csv columns, in the order `build_csv_record` in
 * `cdr/cdr_csv.c` writes them. No header row. Strings are always quoted, `duration` and
 * `billsec` are unquoted integers, an unset time (no answer) is an empty unquoted field.
 */
export const ASTERISK_BASE_COLUMNS = [
  'accountcode',
  'src',
  'dst',
  'dcontext',
  'clid',
  'channel',
  'dstchannel',
  'lastapp',
  'lastdata',
  'start',
  'answer',
  'end',
  'duration',
  'billsec',
  'disposition',
  'amaflags',
] as const;

export interface AsteriskCsvOptions {
  /** The Asterisk server's IANA zone, or `UTC` when cdr.conf `[csv]` has `usegmtime=yes`. */
  readonly zone: string;
  /** Default: the constant `LCA`. Or e.g. `{kind: 'column', column: 'dcontext', map: {...}}`. */
  readonly usageType?: UsageTypeSource;
  /** cdr.conf `[csv] loguserfield`; default true (a `userfield` column after `uniqueid`). */
  readonly loguserfield?: boolean;
  /** cdr.conf `[csv] newcdrcolumns`; default false (`peeraccount`, `linkedid`, `sequence` at the end). */
  readonly newcdrcolumns?: boolean;
}

/**
 * Asterisk Master.csv. Requires `loguniqueid=yes` in cdr.conf `[csv]`: `uniqueid` is the
 * cdrId, and without it a line has no stable identity to de-duplicate on. `dst` is the
 * called number, `src` the caller, `billsec` the billable duration (from answer to end),
 * and only `ANSWERED` lines are billable: NO ANSWER, BUSY, FAILED and CONGESTION are
 * rejected as `not_answered`, so every line is still accounted for. `lastdata` is not
 * kept: dial strings can carry trunk credentials.
 */
export function asteriskMasterCsv(options: AsteriskCsvOptions): CsvMapping {
  const columns: string[] = [...ASTERISK_BASE_COLUMNS, 'uniqueid'];
  if (options.loguserfield ?? true) columns.push('userfield');
  if (options.newcdrcolumns ?? false) columns.push('peeraccount', 'linkedid', 'sequence');
  const attributes: Record<string, ColumnRef> = {
    platform_accountcode: 'accountcode',
    dcontext: 'dcontext',
    clid: 'clid',
    channel: 'channel',
    dstchannel: 'dstchannel',
    lastapp: 'lastapp',
    disposition: 'disposition',
    amaflags: 'amaflags',
    total_duration_seconds: 'duration',
  };
  for (const extra of columns.slice(ASTERISK_BASE_COLUMNS.length + 1)) attributes[extra] = extra;
  return {
    platform: 'asterisk',
    header: false,
    columns,
    cdrId: 'uniqueid',
    callingNumber: 'src',
    calledNumber: 'dst',
    usageType: options.usageType ?? { kind: 'constant', value: 'LCA' },
    time: { kind: 'local', zone: options.zone },
    start: 'start',
    answer: 'answer',
    end: 'end',
    duration: { kind: 'column', column: 'billsec' },
    totalDuration: 'duration',
    answered: { column: 'disposition', values: ['ANSWERED'] },
    attributes,
  };
}

/** FreeSWITCH `mod_cdr_csv` columns of the `example` template in the stock cdr_csv.conf.xml. */
export const FREESWITCH_EXAMPLE_COLUMNS = [
  'caller_id_name',
  'caller_id_number',
  'destination_number',
  'context',
  'start_stamp',
  'answer_stamp',
  'end_stamp',
  'duration',
  'billsec',
  'hangup_cause',
  'uuid',
  'bleg_uuid',
  'accountcode',
  'read_codec',
  'write_codec',
] as const;

export interface FreeSwitchCsvOptions {
  /** The FreeSWITCH server's IANA zone (`*_stamp` are local times). */
  readonly zone: string;
  /** Default: the constant `LCA`. Or e.g. `{kind: 'column', column: 'context', map: {...}}`. */
  readonly usageType?: UsageTypeSource;
  /** Hangup causes that mean the call was answered and billable; default `NORMAL_CLEARING`. */
  readonly answeredCauses?: readonly string[];
}

/**
 * FreeSWITCH Master.csv written with the `example` template (every field quoted, no
 * header). `uuid` is the cdrId, `destination_number` the called number,
 * `caller_id_number` the caller, `billsec` the billable duration. Other hangup causes
 * (NO_ANSWER, USER_BUSY, ORIGINATOR_CANCEL, ...) are rejected as `not_answered`.
 */
export function freeswitchMasterCsv(options: FreeSwitchCsvOptions): CsvMapping {
  return {
    platform: 'freeswitch',
    header: false,
    columns: FREESWITCH_EXAMPLE_COLUMNS,
    cdrId: 'uuid',
    callingNumber: 'caller_id_number',
    calledNumber: 'destination_number',
    usageType: options.usageType ?? { kind: 'constant', value: 'LCA' },
    time: { kind: 'local', zone: options.zone },
    start: 'start_stamp',
    answer: 'answer_stamp',
    end: 'end_stamp',
    duration: { kind: 'column', column: 'billsec' },
    totalDuration: 'duration',
    answered: { column: 'hangup_cause', values: options.answeredCauses ?? ['NORMAL_CLEARING'] },
    attributes: {
      caller_id_name: 'caller_id_name',
      context: 'context',
      hangup_cause: 'hangup_cause',
      bleg_uuid: 'bleg_uuid',
      platform_accountcode: 'accountcode',
      read_codec: 'read_codec',
      write_codec: 'write_codec',
      total_duration_seconds: 'duration',
    },
  };
}

/**
 * rateline's own CSV: a header row naming at least cdr_id, calling_number, called_number,
 * usage_type, start_time, end_time (ISO 8601 with an offset) and duration_seconds, in any
 * order. Any other column goes to attributes under its header name.
 */
export const RATELINE_CSV: CsvMapping = {
  platform: 'rateline',
  header: true,
  cdrId: 'cdr_id',
  callingNumber: 'calling_number',
  calledNumber: 'called_number',
  usageType: { kind: 'column', column: 'usage_type' },
  time: { kind: 'iso' },
  start: 'start_time',
  end: 'end_time',
  duration: { kind: 'column', column: 'duration_seconds' },
  attributes: {},
  otherColumns: 'attributes',
};
