import { Decimal } from 'decimal.js';
import { DrawdownError, chargeUsage, diffCharges, openPeriod, recomputePeriod } from '../drawdown/index.ts';
import type { ChargeFigures, PlanPricing, Usage, UsageCharge } from '../drawdown/index.ts';
import { MONEY_SCALE } from '../money/index.ts';
import { PricingError } from '../pricing/index.ts';
import type { BillingPeriod } from '../periods/index.ts';
import { rateUsage } from '../rating/index.ts';
import { grantsFor } from '../reference/index.ts';
import type { Brand, Plan, ReferenceTables, Subscription } from '../reference/index.ts';
import type {
  AcceptedCdr,
  ChargeDifference,
  ChargeOutcome,
  ChargePeriodState,
  ChargeRejectReason,
  PeriodAdjustment,
  PeriodKey,
  PipelineOptions,
  PipelineRejection,
  PipelineResult,
  RateRejectReason,
  RejectReason,
  RerateOptions,
  RerateResult,
  ResolveRejectReason,
  Stage,
  StepOutcome,
  TierCharge,
  UsageCharged,
  UsageRated,
  UsageResolved,
} from './types.ts';

function reject<R extends RejectReason>(reason: R, detail: string) {
  return { ok: false as const, rejection: { reason, detail } };
}

/**
 * Attributes an accepted CDR to the brand, account, subscription and product that owned
 * the called number when the call started (a call before a reassignment belongs to the old
 * owner). `resolvedAtMs` defaults to the CDR's acceptedAt, so a redelivered CDR resolves
 * to the same record.
 */
export function resolveUsage(
  cdr: AcceptedCdr,
  tables: ReferenceTables,
  resolvedAtMs: number = cdr.acceptedAt,
): StepOutcome<UsageResolved, ResolveRejectReason> {
  const assignment = tables.resolveNumber(cdr.calledNumber, cdr.startTime);
  if (assignment === undefined) {
    return reject(
      'unresolved_number',
      `${cdr.calledNumber} is not assigned at ${new Date(cdr.startTime).toISOString()}`,
    );
  }
  if (tables.brand(assignment.brand) === undefined) {
    return reject('unknown_brand', `${cdr.calledNumber} is assigned to brand ${assignment.brand}, which is not known`);
  }
  const subscription = tables.subscription(assignment.subscriptionId);
  if (subscription === undefined) {
    return reject(
      'subscription_missing',
      `${cdr.calledNumber} is assigned to subscription ${assignment.subscriptionId}, which is not known`,
    );
  }
  const productId = tables.productFor(assignment.brand, cdr.usageType);
  if (productId === undefined) {
    return reject('no_product', `brand ${assignment.brand} has no product for usage type ${cdr.usageType}`);
  }
  return {
    ok: true,
    value: {
      eventId: cdr.eventId,
      source: cdr.source,
      cdrId: cdr.cdrId,
      callingNumber: cdr.callingNumber,
      calledNumber: cdr.calledNumber,
      usageType: cdr.usageType,
      startTime: cdr.startTime,
      endTime: cdr.endTime,
      durationSeconds: cdr.durationSeconds,
      attributes: cdr.attributes,
      brand: assignment.brand,
      accountId: assignment.accountId,
      subscriptionId: assignment.subscriptionId,
      assignmentId: assignment.assignmentId,
      productId,
      resolvedAt: resolvedAtMs,
    },
  };
}

/**
 * Billable seconds by the rule in force at the call's start: the brand's own rule for the
 * usage type, else its parent company's (domain/rating). `ratingVersion` is 1 for live
 * rating and higher for each re-rating run.
 */
export function rateResolvedUsage(
  resolved: UsageResolved,
  tables: ReferenceTables,
  ratingVersion: number,
  ratedAtMs: number,
): StepOutcome<UsageRated, RateRejectReason> {
  const brand = tables.brand(resolved.brand);
  if (brand === undefined) return reject('unknown_brand', `brand ${resolved.brand} is not known`);
  const index = tables.ruleIndexFor(brand.code);
  if (!index.ok) {
    const issues = (index.error.issues ?? []).map((i) => `${i.ruleId ?? ''} v${i.version ?? ''} ${i.field}: ${i.message}`);
    return reject('invalid_rating_rule', `rules of ${brand.code}: ${[index.error.message, ...issues].join('; ')}`);
  }
  const rated = rateUsage(
    {
      brand: brand.code,
      parentCompany: brand.parentCompany,
      usageType: resolved.usageType,
      startedAt: resolved.startTime,
      durationSeconds: resolved.durationSeconds,
    },
    index.value,
  );
  if (!rated.ok) return reject(rated.error.code, rated.error.message);
  const r = resolved;
  // One literal with every field (no spread): records are built per CDR on the hot path.
  return {
    ok: true,
    value: {
      eventId: r.eventId,
      source: r.source,
      cdrId: r.cdrId,
      callingNumber: r.callingNumber,
      calledNumber: r.calledNumber,
      usageType: r.usageType,
      startTime: r.startTime,
      endTime: r.endTime,
      durationSeconds: r.durationSeconds,
      attributes: r.attributes,
      brand: r.brand,
      accountId: r.accountId,
      subscriptionId: r.subscriptionId,
      assignmentId: r.assignmentId,
      productId: r.productId,
      ratingVersion,
      ruleId: rated.value.ruleId,
      ruleVersion: rated.value.ruleVersion,
      billableSeconds: rated.value.billableSeconds,
      ratedAt: ratedAtMs,
    },
  };
}

export function periodStateKey(subscriptionId: string, periodIndex: number): string {
  return `${subscriptionId}#${periodIndex}`;
}

interface PeriodContext {
  readonly key: PeriodKey;
  readonly subscription: Subscription;
  readonly brand: Brand;
}

function periodContext(
  usage: Pick<UsageRated, 'subscriptionId' | 'brand' | 'startTime'>,
  tables: ReferenceTables,
): StepOutcome<PeriodContext, ChargeRejectReason> {
  const subscription = tables.subscription(usage.subscriptionId);
  if (subscription === undefined) return reject('subscription_missing', `subscription ${usage.subscriptionId} is not known`);
  const brand = tables.brand(subscription.brand);
  if (brand === undefined) return reject('unknown_brand', `brand ${subscription.brand} is not known`);
  const period = billingPeriodOf(tables, subscription, brand.timeZone, usage.startTime);
  if (!period.ok) {
    const code = period.error.code;
    return reject(
      code === 'instant_before_anchor' || code === 'invalid_time_zone' ? code : 'invalid_usage',
      `subscription ${subscription.subscriptionId}: ${period.error.message}`,
    );
  }
  return { ok: true, value: { subscription, brand, key: keyOf(subscription.subscriptionId, period.value) } };
}

// The tables remember one period per subscription; a batch whose calls straddle an anniversary
// alternates between two, and each miss costs luxon zone arithmetic (a fifth of drawdown's CPU
// when measured). So the last few periods of each subscription are kept here. A period is a pure
// function of (anchor, zone, instant) and periods do not overlap, so the one holding the instant
// is the answer; an anchor or zone change drops the subscription's entry.
const PERIODS_KEPT = 4;
interface KeptPeriods {
  anchor: Subscription['anchor'];
  zone: string;
  periods: BillingPeriod[];
}
const keptPeriods = new WeakMap<ReferenceTables, Map<string, KeptPeriods>>();

function billingPeriodOf(tables: ReferenceTables, subscription: Subscription, zone: string, atMs: number): ReturnType<ReferenceTables['billingPeriod']> {
  let bySubscription = keptPeriods.get(tables);
  if (bySubscription === undefined) keptPeriods.set(tables, (bySubscription = new Map()));
  let kept = bySubscription.get(subscription.subscriptionId);
  if (kept !== undefined && (kept.anchor !== subscription.anchor || kept.zone !== zone)) kept = undefined;
  if (kept !== undefined) {
    for (const period of kept.periods) if (period.start.getTime() <= atMs && atMs < period.end.getTime()) return { ok: true, value: period };
  }
  const period = tables.billingPeriod(subscription, zone, atMs);
  if (!period.ok) return period;
  if (kept === undefined) bySubscription.set(subscription.subscriptionId, (kept = { anchor: subscription.anchor, zone, periods: [] }));
  kept.periods.unshift(period.value);
  if (kept.periods.length > PERIODS_KEPT) kept.periods.pop();
  return period;
}

// The tables hand back the same period object while a subscription's calls stay in one
// period, so its key is built once, not per record.
const periodKeys = new WeakMap<BillingPeriod, PeriodKey>();

function keyOf(subscriptionId: string, period: BillingPeriod): PeriodKey {
  let key = periodKeys.get(period);
  if (key === undefined || key.subscriptionId !== subscriptionId) {
    key = {
      subscriptionId,
      periodIndex: period.index,
      key: periodStateKey(subscriptionId, period.index),
      periodStart: period.start.getTime(),
      periodEnd: period.end.getTime(),
    };
    periodKeys.set(period, key);
  }
  return key;
}

/**
 * The billing period a rated usage falls in: the subscription's anniversary period in its
 * brand's zone (domain/periods). The drawdown service loads the state under `key` before
 * charging.
 */
export function periodKeyFor(
  usage: Pick<UsageRated, 'subscriptionId' | 'brand' | 'startTime'>,
  tables: ReferenceTables,
): StepOutcome<PeriodKey, ChargeRejectReason> {
  const context = periodContext(usage, tables);
  return context.ok ? { ok: true, value: context.value.key } : context;
}

function planFor(
  planId: string,
  planVersion: number,
  brand: Brand,
  tables: ReferenceTables,
): StepOutcome<Plan, ChargeRejectReason> {
  const plan = tables.plan(planId, planVersion);
  if (plan === undefined) return reject('plan_missing', `plan ${planId} version ${planVersion} is not known`);
  if (plan.currency !== brand.currency) {
    return reject('currency_mismatch', `plan ${planId} v${planVersion} is in ${plan.currency}, brand ${brand.code} bills in ${brand.currency}`);
  }
  return { ok: true, value: plan };
}

function problemOf(error: unknown): { reason: ChargeRejectReason; detail: string } {
  if (error instanceof DrawdownError) {
    const reason = error.code === 'invalid_grant' || error.code === 'invalid_plan_pricing' || error.code === 'duplicate_cdr'
      ? error.code
      : 'invalid_usage';
    return { reason, detail: error.message };
  }
  if (error instanceof PricingError) return { reason: 'invalid_plan_pricing', detail: error.message };
  throw error;
}

/**
 * A period's state when nothing is charged yet: the plan's grants and the subscription's
 * add-on grants, every bucket full.
 */
export function openPeriodState(
  key: PeriodKey,
  subscription: Subscription,
  plan: Plan,
): StepOutcome<ChargePeriodState, ChargeRejectReason> {
  try {
    return {
      ok: true,
      value: {
        ...key,
        planId: plan.planId,
        planVersion: plan.version,
        drawdown: openPeriod(grantsFor(plan, subscription)),
      },
    };
  } catch (error) {
    const { reason, detail } = problemOf(error);
    return reject(reason, detail);
  }
}

/** `sequence`: where drawdown first charged it in its period (re-rating); none live. */
function toUsage(rated: UsageRated, sequence?: number): Usage {
  // The eventId, not the cdrId: a cdrId is unique only per source.
  const usage = {
    cdrId: rated.eventId,
    usageType: rated.usageType,
    billableSeconds: rated.billableSeconds,
    startedAt: new Date(rated.startTime),
  };
  return sequence === undefined ? usage : { ...usage, sequence };
}

function tierCharges(charge: UsageCharge, pricing: PlanPricing): TierCharge[] {
  const unitSeconds = pricing.models[charge.usageType]?.unitSeconds ?? 1;
  return charge.lines.map((line) => ({
    tier: line.tier + 1,
    units: new Decimal(line.units).dividedBy(unitSeconds).toDecimalPlaces(MONEY_SCALE, Decimal.ROUND_HALF_EVEN),
    unitPrice: line.unitPrice,
    amount: line.amount,
    seconds: line.units,
    flatFee: line.flatFee,
  }));
}

function chargedRecord(
  rated: UsageRated,
  key: PeriodKey,
  plan: Plan,
  pricing: PlanPricing,
  charge: UsageCharge,
  chargedAtMs: number,
): UsageCharged {
  const r = rated;
  return {
    eventId: r.eventId,
    source: r.source,
    cdrId: r.cdrId,
    callingNumber: r.callingNumber,
    calledNumber: r.calledNumber,
    usageType: r.usageType,
    startTime: r.startTime,
    endTime: r.endTime,
    durationSeconds: r.durationSeconds,
    attributes: r.attributes,
    brand: r.brand,
    accountId: r.accountId,
    subscriptionId: r.subscriptionId,
    assignmentId: r.assignmentId,
    productId: r.productId,
    ratingVersion: rated.ratingVersion,
    ruleId: rated.ruleId,
    ruleVersion: rated.ruleVersion,
    billableSeconds: rated.billableSeconds,
    ratedAt: rated.ratedAt,
    periodStart: key.periodStart,
    periodEnd: key.periodEnd,
    planId: plan.planId,
    planVersion: plan.version,
    includedSeconds: charge.includedSeconds,
    overageSeconds: charge.overageSeconds,
    draws: charge.draws.map((d) => ({ bucketId: d.bucketId, seconds: d.seconds })),
    currency: charge.currency,
    amount: charge.amount,
    tiers: tierCharges(charge, pricing),
    chargedAt: chargedAtMs,
    chargeSequence: charge.sequence,
  };
}

/**
 * Draws a rated usage down against its subscription period's buckets and prices the
 * overage (domain/drawdown). `state` is the period's state as stored under
 * `periodKeyFor(rated).key`, or undefined for a period not yet opened (it is opened from
 * the plan and add-on grants). The new state comes back with the record; on a rejection
 * the state is unchanged. A period keeps the plan it was opened on.
 */
export function chargeRatedUsage(
  state: ChargePeriodState | undefined,
  rated: UsageRated,
  tables: ReferenceTables,
  chargedAtMs: number = rated.ratedAt,
): ChargeOutcome {
  const fail = (reason: ChargeRejectReason, detail: string): ChargeOutcome => ({ ok: false, rejection: { reason, detail }, state });
  const context = periodContext(rated, tables);
  if (!context.ok) return { ...context, state };
  const { key, subscription, brand } = context.value;
  if (state !== undefined && state.key !== key.key) {
    return fail('period_state_mismatch', `usage ${rated.eventId} falls in ${key.key}, the state given is ${state.key}`);
  }
  const planId = state?.planId ?? subscription.planId;
  const planVersion = state?.planVersion ?? subscription.planVersion;
  const plan = planFor(planId, planVersion, brand, tables);
  if (!plan.ok) return { ...plan, state };
  let current = state;
  if (current === undefined) {
    const opened = openPeriodState(key, subscription, plan.value);
    if (!opened.ok) return { ...opened, state };
    current = opened.value;
  }
  const pricing = tables.planPricing(plan.value);
  let outcome;
  try {
    outcome = chargeUsage(current.drawdown, toUsage(rated), pricing);
  } catch (error) {
    const { reason, detail } = problemOf(error);
    return fail(reason, detail);
  }
  if (!outcome.ok) return fail(outcome.rejection.code, outcome.rejection.message);
  return {
    ok: true,
    value: chargedRecord(rated, key, plan.value, pricing, outcome.charge, chargedAtMs),
    state: { ...current, drawdown: outcome.state },
  };
}

function located(stage: Stage, record: { eventId: string; source: string; cdrId: string }, reason: RejectReason, detail: string): PipelineRejection {
  return { stage, eventId: record.eventId, source: record.source, cdrId: record.cdrId, reason, detail };
}

/**
 * The whole chain in memory, one record after another in the order given: exactly what
 * the resolve, rate and drawdown services produce when they process the same records one
 * at a time (the `rate-file` CLI, and what-if pricing: pass other tables).
 */
export function ratePipeline(
  cdrs: Iterable<AcceptedCdr>,
  tables: ReferenceTables,
  options: PipelineOptions = {},
): PipelineResult {
  const ratingVersion = options.ratingVersion ?? 1;
  const states = new Map(options.states ?? []);
  const resolvedRecords: UsageResolved[] = [];
  const charged: UsageCharged[] = [];
  const rejections: PipelineRejection[] = [];
  for (const cdr of cdrs) {
    const resolved = resolveUsage(cdr, tables, options.at ?? cdr.acceptedAt);
    if (!resolved.ok) {
      rejections.push(located('resolve', cdr, resolved.rejection.reason, resolved.rejection.detail));
      continue;
    }
    resolvedRecords.push(resolved.value);
    const rated = rateResolvedUsage(resolved.value, tables, ratingVersion, options.at ?? resolved.value.resolvedAt);
    if (!rated.ok) {
      rejections.push(located('rate', cdr, rated.rejection.reason, rated.rejection.detail));
      continue;
    }
    const key = periodKeyFor(rated.value, tables);
    const outcome = chargeRatedUsage(key.ok ? states.get(key.value.key) : undefined, rated.value, tables, options.at ?? rated.value.ratedAt);
    if (!outcome.ok) {
      rejections.push(located('charge', cdr, outcome.rejection.reason, outcome.rejection.detail));
      continue;
    }
    states.set(outcome.state.key, outcome.state);
    charged.push(outcome.value);
  }
  return { resolved: resolvedRecords, charged, rejections, states };
}

function figures(record: UsageCharged): ChargeFigures {
  return {
    cdrId: record.eventId,
    usageType: record.usageType,
    includedSeconds: record.includedSeconds,
    overageSeconds: record.overageSeconds,
    currency: record.currency,
    amount: record.amount,
  };
}

/**
 * Re-rates stored resolved usage as a new rating version under the current tables (new
 * rules, or a swapped plan: each period is recomputed on the subscription's current plan).
 * Each period is recomputed from full buckets in its canonical draw order (domain/drawdown's
 * recomputePeriod): the calls already charged in the order drawdown first charged them (the
 * old records' `chargeSequence`), then calls never charged, by call start. So whatever the old
 * version drew is given back, never drawn twice, and with nothing changed nothing moves.
 * Returns the new charged records and, per CDR and per period, the difference from the
 * records already billed (new − old): the adjustment for the next invoice.
 *
 * Give every resolved usage of the periods concerned, and every old charged record of
 * them: a CDR missing from one side shows as added or removed.
 */
export function rerate(
  resolvedUsages: Iterable<UsageResolved>,
  oldCharged: Iterable<UsageCharged>,
  tables: ReferenceTables,
  newVersion: number,
  options: RerateOptions = {},
): RerateResult {
  const rejections: PipelineRejection[] = [];
  const groups = new Map<string, { context: PeriodContext; usages: UsageRated[] }>();
  for (const resolved of resolvedUsages) {
    const rated = rateResolvedUsage(resolved, tables, newVersion, options.at ?? resolved.resolvedAt);
    if (!rated.ok) {
      rejections.push(located('rate', resolved, rated.rejection.reason, rated.rejection.detail));
      continue;
    }
    const context = periodContext(rated.value, tables);
    if (!context.ok) {
      rejections.push(located('charge', resolved, context.rejection.reason, context.rejection.detail));
      continue;
    }
    const group = groups.get(context.value.key.key) ?? { context: context.value, usages: [] };
    group.usages.push(rated.value);
    groups.set(context.value.key.key, group);
  }

  // A call's place in the draw order, from the old version, in the period it was charged in.
  const sequences = new Map<string, { subscriptionId: string; periodStart: number; sequence: number }>();
  const previous = [...oldCharged];
  for (const c of previous) if (c.chargeSequence > 0) sequences.set(c.eventId, { subscriptionId: c.subscriptionId, periodStart: c.periodStart, sequence: c.chargeSequence });
  const sequenceIn = (u: UsageRated, key: PeriodKey): number | undefined => {
    const s = sequences.get(u.eventId);
    return s !== undefined && s.subscriptionId === key.subscriptionId && s.periodStart === key.periodStart ? s.sequence : undefined;
  };

  const charged: UsageCharged[] = [];
  const states = new Map<string, ChargePeriodState>();
  const ordered = [...groups.values()].sort(
    (a, b) => compareText(a.context.key.subscriptionId, b.context.key.subscriptionId) || a.context.key.periodIndex - b.context.key.periodIndex,
  );
  for (const { context, usages } of ordered) {
    const byEvent = new Map(usages.map((u) => [u.eventId, u]));
    const failAll = (reason: RejectReason, detail: string) => {
      for (const u of usages) rejections.push(located('charge', u, reason, detail));
    };
    const plan = planFor(context.subscription.planId, context.subscription.planVersion, context.brand, tables);
    if (!plan.ok) {
      failAll(plan.rejection.reason, plan.rejection.detail);
      continue;
    }
    const pricing = tables.planPricing(plan.value);
    let result;
    try {
      result = recomputePeriod(grantsFor(plan.value, context.subscription), usages.map((u) => toUsage(u, sequenceIn(u, context.key))), pricing);
    } catch (error) {
      const { reason, detail } = problemOf(error);
      failAll(reason, detail);
      continue;
    }
    for (const r of result.rejections) {
      const usage = byEvent.get(r.cdrId);
      if (usage !== undefined) rejections.push(located('charge', usage, r.code, r.message));
    }
    for (const charge of result.charges) {
      const usage = byEvent.get(charge.cdrId)!;
      charged.push(chargedRecord(usage, context.key, plan.value, pricing, charge, options.at ?? usage.ratedAt));
    }
    states.set(context.key.key, { ...context.key, planId: plan.value.planId, planVersion: plan.value.version, drawdown: result.state });
  }
  const { differences, adjustments } = compareVersions(previous, charged);
  return { charged, rejections, differences, adjustments, states };
}

/**
 * Per-CDR and per-period differences between two versions of charged records (new − old),
 * grouped by subscription, period start and currency.
 */
export function compareVersions(
  previous: readonly UsageCharged[],
  next: readonly UsageCharged[],
): { differences: ChargeDifference[]; adjustments: PeriodAdjustment[] } {
  const groups = new Map<string, { subscriptionId: string; periodStart: number; currency: string; old: UsageCharged[]; now: UsageCharged[] }>();
  const add = (record: UsageCharged, side: 'old' | 'now') => {
    const key = `${record.subscriptionId}\u0000${String(record.periodStart).padStart(16, '0')}\u0000${record.currency}`;
    const group = groups.get(key) ?? { subscriptionId: record.subscriptionId, periodStart: record.periodStart, currency: record.currency, old: [], now: [] };
    group[side].push(record);
    groups.set(key, group);
  };
  for (const record of previous) add(record, 'old');
  for (const record of next) add(record, 'now');

  const differences: ChargeDifference[] = [];
  const adjustments: PeriodAdjustment[] = [];
  for (const key of [...groups.keys()].sort(compareText)) {
    const group = groups.get(key)!;
    const diff = diffCharges(group.old.map(figures), group.now.map(figures));
    if (diff.differences.length === 0) continue;
    const own = diff.differences.map((d): ChargeDifference => ({
      eventId: d.cdrId,
      subscriptionId: group.subscriptionId,
      periodStart: group.periodStart,
      currency: group.currency,
      usageType: d.usageType,
      kind: d.kind,
      includedSeconds: d.includedSeconds,
      overageSeconds: d.overageSeconds,
      amount: d.amount,
    }));
    differences.push(...own);
    adjustments.push({
      subscriptionId: group.subscriptionId,
      periodStart: group.periodStart,
      currency: group.currency,
      ...diff.totals,
      differences: own,
    });
  }
  return { differences, adjustments };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
