import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControllableClock } from '../domain/billrun/index.ts';
import type { CdrRawRecord, UsageChargedRecord } from '../contracts/records.ts';
import type { InvoiceEvent } from '../contracts/invoice.ts';
import { BatchProducer, runBatchConsumer, startGroupAtEnd, standardHeaders, type RunningConsumer } from '../runtime/kafka.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import { silentLogger } from '../runtime/log.ts';
import { systemClock } from '../runtime/time.ts';
import type { RunningService } from '../runtime/service.ts';
import { startPipeline } from '../services/all.ts';
import { startCatalog, type RunningCatalog } from '../services/catalog/index.ts';
import { startBillRun, type RunningBillRun } from '../services/billrun/index.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, brandTopics, topics, valueSubject } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { numberFor } from './support/small-brand.ts';

const run = uniqueSuffix();
const brand = `t${run}-sys`;
const adminKey = `system-admin-key-${run}-0123456789abcdef`;
const source = `system-${run}`;
const number = numberFor(run);
const config = testConfig('catalog-to-invoice');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const clock = new ControllableClock(Date.parse('2026-04-01T12:00:00Z'));
let catalog: RunningCatalog;
let pipeline: RunningService;
let billRun: RunningBillRun;
let reader: RunningConsumer;
const charged = new Map<string, UsageChargedRecord>();
const invoices: InvoiceEvent[] = [];

async function api(method: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${catalog.apiUrl}${path}`, { method, headers: { 'x-api-key': adminKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

beforeAll(async () => {
  await applyTopics(kafka, serde, allTopics([brand]));
  // usage.charged from its current end: earlier suites' usage on the shared topic is not read.
  await startGroupAtEnd(kafka, `system-reader-${run}`, [topics.usageCharged.name]);
  reader = await runBatchConsumer(kafka, {
    groupId: `system-reader-${run}`,
    topics: [topics.usageCharged.name, brandTopics(brand).invoices.name],
    handle: async (records) => {
      for (const r of records) {
        try {
          await serde.prepare([r.value]);
        } catch {
          continue; // another suite's record whose schema the registry no longer has
        }
        if (r.topic === topics.usageCharged.name) {
          const usage = serde.decode<UsageChargedRecord>(r.value!);
          if (usage.source === source) charged.set(usage.eventId, usage);
        } else invoices.push(serde.decode<InvoiceEvent>(r.value!));
      }
    },
  });
  catalog = await startCatalog(config, { kafka, serde, logger: silentLogger, clock: systemClock }, { parentCompany: 'ansr-group', adminKey, outboxPollMs: 200, trialSweepMs: 0 });
}, 120_000);

afterAll(async () => {
  await billRun?.stop();
  await pipeline?.stop();
  await catalog?.stop();
  await reader?.stop();
});

describe('from the catalogue API to an invoice', () => {
  it('a brand, plan, customer, subscription, number and rule made through the API rate, charge and bill a call', { timeout: 300_000 }, async () => {
    await api('PUT', `/brands/${brand}`, {
      name: 'System Answering', country: 'CA', currency: 'CAD', timeZone: 'America/Toronto', billingHour: 2, taxRegime: 'ca_gst_hst_pst_qst',
      gateway: 'stripe', roundingMode: 'half_up', usageProducts: { LCA: `${brand}-lca` }, paymentTermsDays: 15,
      branding: {
        displayName: 'System Answering', legalName: 'System Answering Inc.', primaryColor: '#134f5c', accentColor: '#a2c4c9', supportEmail: 'billing@system.example',
        footer: 'GST/HST 123456789 RT0001', locale: 'en-CA', address: { line1: '1 King St W', city: 'Toronto', region: 'ON', postalCode: 'M5H 1A1', country: 'CA' },
      },
    });
    await api('PUT', `/plans/${brand}-plan`, {
      owner: brand, name: 'Answering 10', currency: 'CAD', monthlyFee: '25.00', grants: [{ bucketId: 'lca-10', usageType: 'LCA', seconds: 600, priority: 1 }],
      priceModels: [{ usageType: 'LCA', kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice: '1.50' }] }], numberAllotment: 1,
    });
    await api('PUT', `/rating-rules/${brand}-lca`, {
      companyId: brand, usageType: 'LCA', effectiveFrom: '2026-01-01T00:00:00Z', freeSeconds: 0, freeMode: 'grace', minimumSeconds: 60,
      initialIncrement: { seconds: 60, rounding: 'up' }, mainIncrement: { seconds: 60, rounding: 'up' }, unit: 'minute',
    });
    await api('PUT', `/customers/${brand}-acct`, {
      brand, name: 'Lakeshore Clinic', email: 'ap@lakeshore.example', country: 'CA', region: 'ON',
      postalAddress: { line1: '10 Lakeshore Blvd', city: 'Toronto', region: 'ON', postalCode: 'M5V 1A1', country: 'CA' },
    });
    // Anchored 1 March, 10:00 Toronto time (EST): the April anniversary bills March's usage.
    await api('PUT', `/subscriptions/${brand}-sub`, { accountId: `${brand}-acct`, planId: `${brand}-plan`, anchor: '2026-03-01T15:00:00Z', status: 'active' });
    await api('PUT', `/numbers/${encodeURIComponent(number)}`, { brand });
    await api('POST', `/numbers/${encodeURIComponent(number)}/assign`, { subscriptionId: `${brand}-sub`, effectiveFrom: '2026-03-01T15:00:00Z' });

    pipeline = await startPipeline(config, { kafka, serde, logger: silentLogger, clock: systemClock });
    billRun = await startBillRun(config, { kafka, serde, logger: silentLogger, clock }, { intervalMs: 0, brands: [brand], settings: { since: new Date('2026-03-15T00:00:00Z') }, usageDrainMs: 600_000 });

    // 9 minutes 10 s -> 10 minutes (per minute, up), all included; 4 minutes 5 s -> 5 minutes:
    // the 10 included minutes are gone, so 5 minutes of overage at 1.50 = 7.50.
    const calls: [string, number][] = [['2026-03-05T15:00:00Z', 550], ['2026-03-06T15:00:00Z', 245]];
    const producer = await BatchProducer.connect(kafka);
    const encode = serde.encoder<CdrRawRecord>(await serde.register(valueSubject(topics.cdrRaw.name), loadSchema('cdr.raw')));
    await producer.send({
      [topics.cdrRaw.name]: calls.map(([iso, seconds], i) => {
        const start = Date.parse(iso);
        const cdr: CdrRawRecord = { source, cdrId: `call-${i}`, callingNumber: '+14165550123', calledNumber: number, usageType: 'LCA', startTime: start, endTime: start + seconds * 1000, durationSeconds: seconds, attributes: {}, receivedAt: null };
        return { key: `${source}/${cdr.cdrId}`, value: encode(cdr), headers: standardHeaders({ eventId: cdr.cdrId }) };
      }),
    });
    await producer.stop();
    await eventually('2 calls charged', () => (charged.size >= 2 ? true : undefined), 120_000);

    const report = await billRun.runNow();
    expect(report.held).toBe(0);
    const billed = report.brands[0]!.invoiced;
    expect(billed).toHaveLength(1);
    // 25.00 fee + 7.50 overage = 32.50; Ontario HST 13%: 4.225 -> 4.23 (half up); total 36.73.
    expect(billed[0]).toMatchObject({ periodIndex: 1, total: '36.73', currency: 'CAD' });
    const event = await eventually('the invoice on its brand topic', () => invoices.find((i) => i.invoiceId === billed[0]!.invoiceId));
    expect(event.usageSummaries.map((u) => [u.usageType, u.calls, u.includedUnits.toFixed(0), u.overageUnits.toFixed(0), u.amount.toFixed(2)])).toEqual([['LCA', 2, '10', '5', '7.50']]);
    expect(event.taxes.map((t) => [t.taxCode, t.amount.toFixed(2)])).toEqual([['CA-ON-HST', '4.23']]);
    // A brand key made in the catalogue reaches the bill-run service on ref.api-keys; it reads its brand's invoice.
    const made = (await api('POST', '/api-keys', { brand, label: 'portal' })) as { keyId: string; key: string };
    const document = `${billRun.apiUrl}/invoices/${encodeURIComponent(event.invoiceId)}.html`;
    const html = await eventually('the brand key known to bill-run', async () => {
      const res = await fetch(document, { headers: { 'x-api-key': made.key } });
      return res.status === 200 ? res.text() : undefined;
    });
    expect(html).toContain('System Answering Inc.');
    expect(html).toContain('Lakeshore Clinic');
    expect((await fetch(document)).status).toBe(401);
    // Revoked in the catalogue: refused by bill-run once it has read the revocation; the parent key still reads.
    expect(await api('POST', `/api-keys/${made.keyId}/revoke`, undefined)).toMatchObject({ keyId: made.keyId, brand });
    await eventually('the revocation known to bill-run', async () => ((await fetch(document, { headers: { 'x-api-key': made.key } })).status === 401 ? true : undefined));
    expect((await fetch(document, { headers: { 'x-api-key': adminKey } })).status).toBe(200);
    expect(await (await fetch(`${catalog.apiUrl}/brands/${brand}`, { headers: { 'x-api-key': made.key } })).json()).toMatchObject({ status: 401, error: 'unauthenticated', detail: 'the API key is revoked' });
  });
});
