import { DateTime, IANAZone } from 'luxon';

/**
 * A billing period: [start, end) as UTC instants. `index` 0 is the period that starts on
 * the anchor's local date.
 */
export interface BillingPeriod {
  readonly index: number;
  readonly start: Date;
  readonly end: Date;
}

/**
 * The subscription's anchor: an instant (its local date in the zone is taken) or a local
 * calendar date "YYYY-MM-DD" in the zone.
 */
export type Anchor = Date | string;

export type PeriodErrorCode =
  | 'invalid_time_zone'
  | 'invalid_anchor'
  | 'invalid_instant'
  | 'invalid_local_date'
  | 'invalid_period_index'
  | 'instant_before_anchor';

export class PeriodError extends Error {
  override readonly name = 'PeriodError';
  readonly retryable = false;
  constructor(
    readonly code: PeriodErrorCode,
    message: string,
  ) {
    super(message);
  }
}

interface LocalDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

const LOCAL_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

// Zones found valid: luxon's check builds an Intl formatter each call (tens of µs), and a bill
// run asks it for every period of every subscription. A valid name stays valid.
const validZones = new Set<string>();

function checkZone(zone: string): void {
  if (validZones.has(zone)) return;
  if (!IANAZone.isValidZone(zone)) {
    throw new PeriodError('invalid_time_zone', `"${zone}" is not an IANA time zone`);
  }
  validZones.add(zone);
}

function parseLocalDate(text: string, code: PeriodErrorCode): LocalDate {
  const match = LOCAL_DATE.exec(text);
  const date = match ? DateTime.fromISO(text, { zone: 'UTC' }) : undefined;
  if (!date?.isValid) throw new PeriodError(code, `"${text}" is not a calendar date YYYY-MM-DD`);
  return { year: date.year, month: date.month, day: date.day };
}

function checkInstant(instant: Date, what: string): void {
  if (!(instant instanceof Date) || Number.isNaN(instant.getTime())) {
    throw new PeriodError('invalid_instant', `${what} is not a valid instant`);
  }
}

function anchorDate(anchor: Anchor, zone: string): LocalDate {
  if (typeof anchor === 'string') return parseLocalDate(anchor, 'invalid_anchor');
  if (!(anchor instanceof Date) || Number.isNaN(anchor.getTime())) {
    throw new PeriodError('invalid_anchor', 'the anchor is not a valid instant or YYYY-MM-DD date');
  }
  const key = `${zone}|${anchor.getTime()}`;
  const known = anchorDates.get(key);
  if (known !== undefined) return known;
  const local = DateTime.fromJSDate(anchor, { zone });
  const date = { year: local.year, month: local.month, day: local.day };
  if (anchorDates.size >= ANCHOR_DATES_LIMIT) anchorDates.clear();
  anchorDates.set(key, date);
  return date;
}

// Anchors' local dates per zone: a bill run asks each subscription's several times. Bounded.
const anchorDates = new Map<string, LocalDate>();
const ANCHOR_DATES_LIMIT = 200_000;

/**
 * The local calendar date of the n-th anniversary: the anchor's date plus n months, the day
 * clamped to the month's last day. Always from the anchor, never from the previous
 * period, so a 31st anchor gives Feb 28/29 and comes back to Mar 31.
 */
function anniversaryDate(anchor: LocalDate, n: number): LocalDate {
  const monthIndex = anchor.year * 12 + (anchor.month - 1) + n;
  const year = Math.floor(monthIndex / 12);
  const month = (monthIndex % 12) + 1;
  const lastDay = DateTime.utc(year, month, 1).daysInMonth ?? 28;
  return { year, month, day: Math.min(anchor.day, lastDay) };
}

/**
 * The first instant of a local day: local midnight, or, where a DST change skips midnight
 * (America/Santiago, America/Havana springs forward at 00:00), the first instant that
 * exists on that day. Luxon moves a non-existent local time forward by the gap.
 */
// Local midnights already computed, per zone and date: a bill run asks the same few dates for
// every subscription of a brand, and each luxon answer costs a zone-offset lookup. Bounded.
const midnights = new Map<string, number>();
const MIDNIGHTS_LIMIT = 100_000;

function startOfLocalDay(date: LocalDate, zone: string): Date {
  const key = `${zone}|${date.year}-${date.month}-${date.day}`;
  const known = midnights.get(key);
  if (known !== undefined) return new Date(known);
  const local = DateTime.fromObject(
    { year: date.year, month: date.month, day: date.day, hour: 0 },
    { zone },
  );
  const ms = local.startOf('day').toMillis();
  if (midnights.size >= MIDNIGHTS_LIMIT) midnights.clear();
  midnights.set(key, ms);
  return new Date(ms);
}

function periodAt(anchor: LocalDate, n: number, zone: string): BillingPeriod {
  return {
    index: n,
    start: startOfLocalDay(anniversaryDate(anchor, n), zone),
    end: startOfLocalDay(anniversaryDate(anchor, n + 1), zone),
  };
}

/** The n-th billing period (n ≥ 0) of a subscription anchored at `anchor`, in `zone`. */
export function nthPeriod(anchor: Anchor, n: number, zone: string): BillingPeriod {
  checkZone(zone);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new PeriodError('invalid_period_index', `period index ${n} is not an integer ≥ 0`);
  }
  return periodAt(anchorDate(anchor, zone), n, zone);
}

/**
 * The billing period that contains `instant` (start inclusive, end exclusive: an instant
 * exactly on a boundary belongs to the later period). An instant before the start of
 * period 0 is refused with `instant_before_anchor`.
 */
export function periodFor(anchor: Anchor, instant: Date, zone: string): BillingPeriod {
  checkZone(zone);
  checkInstant(instant, 'the instant');
  const a = anchorDate(anchor, zone);
  const local = DateTime.fromJSDate(instant, { zone });
  // The month difference is the answer or one more than it (when the instant's day is
  // before this month's anniversary); two steps at most, whatever the zone does.
  let n = (local.year - a.year) * 12 + (local.month - a.month);
  let period = periodAt(a, Math.max(n, 0), zone);
  while (instant.getTime() < period.start.getTime()) {
    n = period.index - 1;
    if (n < 0) {
      throw new PeriodError(
        'instant_before_anchor',
        `${instant.toISOString()} is before the first billing period (${period.start.toISOString()})`,
      );
    }
    period = periodAt(a, n, zone);
  }
  while (instant.getTime() >= period.end.getTime()) period = periodAt(a, period.index + 1, zone);
  return period;
}

// Local dates of instants, per zone: a bill run asks for the same few (period starts at local
// midnight, the run's instant) thousands of times, and each luxon answer costs a zone-offset
// lookup. Cleared when large; the answer never changes.
const localDates = new Map<string, Map<number, string>>();
const LOCAL_DATES_KEPT = 100_000;
let localDatesHeld = 0;

/** The local calendar date ("YYYY-MM-DD") of an instant in a zone. */
export function localDateOf(instant: Date, zone: string): string {
  checkZone(zone);
  checkInstant(instant, 'the instant');
  let dates = localDates.get(zone);
  if (!dates) localDates.set(zone, (dates = new Map()));
  const ms = instant.getTime();
  let date = dates.get(ms);
  if (date === undefined) {
    date = DateTime.fromJSDate(instant, { zone }).toISODate() ?? '';
    if (++localDatesHeld > LOCAL_DATES_KEPT) {
      localDates.clear();
      localDatesHeld = 1;
      localDates.set(zone, (dates = new Map()));
    }
    dates.set(ms, date);
  }
  return date;
}

/** The calendar date before a "YYYY-MM-DD" date (calendar arithmetic: no zone involved). */
export function dayBefore(localDate: string): string {
  const [y, m, d] = localDate.split('-').map(Number) as [number, number, number];
  const date = new Date(0);
  date.setUTCFullYear(y, m - 1, d - 1); // (Date.UTC would read years 0-99 as 1900-1999)
  return date.toISOString().slice(0, 10);
}

/**
 * The period that ends on `localDate` (its end instant falls on that local day), or null.
 * A daily bill run in the brand's zone calls this for today: a non-null answer is the
 * period to invoice.
 */
export function periodEndingOn(anchor: Anchor, localDate: string, zone: string): BillingPeriod | null {
  checkZone(zone);
  const a = anchorDate(anchor, zone);
  const d = parseLocalDate(localDate, 'invalid_local_date');
  const n = (d.year - a.year) * 12 + (d.month - a.month);
  if (n < 1) return null;
  const date = anniversaryDate(a, n);
  if (date.day !== d.day) return null;
  return periodAt(a, n - 1, zone);
}

/**
 * Whether `localDate` is an anniversary day (the first day of period n ≥ 1). The anchor's
 * own date is the start of the subscription, not an anniversary.
 */
export function anniversaryFallsOn(anchor: Anchor, localDate: string, zone: string): boolean {
  return periodEndingOn(anchor, localDate, zone) !== null;
}
