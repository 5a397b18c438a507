import {
  ApiError,
  CheckoutPaymentIntent,
  Client,
  Environment,
  OrdersController,
  PaymentsController,
  VaultController,
  VaultTokenRequestType,
} from '@paypal/paypal-server-sdk';
import type { Order, OAuthToken } from '@paypal/paypal-server-sdk';
import { minorUnits, parseMoney, toMinorUnits } from '../../domain/money/index.ts';
import type { Money } from '../../domain/money/index.ts';
import type { ChargeResult, PaymentEvent, RefundResult } from '../../domain/payments/index.ts';
import { validateMethodMeta } from '../methods.ts';
import { envSuffix } from '../registry.ts';
import { transportOutcome, checkEndpointOptions } from '../transport.ts';
import type {
  ChargeLookup,
  ChargeQuery,
  ChargeRequest,
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

export interface PayPalOptions {
  readonly clientId: string;
  readonly clientSecret: string;
  /** The id of the webhook registered for this brand's app: PayPal verifies against it. */
  readonly webhookId: string;
  readonly environment: 'sandbox' | 'production';
  /**
   * Only to point the SDK somewhere other than PayPal (the local fake, a proxy). The SDK
   * (v2.5) has no base-URL setting, only the two environments; when this is set, its axios
   * client is given a fetch that sends each request to this origin instead (see README).
   */
  readonly baseUrl?: string;
  /** Per-request timeout; after it the outcome is `indeterminate`. Default 30 s. */
  readonly timeoutMs?: number;
  /** Oldest (and furthest future) PAYPAL-TRANSMISSION-TIME accepted. Default 300 s. */
  readonly webhookToleranceSeconds?: number;
}

const ENVIRONMENT_URL = { sandbox: 'https://api-m.sandbox.paypal.com', production: 'https://api-m.paypal.com' } as const;

const PAYPAL_WALLET: PaymentMethodType = {
  id: 'paypal',
  fields: [{ name: 'setup_token', required: true, pattern: /^[A-Za-z0-9-]{4,64}$/, description: 'PayPal vault setup token id, approved by the payer' }],
};

/** 422 issues that need the payer (or another method): not retried automatically. */
const HARD_ISSUES = new Set([
  'INSTRUMENT_DECLINED',
  'PAYER_CANNOT_PAY',
  'PAYER_ACTION_REQUIRED',
  'CARD_EXPIRED',
  'PAYEE_BLOCKED_TRANSACTION',
  'COMPLIANCE_VIOLATION',
  'PAYER_ACCOUNT_RESTRICTED',
  'PAYER_ACCOUNT_LOCKED_OR_CLOSED',
]);
/** 422 issues that may pass later. */
const SOFT_ISSUES = new Set(['TRANSACTION_REFUSED', 'MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED', 'TRANSACTION_LIMIT_EXCEEDED']);
/** Processor response codes of a DECLINED capture that will not pass by retrying. */
const HARD_PROCESSOR_CODES = new Set(['1330', '5400', '5650', '9500', '9520', '0500', '5180', '5110']);

/** PayPal's API returns errors as JSON; the SDK keeps the body as text. */
function issueOf(err: ApiError): { issue: string; message: string } {
  let parsed: { name?: string; message?: string; details?: Array<{ issue?: string; description?: string }> } = {};
  const raw = (err as { result?: unknown }).result ?? err.body;
  try {
    parsed = (typeof raw === 'string' ? JSON.parse(raw) : raw) as typeof parsed;
  } catch {
    /* not JSON */
  }
  const detail = parsed?.details?.[0];
  return { issue: detail?.issue ?? parsed?.name ?? `http_${err.statusCode}`, message: detail?.description ?? parsed?.message ?? err.message };
}

function amountOf(m: { currencyCode?: string; value?: string } | undefined): Money {
  if (!m?.currencyCode || m.value === undefined) throw new Error('amount missing');
  return parseMoney(m.value, m.currencyCode);
}

function fromOrder(order: Order): ChargeResult | null {
  const capture = order.purchaseUnits?.[0]?.payments?.captures?.[0];
  if (!capture?.id) return null;
  const amount = amountOf(capture.amount);
  switch (capture.status) {
    case 'COMPLETED':
      return { status: 'succeeded', reference: capture.id, amount };
    case 'PENDING':
      return { status: 'pending', reference: capture.id, amount };
    default: {
      const code = capture.processorResponse?.responseCode ?? capture.status ?? 'DECLINED';
      return {
        status: HARD_PROCESSOR_CODES.has(code) ? 'hard_decline' : 'soft_decline',
        reference: capture.id,
        code,
        message: `capture ${capture.status ?? 'declined'} (processor response ${code})`,
      };
    }
  }
}

function fromApiError(err: ApiError): ChargeResult {
  const { issue, message } = issueOf(err);
  if (err.statusCode === 422) {
    if (issue === 'PAYPAL_REQUEST_ID_PREVIOUSLY_USED') return { status: 'gateway_error', reference: null, code: 'idempotency_conflict', message, retryable: false };
    if (HARD_ISSUES.has(issue)) return { status: 'hard_decline', reference: null, code: issue, message };
    if (SOFT_ISSUES.has(issue)) return { status: 'soft_decline', reference: null, code: issue, message };
  }
  const retryable = err.statusCode >= 500 || err.statusCode === 429 || err.statusCode === 408;
  return { status: 'gateway_error', reference: null, code: issue, message, retryable };
}

function fromError(err: unknown): ChargeResult {
  if (err instanceof ApiError) return fromApiError(err);
  return transportOutcome(err);
}

/**
 * A fetch that sends the SDK's requests to another origin (same path and query). Given
 * to the SDK's axios client only when a base URL is configured.
 */
function redirectingFetch(baseUrl: string): typeof fetch {
  const base = baseUrl.replace(/\/+$/, '');
  return async (input, init) => {
    const original = input instanceof Request ? input : new Request(input, init);
    const url = new URL(original.url);
    const body = original.method === 'GET' || original.method === 'HEAD' ? undefined : await original.arrayBuffer();
    return fetch(`${base}${url.pathname}${url.search}`, {
      method: original.method,
      headers: original.headers,
      body,
      signal: original.signal,
      redirect: original.redirect,
    });
  };
}

function header(headers: WebhookRequest['headers'], name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === wanted) return Array.isArray(v) ? v[0] : (v as string | undefined);
  return undefined;
}

export class PayPalGateway implements PaymentGateway {
  static readonly identifier = 'paypal';
  readonly id = PayPalGateway.identifier;
  readonly methodTypes = [PAYPAL_WALLET] as const;
  readonly #client: Client;
  readonly #orders: OrdersController;
  readonly #payments: PaymentsController;
  readonly #vault: VaultController;
  readonly #apiBase: string;
  #token: OAuthToken | undefined;

  constructor(
    private readonly options: PayPalOptions,
    private readonly deps: GatewayDeps,
  ) {
    const problems = validatePayPalOptions(options);
    if (problems.length > 0) throw new Error(`paypal gateway: ${problems.join('; ')}`);
    const timeout = options.timeoutMs ?? 30_000;
    this.#apiBase = (options.baseUrl ?? ENVIRONMENT_URL[options.environment]).replace(/\/+$/, '');
    this.#client = new Client({
      clientCredentialsAuthCredentials: {
        oAuthClientId: options.clientId,
        oAuthClientSecret: options.clientSecret,
        oAuthOnTokenUpdate: (token) => {
          this.#token = token;
        },
      },
      environment: options.environment === 'production' ? Environment.Production : Environment.Sandbox,
      timeout,
      // POSTs are never retried by the SDK: the collect service re-sends with the same key.
      httpClientOptions: { timeout, retryConfig: { maxNumberOfRetries: 0 } },
      unstable_httpClientOptions: options.baseUrl ? { adapter: 'fetch', env: { fetch: redirectingFetch(options.baseUrl) } } : undefined,
    });
    this.#orders = new OrdersController(this.#client);
    this.#payments = new PaymentsController(this.#client);
    this.#vault = new VaultController(this.#client);
  }

  async storePaymentMethod(request: StorePaymentMethodRequest): Promise<StorePaymentMethodResult> {
    const meta = validateMethodMeta(this.methodTypes, request.methodType, request.meta);
    if (!meta.ok) return { ok: false, code: 'invalid_meta', problems: meta.problems };
    try {
      const { result } = await this.#vault.createPaymentToken({
        body: {
          paymentSource: { token: { id: meta.meta['setup_token']!, type: VaultTokenRequestType.SetupToken } },
          customer: request.customerId ? { id: request.customerId } : undefined,
        },
        paypalRequestId: request.idempotencyKey,
      });
      if (!result.id || !result.customer?.id) return { ok: false, code: 'unexpected_response', problems: ['PayPal returned no token or customer id'], retryable: false };
      return { ok: true, method: { gateway: this.id, methodType: request.methodType, customerId: result.customer.id, token: result.id, display: { wallet: 'paypal' } } };
    } catch (err) {
      const r = fromError(err);
      return { ok: false, code: 'code' in r ? r.code : r.status, problems: ['message' in r ? r.message : r.status], retryable: r.status === 'network_error' || r.status === 'indeterminate' || (r.status === 'gateway_error' && r.retryable) };
    }
  }

  /**
   * Creates the order (PayPal-Request-Id = the key) with the vaulted token, then captures
   * it (PayPal-Request-Id = key + `.capture`). Re-sending after a timeout replays both:
   * the same order, the same capture, no second charge.
   */
  async charge(request: ChargeRequest): Promise<ChargeResult> {
    let value: string;
    try {
      toMinorUnits(request.amount); // refuses an unrounded amount
      value = request.amount.amount.toFixed(minorUnits(request.amount.currency));
    } catch (err) {
      return { status: 'gateway_error', reference: null, code: 'amount_not_accepted', message: (err as Error).message, retryable: false };
    }
    try {
      const { result: order } = await this.#orders.createOrder({
        body: {
          intent: CheckoutPaymentIntent.Capture,
          purchaseUnits: [
            {
              referenceId: 'default',
              amount: { currencyCode: request.amount.currency, value },
              customId: request.invoiceId,
              // PayPal refuses a second completed payment with one invoice_id: one more guard per attempt.
              invoiceId: request.idempotencyKey,
              description: request.description,
            },
          ],
          paymentSource: { paypal: { vaultId: request.token } },
        },
        paypalRequestId: request.idempotencyKey,
        prefer: 'return=representation',
      });
      const done = order.status === 'COMPLETED' ? fromOrder(order) : null;
      if (done) return done;
      if (!order.id) return { status: 'gateway_error', reference: null, code: 'unexpected_response', message: 'order without id', retryable: false };
      try {
        const { result: captured } = await this.#orders.captureOrder({
          id: order.id,
          paypalRequestId: `${request.idempotencyKey}.capture`,
          prefer: 'return=representation',
        });
        return fromOrder(captured) ?? { status: 'gateway_error', reference: order.id, code: 'no_capture', message: `order ${order.id} ${captured.status ?? ''} without a capture`, retryable: false };
      } catch (err) {
        if (err instanceof ApiError && issueOf(err).issue === 'ORDER_ALREADY_CAPTURED') {
          const { result: current } = await this.#orders.getOrder({ id: order.id });
          const r = fromOrder(current);
          if (r) return r;
        }
        throw err;
      }
    } catch (err) {
      return fromError(err);
    }
  }

  async refund(request: RefundRequest): Promise<RefundResult> {
    let value: string;
    try {
      toMinorUnits(request.amount);
      value = request.amount.amount.toFixed(minorUnits(request.amount.currency));
    } catch (err) {
      return { status: 'failed', reference: null, code: 'amount_not_accepted', message: (err as Error).message };
    }
    try {
      const { result } = await this.#payments.refundCapturedPayment({
        captureId: request.chargeReference,
        paypalRequestId: request.idempotencyKey,
        prefer: 'return=representation',
        body: { amount: { currencyCode: request.amount.currency, value }, customId: request.invoiceId, noteToPayer: request.reason },
      });
      if (!result.id) return { status: 'gateway_error', code: 'unexpected_response', message: 'refund without id', retryable: false };
      const amount = result.amount ? amountOf(result.amount) : request.amount;
      if (result.status === 'COMPLETED') return { status: 'succeeded', reference: result.id, amount };
      if (result.status === 'PENDING') return { status: 'pending', reference: result.id, amount };
      return { status: 'failed', reference: result.id, code: result.status ?? 'FAILED', message: `refund ${result.status ?? 'failed'}` };
    } catch (err) {
      if (err instanceof ApiError) {
        const { issue, message } = issueOf(err);
        if (err.statusCode >= 500 || err.statusCode === 429) return { status: 'gateway_error', code: issue, message, retryable: true };
        return { status: 'failed', reference: null, code: issue, message };
      }
      return { ...transportOutcome(err), retryable: true };
    }
  }

  /**
   * PayPal cannot be asked by PayPal-Request-Id. With an order id (`reference`) the order
   * is read; without one, settling is re-sending the same request with the same key.
   */
  async findCharge(query: ChargeQuery): Promise<ChargeLookup> {
    if (!query.reference) return { status: 'unsupported', why: 'PayPal has no lookup by PayPal-Request-Id: re-send with the same key' };
    try {
      const { result } = await this.#orders.getOrder({ id: query.reference });
      const r = fromOrder(result);
      return r ? { status: 'found', result: r } : { status: 'not_found' };
    } catch (err) {
      if (err instanceof ApiError && err.statusCode === 404) return { status: 'not_found' };
      return { status: 'error', result: fromError(err) };
    }
  }

  async parseWebhook(request: WebhookRequest): Promise<WebhookVerdict> {
    const h = (n: string) => header(request.headers, n);
    const transmissionId = h('paypal-transmission-id');
    const transmissionTime = h('paypal-transmission-time');
    const transmissionSig = h('paypal-transmission-sig');
    const certUrl = h('paypal-cert-url');
    const authAlgo = h('paypal-auth-algo');
    if (!transmissionId || !transmissionTime || !transmissionSig || !certUrl || !authAlgo) {
      return { ok: false, reason: 'missing_signature', message: 'PAYPAL-TRANSMISSION-ID, -TIME, -SIG, PAYPAL-CERT-URL and PAYPAL-AUTH-ALGO are all required' };
    }
    const sentAt = Date.parse(transmissionTime);
    if (!Number.isFinite(sentAt)) return { ok: false, reason: 'malformed', message: `PAYPAL-TRANSMISSION-TIME "${transmissionTime}" is not a time` };
    const tolerance = (this.options.webhookToleranceSeconds ?? 300) * 1000;
    // PayPal's verify API does not judge age: a replayed old delivery is refused here.
    if (Math.abs(this.deps.now() - sentAt) > tolerance) {
      return { ok: false, reason: 'stale_timestamp', message: `transmitted at ${transmissionTime}, more than ${tolerance / 1000} s from now` };
    }
    const raw = typeof request.rawBody === 'string' ? request.rawBody : request.rawBody.toString('utf8');
    let event: { id?: string; event_type?: string; create_time?: string; resource?: Record<string, any> };
    try {
      event = JSON.parse(raw) as typeof event;
    } catch {
      return { ok: false, reason: 'malformed', message: 'body is not JSON' };
    }

    // The event goes to PayPal as the bytes received, never re-serialised: the signature's
    // CRC is over those bytes.
    const fields = JSON.stringify({
      auth_algo: authAlgo,
      cert_url: certUrl,
      transmission_id: transmissionId,
      transmission_sig: transmissionSig,
      transmission_time: transmissionTime,
      webhook_id: this.options.webhookId,
    });
    const body = `${fields.slice(0, -1)},"webhook_event":${raw.trim()}}`;
    let status: string;
    try {
      status = await this.#verify(body);
    } catch (err) {
      return { ok: false, reason: 'verification_unavailable', message: `PayPal verify-webhook-signature: ${(err as Error).message}` };
    }
    if (status !== 'SUCCESS') return { ok: false, reason: 'bad_signature', message: `PayPal says ${status}` };
    try {
      return { ok: true, gatewayEventType: event.event_type ?? '', event: toPaymentEvent(event) };
    } catch (err) {
      return { ok: false, reason: 'malformed', message: `paypal event ${event.id ?? '?'}: ${(err as Error).message}` };
    }
  }

  async #accessToken(forceNew: boolean): Promise<string> {
    const manager = this.#client.clientCredentialsAuthManager;
    this.#token = forceNew ? await manager.fetchToken() : await manager.updateToken(this.#token);
    return this.#token.accessToken;
  }

  async #verify(body: string): Promise<string> {
    for (const forceNew of [false, true]) {
      const response = await fetch(`${this.#apiBase}/v1/notifications/verify-webhook-signature`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await this.#accessToken(forceNew)}` },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
      if (response.status === 401 && !forceNew) continue;
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const json = (await response.json()) as { verification_status?: string };
      return json.verification_status ?? 'MISSING';
    }
    throw new Error('unauthorised');
  }
}

function toPaymentEvent(event: { id?: string; event_type?: string; create_time?: string; resource?: Record<string, any> }): PaymentEvent | null {
  const r = event.resource;
  if (!event.id || !r) return null;
  const invoiceId: string | undefined = r['custom_id'];
  if (!invoiceId) return null; // not a rateline payment
  const occurredAt = Date.parse(event.create_time ?? '');
  if (!Number.isFinite(occurredAt)) throw new Error('create_time missing');
  const amount = parseMoney(String(r['amount']?.value), String(r['amount']?.currency_code));
  const base = { eventId: event.id, invoiceId, amount, occurredAt };
  switch (event.event_type) {
    case 'PAYMENT.CAPTURE.COMPLETED':
      return { ...base, type: 'charge.succeeded', chargeReference: r['id'] };
    case 'PAYMENT.CAPTURE.PENDING':
      return { ...base, type: 'charge.pending', chargeReference: r['id'] };
    case 'PAYMENT.CAPTURE.DENIED':
    case 'PAYMENT.CAPTURE.DECLINED':
      return { ...base, type: 'charge.failed', chargeReference: r['id'], code: r['processor_response']?.response_code ?? event.event_type };
    case 'PAYMENT.CAPTURE.REFUNDED': {
      const up = (r['links'] as Array<{ rel?: string; href?: string }> | undefined)?.find((l) => l.rel === 'up')?.href;
      const captureId = up?.split('/').pop();
      if (!captureId) throw new Error('refund without its capture link');
      return { ...base, type: 'refund.succeeded', chargeReference: captureId, refundReference: r['id'] };
    }
    default:
      return null;
  }
}

export function validatePayPalOptions(options: Partial<PayPalOptions>): string[] {
  const problems: string[] = [];
  if (!options.clientId) problems.push('clientId is required (the REST app\'s client id)');
  if (!options.clientSecret) problems.push('clientSecret is required (the REST app\'s secret)');
  if (!options.webhookId) problems.push('webhookId is required (the id of the webhook registered for the app)');
  if (options.environment !== 'sandbox' && options.environment !== 'production') problems.push(`environment must be sandbox or production, got "${String(options.environment)}"`);
  problems.push(...checkEndpointOptions(options));
  return problems;
}

export const paypalGatewayFactory: GatewayFactory<PayPalOptions> = {
  id: PayPalGateway.identifier,
  optionsFromEnv(brand, env) {
    const s = envSuffix(brand);
    const timeout = env[`PAYPAL_TIMEOUT_MS_${s}`];
    return {
      clientId: env[`PAYPAL_CLIENT_ID_${s}`] ?? '',
      clientSecret: env[`PAYPAL_CLIENT_SECRET_${s}`] ?? '',
      webhookId: env[`PAYPAL_WEBHOOK_ID_${s}`] ?? '',
      environment: (env[`PAYPAL_ENVIRONMENT_${s}`] ?? 'sandbox') as PayPalOptions['environment'],
      baseUrl: env[`PAYPAL_BASE_URL_${s}`] || undefined,
      timeoutMs: timeout ? Number(timeout) : undefined,
    };
  },
  validateOptions: validatePayPalOptions,
  create: (o, deps) => new PayPalGateway(o, deps),
};
