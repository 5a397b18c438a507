import { chargedCall, publishUsage as publishUsageRecords } from './support/usage.ts';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import { ControllableClock } from '../domain/billrun/index.ts';
import { parseReferenceFile, type ReferenceData } from '../domain/reference/index.ts';
import type { UsageCharged } from '../domain/mediation/index.ts';
import { publishReference } from '../contracts/reference.ts';
import type { InvoiceEvent } from '../contracts/invoice.ts';
import { BatchProducer, runBatchConsumer, type RunningConsumer } from '../runtime/kafka.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { silentLogger } from '../runtime/log.ts';
import { startBillRun, type RunningBillRun } from '../services/billrun/index.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, brandTopics } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { publishTestKeys, withKey, type TestKey } from './support/api-keys.ts';

const run = uniqueSuffix();
const brand = `t${run}-bl`;
const config = testConfig('billrun');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const clock = new ControllableClock(Date.UTC(2026, 1, 1));
const started: RunningBillRun[] = [];
const published = new Map<string, InvoiceEvent[]>();
let reader: RunningConsumer;

// Anchored 10 January, 10:00 in New York: anniversaries on the 10th; usage priced at 0.10 a minute, no included minutes.
const ANCHOR = '2026-01-10T15:00:00Z';
const JAN10 = Date.UTC(2026, 0, 10, 5); // 00:00 EST
const FEB10 = Date.UTC(2026, 1, 10, 5);
const MAR10 = Date.UTC(2026, 2, 10, 5);

function reference(): ReferenceData {
  const parsed = parseReferenceFile({
    parentCompany: 'ansr-group',
    brands: [{
      code: brand, parentCompany: 'ansr-group', name: 'Bill Run Test', country: 'US', currency: 'USD', timeZone: 'America/New_York', billingHour: 2,
      taxRegime: 'us_sales_tax', gateway: 'stripe', roundingMode: 'half_up', usageProducts: { LCA: `${brand}-lca` }, paymentTermsDays: 14,
      commission: { initialPercent: '20', initialPeriods: 12, recurringPercent: '5' },
    }],
    plans: [{ planId: `${brand}-plan`, version: 1, owner: brand, name: 'Answering', currency: 'USD', monthlyFee: '30.00', grants: [],
      priceModels: [{ usageType: 'LCA', kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice: '0.10' }] }] }],
    subscriptions: [{ subscriptionId: `${brand}-sub-1`, brand, accountId: `${brand}-acct-1`, planId: `${brand}-plan`, planVersion: 1, anchor: ANCHOR, status: 'active' }],
    customers: [{ accountId: `${brand}-acct-1`, brand, name: 'Hudson Dental & Sons <NY>', email: 'ap@hudson.example', country: 'US', region: 'NY', agentId: `${brand}-agent`,
      postalAddress: { line1: '1 River Rd', city: 'Albany', region: 'NY', postalCode: '12207', country: 'US' } }],
    numbers: [],
    ratingRules: [],
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
  return parsed.value;
}

const charge = (id: string, seconds: number, periodStart: number, periodEnd: number): UsageCharged =>
  chargedCall({ brand, accountId: `${brand}-acct-1`, subscriptionId: `${brand}-sub-1`, planId: `${brand}-plan`, id, seconds, periodStart, periodEnd, source: 'billrun-test' });

const publishUsage = (charged: UsageCharged[], rerated: Record<string, unknown>[] = []) => publishUsageRecords(kafka, serde, charged, rerated);

async function billRunAt(iso: string): Promise<RunningBillRun> {
  clock.set(Date.parse(iso));
  const service = await startBillRun(config, { kafka, serde, logger: silentLogger, clock }, { intervalMs: 0, brands: [brand], settings: { since: new Date('2026-02-01T00:00:00Z') }, usageDrainMs: 600_000 });
  started.push(service);
  return service;
}

let keys: { parent: TestKey; own: TestKey; other: TestKey; expired: TestKey; revoked: TestKey };

beforeAll(async () => {
  const data = reference();
  await applyTopics(kafka, serde, allTopics([brand]));
  const [parent, own, other, expired, revoked] = await publishTestKeys(kafka, serde, [
    { brand: null },
    { brand },
    { brand: `${brand}-other` },
    // The service's clock is in 2026-02 and later: expired before the first request.
    { brand, expiresAt: Date.UTC(2026, 0, 31) },
    { brand: null, revokedAt: Date.UTC(2026, 0, 1) },
  ]);
  keys = { parent: parent!, own: own!, other: other!, expired: expired!, revoked: revoked! };
  const producer = await BatchProducer.connect(kafka);
  await publishReference(data, producer, serde);
  await producer.stop();
  reader = await runBatchConsumer(kafka, {
    groupId: `billrun-test-${run}`,
    topics: [brandTopics(brand).invoices.name],
    handle: async (records) => {
      await serde.prepare(records.map((r) => r.value));
      for (const r of records) {
        const invoice = serde.decode<InvoiceEvent>(r.value!);
        published.set(invoice.invoiceId, [...(published.get(invoice.invoiceId) ?? []), invoice]);
      }
    },
  });
}, 120_000);

afterAll(async () => {
  for (const s of started) await s.stop().catch(() => undefined);
  await reader?.stop();
});

const money = (d: Decimal) => d.toFixed(2);

describe('the bill-run service on the real stack', () => {
  it('invoices fee and usage, carries late usage and re-rating to the next invoice, never twice, gapless under two instances', { timeout: 180_000 }, async () => {
    // January's period: 600 s and 300 s at 0.10 a minute = 1.00 + 0.50.
    await publishUsage([charge('c1', 600, JAN10, FEB10), charge('c2', 300, JAN10, FEB10)]);
    const first = await billRunAt('2026-02-10T12:00:00Z');
    const feb = await first.runNow();
    expect(feb.failed).toEqual([]);
    expect(feb.brands[0]!.invoiced).toHaveLength(1);
    // 30.00 + 1.50 = 31.50; New York sales tax 4%: 1.26; total 32.76.
    expect(feb.brands[0]!.invoiced[0]).toMatchObject({ invoiceNumber: `${brand.toUpperCase()}-000001`, periodIndex: 1, total: '32.76' });
    expect((await first.runNow()).invoices).toBe(0); // the same day again bills nothing
    await first.stop();

    // After February's invoice: a late call of January (120 s = 0.20), January's c1 re-rated to
    // 0.60 (-0.40), and February's usage (60 s = 0.10).
    await publishUsage([charge('c3', 120, JAN10, FEB10), charge('c4', 60, FEB10, MAR10)], [{
      eventId: `${brand}-rr-c1-2`, usageEventId: `${brand}-c1`, brand, accountId: `${brand}-acct-1`, subscriptionId: `${brand}-sub-1`, periodStart: JAN10,
      usageType: 'LCA', previousVersion: 1, ratingVersion: 2, kind: 'changed', includedSecondsDelta: 0, overageSecondsDelta: -240, currency: 'USD',
      amountDelta: new Decimal('-0.40'), reratedAt: FEB10 + 86_400_000,
    }]);
    // Two instances bill the same day at once (a restart with the old one still finishing).
    const [a, b] = [await billRunAt('2026-03-10T12:00:00Z'), await billRunAt('2026-03-10T12:00:00Z')];
    const [ra, rb] = await Promise.all([a.runNow(), b.runNow()]);
    expect(ra.failed).toEqual([]);
    expect(rb.failed).toEqual([]);
    const march = [...ra.brands[0]!.invoiced, ...rb.brands[0]!.invoiced];
    expect(march).toHaveLength(1);
    // 30.00 fee + 0.10 usage + 0.20 late + (-0.40) re-rating = 29.90; tax 4% = 1.196 -> 1.20; total 31.10.
    expect(march[0]).toMatchObject({ invoiceNumber: `${brand.toUpperCase()}-000002`, periodIndex: 2, total: '31.10' });

    await eventually('two invoices published', () => (published.size >= 2 ? true : undefined), 30_000);
    await new Promise((r) => setTimeout(r, 500));
    expect([...published.values()].map((list) => list.length)).toEqual([1, 1]);
    const marchEvent = published.get(march[0]!.invoiceId)![0]!;
    expect(marchEvent.lines.map((l) => [l.kind, money(l.amount)])).toEqual([
      ['subscription_fee', '30.00'],
      ['usage', '0.10'],
      ['adjustment', '0.20'],
      ['adjustment', '-0.40'],
    ]);
    expect(marchEvent.lines.filter((l) => l.kind === 'adjustment').map((l) => l.description)).toEqual([
      expect.stringContaining('Late usage of LCA for 2026-01-10 to 2026-02-09'),
      expect.stringContaining('Re-rating (version 2) of LCA for 2026-01-10 to 2026-02-09'),
    ]);
    expect(marchEvent.usageSummaries.map((u) => [u.usageType, u.calls, u.billableUnits.toFixed(2)])).toEqual([['LCA', 1, '1.00']]);
    expect(marchEvent.taxes.map((t) => [t.taxCode, money(t.amount)])).toEqual([['US-NY-SALES', '1.20']]);

    // The documents a customer receives, and the agent's statement (20% of the fee in the first 12 periods).
    const pdf = await fetch(`${a.apiUrl}/invoices/${encodeURIComponent(march[0]!.invoiceId)}.pdf`, { headers: withKey(keys.own) });
    expect(pdf.headers.get('content-type')).toBe('application/pdf');
    expect(Buffer.from(await pdf.arrayBuffer()).subarray(0, 5).toString()).toBe('%PDF-');
    const html = await (await fetch(`${a.apiUrl}/invoices/${encodeURIComponent(march[0]!.invoiceId)}.html`, { headers: withKey(keys.own) })).text();
    expect(html).toContain(`${brand.toUpperCase()}-000002`);
    expect(html).toContain('Hudson Dental &amp; Sons &lt;NY&gt;');
    const statements = (await (await fetch(`${a.apiUrl}/commission-statements?month=2026-03&agent=${brand}-agent`, { headers: withKey(keys.own) })).json()) as { statements: { totals: { currency: string; commission: string }[] }[] };
    expect(statements.statements).toHaveLength(1);
    expect(statements.statements[0]!.totals).toMatchObject([{ currency: 'USD', commission: '6' }]);
    expect((await fetch(`${a.apiUrl}/commission-statements?month=2026-3`, { headers: withKey(keys.parent) })).status).toBe(400);

    // It serves the committed OpenAPI document, without a key.
    expect(await (await fetch(`${a.apiUrl}/openapi.json`)).json()).toEqual(JSON.parse(readFileSync('services/billrun/openapi.json', 'utf8')));
    // Every route: no key 401; another brand's key gets nothing (404 or an empty list), never this brand's data.
    const invoiceId = encodeURIComponent(march[0]!.invoiceId);
    const get = (path: string, key?: TestKey) => fetch(`${a.apiUrl}${path}`, { headers: key ? withKey(key) : {} });
    for (const path of [`/invoices/${invoiceId}.json`, `/invoices?brand=${brand}`, '/commission-statements?month=2026-03']) expect((await get(path)).status, path).toBe(401);
    expect((await fetch(`${a.apiUrl}/bill-runs`, { method: 'POST' })).status).toBe(401);
    expect(await (await get(`/invoices/${invoiceId}.json`, keys.expired)).json()).toMatchObject({ status: 401, detail: 'the API key is expired' });
    expect(await (await get(`/invoices/${invoiceId}.json`, keys.revoked)).json()).toMatchObject({ status: 401, detail: 'the API key is revoked' });
    for (const format of ['json', 'html', 'pdf', 'email']) expect((await get(`/invoices/${invoiceId}.${format}`, keys.other)).status, format).toBe(404);
    expect((await get(`/invoices/${invoiceId}.json`, keys.parent)).status).toBe(200);
    expect(await (await get(`/invoices?brand=${brand}`, keys.other)).json()).toEqual({ invoices: [] });
    expect(((await (await get('/invoices', keys.other)).json()) as { invoices: unknown[] }).invoices).toEqual([]);
    expect(new Set(((await (await get('/invoices', keys.own)).json()) as { invoices: { brand: string }[] }).invoices.map((i) => i.brand))).toEqual(new Set([brand]));
    expect(((await (await get(`/commission-statements?month=2026-03&agent=${brand}-agent`, keys.other)).json()) as { statements: unknown[] }).statements).toEqual([]);
    expect((await fetch(`${a.apiUrl}/bill-runs?brand=${brand}`, { method: 'POST', headers: withKey(keys.other) })).status).toBe(404);
    // The brand's own key runs its own brand only (the same day again bills nothing).
    const own = (await (await fetch(`${a.apiUrl}/bill-runs`, { method: 'POST', headers: withKey(keys.own) })).json()) as { invoices: number; brands: { brand: string }[] };
    expect(own.invoices).toBe(0);
    expect(own.brands.map((b) => b.brand)).toEqual([brand]);
    // Each run asked for through the API is on record with the key that asked.
    const trail = (await (await get('/audit-events', keys.own)).json()) as { items: { keyId: string; operation: string; status: number; path: string }[] };
    expect(trail.items.map((e) => [e.operation, e.status, e.keyId, e.path])).toEqual([['runBills', 200, keys.own.keyId, '/bill-runs']]);
    const refused = (await (await get('/audit-events', keys.other)).json()) as { items: { keyId: string; operation: string; status: number }[] };
    expect(refused.items.map((e) => [e.operation, e.status, e.keyId])).toEqual([['runBills', 404, keys.other.keyId]]);

    // April: nothing carried twice; only the fee.
    clock.set(Date.parse('2026-04-10T12:00:00Z'));
    const april = await a.runNow();
    expect(april.brands[0]!.invoiced).toMatchObject([{ invoiceNumber: `${brand.toUpperCase()}-000003`, periodIndex: 3, total: '31.20' }]);
  });
});
