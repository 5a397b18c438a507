/**
 * `npm run bench:billing`: a daily bill run at scale on the real stack. N subscriptions across
 * B brands (US sales tax, UK VAT, Canadian GST/HST; four zones), every one due on the same day,
 * each with usage of the period billed in arrears; bill-run's own `runNow`, as the scheduler
 * calls it. Then the next run with nothing due, (unless --skip-ageing) an ageing run over the
 * same invoices, and (unless --skip-collection) collection runs charging them through the real
 * Stripe SDK against the local gateway server. Prints figures; asserts nothing. See bench/README.md.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import knex from 'knex';
import { ControllableClock } from '../domain/billrun/index.ts';
import { nthPeriod } from '../domain/periods/index.ts';
import { parseReferenceFile } from '../domain/reference/index.ts';
import { publishReference } from '../contracts/reference.ts';
import type { RuntimeConfig } from '../runtime/config.ts';
import { BatchProducer } from '../runtime/kafka.ts';
import { startAgeing } from '../services/ageing/index.ts';
import { startBillRun } from '../services/billrun/index.ts';
import { migrations as billRunMigrations, SCHEMA as BILLRUN_SCHEMA } from '../services/billrun/schema.ts';
import { migrateService } from '../runtime/db.ts';
import { startCollect } from '../services/collect/index.ts';
import { envSuffix } from '../gateways/registry.ts';
import { startFakeGateway } from '../test/support/fake-gateway/index.ts';
import { applyTopics } from '../topics/apply.ts';
import { connectBench, fmt, say } from './stack.ts';
import { formatSummary, startProfile, summariseProfile, writeProfile } from './profile.ts';
import { allTopics } from '../topics/catalog.ts';

const { values: args } = parseArgs({
  options: {
    subscriptions: { type: 'string', default: process.env.BENCH_SUBSCRIPTIONS ?? '100000' },
    brands: { type: 'string', default: process.env.BENCH_BRANDS ?? '20' },
    'usage-per-subscription': { type: 'string', default: '2' },
    'group-size': { type: 'string', default: process.env.BILLRUN_GROUP_SIZE ?? '200' },
    'skip-ageing': { type: 'boolean', default: false },
    'skip-collection': { type: 'boolean', default: false },
    // Gateway calls in flight at once in the collection run (collect's COLLECT_CONCURRENCY).
    'collect-concurrency': { type: 'string', default: process.env.COLLECT_CONCURRENCY ?? '4' },
    // A reminder for every account: ageing writes each account's step in its own transaction (slow at 100,000).
    'ageing-dunning': { type: 'boolean', default: false },
    // A CPU profile of the daily run's window only (this process: bill-run and its outbox relay), written here and summarised.
    'cpu-prof': { type: 'string' },
  },
});
const N = Number(args.subscriptions);
const BRANDS = Number(args.brands);
const USAGE = Number(args['usage-per-subscription']);
const GROUP = Number(args['group-size']);
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

interface Country {
  country: string;
  currency: string;
  timeZone: string;
  taxRegime: string;
  region: string | null;
  postalCode: string;
}
const COUNTRIES: Country[] = [
  { country: 'US', currency: 'USD', timeZone: 'America/New_York', taxRegime: 'us_sales_tax', region: 'NY', postalCode: '10001' },
  { country: 'GB', currency: 'GBP', timeZone: 'Europe/London', taxRegime: 'uk_vat', region: null, postalCode: 'EC1A 1BB' },
  { country: 'CA', currency: 'CAD', timeZone: 'America/Toronto', taxRegime: 'ca_gst_hst_pst_qst', region: 'ON', postalCode: 'M5H 1A1' },
  { country: 'US', currency: 'USD', timeZone: 'America/Los_Angeles', taxRegime: 'us_sales_tax', region: 'TX', postalCode: '73301' },
];

// Every subscription anchored on the 15th of January (at some hour of that day, brand-local
// morning), billed from 1 February: the run at 2026-02-15 12:00Z bills period 1 of all of them.
const SINCE = new Date('2026-02-01T00:00:00Z');
const BEFORE = Date.parse('2026-02-10T12:00:00Z');
const RUN_AT = Date.parse('2026-02-15T12:00:00Z');
const NEXT_DAY = Date.parse('2026-02-16T12:00:00Z');

async function main(): Promise<void> {
  const { config, logger, kafka, serde } = await connectBench('bench-billing', say);
  const db = knex({ client: 'pg', connection: config.postgres.url, pool: { min: 0, max: 2 } });
  const tag = Math.random().toString(36).slice(2, 7);
  const codes = Array.from({ length: BRANDS }, (_, b) => `bb${tag}-${String(b).padStart(2, '0')}`);
  const countryOf = (b: number) => COUNTRIES[b % COUNTRIES.length]!;
  const subsPerBrand = Math.ceil(N / BRANDS);
  say(`bill-run benchmark: ${fmt(N)} subscriptions across ${BRANDS} brands (${codes[0]}…), ${USAGE} usage records each, groups of ${GROUP}; load average ${load()}`);

  // ---------------------------------------------------------------- reference data and usage (untimed)
  const t0 = Date.now();
  const subscriptions: { subscriptionId: string; brand: string; accountId: string; planId: string; planVersion: number; anchor: string; status: string }[] = [];
  const customers: Record<string, unknown>[] = [];
  for (let b = 0; b < BRANDS; b += 1) {
    const c = countryOf(b);
    for (let i = 0; i < subsPerBrand && subscriptions.length < N; i += 1) {
      const accountId = `${codes[b]}-acct-${i}`;
      // 15 January, 13:00-20:59 UTC: a morning or afternoon in every one of the four zones.
      const anchor = new Date(Date.UTC(2026, 0, 15, 13 + (i % 8), i % 60)).toISOString();
      subscriptions.push({ subscriptionId: `${codes[b]}-sub-${i}`, brand: codes[b]!, accountId, planId: `${codes[b]}-plan`, planVersion: 1, anchor, status: 'active' });
      customers.push({
        accountId, brand: codes[b], name: `Customer ${i}`, email: `c${i}@example.com`, country: c.country, region: c.region,
        postalAddress: { line1: `${i} Main Street`, line2: null, city: 'City', region: c.region, postalCode: c.postalCode, country: c.country },
        // A card on file for every account; one in 20 is declined (insufficient funds) at the gateway.
        defaultPaymentMethod: { gateway: 'stripe', customerRef: `cus_${accountId}`, methodRef: i % 20 === 7 ? 'pm_soft' : 'pm_ok', label: 'Visa ending 4242' },
      });
    }
  }
  const parsed = parseReferenceFile({
    parentCompany: 'ansr-group',
    brands: codes.map((code, b) => {
      const c = countryOf(b);
      return { code, parentCompany: 'ansr-group', name: `Bench ${code}`, country: c.country, currency: c.currency, timeZone: c.timeZone, billingHour: 2, taxRegime: c.taxRegime, gateway: 'stripe', collectionRetryDays: [3], roundingMode: 'half_up', usageProducts: { LCA: `${code}-lca` }, paymentTermsDays: 14, dunningSteps: [{ afterDays: 5, action: 'reminder' }, { afterDays: 30, action: 'suspend' }] };
    }),
    plans: codes.map((code, b) => ({
      planId: `${code}-plan`, version: 1, owner: code, name: 'Answering', currency: countryOf(b).currency, monthlyFee: '30.00', grants: [],
      priceModels: [{ usageType: 'LCA', kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice: '0.10' }] }],
    })),
    subscriptions,
    customers,
    numbers: [],
    ratingRules: [],
  });
  if (!parsed.ok) throw new Error(`reference refused: ${JSON.stringify(parsed.error.slice(0, 3))}`);
  await applyTopics(kafka, serde, allTopics(codes));
  const producer = await BatchProducer.connect(kafka);
  await publishReference(parsed.value, producer, serde);
  await producer.stop();

  // Usage of period 0, stored as bill-run stores usage.charged (its own table, made first on a
  // fresh database; the mediation pipeline's speed is the other benchmark's business).
  await migrateService(db, BILLRUN_SCHEMA, billRunMigrations);
  const brandOf = new Map(parsed.value.brands.map((b) => [b.code, b]));
  let charges = 0;
  const rows: Record<string, unknown[]> = { id: [], brand: [], account: [], sub: [], start: [], end: [], seconds: [], amount: [], currency: [], tiers: [] };
  const flush = async () => {
    if (rows.id!.length === 0) return;
    await db.raw(
      `insert into billrun.charges (event_id, rating_version, brand, account_id, subscription_id, period_start, period_end, usage_type, billable_seconds, included_seconds, overage_seconds, amount, currency, tiers)
       select id, 1, brand, account, sub, st, en, 'LCA', sec, 0, sec, amt, cur, tiers::jsonb from unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::numeric[], ?::text[], ?::text[])
       as u(id, brand, account, sub, st, en, sec, amt, cur, tiers) on conflict do nothing`,
      [rows.id, rows.brand, rows.account, rows.sub, rows.start, rows.end, rows.seconds, rows.amount, rows.currency, rows.tiers] as never,
    );
    for (const k of Object.keys(rows)) rows[k] = [];
  };
  for (const s of subscriptions) {
    const brand = brandOf.get(s.brand)!;
    const period = nthPeriod(new Date(s.anchor), 0, brand.timeZone);
    for (let u = 0; u < USAGE; u += 1) {
      const seconds = 60 * (1 + ((charges * 7) % 23));
      const amount = ((seconds / 60) * 0.1).toFixed(2);
      rows.id!.push(`${s.subscriptionId}-u${u}`);
      rows.brand!.push(s.brand);
      rows.account!.push(s.accountId);
      rows.sub!.push(s.subscriptionId);
      rows.start!.push(period.start.getTime());
      rows.end!.push(period.end.getTime());
      rows.seconds!.push(seconds);
      rows.amount!.push(amount);
      rows.currency!.push(brand.currency);
      rows.tiers!.push(JSON.stringify([{ tier: 1, seconds, unitPrice: '0.10', flatFee: '0', amount }]));
      charges += 1;
    }
    if (rows.id!.length >= 20_000) await flush();
  }
  await flush();
  say(`setup: reference published and ${fmt(charges)} usage records stored in ${fmt((Date.now() - t0) / 1000, 1)} s`);

  // ---------------------------------------------------------------- the bill runs (timed)
  const clock = new ControllableClock(BEFORE);
  const started = Date.now();
  const billrun = await startBillRun(config, { kafka, serde, logger, clock }, { intervalMs: 0, brands: codes, groupSize: GROUP, settings: { since: SINCE }, usageDrainMs: 120_000 });
  say(`bill-run started (reference tables of every brand loaded) in ${fmt((Date.now() - started) / 1000, 1)} s`);
  const timed = async (label: string, at: number, profileTo?: string) => {
    clock.set(at);
    const profiling = profileTo ? await startProfile() : undefined;
    const t = Date.now();
    const report = await billrun.runNow();
    const ms = Date.now() - t;
    if (profiling && profileTo) {
      const profile = await profiling.stop();
      writeProfile(profileTo, profile);
      say(`CPU profile of the daily run written to ${profileTo}:`);
      formatSummary(summariseProfile(profile, 25), say);
    }
    say(
      `${label}: ${fmt(ms / 1000, 2)} s: ${fmt(report.invoices)} invoices, ${report.held} held, ${report.failed.length} brands failed; ` +
        `usage wait ${fmt(report.usageWait.ms / 1000, 2)} s, sync of next billings ${fmt(report.ms.sync / 1000, 2)} s, billing ${fmt(report.ms.bill / 1000, 2)} s` +
        `${report.invoices > 0 ? ` (${fmt(report.invoices / (report.ms.bill / 1000))} invoices/s)` : ''}, publishing ${fmt(report.published)} events ${fmt(report.ms.publish / 1000, 2)} s; load average ${load()}`,
    );
    if (report.failed.length > 0) say(`  failed: ${JSON.stringify(report.failed.slice(0, 3))}`);
    return report;
  };
  await timed('first run after start, nothing due yet (makes the next-billing rows)', BEFORE);
  await timed('daily bill run, every subscription due', RUN_AT, args['cpu-prof']);
  await timed('the next run, nothing due', NEXT_DAY);
  await timed('and again, nothing due', NEXT_DAY + 60_000);
  const [check] = (await db.raw(
    `select count(*)::int as n, count(distinct subscription_id)::int as subs, sum(jsonb_array_length(document->'taxes'))::int as taxes from billrun.invoices where brand = any(?)`,
    [codes],
  )).rows as { n: number; subs: number; taxes: number }[];
  say(`stored: ${fmt(check!.n)} invoices for ${fmt(check!.subs)} subscriptions, ${fmt(check!.taxes)} tax lines`);
  await billrun.stop();

  // ---------------------------------------------------------------- ageing over the same invoices
  if (!args['skip-ageing']) {
    const aClock = new ControllableClock(RUN_AT);
    const pattern = new RegExp(`^brand\\.bb${tag}-\\d+\\.(invoices|payments)$`);
    const t1 = Date.now();
    const ageing = await startAgeing(config, { kafka, serde, logger, clock: aClock }, { intervalMs: 0, topicPattern: pattern, groupId: `bench-ageing-${tag}` });
    for (;;) {
      const [row] = (await db.raw(`select count(*)::int as n from ageing.invoices where brand = any(?)`, [codes])).rows as { n: number }[];
      if (row!.n >= check!.n) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    say(`ageing stored ${fmt(check!.n)} invoices from the brand topics in ${fmt((Date.now() - t1) / 1000, 1)} s`);
    const ageAt = async (label: string, at: number) => {
      aClock.set(at);
      const t = Date.now();
      // This run's brands only (ageing's tables hold every earlier run's too), one after another as a run does.
      let accounts = 0;
      let events = 0;
      for (const code of codes) {
        const report = await ageing.runNow(code);
        accounts += report.brands.reduce((sum, b) => sum + b.accounts, 0);
        events += report.events;
      }
      const ms = Date.now() - t;
      say(`${label}: ${fmt(ms / 1000, 2)} s: ${fmt(accounts)} accounts aged, ${fmt(events)} dunning events; load average ${load()}`);
    };
    await ageAt('ageing run, every invoice open, nothing overdue yet', RUN_AT + 3_600_000);
    if (args['ageing-dunning']) {
      // Payment terms 14 days: due 1 March; day 5 overdue: a reminder for every account.
      await ageAt('ageing run, every invoice 5 days overdue (a reminder each)', Date.parse('2026-03-06T12:00:00Z'));
      await ageAt('ageing run an hour later, nothing new', Date.parse('2026-03-06T13:00:00Z'));
    }
    // Half the invoices settled (what their payment events set, written here directly): a run reads only the open half.
    const paid = await db.raw(
      `update ageing.invoices set settled_at = '2026-02-20T00:00:00Z' where brand = any(?) and right(account_id, 1) in ('0', '2', '4', '6', '8')`,
      [codes],
    );
    say(`(${fmt(paid.rowCount)} invoices marked settled in ageing's table)`);
    await ageAt('ageing run, half of them settled', Date.parse('2026-03-06T14:00:00Z') - (args['ageing-dunning'] ? 0 : 14 * 86_400_000));
    await ageing.stop();
  }

  // ---------------------------------------------------------------- collection over the same invoices
  if (!args['skip-collection']) await collectionRuns(config, { kafka, serde, logger }, db, codes, check!.n, tag);
  await db.destroy();
}

/**
 * Collect stores the invoices from the brand topics (untimed), then its daily run is timed on the
 * day they fall due (every card charged through the real Stripe SDK against the local gateway
 * server in this process, one in 20 declined), the next day (nothing due: the declines wait for
 * their retry day) and on the retry day.
 */
async function collectionRuns(
  config: RuntimeConfig,
  deps: Omit<Parameters<typeof startCollect>[1], 'clock'>,
  db: knex.Knex,
  codes: string[],
  invoices: number,
  tag: string,
): Promise<void> {
  const fake = await startFakeGateway();
  fake.script({ token: 'pm_soft' }, 'soft_decline'); // every time: the retry is declined again
  const env: Record<string, string> = {};
  for (const code of codes) {
    env[`STRIPE_SECRET_KEY_${envSuffix(code)}`] = fake.stripe.secretKey;
    env[`STRIPE_WEBHOOK_SECRET_${envSuffix(code)}`] = fake.stripe.webhookSecret;
    env[`STRIPE_BASE_URL_${envSuffix(code)}`] = fake.url;
  }
  // Payment terms 14 days: the invoices of 15 February fall due on 1 March.
  const clock = new ControllableClock(Date.parse('2026-02-20T12:00:00Z'));
  const t0 = Date.now();
  const collect = await startCollect(config, { ...deps, clock }, {
    intervalMs: 0, env, groupId: `bench-collect-${tag}`, topicPattern: new RegExp(`^brand\\.bb${tag}-\\d+\\.invoices$`), concurrency: Number(args['collect-concurrency']),
  });
  for (;;) {
    const [row] = (await db.raw(`select count(*)::int as n from collect.invoices where brand = any(?)`, [codes])).rows as { n: number }[];
    if (row!.n >= invoices) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  say(`collect stored ${fmt(invoices)} invoices from the brand topics in ${fmt((Date.now() - t0) / 1000, 1)} s`);
  // Collect's own worker decides each invoice it consumes (not due yet: a retry day set); the
  // timed runs start once it has, so that they alone charge.
  const t1 = Date.now();
  for (;;) {
    const [row] = (await db.raw(`select count(*)::int as n from collect.invoices where brand = any(?) and collection = 'due'`, [codes])).rows as { n: number }[];
    if (row!.n === 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  say(`collect's worker decided them (nothing due before 1 March) in ${fmt((Date.now() - t1) / 1000, 1)} s`);
  const run = async (label: string, at: string) => {
    clock.set(Date.parse(at));
    const t = Date.now();
    const cpu = process.cpuUsage();
    let outcomes: Record<string, number> = {};
    let published = 0;
    for (const code of codes) {
      const report = await collect.runNow(code);
      for (const [k, v] of Object.entries(report.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + (v ?? 0);
      published += report.published;
    }
    const ms = Date.now() - t;
    const used = process.cpuUsage(cpu);
    // 'paid': the charge succeeded and settled the invoice; 'charged': a charge made that did not (declined).
    const attempts = (outcomes['paid'] ?? 0) + (outcomes['charged'] ?? 0);
    outcomes = Object.fromEntries(Object.entries(outcomes).sort());
    say(
      `${label}: ${fmt(ms / 1000, 2)} s: ${Object.entries(outcomes).map(([k, v]) => `${k} ${fmt(v)}`).join(', ') || 'nothing due'}` +
        `${attempts > 0 ? ` (${fmt(attempts / (ms / 1000))} gateway charges/s)` : ''}; ${fmt(published)} payment events left for the run to publish; ` +
        `CPU of this process (collect and the gateway server) ${fmt((used.user + used.system) / 1e6, 1)} s; load average ${load()}`,
    );
  };
  await run('collection run, the day the invoices fall due (a card charge each)', '2026-03-01T12:00:00Z');
  await run('collection run the next day, nothing due', '2026-03-02T12:00:00Z');
  await run('collection run on the retry day (the declined cards tried again)', '2026-03-04T12:00:00Z');
  const [paid] = (await db.raw(`select count(*)::int as n from collect.payments where invoice_id in (select invoice_id from collect.invoices where brand = any(?))`, [codes])).rows as { n: number }[];
  say(`stored: ${fmt(paid!.n)} payments; the gateway took ${fmt(fake.requestsTo('POST', '/v1/payment_intents').length)} payment intents`);
  await collect.stop();
  await fake.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
