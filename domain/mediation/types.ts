/**
 * The records of the mediation chain, field for field as in schemas/cdr.accepted.avsc,
 * usage.resolved.avsc, usage.rated.avsc and usage.charged.avsc. Instants are epoch ms;
 * amounts are decimal.js (the Avro decimal logical type decodes to it).
 */
import type { Decimal } from 'decimal.js';
import type { PeriodState } from '../drawdown/index.ts';

/** The CDR fields every stage carries on unchanged. */
export interface CdrFields {
  /** The accepted CDR's deterministic id, kept through every stage. */
  readonly eventId: string;
  readonly source: string;
  readonly cdrId: string;
  readonly callingNumber: string | null;
  /** E.164: the number that is resolved to its owner. */
  readonly calledNumber: string;
  readonly usageType: string;
  readonly startTime: number;
  readonly endTime: number;
  readonly durationSeconds: number;
  readonly attributes: Readonly<Record<string, string>>;
}

export interface Origin {
  readonly topic: string | null;
  readonly partition: number | null;
  readonly offset: number | null;
  readonly file: string | null;
  readonly line: number | null;
}

/** cdr.accepted */
export interface AcceptedCdr extends CdrFields {
  readonly origin: Origin;
  readonly acceptedAt: number;
}

/** The attribution resolution adds. */
export interface Attribution {
  readonly brand: string;
  readonly accountId: string;
  readonly subscriptionId: string;
  readonly assignmentId: string;
  readonly productId: string;
}

/** usage.resolved */
export interface UsageResolved extends CdrFields, Attribution {
  readonly resolvedAt: number;
}

/** usage.rated */
export interface UsageRated extends CdrFields, Attribution {
  /** 1 for live rating, higher for each re-rating run. */
  readonly ratingVersion: number;
  readonly ruleId: string;
  readonly ruleVersion: number;
  readonly billableSeconds: number;
  readonly ratedAt: number;
}

export interface ChargedDraw {
  readonly bucketId: string;
  readonly seconds: number;
}

/** usage.charged `TierCharge`. */
export interface TierCharge {
  /** 1-based tier index in the price model. */
  readonly tier: number;
  /**
   * Price units (minutes for a per-minute model) at scale 6, half-even: exact whenever the
   * seconds divide evenly, which a 1/60 does not (see the README). Negative on a volume
   * re-pricing line.
   */
  readonly units: Decimal;
  readonly unitPrice: Decimal;
  /** units × unitPrice plus any flat fee of the tier, unrounded; the exact figure. */
  readonly amount: Decimal;
  /** Base units (seconds) priced in the tier, exact: what invoices add up (units is rounded). */
  readonly seconds: number;
  /** The flat fee included in `amount` (zero when none). */
  readonly flatFee: Decimal;
}

/** usage.charged */
export interface UsageCharged extends UsageRated {
  readonly periodStart: number;
  readonly periodEnd: number;
  readonly planId: string;
  readonly planVersion: number;
  readonly includedSeconds: number;
  readonly overageSeconds: number;
  readonly draws: readonly ChargedDraw[];
  readonly currency: string;
  /** Overage charge, unrounded (scale 6); rounded once, on the invoice. */
  readonly amount: Decimal;
  readonly tiers: readonly TierCharge[];
  readonly chargedAt: number;
  /**
   * The call's place in its period's draw order: the order in which drawdown first charged
   * the period's calls (1, 2, ...), kept by every later rating version (domain/drawdown
   * README). 0 on records from before it was recorded.
   */
  readonly chargeSequence: number;
}

export type ResolveRejectReason = 'unresolved_number' | 'unknown_brand' | 'no_product' | 'subscription_missing';

export type RateRejectReason =
  | 'unknown_brand'
  | 'no_rating_rule'
  | 'invalid_rating_rule'
  | 'invalid_duration'
  | 'invalid_instant';

export type ChargeRejectReason =
  | 'subscription_missing'
  | 'unknown_brand'
  | 'plan_missing'
  | 'currency_mismatch'
  | 'instant_before_anchor'
  | 'invalid_time_zone'
  | 'invalid_grant'
  | 'invalid_plan_pricing'
  | 'invalid_usage'
  | 'no_price_model'
  | 'duplicate_cdr'
  | 'period_state_mismatch';

export type RejectReason = ResolveRejectReason | RateRejectReason | ChargeRejectReason;

/**
 * Why a record goes to `cdr.rejected` instead of on. Stable snake_case reasons. Most of
 * them can also mean the reference data lags behind the usage (a number assigned a minute
 * ago, a rule not yet published): a service may park such a record and retry it after the
 * next `ref.*` change rather than reject it at once.
 */
export interface Rejection<R extends RejectReason = RejectReason> {
  readonly reason: R;
  readonly detail: string;
}

export type StepOutcome<T, R extends RejectReason> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly rejection: Rejection<R> };

/** Identifies one subscription's billing period: where the drawdown service keeps its state. */
export interface PeriodKey {
  readonly subscriptionId: string;
  /** 0 for the period starting on the anchor's date (domain/periods). */
  readonly periodIndex: number;
  /** `${subscriptionId}#${periodIndex}`: a state store key. */
  readonly key: string;
  readonly periodStart: number;
  readonly periodEnd: number;
}

/**
 * The drawdown state of one subscription and period, with the plan it was opened on. A
 * plan change within a period does not touch it: the period keeps its buckets and prices
 * until it is re-rated (`rerate`) on the new plan.
 */
export interface ChargePeriodState extends PeriodKey {
  readonly planId: string;
  readonly planVersion: number;
  readonly drawdown: PeriodState;
}

export type ChargeOutcome =
  | { readonly ok: true; readonly value: UsageCharged; readonly state: ChargePeriodState }
  /** The state is unchanged: the one passed in, or undefined if none was. */
  | { readonly ok: false; readonly rejection: Rejection<ChargeRejectReason>; readonly state: ChargePeriodState | undefined };

export type Stage = 'resolve' | 'rate' | 'charge';

/** A rejection with the record it belongs to, as the pipeline and re-rating report it. */
export interface PipelineRejection extends Rejection {
  readonly stage: Stage;
  readonly eventId: string;
  readonly source: string;
  readonly cdrId: string;
}

export interface PipelineOptions {
  /** The rating version of the charged records (default 1, live rating). */
  readonly ratingVersion?: number;
  /**
   * One instant for resolvedAt, ratedAt and chargedAt. Default: each stage stamps the
   * previous stage's instant (acceptedAt, then resolvedAt, ...), as the step functions do,
   * so the same input always gives the same output.
   */
  readonly at?: number;
  /** Period states to continue from (by key), e.g. what the drawdown service holds. */
  readonly states?: ReadonlyMap<string, ChargePeriodState>;
}

export interface PipelineResult {
  readonly resolved: readonly UsageResolved[];
  readonly charged: readonly UsageCharged[];
  readonly rejections: readonly PipelineRejection[];
  /** Every period state touched, by key, after the last record. */
  readonly states: ReadonlyMap<string, ChargePeriodState>;
}

/** One CDR's change between the version billed and the re-rated one (new − old). */
export interface ChargeDifference {
  readonly eventId: string;
  readonly subscriptionId: string;
  readonly periodStart: number;
  readonly currency: string;
  readonly usageType: string;
  /** 'added': charged only now; 'removed': charged only before. */
  readonly kind: 'added' | 'removed' | 'changed';
  readonly includedSeconds: number;
  readonly overageSeconds: number;
  readonly amount: Decimal;
}

/** The adjustment of one subscription period: what the next invoice carries. */
export interface PeriodAdjustment {
  readonly subscriptionId: string;
  readonly periodStart: number;
  readonly currency: string;
  readonly includedSeconds: number;
  readonly overageSeconds: number;
  readonly amount: Decimal;
  readonly differences: readonly ChargeDifference[];
}

export interface RerateOptions {
  /** ratedAt and chargedAt of the new records. Default: each usage's resolvedAt. */
  readonly at?: number;
}

export interface RerateResult {
  /** The new version's charged records: by period key, each period in its draw order. */
  readonly charged: readonly UsageCharged[];
  readonly rejections: readonly PipelineRejection[];
  /** Per CDR, only those that changed or exist in one version only. */
  readonly differences: readonly ChargeDifference[];
  /** Per subscription period and currency; zero-total periods with no differences are left out. */
  readonly adjustments: readonly PeriodAdjustment[];
  /** Each recomputed period's bucket state after the new version: what drawdown continues from. */
  readonly states: ReadonlyMap<string, ChargePeriodState>;
}
