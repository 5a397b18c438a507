import { Decimal } from 'decimal.js';
import { dec, roundToMinor, type RoundingMode } from '../money/index.ts';
import type { Brand, Plan, Subscription } from '../reference/index.ts';
import { nthPeriod, periodFor } from '../periods/index.ts';
import { priceOnPlan, type UsageTotal } from './whatif.ts';

/** A brand's rules for recommending (catalogue brand setting `planRecommendations`). */
export interface RecommendationSettings {
  /** Closed periods looked back at (N). */
  readonly periods: number;
  /** Recommend only a saving per period at least this, in the brand's currency; null: no floor. */
  readonly minSavingAmount: Decimal | null;
  /** ... and at least this percent of the current cost; null: no floor. */
  readonly minSavingPercent: Decimal | null;
  /** Below this confidence score (0-1) nothing is recommended. */
  readonly minConfidence: number;
}

export const DEFAULT_RECOMMENDATION_SETTINGS: RecommendationSettings = {
  periods: 3,
  minSavingAmount: dec('1'),
  minSavingPercent: null,
  minConfidence: 0.5,
};

/** One billing period's rated usage of a subscription. */
export interface PeriodUsage {
  readonly start: Date;
  readonly end: Date;
  readonly usage: readonly UsageTotal[];
}

export interface RecommendInput {
  readonly subscription: Subscription;
  readonly currentPlan: Plan;
  /** Every plan version the brand may sell (its own and the parent's shared ones). */
  readonly candidates: readonly Plan[];
  readonly currency: string;
  readonly roundingMode: RoundingMode;
  /** Numbers the subscription holds: a plan allotting fewer does not fit. */
  readonly numbersHeld: number;
  /** Closed periods, any order; only the last `settings.periods` count. */
  readonly closed: readonly PeriodUsage[];
  /** The current period's usage so far, or null. */
  readonly current: PeriodUsage | null;
  readonly now: Date;
  readonly settings: RecommendationSettings;
}

/** One period of the basis, priced on both plans (figures as a portal shows them). */
export interface PeriodComparison {
  readonly start: Date;
  readonly end: Date;
  /** The current period, its usage projected to the period's end. */
  readonly projected: boolean;
  readonly usage: readonly UsageTotal[];
  readonly currentCost: Decimal;
  readonly newCost: Decimal;
  readonly saving: Decimal;
}

export type ConfidenceLevel = 'high' | 'medium' | 'low';

export interface Confidence {
  /** historyFactor × steadiness, 0-1. */
  readonly score: number;
  readonly level: ConfidenceLevel;
  /** Closed periods of history the basis has. */
  readonly closedPeriods: number;
  /** Of the basis periods' total billable seconds: standard deviation / mean (0 when no usage). */
  readonly coefficientOfVariation: number;
}

export interface Recommendation {
  readonly planId: string;
  readonly planVersion: number;
  readonly planName: string;
  readonly direction: 'upgrade' | 'downgrade';
  readonly currency: string;
  /** Mean saving over the basis periods, rounded to minor units by the brand's mode. */
  readonly savingPerPeriod: Decimal;
  /** savingPerPeriod × 12 (periods are months). */
  readonly savingPerYear: Decimal;
  /** Of the mean current cost, 2 decimals. */
  readonly savingPercent: Decimal;
  readonly currentCostPerPeriod: Decimal;
  readonly newCostPerPeriod: Decimal;
  readonly confidence: Confidence;
  readonly basis: readonly PeriodComparison[];
}

export type NoRecommendationReason = 'no_history' | 'no_cheaper_plan' | 'below_threshold' | 'low_confidence';

export type RecommendOutcome =
  | { readonly kind: 'recommend'; readonly recommendation: Recommendation }
  | { readonly kind: 'none'; readonly reason: NoRecommendationReason; readonly detail: string };

/** The current period counts only once this share of it has passed: earlier, a projection is noise. */
export const MIN_PROJECTION_FRACTION = 0.25;

/**
 * The current period's usage projected to its end at the pace so far: billable seconds ×
 * (period length / time elapsed), rounded half up to whole seconds; null before
 * MIN_PROJECTION_FRACTION of the period has passed. Linear is what a customer's own month
 * suggests with nothing else known; calls counted the same way.
 */
export function projectPeriod(current: PeriodUsage, now: Date): PeriodUsage | null {
  const length = current.end.getTime() - current.start.getTime();
  const elapsed = Math.min(now.getTime(), current.end.getTime()) - current.start.getTime();
  if (length <= 0 || elapsed < length * MIN_PROJECTION_FRACTION) return null;
  const scale = (n: number) => dec(n).times(length).dividedBy(elapsed).toDecimalPlaces(0, Decimal.ROUND_HALF_UP).toNumber();
  return { ...current, usage: current.usage.map((u) => ({ usageType: u.usageType, calls: scale(u.calls), billableSeconds: scale(u.billableSeconds) })) };
}

/**
 * How far the basis can be trusted: (closed periods / N, at most 1) × max(0, 1 − CV), where CV
 * is the coefficient of variation of the periods' total billable seconds. Steady usage over a
 * full look-back scores 1; one closed period scores at most 1/N; usage that swings by its own
 * mean scores 0. high ≥ 0.75, medium ≥ 0.5, else low.
 */
export function confidenceOf(basis: readonly PeriodUsage[], closedPeriods: number, lookBack: number): Confidence {
  const totals = basis.map((p) => p.usage.reduce((sum, u) => sum + u.billableSeconds, 0));
  const mean = totals.reduce((a, b) => a + b, 0) / Math.max(1, totals.length);
  const variance = totals.reduce((sum, t) => sum + (t - mean) ** 2, 0) / Math.max(1, totals.length);
  const cv = mean === 0 ? 0 : Math.sqrt(variance) / mean;
  const history = Math.min(closedPeriods, lookBack) / lookBack;
  const score = Math.round(history * Math.max(0, 1 - cv) * 1000) / 1000;
  return {
    score,
    level: score >= 0.75 ? 'high' : score >= 0.5 ? 'medium' : 'low',
    closedPeriods,
    coefficientOfVariation: Math.round(cv * 1000) / 1000,
  };
}

/** Usage types the subscription used in any basis period. */
function usedTypes(basis: readonly PeriodUsage[]): Set<string> {
  const types = new Set<string>();
  for (const p of basis) for (const u of p.usage) if (u.billableSeconds > 0) types.add(u.usageType);
  return types;
}

/**
 * Whether a plan may be recommended to this subscription: in the brand's currency, not the
 * plan it is on, a price for every usage type the customer uses (a plan without one refuses
 * that usage beyond its grants: the customer's calls would be rejected), and enough numbers.
 */
export function planFits(plan: Plan, input: Pick<RecommendInput, 'currentPlan' | 'currency' | 'numbersHeld'>, types: ReadonlySet<string>): boolean {
  if (plan.currency !== input.currency) return false;
  if (plan.planId === input.currentPlan.planId && plan.version === input.currentPlan.version) return false;
  if (plan.numberAllotment < input.numbersHeld) return false;
  const priced = new Set(plan.priceModels.map((m) => m.usageType));
  for (const type of types) if (!priced.has(type)) return false;
  return true;
}

function costOn(plan: Plan, input: RecommendInput, period: PeriodUsage): Decimal | null {
  const priced = priceOnPlan({ plan, subscription: input.subscription, period, usage: period.usage, roundingMode: input.roundingMode });
  return priced.ok ? priced.total : null;
}

function mean(values: readonly Decimal[]): Decimal {
  return values.reduce((a, b) => a.plus(b), dec(0)).dividedBy(Math.max(1, values.length));
}

/**
 * The plan a subscription would most likely save on, from its last N closed periods and the
 * current one projected to its end (projectPeriod), each priced on its current plan and on
 * every fitting candidate (priceOnPlan: fee and overage as the bill run and drawdown charge
 * them, taxes left out). The candidate with the largest mean saving wins (ties: the lower fee,
 * then plan id); it is recommended only if that saving reaches the brand's floors (amount and
 * percent) and the confidence (confidenceOf) reaches its minimum. Pure and deterministic.
 */
export function recommendPlan(input: RecommendInput): RecommendOutcome {
  const { settings } = input;
  const closed = [...input.closed].sort((a, b) => a.start.getTime() - b.start.getTime()).slice(-settings.periods);
  const projected = input.current === null ? null : projectPeriod(input.current, input.now);
  const basis = projected === null ? closed : [...closed, projected];
  if (basis.length === 0) return { kind: 'none', reason: 'no_history', detail: 'no closed period and too little of the current one' };

  const currentCosts: Decimal[] = [];
  for (const p of basis) {
    const cost = costOn(input.currentPlan, input, p);
    if (cost === null) return { kind: 'none', reason: 'no_history', detail: `the current plan cannot price the period from ${p.start.toISOString()}` };
    currentCosts.push(cost);
  }
  const currentMean = mean(currentCosts);
  const types = usedTypes(basis);

  let best: { plan: Plan; costs: Decimal[]; saving: Decimal } | null = null;
  for (const plan of input.candidates) {
    if (!planFits(plan, input, types)) continue;
    const costs: Decimal[] = [];
    for (const p of basis) {
      const cost = costOn(plan, input, p);
      if (cost === null) break;
      costs.push(cost);
    }
    if (costs.length !== basis.length) continue;
    const saving = currentMean.minus(mean(costs));
    const better =
      best === null ||
      saving.greaterThan(best.saving) ||
      (saving.equals(best.saving) && (dec(plan.monthlyFee).lessThan(best.plan.monthlyFee) || (dec(plan.monthlyFee).equals(best.plan.monthlyFee) && plan.planId < best.plan.planId)));
    if (better) best = { plan, costs, saving };
  }
  if (best === null || !best.saving.greaterThan(0)) {
    return { kind: 'none', reason: 'no_cheaper_plan', detail: 'no fitting plan costs less over the basis' };
  }

  const savingPerPeriod = roundToMinor(best.saving, input.currency, input.roundingMode);
  const savingPercent = currentMean.isZero() ? dec(0) : best.saving.times(100).dividedBy(currentMean).toDecimalPlaces(2, Decimal.ROUND_HALF_UP);
  if (settings.minSavingAmount !== null && savingPerPeriod.lessThan(settings.minSavingAmount)) {
    return { kind: 'none', reason: 'below_threshold', detail: `saving ${savingPerPeriod.toFixed()} ${input.currency} a period is below the brand's ${settings.minSavingAmount.toFixed()}` };
  }
  if (settings.minSavingPercent !== null && savingPercent.lessThan(settings.minSavingPercent)) {
    return { kind: 'none', reason: 'below_threshold', detail: `saving ${savingPercent.toFixed()}% is below the brand's ${settings.minSavingPercent.toFixed()}%` };
  }
  const confidence = confidenceOf(basis, closed.length, settings.periods);
  if (confidence.score < settings.minConfidence) {
    return { kind: 'none', reason: 'low_confidence', detail: `confidence ${confidence.score} (coefficient of variation ${confidence.coefficientOfVariation}, ${closed.length} closed periods) is below ${settings.minConfidence}` };
  }
  const chosen = best;
  return {
    kind: 'recommend',
    recommendation: {
      planId: chosen.plan.planId,
      planVersion: chosen.plan.version,
      planName: chosen.plan.name,
      direction: dec(chosen.plan.monthlyFee).greaterThan(input.currentPlan.monthlyFee) ? 'upgrade' : 'downgrade',
      currency: input.currency,
      savingPerPeriod,
      savingPerYear: savingPerPeriod.times(12),
      savingPercent,
      currentCostPerPeriod: roundToMinor(currentMean, input.currency, input.roundingMode),
      newCostPerPeriod: roundToMinor(mean(chosen.costs), input.currency, input.roundingMode),
      confidence,
      basis: basis.map((p, i) => ({
        start: p.start,
        end: p.end,
        projected: projected !== null && i === basis.length - 1,
        usage: p.usage,
        currentCost: currentCosts[i]!,
        newCost: chosen.costs[i]!,
        saving: currentCosts[i]!.minus(chosen.costs[i]!),
      })),
    },
  };
}

/** What a subscription's live recommendation is, as the service keeps it. */
export interface LiveRecommendation {
  readonly planId: string;
  readonly planVersion: number;
  readonly savingPerPeriod: Decimal;
}

/**
 * What a run does with its outcome given the live recommendation: `publish` a new one (which
 * supersedes the live one, if any), `keep` the live one (same plan and saving: nothing new to
 * tell the customer, no event), or `withdraw` the live one (no longer worth recommending).
 */
export function nextRecommendationStep(live: LiveRecommendation | null, outcome: RecommendOutcome): 'publish' | 'keep' | 'withdraw' | 'nothing' {
  if (outcome.kind === 'none') return live === null ? 'nothing' : 'withdraw';
  const r = outcome.recommendation;
  if (live !== null && live.planId === r.planId && live.planVersion === r.planVersion && dec(live.savingPerPeriod).equals(r.savingPerPeriod)) return 'keep';
  return 'publish';
}

/** The brand's recommendation rules from its plan-swap settings (absent: the defaults). */
export function recommendationSettingsOf(brand: Pick<Brand, 'planSwap'>): RecommendationSettings {
  const s = brand.planSwap;
  if (s === undefined || s === null) return DEFAULT_RECOMMENDATION_SETTINGS;
  return {
    periods: s.lookBackPeriods,
    minSavingAmount: s.minSavingAmount === null ? null : dec(s.minSavingAmount),
    minSavingPercent: s.minSavingPercent === null ? null : dec(s.minSavingPercent),
    minConfidence: s.minConfidencePercent / 100,
  };
}

/**
 * The plan versions a brand may sell: the latest version of each plan the brand owns or its
 * parent shares, in the brand's currency (subscribers keep older versions until they change,
 * but a change is to what is on sale).
 */
export function plansOnSale(plans: readonly Plan[], brand: Pick<Brand, 'code' | 'parentCompany' | 'currency'>): Plan[] {
  const latest = new Map<string, Plan>();
  for (const plan of plans) {
    if ((plan.owner !== brand.code && plan.owner !== brand.parentCompany) || plan.currency !== brand.currency) continue;
    const seen = latest.get(plan.planId);
    if (seen === undefined || plan.version > seen.version) latest.set(plan.planId, plan);
  }
  return [...latest.values()].sort((a, b) => (a.planId < b.planId ? -1 : a.planId > b.planId ? 1 : 0));
}

/** A subscription's stored usage of one type in one period (the advisor's summary rows). */
export interface StoredPeriodUsage {
  readonly periodStart: number;
  readonly usageType: string;
  readonly calls: number;
  readonly billableSeconds: number;
}

/**
 * The periods a recommendation looks at: the last `lookBack` closed anniversary periods
 * (domain/periods, brand zone; none before the anchor) and the current one, each with its stored
 * usage (a period with none stored had none).
 */
export function basisPeriods(subscription: Pick<Subscription, 'anchor'>, zone: string, now: Date, lookBack: number, rows: readonly StoredPeriodUsage[]): { closed: PeriodUsage[]; current: PeriodUsage | null } {
  if (now.getTime() < subscription.anchor) return { closed: [], current: null };
  const anchor = new Date(subscription.anchor);
  const current = periodFor(anchor, now, zone);
  const usageOf = (start: Date): UsageTotal[] =>
    rows.filter((r) => r.periodStart === start.getTime()).map((r) => ({ usageType: r.usageType, calls: r.calls, billableSeconds: r.billableSeconds }));
  const closed: PeriodUsage[] = [];
  for (let n = Math.max(0, current.index - lookBack); n < current.index; n++) {
    const p = nthPeriod(anchor, n, zone);
    closed.push({ start: p.start, end: p.end, usage: usageOf(p.start) });
  }
  return { closed, current: { start: current.start, end: current.end, usage: usageOf(current.start) } };
}
