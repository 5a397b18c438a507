import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import knex from 'knex';
import { publishReference } from '../contracts/reference.ts';
import type { InvoiceEvent } from '../contracts/invoice.ts';
import { seededRandom } from '../domain/prng.ts';
import { BatchProducer } from '../runtime/kafka.ts';
import { AvroSerde } from '../runtime/serde.ts';
import type { PaymentRecord } from '../services/collect/records.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, brandTopics } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { collectReference, fakeGatewayEnv, invoiceEvent, publishInvoices, readAll, scanForCardNumbers, type AccountSpec, type BrandSpec } from './support/collect-fixtures.ts';
import { startFakeGateway, type FakeGateway, type Outcome } from './support/fake-gateway/index.ts';
import { ServiceProcess } from '../infra/service-process.ts';

const INVOICES = 10_000;
const ACCOUNTS = 1_000;
const KILLS = 5;
const suffix = uniqueSuffix();
const steps = [
  { afterDays: 3, action: 'reminder' },
  { afterDays: 10, action: 'suspend' },
];
const BRANDS: BrandSpec[] = [
  { code: `t${suffix}-sa`, gateway: 'stripe', currency: 'USD', timeZone: 'America/New_York', country: 'US', retryDays: [1, 3], steps },
  { code: `t${suffix}-sb`, gateway: 'stripe', currency: 'EUR', timeZone: 'Europe/Paris', country: 'FR', retryDays: [2], steps },
  { code: `t${suffix}-pc`, gateway: 'paypal', currency: 'GBP', timeZone: 'Europe/London', country: 'GB', retryDays: [1, 3], steps },
];
const accounts: AccountSpec[] = Array.from({ length: ACCOUNTS }, (_, i) => {
  const brand = BRANDS[i % BRANDS.length]!;
  return { accountId: `acct_${suffix}_a${i}`, brand, customerRef: brand.gateway === 'stripe' ? `cus_${suffix}_a${i}` : `PPC_${suffix}_a${i}`, methodRef: brand.gateway === 'stripe' ? `pm_${suffix}_a${i}` : `VT_${suffix}_a${i}` };
});

/** 20% injected failures: 10% gateway errors, 8% soft declines, 2% charged then no answer in time. */
type Fate = 'ok' | 'fail' | 'soft' | 'timeout';
const random = seededRandom(20261125);
const plan: { invoice: InvoiceEvent; fate: Fate }[] = Array.from({ length: INVOICES }, (_, n) => {
  const account = accounts[n % ACCOUNTS]!;
  const r = random();
  const fate: Fate = r < 0.1 ? 'fail' : r < 0.18 ? 'soft' : r < 0.2 ? 'timeout' : 'ok';
  const now = Date.now();
  return {
    fate,
    invoice: invoiceEvent({ invoiceId: `inv_${suffix}_n${n}`, brand: account.brand.code, accountId: account.accountId, currency: account.brand.currency, total: `${10 + (n % 90)}.${String(n % 100).padStart(2, '0')}`, issuedAt: now - 3600_000, dueAt: now - 3600_000 }),
  };
});

const config = testConfig('collect-crash');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const db = knex({ client: 'pg', connection: config.postgres.url, pool: { min: 0, max: 2 } });
let fake: FakeGateway;
let service: ServiceProcess;

beforeAll(async () => {
  fake = await startFakeGateway();
  for (const { invoice, fate } of plan) {
    const outcome: Outcome | undefined = fate === 'fail' ? 'fail' : fate === 'soft' ? 'soft_decline' : fate === 'timeout' ? { kind: 'charge_then_timeout', delayMs: 1000 } : undefined;
    if (outcome) fake.script({ invoiceId: invoice.invoiceId }, outcome);
  }
  await applyTopics(kafka, serde, allTopics(BRANDS.map((b) => b.code)));
  const producer = await BatchProducer.connect(kafka);
  await publishReference(collectReference(BRANDS, accounts), producer, serde);
  await producer.stop();
  const env: Record<string, string> = {
    KAFKA_BROKERS: config.kafka.brokers.join(','),
    SCHEMA_REGISTRY_URL: config.registry.url,
    DATABASE_URL: config.postgres.url,
    COLLECT_TOPIC_PATTERN: `^brand\\.t${suffix}-[a-z]+\\.invoices$`,
    COLLECT_GROUP_ID: `collect-crash-${suffix}`,
    COLLECT_INTERVAL_MS: '5000',
    COLLECT_CONCURRENCY: '6',
    // Well above a call's 400 ms timeout: a claim left by a killed instance is settled by a run 3 s on.
    COLLECT_CLAIM_LEASE_MS: '3000',
    KAFKA_SESSION_TIMEOUT_MS: '10000',
    ...fakeGatewayEnv(fake, BRANDS, 400),
  };
  service = new ServiceProcess('collect', env);
  service.start();
});

afterAll(async () => {
  await service?.stop();
  await fake?.close();
  await db.destroy();
});

const ids = plan.map((p) => p.invoice.invoiceId);
const rowsOf = async () => {
  const rows: { invoice_id: string; collection: string; payment_status: string }[] = [];
  for (let i = 0; i < ids.length; i += 5000) rows.push(...(await db('collect.invoices').whereIn('invoice_id', ids.slice(i, i + 5000)).select('invoice_id', 'collection', 'payment_status')));
  return rows;
};

describe(`collect under SIGKILL (${KILLS} kills while ${INVOICES.toLocaleString('en-US')} invoices of ${BRANDS.length} brands are charged, 20% gateway failures)`, () => {
  it('ends with every invoice paid or in dunning, and at most one successful charge per invoice at the gateway', { timeout: 300_000 }, async () => {
    const t0 = Date.now();
    const slice = Math.ceil(INVOICES / KILLS);
    const kills: string[] = [];
    for (let k = 0; k < KILLS; k++) {
      await publishInvoices(kafka, serde, plan.slice(k * slice, (k + 1) * slice).map((p) => p.invoice));
      await eventually(`collect up before kill ${k + 1}`, () => (service.startsLogged() >= service.kills + 1 ? true : undefined), 90_000);
      // Kill at a random point of the work on this slice: mid-charge, mid-transaction, mid-publish.
      await new Promise((r) => setTimeout(r, 500 + random() * 2500));
      const [charged] = await db('collect.attempts').whereIn('invoice_id', ids.slice(0, (k + 1) * slice)).count({ n: '*' });
      kills.push(`${Number(charged!.n)} attempts`);
      service.kill();
      await new Promise((r) => setTimeout(r, random() * 1000));
      service.start();
    }
    await eventually('the last instance up', () => (service.startsLogged() > service.kills ? true : undefined), 90_000);

    const FINAL = new Set(['paid', 'retry_scheduled', 'stopped']);
    const rows = await eventually(
      `${INVOICES} invoices paid or in dunning`,
      async () => {
        const r = await rowsOf();
        return r.length === INVOICES && r.every((x) => FINAL.has(x.collection)) ? r : undefined;
      },
      240_000,
    );
    const elapsed = (Date.now() - t0) / 1000;
    expect(service.startsLogged()).toBe(KILLS + 1);

    const fateOf = new Map(plan.map((p) => [p.invoice.invoiceId, p.fate]));
    const byCollection: Record<string, number> = {};
    let overCharged = 0;
    for (const row of rows) {
      byCollection[row.collection] = (byCollection[row.collection] ?? 0) + 1;
      const charges = fake.successfulCharges(row.invoice_id);
      if (charges > 1) overCharged++;
      const fate = fateOf.get(row.invoice_id)!;
      // ok and timed-out charges end paid, charged exactly once; failures and soft declines wait for their retry day.
      if (fate === 'ok' || fate === 'timeout') expect({ id: row.invoice_id, collection: row.collection, charges }).toEqual({ id: row.invoice_id, collection: 'paid', charges: 1 });
      else expect({ id: row.invoice_id, collection: row.collection, charges }).toEqual({ id: row.invoice_id, collection: 'retry_scheduled', charges: 0 });
    }
    expect(overCharged).toBe(0);

    // Attempts in flight at a kill were settled with their own key: every attempt has an answer, one attempt per invoice so far.
    const attemptStats: { attempts: string; unanswered: string; resent: string }[] = await db.raw(
      `select count(*) as attempts, count(*) filter (where status is null) as unanswered, count(*) filter (where calls > 1) as resent
         from collect.attempts where invoice_id like ?`,
      [`inv\\_${suffix}\\_%`],
    ).then((r: { rows: { attempts: string; unanswered: string; resent: string }[] }) => r.rows);
    const stats = attemptStats[0]!;
    expect(Number(stats.unanswered)).toBe(0);
    expect(Number(stats.attempts)).toBe(INVOICES);

    // The payments topics: one success per paid invoice (an event re-sent after a kill has the same event id).
    const records = await readAll<PaymentRecord>(kafka, serde, BRANDS.map((b) => brandTopics(b.code).payments.name));
    const successIds = new Map<string, Set<string>>();
    for (const { value } of records) if (value.status === 'SUCCEEDED') successIds.set(value.invoiceId, (successIds.get(value.invoiceId) ?? new Set()).add(value.eventId!));
    expect([...successIds.values()].filter((s) => s.size > 1)).toEqual([]);
    expect(successIds.size).toBe(byCollection['paid']);
    const redelivered = records.length - new Set(records.map((r) => r.value.eventId)).size;

    const replayed = fake.requests.filter((r) => r.replayed).length;
    const chargeRequests = fake.requestsTo('POST', '/v1/payment_intents').length + fake.requestsTo('POST', '/v2/checkout/orders').filter((r) => !r.path.endsWith('/capture')).length;
    console.log(
      `[collect-crash] ${INVOICES} invoices, ${BRANDS.length} brands, ${KILLS} SIGKILLs (at ${kills.join(', ')}), ${elapsed.toFixed(1)} s: ` +
        `${Object.entries(byCollection).map(([k, v]) => `${k} ${v}`).join(', ')}; ` +
        `${chargeRequests} charge requests, ${replayed} answered from the gateway's idempotency store, ${stats.resent} attempts re-sent or settled with their key; ` +
        `max successful charges per invoice ${Math.max(...ids.map((id) => fake.successfulCharges(id)))}; ${records.length} payment events (${redelivered} re-sent after a kill, same id)`,
    );

    // No card data anywhere: this run's tables, the service's log across every restart, the payments topics.
    const scan = await scanForCardNumbers({ db, schemas: ['collect'], logs: [fs.readFileSync(service.logFile, 'utf8')], records });
    console.log(`[card scan] ${scan.rows} rows, ${scan.logLines} log lines, ${scan.records} topic records: ${scan.findings.length} findings`);
    expect(scan.findings).toEqual([]);
  });
});
