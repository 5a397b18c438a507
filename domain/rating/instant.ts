import { DateTime } from 'luxon';
import type { Instant } from './types.ts';

// A full date and time with an explicit offset: an instant without one would depend on the
// host's zone, and a bare date says nothing about which midnight is meant.
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** Epoch milliseconds of an ISO 8601 instant with an offset, or undefined if it is not one. */
export function parseIsoInstant(text: string): number | undefined {
  if (!ISO_INSTANT.test(text)) return undefined;
  const parsed = DateTime.fromISO(text, { setZone: true });
  return parsed.isValid ? parsed.toMillis() : undefined;
}

/** Epoch milliseconds of any accepted instant form, or undefined if it is not valid. */
export function toEpochMillis(at: Instant): number | undefined {
  if (typeof at === 'string') return parseIsoInstant(at);
  const millis = typeof at === 'number' ? at : at.getTime();
  return Number.isFinite(millis) ? millis : undefined;
}
