import { createHash } from 'node:crypto';

/**
 * Deterministic ids. Both are a prefix and the first 26 characters of the lowercase
 * RFC 4648 base32 (alphabet a-z2-7, no padding) of a SHA-256 digest: 130 bits, so a
 * collision between distinct inputs is not a practical concern, and the id is safe in
 * URLs, file names, Kafka headers and Postgres text keys.
 *
 *   cdrEventId(source, cdrId)            = 'cdr_' + b32(sha256(source + '\u0000' + cdrId))[0..26)
 *   rejectionId(stage, origin, reason)   = 'rej_' + b32(sha256(stage + '\u0000' + origin + '\u0000' + reason))[0..26)
 *
 * Strings are hashed as UTF-8. The NUL separator keeps ('ab','c') apart from ('a','bc');
 * `validateCdr` refuses control characters in source and cdrId, so it cannot be forged.
 * Changing this format changes every event id and breaks de-duplication across the change:
 * treat it as a wire contract.
 */

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const ID_CHARS = 26;

function base32(bytes: Uint8Array, chars: number): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >>> bits) & 31];
      if (out.length === chars) return out;
    }
  }
  if (bits > 0 && out.length < chars) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

function digestId(prefix: string, parts: readonly string[]): string {
  const digest = createHash('sha256').update(parts.join('\u0000'), 'utf8').digest();
  return prefix + base32(digest, ID_CHARS);
}

/** The event id of a CDR: the same (source, cdrId) always gives the same id. */
export function cdrEventId(source: string, cdrId: string): string {
  return digestId('cdr_', [source, cdrId]);
}

export interface RejectionKey {
  /** The stage that rejected, e.g. `ingest`, `resolve`, `file`. */
  readonly stage: string;
  /**
   * What was rejected, stable across redelivery: a CDR's event id, or for a line that
   * never became a CDR, `fileLineOrigin(jobId, line)`.
   */
  readonly origin: string;
  readonly reason: string;
}

/**
 * The id of a rejected record. Redelivery of the same input to the same stage gives the
 * same id; a record that a later run rejects for another reason gets a new one.
 */
export function rejectionId(key: RejectionKey): string {
  return digestId('rej_', [key.stage, key.origin, key.reason]);
}

/** The origin of a file line: `file:<jobId>:<1-based line>`. */
export function fileLineOrigin(jobId: string, line: number): string {
  return `file:${jobId}:${line}`;
}

