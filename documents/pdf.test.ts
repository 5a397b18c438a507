import { Buffer } from 'node:buffer';
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { StandardDocumentRenderer } from './renderer.ts';
import { ukInvoice } from './fixtures.ts';
import { branding, customer, handInput, handInvoice, pageCount, pdfTextOf } from './test-helpers.ts';

const renderer = new StandardDocumentRenderer();
const banner = new StandardDocumentRenderer('banner', 'band');

describe('invoice PDF', () => {
  it('is a PDF whose text holds the number, each line amount, the tier rows and the total', async () => {
    const pdf = await renderer.renderInvoicePdf(handInput(), { compress: false });
    expect(Buffer.from(pdf.subarray(0, 5)).toString('latin1')).toBe('%PDF-');
    expect(Buffer.from(pdf.subarray(-6)).toString('latin1')).toMatch(/%%EOF\s*$/);
    const text = pdfTextOf(pdf);
    expect(text).toContain('Invoice ANSR-2026-000007');
    expect(text).toContain('ANSR-2026-000007');
    for (const amount of ['$49.99', '-$5.00', '$5.00', '$5.64', '$10.64', '$2.23', '$55.63']) expect(text).toContain(amount);
    expect(text).toContain('first 100 min');
    expect(text).toContain('over 100 up to 500 min');
    expect(text).toContain('$0.0375');
    expect(text).toContain('150.5 min');
    expect(text).toContain('$57.86');
    expect(text.some((t) => t.includes('Due date: Jul 16, 2026'))).toBe(true);
    expect(pageCount(pdf)).toBe(1);
    expect(text).toContain('Page 1 of 1');
  });

  it('draws a plan change note', async () => {
    const pdf = await renderer.renderInvoicePdf(handInput({ invoice: { ...handInvoice(), notes: ['Plan changed from Basic to Pro from 2026-06-01'] } }), { compress: false });
    expect(pdfTextOf(pdf).join(' ')).toContain('Plan changed from Basic to Pro from 2026-06-01');
  });

  it('paginates an invoice with 80 lines and numbers every page', async () => {
    // The fee, the discount, two usage tiers and 76 adjustments of 1.00 = 80 lines.
    const invoice = handInvoice(76);
    expect(invoice.lines).toHaveLength(80);
    const pdf = await renderer.renderInvoicePdf(handInput({ invoice }), { compress: false });
    const pages = pageCount(pdf);
    expect(pages).toBeGreaterThan(1);
    const text = pdfTextOf(pdf);
    for (let n = 1; n <= pages; n++) expect(text).toContain(`Page ${n} of ${pages}`);
    expect(text).toContain('Late usage batch 1');
    expect(text).toContain('Late usage batch 76');
    // 55.63 + 76.00 = 131.63; tax 4% of 131.63475 = 5.26539 → 5.27; total 136.90.
    expect(text).toContain('$131.63');
    expect(text).toContain('$136.90');
    // The table header is repeated on the next page.
    expect(text.filter((t) => t === 'DESCRIPTION').length).toBeGreaterThan(1);
  });

  it('is the same bytes for the same input, dated by the issue instant', async () => {
    const a = await renderer.renderInvoicePdf(handInput());
    const b = await renderer.renderInvoicePdf(handInput());
    expect(Buffer.compare(a, b)).toBe(0);
    const raw = Buffer.from(await renderer.renderInvoicePdf(handInput(), { compress: false })).toString('latin1');
    // Issued 2026-07-01T06:00:00Z: the info dates (pdfkit writes them as objects) are that instant, not now.
    expect(raw.match(/\(D:\d{14}Z\)/g)).toEqual(['(D:20260701060000Z)', '(D:20260701060000Z)']);
    const other = await renderer.renderInvoicePdf(handInput({ invoice: { ...handInvoice(), invoiceNumber: 'ANSR-2026-000008' } }));
    expect(Buffer.compare(a, other)).not.toBe(0);
  });

  it('draws pounds and euros with the standard font (WinAnsi)', async () => {
    const { input } = ukInvoice();
    const pdf = await banner.renderInvoicePdf(input, { compress: false });
    const text = pdfTextOf(pdf);
    expect(text).toContain(`Invoice ${input.invoice.invoiceNumber}`);
    const total = `£${input.invoice.total.toFixed(2)}`;
    expect(text).toContain(total);
    expect(text).toContain('VAT 20%');
    const euro = await renderer.renderInvoicePdf(handInput({ invoice: { ...handInvoice(), currency: 'EUR' } }), { compress: false });
    expect(pdfTextOf(euro)).toContain('€57.86');
  });

  it('embeds a PNG logo', async () => {
    const { input } = ukInvoice();
    const raw = Buffer.from(await banner.renderInvoicePdf(input, { compress: false })).toString('latin1');
    expect(raw).toContain('/Subtype /Image');
  });
});

describe('receipt PDF', () => {
  it('holds the receipt, invoice number, amount and method', async () => {
    const pdf = await renderer.renderReceiptPdf({
      branding, customer,
      receipt: {
        paymentId: 'pay-1', receiptNumber: 'R-1001', invoiceNumber: 'ANSR-2026-000007', amount: new Decimal('57.86'), currency: 'USD',
        methodLabel: 'Visa •••• 4242', paidAt: new Date('2026-07-01T07:00:00Z'), gatewayReference: 'pi_123',
      },
    }, { compress: false });
    const text = pdfTextOf(pdf);
    expect(text).toContain('Receipt R-1001');
    expect(text).toContain('ANSR-2026-000007');
    expect(text).toContain('Visa •••• 4242');
    expect(text.some((t) => t.includes('Amount paid: $57.86'))).toBe(true);
    expect(text).toContain('Jul 1, 2026, 3:00 AM EDT');
  });
});
