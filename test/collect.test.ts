import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import knex from 'knex';
import { ControllableClock } from '../domain/billrun/index.ts';
import { publishReference } from '../contracts/reference.ts';
import { BatchProducer } from '../runtime/kafka.ts';
import { createLogger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { startAgeing, type LifecycleRecord, type RunningAgeing } from '../services/ageing/index.ts';
import { startCollect, type RunningCollect } from '../services/collect/index.ts';
import type { PaymentRecord } from '../services/collect/records.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, brandTopics, topics } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { collectReference, fakeGatewayEnv, invoiceEvent, publishInvoices, readAll, scanForCardNumbers, type AccountSpec, type BrandSpec } from './support/collect-fixtures.ts';
import { startFakeGateway, type FakeGateway } from './support/fake-gateway/index.ts';
import { publishTestKeys, withKey, type TestKey } from './support/api-keys.ts';

const suffix = uniqueSuffix();
const US: BrandSpec = {
  code: `t${suffix}-us`,
  gateway: 'stripe',
  currency: 'USD',
  timeZone: 'America/New_York',
  country: 'US',
  retryDays: [1, 3, 5],
  steps: [
    { afterDays: 3, action: 'reminder' },
    { afterDays: 10, action: 'suspend' },
    { afterDays: 30, action: 'cancel' },
    { afterDays: 90, action: 'write_off' },
  ],
};
const UK: BrandSpec = {
  code: `t${suffix}-uk`,
  gateway: 'paypal',
  currency: 'GBP',
  timeZone: 'Europe/London',
  country: 'GB',
  retryDays: [1, 3],
  steps: [
    { afterDays: 7, action: 'reminder' },
    { afterDays: 14, action: 'suspend' },
    { afterDays: 45, action: 'cancel' },
  ],
};
/** Each scenario its own invoice and account, so that the ageing timeline is per scenario. */
const SCENARIOS = ['ok', 'hard', 'soft', 'timeout', 'hook', 'later'] as const;
type Scenario = (typeof SCENARIOS)[number];
const tag = (b: BrandSpec) => (b === US ? 'us' : 'uk');
const invoiceId = (b: BrandSpec, s: Scenario) => `inv_${suffix}_${tag(b)}_${s}`;
const accountId = (b: BrandSpec, s: Scenario) => `acct_${suffix}_${tag(b)}_${s}`;
const amount = (b: BrandSpec) => (b === US ? '107.25' : '45.60');
const accounts: AccountSpec[] = [US, UK].flatMap((b) =>
  SCENARIOS.map((s) => ({
    accountId: accountId(b, s),
    brand: b,
    customerRef: b === US ? `cus_${suffix}_${s}` : `PPC_${suffix}_${s}`,
    methodRef: b === US ? `pm_${suffix}_${s}` : `VT_${suffix}_${s}`,
  })),
);

const DAY = 86_400_000;
// Day 0 is Monday 2026-01-05 in both zones; the daily runs are at 14:00Z (09:00 New York, 14:00 London).
const START = Date.parse('2026-01-05T14:00:00Z');
const DUE = Date.parse('2026-01-05T13:00:00Z');
const clock = new ControllableClock(START);
const config = testConfig('collect-test');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const logLines: string[] = [];
const logger = createLogger({ service: 'collect-test' }, 'info', (line) => logLines.push(line));
const deps = { kafka, serde, logger, clock };
const db = knex({ client: 'pg', connection: config.postgres.url, pool: { min: 0, max: 2 } });
let fake: FakeGateway;
let collect: RunningCollect;
let ageing: RunningAgeing;
let keys: { parent: TestKey; us: TestKey; uk: TestKey };

/** Calls collect's API, with the parent's key unless `headers` present another (or `x-api-key: ''`: none). */
const http = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}, base = () => collect.apiUrl!) => {
  const all: Record<string, string> = { 'content-type': 'application/json', 'x-api-key': keys.parent.key, ...headers };
  if (all['x-api-key'] === '') delete all['x-api-key'];
  const res = await fetch(`${base()}${path}`, {
    method,
    headers: all,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, text, type: res.headers.get('content-type') ?? '' };
};
const invoiceState = async (id: string) => (await http('GET', `/invoices/${id}`)).json;
/** Ageing has stored every invoice and every payment event collect published for the two brands. */
const ageingCaughtUp = () =>
  eventually('ageing caught up with collect', async () => {
    const brands = [US.code, UK.code];
    // The outbox also carries collect's control totals (ops.control-totals): count the payment events only.
    const payments = () => db('collect.outbox').whereIn('brand', brands).where('topic', 'like', 'brand.%.payments');
    const [published] = await payments().whereNotNull('published_at').count({ n: '*' });
    const [unpublished] = await payments().whereNull('published_at').count({ n: '*' });
    const [stored] = await db('ageing.payments').whereIn('brand', brands).count({ n: '*' });
    const [invoices] = await db('ageing.invoices').whereIn('brand', brands).count({ n: '*' });
    return Number(unpublished!.n) === 0 && Number(published!.n) === Number(stored!.n) && Number(invoices!.n) === 12 ? true : undefined;
  });

beforeAll(async () => {
  // The fake and the webhook checks run on the simulated clock, as the gateway and rateline share real time in production.
  fake = await startFakeGateway({ now: () => clock.now() });
  const env = fakeGatewayEnv(fake, [US, UK], 500);
  for (const b of [US, UK]) {
    fake.script({ invoiceId: invoiceId(b, 'hard') }, 'hard_decline');
    fake.script({ invoiceId: invoiceId(b, 'later') }, 'hard_decline');
    fake.script({ invoiceId: invoiceId(b, 'soft') }, 'soft_decline', 'succeed');
    fake.script({ invoiceId: invoiceId(b, 'hook') }, 'soft_decline', 'succeed');
    fake.script({ invoiceId: invoiceId(b, 'timeout') }, { kind: 'charge_then_timeout', delayMs: 1500 });
  }
  // Every topic (ref.* included: on a fresh broker this suite may run first) and both brands'
  // topics exist before the services subscribe to their patterns.
  await applyTopics(kafka, serde, allTopics([US.code, UK.code]));
  const [parent, us, uk] = await publishTestKeys(kafka, serde, [{ brand: null }, { brand: US.code }, { brand: UK.code }]);
  keys = { parent: parent!, us: us!, uk: uk! };
  const producer = await BatchProducer.connect(kafka);
  await publishReference(collectReference([US, UK], accounts), producer, serde);
  await producer.stop();
  collect = await startCollect(config, deps, { intervalMs: 0, topicPattern: new RegExp(`^brand\\.t${suffix}-[a-z]+\\.invoices$`), groupId: `collect-${suffix}`, env, webhookNow: () => clock.now() });
  ageing = await startAgeing(config, deps, { intervalMs: 0, topicPattern: new RegExp(`^brand\\.t${suffix}-[a-z]+\\.(invoices|payments)$`), groupId: `ageing-${suffix}` });
});

afterAll(async () => {
  await collect?.stop();
  await ageing?.stop();
  await fake?.close();
  await db.destroy();
});

describe('collect and ageing on the real stack, Stripe and PayPal through their SDKs against the local gateway', () => {
  it('charges each invoice on arrival: success, hard decline, soft decline, charge-then-timeout', async () => {
    await publishInvoices(
      kafka,
      serde,
      [US, UK].flatMap((b) => SCENARIOS.map((s) => invoiceEvent({ invoiceId: invoiceId(b, s), brand: b.code, accountId: accountId(b, s), currency: b.currency, total: amount(b), issuedAt: DUE, dueAt: DUE }))),
    );
    for (const b of [US, UK]) {
      const rows = await eventually(`${b.code}: 6 invoices charged`, async () => {
        const list = (await http('GET', `/invoices?brand=${b.code}`)).json.invoices as { invoice_id: string; collection: string }[];
        return list.length === 6 && list.every((r) => r.collection !== 'due') ? list : undefined;
      });
      const by = Object.fromEntries(rows.map((r: any) => [r.invoice_id, r]));
      expect(by[invoiceId(b, 'ok')]).toMatchObject({ collection: 'paid', payment_status: 'paid' });
      expect(by[invoiceId(b, 'hard')]).toMatchObject({ collection: 'stopped', stop_reason: 'hard_declined', payment_status: 'open' });
      expect(by[invoiceId(b, 'soft')]).toMatchObject({ collection: 'retry_scheduled', next_attempt_on: '2026-01-06' });
      expect(by[invoiceId(b, 'timeout')]).toMatchObject({ collection: 'settling', payment_status: 'open' });
      expect(fake.successfulCharges(invoiceId(b, 'ok'))).toBe(1);
      expect(fake.successfulCharges(invoiceId(b, 'timeout'))).toBe(1); // charged, but the answer never came in time
      expect(fake.successfulCharges(invoiceId(b, 'hard'))).toBe(0);
      const timeout = await invoiceState(invoiceId(b, 'timeout'));
      expect(timeout.attempts).toHaveLength(1);
      expect(timeout.attempts[0]).toMatchObject({ status: 'indeterminate', idempotency_key: `rl.chg.${invoiceId(b, 'timeout')}.1` });
    }
  });

  it('refuses webhooks with a bad signature, a re-serialised body or a stale timestamp; a valid one 5 times out of order changes the state once', async () => {
    // Stripe: the soft-declined PaymentIntent of the `hook` invoice succeeds later (Stripe retried it).
    const hookUs = await invoiceState(invoiceId(US, 'hook'));
    const pi = hookUs.attempts[0].reference as string;
    const intent = fake.stripe.intent(pi)!;
    const succeeded = fake.stripe.event('payment_intent.succeeded', { ...intent, status: 'succeeded', amount_received: intent.amount });
    const processing = fake.stripe.event('payment_intent.processing', { ...intent, status: 'processing' }, { createdSeconds: Math.floor(clock.now() / 1000) - 60 });
    const path = `/webhooks/stripe/${US.code}`;
    const post = (d: { rawBody: string; headers: Record<string, string> }) => http('POST', path, d.rawBody, d.headers);

    const bad = await post(fake.stripe.webhook(succeeded, { secret: 'whsec_not_the_endpoint_secret' }));
    expect(bad.status).toBe(400);
    expect(bad.json.reason).toBe('bad_signature');
    const valid = fake.stripe.webhook(succeeded);
    const reserialised = await post({ rawBody: JSON.stringify(JSON.parse(valid.rawBody)), headers: valid.headers });
    expect(reserialised.status).toBe(400);
    expect(reserialised.json.reason).toBe('bad_signature');
    const stale = await post(fake.stripe.webhook(succeeded, { timestampSeconds: Math.floor(clock.now() / 1000) - 3600 }));
    expect(stale.status).toBe(400);
    expect(stale.json.reason).toBe('stale_timestamp');
    expect((await invoiceState(invoiceId(US, 'hook'))).invoice.payment_status).toBe('open');

    const stripeAnswers = [];
    for (const e of [succeeded, processing, succeeded, succeeded, processing, succeeded, succeeded]) stripeAnswers.push((await post(fake.stripe.webhook(e))).json);
    expect(stripeAnswers.filter((a) => a.eventId === succeeded.id)).toHaveLength(5);
    expect(stripeAnswers.filter((a) => a.changed)).toHaveLength(1);
    expect(stripeAnswers[0]).toMatchObject({ changed: true, paymentStatus: 'paid' });

    // PayPal: the declined capture of the `hook` invoice completes later.
    const hookUk = await invoiceState(invoiceId(UK, 'hook'));
    const captureId = hookUk.attempts[0].reference as string;
    const resource = { id: captureId, status: 'COMPLETED', amount: { currency_code: 'GBP', value: amount(UK) }, custom_id: invoiceId(UK, 'hook'), invoice_id: hookUk.attempts[0].idempotency_key };
    const completed = fake.paypal.event('PAYMENT.CAPTURE.COMPLETED', resource);
    const denied = fake.paypal.event('PAYMENT.CAPTURE.DENIED', { ...resource, status: 'DECLINED' });
    const ppPath = `/webhooks/paypal/${UK.code}`;
    const ppPost = (d: { rawBody: string; headers: Record<string, string> }) => http('POST', ppPath, d.rawBody, d.headers);
    const good = fake.paypal.webhook(completed);
    const forged = await ppPost({ rawBody: good.rawBody, headers: { ...good.headers, 'paypal-transmission-sig': Buffer.from('forged signature').toString('base64') } });
    expect(forged.status).toBe(400);
    expect(forged.json.reason).toBe('bad_signature');
    const reformatted = await ppPost({ rawBody: JSON.stringify(JSON.parse(good.rawBody), null, 2), headers: good.headers });
    expect(reformatted.status).toBe(400);
    expect(reformatted.json.reason).toBe('bad_signature');
    const old = await ppPost(fake.paypal.webhook(completed, { transmissionTime: new Date(clock.now() - 3600_000).toISOString() }));
    expect(old.status).toBe(400);
    expect(old.json.reason).toBe('stale_timestamp');
    expect((await invoiceState(invoiceId(UK, 'hook'))).invoice.payment_status).toBe('open');

    const paypalAnswers = [];
    for (const e of [denied, completed, denied, completed, completed, denied, completed, completed]) paypalAnswers.push((await ppPost(fake.paypal.webhook(e))).json);
    expect(paypalAnswers.filter((a) => a.eventId === completed.id)).toHaveLength(5);
    expect(paypalAnswers.filter((a) => a.changed)).toHaveLength(1);
    expect(paypalAnswers.find((a) => a.changed)).toMatchObject({ eventId: completed.id, paymentStatus: 'paid' });

    for (const b of [US, UK]) expect((await invoiceState(invoiceId(b, 'hook'))).invoice).toMatchObject({ collection: 'paid', payment_status: 'paid' });
  });

  it('settles the timed-out attempt with the same key (no second charge), and the soft decline succeeds on the retry run a day later', async () => {
    const sameDay = await http('POST', '/collection-runs');
    expect(sameDay.status).toBe(200);
    for (const b of [US, UK]) {
      const timeout = await invoiceState(invoiceId(b, 'timeout'));
      expect(timeout.invoice).toMatchObject({ collection: 'paid', payment_status: 'paid' });
      expect(timeout.attempts).toHaveLength(1);
      expect(fake.successfulCharges(invoiceId(b, 'timeout'))).toBe(1);
      // Soft decline: nothing before its retry day.
      expect((await invoiceState(invoiceId(b, 'soft'))).attempts).toHaveLength(1);
    }
    // Every charge request of the timed-out invoices carried its one key.
    const stripeKeys = new Set(fake.requestsTo('POST', '/v1/payment_intents').filter((r) => r.body.includes(invoiceId(US, 'timeout'))).map((r) => r.idempotencyKey));
    expect([...stripeKeys]).toEqual([`rl.chg.${invoiceId(US, 'timeout')}.1`]);
    const paypalKeys = new Set(fake.requestsTo('POST', '/v2/checkout/orders').filter((r) => r.path.endsWith('/capture') || r.body.includes(invoiceId(UK, 'timeout'))).map((r) => r.idempotencyKey?.replace(/\.capture$/, '')));
    expect(paypalKeys.has(`rl.chg.${invoiceId(UK, 'timeout')}.1`)).toBe(true);
    expect([...paypalKeys].filter((k) => k?.includes(`${invoiceId(UK, 'timeout')}.`))).toEqual([`rl.chg.${invoiceId(UK, 'timeout')}.1`]);

    clock.set(START + DAY);
    await http('POST', '/collection-runs');
    for (const b of [US, UK]) {
      const soft = await invoiceState(invoiceId(b, 'soft'));
      expect(soft.invoice).toMatchObject({ collection: 'paid', payment_status: 'paid' });
      expect(soft.attempts.map((a: any) => [a.attempt, a.status])).toEqual([
        [1, 'soft_decline'],
        [2, 'succeeded'],
      ]);
      expect(fake.successfulCharges(invoiceId(b, 'soft'))).toBe(1);
      // Paid by webhook yesterday: the retry day does not charge it.
      expect((await invoiceState(invoiceId(b, 'hook'))).attempts).toHaveLength(1);
      expect(fake.successfulCharges(invoiceId(b, 'hook'))).toBe(0);
      expect((await invoiceState(invoiceId(b, 'hard'))).attempts).toHaveLength(1);
    }
  });

  it('validates manual payments, refunds and credit notes (every problem listed) and emits them', async () => {
    const empty = await http('POST', '/refunds', {});
    expect(empty.status).toBe(422);
    expect(empty.json.problems.map((p: { message: string }) => p.message)).toEqual(['invoiceId is required', 'amount is required, as a decimal string such as "12.50"', 'reason is required']);
    const wrong = await http('POST', '/refunds', { invoiceId: invoiceId(US, 'ok'), amount: 12.5, reason: 'x', extra: true });
    expect(wrong.status).toBe(422);
    expect(wrong.json.problems).toHaveLength(2);

    const refund = await http('POST', '/refunds', { invoiceId: invoiceId(US, 'ok'), amount: '10.00', reason: 'goodwill' });
    expect(refund.status).toBe(201);
    expect(refund.json.status).toBe('succeeded');
    const tooMuch = await http('POST', '/refunds', { invoiceId: invoiceId(US, 'ok'), amount: '97.26', reason: 'one cent more than is left' });
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.json.problems[0].message).toMatch(/exceeds the refundable 97.25 USD/);

    // A credit note on a paid PayPal invoice: all of it goes back as a refund.
    const credit = await http('POST', '/credit-notes', { invoiceId: invoiceId(UK, 'ok'), amount: '5.60', reason: 'service credit' });
    expect(credit.status).toBe(201);
    expect(credit.json).toMatchObject({ reducesBalance: '0', refund: '5.6', refundResult: { status: 'succeeded' } });
    const overCredit = await http('POST', '/credit-notes', { invoiceId: invoiceId(UK, 'ok'), amount: '40.01', reason: 'more than the total' });
    expect(overCredit.status).toBe(422);

    const manualBad = await http('POST', '/payments/manual', { invoiceId: invoiceId(US, 'later'), amount: 107.25, methodType: 'card', meta: {}, recordedBy: '' });
    expect(manualBad.status).toBe(422);
    expect(manualBad.json.problems.length).toBeGreaterThanOrEqual(3);
    await collect.flush();
  });

  it('refuses card numbers at the method-entry API and in manual payments; stores gateway tokens', async () => {
    const card = await http('POST', '/payment-methods', { brand: US.code, accountId: accountId(US, 'ok'), methodType: 'card', meta: { payment_method: '4242424242424242' } });
    expect(card.status).toBe(422);
    expect(card.json.error).toBe('card_data_refused');
    expect(card.text).not.toContain('4242424242424242');
    const spaced = await http('POST', '/payment-methods', { brand: US.code, accountId: accountId(US, 'ok'), methodType: 'card', meta: { card_number: '4000 0566 5566 5556', cvv: '123' } });
    expect(spaced.status).toBe(422);
    expect(spaced.json.problems).toHaveLength(2);
    const cheque = await http('POST', '/payments/manual', { invoiceId: invoiceId(US, 'later'), amount: '107.25', methodType: 'cheque', meta: { cheque_number: '4111-1111-1111-1111' }, recordedBy: 'ops' });
    expect(cheque.status).toBe(422);
    expect(cheque.json.error).toBe('card_data_refused');

    const token = await http('POST', '/payment-methods', { brand: US.code, accountId: accountId(US, 'ok'), methodType: 'card', meta: { payment_method: 'pm_card_visa_ok' } });
    expect(token.status).toBe(201);
    expect(token.json.paymentMethod).toMatchObject({ gateway: 'stripe', methodRef: 'pm_card_visa_ok', label: 'Visa ending 4242' });
    expect(token.json.paymentMethod.customerRef).toMatch(/^cus_/);
  });

  it('renders a receipt per successful payment: HTML, PDF and the email', async () => {
    for (const b of [US, UK]) {
      const state = await invoiceState(invoiceId(b, 'ok'));
      expect(state.payments).toHaveLength(1);
      const paymentId = state.payments[0].payment_id as string;
      const html = await http('GET', `/receipts/${paymentId}.html`);
      expect(html.status).toBe(200);
      expect(html.type).toContain('text/html');
      expect(html.text).toContain(`N-${invoiceId(b, 'ok')}`);
      const pdf = await fetch(`${collect.apiUrl}/receipts/${paymentId}.pdf`, { headers: withKey(keys.parent) });
      expect(pdf.status).toBe(200);
      expect(Buffer.from(await pdf.arrayBuffer()).subarray(0, 5).toString()).toBe('%PDF-');
      const email = await http('GET', `/receipts/${paymentId}.email`);
      expect(email.status).toBe(200);
      expect(email.json.to.address).toBe(`${accountId(b, 'ok')}@customers.example`);
    }
    expect((await http('GET', '/receipts/pay-nothing-1.html')).status).toBe(404);
  });

  it('ages the unpaid accounts over 100 days on the controllable clock exactly on each brand\'s steps; a payment in full reactivates', { timeout: 300_000 }, async () => {
    for (let d = 0; d < 100; d++) {
      clock.set(START + d * DAY);
      await collect.runNow();
      if (d === 15) {
        // 2026-01-20, 16:00Z: a cheque for all of the `later` invoice, after that day's run.
        clock.set(START + d * DAY + 2 * 3600_000);
        const cheque = await http('POST', '/payments/manual', { invoiceId: invoiceId(US, 'later'), amount: amount(US), currency: 'USD', methodType: 'cheque', meta: { cheque_number: '001234' }, recordedBy: 'ops@example' });
        expect(cheque.status).toBe(201);
        expect(cheque.json.paymentStatus).toBe('paid');
        const again = await http('POST', '/payments/manual', { invoiceId: invoiceId(US, 'later'), amount: amount(US), currency: 'USD', methodType: 'cheque', meta: { cheque_number: '001234' }, recordedBy: 'ops@example' });
        expect(again.json.duplicate).toBe(true);
        await collect.flush();
        clock.set(START + d * DAY);
      }
      await ageingCaughtUp();
      await ageing.runNow();
    }
    const records = (await readAll<LifecycleRecord>(kafka, serde, [topics.accountLifecycle.name])).map((r) => r.value).filter((r) => r.brand === US.code || r.brand === UK.code);
    const zone = (brand: string) => (brand === US.code ? US.timeZone : UK.timeZone);
    const timeline = records
      .map((r) => [DateTime.fromMillis(r.effectiveAt, { zone: zone(r.brand) }).toISODate(), r.accountId.replace(`acct_${suffix}_`, ''), r.action, r.reason] as const)
      .sort((a, b) => (a[0] + a[1] < b[0] + b[1] ? -1 : 1));
    // Hand-worked. New York (steps 3/10/30/90), due Jan 5: Jan 8, Jan 15, Feb 4 (Jan 5 + 26 = Jan 31, + 4),
    // Apr 5 (Jan 31 = 26, Feb 28 = 54, Mar 31 = 85, Apr 5 = 90; DST on Mar 8 moves nothing).
    // The `later` account pays in full on Jan 20 at 16:00Z: reactivated by the Jan 21 run.
    // London (steps 7/14/45), due Jan 5: Jan 12, Jan 19, Feb 19 (Jan 31 = 26, Feb 19 = 45).
    expect(timeline).toEqual([
      ['2026-01-08', 'us_hard', 'reminder_sent', 'invoice_overdue_3_days'],
      ['2026-01-08', 'us_later', 'reminder_sent', 'invoice_overdue_3_days'],
      ['2026-01-12', 'uk_hard', 'reminder_sent', 'invoice_overdue_7_days'],
      ['2026-01-12', 'uk_later', 'reminder_sent', 'invoice_overdue_7_days'],
      ['2026-01-15', 'us_hard', 'suspended', 'invoice_overdue_10_days'],
      ['2026-01-15', 'us_later', 'suspended', 'invoice_overdue_10_days'],
      ['2026-01-19', 'uk_hard', 'suspended', 'invoice_overdue_14_days'],
      ['2026-01-19', 'uk_later', 'suspended', 'invoice_overdue_14_days'],
      ['2026-01-21', 'us_later', 'reactivated', 'paid_in_full'],
      ['2026-02-04', 'us_hard', 'cancelled', 'invoice_overdue_30_days'],
      ['2026-02-19', 'uk_hard', 'cancelled', 'invoice_overdue_45_days'],
      ['2026-02-19', 'uk_later', 'cancelled', 'invoice_overdue_45_days'],
      ['2026-04-05', 'us_hard', 'written_off', 'invoice_overdue_90_days'],
    ]);
    expect(new Set(records.map((r) => r.eventId)).size).toBe(records.length);

    // A restarted ageing service re-runs the last day: the unique keys in PostgreSQL hold, nothing repeats.
    await ageing.stop();
    ageing = await startAgeing(config, deps, { intervalMs: 0, topicPattern: new RegExp(`^brand\\.t${suffix}-[a-z]+\\.(invoices|payments)$`), groupId: `ageing-${suffix}` });
    const rerun = await ageing.runNow();
    expect(rerun.events).toBe(0);
    const account = await (await fetch(`${ageing.apiUrl}/accounts/${accountId(US, 'hard')}`, { headers: withKey(keys.parent) })).json();
    expect(account.account.status).toBe('cancelled');
  });

  it("answers every route with a key only, and a brand's key never sees or moves another brand's money", async () => {
    const none = { 'x-api-key': '' };
    const ageingApi = () => ageing.apiUrl!;
    const usInvoice = invoiceId(US, 'ok');
    const usPayment = ((await invoiceState(usInvoice)).payments as { payment_id: string }[])[0]!.payment_id;
    const refundsBefore = await db('collect.refunds').where({ invoice_id: usInvoice }).count({ n: '*' });
    const moves = [
      ['/refunds', { invoiceId: usInvoice, amount: '1.00', reason: 'isolation' }],
      ['/credit-notes', { invoiceId: usInvoice, amount: '1.00', reason: 'isolation' }],
      ['/payments/manual', { invoiceId: usInvoice, amount: '1.00', currency: 'USD', methodType: 'cheque', meta: { cheque_number: '77' }, recordedBy: 'isolation' }],
      ['/payment-methods', { brand: US.code, accountId: accountId(US, 'ok'), methodType: 'card', meta: { payment_method: 'pm_card_visa_ok' } }],
    ] as const;
    const reads = [`/invoices/${usInvoice}`, `/receipts/${usPayment}.html`, `/receipts/${usPayment}.pdf`, `/receipts/${usPayment}.email`];

    // No key, an unknown key: 401 everywhere (webhooks excepted: their gateway signs them).
    for (const path of [...reads, '/invoices']) expect((await http('GET', path, undefined, none)).status, path).toBe(401);
    for (const [path, body] of moves) expect((await http('POST', path, body, none)).status, path).toBe(401);
    expect((await http('POST', '/collection-runs', undefined, none)).status).toBe(401);
    expect((await http('GET', '/invoices', undefined, { 'x-api-key': 'rlk_nobody_0123456789abcdefghijklmnop' })).status).toBe(401);
    expect((await http('GET', `/accounts/${accountId(US, 'hard')}`, undefined, none, ageingApi)).status).toBe(401);
    expect((await http('POST', '/ageing-runs', undefined, none, ageingApi)).status).toBe(401);

    // The UK brand's key on the US brand's objects: 404, an empty list, nothing moved.
    const uk = { 'x-api-key': keys.uk.key };
    for (const path of reads) expect((await http('GET', path, undefined, uk)).status, path).toBe(404);
    for (const [path, body] of moves) expect(await http('POST', path, body, uk), path).toMatchObject({ status: 404, json: { error: 'not_found' } });
    expect(await db('collect.refunds').where({ invoice_id: usInvoice }).count({ n: '*' })).toEqual(refundsBefore);
    expect((await http('GET', `/invoices?brand=${US.code}`, undefined, uk)).json).toEqual({ invoices: [] });
    const ukList = (await http('GET', '/invoices', undefined, uk)).json.invoices as { brand: string }[];
    expect(ukList.length).toBe(SCENARIOS.length);
    expect(new Set(ukList.map((i) => i.brand))).toEqual(new Set([UK.code]));
    expect((await http('POST', `/collection-runs?brand=${US.code}`, undefined, uk)).status).toBe(404);
    expect((await http('GET', `/accounts/${accountId(US, 'hard')}`, undefined, uk, ageingApi)).status).toBe(404);
    expect((await http('POST', `/ageing-runs?brand=${US.code}`, undefined, uk, ageingApi)).status).toBe(404);

    // The brand's own key and the parent's see it.
    expect((await http('GET', `/invoices/${usInvoice}`, undefined, { 'x-api-key': keys.us.key })).status).toBe(200);
    expect((await http('GET', `/receipts/${usPayment}.html`, undefined, { 'x-api-key': keys.us.key })).status).toBe(200);
    expect((await http('GET', `/accounts/${accountId(US, 'hard')}`, undefined, { 'x-api-key': keys.us.key }, ageingApi)).json.account.status).toBe('cancelled');

    // Errors are problem details, the same shape in every service.
    const refused = await http('GET', `/invoices/${usInvoice}`, undefined, uk);
    expect(refused.type).toMatch(/^application\/problem\+json/);
    expect(refused.json).toMatchObject({ type: 'urn:rateline:problem:invoice_not_found', status: 404, error: 'invoice_not_found', title: 'Not Found' });
    // Who moved money is on record with the key's id: the parent's refund, the UK key's refused attempts (without their bodies).
    type Audit = { keyId: string; keyBrand: string | null; operation: string; status: number; request: Json | null };
    type Json = Record<string, unknown>;
    const trail = (await http('GET', `/audit-events?keyId=${keys.parent.keyId}`)).json.items as Audit[];
    const refunds = trail.filter((e) => e.operation === 'requestRefund' && e.keyId === keys.parent.keyId && e.status === 201);
    expect(refunds.map((e) => e.request)).toContainEqual({ invoiceId: usInvoice, amount: '10.00', reason: 'goodwill' });
    const ukTrail = (await http('GET', '/audit-events', undefined, uk)).json.items as Audit[];
    expect(ukTrail.map((e) => [e.operation, e.status, e.keyId, e.request])).toEqual([
      ['requestRefund', 404, keys.uk.keyId, null],
      ['issueCreditNote', 404, keys.uk.keyId, null],
      ['recordManualPayment', 404, keys.uk.keyId, null],
      ['storePaymentMethod', 404, keys.uk.keyId, null],
      ['runCollection', 404, keys.uk.keyId, null],
    ]);
    expect((await http('GET', `/audit-events?brand=${UK.code}`, undefined, { 'x-api-key': keys.us.key })).json.items).toEqual([]);
    expect((await http('GET', '/audit-events', undefined, none)).status).toBe(401);

    // Each serves the committed OpenAPI document, without a key.
    expect(await (await fetch(`${collect.apiUrl}/openapi.json`)).json()).toEqual(JSON.parse(readFileSync('services/collect/openapi.json', 'utf8')));
    expect(await (await fetch(`${ageing.apiUrl}/openapi.json`)).json()).toEqual(JSON.parse(readFileSync('services/ageing/openapi.json', 'utf8')));
    // The API is not the ops listener and the ops listener is not the API.
    expect((await http('GET', '/metrics')).status).toBe(404);
    expect((await fetch(`${collect.url}/metrics`)).status).toBe(200);
    expect((await fetch(`${collect.url}/invoices`)).status).toBe(404);
  });

  it('publishes every payment fact once per event id on the brand topics, one success per paid invoice', async () => {
    await collect.flush();
    const records = (await readAll<PaymentRecord>(kafka, serde, [brandTopics(US.code).payments.name, brandTopics(UK.code).payments.name])).map((r) => r.value);
    expect(new Set(records.map((r) => r.eventId)).size).toBe(records.length);
    for (const b of [US, UK]) {
      for (const s of ['ok', 'soft', 'timeout', 'hook'] as const) {
        const successes = records.filter((r) => r.invoiceId === invoiceId(b, s) && r.status === 'SUCCEEDED' && r.kind === 'charge');
        expect(successes, `${b.code} ${s}`).toHaveLength(1);
        expect(successes[0]!.amount.toFixed(2)).toBe(amount(b));
      }
      const hard = records.filter((r) => r.invoiceId === invoiceId(b, 'hard'));
      expect(hard.map((r) => [r.status, r.failureKind])).toEqual([['FAILED', 'hard_decline']]);
    }
    expect(records.filter((r) => r.invoiceId === invoiceId(US, 'later') && r.status === 'SUCCEEDED').map((r) => [r.kind, r.methodLabel])).toEqual([['manual', 'Cheque 001234']]);
    expect(records.filter((r) => r.kind === 'refund').map((r) => [r.invoiceId, r.amount.toFixed(2)]).sort()).toEqual([
      [invoiceId(UK, 'ok'), '5.60'],
      [invoiceId(US, 'ok'), '10.00'],
    ]);
    expect(records.filter((r) => r.kind === 'credit_note').map((r) => r.invoiceId)).toEqual([invoiceId(UK, 'ok')]);
  });

  it('leaves no card number in the collect and ageing tables, the logs or the topics', async () => {
    const records = await readAll<unknown>(kafka, serde, [brandTopics(US.code).payments.name, brandTopics(UK.code).payments.name, topics.accountLifecycle.name]);
    const scan = await scanForCardNumbers({ db, schemas: ['collect', 'ageing'], logs: [logLines.join('\n')], records });
    console.log(`[card scan] ${scan.rows} rows, ${scan.logLines} log lines, ${scan.records} topic records: ${scan.findings.length} findings`);
    expect(scan.findings).toEqual([]);
    expect(scan.logLines).toBeGreaterThan(10);
    // Nor an API key: neither one of this suite's nor anything shaped like one.
    const logs = logLines.join('\n');
    for (const key of Object.values(keys)) expect(logs).not.toContain(key.key);
    expect(logs).not.toMatch(/rlk_[A-Za-z0-9]+_[A-Za-z0-9_-]{20,}/);
  });
});
