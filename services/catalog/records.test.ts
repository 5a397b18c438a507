import { describe, expect, it } from 'vitest';
import { avroType, loadSchema } from '../../runtime/serde.ts';
import { topics } from '../../topics/catalog.ts';
import {
  addMonths,
  brandRecord,
  customerRecord,
  lifecycleMessage,
  numberRecord,
  planRecord,
  ratingRuleRecord,
  recordProblems,
  referenceMessage,
  subscriptionRecord,
  type BrandData,
  type CustomerData,
  type PlanData,
  type RatingRuleData,
  type SubscriptionData,
} from './records.ts';

const brand: BrandData = {
  code: 'ansr-us', parentCompany: 'ansr-group', name: 'AnswerNet US', country: 'US', currency: 'USD', timeZone: 'America/New_York', billingHour: 2,
  taxRegime: 'us_sales_tax', gateway: 'stripe', roundingMode: 'half_up', usageProducts: { LCA: 'lca' }, paymentTermsDays: 14, cancellationCredit: 'prorated', creditAtCancellation: 'refund',
  collectionRetryDays: [3, 7], dunningSteps: [{ afterDays: 10, action: 'reminder' }, { afterDays: 30, action: 'suspend' }],
  branding: { displayName: 'AnswerNet', legalName: 'AnswerNet LLC', logoSvg: null, primaryColor: '#0b5394', accentColor: '#f1c232', address: { line1: '1 Main St', line2: null, city: 'Albany', region: 'NY', postalCode: '12207', country: 'US' }, supportEmail: 'help@answernet.example', footer: 'Thank you', locale: 'en-US' },
  commission: { initialPercent: '20', initialPeriods: 12, recurringPercent: '5.5' },
  lifecycle: { suspend: { from: [] } },
};
const plan: PlanData = {
  planId: 'answering-100', version: 2, owner: 'ansr-us', name: 'Answering 100', currency: 'USD', monthlyFee: '49.00', trialDays: 14,
  grants: [{ bucketId: 'lca-100', usageType: 'LCA', seconds: 6000, priority: 1 }],
  priceModels: [{ usageType: 'LCA', kind: 'GRADUATED', unitSeconds: 60, tiers: [{ upTo: 100, unitPrice: '0.95', flatFee: '0' }, { upTo: null, unitPrice: '0.85', flatFee: '0' }] }],
  numberAllotment: 2, commitmentDiscount: { months: 12, percent: '10' },
};
const customer: CustomerData = {
  accountId: 'acc-1', brand: 'ansr-us', externalId: 'legacy-1', name: 'Acme', email: 'billing@acme.example', postalAddress: { line1: '1 Main St', line2: null, city: 'Albany', region: 'NY', postalCode: '12207', country: 'US' },
  country: 'US', region: 'NY', taxIds: [{ type: 'us_ein', value: '12-3456789' }], exemptions: [{ taxCode: 'US-NY', certificateId: 'c1', effectiveFrom: '2026-01-01', effectiveTo: null, reason: 'nonprofit' }],
  agentId: 'agent-7', defaultPaymentMethod: { gateway: 'stripe', customerRef: 'cus_1', methodRef: 'pm_1', label: 'Visa ending 4242' },
};
const subscription: SubscriptionData = {
  subscriptionId: 'sub-1', brand: 'ansr-us', accountId: 'acc-1', planId: 'answering-100', planVersion: 2, addOnGrants: [], anchor: '2026-01-31T15:00:00.000Z', status: 'active',
  trialEndsAt: null, cancelledAt: null, commitment: { months: 12, startsAt: '2026-01-31T15:00:00.000Z', endsAt: '2027-01-31T15:00:00.000Z' },
  planChanges: [{ at: '2026-02-10T00:00:00.000Z', fromPlanId: 'answering-100', fromPlanVersion: 1, toPlanId: 'answering-100', toPlanVersion: 2 }],
};
const rule: RatingRuleData = {
  ruleId: 'us-lca', version: 1, companyId: 'ansr-us', usageType: 'LCA', effectiveFrom: '2026-01-01T00:00:00.000Z', effectiveTo: null, freeSeconds: 0, freeMode: 'grace',
  minimumSeconds: 0, initialIncrement: { seconds: 60, rounding: 'up', tie: null }, mainIncrement: { seconds: 6, rounding: 'up', tie: null }, unit: 'second',
};

describe('ref records made by the catalogue', () => {
  const cases = [
    ['brand', brandRecord(brand), 'ref.brands'],
    ['plan', planRecord(plan), 'ref.plans'],
    ['customer', customerRecord(customer), 'ref.customers'],
    ['subscription', subscriptionRecord(subscription), 'ref.subscriptions'],
    ['ratingRule', ratingRuleRecord(rule), 'ref.rating-rules'],
    ['number', numberRecord('+18005550100', [{ assignmentId: '+18005550100#1', brand: 'ansr-us', accountId: 'acc-1', subscriptionId: 'sub-1', effectiveFrom: 1, effectiveTo: null }]), 'ref.numbers'],
  ] as const;

  it.each(cases)('a %s passes domain/reference and round-trips through its Avro schema', (kind, record, schema) => {
    expect(recordProblems(kind, record as never)).toEqual([]);
    const message = referenceMessage(kind, record as never, 3, 'ansr-us');
    expect(message.schema).toBe(schema);
    // Through JSON, as the outbox stores it.
    const payload = JSON.parse(JSON.stringify(message.payload)) as unknown;
    const type = avroType(loadSchema(schema));
    const decoded = type.fromBuffer(type.toBuffer(payload)) as Record<string, unknown>;
    expect(recordProblems(kind, decoded as never)).toEqual([]);
  });

  it('keys records by their natural keys, with deterministic event ids', () => {
    expect(referenceMessage('plan', planRecord(plan), 1, 'ansr-us')).toMatchObject({ key: 'answering-100:2', eventId: 'plan:answering-100:2:1', topic: topics.refPlans.name });
    expect(referenceMessage('customer', customerRecord(customer), 4, 'ansr-us')).toMatchObject({ key: 'acc-1', eventId: 'customer:acc-1:4', topic: topics.refCustomers.name });
  });

  it('makes account.lifecycle events keyed by account that the schema takes', () => {
    const message = lifecycleMessage({ eventId: 'lifecycle:sub-1:2:cancelled', brand: 'ansr-us', accountId: 'acc-1', subscriptionId: 'sub-1', action: 'cancelled', reason: 'customer_request', invoiceId: null, effectiveAt: 5 });
    expect(message).toMatchObject({ topic: topics.accountLifecycle.name, key: 'acc-1' });
    const type = avroType(loadSchema(message.schema));
    expect(type.fromBuffer(type.toBuffer(message.payload))).toMatchObject({ action: 'cancelled', effectiveAt: 5 });
  });

  it("counts commitment months in the brand's zone, clamped to the month's end", () => {
    expect(addMonths('2026-01-31T15:00:00Z', 1, 'America/New_York')).toBe('2026-02-28T15:00:00.000Z');
    expect(addMonths('2026-01-31T15:00:00Z', 12, 'America/New_York')).toBe('2027-01-31T15:00:00.000Z');
    // Across the DST change the local time stays 10:00.
    expect(addMonths('2026-03-01T15:00:00Z', 1, 'America/New_York')).toBe('2026-04-01T14:00:00.000Z');
  });
});
