import type {
  BrandEntry,
  CustomerEntry,
  NumberEntry,
  PlanEntry,
  RatingRuleEntry,
  ReferenceFile,
  SubscriptionEntry,
} from './types.ts';
import { seededRandom as random } from '../prng.ts';

export interface GenerateOptions {
  /** Number of brands (default 20). */
  readonly brands?: number;
  /** Accounts, each with one subscription, per brand (default 100). */
  readonly accountsPerBrand?: number;
  /** Numbers per account (default 150). */
  readonly numbersPerAccount?: number;
  /** Same seed, same output (default 1). */
  readonly seed?: number;
  /** Accounts per brand whose first number moves to the next account mid-period (default 3). */
  readonly reassignedPerBrand?: number;
}

interface Profile {
  readonly country: string;
  readonly currency: string;
  readonly timeZone: string;
  readonly taxRegime: string;
  readonly gateway: string;
  /** Number prefix; 7 digits follow. */
  readonly prefix: string;
  /** Regions customers are taxed in (null: the regime needs none). */
  readonly regions: readonly (string | null)[];
  readonly locale: string;
  readonly city: string;
  readonly postalCode: string;
}

// Six markets: brands cycle through them, so 5+ brands cover 4 currencies and 5 zones.
// The built-in tax engine (domain/tax) has no EU VAT or Australian GST tables yet: those
// brands carry the regime `none` here, as they would until an external engine is plugged in.
const PROFILES: readonly Profile[] = [
  { country: 'US', currency: 'USD', timeZone: 'America/New_York', taxRegime: 'us_sales_tax', gateway: 'stripe', prefix: '+1800', regions: ['NY', 'TX', 'CA', 'FL', 'OR'], locale: 'en-US', city: 'New York', postalCode: '10001' },
  { country: 'GB', currency: 'GBP', timeZone: 'Europe/London', taxRegime: 'uk_vat', gateway: 'paypal', prefix: '+44800', regions: [null], locale: 'en-GB', city: 'London', postalCode: 'EC1A 1BB' },
  { country: 'CA', currency: 'CAD', timeZone: 'America/Toronto', taxRegime: 'ca_gst_hst_pst_qst', gateway: 'stripe', prefix: '+1866', regions: ['ON', 'QC', 'BC', 'AB'], locale: 'en-CA', city: 'Toronto', postalCode: 'M5H 2N2' },
  { country: 'US', currency: 'USD', timeZone: 'America/Los_Angeles', taxRegime: 'us_sales_tax', gateway: 'stripe', prefix: '+1888', regions: ['CA', 'WA', 'NY'], locale: 'en-US', city: 'Los Angeles', postalCode: '90012' },
  { country: 'DE', currency: 'EUR', timeZone: 'Europe/Berlin', taxRegime: 'none', gateway: 'stripe', prefix: '+49800', regions: [null], locale: 'de-DE', city: 'Berlin', postalCode: '10117' },
  { country: 'AU', currency: 'AUD', timeZone: 'Australia/Sydney', taxRegime: 'none', gateway: 'paypal', prefix: '+611800', regions: [null], locale: 'en-AU', city: 'Sydney', postalCode: '2000' },
];
const COLOURS = ['#0b5394', '#38761d', '#990000', '#674ea7', '#b45f06', '#134f5c'];

const SUFFIX_DIGITS = 7;
const DAY = 86_400_000;
/** Anchors fall between these instants; reassignments happen at REASSIGN_AT, after every anchor. */
const ANCHOR_FROM = Date.UTC(2025, 5, 1);
const ANCHOR_DAYS = 240;
const REASSIGN_AT = Date.UTC(2026, 1, 14, 15, 30);

const iso = (millis: number) => new Date(millis).toISOString();

/**
 * A large reference set that passes parseReferenceFile, the same for the same options:
 * brands across six markets (currencies USD, GBP, CAD, EUR, AUD; six time zones), three
 * plans per brand (graduated, volume and per-unit overage), one subscription per account
 * (some with add-on buckets), numbers per account, parent default rules with overrides
 * on every other brand, and a few numbers reassigned mid-period to another account.
 */
export function generateReference(options: GenerateOptions = {}): ReferenceFile {
  const brandCount = options.brands ?? 20;
  const accounts = options.accountsPerBrand ?? 100;
  const perAccount = options.numbersPerAccount ?? 150;
  const reassigned = Math.min(options.reassignedPerBrand ?? 3, Math.max(accounts - 1, 0));
  const next = random(options.seed ?? 1);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  const price = (min: number, max: number) => (min + Math.floor(next() * (max - min) * 100) / 100).toFixed(2);

  const parentCompany = 'rateline-group';
  const brands: BrandEntry[] = [];
  const plans: PlanEntry[] = [];
  const subscriptions: SubscriptionEntry[] = [];
  const customers: CustomerEntry[] = [];
  const numbers: NumberEntry[] = [];
  const counters = new Map<string, number>();
  const ratingRules: RatingRuleEntry[] = [
    rule('default-lca', parentCompany, 'LCA', 0, 60, 6, 'minute'),
    rule('default-ivr', parentCompany, 'IVR', 0, 1, 1, 'second'),
    rule('default-chat', parentCompany, 'CHAT', 0, 60, 60, 'minute'),
  ];

  const nextNumber = (prefix: string): string => {
    const n = counters.get(prefix) ?? 0;
    if (n >= 10 ** SUFFIX_DIGITS) throw new RangeError(`more than ${10 ** SUFFIX_DIGITS} numbers under ${prefix}`);
    counters.set(prefix, n + 1);
    return prefix + String(n).padStart(SUFFIX_DIGITS, '0');
  };

  for (let b = 0; b < brandCount; b++) {
    const profile = PROFILES[b % PROFILES.length]!;
    const code = `b${String(b + 1).padStart(2, '0')}-${profile.country.toLowerCase()}`;
    brands.push({
      code,
      parentCompany,
      name: `Brand ${b + 1} (${profile.country})`,
      country: profile.country,
      currency: profile.currency,
      timeZone: profile.timeZone,
      billingHour: b % 6,
      taxRegime: profile.taxRegime,
      gateway: profile.gateway,
      roundingMode: b % 2 === 0 ? 'half_up' : 'half_even',
      usageProducts: { LCA: `${code}-lca`, IVR: `${code}-ivr`, CHAT: `${code}-chat` },
      paymentTermsDays: pick([7, 14, 30]),
      cancellationCredit: b % 3 === 2 ? 'none' : 'prorated',
      collectionRetryDays: [1, 3, 5, 7],
      dunningSteps: [
        { afterDays: 3, action: 'reminder' },
        { afterDays: 10, action: 'suspend' },
        { afterDays: 30, action: 'cancel' },
        { afterDays: 90, action: 'write_off' },
      ],
      branding: {
        displayName: `Brand ${b + 1}`,
        legalName: `Brand ${b + 1} Communications ${profile.country === 'US' ? 'Inc.' : 'Ltd'}`,
        logoSvg: null,
        primaryColor: COLOURS[b % COLOURS.length]!,
        accentColor: '#f1c232',
        address: { line1: `${b + 1} Commerce Way`, line2: `Suite ${100 + b}`, city: profile.city, region: null, postalCode: profile.postalCode, country: profile.country },
        supportEmail: `billing@${code}.example`,
        footer: `Brand ${b + 1} is a trading name of the rateline group.`,
        locale: profile.locale,
      },
      commission: { initialPercent: '20', initialPeriods: 12, recurringPercent: '5' },
    });
    if (b % 2 === 0) {
      ratingRules.push(rule(`${code}-lca`, code, 'LCA', pick([0, 5, 10]), pick([30, 60]), pick([6, 30, 60]), 'minute'));
    }
    const planIds = [`${code}-starter`, `${code}-pro`, `${code}-payg`];
    plans.push(
      {
        planId: planIds[0]!,
        version: 1,
        owner: code,
        name: 'Starter',
        currency: profile.currency,
        monthlyFee: price(19, 39),
        trialDays: 14,
        grants: [
          { bucketId: `${code}-starter-lca`, usageType: 'LCA', seconds: 60 * pick([50, 100, 200]), priority: 10 },
          { bucketId: `${code}-starter-chat`, usageType: 'CHAT', seconds: 3600, priority: 10 },
        ],
        priceModels: [
          {
            usageType: 'LCA',
            kind: 'GRADUATED',
            unitSeconds: 60,
            tiers: [
              { upTo: 100, unitPrice: price(1, 1.5), flatFee: '0' },
              { upTo: 500, unitPrice: price(0.8, 1), flatFee: '0' },
              { upTo: null, unitPrice: price(0.5, 0.8), flatFee: '0' },
            ],
          },
          { usageType: 'IVR', kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice: price(0.05, 0.2) }] },
          { usageType: 'CHAT', kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice: price(0.2, 0.5) }] },
        ],
        numberAllotment: 2,
        commitmentDiscount: { months: 12, percent: '10' },
      },
      {
        planId: planIds[1]!,
        version: 1,
        owner: code,
        name: 'Pro',
        currency: profile.currency,
        monthlyFee: price(79, 149),
        grants: [
          { bucketId: `${code}-pro-lca`, usageType: 'LCA', seconds: 60 * 1000, priority: 10 },
          { bucketId: `${code}-pro-ivr`, usageType: 'IVR', seconds: 60 * 500, priority: 10 },
        ],
        priceModels: [
          {
            usageType: 'LCA',
            kind: 'VOLUME',
            unitSeconds: 60,
            tiers: [
              { upTo: 1000, unitPrice: price(0.9, 1.1), flatFee: '0' },
              { upTo: null, unitPrice: price(0.6, 0.8), flatFee: price(5, 10) },
            ],
          },
          { usageType: 'IVR', kind: 'PER_UNIT', unitSeconds: 1, tiers: [{ upTo: null, unitPrice: '0.002' }] },
          { usageType: 'CHAT', kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice: price(0.2, 0.5) }] },
        ],
        numberAllotment: 10,
      },
      {
        planId: planIds[2]!,
        version: 1,
        owner: code,
        name: 'Pay as you go',
        currency: profile.currency,
        monthlyFee: '0',
        grants: [],
        commitmentDiscount: null,
        priceModels: ['LCA', 'IVR', 'CHAT'].map((usageType) => ({
          usageType,
          kind: 'PER_UNIT' as const,
          unitSeconds: 60,
          tiers: [{ upTo: null, unitPrice: price(0.5, 1.5) }],
        })),
        numberAllotment: 1,
      },
    );

    const anchors: number[] = [];
    for (let a = 0; a < accounts; a++) {
      const accountId = `${code}-acct-${String(a + 1).padStart(5, '0')}`;
      const subscriptionId = `${code}-sub-${String(a + 1).padStart(5, '0')}`;
      const anchor = ANCHOR_FROM + Math.floor(next() * ANCHOR_DAYS) * DAY + Math.floor(next() * 24) * 3_600_000;
      anchors.push(anchor);
      const withAddOn = next() < 0.2;
      subscriptions.push({
        subscriptionId,
        brand: code,
        accountId,
        planId: pick(planIds),
        planVersion: 1,
        addOnGrants: withAddOn
          ? [{ bucketId: `${subscriptionId}-addon-lca`, usageType: 'LCA', seconds: 60 * pick([100, 250, 500]), priority: 20 }]
          : [],
        anchor: iso(anchor),
        status: 'active',
      });
      const region = pick(profile.regions);
      customers.push({
        accountId,
        brand: code,
        name: `Customer ${a + 1} of ${code}`,
        email: `ap@${accountId}.example`,
        postalAddress: { line1: `${a + 1} Main Street`, line2: null, city: profile.city, region, postalCode: profile.postalCode, country: profile.country },
        country: profile.country,
        region,
        ...(profile.country === 'US' && a % 10 === 9
          ? { exemptions: [{ taxCode: `US-${region}-SALES`, certificateId: `EX-${accountId}`, effectiveFrom: '2025-01-01', reason: 'resale' }] }
          : {}),
        agentId: `${code}-agent-${(a % 5) + 1}`,
        defaultPaymentMethod: { gateway: profile.gateway, customerRef: `cus_${accountId}`, methodRef: `pm_${accountId}`, label: 'Visa ending 4242' },
      });
      for (let n = 0; n < perAccount; n++) {
        const number = nextNumber(profile.prefix);
        const owner = { brand: code, accountId, subscriptionId };
        if (n === 0 && a < reassigned) {
          // Moves to the next account mid-period: calls before REASSIGN_AT are this account's.
          const nextAccount = `${code}-acct-${String(a + 2).padStart(5, '0')}`;
          const nextSubscription = `${code}-sub-${String(a + 2).padStart(5, '0')}`;
          numbers.push({
            number,
            assignments: [
              { assignmentId: `${number}-1`, ...owner, effectiveFrom: iso(anchor), effectiveTo: iso(REASSIGN_AT) },
              {
                assignmentId: `${number}-2`,
                brand: code,
                accountId: nextAccount,
                subscriptionId: nextSubscription,
                effectiveFrom: iso(REASSIGN_AT),
                effectiveTo: null,
              },
            ],
          });
        } else {
          numbers.push({ number, assignments: [{ assignmentId: `${number}-1`, ...owner, effectiveFrom: iso(anchor) }] });
        }
      }
    }
  }
  return { parentCompany, brands, numbers, plans, subscriptions, ratingRules, customers };
}

function rule(
  ruleId: string,
  companyId: string,
  usageType: string,
  freeSeconds: number,
  initial: number,
  main: number,
  unit: 'second' | 'minute',
): RatingRuleEntry {
  return {
    ruleId,
    version: 1,
    companyId,
    usageType,
    effectiveFrom: '2025-01-01T00:00:00Z',
    freeSeconds,
    freeMode: 'grace',
    minimumSeconds: 0,
    initialIncrement: { seconds: initial, rounding: 'up' },
    mainIncrement: { seconds: main, rounding: 'up' },
    unit,
  };
}
