import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { money } from '../domain/money/index.ts';
import { applyPaymentEvent, chargeKey, openPaymentState } from '../domain/payments/index.ts';
import { ConfigError } from '../runtime/errors.ts';
import { startFakeGateway } from '../test/support/fake-gateway/index.ts';
import type { FakeGateway } from '../test/support/fake-gateway/index.ts';
import { GatewayRegistry, ManualGateway, defaultGatewayRegistry, stripeGatewayFactory } from './index.ts';

const deps = { now: () => Date.parse('2026-06-01T12:00:00Z') };

describe('GatewayRegistry', () => {
  it('lists the built-in gateways by id', () => {
    expect(defaultGatewayRegistry().ids()).toEqual(['manual', 'paypal', 'stripe']);
  });

  it('refuses an unknown id, a duplicate registration and invalid options with every problem', () => {
    const registry = defaultGatewayRegistry();
    expect(() => registry.create('acme', { gateway: 'braintree', options: {} }, deps)).toThrow(/unknown gateway "braintree": registered are manual, paypal, stripe/);
    expect(() => registry.register(stripeGatewayFactory)).toThrow(/already registered/);
    let error: unknown;
    try {
      registry.createFromEnv('acme', { RATELINE_GATEWAY_ACME: 'stripe', STRIPE_SECRET_KEY_ACME: 'oops' }, deps);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'brand acme, gateway stripe: secretKey must be a Stripe secret or restricted key (sk_live_..., sk_test_..., rk_...)',
      'brand acme, gateway stripe: webhookSecret must be the endpoint signing secret (whsec_...)',
    ]);
    expect(() => registry.createFromEnv('acme', {}, deps)).toThrow(/RATELINE_GATEWAY_ACME is not set/);
  });

  it('without a base URL variable, Stripe options carry none: the SDK talks to api.stripe.com', () => {
    const options = stripeGatewayFactory.optionsFromEnv('acme', { STRIPE_SECRET_KEY_ACME: 'sk_live_x', STRIPE_WEBHOOK_SECRET_ACME: 'whsec_y' });
    expect(options).toEqual({ secretKey: 'sk_live_x', webhookSecret: 'whsec_y', baseUrl: undefined, timeoutMs: undefined });
  });

  it('gives the manual gateway for a brand configured so', () => {
    expect(defaultGatewayRegistry().createFromEnv('cheques-only', { RATELINE_GATEWAY_CHEQUES_ONLY: 'manual' }, deps)).toBeInstanceOf(ManualGateway);
  });
});

describe('a brand switched by configuration alone', () => {
  let fake: FakeGateway;
  beforeAll(async () => {
    fake = await startFakeGateway();
  });
  afterAll(async () => fake.close());

  it('charges through whichever gateway the environment names, with the same calling code', async () => {
    const env = {
      RATELINE_GATEWAY_ACME: 'stripe',
      STRIPE_SECRET_KEY_ACME: fake.stripe.secretKey,
      STRIPE_WEBHOOK_SECRET_ACME: fake.stripe.webhookSecret,
      STRIPE_BASE_URL_ACME: fake.url,
      RATELINE_GATEWAY_GLOBEX: 'paypal',
      PAYPAL_CLIENT_ID_GLOBEX: fake.paypal.clientId,
      PAYPAL_CLIENT_SECRET_GLOBEX: fake.paypal.clientSecret,
      PAYPAL_WEBHOOK_ID_GLOBEX: fake.paypal.webhookId,
      PAYPAL_BASE_URL_GLOBEX: fake.url,
    };
    const registry = defaultGatewayRegistry();
    const outcomes: Record<string, string> = {};
    for (const [brand, meta, methodType] of [
      ['acme', { payment_method: 'pm_card_visa' }, 'card'],
      ['globex', { setup_token: 'SETUP-1' }, 'paypal'],
    ] as const) {
      const gateway = registry.createFromEnv(brand, env, { now: Date.now });
      const stored = await gateway.storePaymentMethod({ idempotencyKey: `rl.pm.${brand}.1`, accountId: brand, methodType, meta });
      if (!stored.ok) throw new Error(stored.problems.join('; '));
      const invoiceId = `INV-${brand}`;
      const result = await gateway.charge({
        idempotencyKey: chargeKey(invoiceId, 1),
        invoiceId,
        accountId: brand,
        amount: money('9.99', 'USD'),
        customerId: stored.method.customerId,
        token: stored.method.token,
      });
      outcomes[`${gateway.id}:${brand}`] = result.status;
      expect(fake.successfulCharges(invoiceId)).toBe(1);
    }
    expect(outcomes).toEqual({ 'stripe:acme': 'succeeded', 'paypal:globex': 'succeeded' });
  });
});

describe('manual gateway', () => {
  const usd = (a: string) => money(a, 'USD');
  it('keeps a charge pending until ops record the cheque, then reports it paid', async () => {
    const manual = new ManualGateway(deps);
    const req = { idempotencyKey: chargeKey('INV-M1', 1), invoiceId: 'INV-M1', accountId: 'a', amount: usd('50.00'), customerId: 'a', token: 'manual:cheque' };
    expect(await manual.charge(req)).toMatchObject({ status: 'pending' });
    expect(await manual.findCharge({ idempotencyKey: req.idempotencyKey, invoiceId: 'INV-M1', customerId: 'a' })).toEqual({ status: 'not_found' });

    const record = { idempotencyKey: 'rl.man.INV-M1.1', invoiceId: 'INV-M1', amount: usd('50.00'), methodType: 'cheque' as const, meta: { cheque_number: '001234' }, receivedAt: deps.now(), recordedBy: 'ops:maria' };
    const event = manual.recordPayment(record);
    expect(manual.recordPayment(record)).toBe(event); // recorded twice: one payment
    expect(() => manual.recordPayment({ ...record, amount: usd('55.00') })).toThrow(/other facts/);
    expect(await manual.charge(req)).toMatchObject({ status: 'succeeded', reference: event.chargeReference });

    const applied = applyPaymentEvent(openPaymentState('INV-M1', usd('50.00')), event);
    expect(applied.state.status).toBe('paid');
  });

  it('refuses a card number typed as a cheque number, and other bad input, all at once', () => {
    const manual = new ManualGateway(deps);
    expect(() =>
      manual.recordPayment({ idempotencyKey: 'k', invoiceId: 'INV-M2', amount: usd('0'), methodType: 'cheque', meta: { cheque_number: '4242424242424242' }, receivedAt: 0, recordedBy: '' }),
    ).toThrow('field "cheque_number" looks like a card number (value not shown): send the gateway\'s token instead; amount must be greater than zero; recordedBy (the operator) is required');
  });

  it('has no webhooks', async () => {
    expect(await new ManualGateway(deps).parseWebhook()).toMatchObject({ ok: false, reason: 'verification_unavailable' });
  });
});
