import { dec } from '../money/index.ts';
import type { UsageCharge } from '../drawdown/index.ts';
import type { UsageSummary, UsageTier } from './types.ts';

/** What the invoice reads of a charge (domain/drawdown `UsageCharge`). */
export type ChargeFigures = Pick<UsageCharge, 'usageType' | 'billableSeconds' | 'includedSeconds' | 'overageSeconds' | 'lines'>;

/**
 * The charged usage of a period (domain/drawdown `UsageCharge`s, as on `usage.charged`)
 * as the invoice's per-usage-type summaries: totals and the tier breakdown, the tier lines
 * of all charges added per (tier, unit price). `unitSeconds` gives each usage type's price
 * unit (60 for per-minute prices); a usage type missing from it uses `defaultUnitSeconds`.
 */
export function summarizeUsage(
  charges: readonly ChargeFigures[],
  unitSeconds: Readonly<Record<string, number>> = {},
  defaultUnitSeconds = 60,
): UsageSummary[] {
  const byType = new Map<string, { calls: number; billable: number; included: number; overage: number; tiers: Map<string, UsageTier> }>();
  for (const c of charges) {
    const t = byType.get(c.usageType) ?? { calls: 0, billable: 0, included: 0, overage: 0, tiers: new Map<string, UsageTier>() };
    t.calls += 1;
    t.billable += c.billableSeconds;
    t.included += c.includedSeconds;
    t.overage += c.overageSeconds;
    for (const l of c.lines) {
      const key = `${l.tier}:${l.unitPrice.toFixed()}`;
      const prev = t.tiers.get(key);
      t.tiers.set(key, {
        tier: l.tier,
        seconds: (prev?.seconds ?? 0) + l.units,
        unitPrice: l.unitPrice,
        flatFee: dec(prev?.flatFee ?? 0).plus(l.flatFee),
        amount: dec(prev?.amount ?? 0).plus(l.amount),
      });
    }
    byType.set(c.usageType, t);
  }
  return [...byType.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([usageType, t]) => ({
      usageType,
      unitSeconds: unitSeconds[usageType] ?? defaultUnitSeconds,
      calls: t.calls,
      billableSeconds: t.billable,
      includedSeconds: t.included,
      overageSeconds: t.overage,
      tiers: [...t.tiers.values()].sort((a, b) => a.tier - b.tier || a.unitPrice.comparedTo(b.unitPrice)),
    }));
}
