import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import knex from 'knex';
import { ControllableClock } from '../domain/billrun/index.ts';
import type { CdrRawRecord } from '../contracts/records.ts';
import type { InvoiceEvent } from '../contracts/invoice.ts';
import { BatchProducer, runBatchConsumer, standardHeaders, type RunningConsumer } from '../runtime/kafka.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import { silentLogger } from '../runtime/log.ts';
import { systemClock } from '../runtime/time.ts';
import type { RunningService } from '../runtime/service.ts';
import { startPipeline } from '../services/all.ts';
import { startCatalog, type RunningCatalog } from '../services/catalog/index.ts';
import { startBillRun, type RunningBillRun } from '../services/billrun/index.ts';
import { startPlanSwapRerating, type PlanSwapRecord } from '../services/drawdown/swaps.ts';
import type { RerateReport } from '../services/drawdown/rerate.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, brandTopics, topics, valueSubject } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { numberFor } from './support/small-brand.ts';
import { deadLettersOf, publish } from './support/notify-fixtures.ts';
import { publishTestKeys, withKey, type TestKey } from './support/api-keys.ts';

const run = uniqueSuffix();
const brand = `s${run}`;
const adminKey = `swap-admin-key-${run}-0123456789abcdef`;
const source = `swap-${run}`;
const number = numberFor(run);
const sub = `${brand}-sub`;
const config = testConfig('plan-swap');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const db = knex({ client: 'pg', connection: config.postgres.url, pool: { min: 0, max: 2 } });
// New York, bill run at 02:00 local. Anchored 2026-03-01 local: March is 05:00Z to 2026-04-01T04:00Z
// (EDT from March 8) and its bill run is due 2026-04-01 02:00 EDT = 06:00Z. The swap comes two
// minutes before it.
const catalogClock = new ControllableClock(Date.parse('2026-04-01T05:58:00Z'));
const billClock = new ControllableClock(Date.parse('2026-04-01T06:00:00Z'));
let catalog: RunningCatalog;
let pipeline: RunningService;
let swaps: RunningService;
let billRun: RunningBillRun;
let reader: RunningConsumer;
const invoices: InvoiceEvent[] = [];
const swapEvents: PlanSwapRecord[] = [];
const rerated: { swap: PlanSwapRecord; report: RerateReport }[] = [];
let brandKey: TestKey;

async function api(method: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${catalog.apiUrl}${path}`, { method, headers: { 'x-api-key': adminKey, ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown>, headers: res.headers };
}
async function ok(method: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await api(method, path, body);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json;
}

/** 4-minute calls on March 2 onwards, one an hour. */
async function sendCalls(from: number, count: number): Promise<void> {
  const producer = await BatchProducer.connect(kafka);
  const encode = serde.encoder<CdrRawRecord>(await serde.register(valueSubject(topics.cdrRaw.name), loadSchema('cdr.raw')));
  const records = Array.from({ length: count }, (_, k) => {
    const i = from + k;
    const start = Date.parse('2026-03-02T15:00:00Z') + i * 3_600_000;
    const cdr: CdrRawRecord = { source, cdrId: `call-${i}`, callingNumber: '+12125550123', calledNumber: number, usageType: 'LCA', startTime: start, endTime: start + 240_000, durationSeconds: 240, attributes: {}, receivedAt: null };
    return { key: `${source}/${cdr.cdrId}`, value: encode(cdr), headers: standardHeaders({ eventId: cdr.cdrId }) };
  });
  // Small sends: the calls keep arriving while the swap is taken and re-rated.
  for (let i = 0; i < records.length; i += 10) await producer.send({ [topics.cdrRaw.name]: records.slice(i, i + 10) });
  await producer.stop();
}

/** Each call's latest rating version in drawdown: what the final version charges. */
async function finalCharges(): Promise<{ event_id: string; rating_version: number; included_seconds: string; overage_seconds: string; amount: string; removed: boolean }[]> {
  const { rows } = await db.raw(`select distinct on (event_id) event_id, rating_version, included_seconds, overage_seconds, amount, removed from drawdown.charges where subscription_id = ? order by event_id, rating_version desc`, [sub]);
  return rows;
}

beforeAll(async () => {
  await applyTopics(kafka, serde, allTopics([brand]));
  [brandKey] = (await publishTestKeys(kafka, serde, [{ brand }])) as [TestKey];
  reader = await runBatchConsumer(kafka, {
    groupId: `swap-reader-${run}`,
    topics: [brandTopics(brand).invoices.name, topics.planSwaps.name],
    handle: async (records) => {
      for (const r of records) {
        // The topics are shared: other runs' records, poison included, are skipped.
        let value: unknown;
        try {
          await serde.prepare([r.value]);
          value = serde.decode(r.value!);
        } catch {
          continue;
        }
        if (r.topic === topics.planSwaps.name) {
          const swap = value as PlanSwapRecord;
          if (swap.brand === brand) swapEvents.push(swap);
        } else invoices.push(value as InvoiceEvent);
      }
    },
  });
  catalog = await startCatalog(config, { kafka, serde, logger: silentLogger, clock: catalogClock }, { parentCompany: 'ansr-group', adminKey, outboxPollMs: 200, trialSweepMs: 0 });
}, 120_000);

afterAll(async () => {
  await billRun?.stop();
  await swaps?.stop();
  await pipeline?.stop();
  await catalog?.stop();
  await reader?.stop();
  await db.destroy();
});

describe('plan swap: usage flowing, re-rated on the new plan, billed once', () => {
  it('a swap two minutes before the bill run re-rates March while calls arrive; every call charged once in its final version; the invoice is the hand-worked amount on the new plan', { timeout: 400_000 }, async () => {
    await ok('PUT', `/brands/${brand}`, {
      name: 'Swap Answering', country: 'US', currency: 'USD', timeZone: 'America/New_York', billingHour: 2, taxRegime: 'none',
      gateway: 'manual', roundingMode: 'half_up', usageProducts: { LCA: `${brand}-lca` }, paymentTermsDays: 15, planSwap: { feePolicy: 'full' },
    });
    const plan = (id: string, fee: string, minutes: number, overage: string) =>
      ok('PUT', `/plans/${brand}-${id}`, { owner: brand, name: id, currency: 'USD', monthlyFee: fee, grants: [{ bucketId: `${id}-lca`, usageType: 'LCA', seconds: minutes * 60, priority: 1 }], priceModels: [{ usageType: 'LCA', kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice: overage }] }], numberAllotment: 1 });
    await plan('basic-500', '20.00', 500, '0.10');
    await plan('pro-1000', '35.00', 1000, '0.08');
    await ok('PUT', `/rating-rules/${brand}-lca`, { companyId: brand, usageType: 'LCA', effectiveFrom: '2026-01-01T00:00:00Z', freeSeconds: 0, freeMode: 'grace', minimumSeconds: 60, initialIncrement: { seconds: 60, rounding: 'up' }, mainIncrement: { seconds: 60, rounding: 'up' }, unit: 'minute' });
    await ok('PUT', `/customers/${brand}-acct`, { brand, name: 'Hudson Dental', email: 'ap@hudson.example', country: 'US', region: 'NY', postalAddress: { line1: '1 Hudson St', city: 'New York', region: 'NY', postalCode: '10013', country: 'US' } });
    await ok('PUT', `/subscriptions/${sub}`, { accountId: `${brand}-acct`, planId: `${brand}-basic-500`, anchor: '2026-03-01T05:00:00Z', status: 'active' });
    await ok('PUT', `/numbers/${encodeURIComponent(number)}`, { brand });
    await ok('POST', `/numbers/${encodeURIComponent(number)}/assign`, { subscriptionId: sub, effectiveFrom: '2026-03-01T05:00:00Z' });

    const deps = { kafka, serde, logger: silentLogger, clock: systemClock };
    pipeline = await startPipeline(config, deps);
    swaps = await startPlanSwapRerating(config, deps, { groupId: `plan-swaps-${run}`, onRerated: (swap, report) => swap.brand === brand && rerated.push({ swap, report }) });
    billRun = await startBillRun(config, { ...deps, clock: billClock }, { intervalMs: 0, brands: [brand], settings: { since: new Date('2026-03-15T00:00:00Z') }, usageDrainMs: 600_000 });

    // 150 calls of 4 minutes (600 min) on basic-500: 500 included, 100 over at 0.10 = 10.00.
    await sendCalls(0, 150);
    await eventually('150 calls charged on basic-500', async () => ((await finalCharges()).length === 150 ? true : undefined), 180_000);
    const before = await finalCharges();
    expect(before.reduce((s, r) => s.plus(r.amount), new Decimal(0)).toFixed(2)).toBe('10.00');

    // 25 more calls (100 min) flow while the swap is taken: the same request twice, one key.
    const flowing = sendCalls(150, 25);
    const request = { planId: `${brand}-pro-1000`, periodStart: '2026-03-01T05:00:00Z' };
    const first = await api('POST', `/subscriptions/${sub}/plan-swap`, request, { 'idempotency-key': `swap-${run}` });
    const again = await api('POST', `/subscriptions/${sub}/plan-swap`, request, { 'idempotency-key': `swap-${run}` });
    await flowing;
    expect(first.status).toBe(200);
    expect(first.json.swap).toMatchObject({ fromPlanId: `${brand}-basic-500`, toPlanId: `${brand}-pro-1000`, periodStart: '2026-03-01T05:00:00.000Z', changeAt: '2026-03-01T05:00:00.000Z', feePolicy: 'full', billRunAt: '2026-04-01T06:00:00.000Z' });
    expect([again.status, again.headers.get('idempotent-replayed'), again.json]).toEqual([200, 'true', first.json]);
    // Asked again without the key: already on the plan, nothing swapped.
    expect((await api('POST', `/subscriptions/${sub}/plan-swap`, request)).json.swap).toBeNull();
    // A plan the brand does not have is not eligible.
    const foreign = await api('POST', `/subscriptions/${sub}/plan-swap`, { planId: 'no-such-plan' });
    expect(foreign.status).toBe(422);

    // Once March is re-rated, 25 more calls (100 min) are charged live on the re-rated state.
    await eventually('the swap re-rated', () => (rerated.some((r) => r.report.committed) ? true : undefined), 240_000);
    // The swap's replay read one partition of usage.resolved: its account's.
    expect(rerated.find((r) => r.report.committed)!.report.replayedPartitions).toHaveLength(1);
    await sendCalls(175, 25);

    // Every call charged exactly once in its final version, all on pro-1000: 800 min within 1,000, no overage.
    const final = await eventually('200 calls, the March period re-rated on pro-1000', async () => {
      const rows = await finalCharges();
      const overage = rows.reduce((s, r) => s + Number(r.overage_seconds), 0);
      return rows.length === 200 && overage === 0 && rerated.some((r) => r.report.committed) ? rows : undefined;
    }, 240_000);
    expect(final.filter((r) => r.removed)).toEqual([]);
    expect(final.reduce((s, r) => s + Number(r.included_seconds), 0)).toBe(800 * 60);
    expect(final.reduce((s, r) => s.plus(r.amount), new Decimal(0)).toFixed(2)).toBe('0.00');
    expect(new Set(final.map((r) => r.event_id)).size).toBe(200);
    // Each call charged live once (version 1); those charged after the re-rating (the last 25 at
    // least) have no later version: charged on pro-1000's re-rated buckets, without overage.
    const live = (await db('drawdown.charges').where({ subscription_id: sub, rating_version: 1 }).count({ n: '*' }))[0] as { n: string };
    expect(Number(live.n)).toBe(200);
    expect(final.filter((r) => r.rating_version === 1).length).toBeGreaterThanOrEqual(25);
    // One swap event for the two requests (the reader may lag the plan-swaps stage).
    await eventually('the swap event read', () => (swapEvents.length > 0 ? true : undefined));
    expect(swapEvents.map((s) => s.eventId)).toEqual([`swap:${sub}:2`]);

    // The bill run at 06:00Z bills March in its latest rating version, on pro-1000: April's fee in
    // advance 35.00; March in arrears: the old fee credited −20.00, the new one charged 35.00 (full
    // policy: the whole period); the usage as pro-1000 charged it: 200 calls, 800 min, all 800
    // included (1,000 granted), no overage line, and no re-rating adjustment (March was never
    // billed, so the difference is inside its lines): 35 − 20 + 35 + 0 = 50.00.
    const report = await billRun.runNow();
    expect(report.held).toBe(0);
    const billed = report.brands[0]!.invoiced;
    expect(billed).toHaveLength(1);
    expect(billed[0]).toMatchObject({ periodIndex: 1, total: '50.00', currency: 'USD' });
    const invoice = await eventually('the invoice on the brand topic', () => invoices.find((i) => i.invoiceId === billed[0]!.invoiceId));
    const lines = Object.fromEntries(invoice.lines.map((l) => [l.lineId, (l.amount as Decimal).toFixed(2)]));
    expect(lines).toEqual({ fee: '35.00', 'proration:change-1:credit': '-20.00', 'proration:change-1:charge': '35.00' });
    expect(invoice.lines.find((l) => l.lineId === 'fee')!.description).toContain('pro-1000');
    expect(invoice.lines.filter((l) => l.kind === 'adjustment' || l.kind === 'usage')).toEqual([]);
    const summary = invoice.usageSummaries.map((u) => [u.usageType, u.calls, (u.billableUnits as Decimal).toFixed(), (u.includedUnits as Decimal).toFixed(), (u.overageUnits as Decimal).toFixed(), (u.amount as Decimal).toFixed(2)]);
    expect(summary).toEqual([['LCA', 200, '800', '800', '0', '0.00']]);
    expect(invoice.notes).toEqual([`Plan changed from basic-500 to pro-1000 from 2026-03-01`]);
    // The customer's document states the swap and shows pro-1000's included minutes.
    const html = await (await fetch(`${billRun.apiUrl}/invoices/${encodeURIComponent(invoice.invoiceId)}.html`, { headers: withKey(brandKey) })).text();
    expect(html).toContain('<p class="note">Plan changed from basic-500 to pro-1000 from 2026-03-01</p>');
    expect(html).toMatch(/<td>LCA<\/td><td class="num">200<\/td><td class="num">800 min<\/td><td class="num">800 min<\/td><td class="num">0 min<\/td><td class="num">\$0\.00<\/td>/);
    expect(html).not.toContain('Re-rating');
    // Every March row is on this invoice: each call's version 1 and its re-rated version, and the differences.
    const open = await db('billrun.charges').where({ subscription_id: sub }).whereNull('invoice_id').count({ n: '*' });
    expect(Number((open[0] as { n: string }).n)).toBe(0);
    const settled = await db('billrun.charges').where({ subscription_id: sub, settles: true }).count({ n: '*' });
    expect(Number((settled[0] as { n: string }).n)).toBe(200);

    // After the cut-off, a swap of March is refused.
    catalogClock.set(Date.parse('2026-04-01T06:00:01Z'));
    const late = await api('POST', `/subscriptions/${sub}/plan-swap`, { planId: `${brand}-basic-500`, periodStart: '2026-03-01T05:00:00Z' });
    expect([late.status, late.json.error]).toEqual([409, 'swap_after_cutoff']);
  });

  it('dead-letters garbage, a null value and an unknown schema id on subscription.plan-swaps, and re-rates the swap behind them (delivered again: nothing to change)', { timeout: 120_000 }, async () => {
    const dead = await deadLettersOf(kafka, topics.deadLetter.name, 'plan-swaps', topics.planSwaps.name);
    const unknownSchema = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0x02]), Buffer.from('body')]);
    const again = { ...swapEvents[0]!, eventId: `${swapEvents[0]!.eventId}:again` };
    await publish(kafka, serde, topics.planSwaps.name, 'plan-swap', [{ raw: Buffer.from('garbage'), key: sub }, { raw: null, key: sub }, { raw: unknownSchema, key: sub }, { ...again, accountId: again.accountId }]);
    // Earlier runs' dead letters are on the shared topic too: this run's carry its subscription's key.
    const mine = () => dead.records.filter((r) => r.key?.toString() === sub);
    const records = await eventually('three dead letters', () => (mine().length >= 3 ? mine() : undefined), 60_000);
    await dead.stop();
    expect(records.map((r) => r.headers['dlq-error-code']).sort()).toEqual(['not_confluent_avro', 'null_value', 'unknown_schema']);
    const behind = await eventually('the swap behind the poison re-rated', () => rerated.find((r) => r.swap.eventId === again.eventId), 90_000);
    expect([behind.report.committed, behind.report.differences.length]).toEqual([false, 0]);
  });
});
