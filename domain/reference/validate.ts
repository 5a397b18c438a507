/**
 * Checks of reference records, one by one (shape and values) and as a set (references
 * between them). One reader serves both the wire (instants as epoch ms, decimals as
 * Decimal or string) and the reference file (instants as ISO strings, decimals as
 * strings), so both report the same problems in the same words.
 */
import { Decimal } from 'decimal.js';
import { IANAZone } from 'luxon';
import { MINOR_UNITS, MONEY_SCALE } from '../money/index.ts';
import { validatePriceModel } from '../pricing/index.ts';
import { validateRule, validateRuleSet } from '../rating/index.ts';
import { parseInstant, planKey, referenceKey, toPriceModel, toRatingRule } from './convert.ts';
import { containsCardNumber } from '../card-data.ts';
import type {
  Brand,
  DecimalValue,
  IncludedGrant,
  IncrementRecord,
  NumberAssignment,
  NumberHistory,
  Plan,
  PriceModelKind,
  PriceModelRecord,
  PriceTierRecord,
  RatingRuleRecord,
  ReferenceData,
  ReferenceIssue,
  ReferenceKind,
  ReferenceRecords,
  Subscription,
  Customer,
  NotificationKindSetting,
  NotificationSettings,
  PostalAddress,
} from './types.ts';

/** `+`, then 8 to 15 digits, the first not 0. */
export const E164 = /^\+[1-9]\d{7,14}$/;
/** Brand codes become part of topic names (see topics/catalog.ts). */
const BRAND_CODE = /^[a-z0-9][a-z0-9-]{0,39}$/;
const COUNTRY = /^[A-Z]{2}$/;
const DECIMAL_TEXT = /^-?\d+(\.\d+)?$/;
const ROUNDING_MODES = ['half_up', 'half_even', 'down', 'up'];
const STATUSES = ['trial', 'active', 'suspended', 'cancelled'];
const PRICE_KINDS: readonly PriceModelKind[] = ['PER_UNIT', 'GRADUATED', 'VOLUME'];
const CANCELLATION_CREDITS = ['prorated', 'none'];
const CREDIT_AT_CANCELLATION = ['pay_out', 'refund'];
const DUNNING_ACTIONS = ['reminder', 'suspend', 'cancel', 'write_off'];
const CSS_COLOUR = /^#[0-9a-fA-F]{6}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const LOCALE = /^[a-z]{2,3}(-[A-Z]{2})?$/;
const LOCAL_DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Where a record comes from decides how instants and decimals are written. */
export type RecordForm = 'wire' | 'file';

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Decimal.isDecimal(value)) return `Decimal ${(value as Decimal).toString()}`;
  return JSON.stringify(value) ?? String(value);
}

export function isTimeZone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

/**
 * Reads typed fields out of unknown input, recording every problem. A field that fails
 * yields a placeholder; the record built from it is only used when no problem was found.
 */
class Reader {
  constructor(
    readonly form: RecordForm,
    readonly issues: ReferenceIssue[],
  ) {}

  problem(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  object(value: unknown, path: string): Fields {
    if (isObject(value)) return value;
    this.problem(path, `must be an object, got ${describe(value)}`);
    return {};
  }

  text(fields: Fields, key: string, path: string, pattern?: RegExp, what?: string): string {
    const value = fields[key];
    if (typeof value !== 'string' || value.trim() === '') {
      this.problem(`${path}${key}`, `must be a non-empty string, got ${describe(value)}`);
      return '';
    }
    if (pattern !== undefined && !pattern.test(value)) {
      this.problem(`${path}${key}`, `must be ${what ?? `like ${pattern.source}`}, got ${describe(value)}`);
    }
    return value;
  }

  oneOf<T extends string>(fields: Fields, key: string, path: string, allowed: readonly T[], fallback?: T): T {
    const value = fields[key] ?? fallback;
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.problem(`${path}${key}`, `must be one of ${allowed.join(', ')}, got ${describe(value)}`);
      return (allowed[0] ?? '') as T;
    }
    return value as T;
  }

  integer(fields: Fields, key: string, path: string, min: number, max = Number.MAX_SAFE_INTEGER, fallback?: number): number {
    const value = fields[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
      this.problem(`${path}${key}`, `must be ${range}, got ${describe(value)}`);
      return Number.NaN;
    }
    return value;
  }

  /** Any number type-wise; values are domain/rating's to judge. */
  number(fields: Fields, key: string, path: string, fallback?: number): number {
    const value = fields[key] ?? fallback;
    if (typeof value !== 'number') {
      this.problem(`${path}${key}`, `must be a number, got ${describe(value)}`);
      return Number.NaN;
    }
    return value;
  }

  instant(fields: Fields, key: string, path: string): number {
    const value = fields[key];
    if (this.form === 'file') {
      const millis = typeof value === 'string' ? parseInstant(value) : undefined;
      if (millis === undefined) {
        this.problem(
          `${path}${key}`,
          `must be an ISO 8601 instant with an offset (e.g. 2026-01-01T00:00:00Z), got ${describe(value)}`,
        );
        return Number.NaN;
      }
      return millis;
    }
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      this.problem(`${path}${key}`, `must be epoch milliseconds, got ${describe(value)}`);
      return Number.NaN;
    }
    return value;
  }

  optionalInstant(fields: Fields, key: string, path: string): number | null {
    const value = fields[key];
    if (value === undefined || value === null) return null;
    return this.instant(fields, key, path);
  }

  /** A non-negative decimal of at most MONEY_SCALE places (Avro decimal(18, 6)). */
  decimal(fields: Fields, key: string, path: string, fallback?: string): DecimalValue {
    const value = fields[key] ?? fallback;
    const where = `${path}${key}`;
    let parsed: Decimal | undefined;
    if (typeof value === 'string' && DECIMAL_TEXT.test(value)) parsed = new Decimal(value);
    else if (this.form === 'wire' && Decimal.isDecimal(value)) parsed = value as Decimal;
    if (parsed === undefined || !parsed.isFinite()) {
      const hint = typeof value === 'number' ? ' (write amounts as strings, e.g. "0.95": money is never a float)' : '';
      this.problem(where, `must be a decimal string${this.form === 'wire' ? ' or Decimal' : ''}, got ${describe(value)}${hint}`);
      return '0';
    }
    if (parsed.isNegative()) this.problem(where, `must not be negative, got ${parsed.toString()}`);
    if (parsed.decimalPlaces() > MONEY_SCALE) {
      this.problem(where, `has more than ${MONEY_SCALE} decimal places: ${parsed.toString()}`);
    }
    return value as DecimalValue;
  }

  /** A string or null; absent reads as null (the Avro default). */
  optionalText(fields: Fields, key: string, path: string): string | null {
    const value = fields[key];
    if (value === undefined || value === null) return null;
    return this.text(fields, key, path);
  }

  /** An array of strings; absent reads as empty (the Avro default). */
  texts(fields: Fields, key: string, path: string): string[] {
    return this.array(fields, key, path, true).map((item, i) => {
      if (typeof item === 'string') return item;
      this.problem(`${path}${key}[${i}]`, `must be a string, got ${describe(item)}`);
      return '';
    });
  }

  /** An optional nested record: null when absent or null, else read by `read`. */
  optionalObject<T>(fields: Fields, key: string, path: string, read: (f: Fields, p: string) => T): T | null {
    const value = fields[key];
    if (value === undefined || value === null) return null;
    return read(this.object(value, `${path}${key}`), `${path}${key}.`);
  }

  array(fields: Fields, key: string, path: string, optional = false): unknown[] {
    const value = fields[key];
    if (value === undefined && optional) return [];
    if (!Array.isArray(value)) {
      this.problem(`${path}${key}`, `must be an array, got ${describe(value)}`);
      return [];
    }
    return value;
  }
}

function readBrand(r: Reader, input: unknown, path: string): Brand {
  const f = r.object(input, path);
  const p = path === '' ? '' : `${path}.`;
  const currency = r.text(f, 'currency', p);
  if (currency !== '' && MINOR_UNITS[currency] === undefined) {
    r.problem(`${p}currency`, `"${currency}" is not a known ISO 4217 currency`);
  }
  const timeZone = r.text(f, 'timeZone', p);
  if (timeZone !== '' && !isTimeZone(timeZone)) r.problem(`${p}timeZone`, `"${timeZone}" is not an IANA time zone`);
  const products = f['usageProducts'] ?? {};
  const usageProducts: Record<string, string> = {};
  if (!isObject(products)) {
    r.problem(`${p}usageProducts`, `must be an object of usage type to product id, got ${describe(products)}`);
  } else {
    for (const [usageType, product] of Object.entries(products)) {
      if (typeof product !== 'string' || product === '') {
        r.problem(`${p}usageProducts.${usageType}`, `must be a product id, got ${describe(product)}`);
      } else {
        usageProducts[usageType] = product;
      }
    }
  }
  return {
    code: r.text(f, 'code', p, BRAND_CODE, '1-40 lowercase letters, digits or dashes'),
    parentCompany: r.text(f, 'parentCompany', p),
    name: r.text(f, 'name', p),
    country: r.text(f, 'country', p, COUNTRY, 'an ISO 3166-1 alpha-2 code such as US'),
    currency,
    timeZone,
    billingHour: r.integer(f, 'billingHour', p, 0, 23),
    taxRegime: r.text(f, 'taxRegime', p),
    gateway: r.text(f, 'gateway', p),
    roundingMode: r.oneOf(f, 'roundingMode', p, ROUNDING_MODES),
    usageProducts,
    paymentTermsDays: r.integer(f, 'paymentTermsDays', p, 0, 365, 14),
    cancellationCredit: r.oneOf(f, 'cancellationCredit', p, CANCELLATION_CREDITS, 'prorated'),
    creditAtCancellation: r.oneOf(f, 'creditAtCancellation', p, CREDIT_AT_CANCELLATION, 'pay_out'),
    collectionRetryDays: readDays(r, f, 'collectionRetryDays', p),
    dunningSteps: readDunningSteps(r, f, p),
    branding: r.optionalObject(f, 'branding', p, (b, bp) => ({
      displayName: r.text(b, 'displayName', bp),
      legalName: r.text(b, 'legalName', bp),
      logoSvg: r.optionalText(b, 'logoSvg', bp),
      primaryColor: r.text(b, 'primaryColor', bp, CSS_COLOUR, 'a CSS hex colour such as #0b5394'),
      accentColor: r.text(b, 'accentColor', bp, CSS_COLOUR, 'a CSS hex colour such as #f1c232'),
      address: readAddress(r, r.object(b['address'], `${bp}address`), `${bp}address.`),
      supportEmail: r.text(b, 'supportEmail', bp, EMAIL, 'an email address'),
      footer: r.text(b, 'footer', bp),
      locale: r.text(b, 'locale', bp, LOCALE, 'a BCP 47 locale such as en-US'),
    })),
    commission: r.optionalObject(f, 'commission', p, (c, cp) => ({
      initialPercent: readPercent(r, c, 'initialPercent', cp),
      initialPeriods: r.integer(c, 'initialPeriods', cp, 0, 1200),
      recurringPercent: readPercent(r, c, 'recurringPercent', cp),
    })),
    notifications: r.optionalObject(f, 'notifications', p, (n, np) => readNotifications(r, n, np)),
    planSwap: r.optionalObject(f, 'planSwap', p, (s, sp) => {
      const optionalDecimal = (key: string) => (s[key] === undefined || s[key] === null ? null : r.decimal(s, key, sp));
      return {
        feePolicy: r.oneOf(s, 'feePolicy', sp, PLAN_SWAP_FEE_POLICIES, 'prorated'),
        lookBackPeriods: r.integer(s, 'lookBackPeriods', sp, 1, 24, 3),
        minSavingAmount: optionalDecimal('minSavingAmount'),
        minSavingPercent: optionalDecimal('minSavingPercent'),
        minConfidencePercent: r.integer(s, 'minConfidencePercent', sp, 0, 100, 50),
        recommendationHour: r.integer(s, 'recommendationHour', sp, 0, 23, 3),
      };
    }),
  };
}

const PLAN_SWAP_FEE_POLICIES = ['full', 'prorated'];

const NOTIFICATION_RECIPIENTS = ['all', 'primary'];

function readNotifications(r: Reader, n: Fields, np: string): NotificationSettings {
  const optionalEmail = (key: string) => {
    const value = r.optionalText(n, key, np);
    if (value !== null && !EMAIL.test(value)) r.problem(`${np}${key}`, `must be an email address, got ${describe(value)}`);
    return value;
  };
  const kindsIn = n['kinds'] ?? {};
  const kinds: Record<string, NotificationKindSetting> = {};
  if (!isObject(kindsIn)) r.problem(`${np}kinds`, `must be an object of kind to setting, got ${describe(kindsIn)}`);
  else {
    for (const [kind, setting] of Object.entries(kindsIn)) {
      const kp = `${np}kinds.${kind}.`;
      const k = r.object(setting, kp.slice(0, -1));
      const enabled = k['enabled'] ?? true;
      if (typeof enabled !== 'boolean') r.problem(`${kp}enabled`, `must be true or false, got ${describe(enabled)}`);
      kinds[kind] = { enabled: enabled === true, recipients: r.oneOf(k, 'recipients', kp, NOTIFICATION_RECIPIENTS, 'all') };
    }
  }
  const percents = r.array(n, 'usageThresholdPercents', np, true).map((v, i) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > 1000) r.problem(`${np}usageThresholdPercents[${i}]`, `must be a whole percent from 1 to 1000, got ${describe(v)}`);
    return v as number;
  });
  percents.forEach((v, i) => {
    if (i > 0 && v <= percents[i - 1]!) r.problem(`${np}usageThresholdPercents[${i}]`, 'percents must be in increasing order');
  });
  const overage = n['usageOverageAmount'];
  return {
    senderName: r.optionalText(n, 'senderName', np),
    senderAddress: optionalEmail('senderAddress'),
    replyTo: optionalEmail('replyTo'),
    template: r.optionalText(n, 'template', np),
    kinds,
    usageThresholdPercents: percents,
    usageOverageAmount: overage === undefined || overage === null ? null : r.decimal(n, 'usageOverageAmount', np),
  };
}

function readAddress(r: Reader, a: Fields, ap: string): PostalAddress {
  return {
    line1: r.text(a, 'line1', ap),
    line2: r.optionalText(a, 'line2', ap),
    city: r.text(a, 'city', ap),
    region: r.optionalText(a, 'region', ap),
    postalCode: r.text(a, 'postalCode', ap),
    country: r.text(a, 'country', ap, COUNTRY, 'an ISO 3166-1 alpha-2 code such as US'),
  };
}

function readDays(r: Reader, f: Fields, key: string, p: string): number[] {
  const days = r.array(f, key, p, true).map((d, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0 || d > 3650) {
      r.problem(`${p}${key}[${i}]`, `must be a whole number of days from 0 to 3650, got ${describe(d)}`);
      return Number.NaN;
    }
    return d;
  });
  days.forEach((d, i) => {
    if (i > 0 && d <= days[i - 1]!) r.problem(`${p}${key}[${i}]`, 'days must be in increasing order');
  });
  return days;
}

function readDunningSteps(r: Reader, f: Fields, p: string) {
  const steps = r.array(f, 'dunningSteps', p, true).map((item, i) => {
    const sp = `${p}dunningSteps[${i}].`;
    const step = r.object(item, sp.slice(0, -1));
    return { afterDays: r.integer(step, 'afterDays', sp, 0, 3650), action: r.oneOf(step, 'action', sp, DUNNING_ACTIONS) };
  });
  steps.forEach((step, i) => {
    if (i > 0 && step.afterDays <= steps[i - 1]!.afterDays) {
      r.problem(`${p}dunningSteps[${i}].afterDays`, 'steps must be in increasing order of afterDays');
    }
  });
  return steps;
}

function readPercent(r: Reader, f: Fields, key: string, p: string): DecimalValue {
  const value = r.decimal(f, key, p);
  if (new Decimal(typeof value === 'string' && DECIMAL_TEXT.test(value) ? value : value.toString()).greaterThan(100)) {
    r.problem(`${p}${key}`, `must be a percent from 0 to 100, got ${value.toString()}`);
  }
  return value;
}

function readNumber(r: Reader, input: unknown, path: string): NumberHistory {
  const f = r.object(input, path);
  const p = path === '' ? '' : `${path}.`;
  const number = r.text(f, 'number', p, E164, 'an E.164 number (+ then 8 to 15 digits, the first not 0)');
  const assignments = r.array(f, 'assignments', p).map((item, i): NumberAssignment => {
    const ap = `${p}assignments[${i}].`;
    const a = r.object(item, ap.slice(0, -1));
    const effectiveFrom = r.instant(a, 'effectiveFrom', ap);
    const effectiveTo = r.optionalInstant(a, 'effectiveTo', ap);
    if (effectiveTo !== null && effectiveTo <= effectiveFrom) {
      r.problem(`${ap}effectiveTo`, 'must be later than effectiveFrom');
    }
    return {
      assignmentId: r.text(a, 'assignmentId', ap),
      brand: r.text(a, 'brand', ap),
      accountId: r.text(a, 'accountId', ap),
      subscriptionId: r.text(a, 'subscriptionId', ap),
      effectiveFrom,
      effectiveTo,
    };
  });
  // Overlaps: by start, each assignment must end no later than the next one starts.
  const order = assignments
    .map((a, i) => ({ a, i }))
    .filter(({ a }) => Number.isFinite(a.effectiveFrom))
    .sort((x, y) => x.a.effectiveFrom - y.a.effectiveFrom);
  for (let k = 1; k < order.length; k++) {
    const prev = order[k - 1]!;
    const next = order[k]!;
    const prevEnd = prev.a.effectiveTo ?? Infinity;
    if (prevEnd > next.a.effectiveFrom) {
      r.problem(
        `${p}assignments[${next.i}]`,
        `overlaps assignments[${prev.i}] (${prev.a.assignmentId}): a number has one owner at a time`,
      );
    }
  }
  const ids = new Set<string>();
  assignments.forEach((a, i) => {
    if (a.assignmentId !== '' && ids.has(a.assignmentId)) {
      r.problem(`${p}assignments[${i}].assignmentId`, `"${a.assignmentId}" appears twice`);
    }
    ids.add(a.assignmentId);
  });
  return { number, assignments };
}

function readGrants(r: Reader, f: Fields, key: string, p: string, optional: boolean): IncludedGrant[] {
  const grants = r.array(f, key, p, optional).map((item, i): IncludedGrant => {
    const gp = `${p}${key}[${i}].`;
    const g = r.object(item, gp.slice(0, -1));
    return {
      bucketId: r.text(g, 'bucketId', gp),
      usageType: r.text(g, 'usageType', gp),
      seconds: r.integer(g, 'seconds', gp, 0),
      priority: r.integer(g, 'priority', gp, -2147483648, 2147483647),
    };
  });
  const ids = new Set<string>();
  grants.forEach((g, i) => {
    if (g.bucketId !== '' && ids.has(g.bucketId)) r.problem(`${p}${key}[${i}].bucketId`, `"${g.bucketId}" appears twice`);
    ids.add(g.bucketId);
  });
  return grants;
}

function readPriceModel(r: Reader, input: unknown, path: string, currency: string): PriceModelRecord {
  const start = r.issues.length;
  const f = r.object(input, path);
  const p = `${path}.`;
  const kind = r.oneOf(f, 'kind', p, PRICE_KINDS);
  const tiers = r.array(f, 'tiers', p).map((item, i): PriceTierRecord => {
    const tp = `${p}tiers[${i}].`;
    const t = r.object(item, tp.slice(0, -1));
    const upTo = t['upTo'] ?? null;
    if (upTo !== null && (typeof upTo !== 'number' || !Number.isSafeInteger(upTo) || upTo <= 0)) {
      r.problem(`${tp}upTo`, `must be a positive integer or null, got ${describe(upTo)}`);
    }
    return {
      upTo: upTo as number | null,
      unitPrice: r.decimal(t, 'unitPrice', tp),
      flatFee: r.decimal(t, 'flatFee', tp, r.form === 'file' ? '0' : undefined),
    };
  });
  const model: PriceModelRecord = {
    usageType: r.text(f, 'usageType', p),
    kind,
    unitSeconds: r.integer(f, 'unitSeconds', p, 1),
    tiers,
  };
  if (kind === 'PER_UNIT') {
    const only = tiers[0];
    if (tiers.length !== 1 || only === undefined || only.upTo !== null) {
      r.problem(`${p}tiers`, 'PER_UNIT takes exactly one tier, with upTo null');
    } else if (!new Decimal(only.flatFee.toString()).isZero()) {
      r.problem(`${p}tiers[0].flatFee`, 'PER_UNIT has no flat fee');
    }
  }
  if (r.issues.length === start) {
    // The arithmetic's own checks (tier order, bounds in whole seconds), only on a sound shape.
    for (const problem of validatePriceModel(toPriceModel(model, currency))) {
      if (!problem.includes('currency')) r.problem(path, problem);
    }
  }
  return model;
}

function readPlan(r: Reader, input: unknown, path: string): Plan {
  const f = r.object(input, path);
  const p = path === '' ? '' : `${path}.`;
  const currency = r.text(f, 'currency', p);
  if (currency !== '' && MINOR_UNITS[currency] === undefined) {
    r.problem(`${p}currency`, `"${currency}" is not a known ISO 4217 currency`);
  }
  const priceModels = r
    .array(f, 'priceModels', p)
    .map((item, i) => readPriceModel(r, item, `${p}priceModels[${i}]`, currency));
  const types = new Set<string>();
  priceModels.forEach((m, i) => {
    if (m.usageType !== '' && types.has(m.usageType)) {
      r.problem(`${p}priceModels[${i}].usageType`, `"${m.usageType}" has two price models`);
    }
    types.add(m.usageType);
  });
  return {
    planId: r.text(f, 'planId', p),
    version: r.integer(f, 'version', p, 1, 2147483647),
    owner: r.text(f, 'owner', p),
    name: r.text(f, 'name', p),
    currency,
    monthlyFee: r.decimal(f, 'monthlyFee', p),
    trialDays: r.integer(f, 'trialDays', p, 0, 2147483647, r.form === 'file' ? 0 : undefined),
    grants: readGrants(r, f, 'grants', p, false),
    priceModels,
    numberAllotment: r.integer(f, 'numberAllotment', p, 0, 2147483647, r.form === 'file' ? 0 : undefined),
    commitmentDiscount: r.optionalObject(f, 'commitmentDiscount', p, (d, dp) => ({
      months: r.integer(d, 'months', dp, 1, 120),
      percent: readPercent(r, d, 'percent', dp),
    })),
  };
}

function readSubscription(r: Reader, input: unknown, path: string): Subscription {
  const f = r.object(input, path);
  const p = path === '' ? '' : `${path}.`;
  return {
    subscriptionId: r.text(f, 'subscriptionId', p),
    brand: r.text(f, 'brand', p),
    accountId: r.text(f, 'accountId', p),
    planId: r.text(f, 'planId', p),
    planVersion: r.integer(f, 'planVersion', p, 1, 2147483647),
    addOnGrants: readGrants(r, f, 'addOnGrants', p, true),
    anchor: r.instant(f, 'anchor', p),
    status: r.oneOf(f, 'status', p, STATUSES),
    trialEndsAt: r.optionalInstant(f, 'trialEndsAt', p),
    cancelledAt: r.optionalInstant(f, 'cancelledAt', p),
    commitment: r.optionalObject(f, 'commitment', p, (c, cp) => {
      const startsAt = r.instant(c, 'startsAt', cp);
      const endsAt = r.instant(c, 'endsAt', cp);
      if (endsAt <= startsAt) r.problem(`${cp}endsAt`, 'must be later than startsAt');
      return { months: r.integer(c, 'months', cp, 1, 120), startsAt, endsAt };
    }),
    planChanges: readPlanChanges(r, f, p),
    billingPausedAt: r.optionalInstant(f, 'billingPausedAt', p),
  };
}

function readPlanChanges(r: Reader, f: Fields, p: string) {
  const changes = r.array(f, 'planChanges', p, true).map((item, i) => {
    const cp = `${p}planChanges[${i}].`;
    const c = r.object(item, cp.slice(0, -1));
    return {
      at: r.instant(c, 'at', cp),
      fromPlanId: r.text(c, 'fromPlanId', cp),
      fromPlanVersion: r.integer(c, 'fromPlanVersion', cp, 1, 2147483647),
      toPlanId: r.text(c, 'toPlanId', cp),
      toPlanVersion: r.integer(c, 'toPlanVersion', cp, 1, 2147483647),
    };
  });
  changes.forEach((c, i) => {
    if (i > 0 && c.at < changes[i - 1]!.at) r.problem(`${p}planChanges[${i}].at`, 'changes must be oldest first');
  });
  const last = changes.at(-1);
  if (last !== undefined && (last.toPlanId !== f['planId'] || last.toPlanVersion !== f['planVersion'])) {
    r.problem(`${p}planChanges[${changes.length - 1}]`, `the last change must be to the current plan ${String(f['planId'])} v${String(f['planVersion'])}`);
  }
  return changes;
}

function readCustomer(r: Reader, input: unknown, path: string): Customer {
  const f = r.object(input, path);
  const p = path === '' ? '' : `${path}.`;
  return {
    accountId: r.text(f, 'accountId', p),
    brand: r.text(f, 'brand', p, BRAND_CODE, '1-40 lowercase letters, digits or dashes'),
    externalId: r.optionalText(f, 'externalId', p),
    name: r.text(f, 'name', p),
    email: r.text(f, 'email', p, EMAIL, 'an email address'),
    postalAddress: r.optionalObject(f, 'postalAddress', p, (a, ap) => readAddress(r, a, ap)),
    country: r.text(f, 'country', p, COUNTRY, 'an ISO 3166-1 alpha-2 code such as US'),
    region: r.optionalText(f, 'region', p),
    taxIds: r.array(f, 'taxIds', p, true).map((item, i) => {
      const tp = `${p}taxIds[${i}].`;
      const t = r.object(item, tp.slice(0, -1));
      return { type: r.text(t, 'type', tp), value: r.text(t, 'value', tp) };
    }),
    exemptions: r.array(f, 'exemptions', p, true).map((item, i) => {
      const ep = `${p}exemptions[${i}].`;
      const e = r.object(item, ep.slice(0, -1));
      const effectiveFrom = r.text(e, 'effectiveFrom', ep, LOCAL_DATE, 'a local date YYYY-MM-DD');
      const effectiveTo = e['effectiveTo'] === undefined || e['effectiveTo'] === null ? null : r.text(e, 'effectiveTo', ep, LOCAL_DATE, 'a local date YYYY-MM-DD');
      if (effectiveTo !== null && effectiveTo <= effectiveFrom) r.problem(`${ep}effectiveTo`, 'must be later than effectiveFrom');
      return { taxCode: r.text(e, 'taxCode', ep), certificateId: r.text(e, 'certificateId', ep), effectiveFrom, effectiveTo, reason: r.text(e, 'reason', ep) };
    }),
    agentId: r.optionalText(f, 'agentId', p),
    defaultPaymentMethod: r.optionalObject(f, 'defaultPaymentMethod', p, (m, mp) => {
      const method = {
        gateway: r.text(m, 'gateway', mp),
        customerRef: r.text(m, 'customerRef', mp),
        methodRef: r.text(m, 'methodRef', mp),
        label: r.text(m, 'label', mp),
      };
      // Tokens only: a card number here would be stored and published (DESIGN.md invariant 7).
      for (const key of ['customerRef', 'methodRef', 'label'] as const) {
        if (containsCardNumber(method[key])) r.problem(`${mp}${key}`, 'looks like a card number: store the gateway token, never card data');
      }
      return method;
    }),
    billingContacts: r.texts(f, 'billingContacts', p).map((address, i) => {
      if (!EMAIL.test(address)) r.problem(`${p}billingContacts[${i}]`, `must be an email address, got ${describe(address)}`);
      return address;
    }),
  };
}

function readIncrement(r: Reader, input: unknown, path: string): IncrementRecord {
  const f = r.object(input, path);
  const p = `${path}.`;
  const rounding = f['rounding'];
  // The file may use domain/rating's {mode, tie} object; the wire has a string and a tie field.
  if (r.form === 'file' && isObject(rounding)) {
    const tie = rounding['tie'];
    return {
      seconds: r.number(f, 'seconds', p),
      rounding: String(rounding['mode']),
      tie: typeof tie === 'string' ? tie : null,
    };
  }
  const tie = f['tie'] ?? null;
  if (tie !== null && typeof tie !== 'string') r.problem(`${p}tie`, `must be a string or null, got ${describe(tie)}`);
  return { seconds: r.number(f, 'seconds', p), rounding: r.text(f, 'rounding', p), tie: tie as string | null };
}

function readRatingRule(r: Reader, input: unknown, path: string): RatingRuleRecord {
  const f = r.object(input, path);
  const p = path === '' ? '' : `${path}.`;
  const before = r.issues.length;
  const record: RatingRuleRecord = {
    ruleId: r.text(f, 'ruleId', p),
    version: r.number(f, 'version', p),
    companyId: r.text(f, 'companyId', p),
    usageType: r.text(f, 'usageType', p),
    effectiveFrom: r.instant(f, 'effectiveFrom', p),
    effectiveTo: r.optionalInstant(f, 'effectiveTo', p),
    freeSeconds: r.number(f, 'freeSeconds', p),
    freeMode: r.text(f, 'freeMode', p),
    minimumSeconds: r.number(f, 'minimumSeconds', p),
    initialIncrement: readIncrement(r, f['initialIncrement'], `${p}initialIncrement`),
    mainIncrement: readIncrement(r, f['mainIncrement'], `${p}mainIncrement`),
    // Avro default: second.
    unit: f['unit'] === undefined ? 'second' : r.text(f, 'unit', p),
  };
  if (r.issues.length === before) {
    // Values are domain/rating's business: one set of rules and messages for the whole project.
    for (const issue of validateRule(toRatingRule(record))) {
      const field = issue.field.replace(/\.rounding\.mode$/, '.rounding').replace(/\.rounding\.tie$/, '.tie');
      r.problem(`${p}${field}`, issue.message);
    }
  }
  return record;
}

const READERS: { [K in ReferenceKind]: (r: Reader, input: unknown, path: string) => ReferenceRecords[K] } = {
  brand: readBrand,
  number: readNumber,
  plan: readPlan,
  subscription: readSubscription,
  ratingRule: readRatingRule,
  customer: readCustomer,
};

/**
 * One record checked on its own: a typed record, or every problem with it. `form` says
 * whether instants are epoch ms and decimals Decimal (the wire) or ISO and strings (a file).
 */
export function readRecord<K extends ReferenceKind>(
  kind: K,
  input: unknown,
  form: RecordForm = 'wire',
  path = '',
): { readonly record: ReferenceRecords[K]; readonly issues: ReferenceIssue[] } {
  const issues: ReferenceIssue[] = [];
  const record = READERS[kind](new Reader(form, issues), input, path);
  return { record, issues };
}

/** Every problem with one wire record; empty means it can be applied. */
export function validateRecord(kind: ReferenceKind, input: unknown): ReferenceIssue[] {
  return readRecord(kind, input, 'wire').issues;
}

/**
 * Problems between records: duplicate keys, references to unknown brands, plans and
 * subscriptions, currencies that differ between a brand and its plans, add-on buckets that
 * clash with the plan's, rule sets that selection could not choose from. Records are
 * assumed sound one by one (see readRecord).
 */
export function checkReferenceData(data: ReferenceData): ReferenceIssue[] {
  const issues: ReferenceIssue[] = [];
  const problem = (path: string, message: string) => issues.push({ path, message });

  const unique = <K extends ReferenceKind>(kind: K, list: readonly ReferenceRecords[K][], section: string) => {
    const seen = new Map<string, number>();
    list.forEach((record, i) => {
      const key = referenceKey(kind, record);
      const first = seen.get(key);
      if (first !== undefined) problem(`${section}[${i}]`, `duplicates ${section}[${first}] (key "${key}")`);
      else seen.set(key, i);
    });
  };
  unique('brand', data.brands, 'brands');
  unique('number', data.numbers, 'numbers');
  unique('plan', data.plans, 'plans');
  unique('subscription', data.subscriptions, 'subscriptions');
  unique('ratingRule', data.ratingRules, 'ratingRules');
  unique('customer', data.customers, 'customers');

  const brands = new Map(data.brands.map((b) => [b.code, b]));
  const plans = new Map(data.plans.map((p) => [planKey(p.planId, p.version), p]));
  const subscriptions = new Map(data.subscriptions.map((s) => [s.subscriptionId, s]));
  const companies = new Set([data.parentCompany, ...brands.keys()]);

  data.brands.forEach((b, i) => {
    if (b.parentCompany !== data.parentCompany) {
      problem(`brands[${i}].parentCompany`, `is "${b.parentCompany}", the file's parent company is "${data.parentCompany}"`);
    }
  });
  data.plans.forEach((plan, i) => {
    if (!companies.has(plan.owner)) {
      problem(`plans[${i}].owner`, `"${plan.owner}" is neither a brand nor the parent company`);
      return;
    }
    const owner = brands.get(plan.owner);
    if (owner !== undefined && owner.currency !== plan.currency) {
      problem(`plans[${i}].currency`, `is ${plan.currency}, its brand ${owner.code} bills in ${owner.currency}`);
    }
  });
  data.subscriptions.forEach((s, i) => {
    const path = `subscriptions[${i}]`;
    const brand = brands.get(s.brand);
    if (brand === undefined) problem(`${path}.brand`, `unknown brand "${s.brand}"`);
    const plan = plans.get(planKey(s.planId, s.planVersion));
    if (plan === undefined) {
      problem(`${path}.planVersion`, `plan ${s.planId} version ${s.planVersion} is not in the file`);
      return;
    }
    if (brand !== undefined && brand.currency !== plan.currency) {
      problem(`${path}.planId`, `plan ${s.planId} v${s.planVersion} is in ${plan.currency}, brand ${brand.code} bills in ${brand.currency}`);
    }
    if (plan.owner !== s.brand && plan.owner !== data.parentCompany) {
      problem(`${path}.planId`, `plan ${s.planId} belongs to ${plan.owner}, not to ${s.brand}`);
    }
    const planBuckets = new Set(plan.grants.map((g) => g.bucketId));
    s.addOnGrants.forEach((g, k) => {
      if (planBuckets.has(g.bucketId)) {
        problem(`${path}.addOnGrants[${k}].bucketId`, `"${g.bucketId}" is also a bucket of plan ${s.planId}`);
      }
    });
  });
  data.numbers.forEach((n, i) => {
    n.assignments.forEach((a, k) => {
      const path = `numbers[${i}].assignments[${k}]`;
      if (!brands.has(a.brand)) problem(`${path}.brand`, `unknown brand "${a.brand}"`);
      const s = subscriptions.get(a.subscriptionId);
      if (s === undefined) {
        problem(`${path}.subscriptionId`, `unknown subscription "${a.subscriptionId}"`);
        return;
      }
      if (s.brand !== a.brand) problem(`${path}.brand`, `is ${a.brand}, subscription ${s.subscriptionId} is of ${s.brand}`);
      if (s.accountId !== a.accountId) {
        problem(`${path}.accountId`, `is ${a.accountId}, subscription ${s.subscriptionId} is of account ${s.accountId}`);
      }
    });
  });
  const customers = new Map(data.customers.map((c) => [c.accountId, c]));
  data.customers.forEach((c, i) => {
    if (!brands.has(c.brand)) problem(`customers[${i}].brand`, `unknown brand "${c.brand}"`);
  });
  data.subscriptions.forEach((s, i) => {
    const customer = customers.get(s.accountId);
    if (customer !== undefined && customer.brand !== s.brand) {
      problem(`subscriptions[${i}].accountId`, `account ${s.accountId} is a customer of ${customer.brand}, not of ${s.brand}`);
    }
    s.planChanges.forEach((c, k) => {
      for (const [id, version, field] of [[c.fromPlanId, c.fromPlanVersion, 'fromPlanVersion'], [c.toPlanId, c.toPlanVersion, 'toPlanVersion']] as const) {
        if (!plans.has(planKey(id, version))) problem(`subscriptions[${i}].planChanges[${k}].${field}`, `plan ${id} version ${version} is not in the file`);
      }
    });
  });
  data.ratingRules.forEach((rule, i) => {
    if (!companies.has(rule.companyId)) {
      problem(`ratingRules[${i}].companyId`, `"${rule.companyId}" is neither a brand nor the parent company`);
    }
  });
  // Duplicate ids are reported above; here what selection could not decide between.
  const position = new Map(data.ratingRules.map((rule, i) => [`${rule.ruleId}:${rule.version}`, i]));
  for (const issue of validateRuleSet(data.ratingRules.map(toRatingRule))) {
    // A rule's own problems are readRecord's to report.
    if (!issue.message.startsWith('overlaps')) continue;
    const i = position.get(`${issue.ruleId}:${issue.version}`);
    problem(i === undefined ? 'ratingRules' : `ratingRules[${i}]`, issue.message);
  }
  return issues;
}
