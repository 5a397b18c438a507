import { DateTime, IANAZone } from 'luxon';
import { localDateOf, nthPeriod, periodFor } from '../periods/index.ts';
import type { BillingPeriod } from '../periods/index.ts';
import { BillRunError } from './types.ts';
import type {
  BillRunBrand,
  BillRunSubscription,
  DueBilling,
  DueBillingsInput,
  DueBillingsResult,
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

function validate(input: DueBillingsInput): void {
  const problems: string[] = [];
  const { brand } = input;
  if (!IANAZone.isValidZone(brand.timeZone)) problems.push(`brand.timeZone "${brand.timeZone}" is not an IANA zone`);
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

/** The index of the first period that starts at or after `t` (periods 0.. tile time from the anchor). */
function firstPeriodStartingAtOrAfter(anchor: Date, t: Date, zone: string): number {
  const first = nthPeriod(anchor, 0, zone);
  if (t.getTime() <= first.start.getTime()) return 0;
  const p = periodFor(anchor, t, zone);
  return p.start.getTime() === t.getTime() ? p.index : p.index + 1;
}

function billingsOf(
  brand: BillRunBrand,
  sub: BillRunSubscription,
  now: Date,
  since: Date | null,
): DueBilling[] {
  const zone = brand.timeZone;
  const anchor = new Date(sub.anchor);
  const today = localDateOf(now, zone);
  // No billing for periods starting at or after the cancellation; the first such period's
  // anniversary carries the final invoice (arrears only). Cancelled by period 0's start: nothing.
  const finalIndex = sub.cancelledAt === null ? Infinity : firstPeriodStartingAtOrAfter(anchor, new Date(sub.cancelledAt), zone);
  if (finalIndex === 0) return [];
  const start0 = nthPeriod(anchor, 0, zone).start;
  if (now.getTime() < start0.getTime()) return [];
  // Due instants grow with n and are never before the period's start: nothing after `now`'s period.
  const last = Math.min(periodFor(anchor, now, zone).index, finalIndex);
  const lowest =
    since === null || since.getTime() <= start0.getTime() ? 0 : Math.max(0, periodFor(anchor, since, zone).index - 1);

  const out: DueBilling[] = [];
  let previous: BillingPeriod | null = lowest > 0 ? nthPeriod(anchor, lowest - 1, zone) : null;
  for (let n = lowest; n <= last; n += 1) {
    const period = nthPeriod(anchor, n, zone);
    const usagePeriod = previous;
    previous = period;
    const anniversary = localDateOf(period.start, zone);
    let dueAt = billingInstant(anniversary, brand.billingHour, zone);
    // A subscription created after its first day's bill run is billed by the next run.
    if (n === 0 && dueAt.getTime() < anchor.getTime()) dueAt = anchor;
    if (dueAt.getTime() > now.getTime()) break;
    if (since !== null && dueAt.getTime() < since.getTime()) continue;
    const inTrial = sub.trialEndsAt !== null && period.start.getTime() < sub.trialEndsAt;
    const kind = n === finalIndex ? 'final' : n === 0 ? 'opening' : 'anniversary';
    if (kind === 'opening' && inTrial) continue; // nothing to bill: no fee, no arrears
    out.push({
      subscriptionId: sub.subscriptionId,
      periodIndex: n,
      kind,
      anniversary,
      dueAt,
      period,
      feePeriod: kind === 'final' || inTrial ? null : period,
      usagePeriod,
      inTrial: kind !== 'final' && inTrial,
      late: localDateOf(dueAt, zone) < today,
    });
  }
  return out;
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
  for (const sub of input.subscriptions) {
    for (const b of billingsOf(brand, sub, now, since)) {
      if (input.invoiced.has(billingKey(b.subscriptionId, b.periodIndex))) continue;
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
