import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { buildInvoice } from '../invoicing/index.ts';
import type { Brand, Customer, Plan, Subscription } from '../reference/index.ts';
import { BuiltinTaxEngine } from '../tax/index.ts';
import { assembleInvoiceInput, billingKey, dueBillings, planInForce } from './index.ts';
import type { StoredCharge } from './index.ts';

const d = (v: string) => new Decimal(v);
const brand: Brand = {
  code: 'lca-ca', parentCompany: 'g', name: 'LCA Canada', country: 'CA', currency: 'CAD', timeZone: 'America/Toronto', billingHour: 2,
  taxRegime: 'ca_gst_hst_pst_qst', gateway: 'stripe', roundingMode: 'half_up', usageProducts: {}, paymentTermsDays: 14,
  cancellationCredit: 'prorated', creditAtCancellation: 'pay_out', collectionRetryDays: [], dunningSteps: [], branding: null, commission: null,
};
const plan = (planId: string, fee: string): Plan => ({
  planId, version: 1, owner: 'lca-ca', name: planId, currency: 'CAD', monthlyFee: d(fee), trialDays: 0, grants: [],
  priceModels: [{ usageType: 'LCA', kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice: d('0.50'), flatFee: d('0') }] }],
  numberAllotment: 5, commitmentDiscount: null,
});
const plans = new Map([['basic:1', plan('basic', '40.00')], ['plus:1', plan('plus', '70.00')]]);
const lookup = (id: string, v: number) => plans.get(`${id}:${v}`);
// 2026-03-01 00:00 in Toronto (EST, UTC-5): anniversaries on the 1st.
const anchor = Date.UTC(2026, 2, 1, 5);
const subscription: Subscription = {
  subscriptionId: 'sub-1', brand: 'lca-ca', accountId: 'acct-1', planId: 'basic', planVersion: 1, addOnGrants: [], anchor,
  status: 'active', trialEndsAt: null, cancelledAt: null, commitment: null, planChanges: [], billingPausedAt: null,
};
const customer: Customer = {
  accountId: 'acct-1', brand: 'lca-ca', externalId: null, name: 'Maple', email: 'ap@maple.example', postalAddress: null, country: 'CA',
  region: 'ON', taxIds: [], exemptions: [], agentId: null, defaultPaymentMethod: null,
};
const charge = (eventId: string, seconds: number, amount: string): StoredCharge => ({
  eventId, usageType: 'LCA', billableSeconds: seconds, includedSeconds: 0, overageSeconds: seconds, amount: d(amount),
  tiers: [{ tier: 1, seconds, unitPrice: d('0.50'), flatFee: d('0'), amount: d(amount) }],
});

/** The April anniversary: period 1's fee in advance, March's usage in arrears. */
function aprilBilling(s: Subscription) {
  const due = dueBillings({ brand, subscriptions: [s], now: new Date('2026-04-01T12:00:00Z'), invoiced: new Set([billingKey(s.subscriptionId, 0)]) });
  expect(due.due.map((b) => b.periodIndex)).toEqual([1]);
  return due.due[0]!;
}

describe('assembleInvoiceInput', () => {
  it('bills the fee, the usage tiers and a carried re-rating difference, taxed in Ontario', () => {
    const billing = aprilBilling(subscription);
    const assembled = assembleInvoiceInput({
      billing, brand, subscription, plans: lookup, customer, issuedAt: billing.dueAt,
      // 120 s and 90 s at 0.50 a minute: 1.00 and 0.75.
      charges: [charge('e1', 120, '1.00'), charge('e2', 90, '0.75')],
      carried: [{ reason: 'rerating', usageType: 'LCA', periodStart: new Date(Date.UTC(2026, 1, 1, 5)), periodEnd: new Date(anchor), ratingVersion: 2, amount: d('-0.30'), records: 3 }],
    });
    if (!assembled.ok) throw new Error(assembled.problem.message);
    const invoice = buildInvoice({ ...assembled.input, taxEngine: new BuiltinTaxEngine() });
    // 40.00 + 1.75 - 0.30 = 41.45; HST 13%: 5.3885 -> 5.39 (half up); total 46.84.
    expect(invoice.lines.map((l) => [l.kind, l.amount.toFixed(2)])).toEqual([
      ['subscription_fee', '40.00'],
      ['usage', '1.75'],
      ['adjustment', '-0.30'],
    ]);
    expect(invoice.subtotal.toFixed(2)).toBe('41.45');
    expect(invoice.taxes.map((t) => [t.taxCode, t.amount.toFixed(2)])).toEqual([['CA-ON-HST', '5.39']]);
    expect(invoice.total.toFixed(2)).toBe('46.84');
    expect(invoice.usageSummaries[0]).toMatchObject({ usageType: 'LCA', calls: 2 });
    expect(invoice.usageSummaries[0]!.overageUnits.toFixed(2)).toBe('3.50');
    // The adjustment names the brand-local dates of the period it corrects.
    expect(invoice.lines[2]!.description).toContain('2026-02-01 to 2026-02-28');
  });

  it('takes the plan in force when the period starts, and prorates a change within the period billed in arrears', () => {
    const changeAt = Date.UTC(2026, 2, 16, 4); // 16 March 00:00 EDT
    const changed: Subscription = { ...subscription, planId: 'plus', planVersion: 1, planChanges: [{ at: changeAt, fromPlanId: 'basic', fromPlanVersion: 1, toPlanId: 'plus', toPlanVersion: 1 }] };
    expect(planInForce(changed, changeAt - 1)).toEqual({ planId: 'basic', version: 1 });
    expect(planInForce(changed, changeAt)).toEqual({ planId: 'plus', version: 1 });
    const billing = aprilBilling(changed);
    const assembled = assembleInvoiceInput({ billing, brand, subscription: changed, plans: lookup, customer, issuedAt: billing.dueAt, charges: [], carried: [] });
    if (!assembled.ok) throw new Error(assembled.problem.message);
    expect(assembled.input.plan.planId).toBe('plus');
    expect(assembled.input.planChanges.map((c) => [c.from.planId, c.to.planId, c.at.getTime()])).toEqual([['basic', 'plus', changeAt]]);
  });

  it('bills no fee for a period that starts while billing is paused (a suspension), but still the usage', () => {
    const paused: Subscription = { ...subscription, status: 'suspended', billingPausedAt: Date.UTC(2026, 2, 20) };
    const billing = aprilBilling(paused);
    const assembled = assembleInvoiceInput({ billing, brand, subscription: paused, plans: lookup, customer, issuedAt: billing.dueAt, charges: [charge('e1', 120, '1.00'), charge('e2', 90, '0.75')], carried: [] });
    if (!assembled.ok) throw new Error(assembled.problem.message);
    const invoice = buildInvoice({ ...assembled.input, taxEngine: new BuiltinTaxEngine() });
    // Usage 1.75 only; HST 13%: 0.2275 -> 0.23; total 1.98.
    expect(invoice.lines.map((l) => [l.kind, l.amount.toFixed(2)])).toEqual([['usage', '1.75']]);
    expect(invoice.total.toFixed(2)).toBe('1.98');
  });

  it('holds a billing whose customer or plan is not known, saying which', () => {
    const billing = aprilBilling(subscription);
    const noCustomer = assembleInvoiceInput({ billing, brand, subscription, plans: lookup, customer: undefined, issuedAt: billing.dueAt, charges: [], carried: [] });
    expect(noCustomer).toMatchObject({ ok: false, problem: { code: 'customer_missing' } });
    const noPlan = assembleInvoiceInput({ billing, brand, subscription, plans: () => undefined, customer, issuedAt: billing.dueAt, charges: [], carried: [] });
    expect(noPlan).toMatchObject({ ok: false, problem: { code: 'plan_missing' } });
  });
});
