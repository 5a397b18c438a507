import { describe, expect, it } from 'vitest';
import {
  PeriodError,
  anniversaryFallsOn,
  dayBefore,
  localDateOf,
  nthPeriod,
  periodEndingOn,
  periodFor,
} from './index.ts';

const iso = (d: Date): string => d.toISOString();
const at = (s: string): Date => new Date(s);

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof PeriodError ? error.code : 'not_a_period_error';
  }
  return undefined;
}

describe('anchor on the 31st: from the anchor every time, clamped to the month end', () => {
  // In UTC the local midnight is the instant itself, which keeps the calendar visible.
  const leap = [
    '2028-01-31', '2028-02-29', '2028-03-31', '2028-04-30', '2028-05-31', '2028-06-30',
    '2028-07-31', '2028-08-31', '2028-09-30', '2028-10-31', '2028-11-30', '2028-12-31',
    '2029-01-31',
  ];
  const nonLeap = [
    '2027-01-31', '2027-02-28', '2027-03-31', '2027-04-30', '2027-05-31', '2027-06-30',
    '2027-07-31', '2027-08-31', '2027-09-30', '2027-10-31', '2027-11-30', '2027-12-31',
    '2028-01-31',
  ];
  it.each([
    ['2028-01-31', leap],
    ['2027-01-31', nonLeap],
  ])('anchor %s over a whole year', (anchor, starts) => {
    for (let n = 0; n < 12; n++) {
      const p = nthPeriod(anchor, n, 'UTC');
      expect([p.index, iso(p.start), iso(p.end)]).toEqual([
        n,
        `${starts[n]}T00:00:00.000Z`,
        `${starts[n + 1]}T00:00:00.000Z`,
      ]);
    }
  });

  it('a Feb 29 anchor gives Feb 28 in a common year and the 29th elsewhere', () => {
    expect(iso(nthPeriod('2028-02-29', 12, 'UTC').start)).toBe('2029-02-28T00:00:00.000Z');
    expect(iso(nthPeriod('2028-02-29', 1, 'UTC').start)).toBe('2028-03-29T00:00:00.000Z');
    expect(iso(nthPeriod('2028-02-29', 48, 'UTC').start)).toBe('2032-02-29T00:00:00.000Z');
  });

  it('a 31st anchor in a zone: the local midnights of the clamped days', () => {
    // Europe/London: Feb 28 2027 is GMT, Mar 31 2027 is BST (+1).
    const p = nthPeriod('2027-01-31', 1, 'Europe/London');
    expect([iso(p.start), iso(p.end)]).toEqual([
      '2027-02-28T00:00:00.000Z',
      '2027-03-30T23:00:00.000Z',
    ]);
  });
});

describe('DST: boundaries stay at local midnight on both sides of the change', () => {
  // [zone, anchor, n, start, end], worked by hand from the zone's offsets.
  const table: Array<[string, string, number, string, string]> = [
    // America/New_York, spring forward Sun Mar 8 2026 at 02:00 EST (-5) -> EDT (-4).
    ['America/New_York', '2026-01-08', 1, '2026-02-08T05:00:00.000Z', '2026-03-08T05:00:00.000Z'],
    ['America/New_York', '2026-01-08', 2, '2026-03-08T05:00:00.000Z', '2026-04-08T04:00:00.000Z'],
    ['America/New_York', '2026-01-09', 1, '2026-02-09T05:00:00.000Z', '2026-03-09T04:00:00.000Z'],
    // fall back Sun Nov 1 2026 at 02:00 EDT -> 01:00 EST.
    ['America/New_York', '2026-01-01', 9, '2026-10-01T04:00:00.000Z', '2026-11-01T04:00:00.000Z'],
    ['America/New_York', '2026-01-01', 10, '2026-11-01T04:00:00.000Z', '2026-12-01T05:00:00.000Z'],
    ['America/New_York', '2026-01-02', 9, '2026-10-02T04:00:00.000Z', '2026-11-02T05:00:00.000Z'],
    // Europe/London, spring forward Sun Mar 29 2026 at 01:00 GMT -> 02:00 BST (+1).
    // (anchor the 29th: Feb 2026 has no 29th, so period 1 starts on the 28th)
    ['Europe/London', '2026-01-29', 1, '2026-02-28T00:00:00.000Z', '2026-03-29T00:00:00.000Z'],
    ['Europe/London', '2026-01-29', 2, '2026-03-29T00:00:00.000Z', '2026-04-28T23:00:00.000Z'],
    ['Europe/London', '2026-01-30', 1, '2026-02-28T00:00:00.000Z', '2026-03-29T23:00:00.000Z'],
    // fall back Sun Oct 25 2026 at 02:00 BST -> 01:00 GMT.
    ['Europe/London', '2026-01-25', 8, '2026-09-24T23:00:00.000Z', '2026-10-24T23:00:00.000Z'],
    ['Europe/London', '2026-01-25', 9, '2026-10-24T23:00:00.000Z', '2026-11-25T00:00:00.000Z'],
    ['Europe/London', '2026-01-26', 9, '2026-10-26T00:00:00.000Z', '2026-11-26T00:00:00.000Z'],
    // Australia/Sydney, DST ends Sun Apr 5 2026 at 03:00 AEDT (+11) -> 02:00 AEST (+10).
    ['Australia/Sydney', '2026-01-05', 2, '2026-03-04T13:00:00.000Z', '2026-04-04T13:00:00.000Z'],
    ['Australia/Sydney', '2026-01-05', 3, '2026-04-04T13:00:00.000Z', '2026-05-04T14:00:00.000Z'],
    ['Australia/Sydney', '2026-01-06', 2, '2026-03-05T13:00:00.000Z', '2026-04-05T14:00:00.000Z'],
    // DST starts Sun Oct 4 2026 at 02:00 AEST -> 03:00 AEDT.
    ['Australia/Sydney', '2026-01-04', 8, '2026-09-03T14:00:00.000Z', '2026-10-03T14:00:00.000Z'],
    ['Australia/Sydney', '2026-01-04', 9, '2026-10-03T14:00:00.000Z', '2026-11-03T13:00:00.000Z'],
    ['Australia/Sydney', '2026-01-05', 9, '2026-10-04T13:00:00.000Z', '2026-11-04T13:00:00.000Z'],
    // America/Santiago springs forward at 24:00 (Sun Sep 6 2026 00:00 -04 -> 01:00 -03):
    // local midnight does not exist, the day starts at 01:00 -03.
    ['America/Santiago', '2026-08-06', 1, '2026-09-06T04:00:00.000Z', '2026-10-06T03:00:00.000Z'],
  ];
  it.each(table)('%s anchor %s period %i', (zone, anchor, n, start, end) => {
    const p = nthPeriod(anchor, n, zone);
    expect([iso(p.start), iso(p.end)]).toEqual([start, end]);
  });

  it('the repeated hour of a fall-back belongs to one period, once', () => {
    const zone = 'America/New_York';
    // 01:30 EDT and 01:30 EST on Nov 1 2026, both in period 10 (starts Nov 1 00:00 EDT).
    expect(periodFor('2026-01-01', at('2026-11-01T05:30:00Z'), zone).index).toBe(10);
    expect(periodFor('2026-01-01', at('2026-11-01T06:30:00Z'), zone).index).toBe(10);
    expect(periodFor('2026-01-01', at('2026-11-01T03:59:59.999Z'), zone).index).toBe(9);
  });
});

describe('periodFor', () => {
  it('an instant exactly at a boundary belongs to the later period', () => {
    const p1 = nthPeriod('2027-01-31', 1, 'America/New_York');
    expect(periodFor('2027-01-31', p1.end, 'America/New_York').index).toBe(2);
    expect(periodFor('2027-01-31', p1.start, 'America/New_York').index).toBe(1);
    expect(periodFor('2027-01-31', new Date(p1.end.getTime() - 1), 'America/New_York').index).toBe(1);
  });

  it('uses the local date: 23:30 in New York is already the next day in UTC', () => {
    // Mar 30 2027 23:30 EDT = Mar 31 03:30Z, still before the Mar 31 anniversary.
    expect(periodFor('2027-01-31', at('2027-03-31T03:30:00Z'), 'America/New_York').index).toBe(1);
    expect(periodFor('2027-01-31', at('2027-03-31T04:00:00Z'), 'America/New_York').index).toBe(2);
  });

  it('takes the local date of an instant anchor (and starts period 0 at its midnight)', () => {
    // Jan 31 2026 03:00Z is Jan 30 22:00 in New York: the anchor day is the 30th.
    const anchor = at('2026-01-31T03:00:00Z');
    const p0 = nthPeriod(anchor, 0, 'America/New_York');
    expect([iso(p0.start), iso(p0.end)]).toEqual([
      '2026-01-30T05:00:00.000Z',
      '2026-02-28T05:00:00.000Z',
    ]);
    expect(periodFor(anchor, at('2026-01-30T06:00:00Z'), 'America/New_York').index).toBe(0);
  });

  it('refuses an instant before the first period, bad zones and bad input', () => {
    expect(code(() => periodFor('2026-01-31', at('2026-01-30T23:59:59Z'), 'UTC'))).toBe(
      'instant_before_anchor',
    );
    expect(code(() => periodFor('2026-01-31', at('2025-06-01T00:00:00Z'), 'UTC'))).toBe(
      'instant_before_anchor',
    );
    expect(code(() => nthPeriod('2026-01-31', 0, 'Mars/Olympus'))).toBe('invalid_time_zone');
    expect(code(() => nthPeriod('2026-02-30', 0, 'UTC'))).toBe('invalid_anchor');
    expect(code(() => nthPeriod('2026-01-31', -1, 'UTC'))).toBe('invalid_period_index');
    expect(code(() => nthPeriod('2026-01-31', 1.5, 'UTC'))).toBe('invalid_period_index');
    expect(code(() => periodFor('2026-01-31', new Date('x'), 'UTC'))).toBe('invalid_instant');
  });
});

describe('periods tile: no gap, no overlap, over 36 months', () => {
  const zones = ['UTC', 'America/New_York', 'Europe/London', 'Australia/Sydney', 'America/Santiago', 'Asia/Kolkata'];
  const anchors = ['2026-01-31', '2026-01-30', '2026-01-29', '2028-02-29', '2026-03-08', '2026-10-25', '2026-04-05', '2026-06-01'];
  for (const zone of zones) {
    it(zone, () => {
      for (const anchor of anchors) {
        let previous = nthPeriod(anchor, 0, zone);
        for (let n = 1; n <= 36; n++) {
          const p = nthPeriod(anchor, n, zone);
          expect(p.start.getTime()).toBe(previous.end.getTime());
          expect(p.end.getTime()).toBeGreaterThan(p.start.getTime());
          // each boundary is the first instant of its local day
          expect(localDateOf(p.start, zone)).not.toBe(localDateOf(new Date(p.start.getTime() - 1), zone));
          expect(periodFor(anchor, p.start, zone).index).toBe(n);
          expect(periodFor(anchor, new Date(p.end.getTime() - 1), zone).index).toBe(n);
          expect(periodFor(anchor, new Date((p.start.getTime() + p.end.getTime()) / 2), zone).index).toBe(n);
          previous = p;
        }
      }
    });
  }
});

describe('anniversaryFallsOn and periodEndingOn (for a daily bill run)', () => {
  const table: Array<[string, string, boolean]> = [
    ['2027-01-31', '2027-01-31', false], // the anchor day starts the subscription
    ['2027-01-31', '2026-12-31', false],
    ['2027-01-31', '2027-02-28', true],
    ['2027-01-31', '2027-02-27', false],
    ['2027-01-31', '2027-03-28', false],
    ['2027-01-31', '2027-03-31', true],
    ['2027-01-31', '2027-04-30', true],
    ['2027-01-31', '2028-02-28', false],
    ['2027-01-31', '2028-02-29', true],
    ['2027-01-15', '2027-02-15', true],
    ['2027-01-15', '2027-02-16', false],
  ];
  it.each(table)('anchor %s, %s -> %s', (anchor, day, expected) => {
    expect(anniversaryFallsOn(anchor, day, 'Europe/London')).toBe(expected);
  });

  it('periodEndingOn gives the period that just ended', () => {
    const p = periodEndingOn('2027-01-31', '2027-03-31', 'UTC');
    expect(p && [p.index, iso(p.start), iso(p.end)]).toEqual([
      1,
      '2027-02-28T00:00:00.000Z',
      '2027-03-31T00:00:00.000Z',
    ]);
    expect(periodEndingOn('2027-01-31', '2027-03-30', 'UTC')).toBeNull();
  });

  it('refuses a malformed local date', () => {
    expect(code(() => anniversaryFallsOn('2027-01-31', '2027-2-28', 'UTC'))).toBe('invalid_local_date');
  });
});

describe('localDateOf and dayBefore', () => {
  it('gives the local date on each side of a DST change and of midnight, the same when asked again', () => {
    // New York: 2026-03-08 02:00 EST → 03:00 EDT. 04:59Z on the 8th is 23:59 EST on the 7th; 05:00Z is 00:00 on the 8th.
    for (let round = 0; round < 2; round++) {
      expect(localDateOf(at('2026-03-08T04:59:59.999Z'), 'America/New_York')).toBe('2026-03-07');
      expect(localDateOf(at('2026-03-08T05:00:00Z'), 'America/New_York')).toBe('2026-03-08');
      // After the change midnight is 04:00Z: 03:59Z on the 9th is still the 8th.
      expect(localDateOf(at('2026-03-09T03:59:59Z'), 'America/New_York')).toBe('2026-03-08');
      // The same instant in another zone is another date.
      expect(localDateOf(at('2026-03-09T03:59:59Z'), 'Europe/London')).toBe('2026-03-09');
    }
    expect(code(() => localDateOf(at('2026-03-09T03:59:59Z'), 'Mars/Olympus'))).toBe('invalid_time_zone');
  });

  it('steps back one calendar day across month, year and leap-day ends', () => {
    expect(dayBefore('2026-03-15')).toBe('2026-03-14');
    expect(dayBefore('2026-03-01')).toBe('2026-02-28');
    expect(dayBefore('2028-03-01')).toBe('2028-02-29');
    expect(dayBefore('2027-01-01')).toBe('2026-12-31');
  });
});
