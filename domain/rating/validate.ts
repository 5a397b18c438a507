import { parseIsoInstant } from './instant.ts';
import type { RatingRule, Result, RuleIssue } from './types.ts';
import { UNIT_SECONDS } from './types.ts';

const RULE_FIELDS = new Set([
  'ruleId',
  'version',
  'companyId',
  'usageType',
  'effectiveFrom',
  'effectiveTo',
  'freeSeconds',
  'freeMode',
  'minimumSeconds',
  'initialIncrement',
  'mainIncrement',
  'unit',
]);
const INCREMENT_FIELDS = new Set(['seconds', 'rounding']);
const FREE_MODES = ['grace', 'deduct'];
const ROUNDING_MODES = ['up', 'down', 'nearest'];
const TIE_RULES = ['up', 'down', 'even'];

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  return value === undefined ? 'missing' : JSON.stringify(value) ?? String(value);
}

function checkNonEmptyString(fields: Fields, key: string, issues: RuleIssue[]): void {
  const value = fields[key];
  if (typeof value !== 'string' || value.trim() === '') {
    issues.push({ field: key, message: `must be a non-empty string, got ${describe(value)}` });
  }
}

function checkInteger(
  fields: Fields,
  key: string,
  path: string,
  min: number,
  issues: RuleIssue[],
): void {
  const value = fields[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    const what = min === 0 ? 'a non-negative integer' : `an integer >= ${min}`;
    issues.push({ field: path, message: `must be ${what}, got ${describe(value)}` });
  }
}

function checkOneOf(
  value: unknown,
  allowed: readonly string[],
  path: string,
  issues: RuleIssue[],
): void {
  if (typeof value !== 'string' || !allowed.includes(value)) {
    issues.push({
      field: path,
      message: `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(value)}`,
    });
  }
}

function checkUnknownFields(
  fields: Fields,
  known: ReadonlySet<string>,
  prefix: string,
  issues: RuleIssue[],
): void {
  for (const key of Object.keys(fields)) {
    if (!known.has(key)) issues.push({ field: prefix + key, message: 'is not a known field' });
  }
}

function checkIncrement(value: unknown, path: string, issues: RuleIssue[]): void {
  if (!isObject(value)) {
    issues.push({ field: path, message: `must be an object {seconds, rounding}, got ${describe(value)}` });
    return;
  }
  checkUnknownFields(value, INCREMENT_FIELDS, `${path}.`, issues);
  checkInteger(value, 'seconds', `${path}.seconds`, 1, issues);
  const rounding = value['rounding'];
  if (!isObject(rounding)) {
    issues.push({
      field: `${path}.rounding`,
      message: `must be an object {mode[, tie]}, got ${describe(rounding)}`,
    });
    return;
  }
  const mode = rounding['mode'];
  checkOneOf(mode, ROUNDING_MODES, `${path}.rounding.mode`, issues);
  if (mode === 'nearest') {
    checkOneOf(rounding['tie'], TIE_RULES, `${path}.rounding.tie`, issues);
    checkUnknownFields(rounding, new Set(['mode', 'tie']), `${path}.rounding.`, issues);
  } else {
    // A tie rule on 'up' or 'down' would be silently meaningless: refuse it.
    checkUnknownFields(rounding, new Set(['mode']), `${path}.rounding.`, issues);
  }
}

/**
 * Every problem with one rule, at once. An empty list means the input is a valid
 * RatingRule. Accepts unknown input so that it can check JSON straight off the wire.
 */
export function validateRule(input: unknown): RuleIssue[] {
  const issues: RuleIssue[] = [];
  if (!isObject(input)) {
    return [{ field: '', message: `a rating rule must be an object, got ${describe(input)}` }];
  }
  checkUnknownFields(input, RULE_FIELDS, '', issues);
  checkNonEmptyString(input, 'ruleId', issues);
  checkInteger(input, 'version', 'version', 1, issues);
  checkNonEmptyString(input, 'companyId', issues);
  checkNonEmptyString(input, 'usageType', issues);

  const from = input['effectiveFrom'];
  const fromMillis = typeof from === 'string' ? parseIsoInstant(from) : undefined;
  if (fromMillis === undefined) {
    issues.push({
      field: 'effectiveFrom',
      message: `must be an ISO 8601 instant with an offset (e.g. 2026-01-01T00:00:00Z), got ${describe(from)}`,
    });
  }
  const to = input['effectiveTo'];
  if (to !== undefined) {
    const toMillis = typeof to === 'string' ? parseIsoInstant(to) : undefined;
    if (toMillis === undefined) {
      issues.push({
        field: 'effectiveTo',
        message: `must be an ISO 8601 instant with an offset, or absent, got ${describe(to)}`,
      });
    } else if (fromMillis !== undefined && toMillis <= fromMillis) {
      issues.push({ field: 'effectiveTo', message: 'must be later than effectiveFrom' });
    }
  }

  checkInteger(input, 'freeSeconds', 'freeSeconds', 0, issues);
  checkOneOf(input['freeMode'], FREE_MODES, 'freeMode', issues);
  checkInteger(input, 'minimumSeconds', 'minimumSeconds', 0, issues);
  checkIncrement(input['initialIncrement'], 'initialIncrement', issues);
  checkIncrement(input['mainIncrement'], 'mainIncrement', issues);
  checkOneOf(input['unit'], Object.keys(UNIT_SECONDS), 'unit', issues);
  return issues;
}

/** A typed rule from unknown input, or every problem with it. */
export function parseRule(input: unknown): Result<RatingRule, RuleIssue[]> {
  const issues = validateRule(input);
  return issues.length === 0
    ? { ok: true, value: input as RatingRule }
    : { ok: false, error: issues };
}

/**
 * Every problem with a set of rules: each rule's own issues, a (ruleId, version) given
 * twice, and two rules of one company and usage type with the same version whose
 * effective windows overlap (selection could not choose between them).
 */
export function validateRuleSet(rules: readonly unknown[]): RuleIssue[] {
  const issues: RuleIssue[] = [];
  const valid: RatingRule[] = [];
  for (const [position, rule] of rules.entries()) {
    const own = validateRule(rule);
    if (own.length === 0) {
      valid.push(rule as RatingRule);
      continue;
    }
    const id = isObject(rule) ? rule : {};
    const ruleId = typeof id['ruleId'] === 'string' ? id['ruleId'] : `#${position}`;
    const version = typeof id['version'] === 'number' ? id['version'] : undefined;
    for (const issue of own) {
      issues.push(version === undefined ? { ...issue, ruleId } : { ...issue, ruleId, version });
    }
  }

  const seen = new Set<string>();
  const byScope = new Map<string, RatingRule[]>();
  for (const rule of valid) {
    const identity = `${rule.ruleId}\u0000${rule.version}`;
    if (seen.has(identity)) {
      issues.push({
        field: 'version',
        message: 'this ruleId and version appear more than once',
        ruleId: rule.ruleId,
        version: rule.version,
      });
    }
    seen.add(identity);
    const scope = `${rule.companyId}\u0000${rule.usageType}\u0000${rule.version}`;
    const group = byScope.get(scope) ?? [];
    group.push(rule);
    byScope.set(scope, group);
  }

  for (const group of byScope.values()) {
    for (let i = 0; i < group.length; i++) {
      for (let j = i + 1; j < group.length; j++) {
        const a = group[i]!;
        const b = group[j]!;
        if (windowsOverlap(a, b)) {
          issues.push({
            field: 'version',
            message:
              `overlaps ${b.ruleId} v${b.version} for ${a.companyId}/${a.usageType} ` +
              'with the same version; give one a higher version or disjoint effective dates',
            ruleId: a.ruleId,
            version: a.version,
          });
        }
      }
    }
  }
  return issues;
}

function windowsOverlap(a: RatingRule, b: RatingRule): boolean {
  const aFrom = parseIsoInstant(a.effectiveFrom)!;
  const bFrom = parseIsoInstant(b.effectiveFrom)!;
  const aTo = a.effectiveTo === undefined ? Infinity : parseIsoInstant(a.effectiveTo)!;
  const bTo = b.effectiveTo === undefined ? Infinity : parseIsoInstant(b.effectiveTo)!;
  return aFrom < bTo && bFrom < aTo;
}
