import { describe, expect, it } from 'vitest';
import { containsCardNumber, isCardFieldName, validateMethodMeta } from './index.ts';
import type { PaymentMethodType } from './index.ts';

describe('containsCardNumber', () => {
  it.each([
    ['4242424242424242', true], // Visa test number, Luhn-valid
    ['4242 4242 4242 4242', true],
    ['4242-4242-4242-4242', true],
    ['note: 378282246310005 paid', true], // Amex, 15 digits
    ['4242424242424241', false], // last digit off: Luhn fails
    ['12345678901', false], // 11 digits
    ['00000000000000000000', false], // 20 digits: not a PAN
    ['pm_1PqR2s3T4u5V', false],
    ['', false],
  ])('%s → %s', (text, expected) => {
    expect(containsCardNumber(text)).toBe(expected);
  });
  it('checks the Luhn sum: 79927398713 padded to 12 digits is valid, ...714 is not', () => {
    expect(containsCardNumber('079927398713')).toBe(true);
    expect(containsCardNumber('079927398714')).toBe(false);
  });
});

describe('isCardFieldName', () => {
  it.each(['cvv', 'CVC', 'card_number', 'cardNumber', 'pan', 'security_code', 'number'])('%s is card data', (n) => expect(isCardFieldName(n)).toBe(true));
  it.each(['payment_method', 'setup_token', 'cheque_number', 'bank_reference'])('%s is not', (n) => expect(isCardFieldName(n)).toBe(false));
});

describe('validateMethodMeta', () => {
  const types: PaymentMethodType[] = [
    {
      id: 'card',
      fields: [
        { name: 'payment_method', required: true, pattern: /^pm_\w{3,}$/, description: 'PaymentMethod id' },
        { name: 'label', required: false, pattern: /^.{1,20}$/, description: 'label' },
      ],
    },
  ];
  it('accepts a token and optional fields', () => {
    expect(validateMethodMeta(types, 'card', { payment_method: 'pm_abc', label: 'work card' })).toEqual({ ok: true, meta: { payment_method: 'pm_abc', label: 'work card' } });
  });
  it('lists every problem at once, never echoing a value', () => {
    const r = validateMethodMeta(types, 'card', { cvv: '123', label: '4111 1111 1111 1111', colour: 'red', payment_method: 42n });
    expect(r).toEqual({
      ok: false,
      problems: [
        'field "cvv" is card data: rateline never accepts card numbers or CVVs; send the gateway\'s token instead',
        'field "label" looks like a card number (value not shown): send the gateway\'s token instead',
        'field "colour" is not a card field (expected: payment_method, label)',
        'field "payment_method" is not a valid PaymentMethod id',
      ],
    });
    expect(JSON.stringify(r)).not.toMatch(/4111|123/);
  });
  it('reports a missing required field and an unknown type', () => {
    expect(validateMethodMeta(types, 'card', {})).toEqual({ ok: false, problems: ['field "payment_method" (PaymentMethod id) is required'] });
    expect(validateMethodMeta(types, 'iban', {})).toEqual({ ok: false, problems: ['unknown payment method type "iban"; this gateway takes: card'] });
  });
});
