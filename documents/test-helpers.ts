/**
 * Test inputs: a small invoice whose every amount is worked by hand in the comments,
 * built by the real domain code. Not a test file itself (no `.test.ts`).
 */
import { Decimal } from 'decimal.js';
import { buildInvoice, summarizeUsage } from '../domain/invoicing/index.ts';
import type { Adjustment, BillingPlan, BillingSubscription, Invoice } from '../domain/invoicing/index.ts';
import type { UsageCharge } from '../domain/drawdown/index.ts';
import { nthPeriod } from '../domain/periods/index.ts';
import { priceUsage } from '../domain/pricing/index.ts';
import type { PriceModel } from '../domain/pricing/index.ts';
import { BuiltinTaxEngine } from '../domain/tax/index.ts';
import { usBilling, usBranding } from './fixtures.ts';
import type { BrandBranding, CustomerBlock, InvoiceDocumentInput } from './types.ts';

export const tollFree: PriceModel = {
  kind: 'graduated', currency: 'USD', unitSeconds: 60,
  tiers: [{ upTo: 100, unitPrice: '0.05' }, { upTo: 500, unitPrice: '0.0375' }, { upTo: null, unitPrice: '0.025' }],
};

const basic: BillingPlan = { planId: 'basic', version: 1, name: 'Basic', monthlyFee: '49.99', commitmentDiscount: { months: 12, percent: '10' } };

export const customer: CustomerBlock = {
  name: 'Smith & Sons <Plumbing>',
  accountId: 'acct-1',
  billingAddress: { line1: '1 Main St', city: 'Albany', region: 'NY', postalCode: '12207', country: 'US' },
  taxId: null,
  email: 'ap@smithsons.example',
};

export const branding: BrandBranding = { ...usBranding, logo: null };

/**
 * Brand ANSR-US (New York), anchored 2026-05-01 with a 12-month commitment; the invoice of
 * 2026-07-01 (period 2) with June's toll-free usage:
 *   fee 49.99; discount 10% = −4.999 → −5.00 (half_up)
 *   usage: calls of 6,600 s and 8,430 s overage (500 min included before):
 *     tier 1: 6,000 s = 100 min × 0.05 = 5.00
 *     tier 2: 600 + 8,430 = 9,030 s = 150.5 min × 0.0375 = 5.64375 → 5.64
 *   subtotal 49.99 − 5.00 + 5.00 + 5.64 = 55.63
 *   NY 4% on the unrounded lines: (49.99 − 4.999 + 5 + 5.64375) = 55.63475 × 0.04 = 2.22539 → 2.23
 *   total 55.63 + 2.23 = 57.86
 * `extraLines` adds adjustments of 1.00 each (for a long invoice).
 */
export function handInvoice(extraLines = 0, number: string | null = 'ANSR-2026-000007'): Invoice {
  const subscription: BillingSubscription = {
    subscriptionId: 'sub-1', accountId: 'acct-1', anchor: '2026-05-01', trialEndsAt: null, cancelledAt: null,
    commitment: { months: 12, startsAt: new Date('2026-05-01T04:00:00Z'), endsAt: new Date('2027-05-01T04:00:00Z') },
  };
  const period = nthPeriod(subscription.anchor, 2, usBilling.timeZone);
  const first = priceUsage(tollFree, 0, 6600);
  const second = priceUsage(tollFree, 6600, 8430);
  const charge = (cdrId: string, overage: number, included: number, priced: typeof first): UsageCharge => ({
    cdrId, sequence: 1, usageType: 'TOLLFREE', billableSeconds: overage + included, includedSeconds: included, overageSeconds: overage,
    draws: [], exhausted: [], currency: 'USD', amount: priced.amount, lines: priced.lines,
  });
  const june = nthPeriod(subscription.anchor, 1, usBilling.timeZone);
  const adjustments: Adjustment[] = Array.from({ length: extraLines }, (_, i) => ({
    adjustmentId: `late:${String(i).padStart(3, '0')}`, reason: 'late_usage', usageType: 'TOLLFREE',
    description: `Late usage batch ${i + 1}`, amount: new Decimal('1'), periodStart: june.start, periodEnd: june.end,
  }));
  const invoice = buildInvoice({
    brand: usBilling, subscription, plan: basic, period,
    issuedAt: new Date(period.start.getTime() + 2 * 3600_000),
    usage: summarizeUsage([charge('c1', 6600, 30000, first), charge('c2', 8430, 0, second)]),
    adjustments, planChanges: [],
    customerTax: { country: 'US', region: 'NY', taxIds: [], exemptions: [] },
    taxEngine: new BuiltinTaxEngine(),
  });
  return { ...invoice, invoiceNumber: number };
}

export function handInput(overrides: Partial<InvoiceDocumentInput> = {}): InvoiceDocumentInput {
  return { invoice: handInvoice(), branding, customer, priceModels: { TOLLFREE: tollFree }, ...overrides };
}

/** The text a PDF draws, from its uncompressed content streams (pdfkit writes WinAnsi hex strings in TJ arrays). */
export function pdfTextOf(pdf: Uint8Array): string[] {
  const source = Buffer.from(pdf).toString('latin1');
  const winAnsi: Record<number, string> = { 0x80: '€', 0x91: '‘', 0x92: '’', 0x93: '“', 0x94: '”', 0x95: '•', 0x96: '–', 0x97: '—' };
  const out: string[] = [];
  for (const m of source.matchAll(/\[((?:<[0-9a-f]*>\s*-?[\d.]*\s*)+)\]\s*TJ/g)) {
    let s = '';
    for (const h of m[1]!.matchAll(/<([0-9a-f]*)>/g)) {
      for (let i = 0; i < h[1]!.length; i += 2) {
        const code = parseInt(h[1]!.slice(i, i + 2), 16);
        s += winAnsi[code] ?? String.fromCharCode(code);
      }
    }
    out.push(s);
  }
  return out;
}

/** Page objects in an uncompressed PDF. */
export function pageCount(pdf: Uint8Array): number {
  return (Buffer.from(pdf).toString('latin1').match(/\/Type \/Page(?![a-z])/g) ?? []).length;
}
