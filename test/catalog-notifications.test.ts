import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Brand, Customer } from '../domain/reference/index.ts';
import { runBatchConsumer, type RunningConsumer } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { systemClock } from '../runtime/time.ts';
import { startCatalog, type RunningCatalog } from '../services/catalog/index.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, topics } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';

const suffix = uniqueSuffix();
const brand = `cn-${suffix}`;
const account = `acct_cn_${suffix}`;
const adminKey = `test-admin-key-${suffix}-0123456789abcdef`;
const config = testConfig('catalog-notifications');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
let catalog: RunningCatalog;
let reader: RunningConsumer;
const seen = new Map<string, unknown[]>();

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${catalog.apiUrl}${path}`, { method, headers: { 'x-api-key': adminKey, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const brandBody = {
  name: 'Notifications brand',
  country: 'US',
  currency: 'USD',
  timeZone: 'America/New_York',
  billingHour: 2,
  taxRegime: 'us_sales_tax',
  gateway: 'stripe',
  roundingMode: 'half_up',
};

beforeAll(async () => {
  await applyTopics(kafka, serde, allTopics([]));
  reader = await runBatchConsumer(kafka, {
    groupId: `catalog-notifications-${suffix}`,
    topics: [topics.refBrands.name, topics.refCustomers.name],
    handle: async (records) => {
      for (const r of records) {
        const key = r.key?.toString('utf8') ?? '';
        if (!key.includes(suffix) || !r.value) continue;
        await serde.prepare([r.value]);
        seen.set(key, [...(seen.get(key) ?? []), serde.decode(r.value)]);
      }
    },
  });
  catalog = await startCatalog(config, { kafka, serde, logger: silentLogger, clock: systemClock }, { parentCompany: 'ansr-group', adminKey, outboxPollMs: 200, trialSweepMs: 0 });
});

afterAll(async () => {
  await catalog?.stop();
  await reader?.stop();
});

describe('the catalogue: brand notification settings and customer billing contacts', () => {
  it('publishes a brand without settings with the default (null), then with its sender, kinds and thresholds', async () => {
    expect((await call('PUT', `/brands/${brand}`, brandBody)).status).toBe(201);
    const plain = await eventually('the brand on ref.brands', () => seen.get(brand)?.at(-1) as Brand | undefined);
    expect(plain.notifications).toBeNull();

    const refused = await call('PATCH', `/brands/${brand}`, { notifications: { senderAddress: 'not an address', kinds: { invoice_issued: { recipients: 'everyone' } }, usageThresholdPercents: [100, 80] } });
    // Every problem at once, with its path.
    expect(refused.status).toBe(422);
    const paths = JSON.stringify(refused.body);
    for (const p of ['notifications.senderAddress', 'notifications.kinds.invoice_issued.recipients', 'notifications.usageThresholdPercents[1]']) expect(paths).toContain(p);

    const patched = await call('PATCH', `/brands/${brand}`, {
      notifications: { senderName: 'Billing', senderAddress: `invoices@${brand}.example`, kinds: { payment_received: { enabled: false } }, usageThresholdPercents: [80, 100], usageOverageAmount: '25.00' },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    const record = await eventually('the settings on ref.brands', () => (seen.get(brand)?.length === 2 ? (seen.get(brand)!.at(-1) as Brand) : undefined));
    expect(record.notifications).toMatchObject({ senderName: 'Billing', senderAddress: `invoices@${brand}.example`, replyTo: null, template: null, kinds: { payment_received: { enabled: false, recipients: 'all' } }, usageThresholdPercents: [80, 100] });
    expect(record.notifications!.usageOverageAmount!.toString()).toBe('25');
  });

  it('publishes a customer with billing contacts, and without them as an empty list', async () => {
    const body = { brand, name: 'Acme', email: 'ap@acme.example', country: 'US', region: 'NY', billingContacts: ['cfo@acme.example'] };
    expect((await call('PUT', `/customers/${account}`, body)).status).toBe(201);
    const record = await eventually('the customer on ref.customers', () => seen.get(account)?.at(-1) as Customer | undefined);
    expect(record.billingContacts).toEqual(['cfo@acme.example']);
    expect((await call('PUT', `/customers/${account}-2`, { ...body, billingContacts: undefined })).status).toBe(201);
    expect((await eventually('the second customer', () => seen.get(`${account}-2`)?.at(-1) as Customer | undefined)).billingContacts).toEqual([]);
  });
});
