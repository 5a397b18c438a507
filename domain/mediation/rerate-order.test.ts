import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assembleInvoiceInput, type CarriedAmount, type DueBilling } from '../billrun/index.ts';
import { draftInvoice } from '../invoicing/index.ts';
import { nthPeriod, periodFor } from '../periods/index.ts';
import { seededRandom } from '../prng.ts';
import { parseReferenceFile, ReferenceTables } from '../reference/index.ts';
import { ratePipeline, rerate } from './index.ts';
import type { AcceptedCdr, ChargePeriodState, PeriodAdjustment, UsageCharged, UsageResolved } from './index.ts';

// The property of domain/drawdown's README, "The draw order of a period": whatever order a
// period's calls arrive in, charged live (in batches, some of them only after a first
// re-rate), a re-rate with the rules and plans unchanged finds no difference, so it writes no
// new version and the next invoice carries no line for it.

const SAMPLE = new URL('../reference/fixtures/sample-reference.json', import.meta.url);
const sampleTables = (): ReferenceTables => {
  const parsed = parseReferenceFile(readFileSync(SAMPLE, 'utf8'));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
  return ReferenceTables.fromData(parsed.value);
};

// Numbers of the sample subscriptions: graduated (US starter, plan bucket then add-on),
// per unit (US pro, CA basic with an add-on drawn first), volume with a chat bundle (UK).
const NUMBERS = ['+18005550100', '+18005550101', '+448005550100', '+448005550101', '+18665550100'];
const TYPES = ['LCA', 'LCA', 'LCA', 'IVR', 'CHAT'];
const MARCH = Date.parse('2026-03-02T00:00:00Z');

function calls(rand: () => number, count: number): AcceptedCdr[] {
  return Array.from({ length: count }, (_, i) => {
    const startTime = MARCH + Math.floor(rand() * 26 * 86400) * 1000;
    const r = rand();
    const durationSeconds = r < 0.1 ? 0 : Math.floor(rand() * (r < 0.8 ? 600 : 2400));
    return {
      eventId: `evt-${i}`, source: 'prop', cdrId: `c${i}`, callingNumber: null,
      calledNumber: NUMBERS[Math.floor(rand() * NUMBERS.length)]!, usageType: TYPES[Math.floor(rand() * TYPES.length)]!,
      startTime, endTime: startTime + durationSeconds * 1000, durationSeconds, attributes: {},
      origin: { topic: null, partition: null, offset: null, file: null, line: null },
      acceptedAt: startTime + durationSeconds * 1000,
    };
  });
}

/** Live drawdown: the calls in arrival order, in batches of any size, each continuing from the states of the last. */
function chargeLive(tables: ReferenceTables, arrival: readonly AcceptedCdr[], rand: () => number, states: Map<string, ChargePeriodState>) {
  const resolved: UsageResolved[] = [];
  const charged: UsageCharged[] = [];
  for (let i = 0; i < arrival.length; ) {
    const size = 1 + Math.floor(rand() * 8);
    const batch = ratePipeline(arrival.slice(i, i + size), tables, { states });
    for (const [key, state] of batch.states) states.set(key, state);
    resolved.push(...batch.resolved);
    charged.push(...batch.charged);
    i += size;
  }
  return { resolved, charged };
}

/** The adjustment lines the bill run would draft from a re-rate's period adjustment (carried per usage type). */
function adjustmentLines(tables: ReferenceTables, adjustment: PeriodAdjustment): string[] {
  const subscription = tables.subscription(adjustment.subscriptionId)!;
  const brand = tables.brand(subscription.brand)!;
  const usagePeriod = periodFor(new Date(subscription.anchor), new Date(adjustment.periodStart), brand.timeZone);
  const period = nthPeriod(new Date(subscription.anchor), usagePeriod.index + 1, brand.timeZone);
  const billing: DueBilling = {
    subscriptionId: subscription.subscriptionId, periodIndex: period.index, kind: 'anniversary', anniversary: '', dueAt: period.start,
    period, feePeriod: period, usagePeriod, inTrial: false, late: false,
  };
  const carried = new Map<string, CarriedAmount>();
  for (const d of adjustment.differences) {
    const c = carried.get(d.usageType);
    carried.set(d.usageType, {
      reason: 'rerating', usageType: d.usageType, periodStart: usagePeriod.start, periodEnd: usagePeriod.end, ratingVersion: 2,
      amount: d.amount.plus(c?.amount ?? 0), records: (c?.records ?? 0) + 1,
    });
  }
  const assembled = assembleInvoiceInput({
    billing, brand, subscription, plans: (id, v) => tables.plan(id, v), customer: tables.customer(subscription.accountId),
    charges: [], carried: [...carried.values()], issuedAt: period.start,
  });
  if (!assembled.ok) throw new Error(assembled.problem.message);
  return draftInvoice(assembled.input).lines.filter((l) => l.kind === 'adjustment').map((l) => l.lineId);
}

describe('property: a re-rate with nothing changed changes nothing, whatever order the calls arrived in', () => {
  it('200 seeded sets of calls, charged live in a random arrival order and batching, some after a first re-rate', () => {
    const seen = { charged: 0, lateAfterRerate: 0, startOrderWouldMoveMoney: 0 };
    for (let seed = 1; seed <= 200; seed++) {
      const rand = seededRandom(seed);
      const tables = sampleTables();
      const all = calls(rand, 5 + Math.floor(rand() * 36));
      const arrival = [...all].sort(() => rand() - 0.5);
      const late = arrival.splice(0, Math.floor(rand() * 4));
      const ctx = `seed ${seed}`;

      const states = new Map<string, ChargePeriodState>();
      const first = chargeLive(tables, arrival, rand, states);
      const firstRerate = rerate(first.resolved, first.charged, tables, 2);
      expect(firstRerate.differences, ctx).toEqual([]);
      expect(firstRerate.adjustments, ctx).toEqual([]);
      // Even its bucket states are the live ones (or, where live charged nothing, untouched ones).
      for (const [key, state] of firstRerate.states) {
        if (states.has(key)) expect(state, `${ctx} ${key}`).toEqual(states.get(key));
        else expect(state.drawdown.lastSequence, `${ctx} ${key}`).toBe(0);
      }

      // Calls that arrive after the re-rate draw from what is left; then another re-rate.
      const second = chargeLive(tables, late, rand, states);
      const resolved = [...first.resolved, ...second.resolved];
      const charged = [...first.charged, ...second.charged];
      const result = rerate(resolved, charged, tables, 2);
      expect(result.differences, ctx).toEqual([]);
      expect(result.adjustments, ctx).toEqual([]);
      expect(result.charged.map((c) => c.eventId).sort(), ctx).toEqual(charged.map((c) => c.eventId).sort());
      for (const adjustment of result.adjustments) expect(adjustmentLines(tables, adjustment), ctx).toEqual([]);

      // In call-start order (the order re-rating used before) the same re-rate moved money
      // between calls; it nets to zero per period, and such an adjustment is no invoice line.
      const startOrder = rerate(resolved, charged.map((c) => ({ ...c, chargeSequence: 0 })), tables, 2);
      if (startOrder.differences.length > 0) seen.startOrderWouldMoveMoney++;
      for (const adjustment of startOrder.adjustments) {
        expect([adjustment.includedSeconds, adjustment.overageSeconds, adjustment.amount.isZero()], ctx).toEqual([0, 0, true]);
        expect(adjustmentLines(tables, adjustment), ctx).toEqual([]);
      }
      seen.charged += charged.length;
      if (second.charged.length > 0) seen.lateAfterRerate++;
    }
    expect(seen.charged).toBeGreaterThan(2000);
    expect(seen.lateAfterRerate).toBeGreaterThan(50);
    expect(seen.startOrderWouldMoveMoney).toBeGreaterThan(50);
  }, 60_000);
});
