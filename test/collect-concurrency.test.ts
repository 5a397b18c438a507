import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import knex from 'knex';
import { publishReference } from '../contracts/reference.ts';
import { ControllableClock } from '../domain/billrun/index.ts';
import { chargeKey } from '../domain/payments/index.ts';
import { seededRandom } from '../domain/prng.ts';
import { BatchProducer } from '../runtime/kafka.ts';
import { createLogger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { startCollect, type RunningCollect } from '../services/collect/index.ts';
import type { PaymentRecord } from '../services/collect/records.ts';
import { applyTopics } from '../topics/apply.ts';
import { publishTestKeys, withKey, type TestKey } from './support/api-keys.ts';
import { allTopics, brandTopics } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { collectReference, fakeGatewayEnv, invoiceEvent, publishInvoices, readAll, type AccountSpec, type BrandSpec } from './support/collect-fixtures.ts';
import { startFakeGateway, type FakeGateway, type Outcome, type SuccessfulCharge } from './support/fake-gateway/index.ts';

const INVOICES = 200;
const suffix = uniqueSuffix();
const steps = [{ afterDays: 10, action: 'suspend' }];
const US: BrandSpec = { code: `t${suffix}-cu`, gateway: 'stripe', currency: 'USD', timeZone: 'America/New_York', country: 'US', retryDays: [2], steps };
const UK: BrandSpec = { code: `t${suffix}-ck`, gateway: 'paypal', currency: 'GBP', timeZone: 'Europe/London', country: 'GB', retryDays: [2], steps };
const DAY = 86_400_000;
// Monday 2026-01-05, 14:00Z (09:00 New York, 14:00 London); the invoices fall due the next day.
const START = Date.parse('2026-01-05T14:00:00Z');
const DUE = START + DAY - 3600_000;

/**
 * How each invoice's card charge goes at the gateway: answered at once, answered 150 ms late
 * (in flight while the others arrive), answered only once its webhook was applied (the
 * webhook first, for certain), or soft-declined.
 */
type Fate = 'quick' | 'slow' | 'webhook_first' | 'declined';
const FATES: Fate[] = ['quick', 'slow', 'webhook_first', 'declined', 'quick'];
const plan = Array.from({ length: INVOICES }, (_, n) => {
  const brand = n % 2 === 0 ? US : UK;
  const account: AccountSpec = {
    accountId: `acct_${suffix}_c${n}`,
    brand,
    customerRef: brand === US ? `cus_${suffix}_c${n}` : `PPC_${suffix}_c${n}`,
    methodRef: brand === US ? `pm_${suffix}_c${n}` : `VT_${suffix}_c${n}`,
  };
  const total = `${20 + (n % 80)}.${String((n * 37) % 100).padStart(2, '0')}`;
  return { id: `inv_${suffix}_c${n}`, brand, account, total, fate: FATES[n % FATES.length]! };
});
const REFUND = '10.00';
const LEASE = 60_000;
/**
 * When each invoice's cheque and refund request leave, in ms after the run starts: a third at
 * the very same moment as the run, the others at their own instants while the run goes on, so
 * that a cheque meets its invoice before the charge, during it and after it.
 */
const random = seededRandom(20260106);
const jitter = plan.map((_, n) => (n % 3 === 0 ? { cheque: 0, refund: 0 } : { cheque: Math.floor(random() * 1500), refund: Math.floor(random() * 1500) }));
const at = <T>(ms: number, call: () => Promise<T>): Promise<T> => (ms === 0 ? call() : new Promise<void>((r) => setTimeout(r, ms)).then(call));

const clock = new ControllableClock(START);
const config = testConfig('collect-concurrency');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const logger = createLogger({ service: 'collect-concurrency' }, 'warn', () => undefined);
const db = knex({ client: 'pg', connection: config.postgres.url, pool: { min: 0, max: 2 } });
let fake: FakeGateway;
let collect: RunningCollect;

interface Answer {
  status: number;
  json: any;
}
let parentKey: TestKey;
/** A POST to collect's API with the parent's key (webhooks ignore it: their gateway signs them). */
const post = async (path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<Answer> => {
  const res = await fetch(`${collect.apiUrl}${path}`, { method: 'POST', headers: withKey(parentKey, headers), body });
  return { status: res.status, json: await res.json() };
};
const cheque = (p: (typeof plan)[number]) =>
  post('/payments/manual', JSON.stringify({ invoiceId: p.id, amount: p.total, methodType: 'cheque', meta: { cheque_number: String(100000 + plan.indexOf(p)) }, recordedBy: 'ops@example' }));
const refund = (p: (typeof plan)[number]) => post('/refunds', JSON.stringify({ invoiceId: p.id, amount: REFUND, reason: 'goodwill' }));

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** The gateway's webhook for a charge, built the moment the charge took money (as the gateway sends it). */
function webhookFor(charge: SuccessfulCharge): { path: string; rawBody: string; headers: Record<string, string> } {
  if (charge.gateway === 'stripe') {
    const intent = fake.stripe.intent(charge.reference)!;
    return { path: `/webhooks/stripe/${US.code}`, ...fake.stripe.webhook(fake.stripe.event('payment_intent.succeeded', { ...intent })) };
  }
  const capture = fake.paypal.capture(charge.reference)!;
  const resource = { id: capture.id, status: 'COMPLETED', amount: capture.amount, custom_id: capture.custom_id, invoice_id: capture.invoice_id };
  return { path: `/webhooks/paypal/${UK.code}`, ...fake.paypal.webhook(fake.paypal.event('PAYMENT.CAPTURE.COMPLETED', resource)) };
}

beforeAll(async () => {
  fake = await startFakeGateway({ now: () => clock.now() });
  for (const p of plan) {
    const outcome: Outcome | undefined =
      p.fate === 'slow' ? { kind: 'charge_then_timeout', delayMs: 150 } : p.fate === 'declined' ? 'soft_decline' : undefined;
    if (outcome) fake.script({ invoiceId: p.id }, outcome);
  }
  // Timeouts well above the held-back answers (a webhook waits its turn for a connection on a
  // loaded machine): a slow charge is answered, never indeterminate.
  const env = fakeGatewayEnv(fake, [US, UK], 60_000);
  await applyTopics(kafka, serde, allTopics([US.code, UK.code]));
  [parentKey] = (await publishTestKeys(kafka, serde, [{ brand: null }])) as [TestKey];
  const producer = await BatchProducer.connect(kafka);
  await publishReference(collectReference([US, UK], plan.map((p) => p.account)), producer, serde);
  await producer.stop();
  collect = await startCollect(config, { kafka, serde, logger, clock }, {
    intervalMs: 0,
    concurrency: 32,
    claimLeaseMs: LEASE,
    topicPattern: new RegExp(`^brand\\.t${suffix}-[a-z]+\\.invoices$`),
    groupId: `collect-${suffix}`,
    env,
    webhookNow: () => clock.now(),
  });
});

afterAll(async () => {
  await collect?.stop();
  await fake?.close();
  await db.destroy();
});

describe(`collect under concurrency: ${INVOICES} invoices, each hit at once by the collection run, its webhook, a cheque and a refund request`, () => {
  it('collects each invoice at most once at the gateway, refuses what would decide on a charge in flight, and every balance is exact', async () => {
    await publishInvoices(
      kafka,
      serde,
      plan.map((p) => invoiceEvent({ invoiceId: p.id, brand: p.brand.code, accountId: p.account.accountId, currency: p.brand.currency, total: p.total, issuedAt: DUE - DAY, dueAt: DUE })),
    );
    const ids = plan.map((p) => p.id);
    await eventually(`${INVOICES} invoices stored, waiting for their due day`, async () => {
      const [row] = await db('collect.invoices').whereIn('invoice_id', ids).where({ collection: 'retry_scheduled' }).count({ n: '*' });
      return Number(row!.n) === INVOICES ? true : undefined;
    });
    expect(fake.requestsTo('POST', '/v1/payment_intents')).toHaveLength(0);

    // The due day. Each invoice's webhook leaves the moment the gateway takes the money (before
    // its answer is back), as Stripe and PayPal send them, and is delivered twice; an invoice
    // never charged has none.
    clock.set(START + DAY);
    const fateOf = new Map(plan.map((p) => [p.id, p.fate]));
    const webhooks = new Map(ids.map((id) => [id, deferred<Promise<{ first: Answer; again: Answer }> | null>()]));
    const cardCharge = new Map<string, SuccessfulCharge>();
    fake.onSuccess((c) => {
      cardCharge.set(c.invoiceId, c);
      const { path, rawBody, headers } = webhookFor(c);
      const sent = post(path, rawBody, headers).then(async (first) => ({ first, again: await post(path, rawBody, headers) }));
      webhooks.get(c.invoiceId)?.resolve(sent);
      return fateOf.get(c.invoiceId) === 'webhook_first' ? sent : undefined;
    });
    const t0 = Date.now();
    const run = collect.runNow().finally(() => {
      for (const d of webhooks.values()) d.resolve(null);
    });
    const hits = plan.map(async (p, n) => {
      const [manual, refunded, webhook] = await Promise.all([at(jitter[n]!.cheque, () => cheque(p)), at(jitter[n]!.refund, () => refund(p)), webhooks.get(p.id)!.promise]);
      return { p, manual, refunded, webhook };
    });
    const [report, first] = await Promise.all([run, Promise.all(hits)]);
    const concurrentSeconds = (Date.now() - t0) / 1000;
    expect(report.failed).toEqual([]);

    // What each call said. A cheque or a refund meeting a charge with no answer yet is refused
    // (409 charge_in_flight); a refund before anything was paid finds nothing to refund (422).
    for (const { p, manual, refunded, webhook } of first) {
      expect([201, 409], `${p.id} cheque ${JSON.stringify(manual.json)}`).toContain(manual.status);
      if (manual.status === 409) expect(manual.json).toMatchObject({ error: 'charge_in_flight', attempt: 1 });
      expect([201, 409, 422], `${p.id} refund ${JSON.stringify(refunded.json)}`).toContain(refunded.status);
      if (refunded.status === 409) expect(refunded.json.error).toBe('charge_in_flight');
      if (refunded.status === 422) expect(refunded.json.problems[0].message).toMatch(/exceeds the refundable 0/);
      if (refunded.status === 201) expect(refunded.json.status).toBe('succeeded');
      if (webhook) {
        expect(webhook.first.status).toBe(200);
        // The webhook applied before the charge's answer moves the invoice; the answer then changes nothing.
        if (p.fate === 'webhook_first') expect(webhook.first.json, p.id).toMatchObject({ changed: true });
        expect(webhook.again).toMatchObject({ status: 200, json: { changed: false, ignored: 'duplicate_event' } });
      }
    }

    // The next run settles whatever is left and charges nothing more; then the clerk records the
    // refused cheques and asks for the refused refunds again.
    const requestsBefore = fake.requests.length;
    await collect.runNow();
    expect(fake.requests.slice(requestsBefore).filter((r) => r.idempotencyKey?.startsWith('rl.chg.'))).toEqual([]);
    const second = await Promise.all(
      first.map(async (f) => {
        const manual = f.manual.status === 409 ? await cheque(f.p) : f.manual;
        const refunded = f.refunded.status === 201 ? f.refunded : await refund(f.p);
        return { ...f, manual, refunded, retried: { manual: f.manual.status !== 201, refund: f.refunded.status !== 201 } };
      }),
    );
    for (const { p, manual, refunded } of second) {
      expect(manual.status, `${p.id} cheque again ${JSON.stringify(manual.json)}`).toBe(201);
      expect(refunded.status, `${p.id} refund again ${JSON.stringify(refunded.json)}`).toBe(201);
    }

    // The gateway: charges by idempotency key and by success, per invoice.
    const keysOf = new Map<string, Set<string>>();
    for (const r of fake.requests) {
      const key = r.idempotencyKey?.replace(/\.capture$/, '');
      const m = key && /^rl\.chg\.(.+)\.(\d+)$/.exec(key);
      if (m) keysOf.set(m[1]!, (keysOf.get(m[1]!) ?? new Set()).add(key));
    }
    const stored: { invoice_id: string; state: { paid: { amount: string }; refunded: { amount: string }; amountDue: { amount: string } }; payment_status: string; collection: string }[] = await db('collect.invoices')
      .whereIn('invoice_id', ids)
      .select('invoice_id', 'state', 'payment_status', 'collection');
    const service = new Map(stored.map((r) => [r.invoice_id, r]));
    await collect.flush();
    const records = (await readAll<PaymentRecord>(kafka, serde, [brandTopics(US.code).payments.name, brandTopics(UK.code).payments.name])).map((r) => r.value);
    expect(new Set(records.map((r) => r.eventId)).size).toBe(records.length);

    const tally = { before: 0, during: 0, after: 0, webhookFirst: 0, refundFirstTry: 0 };
    for (const { p, manual, refunded, webhook, retried } of second) {
      const card = fake.successfulCharges(p.id);
      const keys = [...(keysOf.get(p.id) ?? [])];
      expect(card, `${p.id}: successful charges at the gateway`).toBeLessThanOrEqual(1);
      expect(keys.filter((k) => k !== chargeKey(p.id, 1)), `${p.id}: charge keys`).toEqual([]);
      // Any charge of these would succeed: no success means the run never went to the gateway.
      if (p.fate !== 'declined') expect(keys.length, `${p.id}: charge requests`).toBe(card);
      else expect(card).toBe(0);

      // Worked out from what the calls returned: the gateway's charge, the cheque, the refund.
      const total = new Decimal(p.total);
      const cardPaid = card > 0 ? new Decimal(cardCharge.get(p.id)!.amountMinor.toString()).div(100) : new Decimal(0);
      if (card > 0) expect(cardPaid.toFixed(2), `${p.id} charged`).toBe(total.toFixed(2));
      const paid = cardPaid.plus(total);
      const refundedAmount = new Decimal(REFUND);
      const outstanding = Decimal.max(0, total.minus(paid));
      // A cheque recorded after the card took the money is an overpayment of all of it, and
      // one recorded first left nothing to charge: never a cheque that saw the invoice owed
      // while the card was taking it.
      const overpayment = manual.json.overpayment === undefined ? null : new Decimal(manual.json.overpayment).toFixed(2);
      expect({ id: p.id, overpayment }).toEqual({ id: p.id, overpayment: card > 0 ? total.toFixed(2) : null });

      const s = service.get(p.id)!;
      expect({ id: p.id, paid: new Decimal(s.state.paid.amount).toFixed(2), refunded: new Decimal(s.state.refunded.amount).toFixed(2), collection: s.collection }).toEqual({
        id: p.id,
        paid: paid.toFixed(2),
        refunded: refundedAmount.toFixed(2),
        collection: 'paid',
      });
      expect(Decimal.max(0, new Decimal(s.state.amountDue.amount).minus(s.state.paid.amount)).toFixed(2)).toBe(outstanding.toFixed(2));

      // The brand's payments topic says the same: each payment once, the refund once.
      const mine = records.filter((r) => r.invoiceId === p.id);
      const sum = (kind: string, status: string) => mine.filter((r) => r.kind === kind && r.status === status).reduce((a, r) => a.plus(r.amount), new Decimal(0));
      expect(mine.filter((r) => r.kind === 'charge' && r.status === 'SUCCEEDED')).toHaveLength(card);
      expect(sum('charge', 'SUCCEEDED').plus(sum('manual', 'SUCCEEDED')).toFixed(2)).toBe(paid.toFixed(2));
      expect(sum('refund', 'REFUNDED').toFixed(2)).toBe(refundedAmount.toFixed(2));

      if (retried.manual) tally.during++;
      else if (card > 0) tally.after++;
      else tally.before++;
      if (webhook?.first.json.changed) tally.webhookFirst++;
      if (!retried.refund) tally.refundFirstTry++;
    }
    const successes = plan.reduce((n, p) => n + fake.successfulCharges(p.id), 0);
    console.log(
      `[collect-concurrency] ${INVOICES} invoices × (run, webhook, cheque, refund) at once in ${concurrentSeconds.toFixed(1)} s: ` +
        `${successes} card charges (max 1 per invoice); cheques: ${tally.before} before the charge (nothing charged), ${tally.during} refused while it was in flight then recorded as overpayments or payments, ` +
        `${tally.after} after the card took the money (overpayment recorded); webhooks applied before the charge's answer: ${tally.webhookFirst}; ` +
        `refunds done on the first request: ${tally.refundFirstTry}; run outcomes ${JSON.stringify(report.outcomes)}`,
    );
    // Every path was taken: the cheque before the charge, during it, after it.
    expect(tally.before).toBeGreaterThan(0);
    expect(tally.during).toBeGreaterThan(0);
  });

  it('leaves a claim with no answer to its claimer until its lease has passed, then settles it with the same key', async () => {
    // Another instance claimed attempt 1 of this invoice and is calling the gateway (or died doing it).
    const p = { id: `inv_${suffix}_claimed`, account: plan[0]!.account, total: '42.10' };
    const due = START + 2 * DAY - 3600_000;
    await publishInvoices(kafka, serde, [invoiceEvent({ invoiceId: p.id, brand: US.code, accountId: p.account.accountId, currency: 'USD', total: p.total, issuedAt: due - DAY, dueAt: due })]);
    await eventually('the invoice stored, waiting for its due day', async () => ((await db('collect.invoices').where({ invoice_id: p.id }).first())?.collection === 'retry_scheduled' ? true : undefined));
    clock.set(START + 2 * DAY);
    await db('collect.attempts').insert({
      invoice_id: p.id,
      attempt: 1,
      idempotency_key: chargeKey(p.id, 1),
      gateway: 'stripe',
      customer_ref: p.account.customerRef,
      method_ref: p.account.methodRef,
      method_label: 'Visa ending 4242',
      amount: p.total,
      currency: 'USD',
      status: null,
      at: new Date(clock.now()),
    });
    const chargeRequests = () => fake.requests.filter((r) => r.idempotencyKey === chargeKey(p.id, 1));
    const body = JSON.stringify({ invoiceId: p.id, amount: p.total, methodType: 'cheque', meta: { cheque_number: '777' }, recordedBy: 'ops@example' });

    const attempt = () => db('collect.attempts').where({ invoice_id: p.id }).select('attempt', 'status');
    await collect.runNow();
    expect(await attempt()).toEqual([{ attempt: 1, status: null }]);
    expect(chargeRequests()).toEqual([]);
    expect((await post('/payments/manual', body)).json).toMatchObject({ error: 'charge_in_flight', attempt: 1 });

    clock.set(START + 2 * DAY + LEASE + 1000);
    await collect.runNow();
    expect(await attempt()).toEqual([{ attempt: 1, status: 'succeeded' }]);
    expect(chargeRequests().map((r) => r.idempotencyKey)).toEqual([chargeKey(p.id, 1)]);
    expect(fake.successfulCharges(p.id)).toBe(1);
    const cheque = await post('/payments/manual', body);
    expect(cheque).toMatchObject({ status: 201, json: { overpayment: '42.1' } });
  });
});
