import { describe, expect, it } from 'vitest';
import { money } from '../../domain/money/index.ts';
import type { LifecycleEvent } from '../../domain/ageing/index.ts';
import { toLifecycleRecord } from './index.ts';

const event = (step: LifecycleEvent['step'], daysOverdue: number): LifecycleEvent => ({
  eventId: `ageing:acct-1:inv-1:${step}`,
  type: 'dunning.reminder',
  step,
  accountId: 'acct-1',
  invoiceId: 'inv-1',
  daysOverdue,
  localDate: '2026-01-08',
  at: Date.parse('2026-01-08T14:00:00Z'),
  outstanding: money('10.00', 'USD'),
});

describe('account.lifecycle records from dunning steps', () => {
  it.each([
    ['reminder', 3, 'reminder_sent', 'invoice_overdue_3_days'],
    ['suspend', 10, 'suspended', 'invoice_overdue_10_days'],
    ['cancel', 30, 'cancelled', 'invoice_overdue_30_days'],
    ['write_off', 90, 'written_off', 'invoice_overdue_90_days'],
    ['reactivate', 16, 'reactivated', 'paid_in_full'],
  ] as const)('%s on day %i → %s (%s)', (step, days, action, reason) => {
    expect(toLifecycleRecord('brand-us', 'sub-1', event(step, days))).toEqual({
      eventId: `ageing:acct-1:inv-1:${step}`,
      brand: 'brand-us',
      accountId: 'acct-1',
      subscriptionId: 'sub-1',
      action,
      reason,
      invoiceId: 'inv-1',
      effectiveAt: Date.parse('2026-01-08T14:00:00Z'),
    });
  });
});
