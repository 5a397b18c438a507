import { Decimal } from 'decimal.js';
import type { CarriedAmount, StoredCharge } from './assemble.ts';

/** A usage.charged record not yet on an invoice: one call in one rating version. */
export interface PendingCharge extends StoredCharge {
  readonly ratingVersion: number;
  /** The call's billing period (epoch ms), as on usage.charged. */
  readonly periodStart: number;
  readonly periodEnd: number;
}

/** A usage.rerated difference not yet on an invoice: one call's change from its previous version. */
export interface PendingRerate {
  /** The difference's own id (`<call>@v<version>`). */
  readonly eventId: string;
  /** The call's event id, as on usage.charged. */
  readonly usageEventId: string;
  readonly ratingVersion: number;
  /** added, removed or changed; null on records stored before the kind was kept. */
  readonly kind: string | null;
  readonly periodStart: number;
  readonly usageType: string;
  readonly amountDelta: Decimal;
}

export interface UsageSettlementInput {
  /** The period billed in arrears (its start, epoch ms), or null on an opening invoice. */
  readonly usagePeriodStart: number | null;
  /** The period that starts on this anniversary: rows from it on wait for the next invoice. */
  readonly periodStart: number;
  readonly charges: readonly PendingCharge[];
  readonly rerates: readonly PendingRerate[];
  /**
   * Per call of a period already invoiced, the rating version earlier invoices billed in full
   * (as a usage line, late usage or a removal); absent: none did.
   */
  readonly settledVersions: ReadonlyMap<string, number>;
  /** The end of the billing period that starts at an instant (for a difference's adjustment words). */
  readonly periodEndOf: (periodStart: number) => number;
}

export interface UsageSettlement {
  /** The usage lines: each call of the period billed in arrears in its latest version. */
  readonly charges: readonly StoredCharge[];
  /** Late usage and re-rating differences of periods already invoiced, as adjustments. */
  readonly carried: readonly CarriedAmount[];
  /** Every charge row this invoice takes; `settles`: the call is billed in full in this row's version. */
  readonly consumedCharges: readonly { eventId: string; ratingVersion: number; settles: boolean }[];
  /** Every difference this invoice takes (on its lines already, or as an adjustment). */
  readonly consumedRerates: readonly { eventId: string; settles: boolean }[];
}

/**
 * What one invoice bills of the usage rows not yet invoiced (invariant 4, one call at a time).
 *
 * - A call of the period billed in arrears, never invoiced before, is billed in its latest
 *   version: its highest charged version is the usage line (so a re-rated period, a plan swap,
 *   shows the new plan's tiers and included minutes), its earlier versions and the differences up
 *   to that version are taken as already inside it. A later difference whose charge has not
 *   arrived yet is an adjustment (together: the latest version). A call whose latest difference
 *   removed it is on no line.
 * - A call of a period already invoiced carries only what that invoice did not have: a
 *   difference newer than the version billed in full is an adjustment; a first charge (version
 *   1) of a call no invoice billed is late usage; any other charge is inside what was billed or
 *   travels as its difference on usage.rerated, and is taken without a line.
 *
 * So whatever order charges and differences are stored in, each call's invoices add up to its
 * latest version, and a redelivery (the same row) is never taken twice (the caller marks them).
 */
export function settleUsage(input: UsageSettlementInput): UsageSettlement {
  type Call = { charges: PendingCharge[]; rerates: PendingRerate[] };
  const calls = new Map<string, Call>();
  const callOf = (id: string): Call => calls.get(id) ?? calls.set(id, { charges: [], rerates: [] }).get(id)!;
  for (const c of input.charges) if (c.periodStart < input.periodStart) callOf(c.eventId).charges.push(c);
  for (const r of input.rerates) if (r.periodStart < input.periodStart) callOf(r.usageEventId).rerates.push(r);

  const lines: StoredCharge[] = [];
  const consumedCharges: { eventId: string; ratingVersion: number; settles: boolean }[] = [];
  const consumedRerates: { eventId: string; settles: boolean }[] = [];
  const late = new Map<string, PendingCharge[]>();
  const differences = new Map<string, PendingRerate[]>();
  const take = (c: PendingCharge, settles: boolean) => consumedCharges.push({ eventId: c.eventId, ratingVersion: c.ratingVersion, settles });
  const carry = (r: PendingRerate) => {
    consumedRerates.push({ eventId: r.eventId, settles: false });
    const key = `${r.periodStart}|${r.usageType}|${r.ratingVersion}`;
    differences.set(key, [...(differences.get(key) ?? []), r]);
  };

  for (const call of calls.values()) {
    const charges = [...call.charges].sort((a, b) => a.ratingVersion - b.ratingVersion);
    const rerates = [...call.rerates].sort((a, b) => a.ratingVersion - b.ratingVersion);
    const start = (charges[0] ?? rerates[0])!.periodStart;
    if (start === input.usagePeriodStart) {
      const latest = charges[charges.length - 1];
      const lastDifference = rerates[rerates.length - 1];
      if (latest === undefined) {
        // Differences from a charge not stored yet: carried, and the charge will be late usage.
        for (const r of rerates) carry(r);
        continue;
      }
      if (lastDifference !== undefined && lastDifference.ratingVersion > latest.ratingVersion && lastDifference.kind === 'removed') {
        for (const c of charges) take(c, false);
        for (const r of rerates) consumedRerates.push({ eventId: r.eventId, settles: r === lastDifference });
        continue;
      }
      lines.push(latest);
      for (const c of charges) take(c, c === latest);
      for (const r of rerates) {
        if (r.ratingVersion <= latest.ratingVersion) consumedRerates.push({ eventId: r.eventId, settles: false });
        else carry(r);
      }
      continue;
    }
    const settled = input.settledVersions.get(charges[0]?.eventId ?? rerates[0]!.usageEventId) ?? 0;
    for (const r of rerates) {
      if (r.ratingVersion <= settled) consumedRerates.push({ eventId: r.eventId, settles: false });
      else carry(r);
    }
    for (const c of charges) {
      if (c.ratingVersion === 1 && settled === 0) {
        take(c, true);
        const key = `${c.periodStart}|${c.usageType}`;
        late.set(key, [...(late.get(key) ?? []), c]);
      } else take(c, false);
    }
  }

  const carried: CarriedAmount[] = [
    ...[...late.values()].map((rows) => ({
      reason: 'late_usage' as const,
      usageType: rows[0]!.usageType,
      periodStart: new Date(rows[0]!.periodStart),
      periodEnd: new Date(rows[0]!.periodEnd),
      ratingVersion: 0,
      amount: rows.reduce((sum, r) => sum.plus(r.amount), new Decimal(0)),
      records: rows.length,
    })),
    ...[...differences.values()].map((rows) => ({
      reason: 'rerating' as const,
      usageType: rows[0]!.usageType,
      periodStart: new Date(rows[0]!.periodStart),
      periodEnd: new Date(input.periodEndOf(rows[0]!.periodStart)),
      ratingVersion: rows[0]!.ratingVersion,
      amount: rows.reduce((sum, r) => sum.plus(r.amountDelta), new Decimal(0)),
      records: rows.length,
    })),
  ];
  carried.sort((a, b) => a.periodStart.getTime() - b.periodStart.getTime() || (a.usageType < b.usageType ? -1 : a.usageType > b.usageType ? 1 : 0) || a.ratingVersion - b.ratingVersion);
  return { charges: lines, carried, consumedCharges, consumedRerates };
}
