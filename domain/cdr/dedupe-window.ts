/**
 * The de-duplication window. Ingest remembers every CDR it accepted for a stated number of
 * days, counted back from its clock, and no longer: a CDR that started before the window
 * cannot be checked against what was forgotten, so it is rejected, never accepted again.
 * Instants are epoch milliseconds, UTC, and a day is exactly 24 hours (no calendar, no DST).
 */

export const DAY_MS = 86_400_000;
/** Peers keep 34 to 45 days. */
export const DEFAULT_DEDUPE_WINDOW_DAYS = 45;
/** Ten years: far beyond any carrier's re-send, and a guard against milliseconds given as days. */
export const MAX_DEDUPE_WINDOW_DAYS = 3650;
/**
 * Pruning trails the rejection edge by this much, so a forgotten CDR is always already outside
 * the window: covers a batch that read the clock just before a prune, another instance's clock
 * a little behind, and a system clock stepped back by NTP.
 */
export const PRUNE_MARGIN_MS = 3_600_000;

/** What is wrong with a window of `days`, for a boot-time config error; empty when it is sound. */
export function dedupeWindowProblems(days: number): string[] {
  return Number.isSafeInteger(days) && days >= 1 && days <= MAX_DEDUPE_WINDOW_DAYS
    ? []
    : [`a de-duplication window must be 1 to ${MAX_DEDUPE_WINDOW_DAYS} whole days, got ${days}`];
}

/** The earliest start time still inside the window at `now`: the edge itself is inside. */
export function windowStart(now: number, days: number): number {
  return now - days * DAY_MS;
}

export type WindowCheck = { readonly ok: true } | { readonly ok: false; readonly code: 'outside_dedupe_window'; readonly message: string };

/** Whether a CDR that started at `startTime` can still be de-duplicated at `now`. */
export function checkDedupeWindow(startTime: number, now: number, days: number): WindowCheck {
  const edge = windowStart(now, days);
  if (startTime >= edge) return { ok: true };
  return {
    ok: false,
    code: 'outside_dedupe_window',
    message: `started ${new Date(startTime).toISOString()}, before ${new Date(edge).toISOString()}: ingest de-duplicates over a window of ${days} days, so an older CDR cannot be told from one already accepted`,
  };
}

/**
 * Seen CDRs that started before this instant may be forgotten at `now`: every one of them is
 * rejected by `checkDedupeWindow` from `now - PRUNE_MARGIN_MS` on, so none can be accepted twice.
 */
export function pruneBefore(now: number, days: number): number {
  return windowStart(now, days) - PRUNE_MARGIN_MS;
}
