import { describe, expect, it } from 'vitest';
import { containsCardNumber, isCardFieldName } from './card-data.ts';

describe('the card-data guard', () => {
  it('spots a Luhn-valid card number however it is written, and leaves ordinary ids alone', () => {
    expect(containsCardNumber('4242 4242 4242 4242')).toBe(true);
    expect(containsCardNumber('card 4111-1111-1111-1111 here')).toBe(true);
    // One digit changed: the Luhn check fails.
    expect(containsCardNumber('4242 4242 4242 4241')).toBe(false);
    expect(containsCardNumber('pm_1NfaKp2eZvKYlo2C')).toBe(false);
    expect(containsCardNumber('cus-0000000000001')).toBe(false);
    // Longer than 19 digits is not a card number.
    expect(containsCardNumber('42424242424242424242')).toBe(false);
  });

  it('names the fields that only ever carry card data', () => {
    expect(isCardFieldName('cvv')).toBe(true);
    expect(isCardFieldName('card_number')).toBe(true);
    expect(isCardFieldName('payment_method')).toBe(false);
  });
});
