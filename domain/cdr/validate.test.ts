import { describe, expect, it } from 'vitest';
import { normaliseNumber } from './e164.ts';
import type { RawCdr, ValidationPolicy } from './types.ts';
import { validateCdr } from './validate.ts';

const policy: ValidationPolicy = {
  usageTypes: new Set(['LCA', 'IVR', 'CHAT', 'QRS']),
  maxDurationSeconds: 86_400,
  durationToleranceSeconds: 2,
};

// 2026-11-02 19:03:12Z to 19:05:10Z: 118 s.
const valid: RawCdr = {
  source: 'asterisk-us-east',
  cdrId: '1793646187.1',
  callingNumber: '(212) 555-0142',
  calledNumber: '1-800-555-0100',
  usageType: 'LCA',
  startTime: Date.UTC(2026, 10, 2, 19, 3, 12),
  endTime: Date.UTC(2026, 10, 2, 19, 5, 10),
  durationSeconds: 118,
  attributes: { disposition: 'ANSWERED' },
  receivedAt: null,
};

const codes = (cdr: unknown, p: ValidationPolicy = policy) => {
  const result = validateCdr(cdr as RawCdr, p);
  return result.ok ? [] : result.error.issues.map((i) => `${i.field}:${i.code}`);
};
const primary = (cdr: unknown) => {
  const result = validateCdr(cdr as RawCdr, policy);
  return result.ok ? 'accepted' : result.error.code;
};

describe('normaliseNumber', () => {
  it.each([
    ['+18005550100', '+18005550100'],
    ['+1 (800) 555-0100', '+18005550100'],
    ['800.555.0100', '+18005550100'], // 10-digit NANP
    ['(800) 555-0100', '+18005550100'],
    ['1-800-555-0100', '+18005550100'], // 11 digits starting with 1
    ['18005550100', '+18005550100'],
    ['0044 20 7946 0958', '+442079460958'], // 00 international prefix
    ['+44 (0)20 7946 0958', '+442079460958'], // (0) trunk marker dropped, not kept as a digit
    ['+49 30 901820', '+4930901820'], // 10 digits after +, German
    ['  +61 2 9374 4000 ', '+61293744000'],
    ['+12345678', '+12345678'], // 8 digits: shortest E.164 accepted
    ['+123456789012345', '+123456789012345'], // 15 digits: longest
  ])('%s -> %s', (input, expected) => {
    expect(normaliseNumber(input)).toEqual({ ok: true, value: expected });
  });

  it.each([
    ['', 'empty'],
    ['   ', 'empty'],
    ['020 7946 0958', 'national_unknown_country'], // UK national, country unknown
    ['5550100', 'national_unknown_country'], // 7 digits
    ['0125550100', 'national_unknown_country'], // 10 digits, area code starts with 0
    ['0005550100', 'not_e164'], // 00 becomes +, and +0... is not E.164
    ['1005550100', 'national_unknown_country'], // area code starts with 1
    ['8001550100', 'national_unknown_country'], // exchange starts with 1
    ['28005550100', 'national_unknown_country'], // 11 digits not starting with 1
    ['+1234567', 'not_e164'], // 7 digits
    ['+1234567890123456', 'not_e164'], // 16 digits
    ['+0123456789', 'not_e164'], // first digit 0
    ['+1800FLOWERS', 'not_e164'],
    ['s', 'not_e164'], // Asterisk's 's' extension
    ['1001#', 'not_e164'],
    ['++18005550100', 'not_e164'],
  ])('%s is refused (%s)', (input, problem) => {
    expect(normaliseNumber(input)).toEqual({ ok: false, problem });
  });
});

describe('validateCdr', () => {
  it('accepts a valid CDR and normalises its numbers', () => {
    const result = validateCdr(valid, policy);
    expect(result).toEqual({
      ok: true,
      value: { ...valid, callingNumber: '+12125550142', calledNumber: '+18005550100' },
    });
  });

  it.each(['', 'anonymous', 'Anonymous', 'RESTRICTED', 'unknown', 'private'])(
    'treats caller %j as withheld (null)',
    (callingNumber) => {
      const result = validateCdr({ ...valid, callingNumber }, policy);
      expect(result.ok && result.value.callingNumber).toBeNull();
    },
  );

  it('accepts a null caller', () => {
    const result = validateCdr({ ...valid, callingNumber: null }, policy);
    expect(result.ok && result.value.callingNumber).toBeNull();
  });

  it.each<[string, Partial<Record<keyof RawCdr, unknown>>, string[]]>([
    ['missing_field: empty cdrId', { cdrId: '' }, ['cdrId:missing_field']],
    ['missing_field: no source', { source: undefined }, ['source:missing_field']],
    ['missing_field: no calledNumber', { calledNumber: ' ' }, ['calledNumber:missing_field']],
    ['missing_field: no usageType', { usageType: '' }, ['usageType:missing_field']],
    ['missing_field: no startTime', { startTime: undefined }, ['startTime:missing_field']],
    ['missing_field: no durationSeconds', { durationSeconds: null }, ['durationSeconds:missing_field']],
    ['invalid_id: NUL in cdrId', { cdrId: 'a\u0000b' }, ['cdrId:invalid_id']],
    ['invalid_timestamp: fractional ms', { startTime: 1.5 }, ['startTime:invalid_timestamp']],
    ['invalid_timestamp: ISO string', { endTime: '2026-11-02T19:05:10Z' }, ['endTime:invalid_timestamp']],
    ['invalid_timestamp: negative', { startTime: -1 }, ['startTime:invalid_timestamp']],
    // start 1 ms after end
    ['invalid_time_range', { startTime: valid.endTime + 1, durationSeconds: 0 }, ['endTime:invalid_time_range']],
    ['invalid_duration: negative', { durationSeconds: -1 }, ['durationSeconds:invalid_duration']],
    ['invalid_duration: fractional', { durationSeconds: 118.5 }, ['durationSeconds:invalid_duration']],
    ['invalid_duration: string', { durationSeconds: '118' }, ['durationSeconds:invalid_duration']],
    // 24 h + 1 s, with times to match so only the maximum is broken
    [
      'invalid_duration: above maximum',
      { startTime: 0, endTime: 86_401_000, durationSeconds: 86_401 },
      ['durationSeconds:invalid_duration'],
    ],
    // 118 s measured, 121 claimed: 3 s off, tolerance 2
    ['invalid_duration: mismatch', { durationSeconds: 121 }, ['durationSeconds:invalid_duration']],
    ['invalid_number: called', { calledNumber: 's' }, ['calledNumber:invalid_number']],
    ['invalid_number: calling', { callingNumber: '020 7946 0958' }, ['callingNumber:invalid_number']],
    ['unknown_usage_type', { usageType: 'FAX' }, ['usageType:unknown_usage_type']],
    ['unknown_usage_type: case matters', { usageType: 'lca' }, ['usageType:unknown_usage_type']],
  ])('%s', (_name, change, expected) => {
    expect(codes({ ...valid, ...change })).toEqual(expected);
  });

  it('allows a duration within tolerance either way', () => {
    // end - start = 118 s; 116 and 120 are within 2 s
    expect(codes({ ...valid, durationSeconds: 116 })).toEqual([]);
    expect(codes({ ...valid, durationSeconds: 120 })).toEqual([]);
    expect(codes({ ...valid, durationSeconds: 115 })).toEqual(['durationSeconds:invalid_duration']);
    // exactly 24 h is allowed
    expect(codes({ ...valid, startTime: 0, endTime: 86_400_000, durationSeconds: 86_400 })).toEqual([]);
  });

  it('reports every problem at once, with the primary code by precedence', () => {
    const bad = {
      ...valid,
      cdrId: '',
      calledNumber: '12',
      callingNumber: 'x',
      usageType: 'FAX',
      startTime: valid.endTime + 1000,
      durationSeconds: -5,
    };
    expect(codes(bad)).toEqual([
      'cdrId:missing_field',
      'endTime:invalid_time_range',
      'durationSeconds:invalid_duration',
      'calledNumber:invalid_number',
      'callingNumber:invalid_number',
      'usageType:unknown_usage_type',
    ]);
    const result = validateCdr(bad as RawCdr, policy);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.code).toBe('missing_field');
      expect(result.error.retryable).toBe(false);
      expect(result.error.message).toBe('cdrId: must be a non-empty string, got "" (and 5 more problems)');
    }
  });

  it.each<[Partial<RawCdr>, string]>([
    [{ usageType: 'FAX', calledNumber: 's' }, 'invalid_number'],
    [{ usageType: 'FAX', durationSeconds: 999 }, 'invalid_duration'],
    [{ calledNumber: 's', startTime: valid.endTime + 1 }, 'invalid_time_range'],
    [{ startTime: 0.5, cdrId: 'a\u0001' }, 'invalid_id'],
    [{ startTime: 0.5, calledNumber: 's' }, 'invalid_timestamp'],
    [{ usageType: 'FAX' }, 'unknown_usage_type'],
  ])('precedence: %j -> %s', (change, expected) => {
    expect(primary({ ...valid, ...change })).toBe(expected);
  });

  it('can withhold an unparseable caller instead of rejecting', () => {
    const result = validateCdr({ ...valid, callingNumber: 'Unavailable-42' }, { ...policy, invalidCallingNumber: 'withhold' });
    expect(result).toEqual({
      ok: true,
      value: {
        ...valid,
        callingNumber: null,
        calledNumber: '+18005550100',
        attributes: { disposition: 'ANSWERED', calling_number_raw: 'Unavailable-42' },
      },
    });
  });

  it('accepts usage types given as an array', () => {
    expect(codes(valid, { ...policy, usageTypes: ['LCA'] })).toEqual([]);
    expect(codes(valid, { ...policy, usageTypes: ['IVR'] })).toEqual(['usageType:unknown_usage_type']);
  });
});
