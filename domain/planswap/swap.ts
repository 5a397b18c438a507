import { billingInstant } from '../billrun/index.ts';
import { localDateOf, nthPeriod, periodFor, type BillingPeriod } from '../periods/index.ts';
import type { Brand, Subscription } from '../reference/index.ts';

/** How long before a closing bill run is due a swap of its period is still taken. */
export const DEFAULT_SWAP_CUTOFF_MARGIN_MS = 60_000;

export interface SwapRequestTerms {
  readonly subscription: Pick<Subscription, 'anchor' | 'status' | 'planChanges'>;
  readonly brand: Pick<Brand, 'timeZone' | 'billingHour' | 'planSwap'>;
  readonly now: Date;
  /** The period the customer was shown (a recommendation's): refused if its bill run is past the cut-off. */
  readonly periodStart?: Date;
  readonly cutoffMarginMs?: number;
}

export interface SwapTerms {
  /** The period the swap applies to, from its start: its usage is re-rated on the new plan. */
  readonly period: BillingPeriod;
  /** When its closing bill run is due (the brand's billing hour on the next anniversary). */
  readonly billRunAt: Date;
  /** The plan change's instant: the period's start (fee policy full) or now (prorated). */
  readonly changeAt: Date;
  readonly feePolicy: 'full' | 'prorated';
  /** Re-rate usage from here (the period's start) on the new plan. */
  readonly rerateFrom: Date;
}

export type SwapRefusalCode = 'swap_after_cutoff' | 'subscription_not_swappable' | 'swap_before_last_change' | 'invalid_swap_period';

export type SwapTermsOutcome = { readonly ok: true; readonly terms: SwapTerms } | { readonly ok: false; readonly code: SwapRefusalCode; readonly message: string };

/**
 * Which period a swap asked at `now` applies to, and when it takes effect. The saving is meant
 * for the bill about to be cut: a period's usage is billed by the run due at the brand's
 * billing hour on the next anniversary, which comes after the period ends. So between a
 * period's end and that run (less a margin, so the re-rating can reach the run: the cut-off),
 * a swap applies to the period just ended; otherwise to the current one. Either way the
 * subscription moves to the new plan from the period's start and its usage from then on is
 * re-rated. The fee difference follows the brand's policy: `full` puts the change at the
 * period's start (the bill run credits the old fee and charges the new one for the whole
 * period), `prorated` at `now` (each for its share, domain/invoicing prorations).
 *
 * A request naming the period it was shown (`periodStart`) is refused once that period is
 * past its cut-off: the customer was promised a saving on a bill already cut.
 */
export function swapTerms(input: SwapRequestTerms): SwapTermsOutcome {
  const { subscription, brand, now } = input;
  const margin = input.cutoffMarginMs ?? DEFAULT_SWAP_CUTOFF_MARGIN_MS;
  if (subscription.status !== 'active' && subscription.status !== 'trial') {
    return { ok: false, code: 'subscription_not_swappable', message: `a ${subscription.status} subscription cannot swap plans` };
  }
  const zone = brand.timeZone;
  const anchor = new Date(subscription.anchor);
  if (now.getTime() < subscription.anchor) return { ok: false, code: 'subscription_not_swappable', message: 'the subscription has not started' };
  const current = periodFor(anchor, now, zone);
  const closingRun = (p: BillingPeriod) => billingInstant(localDateOf(p.end, zone), brand.billingHour, zone);
  let period = current;
  if (current.index >= 1) {
    const previous = nthPeriod(anchor, current.index - 1, zone);
    if (now.getTime() < closingRun(previous).getTime() - margin) period = previous;
  }
  const billRunAt = closingRun(period);
  if (input.periodStart !== undefined && input.periodStart.getTime() !== period.start.getTime()) {
    if (input.periodStart.getTime() < period.start.getTime()) {
      const asked = periodFor(anchor, input.periodStart, zone);
      return { ok: false, code: 'swap_after_cutoff', message: `the bill run of the period from ${asked.start.toISOString()} is due at ${closingRun(asked).toISOString()}: swaps of it closed ${margin / 1000} s before` };
    }
    return { ok: false, code: 'invalid_swap_period', message: `the period from ${input.periodStart.toISOString()} is not open for a swap (the open one starts ${period.start.toISOString()})` };
  }
  const feePolicy = brand.planSwap?.feePolicy === 'full' ? 'full' : 'prorated';
  const changeAt = feePolicy === 'full' ? period.start : now;
  const last = subscription.planChanges.at(-1);
  if (last !== undefined && last.at > changeAt.getTime()) {
    return { ok: false, code: 'swap_before_last_change', message: `the plan already changed at ${new Date(last.at).toISOString()}, after the swap would take effect (${changeAt.toISOString()})` };
  }
  return { ok: true, terms: { period, billRunAt, changeAt, feePolicy, rerateFrom: period.start } };
}
