import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import knex from 'knex';
import { ControllableClock } from '../domain/billrun/index.ts';
import { parseReferenceFile } from '../domain/reference/index.ts';
import { publishReference } from '../contracts/reference.ts';
import { BatchProducer } from '../runtime/kafka.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { silentLogger } from '../runtime/log.ts';
import { startBillRun, type BillRunReport, type RunningBillRun } from '../services/billrun/index.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics } from '../topics/catalog.ts';
import { testConfig, testKafka, uniqueSuffix } from './helpers.ts';

// Bill runs in small transactions on the real stack: a subscription whose billing fails at the
// database is held with the reason while the rest of its brand bills; two instances at once
// bill every due subscription exactly once, numbered without a gap; a stop ends between
// transactions and the next run bills the rest.
const run = uniqueSuffix();
const config = testConfig('billrun-scale');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const db = knex({ client: 'pg', connection: config.postgres.url, pool: { min: 0, max: 2 } });
const clock = new ControllableClock(Date.UTC(2026, 1, 1));
const started: RunningBillRun[] = [];
const brands = { held: `t${run}-hd`, pair: `t${run}-pr`, stop: `t${run}-st` };
const counts = { held: 12, pair: 400, stop: 600 };
const trigger = `billrun_test_refuse_${run}`;

// Anchored 15 January 00:00 UTC; bills at 00:00 UTC; since 1 February: only period 1 (15 February) is billed.
const ANCHOR = '2026-01-15T00:00:00Z';
const sub = (brand: string, i: number) => `${brand}-sub-${String(i).padStart(4, '0')}`;

async function publishBrands(): Promise<void> {
  const address = { line1: '1 Test Street', line2: null, city: 'Testville', region: 'NY', postalCode: '10001', country: 'US' };
  const codes = Object.values(brands);
  const parsed = parseReferenceFile({
    parentCompany: 'ansr-group',
    brands: codes.map((code) => ({ code, parentCompany: 'ansr-group', name: `Brand ${code}`, country: 'US', currency: 'USD', timeZone: 'UTC', billingHour: 0, taxRegime: 'none', gateway: 'manual', roundingMode: 'half_up', usageProducts: { LCA: `${code}-lca` } })),
    plans: codes.map((code) => ({ planId: `${code}-plan`, version: 1, owner: code, name: 'Flat', currency: 'USD', monthlyFee: '10.00', trialDays: 0, grants: [], priceModels: [], numberAllotment: 1 })),
    subscriptions: (Object.keys(brands) as (keyof typeof brands)[]).flatMap((k) =>
      Array.from({ length: counts[k] }, (_, i) => ({ subscriptionId: sub(brands[k], i), brand: brands[k], accountId: `${brands[k]}-acct-${i}`, planId: `${brands[k]}-plan`, planVersion: 1, anchor: ANCHOR, status: 'active' })),
    ),
    customers: (Object.keys(brands) as (keyof typeof brands)[]).flatMap((k) =>
      Array.from({ length: counts[k] }, (_, i) => ({ accountId: `${brands[k]}-acct-${i}`, brand: brands[k], name: `Customer ${i}`, email: `c${i}@example.com`, country: 'US', region: 'NY', postalAddress: address })),
    ),
    numbers: [],
    ratingRules: [],
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.error.slice(0, 3)));
  const producer = await BatchProducer.connect(kafka);
  await publishReference(parsed.value, producer, serde);
  await producer.stop();
}

async function billRun(brand: string, groupSize: number): Promise<RunningBillRun> {
  const service = await startBillRun(config, { kafka, serde, logger: silentLogger, clock }, { intervalMs: 0, brands: [brand], groupSize, settings: { since: new Date('2026-02-01T00:00:00Z') }, usageDrainMs: 600_000 });
  started.push(service);
  return service;
}

/** The brand's invoices as stored: one per subscription and period, and their sequence numbers in order. */
async function stored(brand: string) {
  const rows: { subscription_id: string; period_index: number; invoice_number: string; total: string }[] = await db('billrun.invoices').where({ brand }).orderBy('invoice_number');
  return {
    count: rows.length,
    subscriptions: new Set(rows.map((r) => r.subscription_id)).size,
    numbers: rows.map((r) => Number(r.invoice_number.split('-').at(-1))),
    periods: [...new Set(rows.map((r) => r.period_index))],
    totals: [...new Set(rows.map((r) => Number(r.total).toFixed(2)))],
  };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const invoicedIds = (reports: BillRunReport[]) => reports.flatMap((r) => r.brands.flatMap((b) => b.invoiced.map((i) => i.subscriptionId)));

beforeAll(async () => {
  await applyTopics(kafka, serde, allTopics(Object.values(brands)));
  await publishBrands();
  clock.set(Date.parse('2026-02-15T12:00:00Z'));
}, 120_000);

afterAll(async () => {
  for (const s of started) await s.stop().catch(() => undefined);
  await db.raw(`drop trigger if exists ${trigger} on billrun.invoices`).catch(() => undefined);
  await db.raw(`drop function if exists billrun.${trigger}()`).catch(() => undefined);
  await db.destroy();
});

describe('bill runs in small transactions', () => {
  it('a subscription whose invoice the database refuses is held with the reason; the rest of its brand bills, gaplessly; the next run bills it', { timeout: 180_000 }, async () => {
    const bad = sub(brands.held, 5);
    // A real PostgreSQL error on that subscription's invoice row (in the middle of a group of 4).
    await db.raw(`create function billrun.${trigger}() returns trigger language plpgsql as $$
      begin if new.subscription_id = '${bad}' then raise exception 'refused by the test trigger for %', new.subscription_id; end if; return new; end $$`);
    await db.raw(`create trigger ${trigger} before insert on billrun.invoices for each row execute function billrun.${trigger}()`);
    const service = await billRun(brands.held, 4);
    const first = await service.runNow();
    expect(first.failed).toEqual([]);
    expect(first.brands[0]!.held).toEqual([{ subscriptionId: bad, periodIndex: 1, code: 'billing_failed', message: expect.stringContaining(`refused by the test trigger for ${bad}`) }]);
    expect(first.invoices).toBe(counts.held - 1);
    const hold: { code: string; message: string; period_index: number } | undefined = await db('billrun.holds').where({ subscription_id: bad }).first();
    expect(hold).toMatchObject({ code: 'billing_failed', period_index: 1, message: expect.stringContaining('refused by the test trigger') });
    // Every other subscription billed once, period 1, 10.00, numbered 1..11 without a gap.
    expect(await stored(brands.held)).toEqual({ count: counts.held - 1, subscriptions: counts.held - 1, numbers: range(counts.held - 1), periods: [1], totals: ['10.00'] });

    // The same run again: only the held subscription is due, and it fails again (still held, nothing else billed).
    const again = await service.runNow();
    expect(again.invoices).toBe(0);
    expect(again.brands[0]!.held.map((h) => h.subscriptionId)).toEqual([bad]);

    // The fault is gone: the next run bills it, number 12, and the hold is cleared.
    await db.raw(`drop trigger ${trigger} on billrun.invoices`);
    const fixed = await service.runNow();
    expect(fixed.brands[0]!.invoiced).toMatchObject([{ subscriptionId: bad, periodIndex: 1, invoiceNumber: `${brands.held.toUpperCase()}-000012`, total: '10.00' }]);
    expect(fixed.held).toBe(0);
    expect(await db('billrun.holds').where({ subscription_id: bad }).first()).toBeUndefined();
    expect((await service.runNow()).invoices).toBe(0); // nothing due: nothing billed
    const next: { period_index: number; due_at: Date } = await db('billrun.next_billings').where({ subscription_id: bad }).first();
    expect({ period: next.period_index, dueAt: next.due_at.toISOString() }).toEqual({ period: 2, dueAt: '2026-03-15T00:00:00.000Z' });
  });

  it('two instances billing one brand at once bill every due subscription exactly once, numbered without a gap', { timeout: 180_000 }, async () => {
    const [a, b] = [await billRun(brands.pair, 20), await billRun(brands.pair, 20)];
    const reports = await Promise.all([a.runNow(), b.runNow()]);
    for (const r of reports) expect(r.failed).toEqual([]);
    console.log(`[billrun-scale] two instances: ${reports.map((r) => r.invoices).join(' + ')} invoices`);
    const ids = invoicedIds(reports);
    expect(ids.length).toBe(counts.pair);
    expect(new Set(ids).size).toBe(counts.pair);
    expect(await stored(brands.pair)).toEqual({ count: counts.pair, subscriptions: counts.pair, numbers: range(counts.pair), periods: [1], totals: ['10.00'] });
    // Both again at once: nothing is due.
    const repeat = await Promise.all([a.runNow(), b.runNow()]);
    expect(repeat.map((r) => r.invoices)).toEqual([0, 0]);
    // A month later, both at once again: period 2 for each, numbers 401..800.
    clock.set(Date.parse('2026-03-15T12:00:00Z'));
    const march = await Promise.all([a.runNow(), b.runNow()]);
    expect(new Set(invoicedIds(march)).size).toBe(counts.pair);
    expect(invoicedIds(march).length).toBe(counts.pair);
    const after = await stored(brands.pair);
    expect({ count: after.count, subscriptions: after.subscriptions, numbers: after.numbers, periods: after.periods }).toEqual({ count: 2 * counts.pair, subscriptions: counts.pair, numbers: range(2 * counts.pair), periods: [1, 2] });
    clock.set(Date.parse('2026-02-15T12:00:00Z'));
  });

  it('a stop during a run ends between transactions; what committed is whole, and the next run bills the rest exactly once', { timeout: 180_000 }, async () => {
    const first = await billRun(brands.stop, 10);
    const running = first.runNow();
    // Stop as soon as the first invoices are committed.
    for (;;) {
      const n = Number((await db('billrun.invoices').where({ brand: brands.stop }).count({ n: '*' }))[0]!.n);
      if (n > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await first.stop();
    const stopped = await running;
    const partial = await stored(brands.stop);
    console.log(`[billrun-scale] stopped after ${partial.count} of ${counts.stop} invoices`);
    // What the report says it billed is exactly what committed, numbered 1..n.
    expect(stopped.invoices).toBe(partial.count);
    expect(partial.numbers).toEqual(range(partial.count));
    expect(partial.count).toBeLessThan(counts.stop);
    expect(stopped.failed).toEqual([{ brand: brands.stop, error: expect.stringContaining('the service stopped after') }]);
    const second = await billRun(brands.stop, 10);
    const rest = await second.runNow();
    expect(rest.failed).toEqual([]);
    expect(rest.invoices).toBe(counts.stop - partial.count);
    expect(await stored(brands.stop)).toEqual({ count: counts.stop, subscriptions: counts.stop, numbers: range(counts.stop), periods: [1], totals: ['10.00'] });
  });
});
