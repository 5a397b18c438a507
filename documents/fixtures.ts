/**
 * Two realistic brands and their invoices, built by the real domain code (periods,
 * pricing, drawdown-shaped charges, invoicing and the built-in tax engine). Used by
 * `samples.ts` and the tests; nothing here is hand-made money.
 */
import { Buffer } from 'node:buffer';
import { deflateSync } from 'node:zlib';
import { Decimal } from 'decimal.js';
import { buildInvoice, summarizeUsage } from '../domain/invoicing/index.ts';
import type { Adjustment, BillingBrand, BillingPlan, BillingSubscription, Invoice, UsageSummary } from '../domain/invoicing/index.ts';
import type { UsageCharge } from '../domain/drawdown/index.ts';
import { nthPeriod } from '../domain/periods/index.ts';
import { priceUsage } from '../domain/pricing/index.ts';
import type { PriceModel } from '../domain/pricing/index.ts';
import { seededRandom } from '../domain/prng.ts';
import { BuiltinTaxEngine } from '../domain/tax/index.ts';
import type { BrandBranding, CustomerBlock, InvoiceDocumentInput, ReceiptDocumentInput } from './types.ts';

const engine = new BuiltinTaxEngine();

// ---------- a tiny PNG encoder, for a logo without a binary file in the repository ----------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** An RGB PNG drawn by `pixel(x, y) → [r, g, b]`. */
export function encodePng(width: number, height: number, pixel: (x: number, y: number) => readonly [number, number, number]): Uint8Array {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      const o = y * (width * 3 + 1) + 1 + x * 3;
      raw[o] = r;
      raw[o + 1] = g;
      raw[o + 2] = b;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return new Uint8Array(Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', new Uint8Array(0))]));
}

/** QRS's mark: three rising teal bars on white, 96 × 40. */
const qrsLogo = encodePng(96, 40, (x, y) => {
  const bars = [[8, 22], [28, 14], [48, 6]] as const;
  for (const [x0, top] of bars) if (x >= x0 && x < x0 + 14 && y >= top && y < 34) return [15, 118, 110];
  if (x >= 68 && x < 90 && y >= 30 && y < 34) return [245, 158, 11];
  return [255, 255, 255];
});

const answerLineLogo = `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="36" viewBox="0 0 120 36">
<circle cx="18" cy="18" r="16" fill="#1d4ed8"/><path d="M11 20c3 5 11 5 14 0" stroke="#fff" stroke-width="3" fill="none" stroke-linecap="round"/>
<text x="40" y="24" font-family="Helvetica,Arial,sans-serif" font-size="16" font-weight="bold" fill="#1d4ed8">AnswerLine</text></svg>`;

// ---------- brands ----------

export const usBilling: BillingBrand = {
  code: 'ANSR-US', country: 'US', currency: 'USD', timeZone: 'America/New_York', roundingMode: 'half_up',
  taxRegime: 'us_sales_tax', cancellationCredit: 'prorated', paymentTermsDays: 15,
};

export const usBranding: BrandBranding = {
  brandCode: 'ANSR-US',
  template: 'standard',
  displayName: 'AnswerLine',
  legalName: 'AnswerLine Communications, Inc.',
  logo: { kind: 'svg', svg: answerLineLogo, width: 120, height: 36 },
  primaryColour: '#1d4ed8',
  accentColour: '#dbeafe',
  address: { line1: '350 Fifth Avenue', line2: 'Suite 4100', city: 'New York', region: 'NY', postalCode: '10118', country: 'US' },
  remitToAddress: { line1: 'AnswerLine Communications, PO Box 7720', city: 'Newark', region: 'NJ', postalCode: '07101', country: 'US' },
  taxRegistrations: [{ label: 'EIN', value: '12-3456789' }],
  supportEmail: 'billing@answerline.example',
  supportPhone: '+1 800 555 0142',
  website: 'answerline.example',
  emailFrom: { name: 'AnswerLine Billing', address: 'invoices@answerline.example' },
  footerText: 'AnswerLine is a brand of AnswerLine Communications, Inc. Toll-free and answering services for small business.',
  locale: 'en-US',
  timeZone: 'America/New_York',
  paymentInstructions: 'To pay by check, make it payable to AnswerLine Communications, Inc. and write your invoice number on it.',
};

export const ukBilling: BillingBrand = {
  code: 'QRS-UK', country: 'GB', currency: 'GBP', timeZone: 'Europe/London', roundingMode: 'half_even',
  taxRegime: 'uk_vat', cancellationCredit: 'prorated', paymentTermsDays: 14,
};

export const ukBranding: BrandBranding = {
  brandCode: 'QRS-UK',
  template: 'banner',
  displayName: 'Quick Response Service',
  legalName: 'QRS Telecom Ltd',
  logo: { kind: 'png', data: qrsLogo, width: 96, height: 40 },
  primaryColour: '#0f766e',
  accentColour: '#ccfbf1',
  address: { line1: '14 Bunhill Row', city: 'London', postalCode: 'EC1Y 8ND', country: 'GB' },
  taxRegistrations: [{ label: 'VAT reg. no.', value: 'GB 123 4567 89' }, { label: 'Company no.', value: '09876543' }],
  supportEmail: 'accounts@qrs.example',
  supportPhone: '+44 20 7946 0321',
  website: 'qrs.example',
  emailFrom: { name: 'Quick Response Service', address: 'billing@qrs.example' },
  footerText: 'QRS Telecom Ltd, registered in England and Wales no. 09876543. Registered office: 14 Bunhill Row, London EC1Y 8ND.',
  locale: 'en-GB',
  timeZone: 'Europe/London',
  paymentInstructions: 'Bank transfer: QRS Telecom Ltd, sort code 20-00-00, account 55779911, reference your invoice number.',
};

// ---------- usage, priced by the real pricing code, drawn like drawdown draws ----------

/**
 * `calls` calls of `usageType` with seeded durations (30 s to 15 min); the first
 * `includedSeconds` are drawn from the plan's bucket, the rest priced as overage by
 * `model`, each call after the overage already used in the period.
 */
export function generateUsage(usageType: string, model: PriceModel, calls: number, includedSeconds: number, seed: number): UsageCharge[] {
  const random = seededRandom(seed);
  const charges: UsageCharge[] = [];
  let included = includedSeconds;
  let overageBefore = 0;
  for (let i = 0; i < calls; i++) {
    const billable = 30 + Math.floor(random() * 870);
    const fromBucket = Math.min(included, billable);
    included -= fromBucket;
    const overage = billable - fromBucket;
    const priced = priceUsage(model, overageBefore, overage);
    overageBefore += overage;
    charges.push({
      cdrId: `${usageType}-${seed}-${i}`, sequence: i + 1, usageType, billableSeconds: billable, includedSeconds: fromBucket, overageSeconds: overage,
      draws: [], exhausted: [], currency: model.currency, amount: priced.amount, lines: priced.lines,
    });
  }
  return charges;
}

export const usTollFree: PriceModel = {
  kind: 'graduated', currency: 'USD', unitSeconds: 60,
  tiers: [{ upTo: 500, unitPrice: '0.059' }, { upTo: 2000, unitPrice: '0.0475' }, { upTo: null, unitPrice: '0.035' }],
};
export const usLocal: PriceModel = { kind: 'per_unit', currency: 'USD', unitSeconds: 60, unitPrice: '0.02' };

export const ukReception: PriceModel = {
  kind: 'volume', currency: 'GBP', unitSeconds: 60,
  tiers: [{ upTo: 250, unitPrice: '0.09' }, { upTo: 1000, unitPrice: '0.075' }, { upTo: null, unitPrice: '0.06' }],
};

// ---------- the two invoices ----------

const business: BillingPlan = { planId: 'business-1000', version: 3, name: 'Business 1000', monthlyFee: '79.00', commitmentDiscount: { months: 12, percent: '10' } };

/**
 * AnswerLine (New York, USD): anchored 2026-01-15 with a 12-month commitment; the invoice of
 * 2026-03-15 bills March–April in advance with the 10% commitment discount, and the
 * February–March usage in arrears (toll-free overage in three graduated tiers, local
 * calls all included), a re-rating credit and late usage; New York sales tax.
 */
export function usInvoice(): { invoice: Invoice; input: InvoiceDocumentInput } {
  const subscription: BillingSubscription = {
    subscriptionId: 'sub-ansr-20417', accountId: 'acct-ansr-8812', anchor: '2026-01-15', trialEndsAt: null, cancelledAt: null,
    commitment: { months: 12, startsAt: new Date('2026-01-15T05:00:00Z'), endsAt: new Date('2027-01-15T05:00:00Z') },
  };
  const period = nthPeriod(subscription.anchor, 2, usBilling.timeZone);
  const january = nthPeriod(subscription.anchor, 0, usBilling.timeZone);
  const usage: UsageSummary[] = summarizeUsage([
    ...generateUsage('TOLLFREE', usTollFree, 460, 1000 * 60, 7),
    ...generateUsage('LOCAL', usLocal, 120, 500 * 60, 11),
  ]);
  const adjustments: Adjustment[] = [
    { adjustmentId: 'rerate:v2:2026-01-15', reason: 'rerating', usageType: 'TOLLFREE', description: 'Re-rating of Jan 15 – Feb 14 toll-free usage (corrected rate table, version 2)', amount: new Decimal('-3.4125'), periodStart: january.start, periodEnd: january.end },
    { adjustmentId: 'late:2026-01-15', reason: 'late_usage', usageType: 'TOLLFREE', description: 'Late toll-free usage of Jan 15 – Feb 14 (4 calls, 38.5 min)', amount: new Decimal('1.81875'), periodStart: january.start, periodEnd: january.end },
  ];
  const built = buildInvoice({
    brand: usBilling, subscription, plan: business, period,
    issuedAt: new Date(period.start.getTime() + 6 * 3600_000),
    usage, adjustments, planChanges: [],
    customerTax: { country: 'US', region: 'NY', taxIds: [], exemptions: [] },
    taxEngine: engine,
  });
  const invoice: Invoice = { ...built, invoiceNumber: 'ANSR-2026-000412' };
  const customer: CustomerBlock = {
    name: 'Barrow & Finch Dental Group',
    accountId: subscription.accountId,
    billingAddress: { line1: '221 Atlantic Avenue', line2: 'Floor 2', city: 'Brooklyn', region: 'NY', postalCode: '11201', country: 'US' },
    taxId: null,
    email: 'accounts@barrowfinch.example',
    contactName: 'Dana Whitfield',
  };
  return { invoice, input: { invoice, branding: usBranding, customer, priceModels: { TOLLFREE: usTollFree, LOCAL: usLocal }, viewUrl: 'https://my.answerline.example/invoices/ANSR-2026-000412' } };
}

const starter: BillingPlan = { planId: 'reception-starter', version: 1, name: 'Reception Starter', monthlyFee: '39.00', commitmentDiscount: null };
const pro: BillingPlan = { planId: 'reception-pro', version: 2, name: 'Reception Pro', monthlyFee: '59.00', commitmentDiscount: null };

/**
 * Quick Response Service (London, GBP): anchored 2026-02-03; upgraded from Starter to Pro
 * on 2026-03-18; the invoice of 2026-04-03 (after the clocks went forward) bills April–May
 * on Pro in advance, the upgrade's prorations and the March–April answered-call minutes in
 * arrears (volume pricing), and a late-usage adjustment; UK VAT 20%.
 */
export function ukInvoice(): { invoice: Invoice; input: InvoiceDocumentInput } {
  const subscription: BillingSubscription = {
    subscriptionId: 'sub-qrs-3318', accountId: 'acct-qrs-1207', anchor: '2026-02-03', trialEndsAt: null, cancelledAt: null, commitment: null,
  };
  const period = nthPeriod(subscription.anchor, 2, ukBilling.timeZone);
  const february = nthPeriod(subscription.anchor, 0, ukBilling.timeZone);
  const usage = summarizeUsage(generateUsage('RECEPTION', ukReception, 310, 600 * 60, 23));
  const built = buildInvoice({
    brand: ukBilling, subscription, plan: pro, period,
    issuedAt: new Date(period.start.getTime() + 5 * 3600_000),
    usage,
    adjustments: [
      { adjustmentId: 'late:2026-02-03', reason: 'late_usage', usageType: 'RECEPTION', description: 'Late answered-call minutes of 3 Feb – 2 Mar (2 calls, 11 min)', amount: new Decimal('0.99'), periodStart: february.start, periodEnd: february.end },
    ],
    planChanges: [{ at: new Date('2026-03-18T00:00:00Z'), from: starter, to: pro }],
    customerTax: { country: 'GB', region: null, taxIds: [{ type: 'gb_vat', value: 'GB987654321' }], exemptions: [] },
    taxEngine: engine,
  });
  const invoice: Invoice = { ...built, invoiceNumber: 'QRS-000087' };
  const customer: CustomerBlock = {
    name: 'Hartley & Rowe Solicitors LLP',
    accountId: subscription.accountId,
    billingAddress: { line1: '3 Queen Square', city: 'Bristol', postalCode: 'BS1 4JQ', country: 'GB' },
    taxId: 'GB987654321',
    email: 'finance@hartleyrowe.example',
    contactName: 'Priya Hartley',
  };
  return { invoice, input: { invoice, branding: ukBranding, customer, priceModels: { RECEPTION: ukReception } } };
}

/** The receipt of a payment of the whole invoice, one hour after it was issued. */
export function receiptFor(input: InvoiceDocumentInput, methodLabel: string, gatewayReference: string): ReceiptDocumentInput {
  const { invoice } = input;
  return {
    branding: input.branding,
    customer: input.customer,
    receipt: {
      paymentId: `pay:${invoice.invoiceId}:1`,
      receiptNumber: `R-${invoice.invoiceNumber ?? invoice.invoiceId}-1`,
      invoiceNumber: invoice.invoiceNumber ?? invoice.invoiceId,
      amount: invoice.total,
      currency: invoice.currency,
      methodLabel,
      paidAt: new Date(invoice.issuedAt.getTime() + 3600_000),
      gatewayReference,
      balanceAfter: new Decimal(0),
    },
  };
}
