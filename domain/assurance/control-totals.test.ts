import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { ControlTally, controlBalance, controlTotalKey, foldControlTotals, localDay, sliceOverlaps, utcDay, type ControlSlice, type ControlTotal, type Stage } from './control-totals.ts';

const figures = (counts: Record<string, number>) => ({ counts, seconds: {}, amounts: {} });
const total = (stage: Stage, counts: Record<string, number>, over: Partial<ControlTotal> = {}): ControlTotal => ({ stage, scopeKind: 'source', scope: 'pbx', day: '2026-03-01', slice: null, figures: figures(counts), version: 1, updatedAt: 0, ...over });
const slice = (first: number, last: number, partition = 0): ControlSlice => ({ topic: 'cdr.accepted', partition, firstOffset: first, lastOffset: last });

describe('a batch tally', () => {
  it('adds counts, seconds and money per scope and day, sorted by key', () => {
    const tally = new ControlTally('drawdown')
      .count('source', 'pbx', '2026-03-02', 'in')
      .count('source', 'pbx', '2026-03-01', 'in', 2)
      .amount('brand', 'ansr', '2026-03-01', 'charged', 'USD', new Decimal('0.10'))
      .amount('brand', 'ansr', '2026-03-01', 'charged', 'USD', new Decimal('0.25'))
      .seconds('brand', 'ansr', '2026-03-01', 'billable', 60)
      .seconds('brand', 'ansr', '2026-03-01', 'billable', 30);
    const list = tally.list();
    expect(list.map((e) => controlTotalKey({ ...e.scope, slice: null }))).toEqual(['drawdown/brand:ansr/2026-03-01', 'drawdown/source:pbx/2026-03-01', 'drawdown/source:pbx/2026-03-02']);
    // 0.10 + 0.25 = 0.35; 60 + 30 = 90 seconds.
    expect(list[0]!.figures.amounts['charged USD']!.toFixed(2)).toBe('0.35');
    expect(list[0]!.figures.seconds).toEqual({ billable: 90 });
    expect(list[1]!.figures.counts).toEqual({ in: 2 });
  });

  it('takes the brand-local day: 03:30 UTC on 2 March is still 1 March in New York, an unknown zone is UTC', () => {
    const at = Date.UTC(2026, 2, 2, 3, 30);
    expect([localDay(at, 'America/New_York'), localDay(at, 'Europe/Berlin'), localDay(at, 'Nowhere/Else'), localDay(at, undefined)]).toEqual(['2026-03-01', '2026-03-02', '2026-03-02', '2026-03-02']);
  });

  it('keeps local days right across a DST change, asked in any order (the days are cached per zone)', () => {
    // New York springs forward on 8 March 2026: that local day runs 05:00Z to 04:00Z next day (23 hours).
    const cases: [number, string][] = [
      [Date.UTC(2026, 2, 8, 12), '2026-03-08'],
      [Date.UTC(2026, 2, 9, 3, 59), '2026-03-08'], // 23:59 EDT
      [Date.UTC(2026, 2, 9, 4, 0), '2026-03-09'], // midnight EDT, not 05:00Z as the day before
      [Date.UTC(2026, 2, 8, 4, 59), '2026-03-07'], // 23:59 EST
      [Date.UTC(2026, 2, 8, 5, 0), '2026-03-08'],
      [Date.UTC(2026, 10, 1, 4, 0), '2026-11-01'], // falls back that day: 25 hours, to 05:00Z on the 2nd
      [Date.UTC(2026, 10, 2, 4, 59), '2026-11-01'],
      [Date.UTC(2026, 10, 2, 5, 0), '2026-11-02'],
    ];
    for (const order of [cases, [...cases].reverse()]) expect(order.map(([ms]) => localDay(ms, 'America/New_York'))).toEqual(order.map(([, day]) => day));
    expect([utcDay(Date.UTC(2026, 2, 1) - 1), utcDay(Date.UTC(2026, 2, 1)), utcDay(-1)]).toEqual(['2026-02-28', '2026-03-01', '1969-12-31']);
  });

  it('takes an entry once for several measures of a record, and the same entry again for the next', () => {
    const tally = new ControlTally('drawdown');
    const first = tally.at('brand', 'ansr', '2026-03-01').count('charged').addSeconds('billable', 60).amount('charged', 'USD', new Decimal('0.06'));
    tally.at('source', 'pbx', '2026-03-01').count('in');
    expect(tally.at('brand', 'ansr', '2026-03-01')).toBe(first);
    tally.at('brand', 'ansr', '2026-03-01').count('charged').amount('charged', 'USD', new Decimal('0.04'));
    // 2 calls, 60 s, 0.06 + 0.04 = 0.10.
    expect(tally.list().map((e) => [e.scope.scopeKind, e.figures.counts, e.figures.seconds, Object.fromEntries(Object.entries(e.figures.amounts).map(([k, v]) => [k, v.toFixed(2)]))])).toEqual([
      ['brand', { charged: 2 }, { billable: 60 }, { 'charged USD': '0.10' }],
      ['source', { in: 1 }, {}, {}],
    ]);
  });
});

describe('folding the control topic', () => {
  it('keeps the latest version of a stateful figure', () => {
    const folded = foldControlTotals([total('ingest', { in: 5 }, { version: 2 }), total('ingest', { in: 3 }, { version: 1 })]);
    expect([...folded.values()].map((t) => t.figures.counts)).toEqual([{ in: 5 }]);
  });

  it('adds a stateless stage\'s batches, a re-processed batch replacing the ones it covers', () => {
    // Batches 0-9, 10-19 and 20-29 (10 in each), the last two never committed; after a restart,
    // 10-29 in one batch (20 in). It has 10-19's key (first offset 10) and replaces it; 20-29 lies
    // inside it and drops. Partition 1 adds 7: 10 + 20 + 7 = 37.
    const folded = foldControlTotals([
      total('resolve', { in: 10 }, { slice: slice(0, 9) }),
      total('resolve', { in: 10 }, { slice: slice(10, 19) }),
      total('resolve', { in: 10 }, { slice: slice(20, 29) }),
      total('resolve', { in: 20 }, { slice: slice(10, 29) }),
      total('resolve', { in: 7 }, { slice: slice(0, 6, 1) }),
    ]);
    expect(folded.get('resolve/source:pbx/2026-03-01')!.figures.counts).toEqual({ in: 10 + 20 + 7 });
  });

  it('reports batches that overlap without one covering the other', () => {
    const found = sliceOverlaps([total('rate', { in: 10 }, { slice: slice(0, 9) }), total('rate', { in: 10 }, { slice: slice(5, 14) })]);
    expect(found.map((d) => [d.check, d.scope, d.ids])).toEqual([['control_total_overlap', 'rate cdr.accepted:0', ['cdr.accepted:0@0-9', 'cdr.accepted:0@5-14']]]);
  });
});

describe('counts in = counts out along the chain, per source and day', () => {
  const all = (over: Partial<Record<Stage, Record<string, number>>> = {}) => {
    const figures: Record<string, Record<string, number>> = {
      // 10 in: 1 invalid at ingest, 1 unresolved, 1 without a rule, 7 charged.
      ingest: { in: 10, accepted: 9, 'rejected:invalid_cdr': 1 },
      resolve: { in: 9, out: 8, 'rejected:unresolved_number': 1 },
      rate: { in: 8, out: 7, 'rejected:no_rule': 1 },
      drawdown: { in: 7, charged: 7 },
      ...over,
    };
    return foldControlTotals(Object.entries(figures).map(([stage, counts]) => total(stage as Stage, counts)));
  };
  const inRange = () => true;

  it('a clean day gives nothing', () => {
    expect(controlBalance(all(), undefined, inRange)).toEqual([]);
  });

  it('names the stage where a record went missing, and one that never reported', () => {
    expect(controlBalance(all({ drawdown: { in: 7, charged: 6 } }), new Set(['pbx']), inRange).map((d) => [d.scope, d.expected, d.found])).toEqual([['pbx 2026-03-01', 'drawdown: charged + rejected 7', '6']]);
    const noRate = all();
    noRate.delete('rate/source:pbx/2026-03-01');
    expect(controlBalance(noRate, undefined, inRange).map((d) => [d.expected, d.found])).toEqual([
      ['rate: records in (resolved) 8', '0'],
      ['drawdown: records in (rated) 0', '7'],
    ]);
  });

  it('looks only at the sources and days asked for', () => {
    expect(controlBalance(all({ drawdown: { in: 7, charged: 6 } }), new Set(['other']), inRange)).toEqual([]);
    expect(controlBalance(all({ drawdown: { in: 7, charged: 6 } }), undefined, (d) => d > '2026-03-01')).toEqual([]);
  });
});
