import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { CreditNoteRequest, ManualPaymentRequest, PaymentMethodRequest, RefundRequest } from './api-schemas.ts';
import { parseCreditNote, parseManualPayment, parsePaymentMethod, parseRefund } from './validate.ts';

// The OpenAPI schemas describe what validate.ts accepts: on each body both say yes or both say no.
// ajv and ajv-formats are CommonJS: loaded as services/catalog/validation.ts does.
const require = createRequire(import.meta.url);
const Ajv2020 = require('ajv/dist/2020') as typeof import('ajv/dist/2020.js').default;
const addFormats = require('ajv-formats') as typeof import('ajv-formats').default;
const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);

const refund = { invoiceId: 'inv_1', amount: '10.00', reason: 'goodwill' };
const cheque = { invoiceId: 'inv_1', amount: '107.25', methodType: 'cheque', meta: { cheque_number: '001234' }, recordedBy: 'ops@example' };
const method = { brand: 'ansr-us', accountId: 'acct-1', methodType: 'card', meta: { payment_method: 'pm_card_visa' } };

const cases: [string, object, (body: unknown) => { ok: boolean }, unknown][] = [
  ['refund', RefundRequest, parseRefund, refund],
  ['credit note', CreditNoteRequest, parseCreditNote, refund],
  ['credit note kept as credit', CreditNoteRequest, parseCreditNote, { ...refund, settle: 'credit_balance' }],
  ['credit note, settle unknown', CreditNoteRequest, parseCreditNote, { ...refund, settle: 'cash' }],
  ['credit note, extra field', CreditNoteRequest, parseCreditNote, { ...refund, extra: true }],
  ['refund with currency', RefundRequest, parseRefund, { ...refund, currency: 'USD' }],
  ['refund, amount a number', RefundRequest, parseRefund, { ...refund, amount: 10 }],
  ['refund, amount zero', RefundRequest, parseRefund, { ...refund, amount: '0.00' }],
  ['refund, 7 decimals', RefundRequest, parseRefund, { ...refund, amount: '1.0000001' }],
  ['refund, no reason', RefundRequest, parseRefund, { invoiceId: 'inv_1', amount: '1' }],
  ['refund, reason too long', RefundRequest, parseRefund, { ...refund, reason: 'x'.repeat(201) }],
  ['refund, extra field', RefundRequest, parseRefund, { ...refund, extra: true }],
  ['refund, bad id', RefundRequest, parseRefund, { ...refund, invoiceId: 'inv 1' }],
  ['refund, lower-case currency', RefundRequest, parseRefund, { ...refund, currency: 'usd' }],
  ['empty body', RefundRequest, parseRefund, {}],
  ['an array', RefundRequest, parseRefund, [refund]],
  ['cheque', ManualPaymentRequest, parseManualPayment, cheque],
  ['wire received at an instant', ManualPaymentRequest, parseManualPayment, { ...cheque, methodType: 'wire', meta: { bank_reference: 'B1' }, receivedAt: '2026-04-02T10:00:00Z' }],
  ['card as a manual method', ManualPaymentRequest, parseManualPayment, { ...cheque, methodType: 'card' }],
  ['meta not an object', ManualPaymentRequest, parseManualPayment, { ...cheque, meta: 'x' }],
  ['recordedBy empty', ManualPaymentRequest, parseManualPayment, { ...cheque, recordedBy: '' }],
  ['recordedBy too long', ManualPaymentRequest, parseManualPayment, { ...cheque, recordedBy: 'x'.repeat(81) }],
  ['payment method', PaymentMethodRequest, parsePaymentMethod, method],
  ['payment method with customer and email', PaymentMethodRequest, parsePaymentMethod, { ...method, customerId: 'cus_1', email: 'a@example.com' }],
  ['payment method without meta', PaymentMethodRequest, parsePaymentMethod, { brand: 'ansr-us', accountId: 'acct-1', methodType: 'card' }],
  ['payment method, extra field', PaymentMethodRequest, parsePaymentMethod, { ...method, cardholder: 'x' }],
];

describe("collect's OpenAPI request schemas", () => {
  it.each(cases)('agree with validate.ts: %s', (_name, schema, parse, body) => {
    expect(ajv.validate(schema, body)).toBe(parse(body).ok);
  });
});
