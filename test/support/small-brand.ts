import { parseReferenceFile, type ReferenceData } from '../../domain/reference/index.ts';

export interface SmallBrandOptions {
  brand: string;
  number: string;
  /** Whether the number is assigned to the brand's one account. */
  assigned?: boolean;
  /** Rule versions for LCA, each with one increment used as both initial and main. */
  ruleVersions?: { version: number; increment: { seconds: number; rounding: string } }[];
  /** LCA seconds the plan includes a period (default none). */
  includedSeconds?: number;
}

/**
 * One brand (USD, New York), one account and subscription on a pay-as-you-go plan (no included
 * minutes unless `includedSeconds`, 0.06 a minute, so 0.001 a second), one number: small enough
 * to work out by hand.
 */
export function smallBrandReference(options: SmallBrandOptions): ReferenceData {
  const { brand, number } = options;
  const subscription = `sub-${brand}`;
  const parsed = parseReferenceFile({
    parentCompany: 'ansr-group',
    brands: [{ code: brand, parentCompany: 'ansr-group', name: `Brand ${brand}`, country: 'US', currency: 'USD', timeZone: 'America/New_York', billingHour: 2, taxRegime: 'none', gateway: 'manual', roundingMode: 'half_up', usageProducts: { LCA: `${brand}-lca` } }],
    plans: [{ planId: `${brand}-plan`, version: 1, owner: brand, name: 'Pay as you go', currency: 'USD', monthlyFee: '0', trialDays: 0, grants: options.includedSeconds ? [{ bucketId: `${brand}-lca`, usageType: 'LCA', seconds: options.includedSeconds, priority: 1 }] : [], priceModels: [{ usageType: 'LCA', kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice: '0.06', flatFee: '0' }] }], numberAllotment: 1 }],
    subscriptions: [{ subscriptionId: subscription, brand, accountId: `acct-${brand}`, planId: `${brand}-plan`, planVersion: 1, anchor: '2026-03-01T12:00:00Z', status: 'active' }],
    numbers: options.assigned === false ? [] : [{ number, assignments: [{ assignmentId: `asg-${brand}`, brand, accountId: `acct-${brand}`, subscriptionId: subscription, effectiveFrom: '2026-03-01T12:00:00Z' }] }],
    ratingRules: (options.ruleVersions ?? [{ version: 1, increment: { seconds: 60, rounding: 'up' } }]).map(({ version, increment }) => ({
      ruleId: `${brand}-lca`, version, companyId: brand, usageType: 'LCA', effectiveFrom: '2026-01-01T00:00:00Z', freeSeconds: 0, freeMode: 'grace', minimumSeconds: 0, initialIncrement: increment, mainIncrement: increment, unit: 'second',
    })),
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
  return parsed.value;
}

/** A toll-free number no other run uses: seven digits starting 2-9 from the run's suffix. */
export const numberFor = (suffix: string) => `+1800${2_000_000 + (parseInt(suffix.slice(0, 6), 16) % 7_000_000)}`;
