import { createHash } from 'node:crypto';
import { equalsMoney, minorUnits } from '../../domain/money/index.ts';
import type { Money } from '../../domain/money/index.ts';
import type { ChargeResult, PaymentEvent, RefundResult } from '../../domain/payments/index.ts';
import { RatelineError } from '../../runtime/errors.ts';
import { validateMethodMeta } from '../methods.ts';
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
  WebhookVerdict,
} from '../types.ts';

const PAYER = { name: 'payer_name', required: false, pattern: /^[\p{L}\p{N} .,'&-]{2,80}$/u, description: 'name on the cheque or wire' };
const CHEQUE: PaymentMethodType = { id: 'cheque', fields: [PAYER] };
const WIRE: PaymentMethodType = { id: 'wire', fields: [PAYER] };

/** What ops type in when a cheque or wire arrives. */
export interface ManualPaymentRecord {
  /** Deterministic per receipt, e.g. `rl.man.<invoice>.<n>`: recording twice is one payment. */
  readonly idempotencyKey: string;
  readonly invoiceId: string;
  readonly amount: Money;
  readonly methodType: 'cheque' | 'wire';
  /** cheque: { cheque_number }, wire: { bank_reference }: validated, card data refused. */
  readonly meta: Readonly<Record<string, unknown>>;
  readonly receivedAt: number;
  readonly recordedBy: string;
}

const RECEIPT_TYPES: readonly PaymentMethodType[] = [
  { id: 'cheque', fields: [{ name: 'cheque_number', required: true, pattern: /^\d{1,10}$/, description: 'cheque number (up to 10 digits)' }] },
  { id: 'wire', fields: [{ name: 'bank_reference', required: true, pattern: /^[A-Za-z0-9/ -]{4,35}$/, description: 'bank transfer reference (4-35 characters)' }] },
];

// base64url, not hex: 24 hex characters hold a run of 12+ digits that passes Luhn about once
// in 200 references, which every card-number scan then reports.
function reference(key: string): string {
  return `man_${createHash('sha256').update(key).digest('base64url').slice(0, 24)}`;
}

/**
 * Cheque and wire payments, recorded by ops. No network: a charge cannot be pulled, so it
 * stays pending until ops record the money (`recordPayment`), which yields the payment
 * event the collect service applies like any webhook.
 */
export class ManualGateway implements PaymentGateway {
  static readonly identifier = 'manual';
  readonly id = ManualGateway.identifier;
  readonly methodTypes = [CHEQUE, WIRE] as const;
  readonly #payments = new Map<string, { record: ManualPaymentRecord; event: PaymentEvent }>();
  readonly #refunds = new Map<string, { request: RefundRequest; result: RefundResult }>();

  constructor(private readonly deps: GatewayDeps) {}

  async storePaymentMethod(request: StorePaymentMethodRequest): Promise<StorePaymentMethodResult> {
    const meta = validateMethodMeta(this.methodTypes, request.methodType, request.meta);
    if (!meta.ok) return { ok: false, code: 'invalid_meta', problems: meta.problems };
    return {
      ok: true,
      method: { gateway: this.id, methodType: request.methodType, customerId: request.customerId ?? request.accountId, token: `manual:${request.methodType}`, display: { ...meta.meta } },
    };
  }

  async charge(request: ChargeRequest): Promise<ChargeResult> {
    const recorded = [...this.#payments.values()].find((p) => p.record.invoiceId === request.invoiceId);
    if (recorded) return { status: 'succeeded', reference: recorded.event.chargeReference, amount: recorded.event.amount };
    return { status: 'pending', reference: reference(request.idempotencyKey), amount: request.amount };
  }

  async findCharge(query: ChargeQuery): Promise<ChargeLookup> {
    const recorded = [...this.#payments.values()].find((p) => p.record.invoiceId === query.invoiceId);
    return recorded ? { status: 'found', result: { status: 'succeeded', reference: recorded.event.chargeReference, amount: recorded.event.amount } } : { status: 'not_found' };
  }

  async refund(request: RefundRequest): Promise<RefundResult> {
    const earlier = this.#refunds.get(request.idempotencyKey);
    if (earlier) {
      if (!equalsMoney(earlier.request.amount, request.amount) || earlier.request.chargeReference !== request.chargeReference) {
        return { status: 'failed', reference: null, code: 'idempotency_conflict', message: `refund key ${request.idempotencyKey} was used with other parameters` };
      }
      return earlier.result;
    }
    const result: RefundResult = { status: 'succeeded', reference: reference(request.idempotencyKey), amount: request.amount };
    this.#refunds.set(request.idempotencyKey, { request, result });
    return result;
  }

  async parseWebhook(): Promise<WebhookVerdict> {
    return { ok: false, reason: 'verification_unavailable', message: 'manual payments have no webhooks: ops record them' };
  }

  /**
   * Records a cheque or wire. Same key and same facts: the same event again; same key
   * with other facts: refused (a typo must be corrected by a new record, not an overwrite).
   */
  recordPayment(record: ManualPaymentRecord): PaymentEvent {
    const problems: string[] = [];
    const meta = validateMethodMeta(RECEIPT_TYPES, record.methodType, record.meta);
    if (!meta.ok) problems.push(...meta.problems);
    if (!record.amount.amount.isFinite() || record.amount.amount.lte(0)) problems.push('amount must be greater than zero');
    else if (record.amount.amount.decimalPlaces() > minorUnits(record.amount.currency)) problems.push(`amount has more decimals than ${record.amount.currency} allows`);
    if (!record.recordedBy) problems.push('recordedBy (the operator) is required');
    if (problems.length > 0) throw new RatelineError('invalid_manual_payment', problems.join('; '), { details: { problems } });

    const earlier = this.#payments.get(record.idempotencyKey);
    if (earlier) {
      const same =
        earlier.record.invoiceId === record.invoiceId &&
        equalsMoney(earlier.record.amount, record.amount) &&
        JSON.stringify(earlier.record.meta) === JSON.stringify(record.meta);
      if (!same) throw new RatelineError('idempotency_conflict', `manual payment ${record.idempotencyKey} was recorded with other facts`);
      return earlier.event;
    }
    const event: PaymentEvent = {
      eventId: `manual:${record.idempotencyKey}`,
      type: 'charge.succeeded',
      invoiceId: record.invoiceId,
      chargeReference: reference(record.idempotencyKey),
      amount: record.amount,
      occurredAt: record.receivedAt ?? this.deps.now(),
    };
    this.#payments.set(record.idempotencyKey, { record, event });
    return event;
  }
}

export const manualGatewayFactory: GatewayFactory<Record<string, never>> = {
  id: ManualGateway.identifier,
  optionsFromEnv: () => ({}),
  validateOptions: () => [],
  create: (_o, deps) => new ManualGateway(deps),
};
