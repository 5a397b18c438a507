import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { money } from '../../domain/money/index.ts';
import { applyPaymentEvent, chargeKey, methodKey, nextCollectionAttempt, openPaymentState, refundKey } from '../../domain/payments/index.ts';
import { startFakeGateway } from '../../test/support/fake-gateway/index.ts';
import type { FakeGateway } from '../../test/support/fake-gateway/index.ts';
import type { ChargeRequest } from '../types.ts';
import { PayPalGateway, paypalGatewayFactory } from './paypal-gateway.ts';
import type { PayPalOptions } from './paypal-gateway.ts';

let fake: FakeGateway;
let paypal: PayPalGateway;
let impatient: PayPalGateway;
let customerId: string;
let vaultToken: string;

const eur = (a: string) => money(a, 'EUR');
const request = (invoiceId: string, attempt: number, token: string, amount = eur('20.00')): ChargeRequest => ({
  idempotencyKey: chargeKey(invoiceId, attempt),
  invoiceId,
  accountId: 'acct-2',
  amount,
  customerId,
  token,
});
const orderCreates = () => fake.requests.filter((r) => r.method === 'POST' && r.path === '/v2/checkout/orders');
const body = (r: { body: string }) => JSON.parse(r.body) as Record<string, any>;

beforeAll(async () => {
  fake = await startFakeGateway();
  const options: PayPalOptions = {
    clientId: fake.paypal.clientId,
    clientSecret: fake.paypal.clientSecret,
    webhookId: fake.paypal.webhookId,
    environment: 'sandbox',
    baseUrl: fake.url,
  };
  paypal = new PayPalGateway({ ...options, timeoutMs: 10_000 }, { now: () => Date.now() });
  impatient = new PayPalGateway({ ...options, timeoutMs: 200 }, { now: () => Date.now() });
  const stored = await paypal.storePaymentMethod({ idempotencyKey: methodKey('acct-2', 1), accountId: 'acct-2', methodType: 'paypal', meta: { setup_token: 'SETUP-5TK0' } });
  if (!stored.ok) throw new Error(stored.problems.join('; '));
  customerId = stored.method.customerId;
  vaultToken = stored.method.token;
});
afterAll(async () => {
  await fake?.close();
});

describe('paypal: setup', () => {
  it('fetches an OAuth token with the app credentials and vaults the setup token with a PayPal-Request-Id', () => {
    const [token] = fake.requestsTo('POST', '/v1/oauth2/token');
    expect(token?.headers['authorization']).toBe(`Basic ${Buffer.from('fake-client-id:fake-client-secret').toString('base64')}`);
    expect(token?.body).toContain('grant_type=client_credentials');
    const [vault] = fake.requestsTo('POST', '/v3/vault/payment-tokens');
    expect(vault?.idempotencyKey).toBe('rl.pm.acct-2.1');
    expect(body(vault!).payment_source).toEqual({ token: { id: 'SETUP-5TK0', type: 'SETUP_TOKEN' } });
    expect(vaultToken).toMatch(/^VT/);
  });

  it('reads its options from the brand\'s environment; a base URL only when set', () => {
    const env = { PAYPAL_CLIENT_ID_ACME_UK: 'id', PAYPAL_CLIENT_SECRET_ACME_UK: 's', PAYPAL_WEBHOOK_ID_ACME_UK: 'WH-1', PAYPAL_ENVIRONMENT_ACME_UK: 'production' };
    expect(paypalGatewayFactory.optionsFromEnv('acme-uk', env)).toEqual({ clientId: 'id', clientSecret: 's', webhookId: 'WH-1', environment: 'production', baseUrl: undefined, timeoutMs: undefined });
    expect(paypalGatewayFactory.validateOptions(paypalGatewayFactory.optionsFromEnv('other', env))).toEqual([
      "clientId is required (the REST app's client id)",
      "clientSecret is required (the REST app's secret)",
      'webhookId is required (the id of the webhook registered for the app)',
    ]);
  });
});

describe('paypal: charges through the real SDK', () => {
  it('succeeds: order created with the vault id and the key, captured with key.capture', async () => {
    const result = await paypal.charge(request('INV-P1', 1, vaultToken));
    expect(result.status).toBe('succeeded');
    expect(result.status === 'succeeded' && result.reference).toMatch(/^CAP/);
    expect(result.status === 'succeeded' && result.amount.amount.toFixed(2)).toBe('20.00');
    const created = orderCreates().at(-1)!;
    expect(created.idempotencyKey).toBe('rl.chg.INV-P1.1');
    expect(body(created)).toMatchObject({
      intent: 'CAPTURE',
      payment_source: { paypal: { vault_id: vaultToken } },
      purchase_units: [{ amount: { currency_code: 'EUR', value: '20.00' }, custom_id: 'INV-P1', invoice_id: 'rl.chg.INV-P1.1' }],
    });
    const captured = fake.requestsTo('POST', '/v2/checkout/orders/').filter((r) => r.path.endsWith('/capture')).at(-1)!;
    expect(captured.idempotencyKey).toBe('rl.chg.INV-P1.1.capture');
    expect(captured.headers['authorization']).toMatch(/^Bearer A21AA/);
    expect(fake.successfulCharges('INV-P1')).toBe(1);
  });

  it('sends zero- and three-decimal amounts as PayPal writes them', async () => {
    await paypal.charge(request('INV-PJ', 1, vaultToken, money('1500', 'JPY')));
    expect(body(orderCreates().at(-1)!).purchase_units[0].amount).toEqual({ currency_code: 'JPY', value: '1500' });
    await paypal.charge(request('INV-PB', 1, vaultToken, money('12.5', 'BHD')));
    expect(body(orderCreates().at(-1)!).purchase_units[0].amount).toEqual({ currency_code: 'BHD', value: '12.500' });
  });

  it('hard decline (INSTRUMENT_DECLINED): final', async () => {
    fake.script({ invoiceId: 'INV-PH' }, 'hard_decline');
    expect(await paypal.charge(request('INV-PH', 1, vaultToken))).toMatchObject({ status: 'hard_decline', code: 'INSTRUMENT_DECLINED' });
    expect(fake.successfulCharges('INV-PH')).toBe(0);
  });

  it('soft decline (capture DECLINED, insufficient funds), then success on the next attempt', async () => {
    fake.script({ invoiceId: 'INV-PS' }, 'soft_decline', 'succeed');
    const first = await paypal.charge(request('INV-PS', 1, vaultToken));
    expect(first).toMatchObject({ status: 'soft_decline', code: '5120' });
    const dueAt = Date.parse('2026-05-04T08:00:00Z');
    const decision = nextCollectionAttempt({
      invoiceId: 'INV-PS',
      dueAt,
      paid: false,
      attempts: [{ attempt: 1, at: dueAt, status: first.status }],
      policy: { zone: 'Europe/Paris', retryDays: [1, 3, 5, 7] },
      now: Date.parse('2026-05-05T08:00:00Z'),
    });
    expect(decision).toMatchObject({ action: 'charge', attempt: 2, idempotencyKey: 'rl.chg.INV-PS.2' });
    const second = await paypal.charge(request('INV-PS', 2, vaultToken));
    expect(second.status).toBe('succeeded');
    expect(fake.successfulCharges('INV-PS')).toBe(1);
  });

  it('charge then timeout: indeterminate; the same key re-sent replays order and capture, one charge', async () => {
    fake.script({ invoiceId: 'INV-PT' }, { kind: 'charge_then_timeout', delayMs: 1_500 });
    const lost = await impatient.charge(request('INV-PT', 1, vaultToken));
    expect(lost).toMatchObject({ status: 'indeterminate', code: 'etimedout' });
    expect(fake.successfulCharges('INV-PT')).toBe(1);

    expect(await paypal.findCharge({ idempotencyKey: 'rl.chg.INV-PT.1', invoiceId: 'INV-PT', customerId })).toMatchObject({ status: 'unsupported' });
    const resent = await paypal.charge(request('INV-PT', 1, vaultToken));
    expect(resent.status).toBe('succeeded');
    const orders = fake.requestsTo('POST', '/v2/checkout/orders').filter((r) => r.idempotencyKey?.startsWith('rl.chg.INV-PT.1'));
    expect(orders.map((r) => [r.idempotencyKey, r.replayed])).toEqual([
      ['rl.chg.INV-PT.1', false],
      ['rl.chg.INV-PT.1.capture', false],
      ['rl.chg.INV-PT.1', true],
      ['rl.chg.INV-PT.1.capture', true],
    ]);
    expect(fake.successfulCharges('INV-PT')).toBe(1);
    // With the order id known, the order can be read.
    const orderId = (fake.requestsTo('POST', '/v2/checkout/orders/').find((r) => r.idempotencyKey === 'rl.chg.INV-PT.1.capture')!.path.split('/')[4])!;
    expect(await paypal.findCharge({ idempotencyKey: 'rl.chg.INV-PT.1', invoiceId: 'INV-PT', customerId, reference: orderId })).toMatchObject({
      status: 'found',
      result: { status: 'succeeded' },
    });
  });

  it('same PayPal-Request-Id with another amount: PAYPAL_REQUEST_ID_PREVIOUSLY_USED, not retried', async () => {
    await paypal.charge(request('INV-PK', 1, vaultToken, eur('20.00')));
    expect(await paypal.charge(request('INV-PK', 1, vaultToken, eur('21.00')))).toMatchObject({ status: 'gateway_error', code: 'idempotency_conflict', retryable: false });
    expect(fake.successfulCharges('INV-PK')).toBe(1);
  });

  it('a 5xx is a retryable gateway error', async () => {
    fake.script({ invoiceId: 'INV-PF' }, 'fail');
    expect(await paypal.charge(request('INV-PF', 1, vaultToken))).toMatchObject({ status: 'gateway_error', code: 'INTERNAL_SERVER_ERROR', retryable: true });
  });
});

describe('paypal: refunds', () => {
  it('refunds once per key and refuses more than was captured', async () => {
    const charged = await paypal.charge(request('INV-PR', 1, vaultToken, eur('20.00')));
    if (charged.status !== 'succeeded') throw new Error(charged.status);
    const refund = { idempotencyKey: refundKey('INV-PR', 1), invoiceId: 'INV-PR', chargeReference: charged.reference, amount: eur('5.00') };
    const first = await paypal.refund(refund);
    const again = await paypal.refund(refund);
    expect(first).toMatchObject({ status: 'succeeded' });
    expect(again.status === 'succeeded' && first.status === 'succeeded' && again.reference === first.reference).toBe(true);
    expect(fake.paypal.capture(charged.reference)?.refundedMinor).toBe(500n);
    expect(await paypal.refund({ ...refund, idempotencyKey: refundKey('INV-PR', 2), amount: eur('15.01') })).toMatchObject({ status: 'failed', code: 'REFUND_AMOUNT_EXCEEDED' });
  });
});

describe('paypal: webhooks', () => {
  let completed: Record<string, unknown>;
  beforeAll(async () => {
    const charged = await paypal.charge(request('INV-PW', 1, vaultToken, eur('30.00')));
    if (charged.status !== 'succeeded') throw new Error(charged.status);
    const capture = fake.paypal.capture(charged.reference)!;
    completed = fake.paypal.event('PAYMENT.CAPTURE.COMPLETED', { id: capture.id, status: 'COMPLETED', amount: capture.amount, custom_id: capture.custom_id, invoice_id: capture.invoice_id });
  });

  it('verifies through PayPal\'s verify-webhook-signature API and parses the event', async () => {
    const verdict = await paypal.parseWebhook(fake.paypal.webhook(completed));
    expect(verdict).toMatchObject({ ok: true, gatewayEventType: 'PAYMENT.CAPTURE.COMPLETED', event: { type: 'charge.succeeded', invoiceId: 'INV-PW', eventId: completed['id'] } });
    const verify = fake.requestsTo('POST', '/v1/notifications/verify-webhook-signature').at(-1)!;
    expect(body(verify)).toMatchObject({ webhook_id: 'WH-FAKE-0001', auth_algo: 'SHA256withRSA' });
  });

  it('refuses a bad signature, a re-serialised body, a stale transmission time, a missing header', async () => {
    const genuine = fake.paypal.webhook(completed);
    const forged = { ...genuine, headers: { ...genuine.headers, 'paypal-transmission-sig': fake.paypal.webhook(completed, { webhookId: 'WH-OTHER' }).headers['paypal-transmission-sig']! } };
    expect(await paypal.parseWebhook(forged)).toMatchObject({ ok: false, reason: 'bad_signature' });

    const reserialised = JSON.stringify(JSON.parse(genuine.rawBody), null, 1);
    expect(await paypal.parseWebhook({ rawBody: reserialised, headers: genuine.headers })).toMatchObject({ ok: false, reason: 'bad_signature' });

    const verifiesBefore = fake.requestsTo('POST', '/v1/notifications/verify-webhook-signature').length;
    const stale = fake.paypal.webhook(completed, { transmissionTime: new Date(Date.now() - 301_000).toISOString() });
    expect(await paypal.parseWebhook(stale)).toMatchObject({ ok: false, reason: 'stale_timestamp' });
    expect(fake.requestsTo('POST', '/v1/notifications/verify-webhook-signature').length).toBe(verifiesBefore);

    const { 'paypal-transmission-sig': _sig, ...unsigned } = genuine.headers;
    expect(await paypal.parseWebhook({ rawBody: genuine.rawBody, headers: unsigned })).toMatchObject({ ok: false, reason: 'missing_signature' });
  });

  it('a valid event delivered 5 times, out of order with an older pending one, changes the state once', async () => {
    const resource = completed['resource'] as Record<string, unknown>;
    const pending = fake.paypal.event('PAYMENT.CAPTURE.PENDING', { ...resource, status: 'PENDING' }, { createTime: new Date(Date.now() - 60_000).toISOString() });
    let state = openPaymentState('INV-PW', eur('30.00'));
    let changes = 0;
    for (const e of [completed, pending, completed, completed, completed, completed]) {
      const verdict = await paypal.parseWebhook(fake.paypal.webhook(e));
      if (!verdict.ok || !verdict.event) throw new Error(`refused: ${JSON.stringify(verdict)}`);
      const r = applyPaymentEvent(state, verdict.event);
      state = r.state;
      if (r.changed) changes += 1;
    }
    expect(changes).toBe(1);
    expect(state.status).toBe('paid');
  });
});
