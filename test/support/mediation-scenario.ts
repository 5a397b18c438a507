import { Decimal } from 'decimal.js';
import { parseReferenceFile, type ReferenceData, type ReferenceFile } from '../../domain/reference/index.ts';
import type { CdrRawRecord } from '../../contracts/records.ts';
import { seededRandom } from '../../domain/prng.ts';

/**
 * A mediation scenario for the end-to-end and crash tests: 3 brands with different rules and
 * currencies, 10 accounts of 150 numbers each, one number reassigned mid-period, and CDRs with
 * duplicates and bad records mixed in. The expected totals are computed here independently of
 * the domain code: the rating formulas below are written out by hand, and overage is priced per
 * second at a price that is exact at six decimals.
 */
export interface BrandSpec {
  code: string;
  currency: string;
  timeZone: string;
  /** Billable seconds for a call of `d` seconds, written independently of domain/rating. */
  billable(d: number): number;
  rule: { freeSeconds: number; freeMode: 'grace' | 'deduct'; minimumSeconds: number; initial: [number, string]; main: [number, string] };
  /** Price per minute; divided by 60 it stays exact at six decimals. */
  pricePerMinute: string;
  includedSeconds: number;
}

export function brandSpecs(suffix: string): BrandSpec[] {
  return [
    // Per minute, rounded up.
    { code: `e2e-us-${suffix}`, currency: 'USD', timeZone: 'America/New_York', billable: (d) => Math.ceil(d / 60) * 60, rule: { freeSeconds: 0, freeMode: 'grace', minimumSeconds: 0, initial: [60, 'up'], main: [60, 'up'] }, pricePerMinute: '0.06', includedSeconds: 600_000 },
    // The first 30 s free; 31-60 s billed as 60; then per 30 s rounded up.
    { code: `e2e-uk-${suffix}`, currency: 'GBP', timeZone: 'Europe/London', billable: (d) => (d <= 30 ? 0 : d <= 60 ? 60 : 60 + Math.ceil((d - 60) / 30) * 30), rule: { freeSeconds: 30, freeMode: 'grace', minimumSeconds: 0, initial: [60, 'up'], main: [30, 'up'] }, pricePerMinute: '0.03', includedSeconds: 900_000 },
    // 30 s minimum, then per 6 s rounded up.
    { code: `e2e-ca-${suffix}`, currency: 'CAD', timeZone: 'America/Toronto', billable: (d) => (d === 0 ? 0 : d <= 30 ? 30 : 30 + Math.ceil((d - 30) / 6) * 6), rule: { freeSeconds: 0, freeMode: 'grace', minimumSeconds: 0, initial: [30, 'up'], main: [6, 'up'] }, pricePerMinute: '0.12', includedSeconds: 300_000 },
  ];
}

/** A seed from the run's suffix: each run gets its own numbers, so runs never share a number. */
function seedOf(suffix: string): number {
  let h = 2166136261;
  for (const ch of suffix) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return h >>> 0;
}

export interface Scenario {
  suffix: string;
  source: string;
  brands: BrandSpec[];
  reference: ReferenceData;
  cdrs: CdrRawRecord[];
  /** The number that changes account mid-period, the instant it changes, and its two accounts. */
  reassignment: { number: string; at: number; from: string; to: string };
  expected: {
    charged: number;
    rejectedByReason: Record<string, number>;
    /** Per subscription: billable, included and overage seconds, and the overage amount. */
    bySubscription: Map<string, { currency: string; billable: number; included: number; overage: number; amount: Decimal }>;
  };
}

const ACCOUNTS_PER_BRAND = [4, 3, 3];
const NUMBERS_PER_ACCOUNT = 150;
/** All calls fall in one billing period: anchors on Mar 1, calls from Mar 5 to Mar 25 2026. */
const ANCHOR = '2026-03-01T12:00:00Z';
const CALLS_FROM = Date.parse('2026-03-05T00:00:00Z');
const CALLS_SPAN_MS = 20 * 24 * 3600 * 1000;

export function buildScenario(suffix: string, cdrCount: number, seed = seedOf(suffix)): Scenario {
  const random = seededRandom(seed);
  const brands = brandSpecs(suffix);
  // Seven digits starting 2-9: a North American exchange code never starts with 0 or 1.
  const numberBase = 2_000_000 + Math.floor(random() * 6_000_000);
  const file: ReferenceFile = { parentCompany: 'ansr-group', brands: [], numbers: [], plans: [], subscriptions: [], ratingRules: [] } as unknown as ReferenceFile;
  const f = file as unknown as Record<string, unknown[]>;
  const accounts: { account: string; subscription: string; brand: BrandSpec; numbers: string[] }[] = [];
  brands.forEach((brand, b) => {
    f.brands!.push({ code: brand.code, parentCompany: 'ansr-group', name: `E2E ${brand.currency}`, country: brand.currency.slice(0, 2), currency: brand.currency, timeZone: brand.timeZone, billingHour: 2, taxRegime: 'none', gateway: 'manual', roundingMode: 'half_up', usageProducts: { LCA: `${brand.code}-lca` } });
    f.plans!.push({ planId: `${brand.code}-plan`, version: 1, owner: brand.code, name: 'E2E plan', currency: brand.currency, monthlyFee: '49.00', trialDays: 0, grants: [{ bucketId: 'lca-included', usageType: 'LCA', seconds: brand.includedSeconds, priority: 1 }], priceModels: [{ usageType: 'LCA', kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice: brand.pricePerMinute, flatFee: '0' }] }], numberAllotment: 150 });
    f.ratingRules!.push({ ruleId: `${brand.code}-lca`, version: 1, companyId: brand.code, usageType: 'LCA', effectiveFrom: '2026-01-01T00:00:00Z', freeSeconds: brand.rule.freeSeconds, freeMode: brand.rule.freeMode, minimumSeconds: brand.rule.minimumSeconds, initialIncrement: { seconds: brand.rule.initial[0], rounding: brand.rule.initial[1] }, mainIncrement: { seconds: brand.rule.main[0], rounding: brand.rule.main[1] }, unit: 'second' });
    for (let a = 0; a < ACCOUNTS_PER_BRAND[b]!; a++) {
      const account = `acct-${brand.code}-${a}`;
      const subscription = `sub-${brand.code}-${a}`;
      f.subscriptions!.push({ subscriptionId: subscription, brand: brand.code, accountId: account, planId: `${brand.code}-plan`, planVersion: 1, anchor: ANCHOR, status: 'active' });
      const numbers: string[] = [];
      for (let n = 0; n < NUMBERS_PER_ACCOUNT; n++) numbers.push(`+1800${String(numberBase + accounts.length * NUMBERS_PER_ACCOUNT + n).padStart(7, '0')}`);
      accounts.push({ account, subscription, brand, numbers });
    }
  });
  // The first number of account 0 moves to account 1 (same brand) in the middle of the period.
  const reassignedAt = CALLS_FROM + CALLS_SPAN_MS / 2;
  const moved = accounts[0]!.numbers[0]!;
  for (const { account, subscription, brand, numbers } of accounts) {
    for (const number of numbers) {
      if (number === moved) continue;
      f.numbers!.push({ number, assignments: [{ assignmentId: `asg-${number}`, brand: brand.code, accountId: account, subscriptionId: subscription, effectiveFrom: ANCHOR }] });
    }
  }
  f.numbers!.push({
    number: moved,
    assignments: [
      { assignmentId: `asg-${moved}-1`, brand: accounts[0]!.brand.code, accountId: accounts[0]!.account, subscriptionId: accounts[0]!.subscription, effectiveFrom: ANCHOR, effectiveTo: new Date(reassignedAt).toISOString() },
      { assignmentId: `asg-${moved}-2`, brand: accounts[1]!.brand.code, accountId: accounts[1]!.account, subscriptionId: accounts[1]!.subscription, effectiveFrom: new Date(reassignedAt).toISOString() },
    ],
  });
  const parsed = parseReferenceFile(file);
  if (!parsed.ok) throw new Error(`scenario reference invalid: ${JSON.stringify(parsed.error.slice(0, 5))}`);

  const source = `e2e-${suffix}`;
  const cdrs: CdrRawRecord[] = [];
  const rejectedByReason: Record<string, number> = {};
  const reject = (reason: string) => (rejectedByReason[reason] = (rejectedByReason[reason] ?? 0) + 1);
  const totals = new Map<string, { currency: string; billable: number }>();
  let charged = 0;
  const chargeable: CdrRawRecord[] = [];
  const call = (id: number, calledNumber: string, start: number, seconds: number, usageType = 'LCA'): CdrRawRecord => ({ source, cdrId: `cdr-${id}`, callingNumber: '+12125550123', calledNumber, usageType, startTime: start, endTime: start + seconds * 1000, durationSeconds: seconds, attributes: {}, receivedAt: null });

  for (let i = 0; i < cdrCount; i++) {
    const roll = random();
    const start = CALLS_FROM + Math.floor(random() * CALLS_SPAN_MS / 1000) * 1000;
    const seconds = random() < 0.05 ? Math.floor(random() * 31) : Math.floor(random() * 1800);
    if (roll < 0.01 && chargeable.length > 0) {
      // A duplicate delivery of an earlier good CDR: rejected as duplicate_cdr, charged once.
      cdrs.push({ ...chargeable[Math.floor(random() * chargeable.length)]! });
      reject('duplicate_cdr');
      continue;
    }
    if (roll < 0.015) {
      cdrs.push(call(i, '555', start, seconds));
      reject('invalid_number');
      continue;
    }
    if (roll < 0.02) {
      cdrs.push({ ...call(i, accounts[0]!.numbers[1]!, start, seconds), endTime: start - 1000 });
      reject('invalid_time_range');
      continue;
    }
    if (roll < 0.025) {
      cdrs.push(call(i, accounts[0]!.numbers[1]!, start, seconds, 'TELEX'));
      reject('unknown_usage_type');
      continue;
    }
    if (roll < 0.03) {
      cdrs.push(call(i, `+1888${2_000_000 + ((numberBase + i) % 7_000_000)}`, start, seconds));
      reject('unresolved_number');
      continue;
    }
    const owner = accounts[Math.floor(random() * accounts.length)]!;
    const number = random() < 0.02 ? moved : owner.numbers[1 + Math.floor(random() * (NUMBERS_PER_ACCOUNT - 1))]!;
    const billedTo = number === moved ? (start < reassignedAt ? accounts[0]! : accounts[1]!) : owner;
    const good = call(i, number, start, seconds);
    cdrs.push(good);
    chargeable.push(good);
    charged++;
    const total = totals.get(billedTo.subscription) ?? { currency: billedTo.brand.currency, billable: 0 };
    total.billable += billedTo.brand.billable(seconds);
    totals.set(billedTo.subscription, total);
  }

  const bySubscription = new Map<string, { currency: string; billable: number; included: number; overage: number; amount: Decimal }>();
  for (const { subscription, brand } of accounts) {
    const { billable, currency } = totals.get(subscription) ?? { billable: 0, currency: brand.currency };
    const included = Math.min(billable, brand.includedSeconds);
    const overage = billable - included;
    bySubscription.set(subscription, { currency, billable, included, overage, amount: new Decimal(brand.pricePerMinute).dividedBy(60).times(overage) });
  }
  return { suffix, source, brands, reference: parsed.value, cdrs, reassignment: { number: moved, at: reassignedAt, from: accounts[0]!.account, to: accounts[1]!.account }, expected: { charged, rejectedByReason, bySubscription } };
}
