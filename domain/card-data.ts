/**
 * Card data guards. rateline never accepts, stores or logs a card number (PAN) or a CVV:
 * gateways hold payment methods, rateline keeps their tokens (DESIGN invariant 7).
 */

/** Field names that only ever carry card data. */
const CARD_FIELD_NAMES = /^(pan|cvv2?|cvc2?|csc|cid|security_?code|card_?number|cc_?number|account_?number|number|card_?verification.*)$/i;

function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i -= 1) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** Runs of 12-19 digits, optionally split by single spaces or dashes, as card numbers are written. */
const DIGIT_RUN = /\d(?:[ -]?\d){11,18}/g;

/**
 * True when the text holds a run of 12-19 digits (spaces or dashes between them allowed)
 * that passes the Luhn check: treated as a card number. Runs longer than 19 digits are not
 * card numbers; runs are whole (a digit run is not searched for windows inside it).
 */
export function containsCardNumber(text: string): boolean {
  for (const match of text.matchAll(DIGIT_RUN)) {
    const start = match.index ?? 0;
    const end = start + match[0].length;
    // The run must not continue with more digits on either side.
    if (/\d/.test(text.charAt(start - 1)) || /\d/.test(text.charAt(end))) continue;
    const digits = match[0].replace(/[ -]/g, '');
    if (digits.length >= 12 && digits.length <= 19 && luhnValid(digits)) return true;
  }
  return false;
}

/** True when a field's name says it carries card data (`cvv`, `card_number`, ...). */
export function isCardFieldName(name: string): boolean {
  return CARD_FIELD_NAMES.test(name.trim());
}
