import { describe, expect, it } from 'vitest';
import { money } from '../money/index.ts';
import { AgeingError, ageAccount, lifecycleEventId } from './index.ts';
import type { DunningPolicy } from './index.ts';

const usd = (a: string) => money(a, 'USD');
const policy: DunningPolicy = {
  zone: 'Australia/Sydney',
  steps: [
    { afterDays: 3, action: 'reminder' },
    { afterDays: 10, action: 'suspend' },
    { afterDays: 30, action: 'cancel' },
    { afterDays: 90, action: 'write_off' },
  ],
};
// Due 2026-06-01 Sydney (AEST, UTC+10): local midnight is 2026-05-31T14:00Z.
const invoice = { invoiceId: 'INV-1', dueAt: Date.parse('2026-05-31T14:00:00Z'), total: usd('30.00') };
const run = (now: string, payments: { amount: string; at: string }[] = [], emitted: string[] = []) =>
  ageAccount({
    policy,
    accountId: 'acct-9',
    invoices: [invoice],
    payments: payments.map((p) => ({ invoiceId: 'INV-1', amount: usd(p.amount), at: Date.parse(p.at) })),
    state: { emitted: emitted.map((id) => ({ eventId: id, step: id.split(':').pop() as never, invoiceId: 'INV-1' })) },
    now: Date.parse(now),
  });

describe('ageAccount', () => {
  it('counts days in the brand zone: day 3 starts at local midnight, not UTC midnight', () => {
    // 2026-06-03T13:59Z is 23:59 on June 3 in Sydney: day 2.
    expect(run('2026-06-03T13:59:00Z').events).toEqual([]);
    // 14:00Z is 00:00 on June 4: day 3.
    expect(run('2026-06-03T14:00:00Z').events.map((e) => [e.eventId, e.daysOverdue, e.localDate])).toEqual([
      ['ageing:acct-9:INV-1:reminder', 3, '2026-06-04'],
    ]);
  });

  it('catches up every step crossed while it was down, once each, in step order', () => {
    const r = run('2026-06-12T00:00:00Z'); // June 12 10:00 local: day 11
    expect(r.events.map((e) => e.step)).toEqual(['reminder', 'suspend']);
    expect(r.status).toBe('suspended');
    const again = ageAccount({ policy, accountId: 'acct-9', invoices: [invoice], payments: [], state: r.state, now: Date.parse('2026-06-12T05:00:00Z') });
    expect(again.events).toEqual([]);
  });

  it('a payment in full stops the steps and reactivates a suspended account; a partial one does not', () => {
    const suspended = ['ageing:acct-9:INV-1:reminder', 'ageing:acct-9:INV-1:suspend'];
    const partial = run('2026-06-15T00:00:00Z', [{ amount: '29.99', at: '2026-06-14T00:00:00Z' }], suspended);
    expect(partial.events).toEqual([]);
    expect(partial.status).toBe('suspended');
    const full = run('2026-06-15T00:00:00Z', [{ amount: '29.99', at: '2026-06-14T00:00:00Z' }, { amount: '0.01', at: '2026-06-14T01:00:00Z' }], suspended);
    expect(full.events.map((e) => [e.eventId, e.type])).toEqual([['ageing:acct-9:INV-1:reactivate', 'account.reactivated']]);
    expect(full.status).toBe('active');
    // Paid: at day 30 nothing is cancelled.
    expect(run('2026-07-02T00:00:00Z', [{ amount: '30.00', at: '2026-06-14T00:00:00Z' }], [...suspended, 'ageing:acct-9:INV-1:reactivate']).events).toEqual([]);
  });

  it('a payment dated after the run instant does not count yet', () => {
    const r = run('2026-06-12T00:00:00Z', [{ amount: '30.00', at: '2026-06-12T00:00:01Z' }]);
    expect(r.events.map((e) => e.step)).toEqual(['reminder', 'suspend']);
  });

  it('paying only the reminded invoice emits nothing (nothing was suspended)', () => {
    expect(run('2026-06-06T00:00:00Z', [{ amount: '30.00', at: '2026-06-05T00:00:00Z' }], ['ageing:acct-9:INV-1:reminder']).events).toEqual([]);
  });

  it('ids are deterministic per account, invoice and step', () => {
    expect(lifecycleEventId('acct-9', 'INV-1', 'suspend')).toBe('ageing:acct-9:INV-1:suspend');
    expect(run('2026-06-12T00:00:00Z').events.map((e) => e.eventId)).toEqual(run('2026-06-12T03:00:00Z').events.map((e) => e.eventId));
  });

  it('refuses a bad policy, listing every problem', () => {
    const bad: DunningPolicy = { zone: 'Mars/Olympus', steps: [{ afterDays: 10, action: 'reminder' }, { afterDays: 5, action: 'suspend' }, { afterDays: -1, action: 'cancel' }] };
    expect(() => ageAccount({ policy: bad, accountId: 'a', invoices: [], payments: [], state: { emitted: [] }, now: 0 })).toThrow(AgeingError);
    expect(() => ageAccount({ policy: bad, accountId: 'a', invoices: [], payments: [], state: { emitted: [] }, now: 0 })).toThrow(
      /zone "Mars\/Olympus".*steps\[2\]\.afterDays = -1.*suspend \(day 5\) comes before reminder \(day 10\)/,
    );
  });
});
