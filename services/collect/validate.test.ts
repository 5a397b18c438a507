import { describe, expect, it } from 'vitest';
import { cardDataProblems, parseManualPayment, parsePaymentMethod, parseRefund } from './validate.ts';

describe('cardDataProblems', () => {
  it.each([
    ['a card number in a token field', { meta: { payment_method: '4242424242424242' } }, ['meta.payment_method: holds a card number; rateline never accepts card data, only gateway tokens']],
    ['spaced and dashed numbers', { a: '4000 0566 5566 5556', b: ['5555-5555-5555-4444'] }, ['a: holds a card number; rateline never accepts card data, only gateway tokens', 'b[0]: holds a card number; rateline never accepts card data, only gateway tokens']],
    ['card field names, whatever the value', { meta: { cvv: '123', card_number: 'x' } }, ["meta.cvv: card data fields are refused; send the gateway's token", "meta.card_number: card data fields are refused; send the gateway's token"]],
    ['a number that fails Luhn', { meta: { cheque_number: '4242424242424241' } }, []],
    ['tokens and amounts', { payment_method: 'pm_card_visa', amount: '107.25', invoiceId: 'inv_1' }, []],
  ])('%s', (_name, body, expected) => {
    expect(cardDataProblems(body)).toEqual(expected);
  });

  it('never repeats the number it refuses', () => {
    expect(cardDataProblems({ x: '4111111111111111' }).join(' ')).not.toContain('4111');
  });
});

describe('request parsing lists every problem at once', () => {
  it('a refund with nothing right', () => {
    expect(parseRefund({ amount: 12.5, currency: 'usd', extra: 1 })).toEqual({
      ok: false,
      problems: [
        'invoiceId is required',
        'amount must be a decimal string such as "12.50" (a JSON number is not exact)',
        'currency must be an ISO 4217 code such as "USD", got "usd"',
        'reason is required',
        'extra is not a field of this request (fields: invoiceId, amount, currency, reason)',
      ],
    });
  });

  it('a valid refund keeps the amount as the exact string', () => {
    expect(parseRefund({ invoiceId: 'inv_1', amount: '0.10', reason: 'goodwill' })).toEqual({ ok: true, value: { invoiceId: 'inv_1', amount: '0.10', reason: 'goodwill' } });
  });

  it('zero, negative and over-precise amounts', () => {
    expect(parseRefund({ invoiceId: 'i', amount: '0.00', reason: 'r' })).toMatchObject({ ok: false, problems: ['amount must be greater than zero'] });
    expect(parseRefund({ invoiceId: 'i', amount: '-1', reason: 'r' })).toMatchObject({ ok: false, problems: ['amount "-1" must be a positive decimal with at most 6 decimals'] });
    expect(parseRefund({ invoiceId: 'i', amount: '1.0000001', reason: 'r' })).toMatchObject({ ok: false });
  });

  it('a manual payment: method type, meta, instant with an offset, operator', () => {
    const r = parseManualPayment({ invoiceId: 'inv_1', amount: '5', methodType: 'card', meta: [], receivedAt: '2026-01-20T16:00:00', recordedBy: '' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems).toHaveLength(4);
    expect(parseManualPayment({ invoiceId: 'inv_1', amount: '5', methodType: 'cheque', meta: { cheque_number: '001234' }, receivedAt: '2026-01-20T16:00:00Z', recordedBy: 'ops' })).toEqual({
      ok: true,
      value: { invoiceId: 'inv_1', amount: '5', methodType: 'cheque', meta: { cheque_number: '001234' }, receivedAt: Date.parse('2026-01-20T16:00:00Z'), recordedBy: 'ops' },
    });
  });

  it('a payment method needs brand, account, type and meta', () => {
    expect(parsePaymentMethod({})).toEqual({ ok: false, problems: ['brand is required', 'accountId is required', 'methodType is required', "meta must be an object of the method type's fields"] });
  });
});
