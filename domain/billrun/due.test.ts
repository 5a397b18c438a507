import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { BillRunError, ControllableClock, billingInstant, billingKey, dueBillings } from './index.ts';
import type { BillRunBrand, BillRunSubscription, DueBilling } from './index.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

function sub(id: string, anchor: string, extra: Partial<BillRunSubscription> = {}): BillRunSubscription {
  return {
    subscriptionId: id,
    brand: 'b',
    anchor: new Date(anchor).getTime(),
    status: 'active',
    trialEndsAt: null,
    cancelledAt: null,
    ...extra,
  };
}

/** Runs the bill run at each instant, recording what it invoices as the service would. */
function runAt(brand: BillRunBrand, subs: readonly BillRunSubscription[], instants: readonly Date[], maxCatchUpDays?: number) {
  const invoiced = new Set<string>();
  const runs: { now: Date; due: DueBilling[] }[] = [];
  for (const now of instants) {
    const { due } = dueBillings({ brand, subscriptions: subs, now, invoiced, maxCatchUpDays });
    for (const b of due) invoiced.add(billingKey(b.subscriptionId, b.periodIndex));
    runs.push({ now, due: [...due] });
  }
  return { runs, invoiced, all: runs.flatMap((r) => r.due) };
}

/** A run every day at `hour`:30 brand-local-ish: `first` plus whole days (UTC steps). */
function daily(first: string, days: number): Date[] {
  const clock = new ControllableClock(new Date(first));
  const out: Date[] = [];
  for (let i = 0; i < days; i += 1) {
    out.push(clock.date());
    clock.advance(DAY);
  }
  return out;
}

describe('anniversary on the 31st across 2027-2028 (leap February), America/New_York at 02:00', () => {
  const brand: BillRunBrand = { code: 'b', timeZone: 'America/New_York', billingHour: 2 };
  // 2027-01-31 10:00 EST; daily runs at 08:00Z (03:00 EST / 04:00 EDT), after the billing hour.
  const s = sub('s31', '2027-01-31T15:00:00Z');
  const { all, runs } = runAt(brand, [s], daily('2027-01-31T08:00:00Z', 430));

  it('bills on the last day of shorter months, Feb 28 in 2027 and Feb 29 in 2028, back to the 31st after', () => {
    expect(all.map((b) => `${b.periodIndex}:${b.anniversary}`)).toEqual([
      '0:2027-01-31', '1:2027-02-28', '2:2027-03-31', '3:2027-04-30', '4:2027-05-31', '5:2027-06-30',
      '6:2027-07-31', '7:2027-08-31', '8:2027-09-30', '9:2027-10-31', '10:2027-11-30', '11:2027-12-31',
      '12:2028-01-31', '13:2028-02-29', '14:2028-03-31',
    ]);
  });

  it('each on the day it falls, at 02:00 local (EST -5 in winter, EDT -4 in summer)', () => {
    const byIndex = new Map(all.map((b) => [b.periodIndex, b]));
    expect(iso(byIndex.get(1)?.dueAt)).toBe('2027-02-28T07:00:00.000Z');
    expect(iso(byIndex.get(2)?.dueAt)).toBe('2027-03-31T06:00:00.000Z');
    expect(iso(byIndex.get(13)?.dueAt)).toBe('2028-02-29T07:00:00.000Z');
    expect(iso(byIndex.get(14)?.dueAt)).toBe('2028-03-31T06:00:00.000Z');
    // The opening invoice: the anchor (10:00 EST) came after that day's 02:00, so the next run bills it.
    expect(iso(byIndex.get(0)?.dueAt)).toBe('2027-01-31T15:00:00.000Z');
    for (const r of runs) for (const b of r.due) if (b.periodIndex > 0) expect(b.late).toBe(false);
  });

  it('advance and arrears: period n in advance, period n − 1 in arrears, tiling', () => {
    const feb29 = all.find((b) => b.periodIndex === 13);
    expect(iso(feb29?.feePeriod?.start)).toBe('2028-02-29T05:00:00.000Z');
    expect(iso(feb29?.feePeriod?.end)).toBe('2028-03-31T04:00:00.000Z');
    expect(iso(feb29?.usagePeriod?.start)).toBe('2028-01-31T05:00:00.000Z');
    expect(iso(feb29?.usagePeriod?.end)).toBe('2028-02-29T05:00:00.000Z');
    expect(all[0]?.kind).toBe('opening');
    expect(all[0]?.usagePeriod).toBeNull();
  });
});

describe('billing hour on DST change days (2026)', () => {
  // Hand-worked. A missing hour moves forward by the gap; a repeated hour is its first occurrence.
  const cases: [zone: string, date: string, hour: number, utc: string, why: string][] = [
    ['America/New_York', '2026-03-08', 2, '2026-03-08T07:00:00.000Z', '02:00 does not exist: 03:00 EDT'],
    ['America/New_York', '2026-03-08', 1, '2026-03-08T06:00:00.000Z', '01:00 EST, before the change'],
    ['America/New_York', '2026-11-01', 1, '2026-11-01T05:00:00.000Z', '01:00 twice: the first, EDT'],
    ['America/New_York', '2026-11-01', 2, '2026-11-01T07:00:00.000Z', '02:00 EST, once'],
    ['Europe/London', '2026-03-29', 1, '2026-03-29T01:00:00.000Z', '01:00 does not exist: 02:00 BST'],
    ['Europe/London', '2026-03-29', 2, '2026-03-29T01:00:00.000Z', '02:00 BST: the same instant as above'],
    ['Europe/London', '2026-10-25', 1, '2026-10-25T00:00:00.000Z', '01:00 twice: the first, BST'],
    ['Europe/London', '2026-10-25', 2, '2026-10-25T02:00:00.000Z', '02:00 GMT, once'],
    ['Australia/Sydney', '2026-04-05', 2, '2026-04-04T15:00:00.000Z', '02:00 twice: the first, AEDT +11'],
    ['Australia/Sydney', '2026-04-05', 1, '2026-04-04T14:00:00.000Z', '01:00 AEDT, before the change'],
    ['Australia/Sydney', '2026-10-04', 2, '2026-10-03T16:00:00.000Z', '02:00 does not exist: 03:00 AEDT'],
    ['Australia/Sydney', '2026-10-04', 1, '2026-10-03T15:00:00.000Z', '01:00 AEST +10, before the change'],
  ];
  it.each(cases)('%s %s at %i:00 is %s (%s)', (zone, date, hour, utc) => {
    expect(billingInstant(date, hour, zone).toISOString()).toBe(utc);
  });

  // Subscriptions whose anniversary is the change day, and one the day before and after;
  // runs every hour through the three days: each billed once, at the hand-worked instant.
  const around: [zone: string, day: string, hour: number, expected: string][] = [
    ['America/New_York', '2026-03-08', 2, '2026-03-08T07:00:00.000Z'],
    ['America/New_York', '2026-11-01', 1, '2026-11-01T05:00:00.000Z'],
    ['Europe/London', '2026-03-29', 1, '2026-03-29T01:00:00.000Z'],
    ['Europe/London', '2026-10-25', 1, '2026-10-25T00:00:00.000Z'],
    ['Australia/Sydney', '2026-04-05', 2, '2026-04-04T15:00:00.000Z'],
    ['Australia/Sydney', '2026-10-04', 2, '2026-10-03T16:00:00.000Z'],
  ];
  it.each(around)('%s, anniversary %s at %i:00: hourly runs bill it once, first at %s', (zone, day, hour, expected) => {
    const brand: BillRunBrand = { code: 'b', timeZone: zone, billingHour: hour };
    // Anchored a year earlier at local noon, on the day before, the day and the day after;
    // `since` leaves the eleven anniversaries in between unexamined.
    const subs = [-1, 0, 1].map((d) => ({
      ...sub(`d${d}`, '2025-01-01T00:00:00Z'),
      anchor: DateTime.fromISO(day, { zone }).minus({ years: 1 }).plus({ days: d }).set({ hour: 12 }).toMillis(),
    }));
    const start = new Date(`${day}T00:00:00Z`).getTime() - 2 * DAY;
    const hours = Array.from({ length: 5 * 24 }, (_, i) => new Date(start + i * HOUR + 30 * 60_000));
    const invoiced = new Set<string>();
    const since = new Date(start);
    const billed: { b: DueBilling; at: Date }[] = [];
    for (const now of hours) {
      for (const b of dueBillings({ brand, subscriptions: subs, now, invoiced, since }).due) {
        expect(invoiced.has(billingKey(b.subscriptionId, b.periodIndex))).toBe(false);
        invoiced.add(billingKey(b.subscriptionId, b.periodIndex));
        billed.push({ b, at: now });
      }
    }
    const onDay = billed.filter((x) => x.b.subscriptionId === 'd0');
    expect(onDay).toHaveLength(1);
    expect(onDay[0]?.b.anniversary).toBe(day);
    expect(iso(onDay[0]?.b.dueAt)).toBe(expected);
    // Billed by the first hourly run at or after the due instant (runs are at :30).
    expect(onDay[0]?.at.getTime()).toBe(new Date(expected).getTime() + 30 * 60_000);
    expect(billed.map((x) => x.b.subscriptionId).sort()).toEqual(['d-1', 'd0', 'd1']);
  });
});

describe('catch-up and idempotence', () => {
  const brand: BillRunBrand = { code: 'b', timeZone: 'America/New_York', billingHour: 2 };
  // Anniversaries on the 10th to 13th; opening invoices (period 0) already issued.
  const subs = [10, 11, 12, 13].map((d) => sub(`s${d}`, `2026-05-${d}T16:00:00Z`));
  const opened = new Set(subs.map((s) => billingKey(s.subscriptionId, 0)));

  it('a run missed for 3 days (June 10-12) catches up exactly those 3 days on the 13th, plus the 13th', () => {
    const june9 = dueBillings({ brand, subscriptions: subs, now: new Date('2026-06-09T07:00:00Z'), invoiced: opened });
    expect(june9.due).toEqual([]);
    // 2026-06-13 03:00 EDT: the 10th, 11th and 12th are late, the 13th is today's.
    const june13 = dueBillings({ brand, subscriptions: subs, now: new Date('2026-06-13T07:00:00Z'), invoiced: opened });
    expect(june13.due.map((b) => [b.subscriptionId, b.periodIndex, b.anniversary, b.late])).toEqual([
      ['s10', 1, '2026-06-10', true],
      ['s11', 1, '2026-06-11', true],
      ['s12', 1, '2026-06-12', true],
      ['s13', 1, '2026-06-13', false],
    ]);
    expect(june13.due.map((b) => iso(b.dueAt))).toEqual([
      '2026-06-10T06:00:00.000Z', '2026-06-11T06:00:00.000Z', '2026-06-12T06:00:00.000Z', '2026-06-13T06:00:00.000Z',
    ]);
    expect(june13.skipped).toEqual([]);
  });

  it('the same day run twice yields nothing the second time', () => {
    const invoiced = new Set(opened);
    const first = dueBillings({ brand, subscriptions: subs, now: new Date('2026-06-11T06:00:00Z'), invoiced });
    expect(first.due.map((b) => b.subscriptionId)).toEqual(['s10', 's11']); // exactly at 02:00 EDT: due
    for (const b of first.due) invoiced.add(billingKey(b.subscriptionId, b.periodIndex));
    const again = dueBillings({ brand, subscriptions: subs, now: new Date('2026-06-11T20:00:00Z'), invoiced });
    expect(again.due).toEqual([]);
    expect(again.skipped).toEqual([]);
  });

  it('a minute before the billing hour nothing of today is due', () => {
    const r = dueBillings({ brand, subscriptions: subs, now: new Date('2026-06-10T05:59:00Z'), invoiced: opened });
    expect(r.due).toEqual([]);
  });

  it('beyond the catch-up bound: listed as skipped with a warning, not billed, not dropped', () => {
    // Down from June 10 to June 20 (03:00 EDT on the 20th), bound 8 days: cut-off June 12.
    const r = dueBillings({
      brand, subscriptions: subs, now: new Date('2026-06-20T07:00:00Z'), invoiced: opened, maxCatchUpDays: 8,
    });
    expect(r.due.map((b) => b.anniversary)).toEqual(['2026-06-12', '2026-06-13']);
    expect(r.skipped.map((b) => [b.subscriptionId, b.anniversary, b.reason])).toEqual([
      ['s10', '2026-06-10', 'beyond_catch_up_limit'],
      ['s11', '2026-06-11', 'beyond_catch_up_limit'],
    ]);
    expect(r.warnings).toHaveLength(2);
    expect(r.warnings[0]).toContain('s10 period 1 (anniversary 2026-06-10)');
  });

  it('`since` leaves settled history unexamined', () => {
    const r = dueBillings({
      brand, subscriptions: subs, now: new Date('2026-06-13T07:00:00Z'), invoiced: new Set(), since: new Date('2026-06-01T00:00:00Z'),
    });
    expect(r.due.map((b) => `${b.subscriptionId}:${b.periodIndex}`)).toEqual(['s10:1', 's11:1', 's12:1', 's13:1']);
  });
});

describe('trial, cancellation and creation mid-way (UTC, billing hour 0)', () => {
  const brand: BillRunBrand = { code: 'b', timeZone: 'UTC', billingHour: 0 };
  const at = (s: string): number => new Date(s).getTime();
  const now = new Date('2026-07-01T00:00:00Z');
  const all = (s: BillRunSubscription) =>
    dueBillings({ brand, subscriptions: [s], now, invoiced: new Set(), maxCatchUpDays: 400 }).due;
  const summary = (bs: readonly DueBilling[]) =>
    bs.map((b) => `${b.periodIndex} ${b.kind} fee:${b.feePeriod ? b.feePeriod.start.toISOString().slice(0, 10) : '-'} usage:${b.usagePeriod ? b.usagePeriod.start.toISOString().slice(0, 10) : '-'}`);

  it('trial to Feb 20: no opening invoice, Feb 15 bills January usage only, fees from Mar 15', () => {
    const s = sub('t', '2026-01-15T09:00:00Z', { status: 'trial', trialEndsAt: at('2026-02-20T00:00:00Z') });
    const due = all(s);
    expect(summary(due).slice(0, 3)).toEqual([
      '1 anniversary fee:- usage:2026-01-15',
      '2 anniversary fee:2026-03-15 usage:2026-02-15',
      '3 anniversary fee:2026-04-15 usage:2026-03-15',
    ]);
    expect(due[0]?.inTrial).toBe(true);
    expect(due[1]?.inTrial).toBe(false);
  });

  it('a trial that ends exactly on the anniversary: that period is billed in advance', () => {
    const s = sub('t2', '2026-01-15T09:00:00Z', { trialEndsAt: at('2026-02-15T00:00:00Z') });
    expect(summary(all(s)).slice(0, 1)).toEqual(['1 anniversary fee:2026-02-15 usage:2026-01-15']);
  });

  it('cancelled on Mar 20: fees through period 2, a final invoice on Apr 15 for its usage, then nothing', () => {
    const s = sub('c', '2026-01-15T09:00:00Z', { status: 'cancelled', cancelledAt: at('2026-03-20T12:00:00Z') });
    expect(summary(all(s))).toEqual([
      '0 opening fee:2026-01-15 usage:-',
      '1 anniversary fee:2026-02-15 usage:2026-01-15',
      '2 anniversary fee:2026-03-15 usage:2026-02-15',
      '3 final fee:- usage:2026-03-15',
    ]);
  });

  it('cancelled exactly at an anniversary: that anniversary is the final invoice', () => {
    const s = sub('c2', '2026-01-15T09:00:00Z', { status: 'cancelled', cancelledAt: at('2026-03-15T00:00:00Z') });
    expect(summary(all(s)).slice(-1)).toEqual(['2 final fee:- usage:2026-02-15']);
    expect(all(s)).toHaveLength(3);
  });

  it('cancelled before it started: nothing at all; a future cancellation changes nothing yet', () => {
    expect(all(sub('c3', '2026-01-15T09:00:00Z', { cancelledAt: at('2026-01-14T00:00:00Z') }))).toEqual([]);
    expect(all(sub('c4', '2026-05-15T09:00:00Z', { cancelledAt: at('2026-09-01T00:00:00Z') })).map((b) => b.kind)).toEqual([
      'opening', 'anniversary',
    ]);
  });

  it('created mid-day after the bill run: the opening invoice is due from the anchor, billed by the next run', () => {
    const s = sub('m', '2026-06-30T15:00:00Z');
    expect(dueBillings({ brand, subscriptions: [s], now: new Date('2026-06-30T14:59:00Z'), invoiced: new Set() }).due).toEqual([]);
    const next = dueBillings({ brand, subscriptions: [s], now, invoiced: new Set() }).due;
    expect(next.map((b) => [b.kind, iso(b.dueAt), b.late])).toEqual([['opening', '2026-06-30T15:00:00.000Z', true]]);
  });
});

describe('input is checked once, every problem reported', () => {
  it('refuses a bad brand, duplicate ids, a foreign subscription and a cancelled one without a date', () => {
    try {
      dueBillings({
        brand: { code: 'b', timeZone: 'Mars/Olympus', billingHour: 24 },
        subscriptions: [
          sub('x', '2026-01-01T00:00:00Z'),
          sub('x', '2026-01-01T00:00:00Z', { brand: 'other' }),
          sub('y', '2026-01-01T00:00:00Z', { status: 'cancelled' }),
        ],
        now: new Date('2026-02-01T00:00:00Z'),
        invoiced: new Set(),
        maxCatchUpDays: -1,
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(BillRunError);
      const e = error as BillRunError;
      expect(e.code).toBe('invalid_bill_run_input');
      expect(e.problems).toHaveLength(6);
    }
  });
});

describe('ControllableClock', () => {
  it('moves only when told, never backwards by advance', () => {
    const clock = new ControllableClock(new Date('2026-01-01T00:00:00Z'));
    expect(clock.now()).toBe(Date.UTC(2026, 0, 1));
    clock.advance(90 * 60_000);
    expect(clock.date().toISOString()).toBe('2026-01-01T01:30:00.000Z');
    clock.set(Date.UTC(2027, 0, 1));
    expect(clock.date().toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(() => clock.advance(-1)).toThrow(RangeError);
  });
});
