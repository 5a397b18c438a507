/**
 * From wire records to the pure modules' own types (domain/rating, domain/pricing,
 * domain/drawdown), and the message keys of the compacted topics.
 */
import type { BucketGrant, PlanPricing } from '../drawdown/index.ts';
import type { PriceModel } from '../pricing/index.ts';
import type { Increment, RatingRule } from '../rating/index.ts';
import type {
  DecimalValue,
  IncrementRecord,
  IncludedGrant,
  Plan,
  PriceModelRecord,
  RatingRuleRecord,
  ReferenceKind,
  ReferenceRecords,
  Subscription,
} from './types.ts';

/** The Kafka message key of a reference record: the identity compaction keeps one value for. */
export function referenceKey<K extends ReferenceKind>(kind: K, record: ReferenceRecords[K]): string {
  switch (kind) {
    case 'brand':
      return (record as ReferenceRecords['brand']).code;
    case 'number':
      return (record as ReferenceRecords['number']).number;
    case 'plan': {
      const plan = record as ReferenceRecords['plan'];
      return planKey(plan.planId, plan.version);
    }
    case 'subscription':
      return (record as ReferenceRecords['subscription']).subscriptionId;
    case 'ratingRule': {
      const rule = record as ReferenceRecords['ratingRule'];
      return `${rule.ruleId}:${rule.version}`;
    }
    case 'customer':
      return (record as ReferenceRecords['customer']).accountId;
  }
  throw new TypeError(`unknown reference kind ${String(kind)}`);
}

export const planKey = (planId: string, version: number): string => `${planId}:${version}`;

/** A decimal as the plain string domain/pricing takes (never exponent notation). */
export function decimalText(value: DecimalValue): string {
  return typeof value === 'string' ? value : value.toFixed();
}

function toIncrement(increment: IncrementRecord): Increment {
  const rounding =
    increment.rounding === 'nearest'
      ? { mode: 'nearest', ...(increment.tie === null ? {} : { tie: increment.tie }) }
      : { mode: increment.rounding };
  // The strings are checked by domain/rating's validateRule, which the tables run on apply.
  return { seconds: increment.seconds, rounding: rounding as Increment['rounding'] };
}

/** domain/rating's rule from the wire record (instants as ISO strings, rounding as an object). */
export function toRatingRule(record: RatingRuleRecord): RatingRule {
  return {
    ruleId: record.ruleId,
    version: record.version,
    companyId: record.companyId,
    usageType: record.usageType,
    effectiveFrom: isoOf(record.effectiveFrom),
    ...(record.effectiveTo === null ? {} : { effectiveTo: isoOf(record.effectiveTo) }),
    freeSeconds: record.freeSeconds,
    freeMode: record.freeMode as RatingRule['freeMode'],
    minimumSeconds: record.minimumSeconds,
    initialIncrement: toIncrement(record.initialIncrement),
    mainIncrement: toIncrement(record.mainIncrement),
    unit: record.unit as RatingRule['unit'],
  };
}

/** domain/pricing's model for one usage type of a plan, in the plan's currency. */
export function toPriceModel(record: PriceModelRecord, currency: string): PriceModel {
  if (record.kind === 'PER_UNIT') {
    const tier = record.tiers[0];
    return {
      kind: 'per_unit',
      currency,
      unitSeconds: record.unitSeconds,
      unitPrice: tier === undefined ? '' : decimalText(tier.unitPrice),
    };
  }
  return {
    kind: record.kind === 'GRADUATED' ? 'graduated' : 'volume',
    currency,
    unitSeconds: record.unitSeconds,
    tiers: record.tiers.map((t) => ({
      upTo: t.upTo,
      unitPrice: decimalText(t.unitPrice),
      flatFee: decimalText(t.flatFee),
    })),
  };
}

/** The plan's overage pricing for domain/drawdown. */
export function toPlanPricing(plan: Plan): PlanPricing {
  const models: Record<string, PriceModel> = {};
  for (const model of plan.priceModels) models[model.usageType] = toPriceModel(model, plan.currency);
  return { currency: plan.currency, models };
}

function grant(g: IncludedGrant, source: string): BucketGrant {
  return { bucketId: g.bucketId, usageType: g.usageType, seconds: g.seconds, priority: g.priority, source };
}

/** A period's buckets: the plan's grants, then the subscription's add-ons. */
export function grantsFor(plan: Plan, subscription: Subscription): BucketGrant[] {
  return [
    ...plan.grants.map((g) => grant(g, 'plan')),
    ...subscription.addOnGrants.map((g) => grant(g, 'addon')),
  ];
}

// ---------------------------------------------------------------------------------------
// Instants in the reference file: ISO 8601 with an explicit offset.
// ---------------------------------------------------------------------------------------

const ISO_INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Epoch ms of an ISO 8601 instant with an offset, or undefined. Checked field by field,
 * because Date.parse takes 2026-02-30 as March 2. Fast enough for a file of a million numbers.
 */
export function parseInstant(text: string): number | undefined {
  const m = ISO_INSTANT.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [
    number, number, number, number, number, number,
  ];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  const offset = m[8] ?? 'Z';
  if (offset !== 'Z' && (Number(offset.slice(1, 3)) > 23 || Number(offset.slice(4, 6)) > 59)) return undefined;
  const millis = Date.parse(text);
  return Number.isFinite(millis) ? millis : undefined;
}

/** ISO 8601 in UTC (`Z`) of epoch ms; 'invalid' for a value that is not an instant. */
export function isoOf(millis: number): string {
  const date = new Date(millis);
  return Number.isNaN(date.getTime()) ? 'invalid' : date.toISOString();
}
