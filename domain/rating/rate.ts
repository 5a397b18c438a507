import { parseIsoInstant, toEpochMillis } from './instant.ts';
import type {
  DurationRating,
  Increment,
  Instant,
  RatingError,
  RatingErrorCode,
  RatingRule,
  Ratio,
  Result,
  Rounding,
  RuleIssue,
  RuleQuery,
  UsageRating,
  UsageToRate,
} from './types.ts';
import { UNIT_SECONDS } from './types.ts';
import { validateRuleSet } from './validate.ts';

function fail(code: RatingErrorCode, message: string, issues?: readonly RuleIssue[]) {
  const error: RatingError =
    issues === undefined ? { code, message, retryable: false } : { code, message, retryable: false, issues };
  return { ok: false as const, error };
}

/** Whole blocks of `block` seconds that `seconds` rounds to. Integer arithmetic only. */
function roundBlocks(seconds: number, block: number, rounding: Rounding): number {
  const whole = Math.floor(seconds / block);
  const rest = seconds - whole * block;
  if (rest === 0) return whole;
  switch (rounding.mode) {
    case 'up':
      return whole + 1;
    case 'down':
      return whole;
    case 'nearest': {
      const twice = 2 * rest;
      if (twice > block) return whole + 1;
      if (twice < block) return whole;
      if (rounding.tie === 'up') return whole + 1;
      if (rounding.tie === 'down') return whole;
      return whole % 2 === 0 ? whole : whole + 1;
    }
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function ratio(numerator: number, denominator: number): Ratio {
  const divisor = gcd(numerator, denominator);
  return { numerator: numerator / divisor, denominator: denominator / divisor };
}

function isCount(value: number, min: number): boolean {
  return Number.isSafeInteger(value) && value >= min;
}

// Only the fields the arithmetic depends on: cheap enough for every record, and it keeps a
// rule that skipped validation from dividing by zero. The full check is validateRule.
function quantityIssues(rule: RatingRule): RuleIssue[] {
  const issues: RuleIssue[] = [];
  const need = (ok: boolean, field: string, message: string) => {
    if (!ok) issues.push({ field, message, ruleId: rule.ruleId, version: rule.version });
  };
  need(isCount(rule.freeSeconds, 0), 'freeSeconds', 'must be a non-negative integer');
  need(isCount(rule.minimumSeconds, 0), 'minimumSeconds', 'must be a non-negative integer');
  need(rule.freeMode === 'grace' || rule.freeMode === 'deduct', 'freeMode', "must be 'grace' or 'deduct'");
  const increments: [string, Increment][] = [
    ['initialIncrement', rule.initialIncrement],
    ['mainIncrement', rule.mainIncrement],
  ];
  for (const [field, increment] of increments) {
    need(isCount(increment.seconds, 1), `${field}.seconds`, 'must be a positive integer');
    const { rounding } = increment;
    need(
      rounding.mode === 'up' ||
        rounding.mode === 'down' ||
        (rounding.mode === 'nearest' && ['up', 'down', 'even'].includes(rounding.tie)),
      `${field}.rounding`,
      "must be {mode: 'up'}, {mode: 'down'} or {mode: 'nearest', tie: 'up' | 'down' | 'even'}",
    );
  }
  need(UNIT_SECONDS[rule.unit] !== undefined, 'unit', 'must be a known billing unit');
  return issues;
}

/**
 * Applies one rule to one call duration:
 * 1. free allowance (grace: calls <= freeSeconds cost 0, longer calls are billed in full;
 *    deduct: the first freeSeconds of every call are removed),
 * 2. the initial block: a chargeable time shorter than it is rounded by its rounding
 *    (to 0 or one block); otherwise it is billed as one full block,
 * 3. the rest in main increments, rounded by the main rounding,
 * 4. the minimum: any call with chargeable time is billed at least minimumSeconds.
 */
export function rateDuration(
  durationSeconds: number,
  rule: RatingRule,
): Result<DurationRating, RatingError> {
  if (!Number.isSafeInteger(durationSeconds) || durationSeconds < 0) {
    return fail(
      'invalid_duration',
      `duration must be a non-negative integer number of seconds, got ${String(durationSeconds)}`,
    );
  }
  const issues = quantityIssues(rule);
  if (issues.length > 0) {
    return fail('invalid_rating_rule', `rule ${rule.ruleId} v${rule.version} is invalid`, issues);
  }

  let freeSecondsApplied: number;
  if (rule.freeMode === 'grace') {
    freeSecondsApplied = durationSeconds <= rule.freeSeconds ? durationSeconds : 0;
  } else {
    freeSecondsApplied = Math.min(durationSeconds, rule.freeSeconds);
  }
  const chargeableSeconds = durationSeconds - freeSecondsApplied;

  let initialBilledSeconds = 0;
  let mainBilledSeconds = 0;
  if (chargeableSeconds > 0) {
    const initial = rule.initialIncrement;
    if (chargeableSeconds <= initial.seconds) {
      initialBilledSeconds =
        roundBlocks(chargeableSeconds, initial.seconds, initial.rounding) * initial.seconds;
    } else {
      const main = rule.mainIncrement;
      initialBilledSeconds = initial.seconds;
      mainBilledSeconds =
        roundBlocks(chargeableSeconds - initial.seconds, main.seconds, main.rounding) * main.seconds;
    }
  }
  const rounded = initialBilledSeconds + mainBilledSeconds;
  const minimumApplied = chargeableSeconds > 0 && rule.minimumSeconds > rounded;
  const billableSeconds = minimumApplied ? rule.minimumSeconds : rounded;

  return {
    ok: true,
    value: {
      durationSeconds,
      freeSecondsApplied,
      chargeableSeconds,
      initialBilledSeconds,
      mainBilledSeconds,
      minimumApplied,
      billableSeconds,
      unit: rule.unit,
      billableUnits: ratio(billableSeconds, UNIT_SECONDS[rule.unit]),
    },
  };
}

interface IndexedRule {
  readonly rule: RatingRule;
  readonly fromMillis: number;
  readonly toMillis: number;
}

const scopeKey = (companyId: string, usageType: string) => `${companyId}\u0000${usageType}`;

/**
 * Rules grouped by company and usage type with their instants parsed once. Build one per
 * change of `ref.rating-rules` and select from it per record; selecting from a plain array
 * builds a throwaway index on every call.
 */
export class RuleIndex {
  readonly #byScope: ReadonlyMap<string, readonly IndexedRule[]>;

  private constructor(byScope: ReadonlyMap<string, readonly IndexedRule[]>) {
    this.#byScope = byScope;
  }

  /** A validated index, or every problem found in the rule set. */
  static build(rules: readonly RatingRule[]): Result<RuleIndex, RatingError> {
    const issues = validateRuleSet(rules);
    if (issues.length > 0) {
      return fail('invalid_rating_rule', `the rule set has ${issues.length} problem(s)`, issues);
    }
    const byScope = new Map<string, IndexedRule[]>();
    for (const rule of rules) {
      const key = scopeKey(rule.companyId, rule.usageType);
      const group = byScope.get(key) ?? [];
      group.push({
        rule,
        fromMillis: parseIsoInstant(rule.effectiveFrom)!,
        toMillis: rule.effectiveTo === undefined ? Infinity : parseIsoInstant(rule.effectiveTo)!,
      });
      byScope.set(key, group);
    }
    // Highest version first, so the first effective entry is the one in force.
    for (const group of byScope.values()) group.sort((a, b) => b.rule.version - a.rule.version);
    return { ok: true, value: new RuleIndex(byScope) };
  }

  /** The highest-version rule of this company and usage type effective at `atMillis`. */
  inForce(companyId: string, usageType: string, atMillis: number): RatingRule | undefined {
    const group = this.#byScope.get(scopeKey(companyId, usageType)) ?? [];
    return group.find((entry) => entry.fromMillis <= atMillis && atMillis < entry.toMillis)?.rule;
  }
}

export function indexRules(rules: readonly RatingRule[]): Result<RuleIndex, RatingError> {
  return RuleIndex.build(rules);
}

export interface SelectedRule {
  readonly rule: RatingRule;
  readonly source: 'brand' | 'parent';
}

/**
 * The rule in force at the call's start: the brand's own rule for the usage type if one is
 * effective then, else the parent company's default. Among effective versions the highest
 * wins.
 */
export function selectRule(
  rules: readonly RatingRule[] | RuleIndex,
  query: RuleQuery,
): Result<SelectedRule, RatingError> {
  let index: RuleIndex;
  if (rules instanceof RuleIndex) {
    index = rules;
  } else {
    const built = RuleIndex.build(rules);
    if (!built.ok) return built;
    index = built.value;
  }
  const atMillis = toEpochMillis(query.at);
  if (atMillis === undefined) {
    return fail('invalid_instant', `call start is not a valid instant: ${describeInstant(query.at)}`);
  }
  const own = index.inForce(query.brand, query.usageType, atMillis);
  if (own !== undefined) return { ok: true, value: { rule: own, source: 'brand' } };
  const fallback = index.inForce(query.parentCompany, query.usageType, atMillis);
  if (fallback !== undefined) return { ok: true, value: { rule: fallback, source: 'parent' } };
  return fail(
    'no_rating_rule',
    `no rating rule for usage type '${query.usageType}' of brand '${query.brand}' ` +
      `or parent '${query.parentCompany}' at ${new Date(atMillis).toISOString()}`,
  );
}

function describeInstant(at: Instant): string {
  return at instanceof Date ? 'Invalid Date' : JSON.stringify(at);
}

/** Selects the rule in force for a usage record and applies it. */
export function rateUsage(
  usage: UsageToRate,
  rules: readonly RatingRule[] | RuleIndex,
): Result<UsageRating, RatingError> {
  const selected = selectRule(rules, {
    brand: usage.brand,
    parentCompany: usage.parentCompany,
    usageType: usage.usageType,
    at: usage.startedAt,
  });
  if (!selected.ok) return selected;
  const { rule, source } = selected.value;
  const rated = rateDuration(usage.durationSeconds, rule);
  if (!rated.ok) return rated;
  return {
    ok: true,
    value: {
      ...rated.value,
      ruleId: rule.ruleId,
      ruleVersion: rule.version,
      ruleCompanyId: rule.companyId,
      ruleSource: source,
    },
  };
}
