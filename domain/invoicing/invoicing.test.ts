import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { priceUsage } from '../pricing/index.ts';
import type { PriceModel } from '../pricing/index.ts';
import type { UsageCharge } from '../drawdown/index.ts';
import { nthPeriod } from '../periods/index.ts';
import { BuiltinTaxEngine } from '../tax/index.ts';
import type { CustomerTaxContext } from '../tax/index.ts';
import { InvoicingError, buildInvoice, draftInvoice, summarizeUsage } from './index.ts';
import type { BillingBrand, BillingPlan, BillingSubscription, Invoice, InvoiceBuildInput } from './index.ts';

// Every expected amount below is worked by hand in the comment above it. Periods are in
// June 2026 (30 days, no DST change in North America or the UK): 30 × 86,400 = 2,592,000 s.
// The subscription is anchored on 2026-05-01, so period 1 is June and the invoice issued on
// the anniversary of 2026-07-01 (period 2) bills July in advance and June in arrears.

const engine = new BuiltinTaxEngine();

const US: BillingBrand = {
  code: 'ANSR-US', country: 'US', currency: 'USD', timeZone: 'America/New_York', roundingMode: 'half_up',
  taxRegime: 'us_sales_tax', cancellationCredit: 'prorated', paymentTermsDays: 14,
};
const CA: BillingBrand = { ...US, code: 'ANSR-CA', country: 'CA', currency: 'CAD', timeZone: 'America/Toronto', taxRegime: 'ca_gst_hst_pst_qst' };
const UK: BillingBrand = { ...US, code: 'ANSR-UK', country: 'GB', currency: 'GBP', timeZone: 'Europe/London', roundingMode: 'half_even', taxRegime: 'uk_vat' };

const basic: BillingPlan = { planId: 'basic', version: 1, name: 'Basic', monthlyFee: '49.99', commitmentDiscount: { months: 12, percent: '10' } };
const pro: BillingPlan = { planId: 'pro', version: 1, name: 'Pro', monthlyFee: '99.00', commitmentDiscount: null };
const ukPlan: BillingPlan = { planId: 'uk-basic', version: 1, name: 'Basic UK', monthlyFee: '39.99', commitmentDiscount: null };

const sub: BillingSubscription = {
  subscriptionId: 'sub-1', accountId: 'acct-1', anchor: '2026-05-01', trialEndsAt: null, cancelledAt: null, commitment: null,
};

const customer = (country: string, region: string | null, extra: Partial<CustomerTaxContext> = {}): CustomerTaxContext => ({
  country, region, taxIds: [], exemptions: [], ...extra,
});

/** The input of the 2026-07-01 invoice (period 2), issued at 02:00 local. */
function input(brand: BillingBrand, overrides: Partial<InvoiceBuildInput> = {}): InvoiceBuildInput {
  const subscription = overrides.subscription ?? sub;
  const period = overrides.period ?? nthPeriod(subscription.anchor, 2, brand.timeZone);
  return {
    brand,
    subscription,
    plan: basic,
    period,
    issuedAt: new Date(period.start.getTime() + 2 * 3600_000),
    usage: [],
    adjustments: [],
    planChanges: [],
    customerTax: customer('US', 'OR'), // Oregon: no sales tax
    taxEngine: engine,
    ...overrides,
  };
}

/** The invoice as plain strings, to compare with hand-worked cents. */
function cents(invoice: Invoice) {
  return {
    lines: invoice.lines.map((l) => [l.lineId, l.amount.toFixed(2)]),
    taxes: invoice.taxes.map((t) => [t.taxCode, t.amount.toFixed(2)]),
    subtotal: invoice.subtotal.toFixed(2),
    taxTotal: invoice.taxTotal.toFixed(2),
    total: invoice.total.toFixed(2),
  };
}

describe('buildInvoice, hand-worked cents', () => {
  it('a trial that ends mid-month: nothing during the trial, then the rest of the month prorated', () => {
    // Anchored 2026-06-01 with a trial to 2026-06-11 00:00 New York (EDT, UTC-4).
    const trial: BillingSubscription = { ...sub, anchor: '2026-06-01', trialEndsAt: new Date('2026-06-11T04:00:00Z') };
    // Opening invoice (period 0, June): in trial at its start, so no fee, nothing at all.
    const opening = buildInvoice(input(US, { subscription: trial, period: nthPeriod('2026-06-01', 0, US.timeZone) }));
    expect(cents(opening)).toEqual({ lines: [], taxes: [], subtotal: '0.00', taxTotal: '0.00', total: '0.00' });
    // 2026-07-01 invoice: June after the trial, Jun 11 to Jul 1 = 20 days = 1,728,000 of 2,592,000 s = 2/3.
    //   49.99 × 2/3 = 99.98 / 3 = 33.326666… (kept exact) → 33.33
    // July in advance: 49.99. Subtotal 33.33 + 49.99 = 83.32; Oregon: no tax.
    const invoice = buildInvoice(input(US, { subscription: trial, period: nthPeriod('2026-06-01', 1, US.timeZone) }));
    expect(cents(invoice)).toEqual({
      lines: [['fee', '49.99'], ['proration:trial-end', '33.33']],
      taxes: [], subtotal: '83.32', taxTotal: '0.00', total: '83.32',
    });
    // Exact, not cut at 6 decimals: three times it is 99.98 to 40 decimals.
    expect(invoice.lines[1]!.unroundedAmount.times(3).toDecimalPlaces(40).toFixed()).toBe('99.98');
    expect(invoice.lines[1]!.periodStart.toISOString()).toBe('2026-06-11T04:00:00.000Z');
    // Upgraded to Pro at the very instant the trial ends: Basic's trial-end charge is given
    // back and Pro charged for the same 20 days.
    //   trial end on Basic 33.33; credit −33.326667 → −33.33; Pro 99.00 × 2/3 = 66.00.
    //   July on Pro 99.00. Subtotal 99.00 + 33.33 − 33.33 + 66.00 = 165.00.
    const upgraded = buildInvoice(input(US, {
      subscription: trial, period: nthPeriod('2026-06-01', 1, US.timeZone), plan: pro,
      planChanges: [{ at: new Date('2026-06-11T04:00:00Z'), from: basic, to: pro }],
    }));
    expect(cents(upgraded)).toMatchObject({
      lines: [['fee', '99.00'], ['proration:trial-end', '33.33'], ['proration:change-1:credit', '-33.33'], ['proration:change-1:charge', '66.00']],
      subtotal: '165.00',
    });
  });

  it('the 12-month commitment discount is its own line; New York tax on the unrounded lines', () => {
    const committed: BillingSubscription = {
      ...sub, commitment: { months: 12, startsAt: new Date('2026-05-01T04:00:00Z'), endsAt: new Date('2027-05-01T04:00:00Z') },
    };
    // fee 49.99; discount 10% = −4.999 → −5.00 (half_up). Lines 49.99 − 5.00 = 44.99.
    // NY 4% on the unrounded lines: (49.99 − 4.999) × 0.04 = 44.991 × 0.04 = 1.79964 → 1.80.
    // Total 44.99 + 1.80 = 46.79.
    const invoice = buildInvoice(input(US, { subscription: committed, customerTax: customer('US', 'NY') }));
    expect(cents(invoice)).toEqual({
      lines: [['fee', '49.99'], ['discount', '-5.00']],
      taxes: [['US-NY-SALES', '1.80']], subtotal: '44.99', taxTotal: '1.80', total: '46.79',
    });
    expect(invoice.taxes[0]!.taxableAmount.toFixed()).toBe('44.991');
    // After the 12 months (anniversary 2027-05-01 is period 12), no discount line.
    const later = buildInvoice(input(US, { subscription: committed, period: nthPeriod('2026-05-01', 12, US.timeZone), customerTax: customer('US', 'NY') }));
    expect(later.lines.map((l) => l.lineId)).toEqual(['fee']);
  });

  it('tiered overage: one line per tier, the usage summary equals its tier lines', () => {
    // Graduated per minute: up to 100 min at 0.05, up to 500 min at 0.0375, then 0.025.
    const model: PriceModel = {
      kind: 'graduated', currency: 'USD', unitSeconds: 60,
      tiers: [{ upTo: 100, unitPrice: '0.05' }, { upTo: 500, unitPrice: '0.0375' }, { upTo: null, unitPrice: '0.025' }],
    };
    // Two calls with overage 6,600 s (110 min) and 8,430 s (140.5 min); 500 min were included.
    const first = priceUsage(model, 0, 6600);
    const second = priceUsage(model, 6600, 8430);
    const charge = (cdrId: string, overage: number, included: number, priced: typeof first): UsageCharge => ({
      cdrId, sequence: 1, usageType: 'TOLLFREE', billableSeconds: overage + included, includedSeconds: included, overageSeconds: overage,
      draws: [], exhausted: [], currency: 'USD', amount: priced.amount, lines: priced.lines,
    });
    const usage = summarizeUsage([charge('c1', 6600, 30000, first), charge('c2', 8430, 0, second)]);
    // Tier 1: 6,000 s = 100 min × 0.05 = 5.00.
    // Tier 2: 600 + 8,430 = 9,030 s = 150.5 min × 0.0375 = 5.64375 → 5.64.
    // July fee 49.99. Subtotal 49.99 + 5.00 + 5.64 = 60.63. Oregon: no tax.
    const invoice = buildInvoice(input(US, { usage }));
    expect(cents(invoice)).toEqual({
      lines: [['fee', '49.99'], ['usage:TOLLFREE:t1', '5.00'], ['usage:TOLLFREE:t2', '5.64']],
      taxes: [], subtotal: '60.63', taxTotal: '0.00', total: '60.63',
    });
    expect(invoice.lines.map((l) => l.quantity.toFixed())).toEqual(['1', '100', '150.5']);
    const summary = invoice.usageSummaries[0]!;
    // 30,000 + 15,030 = 45,030 s = 750.5 min billable, 500 included, 250.5 overage; 5.00 + 5.64 = 10.64.
    expect([summary.calls, summary.billableUnits.toFixed(), summary.includedUnits.toFixed(), summary.overageUnits.toFixed(), summary.amount.toFixed(2)])
      .toEqual([2, '750.5', '500', '250.5', '10.64']);
  });

  it('an upgrade mid-period credits the unused old fee and charges the new one for the rest', () => {
    // Basic → Pro on 2026-06-16 00:00 New York: Jun 16 to Jul 1 = 15 days = 1,296,000 of 2,592,000 s = 1/2.
    //   credit −49.99 / 2 = −24.995 → −25.00 (half_up: ties away from zero)
    //   charge  99.00 / 2 =  49.50
    // July in advance on Pro: 99.00. Subtotal 99.00 − 25.00 + 49.50 = 123.50.
    const invoice = buildInvoice(input(US, {
      plan: pro,
      planChanges: [{ at: new Date('2026-06-16T04:00:00Z'), from: basic, to: pro }],
    }));
    expect(cents(invoice)).toEqual({
      lines: [['fee', '99.00'], ['proration:change-1:credit', '-25.00'], ['proration:change-1:charge', '49.50']],
      taxes: [], subtotal: '123.50', taxTotal: '0.00', total: '123.50',
    });
  });

  it('states each plan change of the period just ended in words, on the brand-local date (a plan swap); none without one', () => {
    // 2026-06-16T04:00Z is midnight of June 16 in New York.
    const changed = buildInvoice(input(US, { plan: pro, planChanges: [{ at: new Date('2026-06-16T04:00:00Z'), from: basic, to: pro }] }));
    expect(changed.notes).toEqual(['Plan changed from Basic to Pro from 2026-06-16']);
    expect(buildInvoice(input(US)).notes).toEqual([]);
  });

  it('a cancellation mid-period credits the unused part, or not, by the brand\'s policy', () => {
    // Cancelled 2026-06-21 00:00 New York: Jun 21 to Jul 1 = 10 days = 864,000 of 2,592,000 s = 1/3.
    //   credit −49.99 / 3 = −16.663333… → −16.66. No July fee.
    const cancelled: BillingSubscription = { ...sub, cancelledAt: new Date('2026-06-21T04:00:00Z') };
    const prorated = buildInvoice(input(US, { subscription: cancelled }));
    expect(cents(prorated)).toEqual({
      lines: [['proration:cancellation', '-16.66']], taxes: [], subtotal: '-16.66', taxTotal: '0.00', total: '-16.66',
    });
    // A brand with no cancellation credit: nothing to bill.
    const none = buildInvoice(input({ ...US, cancellationCredit: 'none' }, { subscription: cancelled }));
    expect(cents(none)).toEqual({ lines: [], taxes: [], subtotal: '0.00', taxTotal: '0.00', total: '0.00' });
  });

  it('a cancellation credit is the exact value rounded once, not a value cut to 6 decimals first', () => {
    // Cancelled 2026-06-10 07:19 New York (11:19Z): to Jul 1 04:00Z = 20 d 16 h 41 min = 1,788,060 s of 2,592,000.
    //   49.99 × 1,788,060 / 2,592,000 = 89,385,119.4 / 2,592,000 = 34.4849997685… → −34.48 (half_up; the third decimal is 4).
    //   Cut to 6 decimals first it would be 34.485000 and round to −34.49: a cent too much given back.
    const cancelled: BillingSubscription = { ...sub, cancelledAt: new Date('2026-06-10T11:19:00Z') };
    const invoice = buildInvoice(input(US, { subscription: cancelled }));
    expect(cents(invoice)).toEqual({
      lines: [['proration:cancellation', '-34.48']], taxes: [], subtotal: '-34.48', taxTotal: '0.00', total: '-34.48',
    });
    expect(invoice.lines[0]!.unroundedAmount.toFixed(10)).toBe('-34.4849997685');
  });

  it('a re-rating adjustment and late usage are signed lines', () => {
    // Re-rating of May: −1.2375 → −1.24 (half_up, away from zero); late May usage 0.415 → 0.42.
    // July fee 49.99. Subtotal 49.99 − 1.24 + 0.42 = 49.17.
    const may = nthPeriod('2026-05-01', 0, US.timeZone);
    const invoice = buildInvoice(input(US, {
      adjustments: [
        { adjustmentId: 'rerate:v2:2026-05', reason: 'rerating', usageType: 'TOLLFREE', description: 'Re-rating of May (version 2)', amount: new Decimal('-1.2375'), periodStart: may.start, periodEnd: may.end },
        { adjustmentId: 'late:2026-05', reason: 'late_usage', usageType: 'TOLLFREE', description: 'Late May usage', amount: new Decimal('0.415'), periodStart: may.start, periodEnd: may.end },
      ],
    }));
    expect(cents(invoice)).toEqual({
      lines: [['fee', '49.99'], ['adjustment:late:2026-05', '0.42'], ['adjustment:rerate:v2:2026-05', '-1.24']],
      taxes: [], subtotal: '49.17', taxTotal: '0.00', total: '49.17',
    });
  });

  it('an adjustment that nets to 0.00 is no line; one that rounds to a cent is', () => {
    // Re-rating that moved money between calls: 0 → no line. Late usage 0.004 → 0.00 (half_up) → no line.
    // Re-rating 0.005 → 0.01 (half_up, a tie away from zero) → a line. July fee 49.99; subtotal 50.00.
    const may = nthPeriod('2026-05-01', 0, US.timeZone);
    const adjustment = (adjustmentId: string, amount: string) => ({
      adjustmentId, reason: 'rerating' as const, usageType: 'TOLLFREE', description: adjustmentId, amount: new Decimal(amount), periodStart: may.start, periodEnd: may.end,
    });
    const invoice = buildInvoice(input(US, { adjustments: [adjustment('moved', '0'), adjustment('tiny', '0.004'), adjustment('cent', '0.005')] }));
    expect(cents(invoice)).toEqual({
      lines: [['fee', '49.99'], ['adjustment:cent', '0.01']], taxes: [], subtotal: '50.00', taxTotal: '0.00', total: '50.00',
    });
    // Rounded down by the brand's rule, 0.005 is 0.00 too: no line.
    const down = buildInvoice(input({ ...US, roundingMode: 'down' }, { adjustments: [adjustment('cent', '0.005')] }));
    expect(down.lines.map((l) => l.lineId)).toEqual(['fee']);
  });

  it('a customer in Ontario pays HST 13%', () => {
    // 49.99 × 0.13 = 6.4987 → 6.50. Total 49.99 + 6.50 = 56.49 CAD.
    const invoice = buildInvoice(input(CA, { customerTax: customer('CA', 'ON') }));
    expect(cents(invoice)).toEqual({
      lines: [['fee', '49.99']], taxes: [['CA-ON-HST', '6.50']], subtotal: '49.99', taxTotal: '6.50', total: '56.49',
    });
    expect(invoice.currency).toBe('CAD');
    expect(invoice.taxes[0]!.jurisdiction).toBe('CA-ON');
  });

  it('a customer in Quebec pays GST 5% and QST 9.975%, each on the pre-tax amount', () => {
    // GST 49.99 × 0.05 = 2.4995 → 2.50 (half_up).
    // QST 49.99 × 0.09975 = 4.9865025 → 4.99 (on the amount with GST it would be 5.24: not so since 2013).
    // Total 49.99 + 2.50 + 4.99 = 57.48 CAD.
    const invoice = buildInvoice(input(CA, { customerTax: customer('CA', 'QC') }));
    expect(cents(invoice)).toEqual({
      lines: [['fee', '49.99']], taxes: [['CA-GST', '2.50'], ['CA-QC-QST', '4.99']], subtotal: '49.99', taxTotal: '7.49', total: '57.48',
    });
  });

  it('a UK customer pays VAT 20%; a business customer in France is reverse charged', () => {
    // 39.99 × 0.20 = 7.998 → 8.00. Total 47.99 GBP.
    const uk = buildInvoice(input(UK, { plan: ukPlan, customerTax: customer('GB', null) }));
    expect(cents(uk)).toEqual({
      lines: [['fee', '39.99']], taxes: [['GB-VAT', '8.00']], subtotal: '39.99', taxTotal: '8.00', total: '47.99',
    });
    // France, with an EU VAT id: a zero VAT line naming the reverse charge. Total 39.99.
    const fr = buildInvoice(input(UK, { plan: ukPlan, customerTax: customer('FR', null, { taxIds: [{ type: 'eu_vat', value: 'FR40303265045' }] }) }));
    expect(cents(fr)).toEqual({
      lines: [['fee', '39.99']], taxes: [['GB-VAT', '0.00']], subtotal: '39.99', taxTotal: '0.00', total: '39.99',
    });
    expect(fr.taxes[0]!.exemption).toMatchObject({ kind: 'reverse_charge', reference: 'FR40303265045' });
  });

  it('a US customer in a taxed state (Texas 6.25%), and one exempt by certificate', () => {
    // 49.99 × 0.0625 = 3.124375 → 3.12. Total 53.11.
    const taxed = buildInvoice(input(US, { customerTax: customer('US', 'TX') }));
    expect(cents(taxed)).toEqual({
      lines: [['fee', '49.99']], taxes: [['US-TX-SALES', '3.12']], subtotal: '49.99', taxTotal: '3.12', total: '53.11',
    });
    // Exempt (certificate TX-EX-0042 from 2026-01-01): a zero line that names the certificate. Total 49.99.
    const exempt = buildInvoice(input(US, {
      customerTax: customer('US', 'TX', {
        exemptions: [{ taxCode: 'US-TX-SALES', certificateId: 'TX-EX-0042', effectiveFrom: '2026-01-01', effectiveTo: null, reason: 'resale' }],
      }),
    }));
    expect(cents(exempt)).toEqual({
      lines: [['fee', '49.99']], taxes: [['US-TX-SALES', '0.00']], subtotal: '49.99', taxTotal: '0.00', total: '49.99',
    });
    expect(exempt.taxes[0]).toMatchObject({ exemption: { kind: 'certificate', reference: 'TX-EX-0042', reason: 'resale' } });
    expect(exempt.taxes[0]!.taxableAmount.toFixed()).toBe('49.99');
    expect(exempt.taxes[0]!.statutoryRate.toFixed()).toBe('0.0625');
  });
});

describe('buildInvoice, identity and checks', () => {
  it('has a deterministic id from brand, subscription and period, no number, and a due date', () => {
    const a = buildInvoice(input(US));
    const b = buildInvoice(input(US));
    expect(a.invoiceId).toBe('inv:ANSR-US:sub-1:2026-07-01');
    expect(b).toEqual(a);
    expect(a.invoiceNumber).toBeNull();
    expect(a.taxPoint).toBe('2026-07-01');
    // Issued 2026-07-01 02:00 EDT, 14 days: 2026-07-15 02:00 EDT = 06:00Z.
    expect(a.dueAt.toISOString()).toBe('2026-07-15T06:00:00.000Z');
  });

  it('refuses bad input with every problem at once', () => {
    const bad = () => draftInvoice(input(US, {
      plan: pro, // but the change goes to basic
      planChanges: [{ at: new Date('2026-08-01T04:00:00Z'), from: pro, to: basic }],
      adjustments: [{ adjustmentId: 'x', reason: 'rerating', usageType: null, description: '', amount: new Decimal('0.0000001'), periodStart: new Date(0), periodEnd: new Date(0) }],
    }));
    expect(bad).toThrow(InvoicingError);
    try {
      bad();
    } catch (error) {
      expect((error as InvoicingError).problems).toHaveLength(3);
    }
  });
});
