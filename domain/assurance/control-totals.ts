import { Decimal } from 'decimal.js';
import { DateTime } from 'luxon';
import type { Discrepancy } from './checks.ts';

/**
 * Control totals: what each stage consumed and produced, per source or brand and per day, so that
 * a reconciliation can compare stages along the chain without reading any stage's tables.
 *
 * Source figures use the UTC day the call started (every stage sees the same start time, so the
 * stages agree on the day); an undecodable record, which has none, counts on the UTC day it
 * arrived. Brand figures use the brand's local day.
 */
export type ScopeKind = 'source' | 'brand';
export type Stage = 'ingest' | 'resolve' | 'rate' | 'drawdown' | 'bill-run' | 'collect';

export interface ControlFigures {
  /** in, accepted, out, charged, rejected:<reason>, invoices, payments:<kind>:<status>. */
  readonly counts: Readonly<Record<string, number>>;
  readonly seconds: Readonly<Record<string, number>>;
  /** `${measure} ${currency}` to the sum. */
  readonly amounts: Readonly<Record<string, Decimal>>;
}

export interface ControlScope {
  readonly stage: Stage;
  readonly scopeKind: ScopeKind;
  readonly scope: string;
  readonly day: string;
}

/** One consumed batch of one partition (a stateless stage's figures are per batch). */
export interface ControlSlice {
  readonly topic: string;
  readonly partition: number;
  readonly firstOffset: number;
  readonly lastOffset: number;
}

export interface ControlTotal extends ControlScope {
  readonly slice: ControlSlice | null;
  readonly figures: ControlFigures;
  readonly version: number;
  readonly updatedAt: number;
}

export const emptyFigures = (): ControlFigures => ({ counts: {}, seconds: {}, amounts: {} });

const DAY_MS = 86_400_000;
const utcDays = new Map<number, string>();

/** The UTC day of an instant. Every record of every stage asks, so each day's string is made once. */
export function utcDay(ms: number): string {
  const n = Math.floor(ms / DAY_MS);
  let day = utcDays.get(n);
  if (day === undefined) {
    day = new Date(n * DAY_MS).toISOString().slice(0, 10);
    if (utcDays.size > 10_000) utcDays.clear();
    utcDays.set(n, day);
  }
  return day;
}

/** Per zone, the local days seen lately as [start, end) in epoch ms: most records fall in one of a few. */
const zoneDays = new Map<string, { start: number; end: number; day: string }[]>();

/**
 * The brand-local day of an instant; an unknown zone falls back to UTC rather than losing the
 * figure. luxon is asked once per zone and local day (a day is not always 24 hours long).
 */
export function localDay(ms: number, zone: string | undefined): string {
  if (zone === undefined) return utcDay(ms);
  const recent = zoneDays.get(zone);
  if (recent) for (const d of recent) if (ms >= d.start && ms < d.end) return d.day;
  const local = DateTime.fromMillis(ms, { zone });
  if (!local.isValid) return utcDay(ms);
  const start = local.startOf('day');
  const entry = { start: start.toMillis(), end: start.plus({ days: 1 }).toMillis(), day: local.toISODate()! };
  zoneDays.set(zone, [entry, ...(recent ?? []).slice(0, 15)]);
  return entry.day;
}

/** The compacted topic's key: one figure per stage, scope and day (and batch, for a stateless stage). */
export function controlTotalKey(t: ControlScope & { slice: ControlSlice | null }): string {
  const base = `${t.stage}/${t.scopeKind}:${t.scope}/${t.day}`;
  return t.slice === null ? base : `${base}/${t.slice.topic}:${t.slice.partition}@${t.slice.firstOffset}`;
}

export const scopeKey = (t: ControlScope): string => `${t.stage}/${t.scopeKind}:${t.scope}/${t.day}`;

export function addFigures(a: ControlFigures, b: ControlFigures): ControlFigures {
  const counts = { ...a.counts };
  for (const [k, v] of Object.entries(b.counts)) counts[k] = (counts[k] ?? 0) + v;
  const seconds = { ...a.seconds };
  for (const [k, v] of Object.entries(b.seconds)) seconds[k] = (seconds[k] ?? 0) + v;
  const amounts = { ...a.amounts };
  for (const [k, v] of Object.entries(b.amounts)) amounts[k] = (amounts[k] ?? new Decimal(0)).plus(v);
  return { counts, seconds, amounts };
}

/** One scope and day's figures as a batch adds to them. */
export class ControlEntry {
  readonly counts: Record<string, number> = {};
  readonly seconds: Record<string, number> = {};
  readonly amounts: Record<string, Decimal> = {};

  constructor(readonly scope: ControlScope) {}

  count(measure: string, n = 1): this {
    this.counts[measure] = (this.counts[measure] ?? 0) + n;
    return this;
  }

  addSeconds(measure: string, seconds: number): this {
    this.seconds[measure] = (this.seconds[measure] ?? 0) + seconds;
    return this;
  }

  amount(measure: string, currency: string, amount: Decimal): this {
    const key = `${measure} ${currency}`;
    this.amounts[key] = (this.amounts[key] ?? new Decimal(0)).plus(amount);
    return this;
  }
}

/**
 * A batch's figures, accumulated in memory as the batch is processed (a map update per record,
 * no I/O), then written or published once per batch. A stage that counts several measures for
 * one record takes the entry once (`at`).
 */
export class ControlTally {
  private readonly entries = new Map<string, ControlEntry>();
  private last: ControlEntry | undefined;

  constructor(private readonly stage: Stage) {}

  /** The entry of a scope and day (the last one asked for is kept at hand: consecutive records mostly share it). */
  at(scopeKind: ScopeKind, scope: string, day: string): ControlEntry {
    const last = this.last;
    if (last !== undefined && last.scope.day === day && last.scope.scope === scope && last.scope.scopeKind === scopeKind) return last;
    const key = `${scopeKind}:${scope}/${day}`;
    let e = this.entries.get(key);
    if (!e) this.entries.set(key, (e = new ControlEntry({ stage: this.stage, scopeKind, scope, day })));
    this.last = e;
    return e;
  }

  count(scopeKind: ScopeKind, scope: string, day: string, measure: string, n = 1): this {
    this.at(scopeKind, scope, day).count(measure, n);
    return this;
  }

  seconds(scopeKind: ScopeKind, scope: string, day: string, measure: string, seconds: number): this {
    this.at(scopeKind, scope, day).addSeconds(measure, seconds);
    return this;
  }

  amount(scopeKind: ScopeKind, scope: string, day: string, measure: string, currency: string, amount: Decimal): this {
    this.at(scopeKind, scope, day).amount(measure, currency, amount);
    return this;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Sorted by key, so that every writer meets the same scopes in the same order. */
  list(): { scope: ControlScope; figures: ControlFigures }[] {
    return [...this.entries.values()]
      .map((e) => ({ scope: e.scope, figures: { counts: e.counts, seconds: e.seconds, amounts: e.amounts } }))
      .sort((a, b) => (scopeKey(a.scope) < scopeKey(b.scope) ? -1 : 1));
  }
}

/**
 * One figure per stage, scope and day from what the control topic holds. A stateful stage's
 * latest figure stands. A stateless stage's batches add up, except that a batch re-processed
 * after a restart (it starts at the committed offset, so at or inside an earlier batch) replaces
 * any earlier batch it covers: per partition, a batch whose offsets lie inside another's is
 * dropped. Partial overlaps cannot be split and are reported by `sliceOverlaps`.
 */
export function foldControlTotals(records: readonly ControlTotal[]): Map<string, ControlTotal> {
  const latest = new Map<string, ControlTotal>();
  for (const r of records) {
    const key = controlTotalKey(r);
    const had = latest.get(key);
    if (!had || r.version >= had.version) latest.set(key, r);
  }
  const covered = coveredSlices([...latest.values()]);
  const out = new Map<string, ControlTotal>();
  for (const r of latest.values()) {
    if (r.slice !== null && covered.has(sliceId(r.slice))) continue;
    const key = scopeKey(r);
    const had = out.get(key);
    out.set(key, had ? { ...had, slice: null, figures: addFigures(had.figures, r.figures), updatedAt: Math.max(had.updatedAt, r.updatedAt) } : { ...r, slice: null });
  }
  return out;
}

const sliceId = (s: ControlSlice) => `${s.topic}:${s.partition}@${s.firstOffset}-${s.lastOffset}`;

function slicesByPartition(records: readonly ControlTotal[]): Map<string, ControlSlice[]> {
  const byPartition = new Map<string, Map<string, ControlSlice>>();
  for (const r of records) {
    if (r.slice === null) continue;
    const p = `${r.stage} ${r.slice.topic}:${r.slice.partition}`;
    const m = byPartition.get(p) ?? new Map<string, ControlSlice>();
    m.set(sliceId(r.slice), r.slice);
    byPartition.set(p, m);
  }
  return new Map([...byPartition].map(([p, m]) => [p, [...m.values()].sort((a, b) => a.firstOffset - b.firstOffset || b.lastOffset - a.lastOffset)]));
}

function coveredSlices(records: readonly ControlTotal[]): Set<string> {
  const covered = new Set<string>();
  for (const slices of slicesByPartition(records).values()) {
    let reach = -1;
    for (const s of slices) {
      if (s.lastOffset <= reach) covered.add(sliceId(s));
      else reach = s.lastOffset;
    }
  }
  return covered;
}

/** Batches of a stateless stage that overlap without one covering the other: their figures cannot be trusted. */
export function sliceOverlaps(records: readonly ControlTotal[]): Discrepancy[] {
  const out: Discrepancy[] = [];
  for (const [partition, slices] of slicesByPartition(records)) {
    let previous: ControlSlice | undefined;
    for (const s of slices) {
      if (previous && s.firstOffset <= previous.lastOffset && s.lastOffset > previous.lastOffset) {
        out.push({ check: 'control_total_overlap', scope: partition, expected: 'batches that do not overlap', found: `${sliceId(previous)} and ${sliceId(s)}`, ids: [sliceId(previous), sliceId(s)] });
      }
      if (!previous || s.lastOffset > previous.lastOffset) previous = s;
    }
  }
  return out;
}

const rejectedOf = (f: ControlFigures | undefined): number => Object.entries(f?.counts ?? {}).reduce((sum, [k, v]) => (k.startsWith('rejected:') ? sum + v : sum), 0);
const countOf = (f: ControlFigures | undefined, measure: string): number => f?.counts[measure] ?? 0;

/**
 * Counts in = counts out along the chain, per source and day, from the stages' control totals:
 * each stage's records in are its outputs plus its rejections, each stage takes in what the one
 * before put out; together, the CDRs in at ingest are those charged plus those rejected anywhere.
 * A stage that has no figure for a day counts zero there, so a stage that never reported shows.
 */
export function controlBalance(folded: ReadonlyMap<string, ControlTotal>, sources: ReadonlySet<string> | undefined, inRange: (day: string) => boolean): Discrepancy[] {
  const bySourceDay = new Map<string, Partial<Record<Stage, ControlFigures>>>();
  for (const t of folded.values()) {
    if (t.scopeKind !== 'source' || !inRange(t.day) || (sources && !sources.has(t.scope))) continue;
    const key = `${t.scope} ${t.day}`;
    const entry = bySourceDay.get(key) ?? {};
    entry[t.stage] = t.figures;
    bySourceDay.set(key, entry);
  }
  const out: Discrepancy[] = [];
  for (const [scope, s] of [...bySourceDay].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const mismatch = (what: string, expected: number, found: number) => {
      if (expected !== found) out.push({ check: 'control_balance', scope, expected: `${what} ${expected}`, found: String(found), ids: [] });
    };
    mismatch('ingest: records in', countOf(s.ingest, 'accepted') + rejectedOf(s.ingest), countOf(s.ingest, 'in'));
    mismatch('resolve: records in (accepted at ingest)', countOf(s.ingest, 'accepted'), countOf(s.resolve, 'in'));
    mismatch('resolve: resolved + rejected', countOf(s.resolve, 'in'), countOf(s.resolve, 'out') + rejectedOf(s.resolve));
    mismatch('rate: records in (resolved)', countOf(s.resolve, 'out'), countOf(s.rate, 'in'));
    mismatch('rate: rated + rejected', countOf(s.rate, 'in'), countOf(s.rate, 'out') + rejectedOf(s.rate));
    mismatch('drawdown: records in (rated)', countOf(s.rate, 'out'), countOf(s.drawdown, 'in'));
    mismatch('drawdown: charged + rejected', countOf(s.drawdown, 'in'), countOf(s.drawdown, 'charged') + rejectedOf(s.drawdown));
  }
  return out;
}
