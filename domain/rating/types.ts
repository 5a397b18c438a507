/**
 * Declarative rating rules and the results of applying them.
 *
 * Everything here is plain, JSON-serialisable data: rules travel on `ref.rating-rules`,
 * are stored by the catalog and are replayed for re-rating and plan what-ifs.
 */

/** How a partial increment is turned into whole increments. */
export type Rounding =
  | { readonly mode: 'up' }
  | { readonly mode: 'down' }
  /**
   * To the closer whole increment; `tie` decides an exact half. `even` picks the
   * candidate whose count of increments in that phase (initial or main) is even.
   */
  | { readonly mode: 'nearest'; readonly tie: TieRule };

export type RoundingMode = Rounding['mode'];
export type TieRule = 'up' | 'down' | 'even';

export interface Increment {
  /** Block length in seconds; a positive integer. */
  readonly seconds: number;
  readonly rounding: Rounding;
}

/**
 * `grace`: a call lasting at most `freeSeconds` costs nothing; a longer call is billed in
 * full from its first second (common telecom "first 30 s free").
 * `deduct`: the first `freeSeconds` of every call are removed and only the rest is billed.
 */
export type FreeMode = 'grace' | 'deduct';

/** The unit the billable quantity is priced in. Billable seconds are always given too. */
export type BillingUnit = 'second' | 'minute';

export const UNIT_SECONDS: Readonly<Record<BillingUnit, number>> = {
  second: 1,
  minute: 60,
};

export interface RatingRule {
  /** Stable id of the rule's lineage, e.g. `acme-lca-standard`. */
  readonly ruleId: string;
  /** Positive integer; a change to a rule is a new version, never an edit in place. */
  readonly version: number;
  /** The company the rule belongs to: a brand code, or the parent company for its default. */
  readonly companyId: string;
  /** Open set (`lca`, `chat`, `qrs`, `ivr`, whatever a brand adds); checked against the catalogue. */
  readonly usageType: string;
  /** ISO 8601 instant with an offset (`Z` or `±hh:mm`); inclusive. */
  readonly effectiveFrom: string;
  /** ISO 8601 instant with an offset; exclusive. Absent: open-ended. */
  readonly effectiveTo?: string;
  /** Non-negative integer. */
  readonly freeSeconds: number;
  readonly freeMode: FreeMode;
  /** Non-negative integer: any call with chargeable time is billed at least this. */
  readonly minimumSeconds: number;
  /** The first billed block. */
  readonly initialIncrement: Increment;
  /** Every block after the initial one. */
  readonly mainIncrement: Increment;
  readonly unit: BillingUnit;
}

/** An exact non-negative rational, in lowest terms (denominator >= 1). */
export interface Ratio {
  readonly numerator: number;
  readonly denominator: number;
}

/** The outcome of applying one rule to one duration. */
export interface DurationRating {
  readonly durationSeconds: number;
  /** Seconds that cost nothing because of the free allowance. */
  readonly freeSecondsApplied: number;
  /** Seconds left to bill after the free allowance, before rounding and minimum. */
  readonly chargeableSeconds: number;
  /** Seconds billed by the initial block (0, a rounded partial block, or the full block). */
  readonly initialBilledSeconds: number;
  /** Seconds billed by main increments. */
  readonly mainBilledSeconds: number;
  /** True when the minimum raised the rounded quantity. */
  readonly minimumApplied: boolean;
  /** Always an integer number of seconds. */
  readonly billableSeconds: number;
  readonly unit: BillingUnit;
  /** billableSeconds / UNIT_SECONDS[unit], exactly (e.g. 90 s in minutes = 3/2). */
  readonly billableUnits: Ratio;
}

export interface RuleRef {
  readonly ruleId: string;
  readonly ruleVersion: number;
  readonly ruleCompanyId: string;
  /** Whether the brand's own rule applied or the parent company's default. */
  readonly ruleSource: 'brand' | 'parent';
}

export interface UsageRating extends DurationRating, RuleRef {}

/** An instant: a Date, epoch milliseconds, or an ISO 8601 string with an offset. */
export type Instant = Date | number | string;

export interface RuleQuery {
  readonly brand: string;
  readonly parentCompany: string;
  readonly usageType: string;
  /** The call's start instant. */
  readonly at: Instant;
}

/** The fields of a resolved usage record that rating needs. */
export interface UsageToRate {
  readonly brand: string;
  readonly parentCompany: string;
  readonly usageType: string;
  readonly startedAt: Instant;
  readonly durationSeconds: number;
}

export interface RuleIssue {
  /** Dotted path of the offending field, e.g. `mainIncrement.rounding.tie`. */
  readonly field: string;
  readonly message: string;
  /** Set when the issue was found in a rule set, to say which rule. */
  readonly ruleId?: string;
  readonly version?: number;
}

export type RatingErrorCode =
  | 'invalid_duration'
  | 'invalid_instant'
  | 'invalid_rating_rule'
  | 'no_rating_rule';

export interface RatingError {
  readonly code: RatingErrorCode;
  readonly message: string;
  /** Rating is deterministic: the same input fails the same way, so retrying does not help. */
  readonly retryable: false;
  readonly issues?: readonly RuleIssue[];
}

export type Result<T, E> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: E };
