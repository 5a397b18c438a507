import type { Decimal } from 'decimal.js';
import { dec } from '../money/index.ts';
import { priceUsage, validatePriceModel } from '../pricing/index.ts';
import type { PriceModel, TierLine } from '../pricing/index.ts';

/** Included units that a plan or an add-on bundle grants for one usage type and period. */
export interface BucketGrant {
  readonly bucketId: string;
  readonly usageType: string;
  /** Included seconds for the period. */
  readonly seconds: number;
  /** Lower draws first; equal priorities draw in bucketId order (code points). */
  readonly priority: number;
  /** Where the grant comes from ('plan', 'addon:<id>'); informative only. */
  readonly source?: string;
}

export interface BucketBalance {
  readonly bucketId: string;
  readonly usageType: string;
  readonly priority: number;
  readonly granted: number;
  readonly remaining: number;
  readonly source?: string;
}

/**
 * The drawdown state of one subscription, period and rating version: its buckets in draw
 * order, the overage seconds already priced per usage type (the `unitsBefore` of the next
 * overage) and the last charge sequence handed out. Plain data: a service stores it and
 * gives it back.
 */
export interface PeriodState {
  readonly buckets: readonly BucketBalance[];
  readonly overageSeconds: Readonly<Record<string, number>>;
  /** The highest `sequence` of a usage charged in the period; 0 before the first. */
  readonly lastSequence: number;
}

/** One rated usage (a CDR after rating), of any number of the subscription. */
export interface Usage {
  readonly cdrId: string;
  readonly usageType: string;
  readonly billableSeconds: number;
  /** Call start: where a usage never charged before goes in the period's order. */
  readonly startedAt: Date;
  /**
   * The usage's place in the period's draw order, from when it was first charged (live,
   * the order of arrival); absent for a usage never charged. See compareUsages.
   */
  readonly sequence?: number;
}

export interface BucketDraw {
  readonly bucketId: string;
  readonly seconds: number;
  readonly remainingAfter: number;
}

/** Bucket X reached 0 with this usage. */
export interface BucketExhausted {
  readonly bucketId: string;
  readonly usageType: string;
  readonly granted: number;
  readonly cdrId: string;
}

export interface DrawResult {
  readonly state: PeriodState;
  readonly draws: readonly BucketDraw[];
  readonly includedSeconds: number;
  readonly overageSeconds: number;
  readonly exhausted: readonly BucketExhausted[];
}

/** The plan's overage price model per usage type, all in the plan's currency. */
export interface PlanPricing {
  readonly currency: string;
  readonly models: Readonly<Record<string, PriceModel>>;
}

export interface UsageCharge {
  readonly cdrId: string;
  /** Its place in the period's draw order: the usage's own, else the next free one. */
  readonly sequence: number;
  readonly usageType: string;
  readonly billableSeconds: number;
  readonly includedSeconds: number;
  readonly overageSeconds: number;
  readonly draws: readonly BucketDraw[];
  readonly exhausted: readonly BucketExhausted[];
  readonly currency: string;
  /** Overage amount, unrounded at scale 6; negative only for a volume re-pricing credit. */
  readonly amount: Decimal;
  readonly lines: readonly TierLine[];
}

export type UsageRejectionCode = 'invalid_usage' | 'no_price_model' | 'duplicate_cdr';

export interface UsageRejection {
  readonly cdrId: string;
  readonly code: UsageRejectionCode;
  readonly message: string;
}

export type ChargeOutcome =
  | { readonly ok: true; readonly state: PeriodState; readonly charge: UsageCharge }
  | { readonly ok: false; readonly state: PeriodState; readonly rejection: UsageRejection };

export interface BatchResult {
  readonly state: PeriodState;
  readonly charges: readonly UsageCharge[];
  readonly rejections: readonly UsageRejection[];
}

export type DrawdownErrorCode =
  | 'invalid_grant'
  | 'invalid_usage'
  | 'invalid_plan_pricing'
  | 'duplicate_cdr'
  | 'currency_mismatch';

export class DrawdownError extends Error {
  override readonly name = 'DrawdownError';
  readonly retryable = false;
  constructor(
    readonly code: DrawdownErrorCode,
    message: string,
    readonly problems: readonly string[] = [message],
  ) {
    super(message);
  }
}

/** Code-point order, the same in every locale and runtime (localeCompare is not). */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareBuckets(a: BucketBalance, b: BucketBalance): number {
  return a.priority - b.priority || compareText(a.bucketId, b.bucketId);
}

/** The state at the start of a period: every grant full, nothing priced yet. */
export function openPeriod(grants: readonly BucketGrant[]): PeriodState {
  const problems: string[] = [];
  const seen = new Set<string>();
  grants.forEach((g, i) => {
    if (typeof g.bucketId !== 'string' || g.bucketId === '') problems.push(`grants[${i}] has no bucketId`);
    else if (seen.has(g.bucketId)) problems.push(`bucket "${g.bucketId}" is granted twice`);
    else seen.add(g.bucketId);
    if (typeof g.usageType !== 'string' || g.usageType === '') problems.push(`grants[${i}] has no usageType`);
    if (!Number.isSafeInteger(g.seconds) || g.seconds < 0) {
      problems.push(`grants[${i}].seconds ${g.seconds} is not a non-negative integer`);
    }
    if (!Number.isSafeInteger(g.priority)) problems.push(`grants[${i}].priority ${g.priority} is not an integer`);
  });
  if (problems.length > 0) {
    throw new DrawdownError('invalid_grant', `invalid grants: ${problems.join('; ')}`, problems);
  }
  const buckets = grants
    .map((g): BucketBalance => ({
      bucketId: g.bucketId,
      usageType: g.usageType,
      priority: g.priority,
      granted: g.seconds,
      remaining: g.seconds,
      ...(g.source === undefined ? {} : { source: g.source }),
    }))
    .sort(compareBuckets);
  return { buckets, overageSeconds: {}, lastSequence: 0 };
}

function usageProblem(usage: Usage): string | null {
  if (typeof usage.cdrId !== 'string' || usage.cdrId === '') return 'the usage has no cdrId';
  if (typeof usage.usageType !== 'string' || usage.usageType === '') return `usage ${usage.cdrId} has no usageType`;
  if (!Number.isSafeInteger(usage.billableSeconds) || usage.billableSeconds < 0) {
    return `usage ${usage.cdrId}: billableSeconds ${usage.billableSeconds} is not a non-negative integer`;
  }
  if (!(usage.startedAt instanceof Date) || Number.isNaN(usage.startedAt.getTime())) {
    return `usage ${usage.cdrId}: startedAt is not a valid instant`;
  }
  if (usage.sequence !== undefined && (!Number.isSafeInteger(usage.sequence) || usage.sequence < 1)) {
    return `usage ${usage.cdrId}: sequence ${usage.sequence} is not a whole number ≥ 1`;
  }
  return null;
}

/**
 * Draws one usage from the period's buckets of its usage type, in draw order (priority,
 * then bucketId), pooled across all numbers of the subscription. What the buckets cannot
 * cover is overage: a call that empties a bucket is split into an included part and an
 * overage part. Pure: the given state is not modified.
 */
export function drawDown(state: PeriodState, usage: Usage): DrawResult {
  const problem = usageProblem(usage);
  if (problem !== null) throw new DrawdownError('invalid_usage', problem);
  let left = usage.billableSeconds;
  const draws: BucketDraw[] = [];
  const exhausted: BucketExhausted[] = [];
  const buckets = state.buckets.map((bucket) => {
    if (left === 0 || bucket.usageType !== usage.usageType || bucket.remaining === 0) return bucket;
    const take = Math.min(left, bucket.remaining);
    left -= take;
    const remaining = bucket.remaining - take;
    draws.push({ bucketId: bucket.bucketId, seconds: take, remainingAfter: remaining });
    if (remaining === 0) {
      exhausted.push({
        bucketId: bucket.bucketId,
        usageType: bucket.usageType,
        granted: bucket.granted,
        cdrId: usage.cdrId,
      });
    }
    return { ...bucket, remaining };
  });
  const overageSeconds = left;
  const includedSeconds = usage.billableSeconds - overageSeconds;
  const overage =
    overageSeconds === 0
      ? state.overageSeconds
      : {
          ...state.overageSeconds,
          [usage.usageType]: (state.overageSeconds[usage.usageType] ?? 0) + overageSeconds,
        };
  return {
    state: { buckets: draws.length === 0 ? state.buckets : buckets, overageSeconds: overage, lastSequence: state.lastSequence },
    draws,
    includedSeconds,
    overageSeconds,
    exhausted,
  };
}

const checkedPricing = new WeakSet<PlanPricing>();

function checkPricing(pricing: PlanPricing): void {
  if (checkedPricing.has(pricing)) return;
  const problems: string[] = [];
  for (const [usageType, model] of Object.entries(pricing.models)) {
    if (model.currency !== pricing.currency) {
      problems.push(`the ${usageType} model is in ${model.currency}, the plan in ${pricing.currency}`);
    }
    for (const p of validatePriceModel(model)) problems.push(`${usageType}: ${p}`);
  }
  if (problems.length > 0) {
    throw new DrawdownError('invalid_plan_pricing', `invalid plan pricing: ${problems.join('; ')}`, problems);
  }
  checkedPricing.add(pricing);
}

/**
 * Draws one usage down and prices its overage incrementally with the plan's model for
 * its usage type (the period's overage so far is `unitsBefore`), at its `sequence` or,
 * for a usage never charged, at the next one. A usage that cannot be charged (invalid, or
 * overage with no price model) is rejected with a reason and leaves the state unchanged.
 */
export function chargeUsage(state: PeriodState, usage: Usage, pricing: PlanPricing): ChargeOutcome {
  checkPricing(pricing);
  const problem = usageProblem(usage);
  if (problem !== null) {
    return { ok: false, state, rejection: { cdrId: String(usage.cdrId), code: 'invalid_usage', message: problem } };
  }
  const drawn = drawDown(state, usage);
  const model = pricing.models[usage.usageType];
  if (drawn.overageSeconds > 0 && model === undefined) {
    return {
      ok: false,
      state,
      rejection: {
        cdrId: usage.cdrId,
        code: 'no_price_model',
        message: `usage ${usage.cdrId}: ${drawn.overageSeconds} s of ${usage.usageType} overage and the plan has no price for it`,
      },
    };
  }
  const before = state.overageSeconds[usage.usageType] ?? 0;
  const priced = model === undefined ? null : priceUsage(model, before, drawn.overageSeconds);
  const sequence = usage.sequence ?? state.lastSequence + 1;
  return {
    ok: true,
    state: { ...drawn.state, lastSequence: Math.max(state.lastSequence, sequence) },
    charge: {
      cdrId: usage.cdrId,
      sequence,
      usageType: usage.usageType,
      billableSeconds: usage.billableSeconds,
      includedSeconds: drawn.includedSeconds,
      overageSeconds: drawn.overageSeconds,
      draws: drawn.draws,
      exhausted: drawn.exhausted,
      currency: pricing.currency,
      amount: priced?.amount ?? dec(0),
      lines: priced?.lines ?? [],
    },
  };
}

/** chargeUsage over a batch, in the order given (a live consumer's order). */
export function chargeBatch(state: PeriodState, usages: readonly Usage[], pricing: PlanPricing): BatchResult {
  const charges: UsageCharge[] = [];
  const rejections: UsageRejection[] = [];
  let current = state;
  for (const usage of usages) {
    const outcome = chargeUsage(current, usage, pricing);
    current = outcome.state;
    if (outcome.ok) charges.push(outcome.charge);
    else rejections.push(outcome.rejection);
  }
  return { state: current, charges, rejections };
}

/**
 * The canonical draw order of a period (see the README): usages already charged in the
 * order drawdown first charged them (`sequence`), then usages never charged, by call
 * start, then cdrId (code points).
 */
export function compareUsages(a: Usage, b: Usage): number {
  if (a.sequence !== undefined || b.sequence !== undefined) {
    if (a.sequence === undefined) return 1;
    if (b.sequence === undefined) return -1;
    if (a.sequence !== b.sequence) return a.sequence - b.sequence;
  }
  return a.startedAt.getTime() - b.startedAt.getTime() || compareText(a.cdrId, b.cdrId);
}

export function sortUsages(usages: readonly Usage[]): Usage[] {
  return [...usages].sort(compareUsages);
}

/**
 * Recomputes a whole period from scratch: every bucket full again (whatever an earlier
 * version drew is given back by construction, never drawn twice), usages drawn in the
 * canonical order of compareUsages, each keeping its sequence (a usage never charged takes
 * the next free one). The usage list may come in any order. A cdrId seen twice is charged
 * once, by its first occurrence in that order; the others are rejected as `duplicate_cdr`.
 */
export function recomputePeriod(
  grants: readonly BucketGrant[],
  usages: readonly Usage[],
  pricing: PlanPricing,
): BatchResult {
  const valid: Usage[] = [];
  const rejections: UsageRejection[] = [];
  for (const usage of usages) {
    const problem = usageProblem(usage);
    if (problem === null) valid.push(usage);
    else rejections.push({ cdrId: String(usage.cdrId), code: 'invalid_usage', message: problem });
  }
  const seen = new Set<string>();
  const unique: Usage[] = [];
  for (const usage of sortUsages(valid)) {
    if (seen.has(usage.cdrId)) {
      rejections.push({ cdrId: usage.cdrId, code: 'duplicate_cdr', message: `cdr ${usage.cdrId} appears more than once` });
    } else {
      seen.add(usage.cdrId);
      unique.push(usage);
    }
  }
  const result = chargeBatch(openPeriod(grants), unique, pricing);
  return { ...result, rejections: [...rejections, ...result.rejections] };
}

/** What a per-CDR comparison needs of a charge. */
export interface ChargeFigures {
  readonly cdrId: string;
  readonly usageType: string;
  readonly includedSeconds: number;
  readonly overageSeconds: number;
  readonly currency: string;
  readonly amount: Decimal;
}

export interface CdrDifference {
  readonly cdrId: string;
  readonly usageType: string;
  /** 'added': only in the new version; 'removed': only in the old one. */
  readonly kind: 'added' | 'removed' | 'changed';
  readonly includedSeconds: number;
  readonly overageSeconds: number;
  /** new − old, unrounded. */
  readonly amount: Decimal;
}

export interface ChargeDiff {
  readonly currency: string;
  /** Only CDRs whose figures changed, or that are in one version only; by cdrId. */
  readonly differences: readonly CdrDifference[];
  readonly totals: {
    readonly includedSeconds: number;
    readonly overageSeconds: number;
    readonly amount: Decimal;
  };
}

function byCdr(charges: readonly ChargeFigures[], version: string, currency: string): Map<string, ChargeFigures> {
  const map = new Map<string, ChargeFigures>();
  for (const charge of charges) {
    if (charge.currency !== currency) {
      throw new DrawdownError('currency_mismatch', `${version} version has charges in ${charge.currency} and ${currency}`);
    }
    if (map.has(charge.cdrId)) {
      throw new DrawdownError('duplicate_cdr', `${version} version charges cdr ${charge.cdrId} twice`);
    }
    map.set(charge.cdrId, charge);
  }
  return map;
}

/**
 * The per-CDR differences between the version already billed and a new rating version:
 * new minus old, for included seconds, overage seconds and amount. Their sum is the
 * adjustment for the next invoice. Both versions must be in one currency.
 */
export function diffCharges(previous: readonly ChargeFigures[], next: readonly ChargeFigures[]): ChargeDiff {
  const currency = previous[0]?.currency ?? next[0]?.currency ?? '';
  const old = byCdr(previous, 'the previous', currency);
  const now = byCdr(next, 'the next', currency);
  const ids = [...new Set([...old.keys(), ...now.keys()])].sort(compareText);
  const differences: CdrDifference[] = [];
  let included = 0;
  let overage = 0;
  let amount = dec(0);
  for (const cdrId of ids) {
    const a = old.get(cdrId);
    const b = now.get(cdrId);
    const d = {
      includedSeconds: (b?.includedSeconds ?? 0) - (a?.includedSeconds ?? 0),
      overageSeconds: (b?.overageSeconds ?? 0) - (a?.overageSeconds ?? 0),
      amount: dec(b?.amount ?? 0).minus(a?.amount ?? 0),
    };
    const kind = a === undefined ? 'added' : b === undefined ? 'removed' : 'changed';
    if (kind === 'changed' && d.includedSeconds === 0 && d.overageSeconds === 0 && d.amount.isZero()) continue;
    differences.push({ cdrId, usageType: (b ?? a)?.usageType ?? '', kind, ...d });
    included += d.includedSeconds;
    overage += d.overageSeconds;
    amount = amount.plus(d.amount);
  }
  return { currency, differences, totals: { includedSeconds: included, overageSeconds: overage, amount } };
}

export interface UsageTypeTotals {
  readonly usageType: string;
  readonly calls: number;
  readonly billableSeconds: number;
  readonly includedSeconds: number;
  readonly overageSeconds: number;
  readonly amount: Decimal;
}

/** Totals per usage type (ordered by usage type), for invoices and reconciliation. */
export function summarizeCharges(charges: readonly UsageCharge[]): UsageTypeTotals[] {
  const totals = new Map<string, UsageTypeTotals>();
  for (const c of charges) {
    const t = totals.get(c.usageType);
    totals.set(c.usageType, {
      usageType: c.usageType,
      calls: (t?.calls ?? 0) + 1,
      billableSeconds: (t?.billableSeconds ?? 0) + c.billableSeconds,
      includedSeconds: (t?.includedSeconds ?? 0) + c.includedSeconds,
      overageSeconds: (t?.overageSeconds ?? 0) + c.overageSeconds,
      amount: dec(t?.amount ?? 0).plus(c.amount),
    });
  }
  return [...totals.values()].sort((a, b) => compareText(a.usageType, b.usageType));
}
