import { DateTime } from 'luxon';
import { containsCardNumber, isCardFieldName } from '../../domain/card-data.ts';

/** Inputs are validated once, at the edge; every problem is listed. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; problems: string[] };

const DECIMAL = /^\d{1,15}(\.\d{1,6})?$/;
const CURRENCY = /^[A-Z]{3}$/;
const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * Where a request carries card data: a string that holds a card number (Luhn-valid 12-19
 * digits) or a field named like one (`cvv`, `card_number`). The paths only, never the values:
 * the answer and the log must not repeat what they refuse.
 */
export function cardDataProblems(input: unknown, path = ''): string[] {
  const problems: string[] = [];
  const visit = (value: unknown, at: string) => {
    if (typeof value === 'string' || typeof value === 'number') {
      if (containsCardNumber(String(value))) problems.push(`${at || 'body'}: holds a card number; rateline never accepts card data, only gateway tokens`);
    } else if (Array.isArray(value)) value.forEach((v, i) => visit(v, `${at}[${i}]`));
    else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        const here = at ? `${at}.${k}` : k;
        if (isCardFieldName(k)) problems.push(`${here}: card data fields are refused; send the gateway's token`);
        else visit(v, here);
      }
    }
  };
  visit(input, path);
  return problems;
}

function object(body: unknown, problems: string[]): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    problems.push('the body must be a JSON object');
    return {};
  }
  return body as Record<string, unknown>;
}

function id(fields: Record<string, unknown>, name: string, problems: string[], required = true): string {
  const v = fields[name];
  if (v === undefined || v === null || v === '') {
    if (required) problems.push(`${name} is required`);
    return '';
  }
  if (typeof v !== 'string' || !ID.test(v)) problems.push(`${name} must be an id (letters, digits, . _ : -), got ${JSON.stringify(v)}`);
  return String(v);
}

function amount(fields: Record<string, unknown>, problems: string[]): string {
  const v = fields['amount'];
  if (v === undefined || v === null || v === '') problems.push('amount is required, as a decimal string such as "12.50"');
  else if (typeof v !== 'string') problems.push('amount must be a decimal string such as "12.50" (a JSON number is not exact)');
  else if (!DECIMAL.test(v)) problems.push(`amount "${v}" must be a positive decimal with at most 6 decimals`);
  else if (Number(v) === 0) problems.push('amount must be greater than zero');
  return typeof v === 'string' ? v : '';
}

function text(fields: Record<string, unknown>, name: string, problems: string[], options: { required: boolean; max: number }): string {
  const v = fields[name];
  if (v === undefined || v === null || v === '') {
    if (options.required) problems.push(`${name} is required`);
    return '';
  }
  if (typeof v !== 'string' || v.length > options.max) problems.push(`${name} must be text of at most ${options.max} characters`);
  return String(v);
}

function currency(fields: Record<string, unknown>, problems: string[]): string | undefined {
  const v = fields['currency'];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !CURRENCY.test(v)) problems.push(`currency must be an ISO 4217 code such as "USD", got ${JSON.stringify(v)}`);
  return String(v);
}

function unknownFields(fields: Record<string, unknown>, known: string[], problems: string[]): void {
  for (const k of Object.keys(fields)) if (!known.includes(k)) problems.push(`${k} is not a field of this request (fields: ${known.join(', ')})`);
}

export interface ManualPaymentInput {
  invoiceId: string;
  amount: string;
  currency?: string;
  methodType: 'cheque' | 'wire';
  meta: Record<string, unknown>;
  receivedAt?: number;
  recordedBy: string;
}

export function parseManualPayment(body: unknown): Parsed<ManualPaymentInput> {
  const problems: string[] = [];
  const f = object(body, problems);
  const invoiceId = id(f, 'invoiceId', problems);
  const amt = amount(f, problems);
  const cur = currency(f, problems);
  const methodType = f['methodType'];
  if (methodType !== 'cheque' && methodType !== 'wire') problems.push(`methodType must be "cheque" or "wire", got ${JSON.stringify(methodType)}`);
  const meta = f['meta'];
  if (!meta || typeof meta !== 'object' || Array.isArray(meta)) problems.push('meta must be an object: { "cheque_number": "..." } or { "bank_reference": "..." }');
  let receivedAt: number | undefined;
  if (f['receivedAt'] !== undefined) {
    const dt = typeof f['receivedAt'] === 'string' ? DateTime.fromISO(f['receivedAt']) : null;
    if (!dt?.isValid || !/[zZ]|[+-]\d\d:?\d\d$/.test(String(f['receivedAt']))) problems.push('receivedAt must be an ISO 8601 instant with an offset, e.g. "2026-04-02T10:00:00Z"');
    else receivedAt = dt.toMillis();
  }
  const recordedBy = text(f, 'recordedBy', problems, { required: true, max: 80 });
  unknownFields(f, ['invoiceId', 'amount', 'currency', 'methodType', 'meta', 'receivedAt', 'recordedBy'], problems);
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    value: { invoiceId, amount: amt, ...(cur ? { currency: cur } : {}), methodType: methodType as 'cheque' | 'wire', meta: meta as Record<string, unknown>, ...(receivedAt !== undefined ? { receivedAt } : {}), recordedBy },
  };
}

export interface RefundInput {
  invoiceId: string;
  amount: string;
  currency?: string;
  reason: string;
}

export function parseRefund(body: unknown): Parsed<RefundInput> {
  const problems: string[] = [];
  const f = object(body, problems);
  const invoiceId = id(f, 'invoiceId', problems);
  const amt = amount(f, problems);
  const cur = currency(f, problems);
  const reason = text(f, 'reason', problems, { required: true, max: 200 });
  unknownFields(f, ['invoiceId', 'amount', 'currency', 'reason'], problems);
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, value: { invoiceId, amount: amt, ...(cur ? { currency: cur } : {}), reason } };
}

/**
 * A credit note: the invoice, the amount credited, why, and where the part already paid goes:
 * `refund` (the default: back through the gateway) or `credit_balance` (kept as the customer's
 * credit, taken off the next invoices).
 */
export interface CreditNoteInput extends RefundInput {
  settle: 'refund' | 'credit_balance';
}

export function parseCreditNote(body: unknown): Parsed<CreditNoteInput> {
  const problems: string[] = [];
  const f = object(body, problems);
  const settle = f['settle'] ?? 'refund';
  if (settle !== 'refund' && settle !== 'credit_balance') problems.push(`settle must be "refund" or "credit_balance", got ${JSON.stringify(settle)}`);
  const { settle: _settle, ...rest } = f;
  const parsed = parseRefund(rest);
  if (!parsed.ok) problems.push(...parsed.problems);
  if (problems.length > 0 || !parsed.ok) return { ok: false, problems };
  return { ok: true, value: { ...parsed.value, settle: settle as CreditNoteInput['settle'] } };
}

export interface PaymentMethodInput {
  brand: string;
  accountId: string;
  methodType: string;
  meta: Record<string, unknown>;
  customerId?: string;
  email?: string;
}

export function parsePaymentMethod(body: unknown): Parsed<PaymentMethodInput> {
  const problems: string[] = [];
  const f = object(body, problems);
  const brand = id(f, 'brand', problems);
  const accountId = id(f, 'accountId', problems);
  const methodType = id(f, 'methodType', problems);
  const meta = f['meta'];
  if (!meta || typeof meta !== 'object' || Array.isArray(meta)) problems.push('meta must be an object of the method type\'s fields');
  const customerId = id(f, 'customerId', problems, false);
  const email = text(f, 'email', problems, { required: false, max: 200 });
  unknownFields(f, ['brand', 'accountId', 'methodType', 'meta', 'customerId', 'email'], problems);
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, value: { brand, accountId, methodType, meta: meta as Record<string, unknown>, ...(customerId ? { customerId } : {}), ...(email ? { email } : {}) } };
}
