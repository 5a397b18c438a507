import Stripe from 'stripe';
import { fromMinorUnits, toMinorUnits } from '../../domain/money/index.ts';
import type { Money } from '../../domain/money/index.ts';
import type { ChargeResult, PaymentEvent, RefundResult } from '../../domain/payments/index.ts';
import { validateMethodMeta } from '../methods.ts';
import { envSuffix } from '../registry.ts';
import { transportOutcome, checkEndpointOptions } from '../transport.ts';
import type {
  ChargeListing,
  ChargeListQuery,
  ChargeLookup,
  ChargeQuery,
  ChargeRequest,
  GatewayCharge,
  GatewayDeps,
  GatewayFactory,
  PaymentGateway,
  PaymentMethodType,
  RefundRequest,
  StorePaymentMethodRequest,
  StorePaymentMethodResult,
  WebhookRequest,
  WebhookVerdict,
} from '../types.ts';

export interface StripeOptions {
  readonly secretKey: string;
  /** The webhook endpoint's signing secret (`whsec_...`). */
  readonly webhookSecret: string;
  /**
   * Only to point the SDK somewhere other than api.stripe.com (the local fake, a proxy):
   * `http://127.0.0.1:4010`. Unset, the SDK talks to Stripe itself.
   */
  readonly baseUrl?: string;
  /** Per-request timeout; after it the outcome is `indeterminate`. Default 30 s. */
  readonly timeoutMs?: number;
  /**
   * SDK-level retries of a failed connection (with the same idempotency key). Default 0:
   * the collect service settles unknown outcomes itself, with the same key.
   */
  readonly maxNetworkRetries?: number;
  /** Oldest webhook signature timestamp accepted. Default 300 s, Stripe's own default. */
  readonly webhookToleranceSeconds?: number;
}

/** Decline codes that will not pass by retrying: the customer must act. Others are soft. */
const HARD_DECLINES = new Set([
  'authentication_required',
  'card_not_supported',
  'currency_not_supported',
  'expired_card',
  'fraudulent',
  'incorrect_number',
  'invalid_account',
  'invalid_expiry_month',
  'invalid_expiry_year',
  'lost_card',
  'merchant_blacklist',
  'new_account_information_available',
  'do_not_try_again',
  'pickup_card',
  'restricted_card',
  'revocation_of_all_authorizations',
  'revocation_of_authorization',
  'security_violation',
  'stolen_card',
  'stop_payment_order',
  'transaction_not_allowed',
]);

/** Stripe's three-decimal currencies take amounts in multiples of 10 minor units. */
const STRIPE_THREE_DECIMAL = new Set(['BHD', 'JOD', 'KWD', 'OMR', 'TND']);

const CARD: PaymentMethodType = {
  id: 'card',
  fields: [
    { name: 'payment_method', required: true, pattern: /^pm_[A-Za-z0-9_]{3,250}$/, description: 'Stripe PaymentMethod id (pm_...) from Stripe.js' },
  ],
};

type Intent = Stripe.PaymentIntent;

function minorAmount(amount: Money): { ok: true; minor: number } | { ok: false; message: string } {
  let minor: bigint;
  try {
    minor = toMinorUnits(amount);
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
  if (minor <= 0n) return { ok: false, message: `amount ${amount.amount.toFixed()} ${amount.currency} must be positive` };
  if (STRIPE_THREE_DECIMAL.has(amount.currency) && minor % 10n !== 0n) {
    return { ok: false, message: `Stripe takes ${amount.currency} amounts in multiples of 0.010; ${amount.amount.toFixed()} is not` };
  }
  if (minor > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, message: 'amount too large' };
  return { ok: true, minor: Number(minor) };
}

function moneyOf(minor: number, currency: string): Money {
  return fromMinorUnits(BigInt(minor), currency.toUpperCase());
}

function decline(code: string, message: string, reference: string | null): ChargeResult {
  return { status: HARD_DECLINES.has(code) ? 'hard_decline' : 'soft_decline', reference, code, message };
}

function fromIntent(intent: Intent): ChargeResult {
  const amount = moneyOf(intent.amount, intent.currency);
  switch (intent.status) {
    case 'succeeded':
      return { status: 'succeeded', reference: intent.id, amount: moneyOf(intent.amount_received, intent.currency) };
    case 'processing':
      return { status: 'pending', reference: intent.id, amount };
    case 'requires_action':
    case 'requires_confirmation':
      // Off-session: nobody is there to authenticate.
      return { status: 'hard_decline', reference: intent.id, code: 'authentication_required', message: 'the issuer asks the customer to authenticate' };
    case 'requires_payment_method': {
      const e = intent.last_payment_error;
      return decline(e?.decline_code ?? e?.code ?? 'card_declined', e?.message ?? 'declined', intent.id);
    }
    default:
      return { status: 'hard_decline', reference: intent.id, code: `intent_${intent.status}`, message: `payment intent is ${intent.status}` };
  }
}

function fromError(err: unknown): ChargeResult {
  if (err instanceof Stripe.errors.StripeCardError) {
    return decline(err.decline_code ?? err.code ?? 'card_declined', err.message, err.payment_intent?.id ?? null);
  }
  if (err instanceof Stripe.errors.StripeConnectionError) return transportOutcome(err);
  if (err instanceof Stripe.errors.StripeIdempotencyError) {
    // Same key, other parameters: a bug upstream (the amount changed for one attempt).
    return { status: 'gateway_error', reference: null, code: 'idempotency_conflict', message: err.message, retryable: false };
  }
  if (err instanceof Stripe.errors.StripeRateLimitError || err instanceof Stripe.errors.StripeAPIError) {
    return { status: 'gateway_error', reference: null, code: err.code ?? err.type, message: err.message, retryable: true };
  }
  if (err instanceof Stripe.errors.StripeError) {
    return { status: 'gateway_error', reference: null, code: err.code ?? err.type, message: err.message, retryable: false };
  }
  throw err;
}

function header(headers: WebhookRequest['headers'], name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === wanted) return Array.isArray(v) ? v[0] : (v as string | undefined);
  return undefined;
}

export class StripeGateway implements PaymentGateway {
  static readonly identifier = 'stripe';
  readonly id = StripeGateway.identifier;
  readonly methodTypes = [CARD] as const;
  readonly #stripe: Stripe;

  constructor(
    private readonly options: StripeOptions,
    private readonly deps: GatewayDeps,
  ) {
    const problems = validateStripeOptions(options);
    if (problems.length > 0) throw new Error(`stripe gateway: ${problems.join('; ')}`);
    const config: Stripe.StripeConfig = {
      timeout: options.timeoutMs ?? 30_000,
      maxNetworkRetries: options.maxNetworkRetries ?? 0,
      telemetry: false,
    };
    if (options.baseUrl) {
      const url = new URL(options.baseUrl);
      config.host = url.hostname;
      config.port = url.port || (url.protocol === 'https:' ? 443 : 80);
      config.protocol = url.protocol === 'https:' ? 'https' : 'http';
    }
    this.#stripe = new Stripe(options.secretKey, config);
  }

  async storePaymentMethod(request: StorePaymentMethodRequest): Promise<StorePaymentMethodResult> {
    const meta = validateMethodMeta(this.methodTypes, request.methodType, request.meta);
    if (!meta.ok) return { ok: false, code: 'invalid_meta', problems: meta.problems };
    try {
      const customerId =
        request.customerId ??
        (
          await this.#stripe.customers.create(
            { email: request.email, metadata: { account_id: request.accountId } },
            { idempotencyKey: `${request.idempotencyKey}.customer` },
          )
        ).id;
      const pm = await this.#stripe.paymentMethods.attach(
        meta.meta['payment_method']!,
        { customer: customerId },
        { idempotencyKey: `${request.idempotencyKey}.attach` },
      );
      const display: Record<string, string> = {};
      if (pm.card) {
        display['brand'] = pm.card.brand;
        display['last4'] = pm.card.last4;
        display['expiry'] = `${String(pm.card.exp_month).padStart(2, '0')}/${pm.card.exp_year}`;
      }
      return { ok: true, method: { gateway: this.id, methodType: request.methodType, customerId, token: pm.id, display } };
    } catch (err) {
      const r = fromError(err);
      return { ok: false, code: 'code' in r ? r.code : r.status, problems: ['message' in r ? r.message : r.status], retryable: r.status !== 'hard_decline' && r.status !== 'soft_decline' && !(r.status === 'gateway_error' && !r.retryable) };
    }
  }

  async charge(request: ChargeRequest): Promise<ChargeResult> {
    const amount = minorAmount(request.amount);
    if (!amount.ok) return { status: 'gateway_error', reference: null, code: 'amount_not_accepted', message: amount.message, retryable: false };
    try {
      const intent = await this.#stripe.paymentIntents.create(
        {
          amount: amount.minor,
          currency: request.amount.currency.toLowerCase(),
          customer: request.customerId,
          payment_method: request.token,
          off_session: true,
          confirm: true,
          description: request.description,
          metadata: { invoice_id: request.invoiceId, account_id: request.accountId, rateline_key: request.idempotencyKey },
        },
        { idempotencyKey: request.idempotencyKey },
      );
      return fromIntent(intent);
    } catch (err) {
      return fromError(err);
    }
  }

  async refund(request: RefundRequest): Promise<RefundResult> {
    const amount = minorAmount(request.amount);
    if (!amount.ok) return { status: 'failed', reference: null, code: 'amount_not_accepted', message: amount.message };
    try {
      const refund = await this.#stripe.refunds.create(
        {
          payment_intent: request.chargeReference,
          amount: amount.minor,
          metadata: { invoice_id: request.invoiceId, rateline_key: request.idempotencyKey, reason: request.reason ?? '' },
        },
        { idempotencyKey: request.idempotencyKey },
      );
      const money = moneyOf(refund.amount, refund.currency);
      if (refund.status === 'succeeded') return { status: 'succeeded', reference: refund.id, amount: money };
      if (refund.status === 'pending' || refund.status === 'requires_action') return { status: 'pending', reference: refund.id, amount: money };
      return { status: 'failed', reference: refund.id, code: refund.failure_reason ?? `refund_${refund.status}`, message: `refund is ${refund.status}` };
    } catch (err) {
      if (err instanceof Stripe.errors.StripeInvalidRequestError || err instanceof Stripe.errors.StripeIdempotencyError) {
        return { status: 'failed', reference: null, code: err.code ?? err.type, message: err.message };
      }
      const r = fromError(err);
      if (r.status === 'network_error' || r.status === 'indeterminate') return { ...r, retryable: true };
      return { status: 'gateway_error', code: 'code' in r ? r.code : r.status, message: 'message' in r ? r.message : '', retryable: r.status === 'gateway_error' && r.retryable };
    }
  }

  async findCharge(query: ChargeQuery): Promise<ChargeLookup> {
    try {
      // List, not search: Stripe's search index lags by up to a minute, a list does not.
      for await (const intent of this.#stripe.paymentIntents.list({ customer: query.customerId, limit: 100 })) {
        if (intent.metadata?.['rateline_key'] === query.idempotencyKey) return { status: 'found', result: fromIntent(intent) };
        if (intent.created * 1000 < this.deps.now() - 90 * 86_400_000) break;
      }
      return { status: 'not_found' };
    } catch (err) {
      return { status: 'error', result: fromError(err) };
    }
  }

  async listCharges(query: ChargeListQuery): Promise<ChargeListing> {
    try {
      const charges: GatewayCharge[] = [];
      // A PaymentIntent is the charge rateline makes (and records by its id); the SDK pages through the list.
      for await (const intent of this.#stripe.paymentIntents.list({ created: { gte: Math.floor(query.from / 1000), lt: Math.ceil(query.to / 1000) }, limit: 100 })) {
        const status = intent.status === 'succeeded' ? 'succeeded' : intent.status === 'processing' ? 'pending' : 'failed';
        charges.push({
          reference: intent.id, invoiceId: intent.metadata?.['invoice_id'] ?? null, status,
          amount: moneyOf(status === 'succeeded' ? intent.amount_received : intent.amount, intent.currency), createdAt: intent.created * 1000,
        });
      }
      return { ok: true, charges };
    } catch (err) {
      const r = fromError(err);
      return { ok: false, code: 'code' in r ? r.code : r.status, message: 'message' in r ? r.message : r.status, retryable: r.status !== 'gateway_error' || r.retryable };
    }
  }

  async parseWebhook(request: WebhookRequest): Promise<WebhookVerdict> {
    const signature = header(request.headers, 'stripe-signature');
    if (!signature) return { ok: false, reason: 'missing_signature', message: 'no Stripe-Signature header' };
    let event: Stripe.Event;
    try {
      event = this.#stripe.webhooks.constructEvent(
        request.rawBody,
        signature,
        this.options.webhookSecret,
        this.options.webhookToleranceSeconds ?? 300,
        undefined,
        this.deps.now(),
      );
    } catch (err) {
      const message = (err as Error).message;
      if (/tolerance/i.test(message)) return { ok: false, reason: 'stale_timestamp', message };
      if (/Unable to extract timestamp/i.test(message)) return { ok: false, reason: 'malformed', message };
      return { ok: false, reason: 'bad_signature', message };
    }
    try {
      return { ok: true, gatewayEventType: event.type, event: toPaymentEvent(event) };
    } catch (err) {
      return { ok: false, reason: 'malformed', message: `stripe event ${event.id}: ${(err as Error).message}` };
    }
  }
}

function toPaymentEvent(event: Stripe.Event): PaymentEvent | null {
  const occurredAt = event.created * 1000;
  const base = { eventId: event.id, occurredAt };
  switch (event.type) {
    case 'payment_intent.succeeded':
    case 'payment_intent.payment_failed':
    case 'payment_intent.processing': {
      const pi = event.data.object;
      const invoiceId = pi.metadata?.['invoice_id'];
      if (!invoiceId) return null; // not a rateline charge
      if (event.type === 'payment_intent.succeeded') {
        return { ...base, type: 'charge.succeeded', invoiceId, chargeReference: pi.id, amount: moneyOf(pi.amount_received, pi.currency) };
      }
      if (event.type === 'payment_intent.processing') {
        return { ...base, type: 'charge.pending', invoiceId, chargeReference: pi.id, amount: moneyOf(pi.amount, pi.currency) };
      }
      const e = pi.last_payment_error;
      return { ...base, type: 'charge.failed', invoiceId, chargeReference: pi.id, amount: moneyOf(pi.amount, pi.currency), code: e?.decline_code ?? e?.code ?? 'declined' };
    }
    case 'refund.created':
    case 'refund.updated': {
      const refund = event.data.object;
      const invoiceId = refund.metadata?.['invoice_id'];
      const pi = typeof refund.payment_intent === 'string' ? refund.payment_intent : refund.payment_intent?.id;
      if (!invoiceId || !pi) return null;
      const common = { ...base, invoiceId, chargeReference: pi, refundReference: refund.id, amount: moneyOf(refund.amount, refund.currency) };
      if (refund.status === 'succeeded') return { ...common, type: 'refund.succeeded' };
      if (refund.status === 'failed' || refund.status === 'canceled') return { ...common, type: 'refund.failed', code: refund.failure_reason ?? refund.status };
      return null;
    }
    default:
      return null;
  }
}

export function validateStripeOptions(options: Partial<StripeOptions>): string[] {
  const problems: string[] = [];
  if (!options.secretKey || !/^(sk|rk)_(test|live)_/.test(options.secretKey)) problems.push('secretKey must be a Stripe secret or restricted key (sk_live_..., sk_test_..., rk_...)');
  if (!options.webhookSecret || !options.webhookSecret.startsWith('whsec_')) problems.push('webhookSecret must be the endpoint signing secret (whsec_...)');
  problems.push(...checkEndpointOptions(options));
  return problems;
}

export const stripeGatewayFactory: GatewayFactory<StripeOptions> = {
  id: StripeGateway.identifier,
  optionsFromEnv(brand, env) {
    const s = envSuffix(brand);
    const timeout = env[`STRIPE_TIMEOUT_MS_${s}`];
    return {
      secretKey: env[`STRIPE_SECRET_KEY_${s}`] ?? '',
      webhookSecret: env[`STRIPE_WEBHOOK_SECRET_${s}`] ?? '',
      baseUrl: env[`STRIPE_BASE_URL_${s}`] || undefined,
      timeoutMs: timeout ? Number(timeout) : undefined,
    };
  },
  validateOptions: (o) => validateStripeOptions(o).map((p) => p),
  create: (o, deps) => new StripeGateway(o, deps),
};
