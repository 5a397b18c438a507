import { Decimal } from 'decimal.js';
import type { Kafka } from 'kafkajs';
import { parseReferenceFile, type BrandEntry, type CustomerEntry, type ReferenceData } from '../../domain/reference/index.ts';
import { BatchProducer, runBatchConsumer, standardHeaders, type ConsumedRecord } from '../../runtime/kafka.ts';
import { loadSchema, type AvroSerde } from '../../runtime/serde.ts';
import { valueSubject } from '../../topics/catalog.ts';
import { uniqueSuffix } from '../helpers.ts';

const address = (country: string) => ({ line1: '1 Test Street', line2: null, city: 'Testville', region: country === 'US' ? 'NY' : 'QC', postalCode: country === 'US' ? '10001' : 'H2X 1Y4', country });

/** A brand with branding; `notifications` as given. */
export function notifyBrand(code: string, fields: { locale?: string; country?: string; currency?: string; timeZone?: string; notifications?: BrandEntry['notifications']; dunningSteps?: { afterDays: number; action: string }[] } = {}): BrandEntry {
  const country = fields.country ?? 'US';
  return {
    code,
    parentCompany: 'ansr-group',
    name: `Brand ${code}`,
    country,
    currency: fields.currency ?? 'USD',
    timeZone: fields.timeZone ?? 'America/New_York',
    billingHour: 2,
    taxRegime: 'none',
    gateway: 'manual',
    roundingMode: 'half_up',
    usageProducts: { LCA: `${code}-lca` },
    paymentTermsDays: 14,
    dunningSteps: fields.dunningSteps ?? [],
    branding: {
      displayName: `Answer ${code}`,
      legalName: `Answer ${code} Ltd`,
      logoSvg: null,
      primaryColor: '#0b5394',
      accentColor: '#f1c232',
      address: address(country),
      supportEmail: `billing@${code}.example`,
      footer: `Answer ${code} Ltd, registered in Testville.`,
      locale: fields.locale ?? 'en-US',
    },
    notifications: fields.notifications ?? null,
  };
}

export function notifyCustomer(accountId: string, brand: string, fields: { email?: string; billingContacts?: string[]; country?: string } = {}): CustomerEntry {
  const country = fields.country ?? 'US';
  return {
    accountId,
    brand,
    name: `Customer ${accountId}`,
    email: fields.email ?? `${accountId}@customers.example`,
    country,
    region: country === 'US' ? 'NY' : 'QC',
    postalAddress: address(country),
    billingContacts: fields.billingContacts ?? [],
    // A token and a label only: never card data.
    defaultPaymentMethod: { gateway: 'manual', customerRef: `cus_${accountId}`, methodRef: `pm_${accountId}`, label: 'Visa ending 4242' },
  };
}

export function notifyReference(brands: BrandEntry[], customers: CustomerEntry[], extra: { plans?: unknown[]; subscriptions?: unknown[] } = {}): ReferenceData {
  const parsed = parseReferenceFile({ parentCompany: 'ansr-group', brands, customers, plans: (extra.plans ?? []) as never, subscriptions: (extra.subscriptions ?? []) as never, numbers: [], ratingRules: [] });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
  return parsed.value;
}

/** A payment event as collect publishes it (schemas/payment.avsc). */
export function paymentEvent(fields: { invoiceId: string; brand: string; accountId: string; status: 'SUCCEEDED' | 'FAILED'; amount: string; currency: string; attempt?: number; failureKind?: string | null; at: number }) {
  const attempt = fields.attempt ?? 1;
  const paymentId = `pay_${fields.invoiceId}_${attempt}`;
  return {
    paymentId,
    invoiceId: fields.invoiceId,
    brand: fields.brand,
    accountId: fields.accountId,
    attempt,
    gateway: 'stripe',
    gatewayReference: `pi_${fields.invoiceId}_${attempt}`,
    status: fields.status,
    failureKind: fields.failureKind ?? null,
    failureMessage: fields.status === 'FAILED' ? 'Your card was declined.' : null,
    currency: fields.currency,
    amount: new Decimal(fields.amount),
    occurredAt: fields.at,
    kind: 'charge',
    eventId: `${paymentId}:${fields.status}`,
    methodLabel: 'Visa ending 4242',
  };
}

/** An account.lifecycle dunning step as ageing publishes it. */
export function lifecycleEvent(fields: { brand: string; accountId: string; invoiceId: string; action: 'reminder_sent' | 'suspended' | 'cancelled'; days: number; at: number }) {
  return {
    eventId: `lc_${fields.accountId}_${fields.invoiceId}_${fields.action}`,
    brand: fields.brand,
    accountId: fields.accountId,
    subscriptionId: `sub_${fields.accountId}`,
    action: fields.action,
    reason: `invoice_overdue_${fields.days}_days`,
    invoiceId: fields.invoiceId,
    effectiveAt: fields.at,
  };
}

/** Publishes records on a topic through its registered schema (account key, standard headers); raw buffers as they are. */
export async function publish(kafka: Kafka, serde: AvroSerde, topic: string, schema: string, records: ({ accountId: string; eventId?: string | null } | { raw: Buffer | null; key: string })[]): Promise<void> {
  const encode = serde.encoder<unknown>(await serde.register(valueSubject(topic), loadSchema(schema)));
  const producer = await BatchProducer.connect(kafka);
  try {
    const messages = records.map((r) =>
      'raw' in r ? { key: r.key, value: r.raw, headers: standardHeaders({ eventId: `raw-${uniqueSuffix()}` }) } : { key: r.accountId, value: encode(r), headers: standardHeaders({ eventId: String(r.eventId ?? (r as { invoiceId?: string }).invoiceId ?? uniqueSuffix()) }) },
    );
    for (let i = 0; i < messages.length; i += 2000) await producer.send({ [topic]: messages.slice(i, i + 2000) });
  } finally {
    await producer.stop();
  }
}

/** The dead letters one service set aside from one topic, read from the beginning (every record kept). */
export async function deadLettersOf(kafka: Kafka, deadLetterTopic: string, service: string, fromTopic: string): Promise<{ records: ConsumedRecord[]; stop: () => Promise<void> }> {
  const records: ConsumedRecord[] = [];
  const reader = await runBatchConsumer(kafka, {
    groupId: `test-dlq-${uniqueSuffix()}`,
    topics: [deadLetterTopic],
    handle: async (batch) => void records.push(...batch.filter((r) => r.headers['dlq-service'] === service && r.headers['dlq-topic'] === fromTopic)),
  });
  return { records, stop: () => reader.stop() };
}
