/**
 * JSON Schemas of collect's request bodies, for its OpenAPI document. validate.ts stays the
 * validator (it refuses card data before anything else reads the body and says what is wrong in
 * its own words); api-schemas.test.ts holds the two to the same answers on a table of bodies.
 */
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
    meta: { type: 'object', description: '{ "cheque_number": "..." } or { "bank_reference": "..." }' },
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
    meta: { type: 'object', description: 'The method type\'s fields, e.g. { "payment_method": "pm_..." } or { "setup_token": "..." }' },
    customerId: ID,
    email: text(200),
  },
  required: ['brand', 'accountId', 'methodType', 'meta'],
  additionalProperties: false,
} as const;

export const collectSchemas = [RefundRequest, CreditNoteRequest, ManualPaymentRequest, PaymentMethodRequest];
