/**
 * Phone number normalisation to E.164 (`+` then 8 to 15 digits, the first not 0).
 *
 * The rules, in order:
 * 1. Trim; remove a `(0)` trunk-prefix marker (`+44 (0)20 ...` is +4420...); then remove
 *    spaces, dashes, dots and parentheses.
 * 2. A leading `00` (international prefix) becomes `+`.
 * 3. Without `+`: 10 digits that form a North American number (NPA and NXX both start
 *    with 2-9) become `+1` + those digits; 11 digits starting with 1 whose last 10 form
 *    such a number become `+` + the 11. Anything else without `+` is refused: a national
 *    number of another country cannot be placed without knowing the country.
 * 4. The result must be `+` followed by 8 to 15 digits, the first not 0.
 */

const SEPARATORS = /[\s\-.()]/g;
const NANP = /^[2-9]\d{2}[2-9]\d{6}$/;
const E164 = /^\+[1-9]\d{7,14}$/;

export type NumberProblem = 'empty' | 'not_e164' | 'national_unknown_country';

/** E.164 form of `text`, or why it has none. */
export function normaliseNumber(
  text: string,
): { readonly ok: true; readonly value: string } | { readonly ok: false; readonly problem: NumberProblem } {
  let n = text.trim().replace('(0)', '').replace(SEPARATORS, '');
  if (n === '') return { ok: false, problem: 'empty' };
  if (n.startsWith('00')) n = '+' + n.slice(2);
  if (!n.startsWith('+')) {
    if (n.length === 10 && NANP.test(n)) n = '+1' + n;
    else if (n.length === 11 && n.startsWith('1') && NANP.test(n.slice(1))) n = '+' + n;
    else return { ok: false, problem: /^\d+$/.test(n) ? 'national_unknown_country' : 'not_e164' };
  }
  return E164.test(n) ? { ok: true, value: n } : { ok: false, problem: 'not_e164' };
}

/** Caller ids platforms write for a withheld caller; they normalise to null, not to an error. */
const WITHHELD = new Set(['', 'anonymous', 'unknown', 'restricted', 'private', 'unavailable', 'withheld']);

export function isWithheldCaller(text: string): boolean {
  return WITHHELD.has(text.trim().toLowerCase());
}
