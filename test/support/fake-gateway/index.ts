/**
 * A local HTTP server that plays Stripe and PayPal for their real SDKs, on 127.0.0.1 and a
 * free port. It records every request, honours idempotency keys as the real gateways do
 * (same key and parameters: the stored answer replayed; same key, other parameters: the
 * gateway's own error), can be told per customer, token, amount or invoice to succeed,
 * decline, fail or charge and then not answer in time, counts successful charges per
 * invoice, and signs webhooks the way each gateway does.
 *
 * Usage:
 *   const fake = await startFakeGateway();
 *   new Stripe(fake.stripe.secretKey, { host: fake.host, port: fake.port, protocol: 'http' });
 *   fake.script({ token: 'pm_soft' }, 'soft_decline', 'succeed');
 *   ...
 *   await fake.close();
 */
import { createHash, createHmac, generateKeyPairSync, randomUUID, sign, verify } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { crc32 } from 'node:zlib';
import { money, toMinorUnits } from '../../../domain/money/index.ts';

export type Outcome = 'succeed' | 'hard_decline' | 'soft_decline' | 'fail' | { readonly kind: 'charge_then_timeout'; readonly delayMs: number };

/** Which charges a script applies to; every given field must match. */
export interface ChargeMatch {
  readonly customer?: string;
  readonly token?: string;
  readonly amountMinor?: bigint | number;
  readonly invoiceId?: string;
}

/** A charge that took money, as the gateway knows it the moment it does. */
export interface SuccessfulCharge {
  readonly gateway: 'stripe' | 'paypal';
  readonly invoiceId: string;
  /** The PaymentIntent or capture id: the reference its webhook carries. */
  readonly reference: string;
  readonly amountMinor: bigint;
  readonly currency: string;
}

export interface RecordedRequest {
  readonly gateway: 'stripe' | 'paypal';
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
  readonly idempotencyKey: string | undefined;
  /** True when answered from the idempotency store. */
  replayed: boolean;
}

export interface FakeGatewayOptions {
  readonly stripeSecretKey?: string;
  readonly paypalClientId?: string;
  readonly paypalClientSecret?: string;
  /** The webhook id PayPal's verify API accepts (a merchant's registered webhook). */
  readonly paypalWebhookId?: string;
  readonly now?: () => number;
}

interface Reply {
  status: number;
  body: unknown;
  /** Hold the answer this long after the work is done (charge then time out). */
  delayMs?: number;
  /** Hold the answer until this settles (a success listener's own work, e.g. its webhook delivered). */
  hold?: Promise<unknown>;
}

interface StoredReply {
  fingerprint: string;
  reply: Reply;
}

interface Script {
  match: ChargeMatch;
  outcomes: Outcome[];
  used: number;
}

interface ChargeFacts {
  customer: string;
  token: string;
  amountMinor: bigint;
  invoiceId: string;
}

interface StripeIntent {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_received: number;
  currency: string;
  customer: string;
  payment_method: string;
  status: string;
  latest_charge: string | null;
  metadata: Record<string, string>;
  created: number;
  last_payment_error?: unknown;
  refunded: number;
}

interface PayPalOrder {
  id: string;
  status: string;
  intent: string;
  create_time: string;
  payment_source: unknown;
  purchase_units: Array<Record<string, unknown>>;
  links: unknown[];
  customer: string;
  vaultId: string;
}

interface PayPalCapture {
  id: string;
  status: string;
  amount: { currency_code: string; value: string };
  custom_id: string;
  invoice_id: string;
  refundedMinor: bigint;
  orderId: string;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Stripe's webhook signature: HMAC-SHA256 of `${t}.${payload}` with the endpoint secret. */
export function stripeSignatureHeader(payload: string, secret: string, timestampSeconds: number): string {
  const v1 = createHmac('sha256', secret).update(`${timestampSeconds}.${payload}`, 'utf8').digest('hex');
  return `t=${timestampSeconds},v1=${v1}`;
}

export class FakeGateway {
  readonly requests: RecordedRequest[] = [];
  readonly host = '127.0.0.1';
  port = 0;

  readonly stripe: {
    readonly secretKey: string;
    readonly webhookSecret: string;
    /** A signed delivery of `event` as Stripe sends it: the raw body and the Stripe-Signature header. */
    webhook(event: unknown, options?: { timestampSeconds?: number; secret?: string }): { rawBody: string; headers: Record<string, string> };
    /** A Stripe event envelope around an object. */
    event(type: string, object: unknown, options?: { id?: string; createdSeconds?: number }): Record<string, unknown>;
    intent(id: string): StripeIntent | undefined;
  };

  readonly paypal: {
    readonly clientId: string;
    readonly clientSecret: string;
    readonly webhookId: string;
    /** A signed delivery as PayPal sends it: transmission id/time, signature over id|time|webhookId|crc32(body). */
    webhook(event: unknown, options?: { transmissionTime?: string; webhookId?: string }): { rawBody: string; headers: Record<string, string> };
    event(eventType: string, resource: unknown, options?: { id?: string; createTime?: string }): Record<string, unknown>;
    capture(id: string): PayPalCapture | undefined;
    order(id: string): PayPalOrder | undefined;
  };

  #server: Server;
  #sockets = new Set<Socket>();
  #timers = new Set<NodeJS.Timeout>();
  #scripts: Script[] = [];
  #store = new Map<string, StoredReply>();
  #seq = 0;
  #now: () => number;
  #successByInvoice = new Map<string, number>();
  #successListeners: ((charge: SuccessfulCharge) => unknown)[] = [];
  #intents = new Map<string, StripeIntent>();
  #orders = new Map<string, PayPalOrder>();
  #captures = new Map<string, PayPalCapture>();
  #paypalTokens = new Set<string>();
  #vault = new Map<string, { customer: string }>();
  #keys = generateKeyPairSync('rsa', { modulusLength: 2048 });

  constructor(options: FakeGatewayOptions = {}) {
    this.#now = options.now ?? Date.now;
    const fake = this;
    const stripeSecretKey = options.stripeSecretKey ?? 'sk_test_fake_gateway';
    const webhookSecret = 'whsec_fake_gateway_secret';
    this.stripe = {
      secretKey: stripeSecretKey,
      webhookSecret,
      webhook(event, o = {}) {
        const rawBody = JSON.stringify(event, null, 2); // Stripe sends pretty-printed JSON
        const t = o.timestampSeconds ?? Math.floor(fake.#now() / 1000);
        return { rawBody, headers: { 'stripe-signature': stripeSignatureHeader(rawBody, o.secret ?? webhookSecret, t), 'content-type': 'application/json' } };
      },
      event(type, object, o = {}) {
        return {
          id: o.id ?? `evt_${fake.#next()}`,
          object: 'event',
          api_version: '2025-01-01',
          created: o.createdSeconds ?? Math.floor(fake.#now() / 1000),
          type,
          livemode: false,
          pending_webhooks: 1,
          data: { object },
        };
      },
      intent: (id) => this.#intents.get(id),
    };
    const webhookId = options.paypalWebhookId ?? 'WH-FAKE-0001';
    this.paypal = {
      clientId: options.paypalClientId ?? 'fake-client-id',
      clientSecret: options.paypalClientSecret ?? 'fake-client-secret',
      webhookId,
      webhook(event, o = {}) {
        const rawBody = JSON.stringify(event);
        const transmissionId = randomUUID();
        const transmissionTime = o.transmissionTime ?? new Date(fake.#now()).toISOString();
        const signed = `${transmissionId}|${transmissionTime}|${o.webhookId ?? webhookId}|${crc32(Buffer.from(rawBody, 'utf8'))}`;
        const sig = sign('sha256', Buffer.from(signed, 'utf8'), fake.#keys.privateKey).toString('base64');
        return {
          rawBody,
          headers: {
            'content-type': 'application/json',
            'paypal-transmission-id': transmissionId,
            'paypal-transmission-time': transmissionTime,
            'paypal-transmission-sig': sig,
            'paypal-cert-url': `${fake.url}/v1/notifications/certs/CERT-fake`,
            'paypal-auth-algo': 'SHA256withRSA',
          },
        };
      },
      event(eventType, resource, o = {}) {
        return {
          id: o.id ?? `WH-${fake.#next()}`,
          event_version: '1.0',
          create_time: o.createTime ?? new Date(fake.#now()).toISOString(),
          resource_type: eventType.startsWith('PAYMENT.CAPTURE.REFUNDED') ? 'refund' : 'capture',
          event_type: eventType,
          summary: eventType,
          resource,
        };
      },
      capture: (id) => this.#captures.get(id),
      order: (id) => this.#orders.get(id),
    };
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, this.host, resolve));
    this.port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  /** From now on, charges matching `match` get these outcomes in turn; the last one repeats. */
  script(match: ChargeMatch, ...outcomes: Outcome[]): void {
    if (outcomes.length === 0) throw new Error('script needs at least one outcome');
    this.#scripts.push({ match, outcomes, used: 0 });
  }

  /** Charges that took money for an invoice (Stripe metadata.invoice_id, PayPal custom_id). */
  successfulCharges(invoiceId: string): number {
    return this.#successByInvoice.get(invoiceId) ?? 0;
  }

  /**
   * Called as a charge takes money, before its answer is sent: the moment a real gateway
   * sends its webhook, which may then reach rateline before the answer does. A listener that
   * returns a promise holds the answer until it settles (the webhook first, for certain).
   */
  onSuccess(listener: (charge: SuccessfulCharge) => unknown): void {
    this.#successListeners.push(listener);
  }

  /** Recorded requests whose path starts with the prefix (query string excluded). */
  requestsTo(method: string, pathPrefix: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && r.path.startsWith(pathPrefix));
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #next(): string {
    this.#seq += 1;
    return String(this.#seq).padStart(6, '0');
  }

  #outcomeFor(facts: ChargeFacts): Outcome {
    for (const s of this.#scripts) {
      const m = s.match;
      if (m.customer !== undefined && m.customer !== facts.customer) continue;
      if (m.token !== undefined && m.token !== facts.token) continue;
      if (m.amountMinor !== undefined && BigInt(m.amountMinor) !== facts.amountMinor) continue;
      if (m.invoiceId !== undefined && m.invoiceId !== facts.invoiceId) continue;
      const outcome = s.outcomes[Math.min(s.used, s.outcomes.length - 1)]!;
      s.used += 1;
      return outcome;
    }
    return 'succeed';
  }

  #countSuccess(charge: SuccessfulCharge): Promise<unknown> | undefined {
    this.#successByInvoice.set(charge.invoiceId, (this.#successByInvoice.get(charge.invoiceId) ?? 0) + 1);
    const held = this.#successListeners.map((listener) => listener(charge)).filter((r): r is Promise<unknown> => r instanceof Promise);
    return held.length > 0 ? Promise.allSettled(held) : undefined;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    // A proxy-style absolute URL and a plain path both work.
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const path = url.pathname;
    const paypal = path.startsWith('/v2/') || path.startsWith('/v3/') || path.startsWith('/v1/oauth2/') || path.startsWith('/v1/notifications/');
    const gateway = paypal ? 'paypal' : 'stripe';
    const idempotencyKey = header(req, paypal ? 'paypal-request-id' : 'idempotency-key');
    const record: RecordedRequest = { gateway, method: req.method ?? 'GET', path: path + url.search, headers: req.headers, body, idempotencyKey, replayed: false };
    this.requests.push(record);

    let reply: Reply;
    try {
      reply = paypal ? this.#paypal(req, url, body, record) : this.#stripe(req, url, body, record);
    } catch (err) {
      reply = { status: 500, body: { error: { type: 'api_error', message: `fake gateway bug: ${(err as Error).message}` } } };
    }
    this.#send(res, reply, gateway, record.replayed);
  }

  #send(res: ServerResponse, reply: Reply, gateway: 'stripe' | 'paypal', replayed: boolean): void {
    const write = () => {
      if (res.destroyed) return;
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (gateway === 'stripe') {
        headers['request-id'] = `req_${this.#next()}`;
        if (replayed) headers['idempotent-replayed'] = 'true';
      } else headers['paypal-debug-id'] = `dbg${this.#next()}`;
      res.writeHead(reply.status, headers);
      res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
    };
    const delayed = () => {
      if (reply.delayMs && reply.delayMs > 0) {
        const t = setTimeout(() => {
          this.#timers.delete(t);
          write();
        }, reply.delayMs);
        this.#timers.add(t);
      } else write();
    };
    if (reply.hold) void reply.hold.then(delayed, delayed);
    else delayed();
  }

  /** Runs `work` once per idempotency key; a replay returns the stored reply, immediately. */
  #idempotent(scope: string, key: string | undefined, fingerprint: string, record: RecordedRequest, work: () => Reply, conflict: (key: string) => Reply): Reply {
    if (!key) return work();
    const stored = this.#store.get(`${scope}:${key}`);
    if (stored) {
      if (stored.fingerprint !== fingerprint) return conflict(key);
      record.replayed = true;
      return { status: stored.reply.status, body: stored.reply.body };
    }
    const reply = work();
    // Authentication and rate-limit refusals are not stored (the request never ran).
    if (reply.status !== 401 && reply.status !== 429) this.#store.set(`${scope}:${key}`, { fingerprint, reply });
    return reply;
  }

  // ---------------------------------------------------------------- Stripe

  #stripe(req: IncomingMessage, url: URL, body: string, record: RecordedRequest): Reply {
    const auth = header(req, 'authorization');
    if (auth !== `Bearer ${this.stripe.secretKey}`) {
      return { status: 401, body: { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } } };
    }
    const method = req.method ?? 'GET';
    const params = new URLSearchParams(method === 'GET' ? url.search : body);
    const p = (name: string) => params.get(name) ?? undefined;
    const metadata = (): Record<string, string> => {
      const out: Record<string, string> = {};
      for (const [k, v] of params) {
        const m = /^metadata\[(.+)\]$/.exec(k);
        if (m) out[m[1]!] = v;
      }
      return out;
    };
    const path = url.pathname;
    const fingerprint = `${method} ${path} ${canonical([...params.entries()].sort())}`;
    const conflict = (key: string): Reply => ({
      status: 400,
      body: {
        error: {
          type: 'idempotency_error',
          message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
        },
      },
    });
    const notFound = (what: string, id: string): Reply => ({
      status: 404,
      body: { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such ${what}: '${id}'` } },
    });
    const created = Math.floor(this.#now() / 1000);

    if (method === 'POST' && path === '/v1/customers') {
      return this.#idempotent('stripe', record.idempotencyKey, fingerprint, record, () => ({
        status: 200,
        body: { id: `cus_${this.#next()}`, object: 'customer', email: p('email') ?? null, metadata: metadata(), created },
      }), conflict);
    }
    let m = /^\/v1\/payment_methods\/([^/]+)\/attach$/.exec(path);
    if (method === 'POST' && m) {
      const pm = decodeURIComponent(m[1]!);
      return this.#idempotent('stripe', record.idempotencyKey, fingerprint, record, () => ({
        status: 200,
        body: {
          id: pm,
          object: 'payment_method',
          type: 'card',
          customer: p('customer') ?? null,
          card: { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030, funding: 'credit' },
          created,
        },
      }), conflict);
    }
    if (method === 'POST' && path === '/v1/payment_intents') {
      return this.#idempotent('stripe', record.idempotencyKey, fingerprint, record, () => this.#stripeCharge(params, metadata()), conflict);
    }
    if (method === 'GET' && path === '/v1/payment_intents') {
      // Newest first, filtered by customer and created[gte|gt|lte|lt], paged with starting_after, as Stripe lists.
      const customer = p('customer');
      const limit = Number(p('limit') ?? 10);
      const bound = (op: string) => (p(`created[${op}]`) === undefined ? undefined : Number(p(`created[${op}]`)));
      const [gte, gt, lte, lt] = ['gte', 'gt', 'lte', 'lt'].map(bound);
      const all = [...this.#intents.values()]
        .filter((i) => (!customer || i.customer === customer) && (gte === undefined || i.created >= gte) && (gt === undefined || i.created > gt) && (lte === undefined || i.created <= lte) && (lt === undefined || i.created < lt))
        .reverse();
      const after = p('starting_after');
      const from = after === undefined ? 0 : all.findIndex((i) => i.id === after) + 1;
      const data = all.slice(from, from + limit);
      return { status: 200, body: { object: 'list', data, has_more: from + limit < all.length, url: '/v1/payment_intents' } };
    }
    m = /^\/v1\/payment_intents\/([^/]+)$/.exec(path);
    if (method === 'GET' && m) {
      const intent = this.#intents.get(m[1]!);
      return intent ? { status: 200, body: intent } : notFound('payment_intent', m[1]!);
    }
    if (method === 'POST' && path === '/v1/refunds') {
      return this.#idempotent('stripe', record.idempotencyKey, fingerprint, record, () => {
        const id = p('payment_intent') ?? '';
        const intent = this.#intents.get(id);
        if (!intent) return notFound('payment_intent', id);
        const amount = Number(p('amount') ?? intent.amount_received - intent.refunded);
        if (intent.status !== 'succeeded' || amount > intent.amount_received - intent.refunded) {
          return {
            status: 400,
            body: { error: { type: 'invalid_request_error', code: 'amount_too_large', message: `Refund amount (${amount}) is greater than unrefunded amount on charge (${intent.amount_received - intent.refunded})` } },
          };
        }
        intent.refunded += amount;
        return {
          status: 200,
          body: { id: `re_${this.#next()}`, object: 'refund', amount, currency: intent.currency, payment_intent: id, status: 'succeeded', metadata: metadata(), created },
        };
      }, conflict);
    }
    return { status: 404, body: { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path})` } } };
  }

  #stripeCharge(params: URLSearchParams, metadata: Record<string, string>): Reply {
    const amount = Number(params.get('amount'));
    const facts: ChargeFacts = {
      customer: params.get('customer') ?? '',
      token: params.get('payment_method') ?? '',
      amountMinor: BigInt(params.get('amount') ?? '0'),
      invoiceId: metadata['invoice_id'] ?? '',
    };
    const outcome = this.#outcomeFor(facts);
    const intent: StripeIntent = {
      id: `pi_${this.#next()}`,
      object: 'payment_intent',
      amount,
      amount_received: 0,
      currency: params.get('currency') ?? '',
      customer: facts.customer,
      payment_method: facts.token,
      status: 'requires_payment_method',
      latest_charge: null,
      metadata,
      created: Math.floor(this.#now() / 1000),
      refunded: 0,
    };
    this.#intents.set(intent.id, intent);
    if (outcome === 'succeed' || typeof outcome === 'object') {
      intent.status = 'succeeded';
      intent.amount_received = amount;
      intent.latest_charge = `ch_${this.#next()}`;
      const hold = this.#countSuccess({ gateway: 'stripe', invoiceId: facts.invoiceId, reference: intent.id, amountMinor: facts.amountMinor, currency: intent.currency });
      return { status: 200, body: intent, delayMs: typeof outcome === 'object' ? outcome.delayMs : undefined, hold };
    }
    if (outcome === 'fail') return { status: 500, body: { error: { type: 'api_error', message: 'An unknown error occurred' } } };
    const decline =
      outcome === 'soft_decline'
        ? { code: 'card_declined', decline_code: 'insufficient_funds', message: 'Your card has insufficient funds.' }
        : { code: 'card_declined', decline_code: 'lost_card', message: 'Your card was declined.' };
    const error = { type: 'card_error', ...decline, charge: `ch_${this.#next()}` };
    intent.last_payment_error = error;
    return { status: 402, body: { error: { ...error, payment_intent: intent } } };
  }

  // ---------------------------------------------------------------- PayPal

  #paypal(req: IncomingMessage, url: URL, body: string, record: RecordedRequest): Reply {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const debug_id = `dbg${this.#next()}`;
    const unprocessable = (issue: string, description: string): Reply => ({
      status: 422,
      body: {
        name: 'UNPROCESSABLE_ENTITY',
        message: 'The requested action could not be performed, semantically incorrect, or failed business validation.',
        debug_id,
        details: [{ issue, description }],
      },
    });

    if (method === 'POST' && path === '/v1/oauth2/token') {
      const expected = `Basic ${Buffer.from(`${this.paypal.clientId}:${this.paypal.clientSecret}`).toString('base64')}`;
      if (header(req, 'authorization') !== expected) {
        return { status: 401, body: { error: 'invalid_client', error_description: 'Client Authentication failed' } };
      }
      const token = `A21AA${createHash('sha256').update(this.#next()).digest('hex').slice(0, 24)}`;
      this.#paypalTokens.add(token);
      return { status: 200, body: { scope: 'https://uri.paypal.com/services/payments/payment', access_token: token, token_type: 'Bearer', app_id: 'APP-FAKE', expires_in: 32400, nonce: this.#next() } };
    }
    const bearer = /^Bearer (.+)$/.exec(header(req, 'authorization') ?? '')?.[1];
    if (!bearer || !this.#paypalTokens.has(bearer)) {
      return { status: 401, body: { name: 'AUTHENTICATION_FAILURE', message: 'Authentication failed due to invalid authentication credentials or a missing Authorization header.', debug_id } };
    }

    if (method === 'POST' && path === '/v1/notifications/verify-webhook-signature') return this.#paypalVerify(body);

    let json: Record<string, any> = {};
    if (body) {
      try {
        json = JSON.parse(body) as Record<string, any>;
      } catch {
        return { status: 400, body: { name: 'INVALID_REQUEST', message: 'Request is not well-formed, syntactically incorrect, or violates schema.', debug_id } };
      }
    }
    const fingerprint = `${method} ${path} ${canonical(json)}`;
    const conflict = () => unprocessable('PAYPAL_REQUEST_ID_PREVIOUSLY_USED', 'The PayPal-Request-Id has already been used for another request.');

    if (method === 'POST' && path === '/v3/vault/payment-tokens') {
      return this.#idempotent('paypal', record.idempotencyKey, fingerprint, record, () => {
        const setup = json.payment_source?.token;
        if (!setup?.id || setup.type !== 'SETUP_TOKEN') return unprocessable('INVALID_PARAMETER_VALUE', 'payment_source.token must be a SETUP_TOKEN');
        const id = `VT${this.#next()}`;
        const customer = json.customer?.id ?? `CUST${this.#next()}`;
        this.#vault.set(id, { customer });
        return { status: 201, body: { id, customer: { id: customer }, payment_source: { paypal: { email_address: 'payer@example.com' } }, links: [] } };
      }, conflict);
    }
    if (method === 'POST' && path === '/v2/checkout/orders') {
      return this.#idempotent('paypal', record.idempotencyKey, fingerprint, record, () => {
        const vaultId: string | undefined = json.payment_source?.paypal?.vault_id;
        const unit = json.purchase_units?.[0];
        if (!vaultId || !unit?.amount) return unprocessable('MISSING_REQUIRED_PARAMETER', 'payment_source.paypal.vault_id and purchase_units[0].amount are required');
        const vaulted = this.#vault.get(vaultId);
        const order: PayPalOrder = {
          id: `ORDER${this.#next()}`,
          status: 'APPROVED',
          intent: json.intent,
          create_time: new Date(this.#now()).toISOString(),
          payment_source: { paypal: { email_address: 'payer@example.com', attributes: { vault: { id: vaultId, status: 'VAULTED' } } } },
          purchase_units: [{ reference_id: unit.reference_id ?? 'default', amount: unit.amount, custom_id: unit.custom_id, invoice_id: unit.invoice_id }],
          links: [],
          customer: vaulted?.customer ?? '',
          vaultId,
        };
        this.#orders.set(order.id, order);
        return { status: 201, body: this.#orderBody(order) };
      }, conflict);
    }
    let m = /^\/v2\/checkout\/orders\/([^/]+)\/capture$/.exec(path);
    if (method === 'POST' && m) {
      const orderId = m[1]!;
      return this.#idempotent('paypal', record.idempotencyKey, fingerprint, record, () => this.#paypalCapture(orderId, unprocessable, debug_id), conflict);
    }
    m = /^\/v2\/checkout\/orders\/([^/]+)$/.exec(path);
    if (method === 'GET' && m) {
      const order = this.#orders.get(m[1]!);
      return order ? { status: 200, body: this.#orderBody(order) } : { status: 404, body: { name: 'RESOURCE_NOT_FOUND', message: 'The specified resource does not exist.', debug_id } };
    }
    m = /^\/v2\/payments\/captures\/([^/]+)\/refund$/.exec(path);
    if (method === 'POST' && m) {
      const captureId = m[1]!;
      return this.#idempotent('paypal', record.idempotencyKey, fingerprint, record, () => {
        const capture = this.#captures.get(captureId);
        if (!capture || capture.status !== 'COMPLETED') return { status: 404, body: { name: 'RESOURCE_NOT_FOUND', message: 'The specified resource does not exist.', debug_id } };
        const currency = capture.amount.currency_code;
        const capturedMinor = toMinorUnits(money(capture.amount.value, currency));
        const requested = json.amount ? toMinorUnits(money(json.amount.value, json.amount.currency_code)) : capturedMinor - capture.refundedMinor;
        if (requested > capturedMinor - capture.refundedMinor) return unprocessable('REFUND_AMOUNT_EXCEEDED', 'The refund amount must be less than or equal to the capture amount that has not yet been refunded.');
        capture.refundedMinor += requested;
        const value = json.amount?.value ?? capture.amount.value;
        return {
          status: 201,
          body: {
            id: `REF${this.#next()}`,
            status: 'COMPLETED',
            amount: { currency_code: currency, value },
            custom_id: capture.custom_id,
            invoice_id: capture.invoice_id,
            create_time: new Date(this.#now()).toISOString(),
            links: [{ href: `${this.url}/v2/payments/captures/${captureId}`, rel: 'up', method: 'GET' }],
          },
        };
      }, conflict);
    }
    return { status: 404, body: { name: 'RESOURCE_NOT_FOUND', message: `no route ${method} ${path}`, debug_id } };
  }

  #orderBody(order: PayPalOrder): Record<string, unknown> {
    const { customer: _customer, vaultId: _vaultId, ...visible } = order;
    return visible;
  }

  #paypalCapture(orderId: string, unprocessable: (issue: string, d: string) => Reply, debug_id: string): Reply {
    const order = this.#orders.get(orderId);
    if (!order) return { status: 404, body: { name: 'RESOURCE_NOT_FOUND', message: 'The specified resource does not exist.', debug_id } };
    if (order.status === 'COMPLETED') return unprocessable('ORDER_ALREADY_CAPTURED', 'Order already captured. If intent=CAPTURE only one capture per order is allowed.');
    const unit = order.purchase_units[0] as { amount: { currency_code: string; value: string }; custom_id: string; invoice_id: string };
    const invoiceKey = unit.invoice_id;
    // PayPal refuses a second completed payment with the same invoice_id.
    if (invoiceKey && [...this.#captures.values()].some((c) => c.invoice_id === invoiceKey && c.status === 'COMPLETED')) {
      return unprocessable('DUPLICATE_INVOICE_ID', 'Duplicate Invoice ID detected. To avoid a potential duplicate transaction your account setting requires that Invoice ID be unique for each transaction.');
    }
    const facts: ChargeFacts = {
      customer: order.customer,
      token: order.vaultId,
      amountMinor: toMinorUnits(money(unit.amount.value, unit.amount.currency_code)),
      invoiceId: unit.custom_id ?? '',
    };
    const outcome = this.#outcomeFor(facts);
    if (outcome === 'fail') return { status: 500, body: { name: 'INTERNAL_SERVER_ERROR', message: 'An internal server error has occurred.', debug_id } };
    if (outcome === 'hard_decline') return unprocessable('INSTRUMENT_DECLINED', 'The instrument presented was either declined by the processor or bank, or it can\'t be used for this payment.');
    const capture: PayPalCapture = {
      id: `CAP${this.#next()}`,
      status: outcome === 'soft_decline' ? 'DECLINED' : 'COMPLETED',
      amount: unit.amount,
      custom_id: unit.custom_id,
      invoice_id: unit.invoice_id,
      refundedMinor: 0n,
      orderId,
    };
    this.#captures.set(capture.id, capture);
    order.status = 'COMPLETED';
    const { refundedMinor: _r, orderId: _o, ...captureBody } = capture;
    const processor = outcome === 'soft_decline' ? { processor_response: { response_code: '5120' } } : {};
    order.purchase_units = [{ ...unit, payments: { captures: [{ ...captureBody, final_capture: true, ...processor, create_time: new Date(this.#now()).toISOString() }] } }];
    const hold = capture.status === 'COMPLETED' ? this.#countSuccess({ gateway: 'paypal', invoiceId: facts.invoiceId, reference: capture.id, amountMinor: facts.amountMinor, currency: unit.amount.currency_code }) : undefined;
    return { status: 201, body: this.#orderBody(order), delayMs: typeof outcome === 'object' ? outcome.delayMs : undefined, hold };
  }

  #paypalVerify(body: string): Reply {
    // The event is checked over its original bytes: the caller must embed the raw body as
    // the last member, `"webhook_event":<raw>}`, as PayPal's own samples do.
    const marker = '"webhook_event":';
    const at = body.indexOf(marker);
    let fields: Record<string, string>;
    try {
      fields = JSON.parse(body) as Record<string, string>;
    } catch {
      return { status: 400, body: { name: 'INVALID_REQUEST', message: 'Request is not well-formed' } };
    }
    if (at < 0) return { status: 400, body: { name: 'VALIDATION_ERROR', message: 'webhook_event is required' } };
    const raw = body.slice(at + marker.length, body.lastIndexOf('}')).trim();
    const signed = `${fields.transmission_id}|${fields.transmission_time}|${fields.webhook_id}|${crc32(Buffer.from(raw, 'utf8'))}`;
    let ok = false;
    try {
      ok =
        fields.auth_algo === 'SHA256withRSA' &&
        fields.webhook_id === this.paypal.webhookId &&
        verify('sha256', Buffer.from(signed, 'utf8'), this.#keys.publicKey, Buffer.from(fields.transmission_sig ?? '', 'base64'));
    } catch {
      ok = false;
    }
    return { status: 200, body: { verification_status: ok ? 'SUCCESS' : 'FAILURE' } };
  }
}

export async function startFakeGateway(options: FakeGatewayOptions = {}): Promise<FakeGateway> {
  return new FakeGateway(options).listen();
}
