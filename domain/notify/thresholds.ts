import { Decimal } from 'decimal.js';

/**
 * Usage thresholds: which of a brand's thresholds a subscription's usage of one type has
 * reached in a billing period. Pure: the caller keeps the period's totals (the latest rating
 * version of each call, so a re-rated period is counted once) and the thresholds already
 * emitted. A threshold is emitted once per period whatever happens after: a re-rating that
 * lowers the usage below it and raises it again sends nothing new.
 */
export type Threshold = { readonly kind: 'included_percent'; readonly percent: number } | { readonly kind: 'overage_amount'; readonly amount: Decimal };

export interface ThresholdPolicy {
  /** Percents of the included seconds, increasing (e.g. 80, 100). */
  readonly percents: readonly number[];
  /** The period's overage charges whose reaching is told; null: none. */
  readonly overageAmount: Decimal | null;
}

export interface PeriodUsage {
  /** Seconds the period includes for the usage type (plan and add-on grants); 0: no percent thresholds apply. */
  readonly includedSeconds: number;
  /** Billable seconds of the period, every call counted once in its latest rating version. */
  readonly usedSeconds: number;
  /** Overage charges of the period, unrounded. */
  readonly overageAmount: Decimal;
}

/** A stable key per threshold: part of the alert's event id and of the "already emitted" set. */
export function thresholdKey(t: Threshold): string {
  return t.kind === 'included_percent' ? `pct${t.percent}` : `overage${t.amount.toFixed()}`;
}

/** Thresholds reached and not yet emitted, lowest first (percents before the overage amount). */
export function reachedThresholds(policy: ThresholdPolicy, usage: PeriodUsage, emitted: ReadonlySet<string>): Threshold[] {
  const out: Threshold[] = [];
  if (usage.includedSeconds > 0) {
    for (const percent of policy.percents) {
      // used / included >= percent / 100, in integers: no rounding of a ratio.
      if (usage.usedSeconds * 100 >= percent * usage.includedSeconds) out.push({ kind: 'included_percent', percent });
    }
  }
  if (policy.overageAmount !== null && policy.overageAmount.greaterThan(0) && usage.overageAmount.greaterThanOrEqualTo(policy.overageAmount)) {
    out.push({ kind: 'overage_amount', amount: policy.overageAmount });
  }
  return out.filter((t) => !emitted.has(thresholdKey(t)));
}

/** The alert's deterministic id: a re-rated period or a redelivered batch finds the same id. */
export function usageAlertId(subscriptionId: string, usageType: string, periodStart: number, t: Threshold): string {
  return `usage-alert:${subscriptionId}:${usageType}:${periodStart}:${thresholdKey(t)}`;
}

/** Included seconds of a usage type: the plan's grants and the subscription's add-ons. */
export function includedSecondsOf(usageType: string, grants: readonly { usageType: string; seconds: number }[]): number {
  return grants.filter((g) => g.usageType === usageType).reduce((sum, g) => sum + g.seconds, 0);
}

export const decimalOrNull = (v: Decimal | string | null | undefined): Decimal | null => (v === null || v === undefined ? null : new Decimal(v));
