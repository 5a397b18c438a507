import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { classifySmtpFailure, lifecycleNotifications, nextAttemptDelay, paymentNotifications, reachedThresholds, recipientsFor, senderFor, thresholdKey, usageAlertId } from './index.ts';

describe('usage thresholds', () => {
  const policy = { percents: [80, 100], overageAmount: new Decimal('5.00') };
  // 600 included seconds: 80 % is 480 s, 100 % is 600 s.
  const cases: [string, number, string, string[], string[]][] = [
    ['below every threshold', 479, '0', [], []],
    ['exactly 80 %', 480, '0', [], ['pct80']],
    ['80 % and 100 % in one call', 700, '0', [], ['pct80', 'pct100']],
    ['80 % already emitted', 700, '0', ['pct80'], ['pct100']],
    ['both emitted: nothing again', 900, '0', ['pct80', 'pct100'], []],
    ['overage 4.99: not yet', 900, '4.99', ['pct80', 'pct100'], []],
    ['overage 5.00 reached', 900, '5.000001', ['pct80', 'pct100'], ['overage5']],
  ];
  it.each(cases)('%s', (_name, used, overage, emitted, expected) => {
    const reached = reachedThresholds(policy, { includedSeconds: 600, usedSeconds: used, overageAmount: new Decimal(overage) }, new Set(emitted));
    expect(reached.map(thresholdKey)).toEqual(expected);
  });
  it('no included seconds: no percent thresholds, the overage amount still applies', () => {
    expect(reachedThresholds(policy, { includedSeconds: 0, usedSeconds: 10_000, overageAmount: new Decimal('6') }, new Set()).map(thresholdKey)).toEqual(['overage5']);
  });
  it('ids are per subscription, usage type, period and threshold (not rating version)', () => {
    expect(usageAlertId('sub1', 'LCA', 1_700_000_000_000, { kind: 'included_percent', percent: 80 })).toBe('usage-alert:sub1:LCA:1700000000000:pct80');
  });
});

describe('which events notify', () => {
  it('payments: a receipt for a succeeded charge or manual payment, a notice for a failed charge, nothing for the rest', () => {
    const base = { paymentId: 'p1', brand: 'b', accountId: 'a', eventId: 'e1' };
    expect(paymentNotifications({ ...base, status: 'SUCCEEDED', kind: 'charge' }).map((n) => n.notificationId)).toEqual(['e1:payment_received']);
    expect(paymentNotifications({ ...base, status: 'SUCCEEDED', kind: 'manual' }).map((n) => n.kind)).toEqual(['payment_received']);
    expect(paymentNotifications({ ...base, status: 'FAILED', kind: 'charge' }).map((n) => n.kind)).toEqual(['payment_failed']);
    expect(paymentNotifications({ ...base, status: 'PENDING', kind: 'charge' })).toEqual([]);
    expect(paymentNotifications({ ...base, status: 'REFUNDED', kind: 'refund' })).toEqual([]);
    expect(paymentNotifications({ ...base, status: 'SUCCEEDED', kind: 'credit_note' })).toEqual([]);
    // Older records without an event id: the payment id and status.
    expect(paymentNotifications({ ...base, eventId: null, status: 'SUCCEEDED', kind: null })[0]!.notificationId).toBe('p1:SUCCEEDED:payment_received');
  });
  it('lifecycle: dunning steps caused by an invoice only', () => {
    const base = { eventId: 'l1', brand: 'b', accountId: 'a', invoiceId: 'i1' };
    expect(lifecycleNotifications({ ...base, action: 'reminder_sent' }).map((n) => n.kind)).toEqual(['dunning_reminder']);
    expect(lifecycleNotifications({ ...base, action: 'suspended' }).map((n) => n.kind)).toEqual(['dunning_suspended']);
    expect(lifecycleNotifications({ ...base, action: 'cancelled' }).map((n) => n.kind)).toEqual(['dunning_cancelled']);
    expect(lifecycleNotifications({ ...base, action: 'suspended', invoiceId: null })).toEqual([]);
    expect(lifecycleNotifications({ ...base, action: 'written_off' })).toEqual([]);
  });
});

describe('recipients and sender', () => {
  const customer = { email: 'ap@x.example', billingContacts: ['cfo@x.example', 'AP@x.example', 'gone@x.example'] };
  it('all: the email and every contact once, less the bounced; primary: the email only', () => {
    expect(recipientsFor(null, 'invoice_issued', customer, new Set(['gone@x.example']))).toEqual({ to: ['ap@x.example', 'cfo@x.example'], bounced: ['gone@x.example'] });
    const primary = { senderName: null, senderAddress: null, replyTo: null, kinds: { payment_failed: { enabled: true, recipients: 'primary' } } };
    expect(recipientsFor(primary, 'payment_failed', customer, new Set()).to).toEqual(['ap@x.example']);
  });
  it('the brand sender, else the branding', () => {
    expect(senderFor(null, { displayName: 'Answer US', supportEmail: 'billing@us.example' })).toEqual({ from: { name: 'Answer US', address: 'billing@us.example' }, replyTo: { name: 'Answer US', address: 'billing@us.example' } });
    expect(senderFor({ senderName: 'Billing', senderAddress: 'inv@us.example', replyTo: 'help@us.example', kinds: {} }, { displayName: 'Answer US', supportEmail: 'billing@us.example' }).from).toEqual({ name: 'Billing', address: 'inv@us.example' });
  });
});

describe('SMTP failures and retries', () => {
  it('a 5xx refusal of recipients is a hard bounce of those; 4xx and connection failures are retried', () => {
    expect(classifySmtpFailure({ code: 'EENVELOPE', responseCode: 550, response: '550 no such mailbox', rejected: ['x@y.z'], rejectedErrors: [{ recipient: 'x@y.z', responseCode: 550, response: '550 no such mailbox' }] })).toEqual({ kind: 'hard_bounce', addresses: ['x@y.z'], reason: '550 no such mailbox' });
    expect(classifySmtpFailure({ code: 'EENVELOPE', responseCode: 450, response: '450 busy', rejectedErrors: [{ recipient: 'x@y.z', responseCode: 450 }] })).toEqual({ kind: 'transient', reason: '450 busy' });
    expect(classifySmtpFailure({ code: 'ECONNECTION', message: 'connect ECONNREFUSED 127.0.0.1:25' })).toEqual({ kind: 'transient', reason: 'ECONNECTION: connect ECONNREFUSED 127.0.0.1:25' });
  });
  it('backoff doubles from the initial delay, is capped, and ends after the last attempt', () => {
    const policy = { maxAttempts: 5, initialDelayMs: 1000, maxDelayMs: 5000 };
    expect([1, 2, 3, 4, 5].map((a) => nextAttemptDelay(policy, a))).toEqual([1000, 2000, 4000, 5000, null]);
  });
});
