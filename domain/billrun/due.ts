import { DateTime, IANAZone } from 'luxon';
import { localDateOf, nthPeriod } from '../periods/index.ts';
import { BillRunError } from './types.ts';
import type {
  BillRunBrand,
  BillRunSubscription,
  DueBilling,
  DueBillingsInput,
  DueBillingsResult,
  NextBilling,
  NextBillingInput,
  SkippedBilling,
} from './types.ts';

export const DEFAULT_MAX_CATCH_UP_DAYS = 7;

const STATUSES = new Set(['trial', 'active', 'suspended', 'cancelled']);

/** The key of a billing in the `invoiced` set: one per subscription and period index. */
export function billingKey(subscriptionId: string, periodIndex: number): string {
  return `${subscriptionId}#${periodIndex}`;
}

/** Code-unit order, the same on every machine and locale. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The instant of `hour`:00 brand-local on `localDate`. A wall time that does not exist (a
 * spring-forward gap) is moved forward by the gap, as luxon does: 02:00 on 2026-03-08 in
 * America/New_York is 03:00 EDT. A wall time that exists twice (fall-back) is its FIRST
 * occurrence, the first moment the wall clock shows the billing hour; luxon alone picks
 * the first in some zones and the second in others, so it is settled here.
 */
export function billingInstant(localDate: string, hour: number, zone: string): Date {
  const key = `${zone}|${localDate}|${hour}`;
  const known = instants.get(key);
  if (known !== undefined) return new Date(known);
  const instant = computeBillingInstant(localDate, hour, zone);
  if (instants.size >= INSTANTS_LIMIT) instants.clear();
  instants.set(key, instant.getTime());
  return instant;
}

// Billing instants already computed (a brand's subscriptions share their anniversaries). Bounded.
const instants = new Map<string, number>();
const INSTANTS_LIMIT = 100_000;

function computeBillingInstant(localDate: string, hour: number, zone: string): Date {
  const [year, month, day] = localDate.split('-').map(Number) as [number, number, number];
  const shifted = DateTime.fromObject({ year, month, day, hour }, { zone });
  const iana = IANAZone.create(zone);
  const wall = Date.UTC(year, month - 1, day, hour);
  // Offsets in force around that day; a wall time maps to wall − offset where the offset holds.
  const offsets = new Set([
    iana.offset(wall - 36 * 3_600_000),
    iana.offset(wall),
    iana.offset(wall + 36 * 3_600_000),
    shifted.offset,
  ]);
  let first: number | null = null;
  for (const offset of offsets) {
    const instant = wall - offset * 60_000;
    if (iana.offset(instant) === offset && (first === null || instant < first)) first = instant;
  }
  return new Date(first ?? shifted.toMillis());
}

// Zones found valid (luxon's check builds an Intl formatter each call; a valid name stays valid).
const validZones = new Set<string>();
function isZone(zone: string): boolean {
  if (validZones.has(zone)) return true;
  if (!IANAZone.isValidZone(zone)) return false;
  validZones.add(zone);
  return true;
}

function validate(input: DueBillingsInput): void {
  const problems: string[] = [];
  const { brand } = input;
  if (!isZone(brand.timeZone)) problems.push(`brand.timeZone "${brand.timeZone}" is not an IANA zone`);
  if (!Number.isInteger(brand.billingHour) || brand.billingHour < 0 || brand.billingHour > 23) {
    problems.push(`brand.billingHour ${brand.billingHour} is not an hour 0-23`);
  }
  if (!(input.now instanceof Date) || Number.isNaN(input.now.getTime())) problems.push('now is not a valid instant');
  const days = input.maxCatchUpDays ?? DEFAULT_MAX_CATCH_UP_DAYS;
  if (!Number.isSafeInteger(days) || days < 0) problems.push(`maxCatchUpDays ${days} is not an integer ≥ 0`);
  if (input.since != null && (!(input.since instanceof Date) || Number.isNaN(input.since.getTime()))) {
    problems.push('since is not a valid instant');
  }
  const seen = new Set<string>();
  input.subscriptions.forEach((s, i) => {
    const at = `subscriptions[${i}] (${s.subscriptionId})`;
    if (!s.subscriptionId) problems.push(`subscriptions[${i}].subscriptionId is empty`);
    if (seen.has(s.subscriptionId)) problems.push(`${at}: duplicate subscriptionId`);
    seen.add(s.subscriptionId);
    if (s.brand !== brand.code) problems.push(`${at}: belongs to brand "${s.brand}", not "${brand.code}"`);
    if (!Number.isFinite(s.anchor)) problems.push(`${at}.anchor is not an instant`);
    if (s.trialEndsAt !== null && !Number.isFinite(s.trialEndsAt)) problems.push(`${at}.trialEndsAt is not an instant`);
    if (s.cancelledAt !== null && !Number.isFinite(s.cancelledAt)) problems.push(`${at}.cancelledAt is not an instant`);
    if (!STATUSES.has(s.status)) problems.push(`${at}.status "${s.status}" is not trial, active, suspended or cancelled`);
    if (s.status === 'cancelled' && s.cancelledAt === null) problems.push(`${at}: cancelled without cancelledAt`);
  });
  if (problems.length > 0) {
    throw new BillRunError('invalid_bill_run_input', `invalid bill run input: ${problems.join('; ')}`, problems);
  }
}

interface LocalDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

const isoDate = (d: LocalDate): string =>
  `${String(d.year).padStart(4, '0')}-${String(d.month).padStart(2, '0')}-${String(d.day).padStart(2, '0')}`;

/**
 * The rule of domain/periods, repeated here for speed only (its functions check the zone
 * on every call, ~60 µs each): the n-th anniversary is the anchor's local date plus n
 * months, the day clamped to the month's end, from the anchor every time. Every billing
 * returned carries `nthPeriod`'s own period, and the tests check the two agree.
 */
function anniversaryDate(anchor: LocalDate, n: number): LocalDate {
  const monthIndex = anchor.year * 12 + (anchor.month - 1) + n;
  const year = Math.floor(monthIndex / 12);
  const month = (monthIndex % 12) + 1;
  const lastDay = DateTime.utc(year, month, 1).daysInMonth ?? 28;
  return { year, month, day: Math.min(anchor.day, lastDay) };
}

// Local dates of instants (anchors, mostly) per zone: each subscription's is asked by what is
// due and again by its next billing. Bounded.
const localDates = new Map<string, LocalDate>();
const LOCAL_DATES_LIMIT = 200_000;

function localDate(instant: number, zone: IANAZone): LocalDate {
  const key = `${zone.name}|${instant}`;
  const known = localDates.get(key);
  if (known !== undefined) return known;
  const t = DateTime.fromMillis(instant, { zone });
  const date = { year: t.year, month: t.month, day: t.day };
  if (localDates.size >= LOCAL_DATES_LIMIT) localDates.clear();
  localDates.set(key, date);
  return date;
}

/** Whether the local day `d` starts (local midnight, as domain/periods) at or after `instant`. */
function dayStartsAtOrAfter(d: LocalDate, instant: number, zone: IANAZone): boolean {
  const startOfDay = DateTime.fromObject({ year: d.year, month: d.month, day: d.day }, { zone }).startOf('day');
  return startOfDay.toMillis() >= instant;
}

/** A billing the rules of dueBillings would invoice, before `now`, `invoiced` and the catch-up bound. */
interface Candidate {
  readonly n: number;
  readonly date: LocalDate;
  readonly dueAt: Date;
  readonly final: boolean;
  readonly inTrial: boolean;
}

/**
 * The subscription's billings in period order from period `from` (or from `since`, whichever is
 * later), each with its due instant, until the final one after a cancellation. Billings due
 * before `since` and an opening invoice in trial are not among them. Endless for a
 * subscription that is never cancelled: the caller stops.
 */
function* candidates(brand: BillRunBrand, sub: BillRunSubscription, since: Date | null, from: number): Generator<Candidate> {
  const zoneName = brand.timeZone;
  const zone = IANAZone.create(zoneName);
  const a = localDate(sub.anchor, zone);
  let n = Math.max(0, from);
  if (since !== null) {
    const s = localDate(since.getTime(), zone);
    n = Math.max(n, (s.year - a.year) * 12 + (s.month - a.month) - 1);
  }
  // Started past the final billing (period n − 1 already starts at or after the cancellation): nothing.
  if (n > 0 && sub.cancelledAt !== null && dayStartsAtOrAfter(anniversaryDate(a, n - 1), sub.cancelledAt, zone)) return;
  for (; ; n += 1) {
    const date = anniversaryDate(a, n);
    let dueAt = billingInstant(isoDate(date), brand.billingHour, zoneName);
    // A subscription created after its first day's bill run is billed by the next run.
    if (n === 0 && dueAt.getTime() < sub.anchor) dueAt = new Date(sub.anchor);
    // No billing for periods starting at or after the cancellation; the first such
    // period's anniversary carries the final invoice (arrears only). Cancelled by period
    // 0's start: nothing at all.
    const final = sub.cancelledAt !== null && dayStartsAtOrAfter(date, sub.cancelledAt, zone);
    if (final && n === 0) return;
    const inTrial = !final && sub.trialEndsAt !== null && !dayStartsAtOrAfter(date, sub.trialEndsAt, zone);
    // An opening invoice in trial has nothing to bill: no fee, no arrears.
    if ((since === null || dueAt.getTime() >= since.getTime()) && !(n === 0 && inTrial)) yield { n, date, dueAt, final, inTrial };
    if (final) return;
  }
}

function billingsOf(
  brand: BillRunBrand,
  sub: BillRunSubscription,
  now: Date,
  since: Date | null,
  today: string,
  invoiced: ReadonlySet<string>,
  from: number,
): DueBilling[] {
  const zoneName = brand.timeZone;
  const zone = IANAZone.create(zoneName);
  const anchor = new Date(sub.anchor);
  const out: DueBilling[] = [];
  for (const { n, date, dueAt, final, inTrial } of candidates(brand, sub, since, from)) {
    // Due instants grow with n: the first one after `now` ends the scan.
    if (dueAt.getTime() > now.getTime()) break;
    if (invoiced.has(billingKey(sub.subscriptionId, n))) continue;
    const period = nthPeriod(anchor, n, zoneName);
    out.push({
      subscriptionId: sub.subscriptionId,
      periodIndex: n,
      kind: final ? 'final' : n === 0 ? 'opening' : 'anniversary',
      anniversary: isoDate(date),
      dueAt,
      period,
      feePeriod: final || inTrial ? null : period,
      usagePeriod: n === 0 ? null : nthPeriod(anchor, n - 1, zoneName),
      inTrial,
      late: isoDate(localDate(dueAt.getTime(), zone)) < today,
    });
  }
  return out;
}

/**
 * The first billing of a subscription at period `fromPeriodIndex` or later that a bill run
 * would invoice (the rules of dueBillings, without `now` and the catch-up bound), or null when
 * none ever will (cancelled, its final invoice before `fromPeriodIndex`). What the bill-run
 * service keeps per subscription so that it finds due work with an indexed query.
 */
export function nextBilling(input: NextBillingInput): NextBilling | null {
  validate({ brand: input.brand, subscriptions: [input.subscription], now: new Date(0), invoiced: new Set(), since: input.since ?? null });
  if (!Number.isSafeInteger(input.fromPeriodIndex) || input.fromPeriodIndex < 0) {
    throw new BillRunError('invalid_bill_run_input', `invalid bill run input: fromPeriodIndex ${input.fromPeriodIndex} is not an integer ≥ 0`);
  }
  for (const c of candidates(input.brand, input.subscription, input.since ?? null, input.fromPeriodIndex)) {
    return { periodIndex: c.n, dueAt: c.dueAt, anniversary: isoDate(c.date) };
  }
  return null;
}

/**
 * Every billing of a brand that is due at `now` and not invoiced yet: each (subscription,
 * period n) whose anniversary's billing hour, brand-local, is at or before `now`. Pure and
 * idempotent: a run that is repeated yields nothing new once its billings are recorded in
 * `invoiced`; a run that was missed is caught up by the next one, within `maxCatchUpDays`.
 */
export function dueBillings(input: DueBillingsInput): DueBillingsResult {
  validate(input);
  const { brand, now } = input;
  const since = input.since ?? null;
  const zone = brand.timeZone;
  const maxDays = input.maxCatchUpDays ?? DEFAULT_MAX_CATCH_UP_DAYS;
  const cutoff = DateTime.fromISO(localDateOf(now, zone), { zone }).minus({ days: maxDays }).toISODate() ?? '';

  const due: DueBilling[] = [];
  const skipped: SkippedBilling[] = [];
  const today = localDateOf(now, zone);
  for (const sub of input.subscriptions) {
    for (const b of billingsOf(brand, sub, now, since, today, input.invoiced, input.fromPeriodIndex?.get(sub.subscriptionId) ?? 0)) {
      if (localDateOf(b.dueAt, zone) < cutoff) skipped.push({ ...b, reason: 'beyond_catch_up_limit' });
      else due.push(b);
    }
  }
  const order = (a: DueBilling, b: DueBilling): number =>
    a.dueAt.getTime() - b.dueAt.getTime() || compareIds(a.subscriptionId, b.subscriptionId) || a.periodIndex - b.periodIndex;
  due.sort(order);
  skipped.sort(order);
  const warnings = skipped.map(
    (s) =>
      `${brand.code}: ${s.subscriptionId} period ${s.periodIndex} (anniversary ${s.anniversary}) was due ` +
      `${s.dueAt.toISOString()}, more than ${maxDays} days before ${localDateOf(now, zone)}: not billed automatically`,
  );
  return { due, skipped, warnings };
}
