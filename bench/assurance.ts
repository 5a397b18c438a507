/**
 * `npm run bench:assurance`: how long a day's consistency run takes (services/assurance/run.ts)
 * for B brands, N subscriptions and C CDRs on the real stack. The day's records are synthesized
 * straight onto the topics the run reads, as the chain would have left them clean: cdr.raw and
 * usage.charged (one charge per CDR, 60 s increments at 0.10 a minute, no included minutes), the
 * stages' control totals for the source and the brands, each brand's invoices of the day (the
 * subscriptions whose anniversary it is, a 30.00 fee, numbered without gaps) with a successful
 * payment each. Pushing 1,000,000 CDRs through the four stages would measure the pipeline, not
 * the run (bench/pipeline.ts does that). Prints figures; asserts nothing. See bench/README.md.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Decimal } from 'decimal.js';
import type { InvoiceEvent } from '../contracts/invoice.ts';
import type { PaymentRecord } from '../contracts/payment.ts';
import type { CdrRawRecord, UsageChargedRecord } from '../contracts/records.ts';
import { publishReference } from '../contracts/reference.ts';
import { ControlTally, controlTotalKey } from '../domain/assurance/index.ts';
import { cdrEventId } from '../domain/cdr/dedupe-key.ts';
import { parseReferenceFile } from '../domain/reference/index.ts';
import { toControlTotalRecord, type ControlTotalRecord } from '../runtime/control-totals.ts';
import { BatchProducer, standardHeaders, type OutgoingMessage } from '../runtime/kafka.ts';
import { loadSchema } from '../runtime/serde.ts';
import { consistencyRun } from '../services/assurance/run.ts';
import { applyTopics } from '../topics/apply.ts';
import { connectBench, fmt, say } from './stack.ts';
import { allTopics, brandTopics, topics, valueSubject } from '../topics/catalog.ts';

const { values: args } = parseArgs({
  options: {
    brands: { type: 'string', default: '20' },
    subscriptions: { type: 'string', default: '100000' },
    cdrs: { type: 'string', default: '1000000' },
    'drift-sample': { type: 'string', default: '500' },
    // Skip timing one brand's run alone (what the service does after each brand's bill run).
    'skip-per-brand': { type: 'boolean', default: false },
  },
});
const BRANDS = Number(args.brands);
const N = Number(args.subscriptions);
const CDRS = Number(args.cdrs);
const SAMPLE = Number(args['drift-sample']);
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
const heap = () => `${fmt(process.memoryUsage().rss / 2 ** 20)} MB RSS`;

/** Four markets, all west of or at UTC: calls at 10:00-12:00 UTC fall on the same local day in each. */
const COUNTRIES = [
  { country: 'US', currency: 'USD', timeZone: 'America/New_York' },
  { country: 'GB', currency: 'GBP', timeZone: 'Europe/London' },
  { country: 'CA', currency: 'CAD', timeZone: 'America/Toronto' },
  { country: 'US', currency: 'USD', timeZone: 'America/Los_Angeles' },
];

async function main(): Promise<void> {
  const { config, kafka, serde } = await connectBench('bench-assurance', say);
  const tag = Math.random().toString(36).slice(2, 7);
  const codes = Array.from({ length: BRANDS }, (_, b) => `ba${tag}-${String(b).padStart(2, '0')}`);
  const source = `bench-assurance-${tag}`;
  const countryOf = (b: number) => COUNTRIES[b % COUNTRIES.length]!;
  const subsPerBrand = Math.ceil(N / BRANDS);
  // The day run: today (UTC), so that cdr.raw's arrival day (its record timestamps, now) is the calls' day too.
  const day = new Date().toISOString().slice(0, 10);
  const dayStart = Date.parse(`${day}T00:00:00Z`);
  say('(its records stay on cdr.raw and usage.charged: a pipeline started later on this stack reads through them first; use a scratch stack)');
  say(`assurance benchmark: ${BRANDS} brands (${codes[0]}…), ${fmt(N)} subscriptions, ${fmt(CDRS)} CDRs on ${day}, drift sample ${SAMPLE} a brand; load average ${load()}`);

  // ---------------------------------------------------------------- the day's records (untimed)
  const t0 = Date.now();
  const subscriptions: { subscriptionId: string; brand: string; accountId: string; planId: string; planVersion: number; anchor: string; status: string; b: number; i: number }[] = [];
  for (let b = 0; b < BRANDS; b += 1) {
    for (let i = 0; i < subsPerBrand && subscriptions.length < N; i += 1) {
      // Anchored on the 1st-28th of January: 1 in 28 has its anniversary today (when today is the 1st-28th).
      const anchor = new Date(Date.UTC(2026, 0, 1 + (i % 28), 14)).toISOString();
      subscriptions.push({ subscriptionId: `${codes[b]}-sub-${i}`, brand: codes[b]!, accountId: `${codes[b]}-acct-${i}`, planId: `${codes[b]}-plan`, planVersion: 1, anchor, status: 'active', b, i });
    }
  }
  const parsed = parseReferenceFile({
    parentCompany: 'ansr-group',
    brands: codes.map((code, b) => ({ code, parentCompany: 'ansr-group', name: `Bench ${code}`, country: countryOf(b).country, currency: countryOf(b).currency, timeZone: countryOf(b).timeZone, billingHour: 2, taxRegime: 'none', gateway: 'manual', roundingMode: 'half_up', usageProducts: { LCA: `${code}-lca` } })),
    plans: codes.map((code, b) => ({
      planId: `${code}-plan`, version: 1, owner: code, name: 'Answering', currency: countryOf(b).currency, monthlyFee: '30.00', grants: [],
      priceModels: [{ usageType: 'LCA', kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice: '0.10' }] }],
    })),
    subscriptions: subscriptions.map(({ b: _b, i: _i, ...s }) => s),
    customers: [],
    numbers: [],
    ratingRules: codes.map((code) => ({
      ruleId: `${code}-lca`, version: 1, companyId: code, usageType: 'LCA', effectiveFrom: '2026-01-01T00:00:00Z', freeSeconds: 0, freeMode: 'grace', minimumSeconds: 0,
      initialIncrement: { seconds: 60, rounding: 'up' }, mainIncrement: { seconds: 60, rounding: 'up' }, unit: 'second',
    })),
  });
  if (!parsed.ok) throw new Error(`reference refused: ${JSON.stringify(parsed.error.slice(0, 3))}`);
  await applyTopics(kafka, serde, allTopics(codes));
  const producer = await BatchProducer.connect(kafka);
  await publishReference(parsed.value, producer, serde);

  const encodeRaw = serde.encoder<CdrRawRecord>(await serde.register(valueSubject(topics.cdrRaw.name), loadSchema('cdr.raw')));
  const encodeCharged = serde.encoder<UsageChargedRecord>(await serde.register(valueSubject(topics.usageCharged.name), loadSchema('usage.charged')));
  const encodeControl = serde.encoder<ControlTotalRecord>(await serde.register(valueSubject(topics.controlTotals.name), loadSchema('control-total')));
  const periodStart = Date.UTC(2026, 0, 1); // informative: every charge of the day in one period per subscription is enough here
  const periodEnd = periodStart + 31 * 86_400_000;
  const sourceTally = new ControlTally('drawdown');
  const stage = (name: 'ingest' | 'resolve' | 'rate') => new ControlTally(name);
  const [ingest, resolve, rate] = [stage('ingest'), stage('resolve'), stage('rate')];
  const chunk = 10_000;
  for (let from = 0; from < CDRS; from += chunk) {
    const raw: OutgoingMessage[] = [];
    const charged: OutgoingMessage[] = [];
    for (let k = from; k < Math.min(CDRS, from + chunk); k += 1) {
      const s = subscriptions[k % subscriptions.length]!;
      const cdrId = `c${k}`;
      const start = dayStart + 10 * 3_600_000 + (k % 7_200) * 1000;
      const seconds = 20 + (k % 600);
      const billable = Math.ceil(seconds / 60) * 60;
      const amount = new Decimal(billable / 60).times('0.10');
      const currency = countryOf(s.b).currency;
      const cdr: CdrRawRecord = { source, cdrId, callingNumber: '+12125550123', calledNumber: `+1800${String(k % 10_000_000).padStart(7, '0')}`, usageType: 'LCA', startTime: start, endTime: start + seconds * 1000, durationSeconds: seconds, attributes: {}, receivedAt: null };
      raw.push({ key: `${source}/${cdrId}`, value: encodeRaw(cdr), headers: standardHeaders({ eventId: cdrId }) });
      const eventId = cdrEventId(source, cdrId);
      const charge: UsageChargedRecord = {
        eventId, source, cdrId, callingNumber: cdr.callingNumber, calledNumber: cdr.calledNumber, usageType: 'LCA', startTime: start, endTime: cdr.endTime, durationSeconds: seconds, attributes: {},
        brand: s.brand, accountId: s.accountId, subscriptionId: s.subscriptionId, assignmentId: `asg-${s.subscriptionId}`, productId: `${s.brand}-lca`,
        ratingVersion: 1, ruleId: `${s.brand}-lca`, ruleVersion: 1, billableSeconds: billable, ratedAt: start + seconds * 1000,
        periodStart, periodEnd, planId: s.planId, planVersion: 1, includedSeconds: 0, overageSeconds: billable, draws: [], currency,
        amount, tiers: [{ tier: 1, units: new Decimal(billable / 60), unitPrice: new Decimal('0.10'), amount, seconds: billable, flatFee: new Decimal(0) }], chargedAt: start + seconds * 1000, chargeSequence: 1,
      } as UsageChargedRecord;
      charged.push({ key: s.accountId, value: encodeCharged(charge), headers: standardHeaders({ eventId, brand: s.brand }) });
      for (const t of [ingest, resolve, rate]) t.count('source', source, day, 'in');
      ingest.count('source', source, day, 'accepted');
      resolve.count('source', source, day, 'out');
      rate.count('source', source, day, 'out');
      sourceTally.count('source', source, day, 'in').count('source', source, day, 'charged');
      sourceTally.count('brand', s.brand, day, 'charged').seconds('brand', s.brand, day, 'billable', billable).amount('brand', s.brand, day, 'charged', currency, amount);
    }
    await producer.send({ [topics.cdrRaw.name]: raw, [topics.usageCharged.name]: charged });
  }
  say(`  ${fmt(CDRS)} CDRs and their charges produced in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${heap()}`);

  // Each brand's invoices of the day: the subscriptions whose anniversary it is, fee only, paid.
  const billRun = new ControlTally('bill-run');
  const invoicesOf = new Map<string, { invoices: OutgoingMessage[]; payments: OutgoingMessage[] }>(codes.map((c) => [c, { invoices: [], payments: [] }]));
  const encoders = new Map<string, { invoice: (v: InvoiceEvent) => Buffer; payment: (v: PaymentRecord) => Buffer }>();
  for (const code of codes) {
    encoders.set(code, {
      invoice: serde.encoder<InvoiceEvent>(await serde.register(valueSubject(brandTopics(code).invoices.name), loadSchema('invoice'))),
      payment: serde.encoder<PaymentRecord>(await serde.register(valueSubject(brandTopics(code).payments.name), loadSchema('payment'))),
    });
  }
  const issuedAt = dayStart + 12 * 3_600_000;
  const numbers = new Map<string, number>();
  let invoiceCount = 0;
  for (const s of subscriptions) {
    if (1 + (s.i % 28) !== new Date(dayStart).getUTCDate()) continue;
    const n = (numbers.get(s.brand) ?? 0) + 1;
    numbers.set(s.brand, n);
    const currency = countryOf(s.b).currency;
    const fee = new Decimal('30.00');
    const invoiceId = `inv:${s.subscriptionId}:${day}`;
    const invoice: InvoiceEvent = {
      invoiceId, invoiceNumber: `${s.brand.toUpperCase()}-${String(n).padStart(6, '0')}`, brand: s.brand, accountId: s.accountId, subscriptionId: s.subscriptionId,
      periodStart: issuedAt, periodEnd: issuedAt + 30 * 86_400_000, issuedAt, dueAt: issuedAt + 14 * 86_400_000, currency,
      lines: [{ lineId: `${invoiceId}:fee`, kind: 'fee', description: 'Answering', usageType: null, quantity: new Decimal(1), unitPrice: fee, amount: fee, periodStart: issuedAt, periodEnd: issuedAt + 30 * 86_400_000 }],
      taxes: [], subtotal: fee, taxTotal: new Decimal(0), total: fee, kind: 'recurring', taxPoint: day, usageSummaries: [], usagePeriodStart: null, usagePeriodEnd: null, creditApplied: new Decimal(0), amountDue: fee, notes: [],
    };
    const paymentId = `pay:${invoiceId}`;
    const payment: PaymentRecord = {
      paymentId, invoiceId, brand: s.brand, accountId: s.accountId, attempt: 1, gateway: 'manual', gatewayReference: null, status: 'SUCCEEDED', failureKind: null, failureMessage: null,
      currency, amount: fee, occurredAt: issuedAt + 3_600_000, kind: 'manual', eventId: paymentId, methodLabel: 'Bank transfer', creditBalanceChange: null, creditNoteId: null,
    };
    const out = invoicesOf.get(s.brand)!;
    const encode = encoders.get(s.brand)!;
    out.invoices.push({ key: s.accountId, value: encode.invoice(invoice), headers: standardHeaders({ eventId: invoiceId, brand: s.brand }) });
    out.payments.push({ key: s.accountId, value: encode.payment(payment), headers: standardHeaders({ eventId: paymentId, brand: s.brand }) });
    billRun.count('brand', s.brand, day, 'invoices').amount('brand', s.brand, day, 'invoiced', currency, fee);
    invoiceCount += 1;
  }
  for (const [code, out] of invoicesOf) {
    await producer.send({ [brandTopics(code).invoices.name]: out.invoices, [brandTopics(code).payments.name]: out.payments });
  }
  const now = Date.now();
  const control = [ingest, resolve, rate, sourceTally, billRun].flatMap((t) => t.list().map((e) => ({ ...e.scope, slice: null, figures: e.figures, version: 1, updatedAt: now })));
  await producer.send({ [topics.controlTotals.name]: control.map((t) => ({ key: controlTotalKey(t), value: encodeControl(toControlTotalRecord(t)), headers: standardHeaders({ eventId: `${controlTotalKey(t)}#1`, ...(t.scopeKind === 'brand' ? { brand: t.scope } : {}) }) })) });
  await producer.stop();
  say(`  ${fmt(invoiceCount)} invoices and payments, ${control.length} control totals; records ready after ${((Date.now() - t0) / 1000).toFixed(1)} s; load average ${load()}`);

  // ---------------------------------------------------------------- the runs (timed)
  const timed = async (what: string, brands: string[]) => {
    const started = Date.now();
    const report = await consistencyRun(kafka, serde, { brands, sources: [source], from: day, to: day }, Date.now(), { driftSample: SAMPLE });
    const seconds = (Date.now() - started) / 1000;
    say(`  ${what}: ${seconds.toFixed(1)} s (${fmt(report.checked.cdrs / seconds)} CDRs/s); ${report.verdict}; ${heap()}; load average ${load()}`);
    for (const d of report.discrepancies.slice(0, 5)) say(`    ${d.check} ${d.scope}: expected ${d.expected}, found ${d.found}`);
  };
  await timed(`the day's run, ${BRANDS} brands and the source in one run`, codes);
  if (!args['skip-per-brand']) await timed(`one brand's run (${codes[0]}, the source's ${fmt(CDRS)} CDRs too)`, [codes[0]!]);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
