import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { settleUsage, type PendingCharge, type PendingRerate, type UsageSettlementInput } from './settle.ts';

const d = (v: string) => new Decimal(v);
const MAR = Date.UTC(2026, 2, 1, 5);
const APR = Date.UTC(2026, 3, 1, 4);
const MAY = Date.UTC(2026, 4, 1, 4);
const FEB = Date.UTC(2026, 1, 1, 5);
const periodEndOf = (start: number) => (start === FEB ? MAR : start === MAR ? APR : MAY);

/** A call of `seconds` in `version`: `included` of them drawn from buckets, the rest at 0.10 a minute. */
const charge = (eventId: string, version: number, seconds: number, included: number, periodStart = MAR): PendingCharge => {
  const overage = seconds - included;
  const amount = d('0.10').times(overage).dividedBy(60);
  return {
    eventId, ratingVersion: version, periodStart, periodEnd: periodEndOf(periodStart), usageType: 'LCA', billableSeconds: seconds,
    includedSeconds: included, overageSeconds: overage, amount, tiers: overage === 0 ? [] : [{ tier: 1, seconds: overage, unitPrice: d('0.10'), flatFee: d('0'), amount }],
  };
};
const difference = (call: string, version: number, amount: string, kind = 'changed', periodStart = MAR): PendingRerate => ({
  eventId: `${call}@v${version}`, usageEventId: call, ratingVersion: version, kind, periodStart, usageType: 'LCA', amountDelta: d(amount),
});
/** The April invoice: March in arrears. */
const april = (over: Partial<UsageSettlementInput>): UsageSettlementInput => ({ usagePeriodStart: MAR, periodStart: APR, charges: [], rerates: [], settledVersions: new Map(), periodEndOf, ...over });
const total = (s: ReturnType<typeof settleUsage>) => s.charges.reduce((sum, c) => sum.plus(c.amount), new Decimal(0)).plus(s.carried.reduce((sum, c) => sum.plus(c.amount), new Decimal(0))).toFixed(2);
const lines = (s: ReturnType<typeof settleUsage>) => s.charges.map((c) => `${c.eventId}:${c.includedSeconds}/${c.overageSeconds}`);
const carried = (s: ReturnType<typeof settleUsage>) => s.carried.map((c) => `${c.reason}:v${c.ratingVersion}:${c.amount.toFixed(2)}`);

describe('settleUsage: a period not invoiced yet is billed in its latest version', () => {
  // e1 600 s on basic-500 with 300 s over (0.50), swapped to pro-1000: all 600 s included (0.00), difference −0.50.
  const v1 = charge('e1', 1, 600, 300);
  const v2 = charge('e1', 2, 600, 600);
  const d2 = difference('e1', 2, '-0.50');
  const cases: { name: string; input: Partial<UsageSettlementInput>; lines: string[]; carried: string[]; total: string }[] = [
    { name: 'version 1 only: its line', input: { charges: [v1] }, lines: ['e1:300/300'], carried: [], total: '0.50' },
    { name: 'both versions and the difference: the new version is the line, no adjustment', input: { charges: [v1, v2], rerates: [d2] }, lines: ['e1:600/0'], carried: [], total: '0.00' },
    { name: 'stored in the other order: the same', input: { charges: [v2, v1], rerates: [d2] }, lines: ['e1:600/0'], carried: [], total: '0.00' },
    { name: 'the new version before its difference: the new version, the difference taken with it later', input: { charges: [v1, v2] }, lines: ['e1:600/0'], carried: [], total: '0.00' },
    // 0.50 − 0.50 = 0.00: the old line and the difference until the new charge is stored.
    { name: 'the difference before the new version: old line and an adjustment, the same total', input: { charges: [v1], rerates: [d2] }, lines: ['e1:300/300'], carried: ['rerating:v2:-0.50'], total: '0.00' },
    { name: 'removed by the latest version: on no line', input: { charges: [v1], rerates: [difference('e1', 2, '-0.50', 'removed')] }, lines: [], carried: [], total: '0.00' },
    { name: 'a difference without any charge stored: carried', input: { rerates: [d2] }, lines: [], carried: ['rerating:v2:-0.50'], total: '-0.50' },
    { name: 'the current period waits', input: { charges: [charge('e9', 1, 120, 0, APR)] }, lines: [], carried: [], total: '0.00' },
  ];
  it.each(cases)('$name', ({ input, lines: expectedLines, carried: expectedCarried, total: expectedTotal }) => {
    const s = settleUsage(april(input));
    expect([lines(s), carried(s), total(s)]).toEqual([expectedLines, expectedCarried, expectedTotal]);
  });

  it('takes every row it read, and says which version of each call it billed in full', () => {
    const s = settleUsage(april({ charges: [v1, v2], rerates: [d2] }));
    expect(s.consumedCharges).toEqual([{ eventId: 'e1', ratingVersion: 1, settles: false }, { eventId: 'e1', ratingVersion: 2, settles: true }]);
    expect(s.consumedRerates).toEqual([{ eventId: 'e1@v2', settles: false }]);
    const removed = settleUsage(april({ charges: [v1], rerates: [difference('e1', 2, '-0.50', 'removed')] }));
    expect(removed.consumedRerates).toEqual([{ eventId: 'e1@v2', settles: true }]);
    expect(settleUsage(april({ charges: [charge('e9', 1, 120, 0, APR)] })).consumedCharges).toEqual([]);
  });
});

describe('settleUsage: a period already invoiced carries only what its invoice did not have', () => {
  // February was invoiced; these rows of February arrive after.
  const feb = (over: Partial<UsageSettlementInput>) => april({ ...over });
  const cases: { name: string; input: Partial<UsageSettlementInput>; carried: string[]; total: string; settles: boolean[] }[] = [
    // 180 s over at 0.10 a minute = 0.30.
    { name: 'a first charge no invoice had: late usage', input: { charges: [charge('f1', 1, 180, 0, FEB)] }, carried: ['late_usage:v0:0.30'], total: '0.30', settles: [true] },
    { name: 'a difference newer than the version billed: an adjustment', input: { rerates: [difference('f1', 2, '-0.30', 'changed', FEB)], settledVersions: new Map([['f1', 1]]) }, carried: ['rerating:v2:-0.30'], total: '-0.30', settles: [] },
    { name: 'a difference the billed version already had: nothing', input: { rerates: [difference('f1', 2, '-0.30', 'changed', FEB)], settledVersions: new Map([['f1', 2]]) }, carried: [], total: '0.00', settles: [] },
    { name: 'a later version of a billed call: its difference carries it, the charge adds nothing', input: { charges: [charge('f1', 2, 180, 180, FEB)], settledVersions: new Map([['f1', 1]]) }, carried: [], total: '0.00', settles: [false] },
    { name: 'version 1 of a call billed in a later version (stored out of order): nothing', input: { charges: [charge('f1', 1, 180, 0, FEB)], settledVersions: new Map([['f1', 2]]) }, carried: [], total: '0.00', settles: [false] },
    // 0.30 late, −0.30 difference: the latest version, 0.00, in two adjustments.
    { name: 'version 1 and a difference both late: late usage and the adjustment', input: { charges: [charge('f1', 1, 180, 0, FEB)], rerates: [difference('f1', 2, '-0.30', 'changed', FEB)] }, carried: ['late_usage:v0:0.30', 'rerating:v2:-0.30'], total: '0.00', settles: [true] },
  ];
  it.each(cases)('$name', ({ input, carried: expectedCarried, total: expectedTotal, settles }) => {
    const s = settleUsage(feb(input));
    expect([s.charges, carried(s), total(s), s.consumedCharges.map((c) => c.settles)]).toEqual([[], expectedCarried, expectedTotal, settles]);
    expect(s.consumedRerates.length).toBe(input.rerates?.length ?? 0);
  });
});

describe('settleUsage: arrival order never changes what a call costs over its invoices', () => {
  // One call through three versions: 0.50, then 0.00 (swap), then 0.20; its invoices must add up to 0.20.
  const rows = { c1: charge('e1', 1, 600, 300), c2: charge('e1', 2, 600, 600), d2: difference('e1', 2, '-0.50'), c3: charge('e1', 3, 600, 480), d3: difference('e1', 3, '0.20') };
  type Row = keyof typeof rows;
  const orders: Row[][] = [['c1', 'c2', 'd2', 'c3', 'd3'], ['c1', 'd2', 'd3', 'c2', 'c3'], ['c1', 'c2', 'c3', 'd2', 'd3'], ['d2', 'c1', 'd3', 'c3', 'c2'], ['c3', 'd3', 'c2', 'd2', 'c1']];
  it.each(orders.flatMap((order) => [1, 2, 3, 4].map((cut) => ({ order, cut }))))('$order with the invoice after $cut rows', ({ order, cut }) => {
    // The April invoice bills what is stored by then; the May invoice (March invoiced) the rest.
    const pick = (names: Row[]) => ({ charges: names.filter((n) => n.startsWith('c')).map((n) => rows[n] as PendingCharge), rerates: names.filter((n) => n.startsWith('d')).map((n) => rows[n] as PendingRerate) });
    const first = settleUsage(april(pick(order.slice(0, cut))));
    const settled = new Map<string, number>();
    for (const c of first.consumedCharges) if (c.settles) settled.set(c.eventId, Math.max(settled.get(c.eventId) ?? 0, c.ratingVersion));
    for (const r of first.consumedRerates) if (r.settles) settled.set('e1', Math.max(settled.get('e1') ?? 0, Number(r.eventId.split('@v')[1])));
    const second = settleUsage({ usagePeriodStart: APR, periodStart: MAY, ...pick(order.slice(cut)), settledVersions: settled, periodEndOf });
    expect(new Decimal(total(first)).plus(total(second)).toFixed(2)).toBe('0.20');
  });
});
