import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import knex from 'knex';
import { publishReference } from '../contracts/reference.ts';
import type { UsageChargedRecord } from '../contracts/records.ts';
import { ControllableClock } from '../domain/billrun/index.ts';
import { BatchProducer } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { startAdvisor, type RunningAdvisor } from '../services/advisor/index.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, brandTopics, topics } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, testTopic, uniqueSuffix } from './helpers.ts';
import { publishTestKeys, withKey, type TestKey } from './support/api-keys.ts';
import { readAll } from './support/collect-fixtures.ts';
import { deadLettersOf, notifyBrand, notifyCustomer, notifyReference, publish } from './support/notify-fixtures.ts';

const suffix = uniqueSuffix();
const BRAND = `a${suffix}`;
const OTHER = `b${suffix}`;
const MIN = 60;
const input = testTopic('usage-charged', { schema: 'usage.charged', key: 'accountId' });
const config = testConfig('advisor-test');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const db = knex({ client: 'pg', connection: config.postgres.url, pool: { min: 0, max: 2 } });
// Anchored 2026-01-01 in New York: periods start Jan 1, Feb 1, Mar 1 (05:00Z) and Apr 1 (04:00Z, DST).
// 2026-04-16T04:00Z is half of April's 30 days.
const periods = [Date.UTC(2026, 0, 1, 5), Date.UTC(2026, 1, 1, 5), Date.UTC(2026, 2, 1, 5), Date.UTC(2026, 3, 1, 4), Date.UTC(2026, 4, 1, 4)];
const clock = new ControllableClock(Date.UTC(2026, 3, 16, 4));
let advisor: RunningAdvisor;
let brandKey: TestKey;
let otherKey: TestKey;

const plan = (name: string, fee: string, minutes: number, overage: string) => ({
  planId: `${BRAND}-${name}`, version: 1, owner: BRAND, name, currency: 'USD', monthlyFee: fee, numberAllotment: 5,
  grants: [{ bucketId: `${BRAND}-${name}-lca`, usageType: 'LCA', seconds: minutes * MIN, priority: 1 }],
  priceModels: [{ usageType: 'LCA', kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice: overage }] }],
});
const plans = [plan('mini-100', '5.00', 100, '0.15'), plan('basic-500', '20.00', 500, '0.10'), plan('pro-1000', '35.00', 1000, '0.08'), plan('max-3000', '90.00', 3000, '0.05')];
const subscription = (id: string, planName: string) => ({ subscriptionId: `${BRAND}-${id}`, brand: BRAND, accountId: `${BRAND}-acct-${id}`, planId: `${BRAND}-${planName}`, planVersion: 1, anchor: '2026-01-01T05:00:00Z', status: 'active' });
const subscriptions = [subscription('up', 'basic-500'), subscription('down', 'pro-1000'), subscription('jumpy', 'basic-500')];

/** One charged call of `minutes` in period n of a subscription. */
function call(sub: string, n: number, id: string, minutes: number): UsageChargedRecord {
  const start = periods[n]! + 3_600_000;
  return {
    eventId: `${BRAND}-${sub}-${id}`, source: 'advisor-test', cdrId: id, callingNumber: null, calledNumber: '+18005550100', usageType: 'LCA',
    startTime: start, endTime: start + minutes * MIN * 1000, durationSeconds: minutes * MIN, attributes: {},
    brand: BRAND, accountId: `${BRAND}-acct-${sub}`, subscriptionId: `${BRAND}-${sub}`, assignmentId: 'a1', productId: `${BRAND}-lca`,
    ratingVersion: 1, ruleId: 'r', ruleVersion: 1, billableSeconds: minutes * MIN, ratedAt: start,
    periodStart: periods[n]!, periodEnd: periods[n + 1]!, planId: 'p', planVersion: 1, includedSeconds: 0, overageSeconds: 0, draws: [], currency: 'USD',
    amount: new Decimal(0), tiers: [], chargedAt: start, chargeSequence: 1,
  } as UsageChargedRecord;
}

async function publishReferenceOf(subs: unknown[]): Promise<void> {
  const producer = await BatchProducer.connect(kafka);
  await publishReference(notifyReference([notifyBrand(BRAND), notifyBrand(OTHER)], subs.map((s) => notifyCustomer((s as { accountId: string }).accountId, BRAND)), { plans, subscriptions: subs }), producer, serde);
  await producer.stop();
}

beforeAll(async () => {
  await applyTopics(kafka, serde, [...allTopics([BRAND]), input]);
  await publishReferenceOf(subscriptions);
  [brandKey, otherKey] = (await publishTestKeys(kafka, serde, [{ brand: BRAND }, { brand: OTHER }])) as [TestKey, TestKey];
  advisor = await startAdvisor(config, { kafka, serde, logger: silentLogger, clock }, { groupId: `advisor-test-${suffix}`, inputTopic: input.name, env: { ADVISOR_INTERVAL_MS: '0' } });
  await publish(kafka, serde, input.name, 'usage.charged', [
    ...[0, 1, 2].map((n) => call('up', n, `u${n}`, 800)),
    call('up', 3, 'u3', 400),
    ...[0, 1, 2].map((n) => call('down', n, `d${n}`, 40)),
    call('down', 3, 'd3', 20),
    ...[50, 1500, 100].map((minutes, n) => call('jumpy', n, `j${n}`, minutes)),
  ]);
  await eventually('the usage stored', async () => (Number((await db('advisor.calls').where({ brand: BRAND }).count({ n: '*' }))[0]!.n) === 11 ? true : undefined));
}, 180_000);

afterAll(async () => {
  await advisor?.stop();
  await db.destroy();
});

const api = (path: string, key: TestKey, init: RequestInit = {}) => fetch(`${advisor.apiUrl}${path}`, { ...init, headers: { ...withKey(key), ...(init.body ? { 'content-type': 'application/json' } : {}) } });

describe('advisor: recommendations from stored usage, on the brand topic and through the API', () => {
  it('recommends the upgrade and the downgrade worked by hand, nothing for jumpy usage; one live per subscription, superseded with history, accepted on a swap', { timeout: 120_000 }, async () => {
    const run = await (await api('/recommendation-runs', brandKey, { method: 'POST', body: '{}' })).json();
    // 3 active subscriptions; two recommendations; jumpy usage (CV 1.22) none.
    expect(run.runs).toEqual([{ brand: BRAND, subscriptions: 3, published: 2, withdrawn: 0, kept: 0, pruned: 0 }]);
    await advisor.flush();
    const events = (await readAll<Record<string, unknown>>(kafka, serde, [brandTopics(BRAND).recommendations.name])).map((e) => e.value);
    const up = events.find((e) => e.subscriptionId === `${BRAND}-up`)!;
    const down = events.find((e) => e.subscriptionId === `${BRAND}-down`)!;
    expect(events).toHaveLength(2);
    // basic-500 at 800 min: 20.00 + 300 × 0.10 = 50.00; pro-1000: 35.00. April 400 min by half → 800.
    expect(up).toMatchObject({ status: 'live', planId: `${BRAND}-pro-1000`, direction: 'upgrade', confidencePercent: 100, confidenceLevel: 'high', supersedes: null });
    expect([up.savingPerPeriod, up.savingPerYear, up.savingPercent, up.currentCostPerPeriod, up.newCostPerPeriod].map((d) => (d as Decimal).toFixed(2))).toEqual(['15.00', '180.00', '30.00', '50.00', '35.00']);
    expect((up.basis as { projected: boolean; usage: { billableSeconds: number }[] }[]).map((b) => [b.projected, b.usage[0]!.billableSeconds])).toEqual([[false, 48000], [false, 48000], [false, 48000], [true, 48000]]);
    // pro-1000 at 40 min (April: 20 by half → 40): 35.00; mini-100: 5.00; 30.00 a period, 360.00 a year.
    expect(down).toMatchObject({ planId: `${BRAND}-mini-100`, direction: 'downgrade' });
    expect([(down.savingPerPeriod as Decimal).toFixed(2), (down.savingPerYear as Decimal).toFixed(2)]).toEqual(['30.00', '360.00']);

    // Through the API: the brand's key reads them; another brand's key sees none of them.
    const live = await (await api(`/recommendations?status=live`, brandKey)).json();
    expect(live.recommendations.map((r: { subscriptionId: string }) => r.subscriptionId).sort()).toEqual([`${BRAND}-down`, `${BRAND}-up`]);
    expect((await (await api(`/recommendations?brand=${BRAND}`, otherKey)).json()).recommendations).toEqual([]);
    expect((await api(`/recommendations/${encodeURIComponent(up.recommendationId as string)}`, otherKey)).status).toBe(404);
    expect((await api('/recommendation-runs', otherKey, { method: 'POST', body: JSON.stringify({ brand: BRAND }) })).status).toBe(404);

    // The same run again: nothing new to tell.
    expect((await (await api('/recommendation-runs', brandKey, { method: 'POST', body: '{}' })).json()).runs[0]).toMatchObject({ published: 0, kept: 2 });

    // April doubles: 800 min by half → 1,600 projected. basic: 20.00 + 1,100 × 0.10 = 130.00; pro: 35.00 +
    // 600 × 0.08 = 83.00. Mean saving (15 × 3 + 47) / 4 = 23.00; current (50 × 3 + 130) / 4 = 70.00, 32.86 %.
    // Totals 800, 800, 800, 1,600 min: CV √120,000 / 1,000 = 0.346 → 65 %, medium.
    await publish(kafka, serde, input.name, 'usage.charged', [call('up', 3, 'u3b', 400)]);
    await eventually('the April call stored', async () => ((await db('advisor.calls').where({ event_id: `${BRAND}-up-u3b` }).first()) ? true : undefined));
    expect((await (await api('/recommendation-runs', brandKey, { method: 'POST', body: '{}' })).json()).runs[0]).toMatchObject({ published: 1, kept: 1 });
    const history = (await (await api(`/recommendations?subscriptionId=${BRAND}-up`, brandKey)).json()).recommendations as Record<string, unknown>[];
    expect(history.map((r) => [r.status, r.savingPerPeriod, r.confidencePercent])).toEqual([['live', '23', 65], ['superseded', '15', 100]]);
    expect(history[0]!.supersedes).toBe(up.recommendationId);
    expect(history[1]!.supersededBy).toBe(history[0]!.recommendationId);

    // The customer swaps to pro-1000: the next run ends the live one as accepted.
    await publishReferenceOf([{ ...subscriptions[0], planId: `${BRAND}-pro-1000` }, subscriptions[1], subscriptions[2]]);
    await eventually('accepted', async () => {
      const runs = (await (await api('/recommendation-runs', brandKey, { method: 'POST', body: '{}' })).json()).runs;
      const rows = (await (await api(`/recommendations?subscriptionId=${BRAND}-up&status=accepted`, brandKey)).json()).recommendations;
      return rows.length === 1 ? runs : undefined;
    });
    await advisor.flush();
    const statuses = (await readAll<Record<string, unknown>>(kafka, serde, [brandTopics(BRAND).recommendations.name])).filter((e) => e.value.subscriptionId === `${BRAND}-up`).map((e) => e.value.status);
    expect(statuses).toEqual(['live', 'live', 'accepted']);
  });

  it('serves the OpenAPI document that is committed', async () => {
    expect(await (await fetch(`${advisor.apiUrl}/openapi.json`)).json()).toEqual(JSON.parse(readFileSync('services/advisor/openapi.json', 'utf8')));
  });

  it('dead-letters garbage, a null value and an unknown schema id on its input, and stores the call behind them', { timeout: 120_000 }, async () => {
    const dead = await deadLettersOf(kafka, topics.deadLetter.name, 'advisor', input.name);
    const unknownSchema = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0x02]), Buffer.from('body')]);
    const key = `${BRAND}-acct-down`;
    await publish(kafka, serde, input.name, 'usage.charged', [{ raw: Buffer.from('garbage'), key }, { raw: null, key }, { raw: unknownSchema, key }, call('down', 3, 'd4', 1)]);
    const records = await eventually('three dead letters', () => (dead.records.length >= 3 ? dead.records : undefined), 60_000);
    await dead.stop();
    expect(records.map((r) => r.headers['dlq-error-code']).sort()).toEqual(['not_confluent_avro', 'null_value', 'unknown_schema']);
    await eventually('the call behind the poison stored', async () => ((await db('advisor.calls').where({ event_id: `${BRAND}-down-d4` }).first()) ? true : undefined));
  });

  it('keeps only the periods recommendations read: a run deletes the brand\'s calls of older periods, in its transaction', { timeout: 60_000 }, async () => {
    // Five months on, 2026-09-16T04:00Z: 3 closed periods and the current one, at most 31 days each, reach
    // back (3 + 1) × 31 = 124 days, to 2026-05-15T04:00Z. Every call stored (January to April) is older.
    clock.set(Date.UTC(2026, 8, 16, 4));
    const since = Date.UTC(2026, 4, 15, 4);
    const count = async (older: boolean) => Number((await db('advisor.calls').where({ brand: BRAND }).andWhere('period_start', older ? '<' : '>=', since).count({ n: '*' }))[0]!.n);
    const stored = await count(true);
    // The 11 calls stored first, April's second call and the call behind the poison.
    expect(stored).toBe(13);
    const run = (await (await api('/recommendation-runs', brandKey, { method: 'POST', body: JSON.stringify({ brand: BRAND }) })).json()).runs[0];
    expect(run.pruned).toBe(13);
    expect([await count(true), await count(false)]).toEqual([0, 0]);
    // Run again: nothing older left.
    expect((await (await api('/recommendation-runs', brandKey, { method: 'POST', body: JSON.stringify({ brand: BRAND }) })).json()).runs[0].pruned).toBe(0);
  });
});
