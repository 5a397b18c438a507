import { describe, expect, it } from 'vitest';
import { ControllableClock } from '../billrun/index.ts';
import { money } from '../money/index.ts';
import { ageAccount } from './index.ts';
import type { AgeingInvoice, AgeingPayment, AgeingState, DunningPolicy, LifecycleEvent } from './index.ts';

const DAY = 86_400_000;
const policy: DunningPolicy = {
  zone: 'America/New_York',
  steps: [
    { afterDays: 3, action: 'reminder' },
    { afterDays: 10, action: 'suspend' },
    { afterDays: 30, action: 'cancel' },
    { afterDays: 90, action: 'write_off' },
  ],
};
const usd = (a: string) => money(a, 'USD');
// Due at local midnight (05:00Z in EST): day 0 is that local date.
const due = (date: string) => Date.parse(`${date}T05:00:00Z`);

const accounts: Record<string, { invoices: AgeingInvoice[]; payments: AgeingPayment[] }> = {
  A: {
    invoices: [
      { invoiceId: 'INV-A1', dueAt: due('2026-01-05'), total: usd('100.00') },
      { invoiceId: 'INV-A2', dueAt: due('2026-02-05'), total: usd('50.00') },
    ],
    payments: [
      // Partial on the 12th, the rest on the 20th, both after that day's 14:00Z run.
      { invoiceId: 'INV-A1', amount: usd('40.00'), at: Date.parse('2026-01-12T18:00:00Z') },
      { invoiceId: 'INV-A1', amount: usd('60.00'), at: Date.parse('2026-01-20T18:00:00Z') },
      // INV-A2 paid after the account was cancelled: cancellation is final.
      { invoiceId: 'INV-A2', amount: usd('50.00'), at: Date.parse('2026-03-20T18:00:00Z') },
    ],
  },
  B: {
    invoices: [{ invoiceId: 'INV-B1', dueAt: due('2026-01-02'), total: usd('80.00') }],
    payments: [],
  },
};

/**
 * Hand-worked, New York dates (runs at 14:00Z = 09:00 EST / 10:00 EDT, so the run's local
 * date is its UTC date; DST starts 2026-03-08 and changes nothing here):
 * - INV-B1 due Jan 2: +3 Jan 5 reminder, +10 Jan 12 suspend, +30 Feb 1 cancel,
 *   +90 Apr 2 write-off (Jan 2 → Jan 31 is 29 days, Feb 28 is 57, Mar 31 is 88, Apr 2 is 90).
 * - INV-A1 due Jan 5: +3 Jan 8 reminder, +10 Jan 15 suspend (only 40 of 100 paid);
 *   paid in full Jan 20 18:00Z, so the Jan 21 run reactivates; nothing at +30.
 * - INV-A2 due Feb 5: +3 Feb 8 reminder, +10 Feb 15 suspend, +30 Mar 7 cancel
 *   (Feb 5 → Feb 28 is 23 days, Mar 7 is 30); paid Mar 20: no reactivation after a cancel.
 */
const expected: Array<[string, string, string, number]> = [
  ['2026-01-05', 'B', 'ageing:B:INV-B1:reminder', 3],
  ['2026-01-08', 'A', 'ageing:A:INV-A1:reminder', 3],
  ['2026-01-12', 'B', 'ageing:B:INV-B1:suspend', 10],
  ['2026-01-15', 'A', 'ageing:A:INV-A1:suspend', 10],
  ['2026-01-21', 'A', 'ageing:A:INV-A1:reactivate', 16],
  ['2026-02-01', 'B', 'ageing:B:INV-B1:cancel', 30],
  ['2026-02-08', 'A', 'ageing:A:INV-A2:reminder', 3],
  ['2026-02-15', 'A', 'ageing:A:INV-A2:suspend', 10],
  ['2026-03-07', 'A', 'ageing:A:INV-A2:cancel', 30],
  ['2026-04-02', 'B', 'ageing:B:INV-B1:write_off', 90],
];

/** Runs every account once a day for `days` days; `crashOn` loses one run's state commit. */
function simulate(days: number, crashOn?: string) {
  const clock = new ControllableClock(new Date('2026-01-01T14:00:00Z'));
  const states: Record<string, AgeingState> = { A: { emitted: [] }, B: { emitted: [] } };
  const published: LifecycleEvent[] = [];
  for (let d = 0; d < days; d += 1) {
    const dayIso = clock.date().toISOString().slice(0, 10);
    for (const [accountId, data] of Object.entries(accounts)) {
      const result = ageAccount({ policy, accountId, ...data, state: states[accountId]!, now: clock.now() });
      published.push(...result.events);
      // A crash after publishing and before committing the state: the next run sees the old state.
      if (dayIso !== crashOn) states[accountId] = result.state;
    }
    if (dayIso === crashOn) {
      // The service restarts and runs the same day again.
      for (const [accountId, data] of Object.entries(accounts)) {
        const result = ageAccount({ policy, accountId, ...data, state: states[accountId]!, now: clock.now() + 60_000 });
        published.push(...result.events);
        states[accountId] = result.state;
      }
    }
    clock.advance(DAY);
  }
  return { published, states, lastRun: clock.now() - DAY };
}

describe('ageing: a 100-day timeline with the controllable clock', () => {
  it('emits exactly the hand-worked steps, on the hand-worked days', () => {
    const { published } = simulate(100);
    expect(published.map((e) => [e.localDate, e.accountId, e.eventId, e.daysOverdue])).toEqual(expected);
    expect(published.map((e) => e.type)).toEqual([
      'dunning.reminder',
      'dunning.reminder',
      'account.suspended',
      'account.suspended',
      'account.reactivated',
      'account.cancelled',
      'dunning.reminder',
      'account.suspended',
      'account.cancelled',
      'invoice.written_off',
    ]);
    // The suspension of A fired with 60.00 still owed (40.00 paid on the 12th).
    expect(published.find((e) => e.eventId === 'ageing:A:INV-A1:suspend')?.outstanding?.amount.toFixed(2)).toBe('60.00');
  });

  it('a crash between publishing and committing re-emits the same ids, nothing new', () => {
    const { published } = simulate(100, '2026-01-15');
    const ids = published.map((e) => e.eventId);
    expect(ids.filter((id) => id === 'ageing:A:INV-A1:suspend')).toHaveLength(2); // once more, same id
    expect([...new Set(ids)]).toEqual(expected.map((e) => e[2]));
  });

  it('running again on the last day, or many times a day, emits nothing more', () => {
    const { states, lastRun } = simulate(100);
    for (const [accountId, data] of Object.entries(accounts)) {
      for (const offset of [0, 3_600_000, 7_200_000]) {
        expect(ageAccount({ policy, accountId, ...data, state: states[accountId]!, now: lastRun + offset }).events).toEqual([]);
      }
    }
    const a = ageAccount({ policy, accountId: 'A', ...accounts['A']!, state: states['A']!, now: lastRun });
    expect(a.status).toBe('cancelled');
  });
});
