import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { money } from '../../domain/money/index.ts';
import { applyPaymentEvent, chargeKey, methodKey, nextCollectionAttempt, openPaymentState, refundKey } from '../../domain/payments/index.ts';
import type { PaymentEvent } from '../../domain/payments/index.ts';
import { startFakeGateway } from '../../test/support/fake-gateway/index.ts';
import type { FakeGateway } from '../../test/support/fake-gateway/index.ts';
import { StripeGateway } from './stripe-gateway.ts';
import type { ChargeRequest } from '../types.ts';

let fake: FakeGateway;
let stripe: StripeGateway;
/** Same account, a 200 ms client timeout: for the charge that is made and never answered. */
let impatient: StripeGateway;
let customerId: string;

const usd = (a: string) => money(a, 'USD');
const request = (invoiceId: string, attempt: number, token: string, amount = usd('10.00')): ChargeRequest => ({
  idempotencyKey: chargeKey(invoiceId, attempt),
  invoiceId,
  accountId: 'acct-1',
  amount,
  customerId,
  token,
});

beforeAll(async () => {
  fake = await startFakeGateway();
  const options = { secretKey: fake.stripe.secretKey, webhookSecret: fake.stripe.webhookSecret, baseUrl: fake.url };
  stripe = new StripeGateway({ ...options, timeoutMs: 10_000 }, { now: () => Date.now() });
  impatient = new StripeGateway({ ...options, timeoutMs: 200 }, { now: () => Date.now() });
  const stored = await stripe.storePaymentMethod({
    idempotencyKey: methodKey('acct-1', 1),
    accountId: 'acct-1',
    methodType: 'card',
    meta: { payment_method: 'pm_card_visa' },
    email: 'ops@example.com',
  });
  if (!stored.ok) throw new Error(stored.problems.join('; '));
  customerId = stored.method.customerId;
});
afterAll(async () => {
  await fake?.close();
});

describe('stripe: payment methods', () => {
  it('creates the customer and attaches the token, each with its own idempotency key', () => {
    expect(customerId).toMatch(/^cus_/);
    const [customer] = fake.requestsTo('POST', '/v1/customers');
    expect(customer?.idempotencyKey).toBe('rl.pm.acct-1.1.customer');
    const [attach] = fake.requestsTo('POST', '/v1/payment_methods/pm_card_visa/attach');
    expect(attach?.idempotencyKey).toBe('rl.pm.acct-1.1.attach');
    expect(new URLSearchParams(attach!.body).get('customer')).toBe(customerId);
  });

  it('refuses card numbers and CVVs before any request, listing every problem', async () => {
    const before = fake.requests.length;
    const result = await stripe.storePaymentMethod({
      idempotencyKey: methodKey('acct-1', 2),
      accountId: 'acct-1',
      methodType: 'card',
      meta: { payment_method: 'pm_card_ok', cvc: '123', nickname: '4242 4242 4242 4242' },
    });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems).toEqual([
      'field "cvc" is card data: rateline never accepts card numbers or CVVs; send the gateway\'s token instead',
      'field "nickname" looks like a card number (value not shown): send the gateway\'s token instead',
    ]);
    expect(JSON.stringify(result)).not.toContain('4242 4242');
    expect(fake.requests.length).toBe(before);
  });
});

describe('stripe: charges through the real SDK', () => {
  it('succeeds: minor units, lower-case currency, the invoice key as Idempotency-Key', async () => {
    const result = await stripe.charge(request('INV-S1', 1, 'pm_card_visa', usd('10.00')));
    expect(result.status).toBe('succeeded');
    expect(result.status === 'succeeded' && result.amount.amount.toFixed(2)).toBe('10.00');
    expect(result.status === 'succeeded' && result.reference).toMatch(/^pi_/);
    const sent = fake.requestsTo('POST', '/v1/payment_intents').at(-1)!;
    expect(sent.idempotencyKey).toBe('rl.chg.INV-S1.1');
    const params = new URLSearchParams(sent.body);
    expect([params.get('amount'), params.get('currency'), params.get('off_session'), params.get('confirm')]).toEqual(['1000', 'usd', 'true', 'true']);
    expect(params.get('metadata[invoice_id]')).toBe('INV-S1');
    expect(fake.successfulCharges('INV-S1')).toBe(1);
  });

  it('converts zero- and three-decimal currencies, refusing a KWD amount Stripe cannot take', async () => {
    await stripe.charge(request('INV-JPY', 1, 'pm_card_visa', money('1500', 'JPY')));
    expect(new URLSearchParams(fake.requestsTo('POST', '/v1/payment_intents').at(-1)!.body).get('amount')).toBe('1500');
    await stripe.charge(request('INV-KWD', 1, 'pm_card_visa', money('1.230', 'KWD')));
    expect(new URLSearchParams(fake.requestsTo('POST', '/v1/payment_intents').at(-1)!.body).get('amount')).toBe('1230');
    const before = fake.requests.length;
    const refused = await stripe.charge(request('INV-KWD2', 1, 'pm_card_visa', money('1.235', 'KWD')));
    expect(refused).toMatchObject({ status: 'gateway_error', code: 'amount_not_accepted', retryable: false });
    expect(fake.requests.length).toBe(before);
  });

  it('hard decline: final, with the PaymentIntent as reference', async () => {
    fake.script({ token: 'pm_lost' }, 'hard_decline');
    const result = await stripe.charge(request('INV-H1', 1, 'pm_lost'));
    expect(result).toMatchObject({ status: 'hard_decline', code: 'lost_card' });
    expect(result.status === 'hard_decline' && result.reference).toMatch(/^pi_/);
    expect(fake.successfulCharges('INV-H1')).toBe(0);
  });

  it('soft decline, then success on the scheduled retry with the next attempt\'s key', async () => {
    fake.script({ token: 'pm_soft' }, 'soft_decline', 'succeed');
    const dueAt = Date.parse('2026-04-01T13:00:00Z');
    const first = await stripe.charge(request('INV-R1', 1, 'pm_soft'));
    expect(first).toMatchObject({ status: 'soft_decline', code: 'insufficient_funds' });

    const decision = nextCollectionAttempt({
      invoiceId: 'INV-R1',
      dueAt,
      paid: false,
      attempts: [{ attempt: 1, at: dueAt, status: first.status }],
      policy: { zone: 'America/Toronto', retryDays: [1, 3, 5, 7] },
      now: Date.parse('2026-04-02T13:00:00Z'),
    });
    expect(decision).toEqual({ action: 'charge', attempt: 2, idempotencyKey: 'rl.chg.INV-R1.2', scheduledDay: 1 });
    const second = await stripe.charge(request('INV-R1', 2, 'pm_soft'));
    expect(second.status).toBe('succeeded');
    expect(fake.requestsTo('POST', '/v1/payment_intents').slice(-2).map((r) => r.idempotencyKey)).toEqual(['rl.chg.INV-R1.1', 'rl.chg.INV-R1.2']);
    expect(fake.successfulCharges('INV-R1')).toBe(1);
  });

  it('charge then timeout: indeterminate; settling with the same key finds it and never charges twice', async () => {
    fake.script({ invoiceId: 'INV-T1' }, { kind: 'charge_then_timeout', delayMs: 1_500 });
    const lost = await impatient.charge(request('INV-T1', 1, 'pm_card_visa'));
    expect(lost).toMatchObject({ status: 'indeterminate', code: 'etimedout' });
    expect(fake.successfulCharges('INV-T1')).toBe(1); // the gateway did charge

    const decision = nextCollectionAttempt({
      invoiceId: 'INV-T1',
      dueAt: Date.now(),
      paid: false,
      attempts: [{ attempt: 1, at: Date.now(), status: lost.status }],
      policy: { zone: 'UTC', retryDays: [1, 3] },
      now: Date.now(),
    });
    expect(decision).toEqual({ action: 'settle', attempt: 1, idempotencyKey: 'rl.chg.INV-T1.1' });

    const found = await stripe.findCharge({ idempotencyKey: 'rl.chg.INV-T1.1', invoiceId: 'INV-T1', customerId });
    expect(found.status).toBe('found');
    expect(found.status === 'found' && found.result.status).toBe('succeeded');

    // Had the lookup failed, the collect run re-sends the same request with the same key:
    const resent = await stripe.charge(request('INV-T1', 1, 'pm_card_visa'));
    expect(resent.status).toBe('succeeded');
    expect(found.status === 'found' && found.result.status === 'succeeded' && resent.status === 'succeeded' && resent.reference).toBe(
      found.status === 'found' && found.result.status === 'succeeded' && found.result.reference,
    );
    expect(fake.requestsTo('POST', '/v1/payment_intents').at(-1)!.replayed).toBe(true);
    expect(fake.successfulCharges('INV-T1')).toBe(1);
  });

  it('same key with other parameters: the gateway refuses; a bug, not retried', async () => {
    await stripe.charge(request('INV-K1', 1, 'pm_card_visa', usd('10.00')));
    const changed = await stripe.charge(request('INV-K1', 1, 'pm_card_visa', usd('12.00')));
    expect(changed).toMatchObject({ status: 'gateway_error', code: 'idempotency_conflict', retryable: false });
    expect(fake.successfulCharges('INV-K1')).toBe(1);
  });

  it('a 5xx is a retryable gateway error; nothing charged', async () => {
    fake.script({ invoiceId: 'INV-F1' }, 'fail');
    expect(await stripe.charge(request('INV-F1', 1, 'pm_card_visa'))).toMatchObject({ status: 'gateway_error', retryable: true });
    expect(fake.successfulCharges('INV-F1')).toBe(0);
  });

  it('a refused connection is a network error (the request never left)', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const nowhere = new StripeGateway({ secretKey: fake.stripe.secretKey, webhookSecret: fake.stripe.webhookSecret, baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 2_000 }, { now: Date.now });
    expect(await nowhere.charge(request('INV-N1', 1, 'pm_card_visa'))).toMatchObject({ status: 'network_error', code: 'econnrefused' });
  });

  it('findCharge: not found for a key never used', async () => {
    expect(await stripe.findCharge({ idempotencyKey: 'rl.chg.NOPE.1', invoiceId: 'NOPE', customerId })).toEqual({ status: 'not_found' });
  });
});

describe('stripe: refunds', () => {
  it('refunds part of a charge once per key, and refuses more than is left', async () => {
    const charged = await stripe.charge(request('INV-RF', 1, 'pm_card_visa', usd('10.00')));
    if (charged.status !== 'succeeded') throw new Error(charged.status);
    const refund = { idempotencyKey: refundKey('INV-RF', 1), invoiceId: 'INV-RF', chargeReference: charged.reference, amount: usd('4.00') };
    const first = await stripe.refund(refund);
    const again = await stripe.refund(refund);
    expect(first).toMatchObject({ status: 'succeeded' });
    expect(again.status === 'succeeded' && first.status === 'succeeded' && again.reference).toBe(first.status === 'succeeded' && first.reference);
    expect(fake.stripe.intent(charged.reference)?.refunded).toBe(400);
    const tooMuch = await stripe.refund({ ...refund, idempotencyKey: refundKey('INV-RF', 2), amount: usd('6.01') });
    expect(tooMuch).toMatchObject({ status: 'failed', code: 'amount_too_large' });
  });
});

describe('stripe: webhooks', () => {
  let succeeded: Record<string, unknown>;
  beforeAll(async () => {
    const charged = await stripe.charge(request('INV-W1', 1, 'pm_card_visa', usd('25.00')));
    if (charged.status !== 'succeeded') throw new Error(charged.status);
    succeeded = fake.stripe.event('payment_intent.succeeded', fake.stripe.intent(charged.reference));
  });

  it('accepts a signed delivery and parses it into a payment event', async () => {
    const delivery = fake.stripe.webhook(succeeded);
    const verdict = await stripe.parseWebhook(delivery);
    expect(verdict.ok).toBe(true);
    expect(verdict.ok && verdict.event).toMatchObject({ type: 'charge.succeeded', invoiceId: 'INV-W1', eventId: succeeded['id'] });
    expect(verdict.ok && verdict.event?.amount.amount.toFixed(2)).toBe('25.00');
  });

  it('refuses a bad signature, a re-serialised body, a stale timestamp and a missing header', async () => {
    const forged = fake.stripe.webhook(succeeded, { secret: 'whsec_someone_else' });
    expect(await stripe.parseWebhook(forged)).toMatchObject({ ok: false, reason: 'bad_signature' });

    const genuine = fake.stripe.webhook(succeeded);
    const reserialised = JSON.stringify(JSON.parse(genuine.rawBody));
    expect(reserialised).not.toBe(genuine.rawBody);
    expect(await stripe.parseWebhook({ rawBody: reserialised, headers: genuine.headers })).toMatchObject({ ok: false, reason: 'bad_signature' });

    const stale = fake.stripe.webhook(succeeded, { timestampSeconds: Math.floor(Date.now() / 1000) - 301 });
    expect(await stripe.parseWebhook(stale)).toMatchObject({ ok: false, reason: 'stale_timestamp' });

    expect(await stripe.parseWebhook({ rawBody: genuine.rawBody, headers: {} })).toMatchObject({ ok: false, reason: 'missing_signature' });
  });

  it('a valid event delivered 5 times, out of order with an older one, changes the state once', async () => {
    const intent = (succeeded['data'] as { object: Record<string, unknown> }).object;
    const processing = fake.stripe.event('payment_intent.processing', { ...intent, status: 'processing' });
    const deliveries = [succeeded, succeeded, processing, succeeded, succeeded, succeeded].map((e) => fake.stripe.webhook(e));
    let state = openPaymentState('INV-W1', usd('25.00'));
    let changes = 0;
    for (const d of deliveries) {
      const verdict = await stripe.parseWebhook(d);
      if (!verdict.ok || !verdict.event) throw new Error('refused');
      const r = applyPaymentEvent(state, verdict.event as PaymentEvent);
      state = r.state;
      if (r.changed) changes += 1;
    }
    expect(changes).toBe(1);
    expect(state.status).toBe('paid');
  });
});

describe('stripe: listing charges (revenue assurance)', () => {
  it('lists every PaymentIntent created in the range, through the SDK\'s paging, with its invoice, outcome and amount', async () => {
    let now = Date.UTC(2026, 2, 1, 9);
    const own = await startFakeGateway({ now: () => now });
    try {
      const options = { secretKey: own.stripe.secretKey, webhookSecret: own.stripe.webhookSecret, baseUrl: own.url };
      const gateway = new StripeGateway({ ...options, timeoutMs: 10_000 }, { now: () => now });
      const stored = await gateway.storePaymentMethod({ idempotencyKey: methodKey('acct-l', 1), accountId: 'acct-l', methodType: 'card', meta: { payment_method: 'pm_card_visa' } });
      if (!stored.ok) throw new Error(stored.problems.join('; '));
      const charge = (invoiceId: string, amount: string) =>
        gateway.charge({ idempotencyKey: chargeKey(invoiceId, 1), invoiceId, accountId: 'acct-l', amount: usd(amount), customerId: stored.method.customerId, token: stored.method.token });
      await charge('INV-BEFORE', '1.00'); // 1 March: outside the range
      now = Date.UTC(2026, 2, 2, 0, 0);
      // 101 charges on 2 March: more than one page of 100.
      for (let i = 0; i < 101; i++) await charge(`INV-L${i}`, '2.50');
      own.script({ invoiceId: 'INV-DECLINED' }, 'hard_decline');
      await charge('INV-DECLINED', '7.00');
      now = Date.UTC(2026, 2, 3, 0, 0); // 3 March 00:00: the range's end, excluded
      await charge('INV-AFTER', '1.00');

      const listed = await gateway.listCharges({ from: Date.UTC(2026, 2, 2), to: Date.UTC(2026, 2, 3) });
      if (!listed.ok) throw new Error(listed.message);
      expect(listed.charges.length).toBe(102);
      expect(new Set(listed.charges.map((c) => c.invoiceId)).has('INV-BEFORE')).toBe(false);
      expect(new Set(listed.charges.map((c) => c.invoiceId)).has('INV-AFTER')).toBe(false);
      const l0 = listed.charges.find((c) => c.invoiceId === 'INV-L0')!;
      expect({ ...l0, amount: `${l0.amount.amount.toFixed(2)} ${l0.amount.currency}` }).toEqual({ reference: expect.stringMatching(/^pi_/), invoiceId: 'INV-L0', status: 'succeeded', amount: '2.50 USD', createdAt: Date.UTC(2026, 2, 2) });
      expect(listed.charges.filter((c) => c.status !== 'succeeded').map((c) => [c.invoiceId, c.status])).toEqual([['INV-DECLINED', 'failed']]);
      // Two pages: the second starts after the first page's last intent.
      expect(own.requestsTo('GET', '/v1/payment_intents').length).toBe(2);
    } finally {
      await own.close();
    }
  });

  it('says why when the gateway cannot be asked', async () => {
    const wrongKey = new StripeGateway({ secretKey: 'sk_test_not_the_fakes', webhookSecret: fake.stripe.webhookSecret, baseUrl: fake.url }, { now: () => Date.now() });
    expect(await wrongKey.listCharges({ from: 0, to: Date.now() })).toMatchObject({ ok: false, retryable: false });
  });
});
