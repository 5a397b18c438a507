import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import type { Brand, Customer, NumberHistory, Plan, Subscription } from '../domain/reference/index.ts';
import { BatchProducer, runBatchConsumer, standardHeaders, type RunningConsumer } from '../runtime/kafka.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import { createLogger } from '../runtime/log.ts';
import { systemClock } from '../runtime/time.ts';
import { applyTopics } from '../topics/apply.ts';
import { operations } from '../services/catalog/operations.ts';
import { allTopics, topics, valueSubject } from '../topics/catalog.ts';
import { startCatalog, type RunningCatalog } from '../services/catalog/index.ts';
import { Catalog } from '../services/catalog/catalog.ts';
import { createDb } from '../runtime/db.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { numberFor } from './support/small-brand.ts';

const suffix = uniqueSuffix();
const brandA = `cat-a-${suffix}`;
const brandB = `cat-b-${suffix}`;
const adminKey = `test-admin-key-${suffix}-0123456789abcdef`;
/** Everything the catalogue logs (debug included), scanned for keys at the end. */
const logLines: string[] = [];
const logger = createLogger({ service: 'catalog-test' }, 'debug', (line) => logLines.push(line));
const config = testConfig('catalog');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const numberA1 = numberFor(suffix);
const numberA2 = numberFor(`${suffix.slice(1)}7`);

let catalog: RunningCatalog;
let reader: RunningConsumer;
/** Everything read from the topics the catalogue writes, by topic then key: every delivery kept. */
const seen = new Map<string, Map<string, unknown[]>>();

type Json = Record<string, unknown>;
async function call(method: string, path: string, key: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${catalog.apiUrl}${path}`, {
    method,
    headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

const latest = <T>(topic: string, key: string): T | undefined => seen.get(topic)?.get(key)?.at(-1) as T | undefined;

function brandBody(currency = 'USD') {
  return {
    name: 'Catalog test brand',
    country: 'US',
    currency,
    timeZone: 'America/New_York',
    billingHour: 2,
    taxRegime: 'us_sales_tax',
    gateway: 'stripe',
    roundingMode: 'half_up',
    usageProducts: { LCA: 'lca' },
    dunningSteps: [
      { afterDays: 7, action: 'reminder' },
      { afterDays: 21, action: 'suspend' },
    ],
    commission: { initialPercent: '20', initialPeriods: 12, recurringPercent: '5' },
    // This brand allows no suspension, and reactivation after a cancellation.
    lifecycle: { suspend: { from: [] }, reactivate: { from: ['suspended', 'cancelled'] } },
  };
}

const planBody = (owner: string) => ({
  owner,
  name: 'Answering 100',
  currency: 'USD',
  monthlyFee: '49.00',
  trialDays: 14,
  grants: [{ bucketId: 'lca-100', usageType: 'LCA', seconds: 6000, priority: 1 }],
  priceModels: [{ usageType: 'LCA', kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice: '0.95' }] }],
  numberAllotment: 1,
  commitmentDiscount: { months: 12, percent: '10' },
});

const customerBody = (brand: string) => ({
  brand,
  externalId: `legacy-${suffix}`,
  name: 'Acme Dental',
  email: 'billing@acme.example',
  postalAddress: { line1: '1 Main St', city: 'Albany', region: 'NY', postalCode: '12207', country: 'US' },
  country: 'US',
  region: 'NY',
  taxIds: [{ type: 'us_ein', value: '12-3456789' }],
});

beforeAll(async () => {
  await applyTopics(kafka, serde, allTopics([]));
  const watched = [topics.refBrands, topics.refPlans, topics.refCustomers, topics.refSubscriptions, topics.refNumbers, topics.accountLifecycle].map((t) => t.name);
  reader = await runBatchConsumer(kafka, {
    groupId: `catalog-test-${suffix}`,
    topics: watched,
    handle: async (records) => {
      for (const r of records) {
        const key = r.key?.toString('utf8') ?? '';
        // Accounts made by Idempotency-Key have derived ids: keep every customer and lifecycle record.
        const ours = key.includes(suffix) || key === numberA1 || key === numberA2 || r.topic === topics.refCustomers.name || r.topic === topics.accountLifecycle.name;
        if (!ours) continue;
        const byKey = seen.get(r.topic) ?? new Map<string, unknown[]>();
        seen.set(r.topic, byKey);
        let value: unknown = null;
        try {
          // Other suites' records on the shared topics may have schemas the registry no longer has.
          if (r.value) await serde.prepare([r.value]);
          value = r.value ? serde.decode(r.value) : null;
        } catch {
          continue;
        }
        byKey.set(key, [...(byKey.get(key) ?? []), value]);
      }
    },
  });
  catalog = await startCatalog(config, { kafka, serde, logger, clock: systemClock }, { parentCompany: 'ansr-group', adminKey, outboxPollMs: 200, trialSweepMs: 0 });
});

afterAll(async () => {
  await catalog?.stop();
  await reader?.stop();
});

describe('the catalogue service', () => {
  let keyA = '';
  let keyB = '';

  it('serves its OpenAPI document', async () => {
    const res = await fetch(`${catalog.apiUrl}/openapi.json`);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/subscriptions/{subscriptionId}/transitions');
    expect(doc.components.schemas).toHaveProperty('BrandInput');
    expect(doc).toEqual(JSON.parse(readFileSync('services/catalog/openapi.json', 'utf8')));
  });

  it('refuses requests without a known key', async () => {
    expect((await call('GET', '/brands', 'nope')).status).toBe(401);
  });

  it('creates brands with the parent key, idempotently, and publishes them to ref.brands', async () => {
    const first = await call('PUT', `/brands/${brandA}`, adminKey, brandBody());
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const again = await call('PUT', `/brands/${brandA}`, adminKey, brandBody());
    expect(again.status).toBe(200);
    expect(again.body.revision).toBe(1);
    expect((await call('PUT', `/brands/${brandB}`, adminKey, { ...brandBody(), name: 'Other brand' })).status).toBe(201);

    const made = await call('POST', '/api-keys', adminKey, { brand: brandA, label: 'brand A portal' });
    expect(made.status).toBe(201);
    keyA = made.body.key as string;
    keyB = (await call('POST', '/api-keys', adminKey, { brand: brandB, label: 'brand B portal' })).body.key as string;
    expect(keyA).toMatch(/^rlk_/);

    const record = await eventually('brand A on ref.brands', () => latest<Brand>(topics.refBrands.name, brandA));
    expect(record).toMatchObject({ code: brandA, parentCompany: 'ansr-group', currency: 'USD', paymentTermsDays: 14, cancellationCredit: 'prorated' });
    expect(record.dunningSteps).toEqual([{ afterDays: 7, action: 'reminder' }, { afterDays: 21, action: 'suspend' }]);
    expect(new Decimal(record.commission!.initialPercent.toString()).toFixed(2)).toBe('20.00');
    // The unchanged re-submission published nothing.
    await new Promise((r) => setTimeout(r, 500));
    expect(seen.get(topics.refBrands.name)!.get(brandA)).toHaveLength(1);
  });

  it('lists every problem of an invalid request, with paths, and refuses money as a JSON number', async () => {
    const res = await call('PUT', `/plans/bad-${suffix}`, keyA, {
      owner: brandA,
      name: '',
      currency: 'XYZ',
      monthlyFee: 49.5,
      grants: [{ bucketId: 'b', usageType: 'LCA', seconds: -1, priority: 1 }],
      priceModels: [{ usageType: 'LCA', kind: 'GRADUATED', unitSeconds: 60, tiers: [{ upTo: 100, unitPrice: '0.5' }, { upTo: 50, unitPrice: '0.4' }] }],
      colour: 'red',
    });
    expect(res.status).toBe(422);
    expect(res.body.error).toBe('invalid_request');
    const problems = res.body.problems as { path: string; message: string }[];
    const paths = problems.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['name', 'monthlyFee', 'grants[0].seconds', 'colour', 'currency']));
    expect(problems.find((p) => p.path === 'monthlyFee')!.message).toMatch(/never a float/);
    // A domain check (domain/pricing's tier order) beside the shape checks.
    expect(problems.some((p) => p.path.startsWith('priceModels[0]'))).toBe(true);
  });

  let planKey = '';
  it('creates a versioned plan; a change makes version 2 and the same content changes nothing', async () => {
    const planId = `answering-${suffix}`;
    const v1 = await call('PUT', `/plans/${planId}`, keyA, planBody(brandA));
    expect(v1.status, JSON.stringify(v1.body)).toBe(201);
    expect(v1.body.version).toBe(1);
    expect((await call('PUT', `/plans/${planId}`, keyA, planBody(brandA))).body.version).toBe(1);
    const v2 = await call('PUT', `/plans/${planId}`, keyA, { ...planBody(brandA), monthlyFee: '59.00', numberAllotment: 2 });
    expect(v2.body.version).toBe(2);
    planKey = planId;
    const record = await eventually('plan v2 on ref.plans', () => latest<Plan>(topics.refPlans.name, `${planId}:2`));
    expect(new Decimal(record.monthlyFee.toString()).toFixed(2)).toBe('59.00');
    expect(record.commitmentDiscount?.months).toBe(12);
    expect(latest<Plan>(topics.refPlans.name, `${planId}:1`)).toBeDefined();
  });

  let accountId = '';
  it('creates a customer by Idempotency-Key: the retry replays and makes no second account', async () => {
    const headers = { 'idempotency-key': `create-cust-${suffix}` };
    const first = await call('POST', '/customers', keyA, customerBody(brandA), headers);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    accountId = first.body.accountId as string;
    const retry = await call('POST', '/customers', keyA, customerBody(brandA), headers);
    expect(retry.status).toBe(201);
    expect(retry.body.accountId).toBe(accountId);
    const reused = await call('POST', '/customers', keyA, { ...customerBody(brandA), name: 'Other' }, headers);
    expect(reused.status).toBe(422);
    const byExternal = await call('GET', `/customers?externalId=legacy-${suffix}`, keyA);
    expect((byExternal.body.items as unknown[]).length).toBe(1);
    // A PUT by id is the other idempotent create.
    expect((await call('PUT', `/customers/${accountId}`, keyA, customerBody(brandA))).status).toBe(200);
    const record = await eventually('customer on ref.customers', () => latest<Customer>(topics.refCustomers.name, accountId));
    expect(record).toMatchObject({ brand: brandA, region: 'NY', externalId: `legacy-${suffix}`, taxIds: [{ type: 'us_ein', value: '12-3456789' }] });
  });

  const subscriptionId = `sub-${suffix}`;
  it('creates a subscription in trial on the latest plan version and announces it on account.lifecycle', async () => {
    const res = await call('PUT', `/subscriptions/${subscriptionId}`, keyA, { accountId, planId: planKey, anchor: '2026-03-31T15:00:00Z', commitmentMonths: 12 });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ status: 'trial', planVersion: 2, brand: brandA, trialEndsAt: '2026-04-14T15:00:00.000Z' });
    expect((await call('PUT', `/subscriptions/${subscriptionId}`, keyA, { accountId, planId: planKey, anchor: '2026-03-31T15:00:00Z', commitmentMonths: 12 })).status).toBe(200);
    const record = await eventually('subscription on ref.subscriptions', () => latest<Subscription>(topics.refSubscriptions.name, subscriptionId));
    expect(record).toMatchObject({ accountId, planId: planKey, planVersion: 2, status: 'trial' });
    // A 12-month commitment from March 31st ends on March 31st a year later, in the brand's zone.
    expect(new Date(record.commitment!.endsAt).toISOString()).toBe('2027-03-31T15:00:00.000Z');
    const event = await eventually('trial_started on account.lifecycle', () => (seen.get(topics.accountLifecycle.name)?.get(accountId) as Json[] | undefined)?.find((e) => e.action === 'trial_started'));
    expect(event).toMatchObject({ brand: brandA, subscriptionId, reason: 'subscription_created' });
  });

  it('stocks, assigns within the allotment, reassigns and keeps the whole history on ref.numbers', async () => {
    const second = `sub2-${suffix}`;
    expect((await call('PUT', `/subscriptions/${second}`, keyA, { accountId, planId: planKey, planVersion: 1, anchor: '2026-03-01T12:00:00Z', status: 'active' })).status).toBe(201);
    for (const n of [numberA1, numberA2]) expect((await call('PUT', `/numbers/${encodeURIComponent(n)}`, keyA, { brand: brandA })).status).toBe(201);
    expect((await call('PUT', `/numbers/${encodeURIComponent(numberA1)}`, keyA, { brand: brandA })).status).toBe(200);
    const n1 = encodeURIComponent(numberA1);
    const n2 = encodeURIComponent(numberA2);
    expect((await call('POST', `/numbers/${n1}/assign`, keyA, { subscriptionId: second, effectiveFrom: '2026-03-01T12:00:00Z' })).status).toBe(200);
    // Plan v1 allots one number: the second is refused.
    const full = await call('POST', `/numbers/${n2}/assign`, keyA, { subscriptionId: second });
    expect(full.status).toBe(409);
    expect(full.body.error).toBe('allotment_exhausted');
    const moved = await call('POST', `/numbers/${n1}/reassign`, keyA, { subscriptionId, effectiveFrom: '2026-04-01T00:00:00Z' });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    const history = await eventually('two assignments of the number', () => {
      const h = latest<NumberHistory>(topics.refNumbers.name, numberA1);
      return h && h.assignments.length === 2 ? h : undefined;
    });
    expect(history.assignments.map((a) => [a.subscriptionId, a.effectiveFrom, a.effectiveTo])).toEqual([
      [second, Date.parse('2026-03-01T12:00:00Z'), Date.parse('2026-04-01T00:00:00Z')],
      [subscriptionId, Date.parse('2026-04-01T00:00:00Z'), null],
    ]);
  });

  it("keeps one brand out of another's data: GET, PUT, PATCH and lists", async () => {
    expect((await call('GET', `/customers/${accountId}`, keyB)).status).toBe(404);
    expect((await call('GET', `/subscriptions/${subscriptionId}`, keyB)).status).toBe(404);
    expect((await call('GET', `/brands/${brandA}`, keyB)).status).toBe(404);
    expect((await call('GET', `/numbers/${encodeURIComponent(numberA1)}`, keyB)).status).toBe(404);
    expect((await call('GET', `/plans/${planKey}`, keyB)).status).toBe(404);
    expect((await call('PUT', `/customers/${accountId}`, keyB, customerBody(brandB))).status).toBe(404);
    expect((await call('PATCH', `/customers/${accountId}`, keyB, { name: 'Hijacked' })).status).toBe(404);
    expect((await call('PATCH', `/brands/${brandA}`, keyB, { name: 'Hijacked' })).status).toBe(404);
    expect((await call('POST', `/subscriptions/${subscriptionId}/transitions`, keyB, { action: 'cancel', reason: 'x' })).status).toBe(404);
    expect((await call('POST', `/numbers/${encodeURIComponent(numberA1)}/release`, keyB, {})).status).toBe(404);
    // Writes aimed at another brand's collection are forbidden.
    expect((await call('PUT', `/customers/new-${suffix}`, keyB, customerBody(brandA))).status).toBe(403);
    expect((await call('PUT', `/plans/b-plan-${suffix}`, keyB, planBody(brandA))).status).toBe(403);
    expect((await call('GET', `/customers?brand=${brandA}`, keyB)).status).toBe(403);
    // Lists show only the key's brand.
    const customersOfB = await call('GET', '/customers', keyB);
    expect((customersOfB.body.items as Json[]).every((c) => c.brand === brandB)).toBe(true);
    const brandsOfB = await call('GET', '/brands', keyB);
    expect((brandsOfB.body.items as Json[]).map((b) => b.code)).toEqual([brandB]);
    const subsOfB = await call('GET', '/subscriptions', keyB);
    expect(subsOfB.body.items).toEqual([]);
    // The owner itself and the parent still see it, unchanged.
    expect((await call('GET', `/customers/${accountId}`, keyA)).body.name).toBe('Acme Dental');
    const parentList = await call('GET', `/customers?brand=${brandA}`, adminKey);
    expect((parentList.body.items as Json[]).map((c) => c.accountId)).toContain(accountId);
    // PATCH by the owner works and is published.
    const patched = await call('PATCH', `/customers/${accountId}`, keyA, { region: 'NJ' });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    await eventually('patched customer on ref.customers', () => (latest<Customer>(topics.refCustomers.name, accountId)?.region === 'NJ' ? true : undefined));
  });

  it("answers every operation 401 without a key, and another brand's key never with brand A's objects", async () => {
    const ids: Record<string, string> = { code: brandA, planId: planKey, version: '1', accountId, subscriptionId, number: encodeURIComponent(numberA1), ruleId: `rule-${suffix}`, keyId: 'k-nope' };
    const outcomes: string[] = [];
    for (const op of operations) {
      const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => ids[name]!);
      const body = op.method === 'GET' ? undefined : JSON.stringify({});
      const bare = await fetch(`${catalog.apiUrl}${path}`, { method: op.method, headers: body ? { 'content-type': 'application/json' } : {}, body });
      expect(bare.status, `${op.method} ${path} without a key`).toBe(401);
      const res = await call(op.method, path, keyB, op.method === 'GET' ? undefined : {});
      // A refusal is a problem body and nothing else; an answer (brand B's own list, say) holds nothing of brand A.
      if (res.status >= 400) expect(Object.keys(res.body).filter((k) => !['type', 'title', 'status', 'error', 'detail', 'problems'].includes(k)), `${op.method} ${path}`).toEqual([]);
      else expect(JSON.stringify(res.body), `${op.method} ${path}`).not.toContain(brandA);
      outcomes.push(`${op.operationId} ${res.status}`);
    }
    // Brand A's objects are not found; the brand's own collections and lists answer for brand B only.
    expect(outcomes.filter((o) => !/ (200|201|403|404|422)$/.test(o))).toEqual([]);
    const objects = operations.filter((op) => op.method === 'GET' && /\{/.test(op.path) && op.tag !== 'rating-rules');
    for (const op of objects) expect(outcomes, op.operationId).toContain(`${op.operationId} 404`);
  });

  it("refuses a transition the brand's lifecycle does not allow, and publishes an allowed one", async () => {
    const refused = await call('POST', `/subscriptions/${subscriptionId}/transitions`, keyA, { action: 'suspend', reason: 'customer_request' });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: 'transition_not_allowed' });
    expect((refused.body.problems as Json[])[0]).toMatchObject({ path: 'action' });

    const headers = { 'idempotency-key': `cancel-${suffix}` };
    const cancelled = await call('POST', `/subscriptions/${subscriptionId}/transitions`, keyA, { action: 'cancel', reason: 'customer_request', effectiveAt: '2026-04-20T10:00:00Z' }, headers);
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', cancelledAt: '2026-04-20T10:00:00.000Z', effects: { numbers: 'release', released: [numberA1] } });
    const replay = await call('POST', `/subscriptions/${subscriptionId}/transitions`, keyA, { action: 'cancel', reason: 'customer_request', effectiveAt: '2026-04-20T10:00:00Z' }, headers);
    expect(replay.status).toBe(200);

    const event = await eventually('cancelled on account.lifecycle', () => (seen.get(topics.accountLifecycle.name)?.get(accountId) as Json[] | undefined)?.find((e) => e.action === 'cancelled'));
    expect(event).toMatchObject({ brand: brandA, subscriptionId, reason: 'customer_request', effectiveAt: Date.parse('2026-04-20T10:00:00Z') });
    // Exactly one cancellation event, though the request came twice.
    expect((seen.get(topics.accountLifecycle.name)!.get(accountId) as Json[]).filter((e) => e.action === 'cancelled')).toHaveLength(1);
    const released = await eventually('the number released on ref.numbers', () => {
      const h = latest<NumberHistory>(topics.refNumbers.name, numberA1);
      return h?.assignments[1]?.effectiveTo === Date.parse('2026-04-20T10:00:00Z') ? h : undefined;
    });
    expect(released.assignments).toHaveLength(2);
    await eventually('cancelled on ref.subscriptions', () => (latest<Subscription>(topics.refSubscriptions.name, subscriptionId)?.status === 'cancelled' ? true : undefined));

    // This brand allows reactivation after a cancellation.
    const back = await call('POST', `/subscriptions/${subscriptionId}/transitions`, keyA, { action: 'reactivate', reason: 'won_back' });
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect(back.body).toMatchObject({ status: 'active', cancelledAt: null });
  });

  it('sends what another writer left in the outbox (a crash before its publisher ran)', async () => {
    // A writer whose publisher never runs: the change and its record commit together, unsent.
    const db = createDb(config.postgres);
    try {
      const writer = new Catalog(db, 'ansr-group', systemClock);
      const accountId2 = `orphan-${suffix}`;
      const reply = await writer.putCustomer({ kind: 'parent', keyId: 'test' }, accountId2, { ...customerBody(brandB), externalId: null });
      expect(reply.status).toBe(201);
      const row = await db('catalog.outbox').where({ msg_key: accountId2 }).first();
      expect(row).toBeDefined();
      // The running service's publisher finds it on its next poll.
      await eventually('the orphaned customer on ref.customers', () => latest<Customer>(topics.refCustomers.name, accountId2));
      expect((await db('catalog.outbox').where({ msg_key: accountId2 }).first()).published_at).not.toBeNull();
    } finally {
      await db.destroy();
    }
  });

  it('activates a trial that has ended, as of its end', async () => {
    const id = `sub-trial-${suffix}`;
    const made = await call('PUT', `/subscriptions/${id}`, keyA, { accountId, planId: planKey, anchor: '2026-01-01T12:00:00Z' });
    expect(made.body).toMatchObject({ status: 'trial', trialEndsAt: '2026-01-15T12:00:00.000Z' });
    expect(await catalog.catalog.activateEndedTrials()).toContain(id);
    expect((await call('GET', `/subscriptions/${id}`, keyA)).body.status).toBe('active');
    const event = await eventually('activated on account.lifecycle', () => (seen.get(topics.accountLifecycle.name)?.get(accountId) as Json[] | undefined)?.find((e) => e.subscriptionId === id && e.action === 'activated'));
    expect(event).toMatchObject({ reason: 'trial_ended', effectiveAt: Date.parse('2026-01-15T12:00:00Z') });
    expect(await catalog.catalog.activateEndedTrials()).not.toContain(id);
  });
  it("applies the ageing service's dunning steps to the account's subscriptions, once each, pausing and resuming billing", async () => {
    const brandC = `cat-c-${suffix}`;
    const { lifecycle: _default, ...body } = brandBody();
    expect((await call('PUT', `/brands/${brandC}`, adminKey, body)).status).toBe(201);
    expect((await call('PUT', `/plans/c-plan-${suffix}`, adminKey, { ...planBody(brandC), trialDays: 0 })).status).toBe(201);
    const account = `acct-c-${suffix}`;
    expect((await call('PUT', `/customers/${account}`, adminKey, { ...customerBody(brandC), externalId: null })).status).toBe(201);
    const sub = `sub-c-${suffix}`;
    expect((await call('PUT', `/subscriptions/${sub}`, adminKey, { accountId: account, planId: `c-plan-${suffix}`, anchor: '2026-03-01T12:00:00Z', status: 'active' })).status).toBe(201);
    const revision = (await call('GET', `/subscriptions/${sub}`, adminKey)).body.revision as number;

    // What the ageing service publishes: no subscription id (the account's subscriptions), delivered twice.
    const producer = await BatchProducer.connect(kafka);
    const encode = serde.encoder<Json>(await serde.register(valueSubject(topics.accountLifecycle.name), loadSchema('account.lifecycle')));
    const step = (action: string, day: number) => ({
      eventId: `ageing:${account}:inv-1:${action}`, brand: brandC, accountId: account, subscriptionId: null, action,
      reason: 'invoice_overdue', invoiceId: 'inv-1', effectiveAt: Date.parse(`2026-04-${day}T12:00:00Z`),
    });
    const send = (e: Json) => producer.send({ [topics.accountLifecycle.name]: [{ key: account, value: encode(e), headers: standardHeaders({ eventId: e.eventId as string, brand: brandC }) }] });
    await send(step('suspended', 11));
    await send(step('suspended', 11));
    const suspended = await eventually('suspended by dunning', async () => {
      const s = (await call('GET', `/subscriptions/${sub}`, adminKey)).body;
      return s.status === 'suspended' ? s : undefined;
    });
    expect(suspended).toMatchObject({ billingPausedAt: '2026-04-11T12:00:00.000Z', revision: revision + 1 });
    await send(step('reactivated', 12));
    const back = await eventually('reactivated on payment', async () => {
      const s = (await call('GET', `/subscriptions/${sub}`, adminKey)).body;
      return s.status === 'active' ? s : undefined;
    });
    // The duplicate changed nothing: one revision for the suspension, one for the reactivation.
    expect(back).toMatchObject({ billingPausedAt: null, revision: revision + 2 });
    await producer.stop();
    const record = await eventually('the pause lifted on ref.subscriptions', () => {
      const r = latest<Subscription>(topics.refSubscriptions.name, sub);
      return r?.status === 'active' && r.billingPausedAt === null ? r : undefined;
    });
    expect(record.status).toBe('active');
  });

  it('logs no API key: neither the parent key nor the keys it made, nor anything shaped like one', async () => {
    // Requests that present keys in both headers, and a refused one, on top of everything the suite did.
    await call('GET', '/brands', keyA, undefined, { authorization: `Bearer ${keyB}` });
    await call('GET', '/customers?limit=0', keyB);
    const logs = logLines.join('\n');
    // Each request is logged at debug with the key's id, so there is something to scan.
    expect(logLines.filter((l) => l.includes('"msg":"request"')).length).toBeGreaterThan(50);
    for (const key of [adminKey, keyA, keyB]) expect(logs).not.toContain(key);
    expect(logs).not.toMatch(/rlk_[A-Za-z0-9]+_[A-Za-z0-9_-]{20,}/);
  });
});
