/**
 * JSON Schemas of collect's request bodies, for its OpenAPI document. validate.ts stays the
 * validator (it refuses card data before anything else reads the body and says what is wrong in
 * its own words); api-schemas.test.ts holds the two to the same answers on a table of bodies.
 */
import { answer, arrayOf, boolean, counts, currency, decimal, instant, integer, nullable, object, text as str } from '../../runtime/json-schema.ts';

const DECIMAL = { type: 'string', pattern: '^\\d{1,15}(\\.\\d{1,6})?$', not: { pattern: '^0*(\\.0*)?$' }, description: 'A positive decimal string such as "12.50" (never a JSON number: not exact)' } as const;
const CURRENCY = { type: 'string', pattern: '^[A-Z]{3}$', description: 'ISO 4217, e.g. USD; defaults to the invoice currency' } as const;
const ID = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' } as const;
const text = (max: number, description?: string) => ({ type: 'string', minLength: 1, maxLength: max, ...(description ? { description } : {}) }) as const;

export const RefundRequest = {
  $id: 'RefundRequest',
  type: 'object',
  description: 'A refund: the invoice, the amount and why.',
  properties: { invoiceId: ID, amount: DECIMAL, currency: CURRENCY, reason: text(200) },
  required: ['invoiceId', 'amount', 'reason'],
  additionalProperties: false,
} as const;

export const CreditNoteRequest = {
  $id: 'CreditNoteRequest',
  type: 'object',
  description: "A credit note: the invoice, the amount credited, why, and where the part already paid goes: refund (the default, through the gateway) or credit_balance (kept as the customer's credit, taken off the next invoices).",
  properties: { invoiceId: ID, amount: DECIMAL, currency: CURRENCY, reason: text(200), settle: { type: 'string', enum: ['refund', 'credit_balance'] } },
  required: ['invoiceId', 'amount', 'reason'],
  additionalProperties: false,
} as const;

export const ManualPaymentRequest = {
  $id: 'ManualPaymentRequest',
  type: 'object',
  description: 'A cheque or wire received for an invoice. Card data anywhere in the body is refused (422 card_data_refused).',
  properties: {
    invoiceId: ID,
    amount: DECIMAL,
    currency: CURRENCY,
    methodType: { type: 'string', enum: ['cheque', 'wire'] },
    meta: { type: 'object', additionalProperties: { type: 'string' }, description: '{ "cheque_number": "..." } or { "bank_reference": "..." }' },
    receivedAt: { type: 'string', format: 'date-time', description: 'ISO 8601 with an offset; default: now' },
    recordedBy: text(80, 'Who recorded it'),
  },
  required: ['invoiceId', 'amount', 'methodType', 'meta', 'recordedBy'],
  additionalProperties: false,
} as const;

export const PaymentMethodRequest = {
  $id: 'PaymentMethodRequest',
  type: 'object',
  description: "A customer's payment method as the gateway's token (never card data: refused, 422 card_data_refused).",
  properties: {
    brand: ID,
    accountId: ID,
    methodType: ID,
    meta: { type: 'object', additionalProperties: { type: 'string' }, description: 'The method type\'s fields, e.g. { "payment_method": "pm_..." } or { "setup_token": "..." }' },
    customerId: ID,
    email: text(200),
  },
  required: ['brand', 'accountId', 'methodType', 'meta'],
  additionalProperties: false,
} as const;

export const collectSchemas = [RefundRequest, CreditNoteRequest, ManualPaymentRequest, PaymentMethodRequest];

// ------------------------------------------------------------------ answers
// Lists and the invoice page give collect's own rows as stored (snake_case columns); the
// operations give their results.

const refundStatus = { type: 'string', enum: ['succeeded', 'pending', 'gateway_error', 'network_error', 'indeterminate'] } as const;
/** A refund sent: succeeded (201), or not final yet (202: the next collection run settles it with the same key). */
const refundOutcome = object({ refundId: str, status: refundStatus, code: str, message: str }, { optional: ['code', 'message'] });

export const collectionRunBody = answer(
  'The run report: invoices looked at, their outcomes, refunds settled, events published',
  object({ at: instant, invoices: integer, outcomes: counts, refundsSettled: integer, published: integer, failed: arrayOf(object({ invoiceId: str, error: str })) }),
);

export const operationAnswers = {
  '/payments/manual': {
    200: answer('Recorded before with the same amount: nothing changed', object({ paymentId: str, duplicate: { const: true } })),
    201: answer('Recorded; the invoice after it (beyond what was owed: an overpayment, moved to the credit balance)', object({ paymentId: str, changed: boolean, paymentStatus: nullable(str), overpayment: decimal }, { optional: ['overpayment'] })),
  },
  '/refunds': {
    201: answer('Refunded by the gateway', refundOutcome),
    202: answer('Sent, no final answer yet: settled by the next collection run with the same key', refundOutcome),
  },
  '/credit-notes': {
    201: answer('Issued: what it takes off the balance, what goes back through the gateway and what to the credit balance', object({ creditNoteId: str, amount: decimal, reducesBalance: decimal, refund: decimal, toCreditBalance: decimal, refundResult: object({ refundId: str, status: { type: 'string' }, code: str, message: str }, { optional: ['code', 'message'] }) }, { optional: ['refundResult'] })),
  },
  '/payment-methods': {
    201: answer("Stored at the brand's gateway: the reference the catalogue sets as the customer's default method", object({ paymentMethod: object({ gateway: str, customerRef: str, methodRef: str, label: str }) })),
  },
} as const;

export const webhookBody = object(
  { acknowledged: { const: true }, eventId: str, changed: boolean, ignored: str, queued: { const: true }, paymentStatus: nullable(str), gatewayEventType: str },
  { optional: ['eventId', 'changed', 'ignored', 'queued', 'paymentStatus', 'gatewayEventType'] },
);

const invoiceRow = object(
  { invoice_id: str, invoice_number: str, brand: str, account_id: str, currency, total: decimal, due_at: instant, payment_status: str, collection: str, next_attempt_on: nullable(str), stop_reason: nullable(str) },
  { description: "An invoice and where its collection stands (collection: due, retrying, paid, stopped...; next_attempt_on a brand-local date)" },
);
export const collectInvoicesBody = answer('Invoices, by id', object({ invoices: arrayOf(invoiceRow) }));

export const collectionSummaryBody = answer(
  'One entry per brand with invoices: counts by collection state and by payment status',
  object({ brands: arrayOf(object({ brand: str, byCollection: counts, byPaymentStatus: counts })) }),
);

const row = (required: Record<string, Record<string, unknown>>, description: string) => object(required, { open: true, description });
export const collectInvoiceBody = answer(
  'One invoice with everything collect did about it',
  object({
    invoice: row({ invoice_id: str, invoice_number: str, brand: str, account_id: str, currency, total: decimal, payment_status: str, collection: str }, 'The invoice as collect holds it, with its payment state'),
    attempts: arrayOf(row({ attempt: integer, gateway: str, amount: decimal, currency, status: nullable(str) }, 'A charge attempt, with its idempotency key and the gateway answer')),
    events: arrayOf(row({ event_id: str, source: str, type: str, amount: decimal, currency, applied: boolean }, 'A payment event (webhook, charge answer, manual, refund)')),
    payments: arrayOf(row({ payment_id: str, reference: str, amount: decimal, currency, paid_at: instant }, 'A payment received')),
    refunds: arrayOf(row({ refund_id: str, n: integer, amount: decimal, currency, status: nullable(str) }, 'A refund asked of the gateway')),
    creditNotes: arrayOf(row({ credit_note_id: str, n: integer, amount: decimal, currency, reason: str }, 'A credit note issued')),
  }),
);
