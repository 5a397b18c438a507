import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import { DateTime } from 'luxon';
import { generateReference, parseReferenceFile, type ReferenceData, type ReferenceFile, type Subscription } from '../domain/reference/index.ts';
import { ControllableClock } from '../domain/billrun/index.ts';
import { seededRandom } from '../domain/prng.ts';
import { publishReference } from '../contracts/reference.ts';
import type { CdrRawRecord, UsageChargedRecord } from '../contracts/records.ts';
import type { InvoiceEvent } from '../contracts/invoice.ts';
import { BatchProducer, runBatchConsumer, standardHeaders, startGroupAtEnd, type RunningConsumer } from '../runtime/kafka.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import { silentLogger } from '../runtime/log.ts';
import { systemClock } from '../runtime/time.ts';
import type { RunningService } from '../runtime/service.ts';
import { startPipeline } from '../services/all.ts';
import { startBillRun, type RunningBillRun } from '../services/billrun/index.ts';
import { consistencyRun } from '../services/assurance/run.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, brandTopics, topics, valueSubject } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';

const DAY = 86_400_000;
const BRANDS = 20;
const ACCOUNTS_PER_BRAND = 100;
const CALLS_PER_SUBSCRIPTION = 10;
const SIM_START = Date.UTC(2026, 1, 1); // 2026-02-01
const SIM_DAYS = 62;
/** The daily run at 12:00 UTC is after every brand's billing hour (00-05 local) in all six zones, on the same local day. */
const RUN_HOUR_UTC = 12;
const MISSED_DAYS = new Set([10, 11]); // the service was down: day 12 catches up
const RUN_TWICE = 20; // a day run again bills nothing new

const run = uniqueSuffix();
const prefix = `t${run}-`;
const source = `billing-e2e-${run}`;
const config = testConfig('billing-e2e');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const clock = new ControllableClock(SIM_START);
let reference: ReferenceData;
let pipeline: RunningService;
let billRun: RunningBillRun;
let reader: RunningConsumer;
const charged = new Map<string, UsageChargedRecord>();
const invoices = new Map<string, InvoiceEvent[]>();

/** The generated reference set of this run: brand codes (and so every id) carry the run prefix; some trials and cancellations in the window. */
function buildReference(): { data: ReferenceData; cancelledAt: Map<string, number> } {
  const file = JSON.parse(
    JSON.stringify(generateReference({ brands: BRANDS, accountsPerBrand: ACCOUNTS_PER_BRAND, numbersPerAccount: 2, reassignedPerBrand: 0, seed: 11 })).replace(/"b(\d\d)-(us|gb|ca|de|au)/g, `"${prefix}b$1-$2`),
  ) as Omit<ReferenceFile, 'subscriptions'> & { subscriptions: Record<string, unknown>[] };
  // Numbers of this run only (toll-free +1 877, not the generator's prefixes): ref.numbers is
  // keyed by number, and another run's or the benchmark's reference set must not take them over.
  const base = parseInt(run.slice(0, 6), 16) % 9_000_000;
  file.numbers.forEach((n, i) => ((n as { number: string }).number = `+1877${String(base + i).padStart(7, '0')}`));
  const random = seededRandom(5);
  const cancelledAt = new Map<string, number>();
  file.subscriptions = file.subscriptions.map((s) => {
    const roll = random();
    if (roll < 0.05) {
      const at = SIM_START + Math.floor(random() * (SIM_DAYS - 5) * 24) * 3_600_000;
      cancelledAt.set(s['subscriptionId'] as string, at);
      return { ...s, status: 'cancelled', cancelledAt: new Date(at).toISOString() };
    }
    if (roll < 0.1) return { ...s, status: 'trial', trialEndsAt: new Date(SIM_START + Math.floor(random() * 40) * DAY).toISOString() };
    return s;
  });
  const parsed = parseReferenceFile(file);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.error.slice(0, 5)));
  return { data: parsed.value, cancelledAt };
}

/** Calls spread over the 62 days, none after a subscription's cancellation. */
function buildCalls(data: ReferenceData, cancelledAt: Map<string, number>): CdrRawRecord[] {
  const random = seededRandom(9);
  const numbersOf = new Map<string, string[]>();
  for (const n of data.numbers) {
    const sub = n.assignments[0]!.subscriptionId;
    numbersOf.set(sub, [...(numbersOf.get(sub) ?? []), n.number]);
  }
  const cdrs: CdrRawRecord[] = [];
  for (const s of data.subscriptions) {
    const end = Math.min(SIM_START + SIM_DAYS * DAY, cancelledAt.get(s.subscriptionId) ?? Infinity);
    for (let k = 0; k < CALLS_PER_SUBSCRIPTION; k++) {
      const start = SIM_START + Math.floor(random() * (end - SIM_START - 3_600_000));
      const seconds = 20 + Math.floor(random() * 900);
      const usageType = random() < 0.8 ? 'LCA' : random() < 0.5 ? 'CHAT' : 'IVR';
      const numbers = numbersOf.get(s.subscriptionId)!;
      cdrs.push({
        source, cdrId: `${s.subscriptionId}-${k}`, callingNumber: '+12125550123', calledNumber: numbers[k % numbers.length]!, usageType,
        startTime: start, endTime: start + seconds * 1000, durationSeconds: seconds, attributes: {}, receivedAt: null,
      });
    }
  }
  return cdrs;
}

/**
 * What must be billed in the window, worked out apart from domain/periods and domain/billrun:
 * anniversary n is the anchor's local date plus n months (luxon clamps to the month's end,
 * from the anchor each time); billed if due (the billing hour that day) in the window and, after a cancellation,
 * only the first anniversary at or after it.
 */
function expectedKeys(s: Subscription, zone: string, billingHour: number, lastRun: number): string[] {
  const anchorDay = DateTime.fromMillis(s.anchor, { zone }).startOf('day');
  const keys: string[] = [];
  for (let n = 1; n < 30; n++) {
    const day = anchorDay.plus({ months: n });
    const dueRun = Date.UTC(day.year, day.month - 1, day.day, RUN_HOUR_UTC);
    if (s.cancelledAt !== null && s.cancelledAt <= anchorDay.plus({ months: n - 1 }).toMillis()) break;
    if (dueRun > lastRun) break;
    // Billings due before the window are history (the service's `since`).
    if (day.set({ hour: billingHour }).toMillis() >= SIM_START) keys.push(`${s.subscriptionId}#${n}`);
  }
  return keys;
}

const setupStarted = Date.now();
/** Each set-up step prints its time, so a slow or stuck set-up in CI says where the time went. */
const setupStep = (step: string) => console.log(`[billing-e2e setup] ${step} after ${((Date.now() - setupStarted) / 1000).toFixed(1)} s`);

beforeAll(async () => {
  const built = buildReference();
  reference = built.data;
  await applyTopics(kafka, serde, allTopics(reference.brands.map((b) => b.code)));
  const producer = await BatchProducer.connect(kafka);
  setupStep('topics applied');
  await publishReference(reference, producer, serde);
  setupStep('reference published');
  const encode = serde.encoder<CdrRawRecord>(await serde.register(valueSubject(topics.cdrRaw.name), loadSchema('cdr.raw')));
  const cdrs = buildCalls(reference, built.cancelledAt);
  for (let i = 0; i < cdrs.length; i += 5000) {
    await producer.send({ [topics.cdrRaw.name]: cdrs.slice(i, i + 5000).map((c) => ({ key: `${c.source}/${c.cdrId}`, value: encode(c), headers: standardHeaders({ eventId: c.cdrId }) })) });
  }
  await producer.stop();
  setupStep(`${cdrs.length} CDRs produced`);
  const brandCodes = new Set(reference.brands.map((b) => b.code));
  const invoiceTopics = reference.brands.map((b) => brandTopics(b.code).invoices.name);
  // From usage.charged's current end (its charges come once the pipeline starts, below): the
  // shared topic's history, every earlier suite's usage, is not read at all.
  await startGroupAtEnd(kafka, `billing-e2e-reader-${run}`, [topics.usageCharged.name]);
  reader = await runBatchConsumer(kafka, {
    groupId: `billing-e2e-reader-${run}`,
    topics: [topics.usageCharged.name, ...invoiceTopics],
    handle: async (records) => {
      await serde.prepare(records.map((r) => r.value));
      for (const r of records) {
        if (r.topic === topics.usageCharged.name) {
          const usage = serde.decode<UsageChargedRecord>(r.value!);
          if (usage.source === source) charged.set(usage.eventId, usage);
        } else {
          const invoice = serde.decode<InvoiceEvent>(r.value!);
          if (brandCodes.has(invoice.brand)) invoices.set(invoice.invoiceId, [...(invoices.get(invoice.invoiceId) ?? []), invoice]);
        }
      }
    },
  });
  setupStep('reader started');
  pipeline = await startPipeline(config, { kafka, serde, logger: silentLogger, clock: systemClock });
  setupStep('pipeline started');
  let nextProgress = Date.now() + 30_000;
  await eventually(`${cdrs.length} CDRs charged`, () => {
    if (Date.now() > nextProgress) {
      setupStep(`${charged.size} of ${cdrs.length} CDRs charged`);
      nextProgress += 30_000;
    }
    return charged.size >= cdrs.length ? true : undefined;
  }, 600_000);
  setupStep(`${cdrs.length} CDRs charged`);
  billRun = await startBillRun(config, { kafka, serde, logger: silentLogger, clock }, {
    intervalMs: 0,
    brands: [...brandCodes],
    settings: { since: new Date(SIM_START) },
    // The shared broker's usage.charged holds every earlier suite's usage too: the first run
    // stores all of it before billing, however long that takes here.
    usageDrainMs: 600_000,
  });
  setupStep('bill run started');
}, 900_000);

afterAll(async () => {
  await billRun?.stop();
  await pipeline?.stop();
  await reader?.stop();
});

describe(`bill runs end to end: ${BRANDS} brands, ${BRANDS * ACCOUNTS_PER_BRAND} subscriptions, ${SIM_DAYS} simulated days`, () => {
  it('bills every subscription exactly once per period, gaplessly numbered, with the usage.charged records of its period', { timeout: 900_000 }, async () => {
    const brands = new Map(reference.brands.map((b) => [b.code, b]));
    expect(new Set(reference.brands.map((b) => b.currency)).size).toBeGreaterThanOrEqual(3);
    expect(new Set(reference.brands.map((b) => b.taxRegime)).size).toBeGreaterThanOrEqual(3);
    expect(new Set(reference.brands.map((b) => b.timeZone)).size).toBeGreaterThanOrEqual(4);

    const t0 = Date.now();
    let lastRun = 0;
    let late = 0;
    for (let day = 0; day < SIM_DAYS; day++) {
      if (MISSED_DAYS.has(day)) continue;
      lastRun = SIM_START + day * DAY + RUN_HOUR_UTC * 3_600_000;
      clock.set(lastRun);
      const report = await billRun.runNow();
      expect(report.failed).toEqual([]);
      expect(report.usageWait.drained).toBe(true);
      if (day === 0) console.log(`[billing-e2e] the first run stored the topic's usage in ${(report.usageWait.ms / 1000).toFixed(1)} s`);
      expect(report.held).toBe(0);
      if (day === 12) late = report.invoices;
      if (day === RUN_TWICE) {
        const again = await billRun.runNow();
        expect(again.invoices).toBe(0);
      }
    }
    const seconds = (Date.now() - t0) / 1000;

    const expected = reference.subscriptions.flatMap((s) => expectedKeys(s, brands.get(s.brand)!.timeZone, brands.get(s.brand)!.billingHour, lastRun));
    await eventually(`${expected.length} invoices on the brand topics`, () => (invoices.size >= expected.length ? true : undefined), 120_000);
    console.log(`[billing-e2e] ${invoices.size} invoices for ${reference.subscriptions.length} subscriptions over ${SIM_DAYS} days in ${seconds.toFixed(1)} s of bill runs; ${charged.size} charged CDRs; ${late} billed on the catch-up day`);

    // Every call was resolved to this run's subscriptions (its numbers are its own).
    expect([...charged.values()].filter((c) => !c.brand.startsWith(prefix)).map((c) => c.brand)).toEqual([]);
    // Exactly once per period: the billed keys are the expected ones, each published once.
    const all = [...invoices.values()];
    expect(all.filter((list) => list.length > 1)).toEqual([]);
    const billed = all.map(([inv]) => inv!);
    const keyOf = (inv: InvoiceEvent) => {
      const s = reference.subscriptions.find((x) => x.subscriptionId === inv.subscriptionId)!;
      const zone = brands.get(s.brand)!.timeZone;
      const anchorDay = DateTime.fromMillis(s.anchor, { zone }).startOf('day');
      const n = Math.round(DateTime.fromMillis(inv.periodStart, { zone }).diff(anchorDay, 'months').months);
      return `${inv.subscriptionId}#${n}`;
    };
    expect(billed.map(keyOf).sort()).toEqual([...expected].sort());
    expect(late).toBeGreaterThan(0);

    // Gapless per brand: this run's brands start at 1.
    for (const code of brands.keys()) {
      const numbers = billed.filter((i) => i.brand === code).map((i) => Number(i.invoiceNumber.split('-').at(-1))).sort((a, b) => a - b);
      expect(numbers).toEqual(numbers.map((_, i) => i + 1));
    }

    // Each invoice's usage is the usage.charged records of the period it bills in arrears.
    const byPeriod = new Map<string, UsageChargedRecord[]>();
    for (const c of charged.values()) {
      const key = `${c.subscriptionId}@${c.periodStart}`;
      byPeriod.set(key, [...(byPeriod.get(key) ?? []), c]);
    }
    let compared = 0;
    for (const inv of billed) {
      if (inv.usagePeriodStart === null) continue;
      const records = byPeriod.get(`${inv.subscriptionId}@${inv.usagePeriodStart}`) ?? [];
      const types = [...new Set(records.map((r) => r.usageType))].sort();
      expect(inv.usageSummaries.map((u) => u.usageType)).toEqual(types);
      for (const u of inv.usageSummaries) {
        const mine = records.filter((r) => r.usageType === u.usageType);
        expect(u.calls).toBe(mine.length);
        const billable = mine.reduce((sum, r) => sum + r.billableSeconds, 0);
        expect(u.billableUnits.toFixed(6)).toBe(new Decimal(billable).dividedBy(u.unitSeconds).toDecimalPlaces(6, Decimal.ROUND_HALF_EVEN).toFixed(6));
        // Each tier line is rounded once: the invoice's usage may differ from the exact sum by at most half a cent per line.
        const exact = mine.reduce((sum, r) => sum.plus(r.amount), new Decimal(0));
        const lines = inv.lines.filter((l) => l.kind === 'usage' && l.usageType === u.usageType);
        const invoiced = lines.reduce((sum, l) => sum.plus(l.amount), new Decimal(0));
        expect(invoiced.minus(exact).abs().lessThanOrEqualTo(new Decimal('0.005').times(Math.max(lines.length, 1)))).toBe(true);
        compared++;
      }
      // Lines add up to the subtotal, taxes to the tax total, and both to the total.
      expect(inv.lines.reduce((s, l) => s.plus(l.amount), new Decimal(0)).toFixed(2)).toBe(inv.subtotal.toFixed(2));
      expect(inv.subtotal.plus(inv.taxTotal).toFixed(2)).toBe(inv.total.toFixed(2));
    }
    expect(compared).toBeGreaterThan(1000);
  });

  it('passes the consistency run over the whole window, every brand and day: clean', { timeout: 300_000 }, async () => {
    // On demand for the day range: the brands' local days from the window's first (31 January, west of
    // UTC) and the source's arrival days (the wall clock's today) in one run.
    const from = '2026-01-31';
    const to = new Date().toISOString().slice(0, 10);
    const t0 = Date.now();
    const report = await consistencyRun(kafka, serde, { brands: reference.brands.map((b) => b.code), sources: [source], from, to }, clock.now(), { driftSample: 50 });
    console.log(`[billing-e2e] consistency run ${from} to ${to}, ${BRANDS} brands: ${((Date.now() - t0) / 1000).toFixed(1)} s; ${report.verdict}`);
    expect(report.discrepancies).toEqual([]);
    expect(report.verdict).toMatch(/^clean: /);
    expect(report.checked).toMatchObject({ cdrs: charged.size, outcomes: charged.size, charges: charged.size, invoices: invoices.size, rerated: BRANDS * 50 });
  });
});
