import { describe, expect, it } from 'vitest';
import { checkDedupeWindow, dedupeWindowProblems, PRUNE_MARGIN_MS, pruneBefore, windowStart } from './dedupe-window.ts';

const at = (iso: string) => Date.parse(iso);

describe('checkDedupeWindow', () => {
  // Edges worked by calendar: 2026-12-04 less 45 days is 2026-10-20 (30 days to 11-04, 15 more);
  // 2026-03-01 less 1 day is 02-28 (not a leap year); 2028-03-15 less 45 days is 2028-01-30
  // (15 days to 02-29, a leap day, 30 more); 2026-03-29 (Europe's DST change, irrelevant in
  // UTC) less 34 days is 02-23.
  it.each([
    ['exactly at the edge', '2026-12-04T12:00:00.000Z', 45, '2026-10-20T12:00:00.000Z', true],
    ['one ms inside', '2026-12-04T12:00:00.000Z', 45, '2026-10-20T12:00:00.001Z', true],
    ['one ms outside', '2026-12-04T12:00:00.000Z', 45, '2026-10-20T11:59:59.999Z', false],
    ['a day outside', '2026-12-04T12:00:00.000Z', 45, '2026-10-19T12:00:00.000Z', false],
    ['started now', '2026-12-04T12:00:00.000Z', 45, '2026-12-04T12:00:00.000Z', true],
    ['started after now (a platform clock ahead)', '2026-12-04T12:00:00.000Z', 45, '2026-12-05T00:00:00.000Z', true],
    ['one day: at the edge', '2026-03-01T00:00:00.000Z', 1, '2026-02-28T00:00:00.000Z', true],
    ['one day: one ms outside', '2026-03-01T00:00:00.000Z', 1, '2026-02-27T23:59:59.999Z', false],
    ['across a leap day: at the edge', '2028-03-15T00:00:00.000Z', 45, '2028-01-30T00:00:00.000Z', true],
    ['across a leap day: one ms outside', '2028-03-15T00:00:00.000Z', 45, '2028-01-29T23:59:59.999Z', false],
    ['34 days over a DST change: at the edge', '2026-03-29T01:30:00.000Z', 34, '2026-02-23T01:30:00.000Z', true],
    ['34 days over a DST change: one ms outside', '2026-03-29T01:30:00.000Z', 34, '2026-02-23T01:29:59.999Z', false],
  ])('%s', (_, now, days, start, inside) => {
    expect(checkDedupeWindow(at(start), at(now), days).ok).toBe(inside);
  });

  it('states the window and its edge in the rejection', () => {
    expect(checkDedupeWindow(at('2026-10-20T11:59:59.999Z'), at('2026-12-04T12:00:00.000Z'), 45)).toEqual({
      ok: false,
      code: 'outside_dedupe_window',
      message:
        'started 2026-10-20T11:59:59.999Z, before 2026-10-20T12:00:00.000Z: ingest de-duplicates over a window of 45 days, so an older CDR cannot be told from one already accepted',
    });
  });
});

describe('pruneBefore', () => {
  it('trails the window edge by the margin', () => {
    expect(new Date(windowStart(at('2026-12-04T12:00:00.000Z'), 45)).toISOString()).toBe('2026-10-20T12:00:00.000Z');
    expect(new Date(pruneBefore(at('2026-12-04T12:00:00.000Z'), 45)).toISOString()).toBe('2026-10-20T11:00:00.000Z');
  });

  // The rule that makes forgetting safe: whatever a prune at T forgets is rejected by every
  // check from T - margin on (a batch that read the clock up to an hour before the prune).
  it.each([
    ['just forgotten, checked at the prune', '2026-10-20T10:59:59.999Z', '2026-12-04T12:00:00.000Z'],
    ['just forgotten, checked a margin before the prune', '2026-10-20T10:59:59.999Z', '2026-12-04T11:00:00.000Z'],
    ['long forgotten, checked later', '2026-01-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
  ])('%s: rejected', (_, start, checkedAt) => {
    const prunedAt = at('2026-12-04T12:00:00.000Z');
    expect(at(start)).toBeLessThan(pruneBefore(prunedAt, 45));
    expect(at(checkedAt)).toBeGreaterThanOrEqual(prunedAt - PRUNE_MARGIN_MS);
    expect(checkDedupeWindow(at(start), at(checkedAt), 45).ok).toBe(false);
  });

  it('keeps a CDR at the prune edge, which a batch an hour behind would still accept', () => {
    const prunedAt = at('2026-12-04T12:00:00.000Z');
    const start = at('2026-10-20T11:00:00.000Z');
    expect(start).toBe(pruneBefore(prunedAt, 45)); // not strictly before: kept
    expect(checkDedupeWindow(start, prunedAt - PRUNE_MARGIN_MS, 45).ok).toBe(true);
  });
});

describe('dedupeWindowProblems', () => {
  it.each([
    [1, true],
    [45, true],
    [3650, true],
    [0, false],
    [3651, false],
    [1.5, false],
    [Number.NaN, false],
  ])('%s days sound: %s', (days, sound) => {
    expect(dedupeWindowProblems(days).length === 0).toBe(sound);
  });
});
