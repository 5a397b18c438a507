/**
 * Every topic rateline reads or writes, as code. Services take topic names from here, never from
 * string literals; `rateline topics apply` creates or updates the cluster to match.
 */
export interface TopicSpec {
  name: string;
  partitions: number;
  /** What the message key is: the identity that ordering and de-duplication rely on. */
  key: string;
  cleanupPolicy: 'delete' | 'compact';
  /** For `delete` topics; -1 keeps records forever. */
  retentionMs?: number;
  /** The Avro schema in schemas/ (registered under `<topic>-value`), or null for raw bytes. */
  schema: string | null;
  description: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export const topics = {
  cdrRaw: { name: 'cdr.raw', partitions: 6, key: 'source/cdrId', cleanupPolicy: 'delete', retentionMs: 14 * DAY_MS, schema: 'cdr.raw', description: 'CDRs as telephony platforms and the file job publish them' },
  cdrAccepted: { name: 'cdr.accepted', partitions: 6, key: 'source/cdrId', cleanupPolicy: 'delete', retentionMs: 14 * DAY_MS, schema: 'cdr.accepted', description: 'Validated, de-duplicated CDRs' },
  cdrRejected: { name: 'cdr.rejected', partitions: 3, key: 'source (or file name)', cleanupPolicy: 'delete', retentionMs: 90 * DAY_MS, schema: 'cdr.rejected', description: 'Records that could not be used, with reason and original payload, for redrive' },
  usageResolved: { name: 'usage.resolved', partitions: 6, key: 'accountId', cleanupPolicy: 'delete', retentionMs: 400 * DAY_MS, schema: 'usage.resolved', description: 'CDRs attributed to brand, account, subscription and product; kept long enough to re-rate from' },
  usageRated: { name: 'usage.rated', partitions: 6, key: 'accountId', cleanupPolicy: 'delete', retentionMs: 30 * DAY_MS, schema: 'usage.rated', description: 'Usage with billable quantity and rule version' },
  usageCharged: { name: 'usage.charged', partitions: 6, key: 'accountId', cleanupPolicy: 'delete', retentionMs: 400 * DAY_MS, schema: 'usage.charged', description: 'Usage drawn down against included units, overage priced' },
  usageRerated: { name: 'usage.rerated', partitions: 6, key: 'accountId', cleanupPolicy: 'delete', retentionMs: 400 * DAY_MS, schema: 'usage.rerated', description: 'Per-CDR differences of a re-rating run, for billing adjustments' },
  planSwaps: { name: 'subscription.plan-swaps', partitions: 3, key: 'subscriptionId', cleanupPolicy: 'delete', retentionMs: 400 * DAY_MS, schema: 'plan-swap', description: "Plan swaps the catalogue took: drawdown re-rates the swapped period's usage on the new plan" },
  accountLifecycle: { name: 'account.lifecycle', partitions: 3, key: 'accountId', cleanupPolicy: 'delete', retentionMs: -1, schema: 'account.lifecycle', description: 'Trial, activation, dunning steps, suspension, cancellation, reactivation' },
  refBrands: { name: 'ref.brands', partitions: 1, key: 'brand code', cleanupPolicy: 'compact', schema: 'ref.brands', description: 'Brands and how they bill' },
  refNumbers: { name: 'ref.numbers', partitions: 1, key: 'number (E.164)', cleanupPolicy: 'compact', schema: 'ref.numbers', description: 'Each number with its whole assignment history' },
  refPlans: { name: 'ref.plans', partitions: 1, key: 'planId:version', cleanupPolicy: 'compact', schema: 'ref.plans', description: 'Versioned plans: fees, included units, price models' },
  refSubscriptions: { name: 'ref.subscriptions', partitions: 1, key: 'subscriptionId', cleanupPolicy: 'compact', schema: 'ref.subscriptions', description: 'Subscriptions: plan, anchor, status, add-ons' },
  refCustomers: { name: 'ref.customers', partitions: 1, key: 'accountId', cleanupPolicy: 'compact', schema: 'ref.customers', description: 'Customer accounts as billing needs them: tax place, ids, exemptions, contact, agent, payment method token' },
  refRatingRules: { name: 'ref.rating-rules', partitions: 1, key: 'ruleId:version', cleanupPolicy: 'compact', schema: 'ref.rating-rules', description: 'Versioned, effective-dated rating rules' },
  refApiKeys: { name: 'ref.api-keys', partitions: 1, key: 'keyId', cleanupPolicy: 'compact', schema: 'ref.api-keys', description: "The catalogue's API keys as every service verifies them: id, brand scope, sha-256, expiry, revocation (never a key)" },
  discrepancies: { name: 'ops.discrepancies', partitions: 1, key: 'the check and scope', cleanupPolicy: 'delete', retentionMs: 400 * DAY_MS, schema: 'discrepancy', description: 'What consistency runs found along the chain from CDR to cash (rateline assurance run)' },
  controlTotals: { name: 'ops.control-totals', partitions: 3, key: 'stage/scopeKind:scope/day (a stateless stage adds /topic:partition@firstOffset)', cleanupPolicy: 'compact', schema: 'control-total', description: 'What each stage consumed and produced per source or brand and day, for the consistency run (domain/assurance/control-totals.ts)' },
  deadLetter: { name: 'ops.dead-letter', partitions: 3, key: 'the original key', cleanupPolicy: 'delete', retentionMs: 90 * DAY_MS, schema: null, description: 'Records a service could not process, original bytes, error in headers (dlq-*)' },
  deadLetterRedriven: { name: 'ops.dead-letter.redriven', partitions: 1, key: '<partition>:<offset> of the dead-letter record', cleanupPolicy: 'compact', schema: null, description: 'Dead-letter records already sent back (`rateline dlq redrive`), written in the same transaction as the records sent, so that each goes back once; value: JSON of where it went and when' },
} as const satisfies Record<string, TopicSpec>;

/** Brand codes become part of topic names, so they are restricted to what Kafka and ACLs take. */
export function assertBrandCode(code: string): void {
  if (!/^[a-z0-9][a-z0-9-]{0,39}$/.test(code)) throw new Error(`brand code "${code}" must be 1-40 lowercase letters, digits or dashes`);
}

/** The outbound topics of one brand, separate so that Kafka ACLs can isolate each brand. */
export function brandTopics(code: string): { invoices: TopicSpec; payments: TopicSpec; creditRefunds: TopicSpec; usageAlerts: TopicSpec; recommendations: TopicSpec } {
  assertBrandCode(code);
  return {
    invoices: { name: `brand.${code}.invoices`, partitions: 3, key: 'accountId', cleanupPolicy: 'delete', retentionMs: -1, schema: 'invoice', description: `Invoices issued by ${code}` },
    payments: { name: `brand.${code}.payments`, partitions: 3, key: 'accountId', cleanupPolicy: 'delete', retentionMs: -1, schema: 'payment', description: `Payments and refunds of ${code}` },
    creditRefunds: { name: `brand.${code}.credit-refunds`, partitions: 3, key: 'accountId', cleanupPolicy: 'delete', retentionMs: -1, schema: 'credit.refund', description: `Credit balances of ${code} to refund through the gateway (bill-run asks, collect refunds)` },
    usageAlerts: { name: `brand.${code}.usage-alerts`, partitions: 3, key: 'accountId', cleanupPolicy: 'delete', retentionMs: 400 * DAY_MS, schema: 'usage-alert', description: `Usage thresholds crossed by ${code}'s subscriptions (once per period and threshold)` },
    recommendations: { name: `brand.${code}.recommendations`, partitions: 3, key: 'subscriptionId', cleanupPolicy: 'delete', retentionMs: 400 * DAY_MS, schema: 'plan-recommendation', description: `Plan recommendations for ${code}'s subscriptions from their own usage (live, withdrawn, accepted; a new one supersedes the last)` },
  };
}

/** Every topic for the given brands. */
export function allTopics(brands: readonly string[]): TopicSpec[] {
  return [...Object.values(topics), ...brands.flatMap((code) => Object.values(brandTopics(code)))];
}

export const valueSubject = (topic: string) => `${topic}-value`;

/** The Avro schema a topic's values are written with (per-brand topics included), if it has one. */
export function schemaOfTopic(name: string): string | undefined {
  const fixed = Object.values(topics).find((t) => t.name === name);
  if (fixed) return fixed.schema ?? undefined;
  const brand = /^brand\.([a-z0-9][a-z0-9-]{0,39})\.(invoices|payments|credit-refunds|usage-alerts|recommendations)$/.exec(name);
  if (!brand) return undefined;
  const specs = brandTopics(brand[1]!);
  const kind = brand[2] === 'credit-refunds' ? 'creditRefunds' : brand[2] === 'usage-alerts' ? 'usageAlerts' : (brand[2] as 'invoices' | 'payments' | 'recommendations');
  return specs[kind].schema ?? undefined;
}
