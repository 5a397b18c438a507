import type { Decimal } from 'decimal.js';
import { recomputePeriod } from '../drawdown/index.ts';
import type { PlanPricing, Usage } from '../drawdown/index.ts';
import { feeInAdvance } from '../invoicing/index.ts';
import { billingSubscription } from '../billrun/index.ts';
import { dec, roundToMinor, type RoundingMode } from '../money/index.ts';
import type { BillingPeriod } from '../periods/index.ts';
import { grantsFor, toPlanPricing } from '../reference/index.ts';
import type { Plan, Subscription } from '../reference/index.ts';

/** A subscription's rated usage of one usage type over one period: what a what-if prices. */
export interface UsageTotal {
  readonly usageType: string;
  readonly calls: number;
  /** Billable seconds after the brand's rating rule (increments, minimums): plan-independent. */
  readonly billableSeconds: number;
}

/** One usage type of a period priced on one plan. */
export interface PricedUsageType {
  readonly usageType: string;
  readonly billableSeconds: number;
  readonly includedSeconds: number;
  readonly overageSeconds: number;
  /** Unrounded overage amount (scale 6), as drawdown would charge it. */
  readonly amount: Decimal;
}

export type WhatIfResult =
  | {
      readonly ok: true;
      readonly planId: string;
      readonly planVersion: number;
      readonly currency: string;
      /** The period's fee in advance, net of a commitment discount; 0 in trial. Exact. */
      readonly fee: Decimal;
      readonly usage: readonly PricedUsageType[];
      /** fee + overage, exact. */
      readonly exactTotal: Decimal;
      /** The same rounded once to the currency's minor unit by the brand's mode. */
      readonly total: Decimal;
    }
  /** The plan cannot carry this usage: a usage type it has no price for beyond its grants. */
  | { readonly ok: false; readonly code: 'not_covered'; readonly usageType: string; readonly message: string };

export interface WhatIfInput {
  readonly plan: Plan;
  /** The subscription as it is (its add-ons, trial, commitment apply on any plan). */
  readonly subscription: Subscription;
  readonly period: Pick<BillingPeriod, 'start' | 'end'>;
  readonly usage: readonly UsageTotal[];
  readonly roundingMode: RoundingMode;
}

/**
 * What one period of a subscription costs on `plan`: the fee the bill run would charge in
 * advance (domain/invoicing `feeInAdvance`: trial, commitment discount, pause) plus the overage
 * drawdown would charge after the plan's (and the subscription's add-on) grants, priced by the
 * plan's price models (domain/drawdown `recomputePeriod`, the re-rating function).
 *
 * Each usage type is drawn as one usage of the period's total billable seconds: a period's
 * included seconds are min(used, granted) and its overage amount is the price of its total
 * overage whatever the order or split of the calls (domain/drawdown README), so the period's
 * figures equal live charging's to the last decimal. Rating does not depend on the plan (the
 * brand's rules do), so the billable seconds are those already rated.
 *
 * Taxes are left out: the regimes here tax a subscription's fee and usage lines at one rate
 * for the customer's place, so they scale every plan's cost alike and never change which plan
 * is cheaper; the figures compare as the plans' prices are published (before tax), and the bill
 * run computes tax once on the real invoice.
 */
export function priceOnPlan(input: WhatIfInput): WhatIfResult {
  const { plan, subscription, period } = input;
  const pricing = pricingOf(plan);
  const usages: Usage[] = input.usage
    .filter((u) => u.billableSeconds > 0)
    .map((u) => ({ cdrId: `total:${u.usageType}`, usageType: u.usageType, billableSeconds: u.billableSeconds, startedAt: period.start }));
  const result = recomputePeriod(grantsFor(plan, subscription), usages, pricing);
  const refused = result.rejections[0];
  if (refused !== undefined) {
    const usageType = refused.cdrId.replace(/^total:/, '');
    return { ok: false, code: 'not_covered', usageType, message: `plan ${plan.planId} v${plan.version}: ${refused.message}` };
  }
  const fee = feeInAdvance(billingSubscription(subscription), plan, period);
  const usage = result.charges.map((c) => ({
    usageType: c.usageType,
    billableSeconds: c.billableSeconds,
    includedSeconds: c.includedSeconds,
    overageSeconds: c.overageSeconds,
    amount: c.amount,
  }));
  const exactTotal = usage.reduce((sum, u) => sum.plus(u.amount), dec(fee));
  return {
    ok: true,
    planId: plan.planId,
    planVersion: plan.version,
    currency: plan.currency,
    fee,
    usage,
    exactTotal,
    total: roundToMinor(exactTotal, plan.currency, input.roundingMode),
  };
}

// Converted once per plan record: a run prices every plan for every subscription, and the price
// models are validated and compiled once per object (domain/pricing, domain/drawdown).
const pricings = new WeakMap<Plan, PlanPricing>();

function pricingOf(plan: Plan): PlanPricing {
  let pricing = pricings.get(plan);
  if (pricing === undefined) pricings.set(plan, (pricing = toPlanPricing(plan)));
  return pricing;
}
