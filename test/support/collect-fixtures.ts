import { randomUUID } from 'node:crypto';
import { Decimal } from 'decimal.js';
import type { Kafka } from 'kafkajs';
import type { Knex } from 'knex';
import type { InvoiceEvent } from '../../contracts/invoice.ts';
import { containsCardNumber } from '../../domain/card-data.ts';
import { parseReferenceFile, type ReferenceData } from '../../domain/reference/index.ts';
import { BatchProducer, closeThrowawayConsumer, standardHeaders } from '../../runtime/kafka.ts';
import { loadSchema, type AvroSerde } from '../../runtime/serde.ts';
import { brandTopics, valueSubject } from '../../topics/catalog.ts';
import { envSuffix } from '../../gateways/index.ts';
import type { FakeGateway } from './fake-gateway/index.ts';

export interface BrandSpec {
  code: string;
  gateway: 'stripe' | 'paypal';
  currency: string;
  timeZone: string;
  country: string;
  retryDays: number[];
  steps: { afterDays: number; action: string }[];
}

export interface AccountSpec {
  accountId: string;
  brand: BrandSpec;
  /** Stripe: cus_/pm_; PayPal: customer id / vault token. */
  customerRef: string;
  methodRef: string;
}

const address = (country: string) => ({ line1: '1 Test Street', line2: null, city: 'Testville', region: country === 'US' ? 'NY' : null, postalCode: '10001', country });

/** Brands and customers as ref.brands / ref.customers records, through the reference file parser. */
export function collectReference(brands: BrandSpec[], accounts: AccountSpec[]): ReferenceData {
  const parsed = parseReferenceFile({
    parentCompany: 'ansr-group',
    brands: brands.map((b) => ({
      code: b.code,
      parentCompany: 'ansr-group',
      name: `Brand ${b.code}`,
      country: b.country,
      currency: b.currency,
      timeZone: b.timeZone,
      billingHour: 2,
      taxRegime: 'none',
      gateway: b.gateway,
      roundingMode: 'half_up',
      usageProducts: { LCA: `${b.code}-lca` },
      paymentTermsDays: 0,
      collectionRetryDays: b.retryDays,
      dunningSteps: b.steps,
      branding: {
        displayName: `Brand ${b.code}`,
        legalName: `Brand ${b.code} Ltd`,
        logoSvg: null,
        primaryColor: '#0b5394',
        accentColor: '#f1c232',
        address: address(b.country),
        supportEmail: `billing@${b.code}.example`,
        footer: 'Thank you.',
        locale: b.country === 'US' ? 'en-US' : 'en-GB',
      },
    })),
    plans: [],
    subscriptions: [],
    numbers: [],
    ratingRules: [],
    customers: accounts.map((a) => ({
      accountId: a.accountId,
      brand: a.brand.code,
      name: `Customer ${a.accountId}`,
      email: `${a.accountId}@customers.example`,
      country: a.brand.country,
      region: a.brand.country === 'US' ? 'NY' : null,
      postalAddress: address(a.brand.country),
      defaultPaymentMethod: { gateway: a.brand.gateway, customerRef: a.customerRef, methodRef: a.methodRef, label: a.brand.gateway === 'stripe' ? 'Visa ending 4242' : 'PayPal' },
    })),
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
  return parsed.value;
}

/** The settings that point each brand's gateway plugin at the local fake gateway. */
export function fakeGatewayEnv(fake: FakeGateway, brands: BrandSpec[], timeoutMs: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const b of brands) {
    const s = envSuffix(b.code);
    env[`RATELINE_GATEWAY_${s}`] = b.gateway;
    if (b.gateway === 'stripe') {
      Object.assign(env, { [`STRIPE_SECRET_KEY_${s}`]: fake.stripe.secretKey, [`STRIPE_WEBHOOK_SECRET_${s}`]: fake.stripe.webhookSecret, [`STRIPE_BASE_URL_${s}`]: fake.url, [`STRIPE_TIMEOUT_MS_${s}`]: String(timeoutMs) });
    } else {
      Object.assign(env, {
        [`PAYPAL_CLIENT_ID_${s}`]: fake.paypal.clientId,
        [`PAYPAL_CLIENT_SECRET_${s}`]: fake.paypal.clientSecret,
        [`PAYPAL_WEBHOOK_ID_${s}`]: fake.paypal.webhookId,
        [`PAYPAL_BASE_URL_${s}`]: fake.url,
        [`PAYPAL_TIMEOUT_MS_${s}`]: String(timeoutMs),
      });
    }
  }
  return env;
}

/** A minimal invoice event of one fee line, as bill-run publishes it. */
export function invoiceEvent(fields: { invoiceId: string; brand: string; accountId: string; currency: string; total: string; issuedAt: number; dueAt: number }): InvoiceEvent {
  const total = new Decimal(fields.total);
  return {
    invoiceId: fields.invoiceId,
    invoiceNumber: `N-${fields.invoiceId}`,
    brand: fields.brand,
    accountId: fields.accountId,
    subscriptionId: `sub_${fields.accountId}`,
    periodStart: fields.issuedAt,
    periodEnd: fields.issuedAt + 30 * 86_400_000,
    issuedAt: fields.issuedAt,
    dueAt: fields.dueAt,
    currency: fields.currency,
    lines: [
      { lineId: `${fields.invoiceId}:fee`, kind: 'fee', description: 'Monthly fee', usageType: null, quantity: new Decimal(1), unitPrice: total, amount: total, periodStart: fields.issuedAt, periodEnd: fields.issuedAt + 30 * 86_400_000 },
    ],
    taxes: [],
    subtotal: total,
    taxTotal: new Decimal(0),
    total,
    kind: 'recurring',
    taxPoint: 'issue',
    usageSummaries: [],
    usagePeriodStart: null,
    usagePeriodEnd: null,
  };
}

/** Publishes invoices on their brands' topics through the real contract (registered schema, account key, standard headers). */
export async function publishInvoices(kafka: Kafka, serde: AvroSerde, invoices: InvoiceEvent[]): Promise<void> {
  const producer = await BatchProducer.connect(kafka);
  try {
    const byTopic: Record<string, { key: string; value: Buffer; headers: Record<string, string> }[]> = {};
    const encoders = new Map<string, (e: InvoiceEvent) => Buffer>();
    for (const invoice of invoices) {
      const topic = brandTopics(invoice.brand).invoices.name;
      let encode = encoders.get(topic);
      if (!encode) {
        encode = serde.encoder<InvoiceEvent>(await serde.register(valueSubject(topic), loadSchema('invoice')));
        encoders.set(topic, encode);
      }
      (byTopic[topic] ??= []).push({ key: invoice.accountId, value: encode(invoice), headers: standardHeaders({ eventId: invoice.invoiceId, brand: invoice.brand }) });
    }
    for (const [topic, messages] of Object.entries(byTopic)) {
      for (let i = 0; i < messages.length; i += 2000) await producer.send({ [topic]: messages.slice(i, i + 2000) });
    }
  } finally {
    await producer.stop();
  }
}

/** Everything on these topics now, decoded (a throwaway group reading from the beginning to the high watermarks). */
export async function readAll<T>(kafka: Kafka, serde: AvroSerde, topicNames: string[]): Promise<{ topic: string; value: T; headers: Record<string, string> }[]> {
  const admin = kafka.admin();
  await admin.connect();
  const targets = new Map<string, bigint>();
  for (const topic of topicNames) for (const p of await admin.fetchTopicOffsets(topic)) if (BigInt(p.high) > BigInt(p.low)) targets.set(`${topic}:${p.partition}`, BigInt(p.high));
  await admin.disconnect();
  const out: { topic: string; value: T; headers: Record<string, string> }[] = [];
  if (targets.size === 0) return out;
  const groupId = `test-read-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topics: topicNames, fromBeginning: true });
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      await serde.prepare(batch.messages.map((m) => m.value));
      for (const m of batch.messages) {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(m.headers ?? {})) if (v !== undefined) headers[k] = String(v);
        if (m.value) out.push({ topic: batch.topic, value: serde.decode<T>(m.value), headers });
      }
      const last = batch.messages[batch.messages.length - 1];
      const key = `${batch.topic}:${batch.partition}`;
      if (last && targets.has(key) && BigInt(last.offset) + 1n >= targets.get(key)!) targets.delete(key);
      if (targets.size === 0) done();
    },
  });
  await Promise.race([finished, new Promise((_, reject) => setTimeout(() => reject(new Error('readAll timed out')), 60_000))]);
  await closeThrowawayConsumer(kafka, consumer, groupId);
  return out;
}

/** Every string inside a value (numbers are instants, offsets and amounts here, not free text). */
export function stringsIn(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) stringsIn(v, out);
  else if (value instanceof Decimal || value instanceof Date || Buffer.isBuffer(value)) return out;
  else if (value && typeof value === 'object') for (const v of Object.values(value)) stringsIn(v, out);
  return out;
}

/**
 * Looks for card numbers in the collect and ageing tables (every text value of every row,
 * JSON documents included), in log text and in decoded topic records. Returns where it found
 * one, never the number itself.
 */
export async function scanForCardNumbers(input: { db: Knex; schemas: string[]; logs: string[]; records: { topic: string; value: unknown }[] }): Promise<{ findings: string[]; rows: number; logLines: number; records: number }> {
  const findings: string[] = [];
  let rows = 0;
  for (const schema of input.schemas) {
    const tables: string[] = await input.db('information_schema.tables').where({ table_schema: schema }).pluck('table_name');
    for (const table of tables) {
      const all: { j: unknown }[] = await input.db.raw(`select row_to_json(t) as j from ??.?? t`, [schema, table]).then((r: { rows: { j: unknown }[] }) => r.rows);
      rows += all.length;
      for (const { j } of all) if (stringsIn(j).some(containsCardNumber)) findings.push(`${schema}.${table}`);
    }
  }
  let logLines = 0;
  for (const log of input.logs) {
    for (const line of log.split('\n')) {
      logLines++;
      if (containsCardNumber(line)) findings.push(`log line ${logLines}`);
    }
  }
  for (const r of input.records) if (stringsIn(r.value).some(containsCardNumber)) findings.push(`topic ${r.topic}`);
  return { findings: [...new Set(findings)], rows, logLines, records: input.records.length };
}
