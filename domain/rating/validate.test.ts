import { describe, expect, it } from 'vitest';
import type { RatingRule } from './types.ts';
import { parseRule, validateRule, validateRuleSet } from './validate.ts';

const valid: RatingRule = {
  ruleId: 'acme-lca',
  version: 1,
  companyId: 'acme',
  usageType: 'lca',
  effectiveFrom: '2026-01-01T00:00:00Z',
  effectiveTo: '2027-01-01T00:00:00+01:00',
  freeSeconds: 30,
  freeMode: 'grace',
  minimumSeconds: 60,
  initialIncrement: { seconds: 60, rounding: { mode: 'up' } },
  mainIncrement: { seconds: 30, rounding: { mode: 'nearest', tie: 'even' } },
  unit: 'minute',
};

const fields = (input: unknown) => validateRule(input).map((issue) => issue.field);

describe('validateRule', () => {
  it('accepts a valid rule, also after a JSON round trip', () => {
    expect(validateRule(valid)).toEqual([]);
    expect(validateRule(JSON.parse(JSON.stringify(valid)))).toEqual([]);
    const { effectiveTo: _, ...openEnded } = valid;
    expect(validateRule(openEnded)).toEqual([]);
  });

  it('reports every problem at once', () => {
    const bad = {
      ...valid,
      ruleId: '',
      version: 0,
      freeSeconds: -1,
      freeMode: 'sometimes',
      minimumSeconds: 1.5,
      initialIncrement: { seconds: 0, rounding: { mode: 'up' } },
      mainIncrement: { seconds: 30, rounding: { mode: 'sideways' } },
      effectiveTo: '2025-12-31T23:59:59Z',
      unit: 'hour',
      minimumSecond: 60,
    };
    expect(fields(bad).sort()).toEqual(
      [
        'ruleId',
        'version',
        'freeSeconds',
        'freeMode',
        'minimumSeconds',
        'initialIncrement.seconds',
        'mainIncrement.rounding.mode',
        'effectiveTo',
        'unit',
        'minimumSecond',
      ].sort(),
    );
  });

  it('reports missing fields', () => {
    expect(fields({}).sort()).toEqual(
      [
        'ruleId',
        'version',
        'companyId',
        'usageType',
        'effectiveFrom',
        'freeSeconds',
        'freeMode',
        'minimumSeconds',
        'initialIncrement',
        'mainIncrement',
        'unit',
      ].sort(),
    );
    expect(fields(null)).toEqual(['']);
    expect(fields([valid])).toEqual(['']);
  });

  it('requires effectiveTo to be later than effectiveFrom', () => {
    expect(fields({ ...valid, effectiveTo: valid.effectiveFrom })).toEqual(['effectiveTo']);
    // The same instant written with another offset is still not later.
    expect(fields({ ...valid, effectiveTo: '2026-01-01T01:00:00+01:00' })).toEqual(['effectiveTo']);
    expect(fields({ ...valid, effectiveTo: '2026-01-01T00:00:01Z' })).toEqual([]);
  });

  it.each([
    '2026-01-01', // a date is not an instant
    '2026-01-01T00:00:00', // no offset: would depend on the host's zone
    '2026-02-30T00:00:00Z', // no such day
    '2026-01-01T24:30:00Z',
    'soon',
  ])('refuses effectiveFrom %s', (effectiveFrom) => {
    expect(fields({ ...valid, effectiveFrom })).toEqual(['effectiveFrom']);
  });

  it('requires a tie rule for nearest and refuses one elsewhere', () => {
    expect(fields({ ...valid, mainIncrement: { seconds: 30, rounding: { mode: 'nearest' } } })).toEqual([
      'mainIncrement.rounding.tie',
    ]);
    expect(
      fields({ ...valid, mainIncrement: { seconds: 30, rounding: { mode: 'nearest', tie: 'odd' } } }),
    ).toEqual(['mainIncrement.rounding.tie']);
    expect(
      fields({ ...valid, initialIncrement: { seconds: 60, rounding: { mode: 'up', tie: 'up' } } }),
    ).toEqual(['initialIncrement.rounding.tie']);
  });

  it('refuses non-integer, negative and non-numeric quantities', () => {
    expect(fields({ ...valid, freeSeconds: '30' })).toEqual(['freeSeconds']);
    expect(fields({ ...valid, minimumSeconds: -60 })).toEqual(['minimumSeconds']);
    expect(fields({ ...valid, mainIncrement: { seconds: 6.5, rounding: { mode: 'up' } } })).toEqual([
      'mainIncrement.seconds',
    ]);
    expect(fields({ ...valid, mainIncrement: { seconds: -6, rounding: { mode: 'up' } } })).toEqual([
      'mainIncrement.seconds',
    ]);
    expect(fields({ ...valid, version: 1.1 })).toEqual(['version']);
  });

  it('parseRule returns the typed rule or the issues', () => {
    expect(parseRule(valid)).toEqual({ ok: true, value: valid });
    const parsed = parseRule({ ...valid, unit: 'fortnight' });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error[0]?.message).toMatch(/'second', 'minute'/);
  });
});

describe('validateRuleSet', () => {
  it('accepts versions of one rule with disjoint or differently-versioned windows', () => {
    const v1 = { ...valid, effectiveTo: '2026-06-01T00:00:00Z' };
    const v1Later = { ...valid, ruleId: 'acme-lca-summer', effectiveFrom: '2026-06-01T00:00:00Z' };
    const v2 = { ...valid, version: 2, effectiveFrom: '2026-03-01T00:00:00Z' };
    expect(validateRuleSet([v1, v1Later, v2])).toEqual([]);
  });

  it('reports a repeated ruleId and version', () => {
    const issues = validateRuleSet([valid, { ...valid }]);
    expect(issues.map((i) => i.message)).toContain('this ruleId and version appear more than once');
  });

  it('reports two same-version rules of one scope with overlapping windows', () => {
    // valid ends (exclusive) at 2027-01-01T00:00:00+01:00 = 2026-12-31T23:00:00Z.
    const later = { ...valid, ruleId: 'acme-lca-b', effectiveTo: '2027-06-01T00:00:00Z' };
    const overlapping = { ...later, effectiveFrom: '2026-12-31T22:59:59Z' };
    const issues = validateRuleSet([valid, overlapping]);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ ruleId: 'acme-lca', version: 1, field: 'version' });
    // Touching windows do not overlap: effectiveTo is exclusive.
    const touching = { ...later, effectiveFrom: '2026-12-31T23:00:00Z' };
    expect(validateRuleSet([valid, touching])).toEqual([]);
  });

  it("names the rule behind each of its issues", () => {
    const issues = validateRuleSet([valid, { ...valid, ruleId: 'acme-chat', usageType: '', version: 3 }]);
    expect(issues).toEqual([
      expect.objectContaining({ ruleId: 'acme-chat', version: 3, field: 'usageType' }),
    ]);
  });
});
