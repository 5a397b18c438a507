import type { Money } from '../domain/money/index.ts';
import type { ChargeResult, PaymentEvent, RefundResult } from '../domain/payments/index.ts';

export type { ChargeResult, PaymentEvent, RefundResult } from '../domain/payments/index.ts';

/** A meta field a payment-method type accepts. Values are strings; nothing else is stored. */
export interface MetaField {
  readonly name: string;
  readonly required: boolean;
  /** What a valid value looks like (a gateway token, a cheque number). */
  readonly pattern: RegExp;
  readonly description: string;
}

/** A kind of payment method a gateway can store (`card` via Stripe, `paypal` vault, `cheque`). */
export interface PaymentMethodType {
  readonly id: string;
  readonly fields: readonly MetaField[];
}

export interface StorePaymentMethodRequest {
  /** methodKey(accountId, n): creating the customer and attaching are both idempotent on it. */
  readonly idempotencyKey: string;
  readonly accountId: string;
  readonly methodType: string;
  /** As received from the portal: validated here, every problem listed, card data refused. */
  readonly meta: Readonly<Record<string, unknown>>;
  /** The gateway customer already holding the account's methods, if any. */
  readonly customerId?: string;
  readonly email?: string;
}

/** What rateline keeps of a payment method: gateway ids and display hints, never card data. */
export interface StoredPaymentMethod {
  readonly gateway: string;
  readonly methodType: string;
  readonly customerId: string;
  readonly token: string;
  /** e.g. { brand: 'visa', last4: '4242' }: for receipts, from the gateway, never from input. */
  readonly display: Readonly<Record<string, string>>;
}

export type StorePaymentMethodResult =
  | { readonly ok: true; readonly method: StoredPaymentMethod }
  | { readonly ok: false; readonly code: 'invalid_meta'; readonly problems: readonly string[] }
  | { readonly ok: false; readonly code: string; readonly problems: readonly string[]; readonly retryable: boolean };

export interface ChargeRequest {
  /** chargeKey(invoiceId, attempt): saved before the call; the same key on every re-send. */
  readonly idempotencyKey: string;
  readonly invoiceId: string;
  readonly accountId: string;
  /** Already rounded to the currency's minor unit (domain/money roundToMinor). */
  readonly amount: Money;
  readonly customerId: string;
  readonly token: string;
  readonly description?: string;
}

export interface RefundRequest {
  /** refundKey(invoiceId, n). */
  readonly idempotencyKey: string;
  readonly invoiceId: string;
  /** The succeeded charge's reference. */
  readonly chargeReference: string;
  readonly amount: Money;
  readonly reason?: string;
}

export interface ChargeQuery {
  readonly idempotencyKey: string;
  readonly invoiceId: string;
  readonly customerId: string;
  /** A reference from an earlier answer (a PayPal order id), when there was one. */
  readonly reference?: string;
}

/**
 * - `found`: the gateway knows the charge made with this key; `result` is its outcome now.
 * - `not_found`: it does not: re-sending the same request with the same key is safe.
 * - `unsupported`: the gateway cannot be asked (no reference yet): re-send with the same key,
 *   which the gateway replays if it saw the first one.
 */
export type ChargeLookup =
  | { readonly status: 'found'; readonly result: ChargeResult }
  | { readonly status: 'not_found' }
  | { readonly status: 'unsupported'; readonly why: string }
  | { readonly status: 'error'; readonly result: ChargeResult };

export interface WebhookRequest {
  /** The body exactly as received: signatures are over these bytes, never a re-serialisation. */
  readonly rawBody: Buffer | string;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

export type WebhookRefusal =
  | 'missing_signature'
  | 'bad_signature'
  | 'stale_timestamp'
  | 'malformed'
  | 'verification_unavailable';

/**
 * A verified delivery: `event` is null when the gateway's event type is not a payment fact
 * rateline acts on (it is acknowledged, not processed). A refusal says why.
 */
export type WebhookVerdict =
  | { readonly ok: true; readonly gatewayEventType: string; readonly event: PaymentEvent | null }
  | { readonly ok: false; readonly reason: WebhookRefusal; readonly message: string };

/** A charge as the gateway lists it. */
export interface GatewayCharge {
  /** The reference a charge result carries (a Stripe PaymentIntent id): what collect records. */
  readonly reference: string;
  /** rateline's invoice id from the charge's metadata; null for a charge rateline did not ask for. */
  readonly invoiceId: string | null;
  readonly status: 'succeeded' | 'pending' | 'failed';
  /** What the gateway took (succeeded) or was asked for. */
  readonly amount: Money;
  /** Epoch ms, the gateway's own clock. */
  readonly createdAt: number;
}

/** Charges created in [from, to), epoch ms. */
export interface ChargeListQuery {
  readonly from: number;
  readonly to: number;
}

export type ChargeListing =
  | { readonly ok: true; readonly charges: readonly GatewayCharge[] }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly retryable: boolean };

/**
 * One payment gateway. Implementations keep SDK calls inside their folder; the domain and
 * the collect service see only this. Every mutating call carries the caller's idempotency
 * key, so a re-send after a crash or timeout is answered, not executed again.
 */
export interface PaymentGateway {
  /** The registry id a brand's configuration names (`stripe`, `paypal`, `manual`). */
  readonly id: string;
  /** The payment-method types this gateway can store, with their meta fields. */
  readonly methodTypes: readonly PaymentMethodType[];

  /** Stores a tokenised method (customer + token attach); refuses card numbers and CVVs. */
  storePaymentMethod(request: StorePaymentMethodRequest): Promise<StorePaymentMethodResult>;

  /** Charges a stored method off-session. Never throws for gateway or network failures: returns them typed. */
  charge(request: ChargeRequest): Promise<ChargeResult>;

  /** Refunds (part of) a succeeded charge; idempotent on the request's key. */
  refund(request: RefundRequest): Promise<RefundResult>;

  /** Verifies a webhook delivery's signature and freshness, then parses it into a payment event. */
  parseWebhook(request: WebhookRequest): Promise<WebhookVerdict>;

  /** Asks the gateway what became of the charge made with this key (settling an indeterminate outcome). */
  findCharge(query: ChargeQuery): Promise<ChargeLookup>;

  /**
   * Optional: every charge the gateway holds for a time range, so revenue assurance can prove
   * that each one it took is recorded by collect and each one collect recorded is known to it.
   * A gateway without it is left out of that check (the report says so).
   */
  listCharges?(query: ChargeListQuery): Promise<ChargeListing>;
}

/** Something every gateway gets from its host. */
export interface GatewayDeps {
  /** Epoch ms; webhook staleness is judged by it. */
  readonly now: () => number;
}

/**
 * A registered plugin: validates its own options (every problem at once, saying what to
 * set) and builds a gateway for one brand.
 */
export interface GatewayFactory<Options = unknown> {
  readonly id: string;
  /** Options from environment variables for a brand (e.g. STRIPE_SECRET_KEY_ACME). */
  optionsFromEnv(brandCode: string, env: Readonly<Record<string, string | undefined>>): Options;
  /** Every problem with the options, as sentences saying what to set; empty when valid. */
  validateOptions(options: Options): string[];
  create(options: Options, deps: GatewayDeps): PaymentGateway;
}
