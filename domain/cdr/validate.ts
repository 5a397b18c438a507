import { isWithheldCaller, normaliseNumber } from './e164.ts';
import type { CdrIssue, CdrRejection, RawCdr, Result, ValidationPolicy } from './types.ts';
import { rejectionFrom } from './types.ts';

// A control character in an id would make `source + '\u0000' + cdrId` ambiguous and
// breaks log lines; no platform produces one on purpose.
const CONTROL = /[\u0000-\u001f\u007f]/;

function describe(value: unknown): string {
  return value === undefined ? 'missing' : (JSON.stringify(value) ?? String(value));
}

const NUMBER_PROBLEM_TEXT = {
  empty: 'is empty',
  not_e164: 'is not a phone number that normalises to E.164 (+ then 8-15 digits)',
  national_unknown_country:
    'is a national number of unknown country (only 10/11-digit North American numbers get a country code)',
} as const;

/**
 * Checks one CDR and normalises its numbers to E.164, reporting every problem at once.
 * Accepts records straight off the wire, so it checks types too. The accepted record is
 * a copy: numbers in E.164 (callingNumber null when withheld), usageType trimmed.
 * The rejection's `code` follows `REJECT_PRECEDENCE`.
 */
export function validateCdr(cdr: RawCdr, policy: ValidationPolicy): Result<RawCdr, CdrRejection> {
  const issues: CdrIssue[] = [];
  const input = cdr as unknown as Record<string, unknown>;
  const attributes: Record<string, string> = {};

  for (const field of ['source', 'cdrId'] as const) {
    const value = input[field];
    if (typeof value !== 'string' || value.trim() === '') {
      issues.push({ field, code: 'missing_field', message: `must be a non-empty string, got ${describe(value)}` });
    } else if (CONTROL.test(value)) {
      issues.push({ field, code: 'invalid_id', message: 'must not contain control characters' });
    }
  }

  // Times.
  const start = input['startTime'];
  const end = input['endTime'];
  let timesSound = true;
  for (const [field, value] of [['startTime', start], ['endTime', end]] as const) {
    if (value === undefined || value === null) {
      issues.push({ field, code: 'missing_field', message: 'is required' });
      timesSound = false;
    } else if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      issues.push({
        field,
        code: 'invalid_timestamp',
        message: `must be epoch milliseconds (a non-negative integer), got ${describe(value)}`,
      });
      timesSound = false;
    }
  }
  if (timesSound && (start as number) > (end as number)) {
    issues.push({
      field: 'endTime',
      code: 'invalid_time_range',
      message: `is ${new Date(end as number).toISOString()}, before startTime ${new Date(start as number).toISOString()}`,
    });
    timesSound = false;
  }

  // Duration.
  const duration = input['durationSeconds'];
  if (duration === undefined || duration === null) {
    issues.push({ field: 'durationSeconds', code: 'missing_field', message: 'is required' });
  } else if (typeof duration !== 'number' || !Number.isInteger(duration)) {
    issues.push({
      field: 'durationSeconds',
      code: 'invalid_duration',
      message: `must be a whole number of seconds, got ${describe(duration)}`,
    });
  } else if (duration < 0) {
    issues.push({ field: 'durationSeconds', code: 'invalid_duration', message: `must not be negative, got ${duration}` });
  } else if (duration > policy.maxDurationSeconds) {
    issues.push({
      field: 'durationSeconds',
      code: 'invalid_duration',
      message: `is ${duration} s, above the maximum of ${policy.maxDurationSeconds} s`,
    });
  } else if (timesSound) {
    const elapsed = ((end as number) - (start as number)) / 1000;
    if (Math.abs(duration - elapsed) > policy.durationToleranceSeconds) {
      issues.push({
        field: 'durationSeconds',
        code: 'invalid_duration',
        message:
          `is ${duration} s but endTime - startTime is ${elapsed} s ` +
          `(tolerance ${policy.durationToleranceSeconds} s)`,
      });
    }
  }

  // Numbers.
  let calledNumber = '';
  const called = input['calledNumber'];
  if (typeof called !== 'string' || called.trim() === '') {
    issues.push({ field: 'calledNumber', code: 'missing_field', message: `must be a non-empty string, got ${describe(called)}` });
  } else {
    const n = normaliseNumber(called);
    if (n.ok) calledNumber = n.value;
    else issues.push({ field: 'calledNumber', code: 'invalid_number', message: `${describe(called)} ${NUMBER_PROBLEM_TEXT[n.problem]}` });
  }

  let callingNumber: string | null = null;
  const calling = input['callingNumber'];
  if (calling !== null && calling !== undefined) {
    if (typeof calling !== 'string') {
      issues.push({ field: 'callingNumber', code: 'invalid_number', message: `must be a string or null, got ${describe(calling)}` });
    } else if (!isWithheldCaller(calling)) {
      const n = normaliseNumber(calling);
      if (n.ok) callingNumber = n.value;
      else if (policy.invalidCallingNumber === 'withhold') attributes['calling_number_raw'] = calling;
      else {
        issues.push({
          field: 'callingNumber',
          code: 'invalid_number',
          message: `${describe(calling)} ${NUMBER_PROBLEM_TEXT[n.problem]}`,
        });
      }
    }
  }

  // Usage type, last: the only problem the catalogue alone can fix.
  let usageType = '';
  const usage = input['usageType'];
  if (typeof usage !== 'string' || usage.trim() === '') {
    issues.push({ field: 'usageType', code: 'missing_field', message: `must be a non-empty string, got ${describe(usage)}` });
  } else {
    usageType = usage.trim();
    const known = policy.usageTypes;
    const isKnown = Array.isArray(known) ? known.includes(usageType) : (known as ReadonlySet<string>).has(usageType);
    if (!isKnown) {
      issues.push({ field: 'usageType', code: 'unknown_usage_type', message: `${describe(usageType)} is not a known usage type` });
    }
  }

  const reported = input['attributes'];
  if (reported !== undefined && (typeof reported !== 'object' || reported === null || Array.isArray(reported))) {
    issues.push({ field: 'attributes', code: 'missing_field', message: `must be a map of strings, got ${describe(reported)}` });
  }

  if (issues.length > 0) return { ok: false, error: rejectionFrom(issues) };
  return {
    ok: true,
    value: {
      ...cdr,
      callingNumber,
      calledNumber,
      usageType,
      attributes: { ...(cdr.attributes ?? {}), ...attributes },
      receivedAt: cdr.receivedAt ?? null,
    },
  };
}
