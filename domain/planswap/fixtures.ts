import type { Plan, PriceModelRecord, Subscription } from '../reference/index.ts';
import type { PeriodUsage } from './recommend.ts';

/** Plans and a subscription for the hand-worked tests of what-ifs and recommendations. */
const MIN = 60;

const perMinute = (usageType: string, unitPrice: string): PriceModelRecord => ({ usageType, kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice, flatFee: '0' }] });
const perMessage = (unitPrice: string): PriceModelRecord => ({ usageType: 'sms', kind: 'PER_UNIT', unitSeconds: 1, tiers: [{ upTo: null, unitPrice, flatFee: '0' }] });

export function voicePlan(planId: string, monthlyFee: string, includedMinutes: number, overagePerMinute: string, numberAllotment: number, extra: Partial<Plan> = {}): Plan {
  return {
    planId,
    version: 1,
    owner: 'ansr-group',
    name: planId,
    currency: 'USD',
    monthlyFee,
    trialDays: 0,
    grants: [{ bucketId: `${planId}-voice`, usageType: 'voice', seconds: includedMinutes * MIN, priority: 0 }],
    priceModels: [perMinute('voice', overagePerMinute)],
    numberAllotment,
    commitmentDiscount: null,
    ...extra,
  };
}

export const mini100 = voicePlan('mini-100', '5.00', 100, '0.15', 1);
export const basic500 = voicePlan('basic-500', '20.00', 500, '0.10', 2);
export const pro1000 = voicePlan('pro-1000', '35.00', 1000, '0.08', 5);
export const max3000 = voicePlan('max-3000', '90.00', 3000, '0.05', 10);
export const allPlans = [mini100, basic500, pro1000, max3000];

export const withSms = (plan: Plan, unitPrice = '0.01'): Plan => ({ ...plan, priceModels: [...plan.priceModels, perMessage(unitPrice)] });

export function subscriptionOn(plan: Plan, extra: Partial<Subscription> = {}): Subscription {
  return {
    subscriptionId: 'sub-1',
    brand: 'ansr-us',
    accountId: 'acc-1',
    planId: plan.planId,
    planVersion: plan.version,
    addOnGrants: [],
    anchor: Date.parse('2026-01-01T00:00:00Z'),
    status: 'active',
    trialEndsAt: null,
    cancelledAt: null,
    commitment: null,
    planChanges: [],
    billingPausedAt: null,
    ...extra,
  };
}

/** Calendar months of 2026 in UTC, [start, end). */
export function month(m: number): { start: Date; end: Date } {
  return { start: new Date(Date.UTC(2026, m - 1, 1)), end: new Date(Date.UTC(2026, m, 1)) };
}

export function voiceMonth(m: number, minutes: number, sms = 0): PeriodUsage {
  const usage = [{ usageType: 'voice', calls: minutes === 0 ? 0 : Math.ceil(minutes / 4), billableSeconds: minutes * MIN }];
  if (sms > 0) usage.push({ usageType: 'sms', calls: sms, billableSeconds: sms });
  return { ...month(m), usage };
}
