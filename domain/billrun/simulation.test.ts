import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { localDateOf } from '../periods/index.ts';
import { ControllableClock, allocateInvoiceNumbers, billingKey, dueBillings } from './index.ts';
import type { BillRunBrand, BillRunSubscription, DueBilling } from './index.ts';
import { seededRandom as prng } from '../prng.ts';

const HOUR = 3_600_000;

const BRANDS: BillRunBrand[] = [
  { code: 'ny', timeZone: 'America/New_York', billingHour: 2 },
  { code: 'ldn', timeZone: 'Europe/London', billingHour: 1 },
  { code: 'syd', timeZone: 'Australia/Sydney', billingHour: 2 },
  { code: 'la', timeZone: 'America/Los_Angeles', billingHour: 0 },
];

const START = DateTime.fromISO('2026-02-20T00:00:00Z').toMillis();
const END = START + 62 * 24 * HOUR; // 2026-04-23: spans the March and April DST changes

/**
 * What must have been billed by `end`, worked out independently of domain/periods: the
 * anniversary of period n is the anchor's local date plus n months (luxon clamps to the
 * month's end, from the anchor each time); it is due at the billing hour that day (or at
 * the anchor for period 0, if later); nothing at period 0 in trial; nothing after the first
 * period starting at or after the cancellation.
 */
function expectedBillings(brand: BillRunBrand, s: BillRunSubscription, from: number, end: number): string[] {
  const zone = brand.timeZone;
  const anchorDay = DateTime.fromMillis(s.anchor, { zone }).startOf('day');
  const out: string[] = [];
  for (let n = 0; n < 40; n += 1) {
    const day = anchorDay.plus({ months: n });
    const start = day.startOf('day').toMillis();
    if (s.cancelledAt !== null && n > 0 && DateTime.fromMillis(s.cancelledAt) <= anchorDay.plus({ months: n - 1 })) break;
    if (s.cancelledAt !== null && s.cancelledAt <= anchorDay.toMillis()) break;
    let due = day.set({ hour: brand.billingHour }).toMillis();
    if (n === 0) due = Math.max(due, s.anchor);
    if (due > end) break;
    const inTrial = s.trialEndsAt !== null && start < s.trialEndsAt;
    if (due >= from && !(n === 0 && inTrial)) out.push(billingKey(s.subscriptionId, n));
  }
  return out;
}

describe('simulation: 62 days, 200 subscriptions in 4 zones, irregular runs', () => {
  it('every subscription is billed exactly once per period, by the first run after it is due', () => {
    const random = prng(42);
    const subs = new Map<string, BillRunSubscription[]>(BRANDS.map((b) => [b.code, []]));
    const brandOf = new Map<string, BillRunBrand>();
    for (let i = 0; i < 200; i += 1) {
      const brand = BRANDS[i % BRANDS.length] as BillRunBrand;
      // Anchors spread over every day of the month: some before the simulation, some created during it.
      const day = 1 + Math.floor(random() * 31);
      const created = random() < 0.25;
      const base = created ? DateTime.fromMillis(START + random() * 50 * 24 * HOUR, { zone: brand.timeZone }) : DateTime.fromISO('2026-01-01', { zone: brand.timeZone });
      const anchorLocal = created ? base : base.set({ day: Math.min(day, 31) }).set({ hour: Math.floor(random() * 24) });
      const anchor = anchorLocal.toMillis();
      const trial = random() < 0.2 ? anchor + Math.floor(random() * 45) * 24 * HOUR : null;
      const cancel = random() < 0.15 ? anchor + Math.floor(random() * 70 * 24) * HOUR : null;
      const id = `sub-${String(i).padStart(3, '0')}`;
      const s: BillRunSubscription = {
        subscriptionId: id,
        brand: brand.code,
        anchor,
        status: cancel !== null ? 'cancelled' : trial !== null ? 'trial' : 'active',
        trialEndsAt: trial,
        cancelledAt: cancel,
      };
      subs.get(brand.code)?.push(s);
      brandOf.set(id, brand);
    }

    const clock = new ControllableClock(START);
    const invoiced = new Map<string, Set<string>>(BRANDS.map((b) => [b.code, new Set()]));
    const lastNumber = new Map<string, number>(BRANDS.map((b) => [b.code, 0]));
    const numbers = new Set<string>();
    const billedAt = new Map<string, { billing: DueBilling; at: number; previousRun: number }>();
    let previousRun = START;
    let runs = 0;
    while (clock.now() < END) {
      // Runs every 1 to 40 hours: some days are missed, some run several times.
      clock.advance((1 + Math.floor(random() * 40)) * HOUR + Math.floor(random() * 60) * 60_000);
      const now = Math.min(clock.now(), END);
      runs += 1;
      for (const brand of BRANDS) {
        const set = invoiced.get(brand.code) as Set<string>;
        const r = dueBillings({
          brand,
          subscriptions: subs.get(brand.code) ?? [],
          now: new Date(now),
          invoiced: set,
          since: new Date(START),
        });
        expect(r.skipped).toEqual([]);
        const allocation = allocateInvoiceNumbers(brand, lastNumber.get(brand.code) ?? 0, r.due);
        expect(allocation.lastNumber).toBe((lastNumber.get(brand.code) ?? 0) + r.due.length);
        lastNumber.set(brand.code, allocation.lastNumber);
        for (const n of allocation.numbered) {
          const key = billingKey(n.invoice.subscriptionId, n.invoice.periodIndex);
          expect(set.has(key)).toBe(false); // never a second billing
          expect(numbers.has(n.invoiceNumber)).toBe(false);
          numbers.add(n.invoiceNumber);
          set.add(key);
          billedAt.set(key, { billing: n.invoice, at: now, previousRun });
        }
      }
      previousRun = now;
    }
    expect(runs).toBeGreaterThan(30);

    let total = 0;
    for (const brand of BRANDS) {
      const set = invoiced.get(brand.code) as Set<string>;
      const expected = (subs.get(brand.code) ?? []).flatMap((s) => expectedBillings(brand, s, START, END));
      expect([...set].sort()).toEqual([...expected].sort());
      expect(lastNumber.get(brand.code)).toBe(set.size); // gapless: numbers 1..count
      total += set.size;
    }
    expect(total).toBeGreaterThan(300);
    // The seed exercises every case: openings, finals, trials and late (caught-up) billings.
    const all = [...billedAt.values()].map((x) => x.billing);
    for (const kind of ['opening', 'anniversary', 'final']) expect(all.some((b) => b.kind === kind)).toBe(true);
    expect(all.some((b) => b.inTrial)).toBe(true);
    expect(all.some((b) => b.late)).toBe(true);
    // Billed by the first run at or after the due instant, not later.
    for (const { billing, at, previousRun: before } of billedAt.values()) {
      expect(billing.dueAt.getTime()).toBeLessThanOrEqual(at);
      expect(billing.dueAt.getTime()).toBeGreaterThan(before);
      // The fast anniversary scan agrees with domain/periods, and the periods tile.
      const zone = brandOf.get(billing.subscriptionId)?.timeZone ?? '';
      expect(billing.anniversary).toBe(localDateOf(billing.period.start, zone));
      if (billing.usagePeriod) expect(billing.usagePeriod.end.getTime()).toBe(billing.period.start.getTime());
    }
  }, 60_000);
});
