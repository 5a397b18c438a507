import { Decimal } from 'decimal.js';
import type { RoundingMode } from '../money/index.ts';
import { summarizeUsage } from '../invoicing/index.ts';
import type { Adjustment, BillingBrand, BillingSubscription, ChargeFigures, BillingPlan, CancellationCreditPolicy, InvoiceInput, PlanChange } from '../invoicing/index.ts';
import type { Brand, Customer, Plan, Subscription } from '../reference/index.ts';
import { localDateOf } from '../periods/index.ts';
import type { CustomerTaxContext } from '../tax/index.ts';
import type { DueBilling } from './types.ts';

/** One usage.charged record as the bill run keeps it: what the invoice adds up. */
export interface StoredCharge {
  readonly eventId: string;
  readonly usageType: string;
  readonly billableSeconds: number;
  readonly includedSeconds: number;
  readonly overageSeconds: number;
  readonly amount: Decimal;
  readonly tiers: readonly StoredTier[];
}

export interface StoredTier {
  /** 1-based, as on usage.charged. */
  readonly tier: number;
  readonly seconds: number;
  readonly unitPrice: Decimal;
  readonly flatFee: Decimal;
  readonly amount: Decimal;
}

/** Usage or a re-rating difference that belongs to a period already invoiced, summed per (reason, period, usage type). */
export interface CarriedAmount {
  readonly reason: 'rerating' | 'late_usage';
  readonly usageType: string;
  readonly periodStart: Date;
  readonly periodEnd: Date;
  /** For rerating, the rating version; for late usage, 0. */
  readonly ratingVersion: number;
  readonly amount: Decimal;
  /** How many CDRs it covers, for the line's words. */
  readonly records: number;
}

export interface InvoiceAssembly {
  readonly billing: DueBilling;
  readonly brand: Brand;
  readonly subscription: Subscription;
  readonly plans: (planId: string, version: number) => Plan | undefined;
  readonly customer: Customer | undefined;
  /** The charges of `billing.usagePeriod` not yet invoiced (empty on an opening invoice). */
  readonly charges: readonly StoredCharge[];
  readonly carried: readonly CarriedAmount[];
  readonly issuedAt: Date;
}

/** Why a due billing cannot be invoiced yet; it stays due and is retried by the next run. */
export interface AssemblyProblem {
  readonly code: 'customer_missing' | 'plan_missing';
  readonly message: string;
}

/**
 * The invoice input of one due billing, from the reference records and the stored charges:
 * the plan in force when the period starts, the plan changes within the period billed in
 * arrears (for proration), the customer's place of taxation, the usage summarised per usage
 * type with its tiers, and carried amounts (re-rating differences, late usage) as
 * adjustments. Pure: the caller reads the records and the charges.
 */
export function assembleInvoiceInput(a: InvoiceAssembly): { ok: true; input: InvoiceInput } | { ok: false; problem: AssemblyProblem } {
  const { billing, brand, subscription: s } = a;
  if (a.customer === undefined) {
    return { ok: false, problem: { code: 'customer_missing', message: `no ref.customers record for account ${s.accountId}: its place of taxation is unknown` } };
  }
  const planRecord = planInForce(s, billing.period.start.getTime());
  const plan = a.plans(planRecord.planId, planRecord.version);
  if (plan === undefined) {
    return { ok: false, problem: { code: 'plan_missing', message: `plan ${planRecord.planId} v${planRecord.version} of ${s.subscriptionId} is not in ref.plans` } };
  }
  const changes: PlanChange[] = [];
  if (billing.usagePeriod !== null) {
    const from = billing.usagePeriod.start.getTime();
    const to = billing.usagePeriod.end.getTime();
    for (const c of s.planChanges) {
      if (c.at < from || c.at >= to) continue;
      const before = a.plans(c.fromPlanId, c.fromPlanVersion);
      const after = a.plans(c.toPlanId, c.toPlanVersion);
      if (before === undefined || after === undefined) {
        const missing = before === undefined ? `${c.fromPlanId} v${c.fromPlanVersion}` : `${c.toPlanId} v${c.toPlanVersion}`;
        return { ok: false, problem: { code: 'plan_missing', message: `plan ${missing} of a plan change of ${s.subscriptionId} is not in ref.plans` } };
      }
      changes.push({ at: new Date(c.at), from: billingPlan(before), to: billingPlan(after) });
    }
  }
  const unitSeconds: Record<string, number> = {};
  for (const m of plan.priceModels) unitSeconds[m.usageType] = m.unitSeconds;
  const input: InvoiceInput = {
    brand: billingBrand(brand),
    subscription: billingSubscription(s),
    plan: billingPlan(plan),
    period: billing.period,
    issuedAt: a.issuedAt,
    usage: summarizeUsage(a.charges.map(asUsageCharge), unitSeconds),
    adjustments: a.carried.map((c) => asAdjustment(c, brand.timeZone)),
    planChanges: changes,
    customerTax: customerTax(a.customer),
  };
  return { ok: true, input };
}

/** The plan whose terms apply at `at`: the last change at or before it, else the plan before the first change. */
export function planInForce(s: Subscription, at: number): { planId: string; version: number } {
  let current = s.planChanges.length > 0 ? { planId: s.planChanges[0]!.fromPlanId, version: s.planChanges[0]!.fromPlanVersion } : { planId: s.planId, version: s.planVersion };
  for (const c of s.planChanges) if (c.at <= at) current = { planId: c.toPlanId, version: c.toPlanVersion };
  return current;
}

/** What the invoice needs of a subscription record (instants as Dates). */
export function billingSubscription(s: Subscription): BillingSubscription {
  return {
    subscriptionId: s.subscriptionId,
    accountId: s.accountId,
    anchor: new Date(s.anchor),
    trialEndsAt: s.trialEndsAt === null ? null : new Date(s.trialEndsAt),
    cancelledAt: s.cancelledAt === null ? null : new Date(s.cancelledAt),
    commitment: s.commitment === null ? null : { months: s.commitment.months, startsAt: new Date(s.commitment.startsAt), endsAt: new Date(s.commitment.endsAt) },
    billingPausedAt: s.billingPausedAt === null ? null : new Date(s.billingPausedAt),
  };
}

export function billingBrand(b: Brand): BillingBrand {
  return {
    code: b.code,
    country: b.country,
    currency: b.currency,
    timeZone: b.timeZone,
    roundingMode: b.roundingMode as RoundingMode,
    taxRegime: b.taxRegime,
    cancellationCredit: b.cancellationCredit as CancellationCreditPolicy,
    paymentTermsDays: b.paymentTermsDays,
  };
}

function billingPlan(p: Plan): BillingPlan {
  return {
    planId: p.planId,
    version: p.version,
    name: p.name,
    monthlyFee: p.monthlyFee,
    commitmentDiscount: p.commitmentDiscount === null ? null : { months: p.commitmentDiscount.months, percent: p.commitmentDiscount.percent },
  };
}

function customerTax(c: Customer): CustomerTaxContext {
  return { country: c.country, region: c.region, taxIds: c.taxIds, exemptions: c.exemptions };
}

function asUsageCharge(c: StoredCharge): ChargeFigures {
  return {
    usageType: c.usageType,
    billableSeconds: c.billableSeconds,
    includedSeconds: c.includedSeconds,
    overageSeconds: c.overageSeconds,
    lines: c.tiers.map((t) => ({ tier: t.tier - 1, units: t.seconds, unitPrice: t.unitPrice, flatFee: t.flatFee, amount: t.amount })),
  };
}

function asAdjustment(c: CarriedAmount, zone: string): Adjustment {
  const day = (d: Date) => localDateOf(d, zone);
  const what = c.reason === 'rerating' ? `Re-rating (version ${c.ratingVersion})` : 'Late usage';
  return {
    adjustmentId: `${c.reason}:${c.usageType}:${c.periodStart.getTime()}:${c.ratingVersion}`,
    reason: c.reason,
    usageType: c.usageType,
    description: `${what} of ${c.usageType} for ${day(c.periodStart)} to ${day(new Date(c.periodEnd.getTime() - 1))}, ${c.records} ${c.records === 1 ? 'call' : 'calls'}`,
    amount: new Decimal(c.amount),
    periodStart: c.periodStart,
    periodEnd: c.periodEnd,
  };
}
