import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { builtinDocumentRenderers, DocumentRendererRegistry, StandardDocumentRenderer } from './renderer.ts';
import { DocumentError } from './types.ts';
import { usBranding } from './fixtures.ts';
import { branding, customer, handInput, handInvoice } from './test-helpers.ts';

const renderer = new StandardDocumentRenderer();

/** The cells of a table row, tags stripped. */
function rows(html: string, tableClass: string): string[][] {
  const table = new RegExp(`<table class="${tableClass}">([\\s\\S]*?)</table>`).exec(html)?.[1] ?? '';
  return [...table.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((r) => [...r[1]!.matchAll(/<t[dh][^>]*>([\s\S]*?)<\/t[dh]>/g)].map((c) => c[1]!.replace(/<[^>]+>/g, '')));
}

describe('invoice HTML', () => {
  const html = renderer.renderInvoiceHtml(handInput());

  it('names the invoice, the dates in New York, and the brand', () => {
    expect(html).toContain('Invoice ANSR-2026-000007');
    // Issued 2026-07-01 02:00 EDT, due 15 days later.
    expect(html).toContain('<dt>Issue date</dt><dd>Jul 1, 2026</dd>');
    expect(html).toContain('<dt>Due date</dt><dd>Jul 16, 2026</dd>');
    expect(html).toContain('<dt>Service period</dt><dd>Jul 1, 2026 – Jul 31, 2026</dd>');
    expect(html).toContain('<dt>Usage period</dt><dd>Jun 1, 2026 – Jun 30, 2026</dd>');
    expect(html).toContain('AnswerLine Communications, Inc.');
    expect(html).toContain('--primary: #1d4ed8');
  });

  it('lists every line with its amount (hand-worked)', () => {
    const amounts = rows(html, 'lines').slice(1).map((r) => r[4]);
    expect(amounts).toEqual(['$49.99', '-$5.00', '$5.00', '$5.64']);
  });

  it('has a usage summary and a tier table whose rows explain the overage', () => {
    // 45,030 s = 750.5 min billable, 30,000 s = 500 min included, 250.5 min overage, 5.00 + 5.64.
    expect(rows(html, 'usage')[1]).toEqual(['TOLLFREE', '2', '750.5 min', '500 min', '250.5 min', '$10.64']);
    expect(rows(html, 'tiers')).toEqual([
      ['Tier', 'Range', 'Unit price', 'Units in tier', 'Amount'],
      ['1', 'first 100 min', '$0.05', '100 min', '$5.00'],
      ['2', 'over 100 up to 500 min', '$0.0375', '150.5 min', '$5.64'],
      ['TOLLFREE overage', '$10.64'],
    ]);
  });

  it('shows the tax with its rate and the totals', () => {
    // Taxable 55.63475 shown to the cent; 4% = 2.23; total 57.86.
    expect(rows(html, 'taxes')[1]).toEqual(['New York State sales tax 4%', 'US-NY', '$55.63', '4%', '$2.23']);
    expect(rows(html, 'totals')).toEqual([['Subtotal', '$55.63'], ['Tax', '$2.23'], ['Total', '$57.86']]);
    expect(html).toContain('Amount due: $57.86');
  });

  it('takes the credit balance consumed off the total, as a line after it', () => {
    // Total 57.86, 20.50 of credit applied: 37.36 due.
    const credited = renderer.renderInvoiceHtml(handInput({ creditApplied: new Decimal('20.50') }));
    expect(rows(credited, 'totals')).toEqual([['Subtotal', '$55.63'], ['Tax', '$2.23'], ['Total', '$57.86'], ['Credit applied from your balance', '-$20.50']]);
    expect(credited).toContain('Amount due: $37.36');
  });

  it('a negative invoice asks nothing and says its credit goes to the balance', () => {
    const invoice = { ...handInvoice(), subtotal: new Decimal('-16.02'), taxTotal: new Decimal('-0.64'), total: new Decimal('-16.66') };
    const negative = renderer.renderInvoiceHtml(handInput({ invoice }));
    expect(rows(negative, 'totals')).toEqual([['Subtotal', '-$16.02'], ['Tax', '-$0.64'], ['Total', '-$16.66']]);
    expect(negative).toContain('Amount due: $0.00');
    expect(negative).toContain('$16.66 is added to your credit balance and taken off your next invoices.');
    expect(html).toContain('Payment is due by Jul 16, 2026.');
  });

  it('states a plan change under the lines, escaped; nothing when there is none', () => {
    const swapped = renderer.renderInvoiceHtml(handInput({ invoice: { ...handInvoice(), notes: ['Plan changed from Basic <500> to Pro 1000 from 2026-06-01'] } }));
    expect(swapped).toContain('</table>\n<p class="note">Plan changed from Basic &lt;500&gt; to Pro 1000 from 2026-06-01</p>');
    expect(html).not.toContain('Plan changed');
  });

  it('escapes every text: customer name, line descriptions', () => {
    const invoice = handInvoice();
    const evil = { ...invoice, lines: invoice.lines.map((l, i) => (i === 0 ? { ...l, description: '<script>alert(1)</script> & more' } : l)) };
    const out = renderer.renderInvoiceHtml(handInput({ invoice: evil }));
    expect(out).toContain('Smith &amp; Sons &lt;Plumbing&gt;');
    expect(out).not.toContain('<Plumbing>');
    expect(out).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; more');
    expect(out).not.toContain('<script>');
  });

  it('shows dates in the brand zone and locale: an issue at 2026-03-01T04:30Z is 28 Feb 2026 in New York', () => {
    const invoice = { ...handInvoice(), issuedAt: new Date('2026-03-01T04:30:00Z') };
    const gb = renderer.renderInvoiceHtml(handInput({ invoice, branding: { ...branding, locale: 'en-GB' } }));
    expect(gb).toContain('<dt>Issue date</dt><dd>28 Feb 2026</dd>');
    const london = renderer.renderInvoiceHtml(handInput({ invoice, branding: { ...branding, locale: 'en-GB', timeZone: 'Europe/London' } }));
    expect(london).toContain('<dt>Issue date</dt><dd>1 Mar 2026</dd>');
  });

  it('speaks French for fr-CA, with French number formats', () => {
    const fr = renderer.renderInvoiceHtml(handInput({ branding: { ...branding, locale: 'fr-CA' } }));
    expect(fr).toContain('<html lang="fr-CA">');
    expect(fr).toContain('Facture ANSR-2026-000007');
    expect(fr).toMatch(/57,86\u00a0\$\s?US/);
  });

  it('marks an invoice without a number as a draft', () => {
    const out = renderer.renderInvoiceHtml(handInput({ invoice: handInvoice(0, null) }));
    expect(out).toContain('Invoice (DRAFT) DRAFT inv:ANSR-US:sub-1:2026-07-01');
  });

  it('embeds an SVG logo as an image data URI, never inline', () => {
    const out = renderer.renderInvoiceHtml(handInput({ branding: usBranding }));
    expect(out).toContain('<img class="logo" src="data:image/svg+xml;base64,');
    expect(out).not.toContain('<svg');
  });

  it('refuses bad input, listing every problem', () => {
    const bad = handInput({
      branding: { ...branding, primaryColour: 'red;}body{display:none', timeZone: 'Mars/Olympus' },
      customer: { ...customer, email: 'nobody' },
    });
    let error: unknown;
    try {
      renderer.renderInvoiceHtml(bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DocumentError);
    expect((error as DocumentError).code).toBe('invalid_document_input');
    expect((error as DocumentError).problems).toHaveLength(3);
  });

  it('refuses an invoice that was not rounded', () => {
    const invoice = handInvoice();
    const unrounded = { ...invoice, total: new Decimal('57.855') };
    expect(() => renderer.renderInvoiceHtml(handInput({ invoice: unrounded }))).toThrow(/invoice.total 57.855 has more than 2 decimals/);
  });
});

describe('receipt HTML', () => {
  it('shows the payment, the invoice it pays and the token-free method', () => {
    const html = renderer.renderReceiptHtml({
      branding, customer,
      receipt: {
        paymentId: 'pay-1', invoiceNumber: 'ANSR-2026-000007', amount: new Decimal('57.86'), currency: 'USD',
        methodLabel: 'Visa •••• 4242', paidAt: new Date('2026-03-01T04:30:00Z'), gatewayReference: 'pi_123',
      },
    });
    expect(html).toContain('Receipt pay-1');
    expect(html).toContain('<dt>Payment for invoice</dt><dd>ANSR-2026-000007</dd>');
    expect(html).toContain('<dt>Amount paid</dt><dd>$57.86</dd>');
    expect(html).toContain('<dt>Payment method</dt><dd>Visa •••• 4242</dd>');
    expect(html).toContain('<dt>Paid on</dt><dd>Feb 28, 2026, 11:30 PM EST</dd>');
  });

  it('refuses a method label or reference that could hold a card number', () => {
    const input = {
      branding, customer,
      receipt: {
        paymentId: 'pay-1', invoiceNumber: 'X-1', amount: new Decimal('1.00'), currency: 'USD',
        methodLabel: 'Visa 4242 4242 4242 4242', paidAt: new Date(), gatewayReference: 'pi_1',
      },
    };
    expect(() => renderer.renderReceiptHtml(input)).toThrow(/methodLabel contains a run of 12 or more digits/);
  });
});

describe('renderer registry', () => {
  it('finds the brand\'s template by id; the banner template draws a band', () => {
    const registry = builtinDocumentRenderers();
    expect(registry.ids()).toEqual(['standard', 'banner']);
    const banner = registry.forBrand({ template: 'banner' }).renderInvoiceHtml(handInput());
    expect(banner).toContain('background: var(--primary); color: var(--on-primary);');
    expect(registry.forBrand(branding).renderInvoiceHtml(handInput())).toContain('border-bottom: 4px solid var(--primary);');
  });

  it('refuses an unknown id and a second renderer with the same id', () => {
    const registry = new DocumentRendererRegistry([new StandardDocumentRenderer('standard')]);
    expect(() => registry.get('fancy')).toThrow(expect.objectContaining({ code: 'unknown_document_renderer' }));
    expect(() => registry.register(new StandardDocumentRenderer('standard'))).toThrow(expect.objectContaining({ code: 'duplicate_document_renderer' }));
  });
});
