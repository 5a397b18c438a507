/**
 * CDR records as they arrive (`cdr.raw`) and the outcome of checking them.
 *
 * Plain, JSON-serialisable data that mirrors `schemas/cdr.raw.avsc`. Instants are epoch
 * milliseconds, UTC; durations are whole seconds.
 */

export interface RawCdr {
  /** The platform or file job that produced the record; CDR ids are unique per source. */
  readonly source: string;
  /** The platform's own id of the record; with `source`, the natural key for de-duplication. */
  readonly cdrId: string;
  /** As reported; E.164 once accepted, null when withheld. */
  readonly callingNumber: string | null;
  /** The dialled (usually toll-free) number; E.164 once accepted. */
  readonly calledNumber: string;
  /** LCA, IVR, CHAT, QRS, ...: an open set checked against the catalogue. */
  readonly usageType: string;
  /** When billing starts (answer time for a call), epoch ms UTC. */
  readonly startTime: number;
  /** Epoch ms UTC. */
  readonly endTime: number;
  /** The billable duration the platform measured, whole seconds. */
  readonly durationSeconds: number;
  /** Further platform fields kept as reported. */
  readonly attributes: Readonly<Record<string, string>>;
  /** When rateline's file job or gateway received it; null when written to Kafka directly. */
  readonly receivedAt: number | null;
}

/**
 * Why a record is rejected. Stable snake_case codes: they travel on `cdr.rejected`, feed
 * metrics labels and dashboards, and ops filter replays by them. Listed in precedence
 * order, see `REJECT_PRECEDENCE`.
 */
export type CdrRejectCode =
  /** The CSV line does not parse, or has the wrong number of columns. */
  | 'malformed_line'
  /** The platform says the call was not answered (Asterisk disposition, FreeSWITCH hangup cause). */
  | 'not_answered'
  /** A required field is absent or empty. */
  | 'missing_field'
  /** `source` or `cdrId` holds a control character (it would make the event id ambiguous). */
  | 'invalid_id'
  /** A time is not an instant: unparseable text, a local time that does not exist, a non-integer. */
  | 'invalid_timestamp'
  /** The start is after the end. */
  | 'invalid_time_range'
  /** Negative, non-integer, above the maximum, or not matching end - start within tolerance. */
  | 'invalid_duration'
  /** A number that cannot be normalised to E.164. */
  | 'invalid_number'
  /** A usage type the catalogue does not know. */
  | 'unknown_usage_type';

/**
 * When a record has several problems, its rejection reason is the first code here that
 * applies; every problem is still listed in `issues`. The order runs from "the record is
 * unusable" to "the reference data may be behind": a record whose reason is
 * `unknown_usage_type` has nothing else wrong, so it can be replayed as is once the
 * catalogue knows the type. Times come before durations and numbers because a duration
 * check needs sound times, and a record with broken times cannot be rated at all.
 */
export const REJECT_PRECEDENCE: readonly CdrRejectCode[] = [
  'malformed_line',
  'not_answered',
  'missing_field',
  'invalid_id',
  'invalid_timestamp',
  'invalid_time_range',
  'invalid_duration',
  'invalid_number',
  'unknown_usage_type',
];

export interface CdrIssue {
  /** The RawCdr field (or, for a CSV line, the column name) at fault; '' for the whole line. */
  readonly field: string;
  readonly code: CdrRejectCode;
  readonly message: string;
}

export interface CdrRejection {
  /** The primary reason, by `REJECT_PRECEDENCE`. */
  readonly code: CdrRejectCode;
  /** One line a person can act on; the first issue of the primary code, plus a count of others. */
  readonly message: string;
  /** A CDR fails the same way every time: retrying does not help. */
  readonly retryable: false;
  /** Every problem found, in the order found. */
  readonly issues: readonly CdrIssue[];
}

export interface ValidationPolicy {
  /** The usage types the catalogue knows; compared exactly (after trimming the record's value). */
  readonly usageTypes: ReadonlySet<string> | readonly string[];
  /** Longest billable duration accepted, e.g. 86 400 (24 h). */
  readonly maxDurationSeconds: number;
  /** How far `durationSeconds` may differ from (end - start) in seconds, e.g. 2. */
  readonly durationToleranceSeconds: number;
  /**
   * What to do with a calling number that cannot be normalised. `reject` (the default):
   * `invalid_number`. `withhold`: accept the record with callingNumber null and keep the
   * reported text in `attributes.calling_number_raw` (the caller does not decide who pays
   * for a toll-free call, so a garbled caller id need not lose the charge).
   */
  readonly invalidCallingNumber?: 'reject' | 'withhold';
}

export type Result<T, E> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: E };

/** Builds a rejection from issues: the primary code by precedence, and a summary message. */
export function rejectionFrom(issues: readonly CdrIssue[]): CdrRejection {
  let primary: CdrIssue | undefined;
  let rank = Infinity;
  for (const issue of issues) {
    const r = REJECT_PRECEDENCE.indexOf(issue.code);
    if (r < rank) {
      rank = r;
      primary = issue;
    }
  }
  if (primary === undefined) throw new Error('rejectionFrom needs at least one issue');
  const others = issues.length - 1;
  const where = primary.field === '' ? '' : `${primary.field}: `;
  const message =
    where + primary.message + (others > 0 ? ` (and ${others} more problem${others > 1 ? 's' : ''})` : '');
  return { code: primary.code, message, retryable: false, issues };
}
