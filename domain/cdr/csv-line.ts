import type { Result } from './types.ts';

export interface CsvSyntaxError {
  /** 1-based character position in the line where parsing failed. */
  readonly position: number;
  readonly message: string;
}

const QUOTE = 34;
const SPACE = 32;

/**
 * Splits one CSV line (RFC 4180 without embedded line breaks) into its fields.
 *
 * - A field that starts with `"` is quoted: it ends at the next lone `"`; `""` inside is
 *   one `"`; delimiters inside are data. Spaces around a quoted field are ignored
 *   (FreeSWITCH's sql/snom templates write `, "${accountcode}"`).
 * - An unquoted field is taken as is, spaces kept; Asterisk writes its integers unquoted
 *   and an absent answer time as an empty unquoted field.
 * - A `"` inside an unquoted field, text after a closing quote, or an unterminated quote
 *   is an error: guessing would misplace every later column of a billing record.
 *
 * Records that span lines (a newline inside quotes) are not supported: neither Asterisk
 * nor FreeSWITCH writes them, and the file reader works line by line.
 */
export function parseCsvLine(line: string, delimiter = ','): Result<string[], CsvSyntaxError> {
  if (delimiter.length !== 1 || delimiter === '"') throw new Error(`invalid CSV delimiter ${JSON.stringify(delimiter)}`);
  const fields: string[] = [];
  const n = line.length;
  let i = 0;
  for (;;) {
    let j = i;
    while (j < n && line.charCodeAt(j) === SPACE) j++;
    if (j < n && line.charCodeAt(j) === QUOTE) {
      let value = '';
      let k = j + 1;
      for (;;) {
        const q = line.indexOf('"', k);
        if (q === -1) return { ok: false, error: { position: j + 1, message: 'unterminated quoted field' } };
        if (line.charCodeAt(q + 1) === QUOTE) {
          value += line.slice(k, q + 1);
          k = q + 2;
          continue;
        }
        value += line.slice(k, q);
        k = q + 1;
        break;
      }
      while (k < n && line.charCodeAt(k) === SPACE) k++;
      fields.push(value);
      if (k === n) return { ok: true, value: fields };
      if (line[k] !== delimiter) {
        return { ok: false, error: { position: k + 1, message: 'unexpected character after a closing quote' } };
      }
      i = k + 1;
    } else {
      const d = line.indexOf(delimiter, i);
      const end = d === -1 ? n : d;
      const q = line.indexOf('"', i);
      if (q !== -1 && q < end) {
        return { ok: false, error: { position: q + 1, message: 'quote inside an unquoted field' } };
      }
      fields.push(line.slice(i, end));
      if (d === -1) return { ok: true, value: fields };
      i = d + 1;
    }
  }
}
