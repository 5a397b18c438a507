/**
 * From the catalogue's stored representations (the API's: instants as ISO strings,
 * decimals as strings) to the `ref.*` wire records of domain/reference, and the checks
 * every record passes before it is written to the outbox.
 */
import type { LifecycleRecord } from '../../contracts/lifecycle.ts';
import { DateTime } from 'luxon';
import {
  isoOf,
  parseInstant,
  readRecord,
  referenceKey,
  type Brand,
  type Customer,
  type IncludedGrant,
  type NumberAssignment,
  type NumberHistory,
  type Plan,
  type RatingRuleRecord,
  type ReferenceKind,
  type ReferenceRecords,
  type Subscription,
} from '../../domain/reference/index.ts';
import { referenceTopicOf } from '../../contracts/reference.ts';
import { topics } from '../../topics/catalog.ts';
import type { LifecycleConfig } from './lifecycle.ts';
import type { OutboxEvent } from '../../runtime/outbox.ts';
import type { Problem } from './validation.ts';

/** A brand as stored and served. */
export interface BrandData {
  code: string;
  parentCompany: string;
  name: string;
  country: string;
  currency: string;
  timeZone: string;
  billingHour: number;
  taxRegime: string;
  gateway: string;
  roundingMode: string;
  usageProducts: Record<string, string>;
  paymentTermsDays: number;
  cancellationCredit: string;
  creditAtCancellation: string;
  collectionRetryDays: number[];
  dunningSteps: { afterDays: number; action: string }[];
  branding: Brand['branding'];
  commission: { initialPercent: string; initialPeriods: number; recurringPercent: string } | null;
  /** Absent in rows written before notifications existed (and when never set): every kind on. */
  notifications?: NotificationsData | null;
  /** Absent in rows written before plan swaps existed (and when never set): the defaults. */
  planSwap?: PlanSwapData | null;
  lifecycle: LifecycleConfig;
}

/** A brand's plan-swap settings as stored and served: the wire record's, amounts as strings. */
export type PlanSwapData = Omit<NonNullable<Brand['planSwap']>, 'minSavingAmount' | 'minSavingPercent'> & { minSavingAmount: string | null; minSavingPercent: string | null };

/** A brand's notification settings as stored and served: the wire record's, the amount as a string. */
export type NotificationsData = Omit<NonNullable<Brand['notifications']>, 'usageOverageAmount'> & { usageOverageAmount: string | null };

/** A plan version as stored and served: the wire record's fields, decimals as strings. */
export type PlanData = Omit<Plan, 'monthlyFee' | 'priceModels' | 'commitmentDiscount'> & {
  monthlyFee: string;
  priceModels: { usageType: string; kind: string; unitSeconds: number; tiers: { upTo: number | null; unitPrice: string; flatFee: string }[] }[];
  commitmentDiscount: { months: number; percent: string } | null;
};

/** A customer as stored and served: the wire record as it is. */
export type CustomerData = Customer;

export interface SubscriptionData {
  subscriptionId: string;
  brand: string;
  accountId: string;
  planId: string;
  planVersion: number;
  addOnGrants: IncludedGrant[];
  anchor: string;
  status: string;
  trialEndsAt: string | null;
  cancelledAt: string | null;
  commitment: { months: number; startsAt: string; endsAt: string } | null;
  planChanges: { at: string; fromPlanId: string; fromPlanVersion: number; toPlanId: string; toPlanVersion: number }[];
  /** Set by a suspension whose brand policy pauses billing, cleared on reactivation (absent in rows written before it existed). */
  billingPausedAt?: string | null;
}

export interface RatingRuleData {
  ruleId: string;
  version: number;
  companyId: string;
  usageType: string;
  effectiveFrom: string;
  effectiveTo: string | null;
  freeSeconds: number;
  freeMode: string;
  minimumSeconds: number;
  initialIncrement: { seconds: number; rounding: string; tie: string | null };
  mainIncrement: { seconds: number; rounding: string; tie: string | null };
  unit: string;
}

/** ISO → epoch ms; NaN for what is not an instant (the schema has reported it already). */
export const millisOf = (iso: string | null | undefined): number => (typeof iso === 'string' ? (parseInstant(iso) ?? Number.NaN) : Number.NaN);
const optionalMillis = (iso: string | null | undefined): number | null => (iso === null || iso === undefined ? null : millisOf(iso));

/** `months` later in the brand's zone: the 31st plus one month is the last day of the next. */
export function addMonths(iso: string, months: number, zone: string): string {
  return new Date(DateTime.fromMillis(millisOf(iso), { zone }).plus({ months }).toMillis()).toISOString();
}
export function addDays(iso: string, days: number, zone: string): string {
  return new Date(DateTime.fromMillis(millisOf(iso), { zone }).plus({ days }).toMillis()).toISOString();
}

export function brandRecord(d: BrandData): Brand {
  return {
    code: d.code,
    parentCompany: d.parentCompany,
    name: d.name,
    country: d.country,
    currency: d.currency,
    timeZone: d.timeZone,
    billingHour: d.billingHour,
    taxRegime: d.taxRegime,
    gateway: d.gateway,
    roundingMode: d.roundingMode,
    usageProducts: d.usageProducts,
    paymentTermsDays: d.paymentTermsDays,
    cancellationCredit: d.cancellationCredit,
    creditAtCancellation: d.creditAtCancellation,
    collectionRetryDays: d.collectionRetryDays,
    dunningSteps: d.dunningSteps,
    branding: d.branding,
    commission: d.commission,
    notifications: d.notifications ?? null,
    planSwap: d.planSwap ?? null,
  };
}

export function planRecord(d: PlanData): Plan {
  return d as unknown as Plan;
}

export function customerRecord(d: CustomerData): Customer {
  return d;
}

export function subscriptionRecord(d: SubscriptionData): Subscription {
  return {
    subscriptionId: d.subscriptionId,
    brand: d.brand,
    accountId: d.accountId,
    planId: d.planId,
    planVersion: d.planVersion,
    addOnGrants: d.addOnGrants,
    anchor: millisOf(d.anchor),
    status: d.status,
    trialEndsAt: optionalMillis(d.trialEndsAt),
    cancelledAt: optionalMillis(d.cancelledAt),
    commitment: d.commitment && { months: d.commitment.months, startsAt: millisOf(d.commitment.startsAt), endsAt: millisOf(d.commitment.endsAt) },
    planChanges: d.planChanges.map((c) => ({ ...c, at: millisOf(c.at) })),
    billingPausedAt: optionalMillis(d.billingPausedAt ?? null),
  };
}

export function ratingRuleRecord(d: RatingRuleData): RatingRuleRecord {
  return { ...d, effectiveFrom: millisOf(d.effectiveFrom), effectiveTo: optionalMillis(d.effectiveTo) };
}

/** A number's history for the API: instants as ISO strings. */
export function assignmentsView(assignments: readonly NumberAssignment[]) {
  return assignments.map((a) => ({ ...a, effectiveFrom: isoOf(a.effectiveFrom), effectiveTo: a.effectiveTo === null ? null : isoOf(a.effectiveTo) }));
}

export function numberRecord(number: string, assignments: readonly NumberAssignment[]): NumberHistory {
  return { number, assignments };
}

/** domain/reference's own checks of a record; an empty list means it can be published. */
export function recordProblems<K extends ReferenceKind>(kind: K, record: ReferenceRecords[K]): Problem[] {
  return readRecord(kind, record, 'wire').issues;
}

/** The outbox message of a reference record: its topic, schema and natural key. */
export function referenceMessage<K extends ReferenceKind>(kind: K, record: ReferenceRecords[K], revision: number, brand: string | null): OutboxEvent {
  const { topic, schema } = referenceTopicOf[kind];
  const key = referenceKey(kind, record);
  return { topic, schema, key, eventId: `${kind}:${key}:${revision}`, brand, payload: record };
}

export type LifecycleEvent = LifecycleRecord;

export function lifecycleMessage(event: LifecycleEvent): OutboxEvent {
  return { topic: topics.accountLifecycle.name, schema: topics.accountLifecycle.schema, key: event.accountId, eventId: event.eventId, brand: event.brand, payload: event };
}
