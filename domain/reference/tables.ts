import { Decimal } from 'decimal.js';
import type { PlanPricing } from '../drawdown/index.ts';
import { PeriodError, periodFor } from '../periods/index.ts';
import type { BillingPeriod } from '../periods/index.ts';
import { RuleIndex } from '../rating/index.ts';
import type { RatingError, RatingRule } from '../rating/index.ts';
import { planKey, referenceKey, toPlanPricing, toRatingRule } from './convert.ts';
import { checkReferenceData, readRecord } from './validate.ts';
import type {
  Brand,
  Customer,
  NumberAssignment,
  NumberHistory,
  Plan,
  RatingRuleRecord,
  ReferenceData,
  ReferenceIssue,
  ReferenceKind,
  ReferenceRecords,
  Result,
  Subscription,
} from './types.ts';

/** What became of one applied record or tombstone. */
export type ApplyOutcome =
  | { readonly ok: true; readonly change: 'upserted' | 'deleted' | 'unchanged' }
  /** The record was refused and the previous value (if any) kept. */
  | { readonly ok: false; readonly code: 'invalid_reference_record' | 'key_mismatch'; readonly issues: readonly ReferenceIssue[] };

interface IndexedNumber {
  readonly record: NumberHistory;
  /** By effectiveFrom ascending; non-overlapping (checked on apply). */
  readonly sorted: readonly NumberAssignment[];
}

interface CachedPeriod {
  readonly anchor: number;
  readonly zone: string;
  readonly period: BillingPeriod;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    // Decimal instances are immutable already.
    if (Decimal.isDecimal(value)) return value;
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/**
 * The reference data a stream service holds in memory, built from the compacted `ref.*`
 * topics record by record (`apply`) or from a reference file at once (`fromData`).
 *
 * Lookups are map reads, or a binary search over one number's assignments. Everything
 * returned is frozen; the tables change only through `apply`. Derived forms (rule indexes
 * per brand, plan pricing, the last billing period of a subscription) are cached and
 * dropped when their source records change.
 */
export class ReferenceTables {
  readonly parentCompany: string;
  #version = 0;
  readonly #brands = new Map<string, Brand>();
  readonly #numbers = new Map<string, IndexedNumber>();
  readonly #plans = new Map<string, Plan>();
  readonly #subscriptions = new Map<string, Subscription>();
  readonly #customers = new Map<string, Customer>();
  readonly #rules = new Map<string, { readonly record: RatingRuleRecord; readonly rule: RatingRule }>();
  readonly #ruleIndexes = new Map<string, Result<RuleIndex, RatingError>>();
  readonly #pricing = new WeakMap<Plan, PlanPricing>();
  readonly #periods = new Map<string, CachedPeriod>();

  /** `parentCompany`: whose default rules apply to a brand the tables do not (yet) know. */
  constructor(parentCompany: string) {
    if (typeof parentCompany !== 'string' || parentCompany === '') {
      throw new TypeError('ReferenceTables needs the parent company id');
    }
    this.parentCompany = parentCompany;
  }

  /** Tables holding a parsed reference file or a snapshot. The data is assumed checked. */
  static fromData(data: ReferenceData): ReferenceTables {
    const tables = new ReferenceTables(data.parentCompany);
    const load = <K extends ReferenceKind>(kind: K, list: readonly ReferenceRecords[K][]) => {
      for (const record of list) tables.#put(kind, referenceKey(kind, record), record);
    };
    load('brand', data.brands);
    load('number', data.numbers);
    load('plan', data.plans);
    load('subscription', data.subscriptions);
    load('ratingRule', data.ratingRules);
    load('customer', data.customers);
    return tables;
  }

  /** Increases with every change: a cheap way for a service to tell that something moved. */
  get version(): number {
    return this.#version;
  }

  /**
   * Applies one record of a compacted topic: an upsert under its message key, or a
   * tombstone (null) that removes the key. A record that fails its checks, or whose own key
   * is not the message key, is refused and the previous value kept: the service logs or
   * dead-letters it. Records are checked one by one; references between them are not
   * (topics arrive in any order) and show up as rejections at lookup.
   */
  apply<K extends ReferenceKind>(kind: K, key: string, record: ReferenceRecords[K] | null): ApplyOutcome {
    if (record === null) return { ok: true, change: this.#remove(kind, key) ? 'deleted' : 'unchanged' };
    const { issues } = readRecord(kind, record, 'wire');
    if (issues.length > 0) return { ok: false, code: 'invalid_reference_record', issues };
    const own = referenceKey(kind, record);
    if (own !== key) {
      return {
        ok: false,
        code: 'key_mismatch',
        issues: [{ path: '', message: `the record's key is "${own}", the message key "${key}"` }],
      };
    }
    this.#put(kind, key, record);
    return { ok: true, change: 'upserted' };
  }

  #put<K extends ReferenceKind>(kind: K, key: string, input: ReferenceRecords[K]): void {
    // A copy, so that a caller keeping the decoded object cannot change the tables.
    const record = deepFreeze(structuredCopy(input));
    this.#version++;
    switch (kind) {
      case 'brand': {
        this.#brands.set(key, record as Brand);
        this.#ruleIndexes.clear();
        break;
      }
      case 'number': {
        const history = record as NumberHistory;
        const sorted = [...history.assignments].sort((a, b) => a.effectiveFrom - b.effectiveFrom);
        this.#numbers.set(key, { record: history, sorted });
        break;
      }
      case 'plan':
        this.#plans.set(key, record as Plan);
        break;
      case 'subscription':
        this.#subscriptions.set(key, record as Subscription);
        this.#periods.delete(key);
        break;
      case 'customer':
        this.#customers.set(key, record as Customer);
        break;
      case 'ratingRule': {
        const rule = record as RatingRuleRecord;
        const previous = this.#rules.get(key);
        this.#rules.set(key, { record: rule, rule: toRatingRule(rule) });
        this.#dropRuleIndexes(rule.companyId);
        if (previous !== undefined) this.#dropRuleIndexes(previous.record.companyId);
        break;
      }
    }
  }

  #remove(kind: ReferenceKind, key: string): boolean {
    let removed: boolean;
    switch (kind) {
      case 'brand':
        removed = this.#brands.delete(key);
        this.#ruleIndexes.clear();
        break;
      case 'number':
        removed = this.#numbers.delete(key);
        break;
      case 'plan':
        removed = this.#plans.delete(key);
        break;
      case 'subscription':
        removed = this.#subscriptions.delete(key);
        this.#periods.delete(key);
        break;
      case 'customer':
        removed = this.#customers.delete(key);
        break;
      case 'ratingRule': {
        const previous = this.#rules.get(key);
        removed = this.#rules.delete(key);
        if (previous !== undefined) this.#dropRuleIndexes(previous.record.companyId);
        break;
      }
    }
    if (removed) this.#version++;
    return removed;
  }

  /** A brand's index covers its own rules and its parent's: a change to a parent rule drops all. */
  #dropRuleIndexes(companyId: string): void {
    if (this.#brands.has(companyId)) this.#ruleIndexes.delete(companyId);
    else this.#ruleIndexes.clear();
  }

  /**
   * The assignment of `number` in force at `atMs`: effectiveFrom inclusive, effectiveTo
   * exclusive. A call that starts the millisecond before a reassignment belongs to the old
   * owner; one that starts on it, to the new.
   */
  resolveNumber(number: string, atMs: number): NumberAssignment | undefined {
    const entry = this.#numbers.get(number);
    if (entry === undefined) return undefined;
    const list = entry.sorted;
    // The last assignment starting at or before atMs.
    let lo = 0;
    let hi = list.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.effectiveFrom <= atMs) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    const candidate = list[found];
    if (candidate === undefined) return undefined;
    return candidate.effectiveTo === null || atMs < candidate.effectiveTo ? candidate : undefined;
  }

  /** One version of a rating rule, as published. */
  ratingRule(ruleId: string, version: number): RatingRuleRecord | undefined {
    return this.#rules.get(`${ruleId}:${version}`)?.record;
  }

  numberHistory(number: string): NumberHistory | undefined {
    return this.#numbers.get(number)?.record;
  }

  brand(code: string): Brand | undefined {
    return this.#brands.get(code);
  }

  subscription(subscriptionId: string): Subscription | undefined {
    return this.#subscriptions.get(subscriptionId);
  }

  customer(accountId: string): Customer | undefined {
    return this.#customers.get(accountId);
  }

  /** A brand's subscriptions, in no particular order. */
  subscriptionsOf(brand: string): Subscription[] {
    return [...this.#subscriptions.values()].filter((s) => s.brand === brand);
  }

  /** Every customer (a brand's only, when named), in no particular order. */
  customers(brand?: string): Customer[] {
    const all = [...this.#customers.values()];
    return brand === undefined ? all : all.filter((c) => c.brand === brand);
  }

  /** Every number's assignment history, in no particular order. */
  numberHistories(): NumberHistory[] {
    return [...this.#numbers.values()].map((n) => n.record);
  }

  brands(): Brand[] {
    return [...this.#brands.values()];
  }

  plan(planId: string, version: number): Plan | undefined {
    return this.#plans.get(planKey(planId, version));
  }

  /** Every plan version held, in no particular order. */
  plans(): Plan[] {
    return [...this.#plans.values()];
  }

  /** How many numbers each subscription holds at `atMs` (subscriptions holding none are absent). */
  numbersHeld(atMs: number): Map<string, number> {
    const held = new Map<string, number>();
    for (const { record } of this.#numbers.values()) {
      const a = record.assignments.find((x) => x.effectiveFrom <= atMs && (x.effectiveTo === null || atMs < x.effectiveTo));
      if (a !== undefined) held.set(a.subscriptionId, (held.get(a.subscriptionId) ?? 0) + 1);
    }
    return held;
  }

  /** The brand's product for a usage type, from the brand's usageProducts. */
  productFor(brandCode: string, usageType: string): string | undefined {
    const products = this.#brands.get(brandCode)?.usageProducts;
    return products !== undefined && Object.hasOwn(products, usageType) ? products[usageType] : undefined;
  }

  /** Every usage type some brand has a product for: what ingest can accept. */
  usageTypes(): Set<string> {
    const types = new Set<string>();
    for (const brand of this.#brands.values()) for (const t of Object.keys(brand.usageProducts)) types.add(t);
    return types;
  }

  /**
   * The rule index a brand's usage is rated with: the brand's own rules and its parent's.
   * Built on first use and kept until one of those rules (or the brand) changes. Per brand,
   * so that one brand's conflicting rules stop only that brand's rating.
   */
  ruleIndexFor(brandCode: string): Result<RuleIndex, RatingError> {
    const cached = this.#ruleIndexes.get(brandCode);
    if (cached !== undefined) return cached;
    const parent = this.#brands.get(brandCode)?.parentCompany ?? this.parentCompany;
    const rules: RatingRule[] = [];
    for (const { rule } of this.#rules.values()) {
      if (rule.companyId === brandCode || rule.companyId === parent) rules.push(rule);
    }
    const built = RuleIndex.build(rules);
    this.#ruleIndexes.set(brandCode, built);
    return built;
  }

  /** The plan's overage pricing for domain/drawdown, converted once per plan record. */
  planPricing(plan: Plan): PlanPricing {
    let pricing = this.#pricing.get(plan);
    if (pricing === undefined) {
      pricing = toPlanPricing(plan);
      this.#pricing.set(plan, pricing);
    }
    return pricing;
  }

  /**
   * The billing period of a subscription that contains `atMs`, from its anchor in the
   * brand's zone (domain/periods). The last one found is kept per subscription: a stream
   * of one account's calls mostly falls in one period.
   */
  billingPeriod(subscription: Subscription, timeZone: string, atMs: number): Result<BillingPeriod, PeriodError> {
    const cached = this.#periods.get(subscription.subscriptionId);
    if (
      cached !== undefined &&
      cached.anchor === subscription.anchor &&
      cached.zone === timeZone &&
      cached.period.start.getTime() <= atMs &&
      atMs < cached.period.end.getTime()
    ) {
      return { ok: true, value: cached.period };
    }
    try {
      const period = periodFor(new Date(subscription.anchor), new Date(atMs), timeZone);
      this.#periods.set(subscription.subscriptionId, { anchor: subscription.anchor, zone: timeZone, period });
      return { ok: true, value: period };
    } catch (error) {
      if (error instanceof PeriodError) return { ok: false, error };
      throw error;
    }
  }

  /** Everything held, as plain records (for a reference file, or checkReferenceData). */
  snapshot(): ReferenceData {
    return {
      parentCompany: this.parentCompany,
      brands: [...this.#brands.values()],
      numbers: [...this.#numbers.values()].map((n) => n.record),
      plans: [...this.#plans.values()],
      subscriptions: [...this.#subscriptions.values()],
      ratingRules: [...this.#rules.values()].map((r) => r.record),
      customers: [...this.#customers.values()],
    };
  }

  /** Problems between the records held (dangling references, currency mismatches): for a health check. */
  problems(): ReferenceIssue[] {
    return checkReferenceData(this.snapshot());
  }

  get counts(): Readonly<Record<ReferenceKind, number>> {
    return {
      brand: this.#brands.size,
      number: this.#numbers.size,
      plan: this.#plans.size,
      subscription: this.#subscriptions.size,
      ratingRule: this.#rules.size,
      customer: this.#customers.size,
    };
  }
}

/** A copy of plain record data; Decimal values are immutable and kept as they are. */
function structuredCopy<T>(value: T): T {
  if (Array.isArray(value)) return value.map(structuredCopy) as T;
  if (typeof value === 'object' && value !== null) {
    if (Decimal.isDecimal(value)) return value;
    const copy: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) copy[k] = structuredCopy(v);
    return copy as T;
  }
  return value;
}
