import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { StandardDocumentRenderer } from './renderer.ts';
import { branding, customer, handInput } from './test-helpers.ts';

const renderer = new StandardDocumentRenderer();

describe('invoice email', () => {
  const email = renderer.renderInvoiceEmail(handInput({ viewUrl: 'https://my.example/i/7?a=1&b=2' }));

  it('comes from the brand, goes to the customer, replies to support', () => {
    expect(email.from).toEqual(branding.emailFrom);
    expect(email.to).toEqual({ name: 'Smith & Sons <Plumbing>', address: 'ap@smithsons.example' });
    expect(email.replyTo.address).toBe(branding.supportEmail);
  });

  it('has a subject with the number, total and due date', () => {
    expect(email.subject).toBe('AnswerLine invoice ANSR-2026-000007: $57.86 due Jul 16, 2026');
  });

  it('summarises in text and HTML, without the full invoice', () => {
    expect(email.text).toContain('Amount due: $57.86');
    expect(email.text).toContain('Due date: Jul 16, 2026');
    expect(email.text).toContain('Hello Smith & Sons <Plumbing>,');
    expect(email.text).not.toContain('$5.64'); // no tier lines
    expect(email.html).toContain('$57.86');
    expect(email.html).toContain('Jul 16, 2026');
    expect(email.html).toContain('Hello Smith &amp; Sons &lt;Plumbing&gt;,');
    expect(email.html).toContain('href="https://my.example/i/7?a=1&amp;b=2"');
    expect(email.html).not.toContain('<Plumbing>');
  });

  it('keeps header fields on one line', () => {
    const evil = renderer.renderInvoiceEmail(handInput({ branding: { ...branding, displayName: 'Answer\r\nBcc: all@example.com' } }));
    expect(evil.subject).not.toMatch(/[\r\n]/);
    expect(evil.replyTo.name).toBe('Answer Bcc: all@example.com');
  });
});

describe('receipt email', () => {
  it('confirms the amount and the invoice paid', () => {
    const email = renderer.renderReceiptEmail({
      branding, customer: { ...customer, contactName: 'Pat' },
      receipt: {
        paymentId: 'pay-1', invoiceNumber: 'ANSR-2026-000007', amount: new Decimal('57.86'), currency: 'USD',
        methodLabel: 'Visa •••• 4242', paidAt: new Date('2026-07-01T07:00:00Z'), gatewayReference: 'pi_123',
      },
    });
    expect(email.subject).toBe('AnswerLine receipt: $57.86 received for invoice ANSR-2026-000007');
    expect(email.text).toContain('Hello Pat,');
    expect(email.text).toContain('We received your payment of $57.86 for invoice ANSR-2026-000007.');
    expect(email.text).toContain('Payment method: Visa •••• 4242');
    expect(email.html).toContain('Visa •••• 4242');
    expect(email.from.address).toBe('invoices@answerline.example');
  });
});
