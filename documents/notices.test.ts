import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { toInvoiceEvent } from '../contracts/invoice.ts';
import { invoiceFromEvent } from './from-reference.ts';
import { noticeEmail } from './notices.ts';
import { StandardDocumentRenderer } from './renderer.ts';
import { branding, customer, handInvoice, handInput } from './test-helpers.ts';

describe('notice emails', () => {
  const at = new Date('2026-07-20T16:00:00Z');

  it('a failed payment: amount, invoice and advice by failure kind, escaped, never the gateway message', () => {
    const hard = noticeEmail({ kind: 'payment_failed', invoiceNumber: 'ANSR-2026-000007', amount: new Decimal('57.86'), currency: 'USD', failureKind: 'hard_decline', at }, branding, customer);
    expect(hard.subject).toBe('AnswerLine: we could not collect $57.86 for invoice ANSR-2026-000007');
    expect(hard.to).toEqual({ name: 'Smith & Sons <Plumbing>', address: 'ap@smithsons.example' });
    expect(hard.text).toContain('Your bank declined the charge.');
    expect(hard.text).toContain('Attempted on: Jul 20, 2026');
    expect(hard.html).toContain('Hello Smith &amp; Sons &lt;Plumbing&gt;,');
    expect(hard.html).not.toContain('<Plumbing>');
    const soft = noticeEmail({ kind: 'payment_failed', invoiceNumber: 'ANSR-2026-000007', amount: new Decimal('57.86'), currency: 'USD', failureKind: 'soft_decline', at }, branding, customer);
    expect(soft.text).toContain('We will try again in the next days.');
  });

  it('dunning steps name the invoice and the days overdue', () => {
    const reminder = noticeEmail({ kind: 'dunning_reminder', invoiceNumber: 'ANSR-2026-000007', daysOverdue: 3, at }, branding, customer);
    expect(reminder.subject).toBe('AnswerLine: invoice ANSR-2026-000007 is overdue');
    expect(reminder.text).toContain('Invoice ANSR-2026-000007 is 3 days overdue.');
    expect(noticeEmail({ kind: 'dunning_suspended', invoiceNumber: 'X-1', daysOverdue: 10, at }, branding, customer).text).toContain('was suspended on Jul 20, 2026');
  });

  it('usage thresholds: the percent with minutes used and included, or the overage amount', () => {
    const pct = noticeEmail({ kind: 'usage_threshold', usageType: 'TOLLFREE', percent: 80, usedMinutes: new Decimal('400.5'), includedMinutes: new Decimal('500'), overage: null, periodEnd: new Date('2026-08-01T04:00:00Z') }, branding, customer);
    expect(pct.subject).toBe('AnswerLine: you have used 80% of your included TOLLFREE minutes');
    expect(pct.text).toContain('Used: 400.5 min');
    expect(pct.text).toContain('Period ends: Aug 1, 2026');
    const over = noticeEmail({ kind: 'usage_threshold', usageType: 'TOLLFREE', percent: null, usedMinutes: new Decimal(900), includedMinutes: new Decimal(500), overage: { amount: new Decimal('26.2'), threshold: new Decimal('25'), currency: 'USD' }, periodEnd: new Date('2026-08-01T04:00:00Z') }, branding, customer);
    expect(over.subject).toBe('AnswerLine: your TOLLFREE overage has passed $25.00');
  });

  it('keeps header fields on one line', () => {
    const evil = noticeEmail({ kind: 'dunning_reminder', invoiceNumber: 'A\r\nBcc: all@example.com', daysOverdue: 3, at }, branding, customer);
    expect(evil.subject).not.toMatch(/[\r\n]/);
  });
});

describe('an invoice from its event', () => {
  it('renders the same email as the invoice it was made from (the rounded amounts travel)', async () => {
    const invoice = { ...handInvoice(), invoiceNumber: 'ANSR-2026-000007' };
    const event = JSON.parse(JSON.stringify(toInvoiceEvent(invoice, 'ANSR-2026-000007', 'anniversary')));
    const back = invoiceFromEvent(event);
    expect(back.total.toFixed(2)).toBe('57.86');
    expect(back.taxTotal.toFixed(2)).toBe('2.23');
    const renderer = new StandardDocumentRenderer();
    const fromEvent = renderer.renderInvoiceEmail({ ...handInput(), invoice: back });
    expect(fromEvent.subject).toBe(renderer.renderInvoiceEmail(handInput()).subject);
    expect(fromEvent.text).toContain('Amount due: $57.86');
    const pdf = await renderer.renderInvoicePdf({ ...handInput(), invoice: back });
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
  });
});
