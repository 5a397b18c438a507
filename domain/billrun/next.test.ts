import { describe, expect, it } from 'vitest';
import { BillRunError, billingKey, dueBillings, nextBilling } from './index.ts';
import type { BillRunBrand, BillRunSubscription } from './index.ts';

const NY: BillRunBrand = { code: 'b', timeZone: 'America/New_York', billingHour: 2 };

function sub(anchor: string, extra: Partial<BillRunSubscription> = {}): BillRunSubscription {
  return { subscriptionId: 's', brand: 'b', anchor: Date.parse(anchor), status: 'active', trialEndsAt: null, cancelledAt: null, ...extra };
}

const next = (brand: BillRunBrand, s: BillRunSubscription, from: number, since: string | null = null) => {
  const b = nextBilling({ brand, subscription: s, fromPeriodIndex: from, since: since === null ? null : new Date(since) });
  return b === null ? null : { n: b.periodIndex, anniversary: b.anniversary, dueAt: b.dueAt.toISOString() };
};

describe('nextBilling: what a subscription owes next, and when (hand-worked)', () => {
  it('an anchor on the 31st: the opening at the anchor itself (created after 02:00), then the last day of shorter months, back to the 31st', () => {
    const s = sub('2027-01-31T15:00:00Z'); // 10:00 EST, after the 02:00 billing hour
    expect(next(NY, s, 0)).toEqual({ n: 0, anniversary: '2027-01-31', dueAt: '2027-01-31T15:00:00.000Z' });
    expect(next(NY, s, 1)).toEqual({ n: 1, anniversary: '2027-02-28', dueAt: '2027-02-28T07:00:00.000Z' }); // 02:00 EST
    expect(next(NY, s, 2)).toEqual({ n: 2, anniversary: '2027-03-31', dueAt: '2027-03-31T06:00:00.000Z' }); // 02:00 EDT (DST from 14 March)
    expect(next(NY, s, 3)).toEqual({ n: 3, anniversary: '2027-04-30', dueAt: '2027-04-30T06:00:00.000Z' });
    expect(next(NY, s, 13)).toEqual({ n: 13, anniversary: '2028-02-29', dueAt: '2028-02-29T07:00:00.000Z' }); // leap year
    expect(next(NY, s, 14)).toEqual({ n: 14, anniversary: '2028-03-31', dueAt: '2028-03-31T06:00:00.000Z' });
  });

  it('DST: a billing hour in the spring-forward gap moves forward by the gap; one that exists twice is its first occurrence', () => {
    // 02:00 on 2026-03-08 in New York does not exist: 03:00 EDT = 07:00Z.
    expect(next(NY, sub('2026-01-08T15:00:00Z'), 2)).toEqual({ n: 2, anniversary: '2026-03-08', dueAt: '2026-03-08T07:00:00.000Z' });
    // 01:00 on 2026-11-01 in New York happens twice: the first, 01:00 EDT = 05:00Z.
    const ny1: BillRunBrand = { ...NY, billingHour: 1 };
    expect(next(ny1, sub('2026-10-01T16:00:00Z'), 1)).toEqual({ n: 1, anniversary: '2026-11-01', dueAt: '2026-11-01T05:00:00.000Z' });
    // 01:00 on 2026-03-29 in London does not exist: 02:00 BST = 01:00Z.
    const london: BillRunBrand = { code: 'b', timeZone: 'Europe/London', billingHour: 1 };
    expect(next(london, sub('2026-01-29T12:00:00Z'), 2)).toEqual({ n: 2, anniversary: '2026-03-29', dueAt: '2026-03-29T01:00:00.000Z' });
  });

  it('a trial: no opening invoice, the first billing is the first anniversary', () => {
    // Trial ends 10 February 00:00 EST (05:00Z): period 1 starts then, so it is not in trial.
    const s = sub('2026-01-10T15:00:00Z', { status: 'trial', trialEndsAt: Date.parse('2026-02-10T05:00:00Z') });
    expect(next(NY, s, 0)).toEqual({ n: 1, anniversary: '2026-02-10', dueAt: '2026-02-10T07:00:00.000Z' });
  });

  it('a cancellation: the final billing on the first anniversary at or after it, then nothing', () => {
    const s = sub('2026-01-10T15:00:00Z', { status: 'cancelled', cancelledAt: Date.parse('2026-03-20T12:00:00Z') });
    expect(next(NY, s, 2)).toEqual({ n: 2, anniversary: '2026-03-10', dueAt: '2026-03-10T06:00:00.000Z' }); // starts before: a fee
    expect(next(NY, s, 3)).toEqual({ n: 3, anniversary: '2026-04-10', dueAt: '2026-04-10T06:00:00.000Z' }); // the final invoice
    expect(next(NY, s, 4)).toBeNull();
    expect(next(NY, s, 9)).toBeNull();
    // Cancelled at period 0's start (10 January 00:00 EST): nothing at all.
    expect(next(NY, sub('2026-01-10T15:00:00Z', { status: 'cancelled', cancelledAt: Date.parse('2026-01-10T05:00:00Z') }), 0)).toBeNull();
  });

  it('since: billings due before it are settled history', () => {
    // Periods 1 (10 February) and 2 (10 March, 06:00Z) are due before 15 March.
    expect(next(NY, sub('2026-01-10T15:00:00Z'), 0, '2026-03-15T00:00:00Z')).toEqual({ n: 3, anniversary: '2026-04-10', dueAt: '2026-04-10T06:00:00.000Z' });
    expect(next(NY, sub('2026-01-10T15:00:00Z'), 5, '2026-03-15T00:00:00Z')).toEqual({ n: 5, anniversary: '2026-06-10', dueAt: '2026-06-10T06:00:00.000Z' });
  });

  it('refuses bad input, every problem at once', () => {
    const bad = () => nextBilling({ brand: { ...NY, timeZone: 'Mars/Olympus' }, subscription: sub('2026-01-10T15:00:00Z', { status: 'cancelled' }), fromPeriodIndex: 0 });
    expect(bad).toThrow(BillRunError);
    expect(bad).toThrow(/IANA zone.*cancelled without cancelledAt/);
    expect(() => next(NY, sub('2026-01-10T15:00:00Z'), -1)).toThrow(/fromPeriodIndex -1/);
  });

  it('agrees with dueBillings: from every period k, the first billing a run far ahead would still owe', () => {
    const subs = [
      sub('2027-01-31T15:00:00Z'),
      sub('2026-01-08T03:00:00Z'),
      sub('2026-01-10T15:00:00Z', { status: 'trial', trialEndsAt: Date.parse('2026-03-25T00:00:00Z') }),
      sub('2026-01-30T15:00:00Z', { status: 'cancelled', cancelledAt: Date.parse('2026-06-02T00:00:00Z') }),
    ];
    for (const s of subs) {
      for (let k = 0; k < 16; k += 1) {
        const invoiced = new Set(Array.from({ length: k }, (_, i) => billingKey('s', i)));
        const { due } = dueBillings({ brand: NY, subscriptions: [s], now: new Date('2029-01-01T00:00:00Z'), invoiced, maxCatchUpDays: 100_000 });
        const fromK = dueBillings({ brand: NY, subscriptions: [s], now: new Date('2029-01-01T00:00:00Z'), invoiced: new Set(), maxCatchUpDays: 100_000, fromPeriodIndex: new Map([['s', k]]) });
        expect(fromK.due).toEqual(due);
        const first = due[0];
        expect(next(NY, s, k)).toEqual(first ? { n: first.periodIndex, anniversary: first.anniversary, dueAt: first.dueAt.toISOString() } : null);
      }
    }
  });
});
