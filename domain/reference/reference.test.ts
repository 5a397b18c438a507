import { readFileSync } from 'node:fs';
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { generateReference, loadReferenceFile, parseReferenceFile, parseInstant, ReferenceTables } from './index.ts';
import type { Plan, RatingRuleRecord, ReferenceData, ReferenceFile } from './index.ts';

const SAMPLE_PATH = new URL('./fixtures/sample-reference.json', import.meta.url);
const sampleFile = (): ReferenceFile => JSON.parse(readFileSync(SAMPLE_PATH, 'utf8')) as ReferenceFile;

function sampleData(): ReferenceData {
  const parsed = parseReferenceFile(sampleFile());
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.error, null, 2));
  return parsed.value;
}

const at = (iso: string) => parseInstant(iso)!;

describe('the sample reference file', () => {
  it('parses, with instants as epoch ms and Avro defaults filled in', async () => {
    const loaded = await loadReferenceFile(SAMPLE_PATH.pathname);
    expect(loaded.ok).toBe(true);
    const data = sampleData();
    expect(data.brands.map((b) => [b.code, b.currency, b.timeZone])).toEqual([
      ['ansr-us', 'USD', 'America/New_York'],
      ['ansr-uk', 'GBP', 'Europe/London'],
      ['lca-ca', 'CAD', 'America/Toronto'],
    ]);
    const sub = data.subscriptions.find((s) => s.subscriptionId === 'sub-us-1002')!;
    expect(sub.anchor).toBe(Date.UTC(2026, 1, 1, 5));
    expect(sub.addOnGrants).toEqual([]);
    expect(sub.trialEndsAt).toBeNull();
    const pro = data.plans.find((p) => p.planId === 'ansr-us-pro')!;
    expect(pro.trialDays).toBe(0);
    // The file may write domain/rating's rounding object; the record is in wire form.
    const chat = data.ratingRules.find((r) => r.ruleId === 'ansr-uk-chat')!;
    expect(chat.mainIncrement).toEqual({ seconds: 60, rounding: 'nearest', tie: 'up' });
    expect(data.ratingRules.find((r) => r.ruleId === 'ansr-us-lca')!.effectiveFrom).toBe(at('2026-01-01T05:00:00Z'));
  });

  it('reports a missing file as an issue, not a throw', async () => {
    const loaded = await loadReferenceFile('/nonexistent/reference.json');
    expect(loaded.ok).toBe(false);
  });
});

describe('parseReferenceFile reports every problem at once', () => {
  it('with a path and a message for each', () => {
    const file = structuredClone(sampleFile()) as unknown as {
      brands: Record<string, unknown>[];
      numbers: { number: string; assignments: Record<string, unknown>[] }[];
      plans: Record<string, unknown>[];
      subscriptions: Record<string, unknown>[];
      ratingRules: Record<string, unknown>[];
    };
    file.brands[1]!['timeZone'] = 'Europe/Londres'; // unknown zone
    file.brands[2]!['currency'] = 'USD'; // lca-ca's plan is in CAD
    file.numbers[0]!.number = '18005550100'; // no +
    file.numbers[2]!.assignments[1]!['effectiveFrom'] = '2026-03-20T15:00:00Z'; // an hour inside the first
    file.subscriptions[1]!['planVersion'] = 7; // ansr-us-pro v7 does not exist
    (file.ratingRules[3]!['mainIncrement'] as Record<string, unknown>)['seconds'] = 0;
    file.plans[0]!['monthlyFee'] = 29; // a float
    file.subscriptions[0]!['anchor'] = '2026-02-30T00:00:00Z';

    const parsed = parseReferenceFile(file);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    const paths = parsed.error.map((issue) => issue.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'brands[1].timeZone',
        'numbers[0].number',
        'numbers[2].assignments[1]',
        'ratingRules[3].mainIncrement.seconds',
        'plans[0].monthlyFee',
        'subscriptions[0].anchor',
        'subscriptions[1].planVersion',
        'plans[4].currency',
        'subscriptions[4].planId',
      ]),
    );
    const message = (path: string) => parsed.error.find((issue) => issue.path === path)?.message;
    expect(message('brands[1].timeZone')).toBe('"Europe/Londres" is not an IANA time zone');
    expect(message('numbers[2].assignments[1]')).toMatch(/overlaps assignments\[0\] \(asg-us-0199-1\)/);
    expect(message('subscriptions[1].planVersion')).toBe('plan ansr-us-pro version 7 is not in the file');
    expect(message('plans[4].currency')).toBe('is CAD, its brand lca-ca bills in USD');
    expect(message('subscriptions[4].planId')).toBe('plan lca-ca-basic v1 is in CAD, brand lca-ca bills in USD');
    expect(message('plans[0].monthlyFee')).toMatch(/money is never a float/);
    expect(parsed.error).toHaveLength(9);
  });

  it('refuses duplicate keys, dangling references and rules selection cannot choose between', () => {
    const file = structuredClone(sampleFile()) as unknown as Record<string, Record<string, unknown>[]>;
    file['brands']!.push({ ...file['brands']![0]! });
    file['numbers']!.push({
      number: '+18005550177',
      assignments: [{ assignmentId: 'x', brand: 'ansr-us', accountId: 'acct-us-1001', subscriptionId: 'sub-nope', effectiveFrom: '2026-01-01T00:00:00Z' }],
    });
    file['ratingRules']!.push({ ...file['ratingRules']![3]!, ruleId: 'ansr-us-lca-copy' });
    const parsed = parseReferenceFile(file);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error).toEqual([
      { path: 'brands[3]', message: 'duplicates brands[0] (key "ansr-us")' },
      { path: 'numbers[7].assignments[0].subscriptionId', message: 'unknown subscription "sub-nope"' },
      {
        path: 'ratingRules[3]',
        message:
          'overlaps ansr-us-lca-copy v1 for ansr-us/LCA with the same version; give one a higher version or disjoint effective dates',
      },
    ]);
  });

  it('refuses text that is not JSON, and an object with the wrong sections', () => {
    expect(parseReferenceFile('{')).toMatchObject({ ok: false, error: [{ path: '' }] });
    const parsed = parseReferenceFile({ parentCompany: '', brands: [], numbers: {}, extra: 1 });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error.map((i) => i.path)).toEqual(['parentCompany', 'extra', 'numbers', 'plans', 'subscriptions', 'ratingRules']);
  });
});

describe('ReferenceTables.resolveNumber', () => {
  const tables = ReferenceTables.fromData(sampleData());
  // +18005550199 moves from acct-us-1001 to acct-us-1002 at 2026-03-20T16:00:00Z.
  it.each([
    ['2026-03-20T15:59:59.000Z', 'asg-us-0199-1', 'acct-us-1001'],
    ['2026-03-20T15:59:59.999Z', 'asg-us-0199-1', 'acct-us-1001'],
    ['2026-03-20T16:00:00.000Z', 'asg-us-0199-2', 'acct-us-1002'],
    ['2026-03-20T16:00:01.000Z', 'asg-us-0199-2', 'acct-us-1002'],
    ['2026-01-15T17:00:00.000Z', 'asg-us-0199-1', 'acct-us-1001'],
  ])('at %s the number belongs to %s', (instant, assignmentId, accountId) => {
    expect(tables.resolveNumber('+18005550199', at(instant))).toMatchObject({ assignmentId, accountId });
  });

  it('finds no owner before the first assignment, after a release, or for an unknown number', () => {
    expect(tables.resolveNumber('+18005550199', at('2026-01-15T16:59:59.999Z'))).toBeUndefined();
    expect(tables.resolveNumber('+18665550101', at('2026-03-10T04:59:59.999Z'))?.assignmentId).toBe('asg-ca-0101-1');
    expect(tables.resolveNumber('+18665550101', at('2026-03-10T05:00:00Z'))).toBeUndefined();
    expect(tables.resolveNumber('+19995550000', at('2026-03-10T05:00:00Z'))).toBeUndefined();
  });

  it('finds the right one of many assignments (binary search)', () => {
    const t = new ReferenceTables('ansr-group');
    const assignments = Array.from({ length: 100 }, (_, i) => ({
      assignmentId: `a${i}`,
      brand: 'ansr-us',
      accountId: `acct-${i}`,
      subscriptionId: `sub-${i}`,
      effectiveFrom: i * 1000,
      effectiveTo: i * 1000 + 500, // a gap of 500 ms after each
    }));
    expect(t.apply('number', '+18005550123', { number: '+18005550123', assignments: [...assignments].reverse() })).toEqual({
      ok: true,
      change: 'upserted',
    });
    expect(t.resolveNumber('+18005550123', 42_000)?.assignmentId).toBe('a42');
    expect(t.resolveNumber('+18005550123', 42_499)?.assignmentId).toBe('a42');
    expect(t.resolveNumber('+18005550123', 42_500)).toBeUndefined();
    expect(t.resolveNumber('+18005550123', 99_499)?.assignmentId).toBe('a99');
  });
});

describe('ReferenceTables.apply (compacted topics)', () => {
  const usPlan: Plan = {
    planId: 'p',
    version: 1,
    owner: 'ansr-us',
    name: 'P',
    currency: 'USD',
    monthlyFee: new Decimal('10'),
    trialDays: 0,
    grants: [{ bucketId: 'b', usageType: 'LCA', seconds: 60, priority: 1 }],
    priceModels: [
      { usageType: 'LCA', kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice: new Decimal('0.5'), flatFee: new Decimal(0) }] },
    ],
    numberAllotment: 0,
    commitmentDiscount: null,
  };

  it('upserts wire records (Decimal amounts), removes on a tombstone, and freezes what it holds', () => {
    const tables = new ReferenceTables('ansr-group');
    expect(tables.apply('plan', 'p:1', usPlan)).toEqual({ ok: true, change: 'upserted' });
    const held = tables.plan('p', 1)!;
    expect(held.monthlyFee).toEqual(new Decimal('10'));
    expect(Object.isFrozen(held.grants[0])).toBe(true);
    expect(tables.planPricing(held)).toEqual({
      currency: 'USD',
      models: { LCA: { kind: 'per_unit', currency: 'USD', unitSeconds: 60, unitPrice: '0.5' } },
    });
    expect(tables.apply('plan', 'p:1', null)).toEqual({ ok: true, change: 'deleted' });
    expect(tables.plan('p', 1)).toBeUndefined();
    expect(tables.apply('plan', 'p:1', null)).toEqual({ ok: true, change: 'unchanged' });
  });

  it('refuses a record whose key is not the message key, or that fails its checks, and keeps the previous value', () => {
    const tables = new ReferenceTables('ansr-group');
    tables.apply('plan', 'p:1', usPlan);
    expect(tables.apply('plan', 'p:2', usPlan)).toMatchObject({ ok: false, code: 'key_mismatch' });
    const broken = { ...usPlan, monthlyFee: 10 } as unknown as Plan;
    const outcome = tables.apply('plan', 'p:1', broken);
    expect(outcome).toMatchObject({ ok: false, code: 'invalid_reference_record', issues: [{ path: 'monthlyFee' }] });
    expect(tables.plan('p', 1)?.monthlyFee).toEqual(new Decimal('10'));
    const overlapping = {
      number: '+18005550100',
      assignments: [
        { assignmentId: 'a', brand: 'x', accountId: 'x', subscriptionId: 'x', effectiveFrom: 0, effectiveTo: null },
        { assignmentId: 'b', brand: 'x', accountId: 'x', subscriptionId: 'x', effectiveFrom: 10, effectiveTo: 20 },
      ],
    };
    expect(tables.apply('number', '+18005550100', overlapping)).toMatchObject({
      ok: false,
      issues: [{ path: 'assignments[1]' }],
    });
  });

  it('builds a rule index per brand once, and again only when its rules change', () => {
    const tables = ReferenceTables.fromData(sampleData());
    const us = tables.ruleIndexFor('ansr-us');
    expect(tables.ruleIndexFor('ansr-us')).toBe(us);
    const uk = tables.ruleIndexFor('ansr-uk');
    const rule = sampleData().ratingRules.find((r) => r.ruleId === 'ansr-us-lca')!;
    const v2: RatingRuleRecord = { ...rule, version: 2, initialIncrement: { seconds: 60, rounding: 'up', tie: null } };
    expect(tables.apply('ratingRule', 'ansr-us-lca:2', v2).ok).toBe(true);
    expect(tables.ruleIndexFor('ansr-us')).not.toBe(us);
    expect(tables.ruleIndexFor('ansr-uk')).toBe(uk); // another brand's index is kept
    const index = tables.ruleIndexFor('ansr-us');
    expect(index.ok && index.value.inForce('ansr-us', 'LCA', at('2026-03-20T14:00:00Z'))?.version).toBe(2);
  });

  it("isolates one brand's conflicting rules from the other brands", () => {
    const tables = ReferenceTables.fromData(sampleData());
    const rule = sampleData().ratingRules.find((r) => r.ruleId === 'ansr-us-lca')!;
    tables.apply('ratingRule', 'ansr-us-lca-twin:1', { ...rule, ruleId: 'ansr-us-lca-twin' });
    expect(tables.ruleIndexFor('ansr-us')).toMatchObject({ ok: false, error: { code: 'invalid_rating_rule' } });
    expect(tables.ruleIndexFor('ansr-uk').ok).toBe(true);
    expect(tables.problems()).toHaveLength(1);
  });

  it('gives the brand product per usage type', () => {
    const tables = ReferenceTables.fromData(sampleData());
    expect(tables.productFor('ansr-uk', 'CHAT')).toBe('ansr-uk-web-chat');
    expect(tables.productFor('ansr-uk', 'IVR')).toBeUndefined();
    expect(tables.productFor('ansr-uk', 'toString')).toBeUndefined();
    expect([...tables.usageTypes()].sort()).toEqual(['CHAT', 'IVR', 'LCA']);
  });

  it('round-trips: a snapshot of tables built from the file holds the same records', () => {
    const data = sampleData();
    const snapshot = ReferenceTables.fromData(data).snapshot();
    expect(snapshot).toEqual(data);
    expect(ReferenceTables.fromData(data).problems()).toEqual([]);
  });
});

describe('generateReference', () => {
  const options = { brands: 20, accountsPerBrand: 20, numbersPerAccount: 150, seed: 7 };
  const file = generateReference(options);

  it('produces a set that passes parseReferenceFile', () => {
    const parsed = parseReferenceFile(file);
    expect(parsed.ok ? [] : parsed.error.slice(0, 5)).toEqual([]);
    expect(file.numbers).toHaveLength(20 * 20 * 150);
    expect(file.subscriptions).toHaveLength(400);
  });

  it('covers several currencies and zones, add-ons, overrides and reassigned numbers', () => {
    expect(new Set(file.brands.map((b) => b.currency)).size).toBeGreaterThanOrEqual(3);
    expect(new Set(file.brands.map((b) => b.timeZone)).size).toBeGreaterThanOrEqual(4);
    expect(file.subscriptions.some((s) => (s.addOnGrants ?? []).length > 0)).toBe(true);
    expect(file.ratingRules.filter((r) => r.companyId !== file.parentCompany).length).toBe(10);
    const moved = file.numbers.filter((n) => n.assignments.length === 2);
    expect(moved).toHaveLength(20 * 3);
    const [first, second] = moved[0]!.assignments;
    expect(first!.accountId).not.toBe(second!.accountId);
    expect(first!.effectiveTo).toBe(second!.effectiveFrom);
  });

  it('is deterministic for a seed', () => {
    const again = generateReference(options);
    expect(JSON.stringify(again)).toBe(JSON.stringify(file));
    expect(JSON.stringify(generateReference({ ...options, seed: 8 }))).not.toBe(JSON.stringify(file));
  });
});

describe('parseInstant', () => {
  it.each([
    ['2026-03-01T05:30:00+05:30', Date.UTC(2026, 2, 1, 0, 0)],
    ['2026-03-01T00:00Z', Date.UTC(2026, 2, 1)],
    ['2026-02-28T23:59:59.5Z', Date.UTC(2026, 1, 28, 23, 59, 59, 500)],
    ['2026-02-30T00:00:00Z', undefined],
    ['2026-03-01T24:00:00Z', undefined],
    ['2026-03-01T00:00:00', undefined],
    ['2026-03-01', undefined],
  ])('%s', (text, expected) => {
    expect(parseInstant(text)).toBe(expected);
  });
});

describe('billing fields and customers', () => {
  const base = JSON.parse(readFileSync(new URL('./fixtures/sample-reference.json', import.meta.url), 'utf8'));

  it('reads a file without the billing fields with their Avro defaults', () => {
    const { customers: _left, ...withoutCustomers } = base;
    const billingFields = ['paymentTermsDays', 'cancellationCredit', 'collectionRetryDays', 'dunningSteps', 'branding', 'commission'];
    withoutCustomers.brands = base.brands.map((b: Record<string, unknown>) => Object.fromEntries(Object.entries(b).filter(([k]) => !billingFields.includes(k))));
    const parsed = parseReferenceFile(withoutCustomers);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
    const brand = parsed.value.brands[0]!;
    expect(brand.paymentTermsDays).toBe(14);
    expect(brand.cancellationCredit).toBe('prorated');
    expect(brand.dunningSteps).toEqual([]);
    expect(brand.branding).toBeNull();
    expect(parsed.value.plans[0]!.commitmentDiscount).toBeNull();
    expect(parsed.value.subscriptions[0]!.planChanges).toEqual([]);
    expect(parsed.value.customers).toEqual([]);
  });

  it('lists every problem of billing fields and customers at once', () => {
    const file = structuredClone(base);
    file.brands[0].dunningSteps = [{ afterDays: 10, action: 'suspend' }, { afterDays: 3, action: 'nag' }];
    file.brands[0].branding = { displayName: 'A', legalName: 'A Ltd', primaryColor: 'blue', accentColor: '#000000', address: { line1: '1 High St', city: 'Leeds', postalCode: 'LS1 1AA', country: 'England' }, supportEmail: 'nope', footer: 'f', locale: 'en-US' };
    file.plans[0].commitmentDiscount = { months: 12, percent: '120' };
    const sub = file.subscriptions[0];
    file.customers = [
      { accountId: sub.accountId, brand: 'no-such-brand', name: 'Acme', email: 'billing@acme.test', country: 'US', defaultPaymentMethod: { gateway: 'stripe', customerRef: 'cus_1', methodRef: '4242 4242 4242 4242', label: 'Visa' } },
    ];
    const parsed = parseReferenceFile(file);
    expect(parsed.ok).toBe(false);
    const paths = parsed.ok ? [] : parsed.error.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'brands[0].dunningSteps[1].afterDays',
        'brands[0].dunningSteps[1].action',
        'brands[0].branding.primaryColor',
        'brands[0].branding.supportEmail',
        'brands[0].branding.address.country',
        'plans[0].commitmentDiscount.percent',
        'customers[0].brand',
        'customers[0].defaultPaymentMethod.methodRef',
      ]),
    );
  });

  it('keeps customers in the tables under their account id and checks plan changes against the current plan', () => {
    const tables = new ReferenceTables('ansr-group');
    const customer = {
      accountId: 'acct-1', brand: 'ansr-us', externalId: null, name: 'Acme', email: 'ap@acme.test', postalAddress: { line1: '1 Main St', line2: null, city: 'Albany', region: 'NY', postalCode: '12207', country: 'US' },
      country: 'US', region: 'NY', taxIds: [], exemptions: [{ taxCode: 'US-NY', certificateId: 'EX-1', effectiveFrom: '2026-01-01', effectiveTo: null, reason: 'resale' }],
      agentId: 'agent-7', defaultPaymentMethod: { gateway: 'stripe', customerRef: 'cus_9', methodRef: 'pm_9', label: 'Visa ending 4242' },
    };
    expect(tables.apply('customer', 'acct-1', customer)).toEqual({ ok: true, change: 'upserted' });
    expect(tables.customer('acct-1')?.region).toBe('NY');
    expect(tables.counts.customer).toBe(1);
    const file = structuredClone(base);
    const sub = file.subscriptions[0];
    sub.planChanges = [{ at: '2026-01-10T00:00:00Z', fromPlanId: sub.planId, fromPlanVersion: sub.planVersion, toPlanId: 'other', toPlanVersion: 1 }];
    const parsed = parseReferenceFile(file);
    const messages = parsed.ok ? [] : parsed.error.map((i) => `${i.path}: ${i.message}`);
    expect(messages.some((m) => m.startsWith('subscriptions[0].planChanges[0]:') && m.includes('current plan'))).toBe(true);
    expect(messages.some((m) => m.startsWith('subscriptions[0].planChanges[0].toPlanVersion'))).toBe(true);
  });
});
