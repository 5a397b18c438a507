import { Decimal } from 'decimal.js';
import { DateTime } from 'luxon';
import { dec, MONEY_SCALE, minorUnits, roundToMinor } from '../money/index.ts';
import { dayBefore, localDateOf, nthPeriod } from '../periods/index.ts';
import type { BillingPeriod } from '../periods/index.ts';
import type { TaxRequest } from '../tax/index.ts';
import { InvoicingError } from './types.ts';
import type {
  BillingPlan,
  BillingSubscription,
  DraftLine,
  InvoiceDraft,
  InvoiceInput,
  PlanChange,
  UsageSummary,
} from './types.ts';

const ROUNDING_MODES = new Set(['half_up', 'half_even', 'down', 'up']);

/**
 * A quantity for display at the wire's scale (a fraction of a month, price units). Never
 * applied to an amount: amounts stay exact until roundInvoice.
 */
function scale6(value: Decimal): Decimal {
  const v = value.toDecimalPlaces(MONEY_SCALE, Decimal.ROUND_HALF_EVEN);
  return v.isZero() ? dec(0) : v;
}

/** An exact amount without a negative zero (which would print as "-0"). */
function exact(value: Decimal): Decimal {
  return value.isZero() ? dec(0) : value;
}

/** Whole seconds of an instant: proration counts elapsed seconds. */
function seconds(instant: Date): number {
  return Math.floor(instant.getTime() / 1000);
}

function planKey(plan: BillingPlan): string {
  return `${plan.planId}:${plan.version}`;
}

/** The deterministic id of the invoice a subscription gets on the anniversary that starts `period`. */
export function invoiceIdFor(brand: string, subscriptionId: string, period: BillingPeriod, timeZone: string): string {
  return `inv:${brand}:${subscriptionId}:${localDateOf(period.start, timeZone)}`;
}

/** The last local day a span [start, end) covers, for descriptions. */
// A bill run issues thousands of invoices at one instant in a handful of zones and terms.
const dueInstants = new Map<string, number>();
function dueInstant(issuedAt: Date, zone: string, termsDays: number): Date {
  const key = `${issuedAt.getTime()}|${zone}|${termsDays}`;
  let due = dueInstants.get(key);
  if (due === undefined) {
    if (dueInstants.size >= 1_000) dueInstants.clear();
    due = DateTime.fromJSDate(issuedAt, { zone }).plus({ days: termsDays }).toMillis();
    dueInstants.set(key, due);
  }
  return new Date(due);
}

function spanText(start: Date, end: Date, zone: string): string {
  // The last day is the local day before the end's: luxon's minus({ days: 1 }) is the same
  // calendar arithmetic, at the cost of a zone lookup per invoice line.
  return `${localDateOf(start, zone)} to ${dayBefore(localDateOf(end, zone))}`;
}

function within(t: Date, start: Date, end: Date): boolean {
  return t.getTime() >= start.getTime() && t.getTime() < end.getTime();
}

/** Checks the input once, reporting every problem. */
function validate(input: InvoiceInput): string[] {
  const problems: string[] = [];
  const { brand, subscription, period } = input;
  try {
    minorUnits(brand.currency);
  } catch (error) {
    problems.push(`brand.currency: ${(error as Error).message}`);
  }
  if (!ROUNDING_MODES.has(brand.roundingMode)) problems.push(`brand.roundingMode "${brand.roundingMode}" is not half_up, half_even, down or up`);
  if (brand.cancellationCredit !== 'prorated' && brand.cancellationCredit !== 'none') problems.push(`brand.cancellationCredit "${String(brand.cancellationCredit)}" is not prorated or none`);
  if (!Number.isSafeInteger(brand.paymentTermsDays) || brand.paymentTermsDays < 0) problems.push('brand.paymentTermsDays is not a whole number ≥ 0');
  if (Number.isNaN(input.issuedAt.getTime())) problems.push('issuedAt is not a valid instant');
  const checkAmount = (at: string, v: Decimal | string): void => {
    const d = typeof v === 'string' ? (/^-?\d+(\.\d+)?$/.test(v) ? dec(v) : undefined) : v;
    if (d === undefined || !d.isFinite()) problems.push(`${at} is not a decimal`);
    else if (d.decimalPlaces() > MONEY_SCALE) problems.push(`${at} has more than ${MONEY_SCALE} decimals`);
  };
  const checkPlan = (at: string, plan: BillingPlan): void => {
    checkAmount(`${at}.monthlyFee`, plan.monthlyFee);
    if (plan.commitmentDiscount) checkAmount(`${at}.commitmentDiscount.percent`, plan.commitmentDiscount.percent);
  };
  checkPlan('plan', input.plan);

  try {
    const expected = nthPeriod(subscription.anchor, period.index, brand.timeZone);
    if (expected.start.getTime() !== period.start.getTime() || expected.end.getTime() !== period.end.getTime()) {
      problems.push(`period ${period.index} is not the subscription's period ${period.index} (${expected.start.toISOString()} to ${expected.end.toISOString()})`);
    }
  } catch (error) {
    problems.push(`period: ${(error as Error).message}`);
  }
  const ended = period.index >= 1 ? safePeriod(input, period.index - 1) : null;
  if (period.index === 0 && (input.usage.length > 0 || input.planChanges.length > 0)) {
    problems.push('the opening invoice (period 0) has no period just ended: usage and plan changes must be empty');
  }

  const changes = sortChanges(input.planChanges);
  changes.forEach((c, i) => {
    checkPlan(`planChanges[${i}].from`, c.from);
    checkPlan(`planChanges[${i}].to`, c.to);
    if (ended && !within(c.at, ended.start, ended.end)) problems.push(`planChanges[${i}] at ${c.at.toISOString()} is not within the period just ended`);
    const next = changes[i + 1];
    if (next && planKey(c.to) !== planKey(next.from)) problems.push(`planChanges: ${planKey(c.to)} is followed by a change from ${planKey(next.from)}`);
    if (subscription.cancelledAt && c.at.getTime() >= subscription.cancelledAt.getTime()) problems.push(`planChanges[${i}] at ${c.at.toISOString()} is at or after the cancellation`);
  });
  const last = changes[changes.length - 1];
  if (last && planKey(last.to) !== planKey(input.plan)) problems.push(`the last plan change is to ${planKey(last.to)} but the plan is ${planKey(input.plan)}`);

  input.usage.forEach((u, i) => {
    if (!Number.isSafeInteger(u.unitSeconds) || u.unitSeconds <= 0) problems.push(`usage[${i}] (${u.usageType}): unitSeconds is not a whole number > 0`);
    u.tiers.forEach((t, j) => {
      checkAmount(`usage[${i}].tiers[${j}].amount`, t.amount);
      if (!Number.isSafeInteger(t.seconds)) problems.push(`usage[${i}].tiers[${j}].seconds is not a whole number`);
    });
  });
  if (new Set(input.usage.map((u) => u.usageType)).size !== input.usage.length) problems.push('usage lists a usage type twice');
  const adjustmentIds = new Set<string>();
  input.adjustments.forEach((a, i) => {
    checkAmount(`adjustments[${i}].amount`, a.amount);
    if (adjustmentIds.has(a.adjustmentId)) problems.push(`adjustments[${i}]: adjustmentId ${a.adjustmentId} listed twice`);
    adjustmentIds.add(a.adjustmentId);
  });
  return problems;
}

function safePeriod(input: InvoiceInput, n: number): BillingPeriod | null {
  try {
    return nthPeriod(input.subscription.anchor, n, input.brand.timeZone);
  } catch {
    return null;
  }
}

function sortChanges(changes: readonly PlanChange[]): PlanChange[] {
  return [...changes].sort((a, b) => a.at.getTime() - b.at.getTime());
}

/**
 * The monthly fee of a plan for a fee period, net of its commitment discount when the
 * subscription's commitment covers the period's start (the discount of a period is
 * decided once, at its start).
 */
function discountFraction(input: Pick<InvoiceInput, 'subscription'>, plan: BillingPlan, periodStart: Date): Decimal | null {
  const d = plan.commitmentDiscount;
  const c = input.subscription.commitment;
  if (!d || !c || c.months !== d.months || !within(periodStart, c.startsAt, c.endsAt)) return null;
  return dec(d.percent).dividedBy(100);
}

/** Exact: a fee of 6 decimals less a percent of 6 decimals has at most 14. */
function netMonthlyFee(input: Pick<InvoiceInput, 'subscription'>, plan: BillingPlan, periodStart: Date): Decimal {
  const fee = dec(plan.monthlyFee);
  const off = discountFraction(input, plan, periodStart);
  return off ? fee.minus(fee.times(off)) : fee;
}

/**
 * The fee a period's invoice bills in advance for `plan`, net of the commitment discount, by
 * the same rules as draftInvoice: nothing when the subscription is cancelled by the period's
 * start, still in trial at its start or has its billing paused then. Exact (unrounded). What-if
 * pricing (domain/planswap) prices a period's fee on another plan with it.
 */
export function feeInAdvance(subscription: BillingSubscription, plan: BillingPlan, period: Pick<BillingPeriod, 'start'>): Decimal {
  return billsFeeFor(subscription, period.start) ? exact(netMonthlyFee({ subscription }, plan, period.start)) : dec(0);
}

/** A period's fee is billed unless, at its start, the subscription is cancelled, in trial or paused. */
function billsFeeFor(subscription: BillingSubscription, periodStart: Date): boolean {
  const start = periodStart.getTime();
  const cancelledBefore = subscription.cancelledAt !== null && subscription.cancelledAt.getTime() <= start;
  const inTrialAtStart = subscription.trialEndsAt !== null && subscription.trialEndsAt.getTime() > start;
  const pausedAtStart = subscription.billingPausedAt != null && subscription.billingPausedAt.getTime() <= start;
  return !cancelledBefore && !inTrialAtStart && !pausedAtStart;
}

/**
 * The invoice before taxes and rounding: the fee of the period starting on this
 * anniversary in advance, and the prorations, usage and adjustments of the period just
 * ended in arrears, every amount exact (README: Rounding).
 */
export function draftInvoice(input: InvoiceInput): InvoiceDraft {
  const problems = validate(input);
  if (problems.length > 0) {
    throw new InvoicingError('invalid_invoice_input', `invalid invoice input: ${problems.join('; ')}`, problems);
  }
  const { brand, subscription, plan, period } = input;
  const zone = brand.timeZone;
  const lines: DraftLine[] = [];
  const trialEnd = subscription.trialEndsAt;
  const cancelledAt = subscription.cancelledAt;

  // 1. The coming period's fee, in advance: not if cancelled by its start, not while in trial
  //    at its start, not while billing is paused at its start (a suspension).
  if (billsFeeFor(subscription, period.start)) {
    const fee = dec(plan.monthlyFee);
    lines.push({
      lineId: 'fee',
      kind: 'subscription_fee',
      description: `${plan.name}, monthly fee, ${spanText(period.start, period.end, zone)}`,
      usageType: null,
      quantity: dec(1),
      unitPrice: fee,
      amount: fee,
      periodStart: period.start,
      periodEnd: period.end,
      taxable: true,
    });
    const off = discountFraction(input, plan, period.start);
    if (off) {
      const discount = exact(fee.times(off).negated());
      lines.push({
        lineId: 'discount',
        kind: 'discount',
        description: `${plan.commitmentDiscount!.months}-month commitment discount, ${dec(plan.commitmentDiscount!.percent).toFixed()}% of ${plan.name}`,
        usageType: null,
        quantity: dec(1),
        unitPrice: discount,
        amount: discount,
        periodStart: period.start,
        periodEnd: period.end,
        taxable: true,
      });
    }
  }

  // 2. The period just ended, in arrears.
  const ended = period.index >= 1 ? nthPeriod(subscription.anchor, period.index - 1, zone) : null;
  if (ended) {
    lines.push(...prorationLines(input, ended));
    lines.push(...usageLines(input.usage, ended));
  }
  for (const a of [...input.adjustments].sort((x, y) => (x.adjustmentId < y.adjustmentId ? -1 : x.adjustmentId > y.adjustmentId ? 1 : 0))) {
    const amount = dec(a.amount);
    // A difference that nets to 0.00 (calls re-rated that moved money between them, a
    // sub-cent change) is no line: a customer reads a 0.00 "Re-rating" line as an error.
    if (roundToMinor(amount, brand.currency, brand.roundingMode).isZero()) continue;
    lines.push({
      lineId: `adjustment:${a.adjustmentId}`,
      kind: 'adjustment',
      description: a.description,
      usageType: a.usageType,
      quantity: dec(1),
      unitPrice: amount,
      amount,
      periodStart: a.periodStart,
      periodEnd: a.periodEnd,
      taxable: true,
    });
  }

  const invoiceId = invoiceIdFor(brand.code, subscription.subscriptionId, period, zone);
  const taxPoint = localDateOf(input.issuedAt, zone);
  const dueAt = dueInstant(input.issuedAt, zone, brand.paymentTermsDays);
  const taxRequest: TaxRequest = {
    invoiceId,
    currency: brand.currency,
    roundingMode: brand.roundingMode,
    regime: brand.taxRegime,
    sellerCountry: brand.country,
    taxPoint,
    customer: input.customerTax,
    lines: lines.map((l) => ({ lineId: l.lineId, kind: l.kind, amount: l.amount, taxable: l.taxable })),
  };
  return {
    invoiceId,
    brand: brand.code,
    accountId: subscription.accountId,
    subscriptionId: subscription.subscriptionId,
    periodStart: period.start,
    periodEnd: period.end,
    usagePeriod: ended,
    issuedAt: input.issuedAt,
    dueAt,
    taxPoint,
    currency: brand.currency,
    roundingMode: brand.roundingMode,
    lines,
    usage: input.usage,
    notes: sortChanges(input.planChanges).map((c) => `Plan changed from ${c.from.name} to ${c.to.name} from ${localDateOf(c.at, zone)}`),
    taxRequest,
  };
}

/**
 * Prorations of the period just ended, by elapsed seconds of that period:
 * - what was billed for it covered [max(start, trial end), end) at the plan in force then
 *   (billed in advance, or, when the trial ended inside it, by the trial-end line here);
 * - each plan change at t gives back the old plan's net fee for [t, end) and charges the
 *   new plan's for [t, end) (changes telescope: plan 1, then 2, then 3);
 * - a cancellation at t gives back the current plan's net fee for [t, end) if the brand's
 *   policy is `prorated`.
 */
function prorationLines(input: InvoiceInput, ended: BillingPeriod): DraftLine[] {
  const { brand, subscription } = input;
  const zone = brand.timeZone;
  const changes = sortChanges(input.planChanges);
  const lines: DraftLine[] = [];
  const periodSeconds = seconds(ended.end) - seconds(ended.start);
  const trialEnd = subscription.trialEndsAt;
  const cancelledAt = subscription.cancelledAt;
  if (trialEnd !== null && trialEnd.getTime() >= ended.end.getTime()) return []; // in trial all period
  if (cancelledAt !== null && cancelledAt.getTime() <= ended.start.getTime()) return []; // nothing was billed
  const billedFrom = trialEnd !== null && trialEnd.getTime() > ended.start.getTime() ? trialEnd : ended.start;
  if (cancelledAt !== null && cancelledAt.getTime() <= billedFrom.getTime()) return []; // cancelled in trial

  // The plan in force just before `t`: a change exactly at `t` is billed by its own lines.
  const planBefore = (t: Date): BillingPlan => {
    let current = changes[0]?.from ?? input.plan;
    for (const c of changes) if (c.at.getTime() < t.getTime()) current = c.to;
    return current;
  };
  const line = (lineId: string, sign: 1 | -1, plan: BillingPlan, from: Date, what: string): DraftLine => {
    const secs = seconds(ended.end) - seconds(from);
    const fee = netMonthlyFee(input, plan, ended.start);
    const unitPrice = sign === 1 ? fee : fee.negated();
    return {
      lineId,
      kind: 'proration',
      description: `${what}: ${plan.name}, ${spanText(from, ended.end, zone)} (${secs} of ${periodSeconds} s)`,
      usageType: null,
      quantity: scale6(dec(secs).dividedBy(periodSeconds)),
      unitPrice,
      amount: exact(unitPrice.times(secs).dividedBy(periodSeconds)),
      periodStart: from,
      periodEnd: ended.end,
      taxable: true,
    };
  };

  if (billedFrom !== ended.start) {
    lines.push(line('proration:trial-end', 1, planBefore(billedFrom), billedFrom, 'From the end of the trial'));
  }
  changes.forEach((c, i) => {
    if (c.at.getTime() < billedFrom.getTime()) return; // a switch during the trial costs nothing
    lines.push(line(`proration:change-${i + 1}:credit`, -1, c.from, c.at, 'Unused part of the old plan'));
    lines.push(line(`proration:change-${i + 1}:charge`, 1, c.to, c.at, 'Rest of the period on the new plan'));
  });
  if (cancelledAt !== null && cancelledAt.getTime() < ended.end.getTime() && brand.cancellationCredit === 'prorated') {
    lines.push(line('proration:cancellation', -1, planBefore(cancelledAt), cancelledAt, 'Cancelled: unused part of the period'));
  }
  return lines;
}

interface TierAccumulator {
  tier: number;
  unitPrice: Decimal;
  seconds: number;
  amount: Decimal;
}

/** One line per usage type and tier (tiers of the same index and price merged), in arrears. */
function usageLines(usage: readonly UsageSummary[], ended: BillingPeriod): DraftLine[] {
  const lines: DraftLine[] = [];
  const sorted = [...usage].sort((a, b) => (a.usageType < b.usageType ? -1 : a.usageType > b.usageType ? 1 : 0));
  for (const u of sorted) {
    const merged = new Map<string, TierAccumulator>();
    for (const t of u.tiers) {
      const key = `${t.tier}:${dec(t.unitPrice).toFixed()}`;
      const acc = merged.get(key) ?? { tier: t.tier, unitPrice: dec(t.unitPrice), seconds: 0, amount: dec(0) };
      acc.seconds += t.seconds;
      acc.amount = acc.amount.plus(t.amount);
      merged.set(key, acc);
    }
    const tiers = [...merged.values()]
      .filter((t) => t.seconds !== 0 || !t.amount.isZero())
      .sort((a, b) => a.tier - b.tier || a.unitPrice.comparedTo(b.unitPrice));
    const perTier = new Map<number, number>();
    for (const t of tiers) {
      const n = (perTier.get(t.tier) ?? 0) + 1;
      perTier.set(t.tier, n);
      const units = scale6(dec(t.seconds).dividedBy(u.unitSeconds));
      const unit = u.unitSeconds === 60 ? 'min' : `× ${u.unitSeconds} s`;
      lines.push({
        lineId: `usage:${u.usageType}:t${t.tier + 1}${n > 1 ? `:${n}` : ''}`,
        kind: 'usage',
        description: `${u.usageType} beyond included, tier ${t.tier + 1}: ${units.toFixed()} ${unit} at ${t.unitPrice.toFixed()}`,
        usageType: u.usageType,
        quantity: units,
        unitPrice: t.unitPrice,
        amount: t.amount,
        periodStart: ended.start,
        periodEnd: ended.end,
        taxable: true,
      });
    }
  }
  return lines;
}
