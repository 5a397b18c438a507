import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import type { Knex } from 'knex';
import { ControllableClock } from '../domain/billrun/index.ts';
import { money } from '../domain/money/index.ts';
import { chargeKey } from '../domain/payments/index.ts';
import { parseReferenceFile, type ReferenceData } from '../domain/reference/index.ts';
import type { InvoiceEvent } from '../contracts/invoice.ts';
import type { PaymentRecord } from '../contracts/payment.ts';
import type { CdrRawRecord, UsageChargedRecord } from '../contracts/records.ts';
import { publishReference } from '../contracts/reference.ts';
import { StripeGateway } from '../gateways/index.ts';
import { createDb } from '../runtime/db.ts';
import { BatchProducer, standardHeaders } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import type { RunningService } from '../runtime/service.ts';
import { systemClock } from '../runtime/time.ts';
import { startPipeline } from '../services/all.ts';
import { startAssurance, type RunningAssurance } from '../services/assurance/index.ts';
import { gatewaysFromEnv } from '../services/assurance/gateways.ts';
import type { ConsistencyReport } from '../services/assurance/run.ts';
import { startBillRun, type RunningBillRun } from '../services/billrun/index.ts';
import { startCollect, type RunningCollect } from '../services/collect/index.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, brandTopics, topics, valueSubject } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { collectOutcomes, type Outcomes } from './support/collect.ts';
import { collectReference, fakeGatewayEnv, publishInvoices, readAll, type BrandSpec } from './support/collect-fixtures.ts';
import { startFakeGateway, type FakeGateway } from './support/fake-gateway/index.ts';
import { deadLettersOf, publish } from './support/notify-fixtures.ts';
import { numberFor } from './support/small-brand.ts';

/**
 * Revenue assurance over the real chain: CDRs through ingest, resolve, rate and drawdown, a bill
 * run, collection through the Stripe SDK against the local gateway, then the consistency run
 * (scheduled by the assurance service after the bill run's figures, and on demand): clean. Then
 * faults planted the way a broken writer would leave them, each found with its ids and nothing else.
 * A second brand (the "store" brand, its own source) loses one charged row from bill-run's own
 * table between its two bill runs: the consistency run finds that charge and that invoice only.
 */
const run = uniqueSuffix();
const brand = `t${run}-ra`;
const source = `assure-chain-${run}`;
const number = numberFor(run);
const accountId = `acct-${brand}`;
const subscriptionId = `sub-${brand}`;
const spec: BrandSpec = { code: brand, gateway: 'stripe', currency: 'USD', timeZone: 'America/New_York', country: 'US', retryDays: [1], steps: [] };
const storeBrand = `t${run}-rb`;
const storeSource = `${source}-b`;
const storeNumber = numberFor([...run].reverse().join(''));
const storeSpec: BrandSpec = { ...spec, code: storeBrand };
/** The store brand's row deleted from billrun.charges before its 1 April bill run. */
let removed: { eventId: string; amount: string; billableSeconds: number } | undefined;
const config = testConfig('assurance-chain');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
// Bill-run and collect live on 1 April 2026 (after the brand's 02:00 New York billing hour); the pipeline on the wall clock.
const clock = new ControllableClock(Date.parse('2026-03-01T13:00:00Z'));
const reportsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rateline-assurance-'));
const today = new Date().toISOString().slice(0, 10); // the UTC day the CDRs arrive on cdr.raw
let fake: FakeGateway;
let pipeline: RunningService;
let billRun: RunningBillRun;
let collect: RunningCollect;
let assurance: RunningAssurance;
let outcomes: Outcomes;
let storeOutcomes: Outcomes;
let db: Knex;
const scheduled: { brand: string; day: string; report: ConsistencyReport }[] = [];

/** The LCA rule, 60 s increments rounded up (the rating-rule fault edits it in place). */
const lcaRule = (code: string, increment = 60) => ({
  ruleId: `${code}-lca`, version: 1, companyId: code, usageType: 'LCA', effectiveFrom: '2026-01-01T00:00:00Z', freeSeconds: 0, freeMode: 'grace', minimumSeconds: 0,
  initialIncrement: { seconds: increment, rounding: 'up' }, mainIncrement: { seconds: increment, rounding: 'up' }, unit: 'second',
});

/**
 * Per brand: one USD brand on Stripe, a 10.00 plan with 120 included LCA seconds and 0.06 a minute
 * beyond, one account, one number. `increment`: the first brand's rule's (the fault edits it).
 */
function reference(increment = 60): ReferenceData {
  const brands = [{ code: brand, number }, { code: storeBrand, number: storeNumber }];
  const parsed = parseReferenceFile({
    parentCompany: 'ansr-group',
    // The plan's, rules' and numbers' owner; the brand's full record (Stripe, branding, terms) comes from collectReference.
    brands: brands.map(({ code }) => ({ code, parentCompany: 'ansr-group', name: `Brand ${code}`, country: 'US', currency: 'USD', timeZone: 'America/New_York', billingHour: 2, taxRegime: 'none', gateway: 'stripe', roundingMode: 'half_up', usageProducts: { LCA: `${code}-lca` } })),
    plans: brands.map(({ code }) => ({
      planId: `${code}-plan`, version: 1, owner: code, name: 'Ten dollars and minutes', currency: 'USD', monthlyFee: '10.00', trialDays: 0,
      grants: [{ bucketId: `${code}-lca`, usageType: 'LCA', seconds: 120, priority: 1 }],
      priceModels: [{ usageType: 'LCA', kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice: '0.06', flatFee: '0' }] }], numberAllotment: 1,
    })),
    subscriptions: brands.map(({ code }) => ({ subscriptionId: `sub-${code}`, brand: code, accountId: `acct-${code}`, planId: `${code}-plan`, planVersion: 1, anchor: '2026-03-01T12:00:00Z', status: 'active' })),
    numbers: brands.map(({ code, number: n }) => ({ number: n, assignments: [{ assignmentId: `asg-${code}`, brand: code, accountId: `acct-${code}`, subscriptionId: `sub-${code}`, effectiveFrom: '2026-03-01T12:00:00Z' }] })),
    ratingRules: brands.map(({ code }) => lcaRule(code, code === brand ? increment : 60)),
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
  const customers = collectReference([spec, storeSpec], [{ accountId, brand: spec, customerRef: `cus_${run}`, methodRef: `pm_${run}` }, { accountId: `acct-${storeBrand}`, brand: storeSpec, customerRef: `cus_${run}b`, methodRef: `pm_${run}b` }]);
  return { ...parsed.value, brands: customers.brands, customers: customers.customers };
}

/**
 * Five calls in March (period 0), in this order on one account's partition: 30, 61, 60, 150 and
 * 45 seconds, rated up to whole minutes: 60, 120, 60, 180, 60 = 480 s. The 120 included seconds
 * go to the first two (60, then 60 of the 120), the rest is overage: 60 + 60 + 180 + 60 = 360 s
 * = 6 minutes × 0.06 = 0.36 USD. Call 3 arrives twice (rejected the second time as a duplicate)
 * and one call is to a number nobody holds (rejected at resolve).
 */
function calls(): CdrRawRecord[] {
  const cdr = (id: string, day: number, seconds: number, calledNumber = number, from = source): CdrRawRecord => {
    const start = Date.UTC(2026, 2, day, 15);
    return { source: from, cdrId: id, callingNumber: '+12125550123', calledNumber, usageType: 'LCA', startTime: start, endTime: start + seconds * 1000, durationSeconds: seconds, attributes: {}, receivedAt: null };
  };
  // The store brand: 30, 61 and 150 s, rated 60, 120 and 180 s (b4 is the one removed from bill-run's store).
  const store = [cdr('b1', 5, 30, storeNumber, storeSource), cdr('b2', 6, 61, storeNumber, storeSource), cdr('b4', 8, 150, storeNumber, storeSource)];
  return [cdr('c1', 5, 30), cdr('c2', 6, 61), cdr('c3', 7, 60), cdr('c4', 8, 150), cdr('c5', 9, 45), cdr('c3', 7, 60), cdr('c-nobody', 9, 20, '+18005550000'), ...store];
}

async function produce(topic: string, schema: string, records: { key: string; value: unknown; eventId: string }[]): Promise<void> {
  const encode = serde.encoder<unknown>(await serde.register(valueSubject(topic), loadSchema(schema)));
  const producer = await BatchProducer.connect(kafka);
  try {
    await producer.send({ [topic]: records.map((r) => ({ key: r.key, value: encode(r.value), headers: standardHeaders({ eventId: r.eventId }) })) });
  } finally {
    await producer.stop();
  }
}

const invoicesOfBrand = async () => (await readAll<InvoiceEvent>(kafka, serde, [brandTopics(brand).invoices.name])).map((r) => r.value);
const metricsText = async () => (await fetch(`${assurance.url}/metrics`)).text();

beforeAll(async () => {
  const t0 = Date.now();
  const step = (what: string) => console.log(`[assurance-chain] ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await applyTopics(kafka, serde, allTopics([brand, storeBrand]));
  const producer = await BatchProducer.connect(kafka);
  await publishReference(reference(), producer, serde);
  await producer.stop();
  fake = await startFakeGateway({ now: () => clock.now() });
  const env = { ...process.env, ...fakeGatewayEnv(fake, [spec], 10_000) };
  const deps = { kafka, serde, logger: silentLogger, clock: systemClock };
  outcomes = await collectOutcomes(kafka, serde, source);
  storeOutcomes = await collectOutcomes(kafka, serde, storeSource);
  db = createDb(config.postgres, { poolMax: 1 });
  pipeline = await startPipeline(config, deps);
  step('pipeline started');
  await produce(topics.cdrRaw.name, 'cdr.raw', calls().map((c) => ({ key: `${c.source}/${c.cdrId}`, value: c, eventId: c.cdrId })));
  await eventually('5 charged and 2 rejected, and the store brand\'s 3 charged', () => (outcomes.charged.size >= 5 && outcomes.rejected.size >= 2 && storeOutcomes.charged.size >= 3 ? true : undefined), 90_000);
  // Figures leave drawdown once a second: stopping flushes them.
  await pipeline.stop();
  step('CDRs charged or rejected');

  // The daily runs of 1 March (the opening invoice: period 0's fee) and 1 April (period 1's fee and March's usage).
  clock.set(Date.parse('2026-03-01T13:00:00Z'));
  billRun = await startBillRun(config, { ...deps, clock }, { intervalMs: 0, brands: [brand, storeBrand], settings: { since: new Date('2026-03-01T00:00:00Z') }, usageDrainMs: 600_000 });
  for (const at of ['2026-03-01T13:00:00Z', '2026-04-01T12:00:00Z']) {
    clock.set(Date.parse(at));
    if (at.startsWith('2026-04')) {
      // The fault: b4's charge, stored by the 1 March run's drain, deleted from bill-run's own table before March's usage is invoiced.
      const b4 = [...storeOutcomes.charged.values()].map(([u]) => u!).find((u) => u.cdrId === 'b4')!;
      expect(await db('billrun.charges').where({ event_id: b4.eventId, invoice_id: null }).delete()).toBe(1);
      removed = { eventId: b4.eventId, amount: new Decimal(b4.amount).toFixed(), billableSeconds: Number(b4.billableSeconds) };
    }
    for (const code of [brand, storeBrand]) {
      const billed = await billRun.runNow(code);
      expect({ failed: billed.failed, invoices: billed.invoices }).toEqual({ failed: [], invoices: 1 });
      step(`bill run of ${at} for ${code}: usage stored in ${(billed.usageWait.ms / 1000).toFixed(1)} s`);
    }
  }
  clock.set(Date.parse('2026-04-01T14:00:00Z'));
  collect = await startCollect(config, { ...deps, clock }, { intervalMs: 0, topicPattern: new RegExp(`^brand\\.${brand}\\.invoices$`), groupId: `collect-${run}`, env });
  await eventually('both invoices stored by collect', async () => ((await invoicesOfBrand()).length >= 2 ? true : undefined), 60_000);
  await eventually('both invoices paid', async () => {
    await collect.runNow();
    await collect.flush();
    const payments = await readAll<PaymentRecord>(kafka, serde, [brandTopics(brand).payments.name]);
    return payments.filter((p) => p.value.status === 'SUCCEEDED').length >= 2 ? true : undefined;
  }, 60_000);
  step('collected');
  // Started last, it finds the bill run's figures on ops.control-totals (a new group reads from the start) and runs once they settle.
  assurance = await startAssurance(config, deps, {
    reportsDir, brands: [brand], groupId: `assurance-${run}`, settleMs: 1000, gatewayFor: gatewaysFromEnv(env),
    onReport: (b, day, report) => {
      step(`consistency run for ${b} ${day}`);
      if (report.scope.from === report.scope.to) scheduled.push({ brand: b, day, report });
    },
  });
  step('assurance started');
}, 300_000);

afterAll(async () => {
  await outcomes?.reader.stop();
  await storeOutcomes?.reader.stop();
  await db?.destroy();
  await pipeline?.stop();
  await collect?.stop();
  await billRun?.stop();
  await assurance?.stop();
  await fake?.close();
  fs.rmSync(reportsDir, { recursive: true, force: true });
});

describe('revenue assurance over the real chain', () => {
  it('runs after the bill run\'s figures settle and reports the day clean, with its report files and metrics', { timeout: 120_000 }, async () => {
    const invoices = await invoicesOfBrand();
    // Period 0's fee (10.00, 1 March) and, on 1 April, period 1's fee with March's usage: 10.00 + 0.36 = 10.36.
    expect(invoices.map((i) => [i.invoiceNumber, i.total.toFixed(2)]).sort()).toEqual([[`${brand.toUpperCase()}-000001`, '10.00'], [`${brand.toUpperCase()}-000002`, '10.36']]);
    const first = await eventually('the scheduled run for the bill-run day', () => scheduled.find((s) => s.brand === brand && s.day === '2026-04-01'), 60_000);
    expect(first.report.discrepancies).toEqual([]);
    expect(first.report.verdict).toMatch(/^clean: /);
    // The invoice issued on 1 April (New York); the opening one of 1 March has its own run.
    expect(first.report.checked.invoices).toBe(1);
    const opening = await eventually('the scheduled run for the opening invoice\'s day', () => scheduled.find((s) => s.day === '2026-03-01'), 60_000);
    expect(opening.report.verdict).toMatch(/^clean: .*, 1 invoices,/);
    expect(first.report.checked.gatewayCharges).toBeGreaterThanOrEqual(1);
    expect(first.report.notes).toEqual([]);
    const json = JSON.parse(fs.readFileSync(path.join(reportsDir, `${brand}-2026-04-01.json`), 'utf8')) as ConsistencyReport;
    expect(json.verdict).toBe(first.report.verdict);
    expect(fs.readFileSync(path.join(reportsDir, `${brand}-2026-04-01.html`), 'utf8')).toContain(first.report.verdict);
    expect(fs.readFileSync(path.join(reportsDir, `${brand}-2026-04-01.pdf`)).subarray(0, 5).toString('latin1')).toBe('%PDF-');
    const metrics = await metricsText();
    expect(metrics).toMatch(/rateline_assurance_runs_total\{verdict="clean",service="assurance"\} [1-9]/);
    expect(metrics).toContain(`rateline_assurance_last_run_timestamp_seconds{brand="${brand}",service="assurance"}`);

    // The whole range on demand, the CDR side included: March's calls and today's arrivals.
    const whole = await assurance.runNow(brand, '2026-03-01', today, [source]);
    expect(whole.discrepancies).toEqual([]);
    expect(whole.checked).toMatchObject({ cdrs: 7, outcomes: 7, charges: 5, invoices: 2 });
    // Five calls for 0.36 and two rejections, per source and day through all four stages; the brand's days at drawdown and bill-run.
    expect(whole.checked.controlTotals).toBeGreaterThanOrEqual(5 * 4 + 2);
    expect(whole.cash).toEqual([{ brand, currency: 'USD', invoiced: '20.36', paid: '20.36', credited: '0.00', toCreditBalance: '0.00', open: '0.00' }]);
  });

  it('finds each planted fault with its ids, and nothing else', { timeout: 120_000 }, async () => {
    const invoices = await invoicesOfBrand();
    const usageInvoice = invoices.find((i) => i.usagePeriodStart !== null)!;
    const live = [...outcomes.charged.values()].map(([u]) => u!);
    const c5 = live.find((u) => u.cdrId === 'c5')!;
    // 1. A charge written straight to usage.charged: no CDR, no control total counts it, no invoice bills it.
    // It draws no included minutes (c5 may have drawn the last of them: a copy of its draws would go past the grant, another finding).
    const planted: UsageChargedRecord = { ...c5, eventId: `planted-${run}`, cdrId: 'planted', amount: new Decimal('1.00'), tiers: c5.tiers.map((t) => ({ ...t, amount: new Decimal('1.00') })), includedSeconds: 0, overageSeconds: c5.billableSeconds, draws: [] };
    await produce(topics.usageCharged.name, 'usage.charged', [{ key: accountId, value: planted, eventId: planted.eventId }]);
    // 2. The usage invoice published again with its usage line raised by 5.00 (totals kept consistent).
    const line = usageInvoice.lines.findIndex((l) => l.kind === 'usage');
    const plus5 = (d: Decimal) => new Decimal(d).plus(5);
    const edited: InvoiceEvent = { ...usageInvoice, lines: usageInvoice.lines.map((l, i) => (i === line ? { ...l, amount: plus5(l.amount) } : l)), subtotal: plus5(usageInvoice.subtotal), total: plus5(usageInvoice.total), ...(usageInvoice.amountDue ? { amountDue: plus5(usageInvoice.amountDue) } : {}) };
    await publishInvoices(kafka, serde, [edited]);
    // 3. A charge taken at the gateway (its dashboard, another tool) that collect never made.
    const stripe = new StripeGateway({ secretKey: fake.stripe.secretKey, webhookSecret: fake.stripe.webhookSecret, baseUrl: fake.url }, { now: () => clock.now() });
    const rogue = await stripe.charge({ idempotencyKey: chargeKey(usageInvoice.invoiceId, 99), invoiceId: usageInvoice.invoiceId, accountId, amount: money('10.36', 'USD'), customerId: `cus_${run}`, token: `pm_${run}` });
    if (rogue.status !== 'succeeded') throw new Error(`the rogue charge did not go through: ${JSON.stringify(rogue)}`);
    // 4. A payment event about an invoice nobody issued.
    const orphan: PaymentRecord = {
      paymentId: `pay-${run}-orphan`, invoiceId: `inv-${run}-none`, brand, accountId, attempt: 1, gateway: 'manual', gatewayReference: null, status: 'SUCCEEDED', failureKind: null, failureMessage: null,
      currency: 'USD', amount: new Decimal('4.00'), occurredAt: clock.now(), kind: 'manual', eventId: `pay-${run}-orphan`, methodLabel: 'Cheque', creditBalanceChange: null, creditNoteId: null,
    };
    await produce(brandTopics(brand).payments.name, 'payment', [{ key: accountId, value: orphan, eventId: orphan.eventId! }]);

    // 5. The brand's LCA rule edited in place (same id, version 1) on ref.rating-rules, where live rating reads it: 30 s increments.
    // Re-rated offline: c1 30 → 30 (live 60), c2 61 → 90 (120), c3 60 → 60 (60), c4 150 → 150 (180), c5 45 → 60 (60): c1, c2 and c4 drift.
    const editedRules = reference(30).ratingRules.filter((r) => r.ruleId === `${brand}-lca`);
    const ruleProducer = await BatchProducer.connect(kafka);
    await publishReference({ parentCompany: 'ansr-group', brands: [], numbers: [], plans: [], subscriptions: [], customers: [], ratingRules: editedRules }, ruleProducer, serde);
    await ruleProducer.stop();
    const drifted = ['c1', 'c2', 'c4'].map((id) => live.find((u) => u.cdrId === id)!.eventId).sort();

    const report = await assurance.runNow(brand, '2026-03-01', today, [source]);
    const found = report.discrepancies.map((d) => [d.check, d.scope, d.ids]);
    expect(found).toEqual([
      ['charge_without_cdr', source, [`planted-${run}`]],
      // Period 0 (from 1 March) charged 0.36 + 1.00 = 1.36, invoiced 0.36.
      // The one charge whose money and seconds the invoice lacks is named beside it.
      ['charged_vs_invoiced', `${brand} ${subscriptionId} 2026-03-01`, [usageInvoice.invoiceId, `planted-${run}`]],
      ['charged_vs_control', `${brand} 2026-03-09`, []],
      ['invoice_changed', brand, [usageInvoice.invoiceId]],
      ['rating_drift', brand, drifted],
      ['payment_without_invoice', brand, [orphan.eventId]],
      ['gateway_charge_unrecorded', expect.stringMatching(new RegExp(`^${brand} stripe `)), [usageInvoice.invoiceId, rogue.reference].sort()],
    ]);
    expect(report.discrepancies.find((d) => d.check === 'charged_vs_invoiced')!.expected).toBe('usage 1.36 USD (charged, 6 calls)');
    // c5 (45 s → 60 s) and the planted copy (1.00) on 9 March. What c5 itself cost depends on
    // which calls drew the included minutes first (their arrival order across partitions is not
    // fixed): 0.06 when it came after them, 0.00 when it drew the last included minute. So the
    // figure is c5's own live charge plus the planted 1.00.
    expect(['0', '0.06']).toContain(new Decimal(c5.amount).toFixed());
    expect(report.discrepancies.find((d) => d.check === 'charged_vs_control')!.found).toBe(`2 calls, 120 s, ${new Decimal(c5.amount).plus('1.00').toFixed(2)} USD on usage.charged`);
    // The planted charge (a copy of c5, rated v1) is in the sample too, and rates as c5 does: it does not drift.
    expect(report.discrepancies.find((d) => d.check === 'rating_drift')!.found).toMatch(/^3 of 6 sampled differ/);
    expect(report.verdict).toMatch(/^7 discrepancies in /);
    const metrics = await metricsText();
    for (const check of ['charge_without_cdr', 'charged_vs_invoiced', 'charged_vs_control', 'invoice_changed', 'rating_drift', 'payment_without_invoice', 'gateway_charge_unrecorded']) {
      expect(metrics).toContain(`rateline_assurance_discrepancies{brand="${brand}",check="${check}",service="assurance"} 1`);
    }
    const published = (await readAll<{ runId: string; check: string; ids: string[] }>(kafka, serde, [topics.discrepancies.name])).filter((r) => r.value.runId === report.runId);
    expect(published.map((r) => r.value.check).sort()).toEqual(['charge_without_cdr', 'charged_vs_control', 'charged_vs_invoiced', 'gateway_charge_unrecorded', 'invoice_changed', 'payment_without_invoice', 'rating_drift']);
  });

  it('finds the charge removed from bill-run\'s store: that charge and that invoice, nothing else', { timeout: 120_000 }, async () => {
    const invoices = (await readAll<InvoiceEvent>(kafka, serde, [brandTopics(storeBrand).invoices.name])).map((r) => r.value);
    const usageInvoice = invoices.find((i) => i.usagePeriodStart !== null)!;
    expect(removed?.billableSeconds).toBe(180);
    const report = await assurance.runNow(storeBrand, '2026-03-01', today, [storeSource]);
    expect(report.discrepancies.map((d) => [d.check, d.scope, d.ids])).toEqual([['charged_vs_invoiced', `${storeBrand} sub-${storeBrand} 2026-03-01`, [usageInvoice.invoiceId, removed!.eventId]]]);
    // 60 + 120 + 180 = 360 s, 120 included, 240 s = 4 minutes × 0.06 = 0.24 whatever the order the calls drew in; b4's own
    // share (0.06 or 0.18, by that order) is what the invoice lacks.
    const d = report.discrepancies[0]!;
    expect([d.expected, d.found]).toEqual(['usage 0.24 USD (charged, 3 calls)', `${new Decimal('0.24').minus(removed!.amount).toFixed(2)} on invoices`]);
    expect(report.checked).toMatchObject({ cdrs: 3, outcomes: 3, charges: 3, invoices: 2 });
  });

  it('dead-letters garbage and an unknown schema id on ops.control-totals, and still runs for the figure behind them', { timeout: 120_000 }, async () => {
    const dead = await deadLettersOf(kafka, topics.deadLetter.name, 'assurance', topics.controlTotals.name);
    const unknownSchema = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0x02]), Buffer.from('body')]);
    const key = `bill-run/brand:${brand}/poison`;
    await publish(kafka, serde, topics.controlTotals.name, 'control-total', [{ raw: Buffer.from('garbage'), key }, { raw: null, key }, { raw: unknownSchema, key }]);
    // The figure behind them: bill-run's for a day of its own (a run on 2 April bills nothing new, so it is planted).
    await produce(topics.controlTotals.name, 'control-total', [{
      key: `bill-run/brand:${brand}/2026-04-02`, eventId: `ct-${run}`,
      value: { stage: 'bill-run', scopeKind: 'brand', scope: brand, day: '2026-04-02', slice: null, counts: {}, seconds: {}, amounts: [], version: 1, updatedAt: Date.now() },
    }]);
    const letters = await eventually('dead letters', () => (dead.records.length >= 2 ? dead.records : undefined), 60_000);
    await dead.stop();
    expect(letters.map((r) => r.headers['dlq-error-code']).sort()).toEqual(expect.arrayContaining(['not_confluent_avro', 'unknown_schema']));
    const next = await eventually('the run for the figure behind the poison', () => scheduled.find((s) => s.day === '2026-04-02'), 60_000);
    // A day with nothing billed: only the earlier plants that are not bound to a day show.
    expect(next.report.discrepancies.map((d) => d.check)).toEqual(['invoice_changed', 'payment_without_invoice']);
  });
});
