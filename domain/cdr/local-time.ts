import { IANAZone } from 'luxon';

/**
 * Parsing of the timestamp forms CDR files use. Hand-written for the fixed layouts
 * (a file has a million of them, and a general format parser costs tens of microseconds
 * each); luxon supplies the zone rules.
 */

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/;
const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})$/;
const MINUTE = 60_000;

/** Epoch ms of a wall-clock reading taken as if it were UTC, or undefined if no such date/time. */
function wallMillis(y: string, mo: string, d: string, h: string, mi: string, s: string, frac = ''): number | undefined {
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const ms = frac === '' ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
  const t = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  // Date.UTC rolls 31 April over to 1 May: a date that comes back different does not exist.
  if (new Date(t).getUTCDate() !== day) return undefined;
  return t;
}

/** Epoch ms of an ISO 8601 date-time with an offset (`Z`, `+hh:mm` or `+hhmm`), or undefined. */
export function parseIsoWithOffset(text: string): number | undefined {
  const m = ISO.exec(text);
  if (m === null) return undefined;
  const wall = wallMillis(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6] ?? '0', m[7] ?? '');
  if (wall === undefined) return undefined;
  const zone = m[8]!;
  if (zone === 'Z') return wall;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const offsetMinutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2));
  if (offsetMinutes > 18 * 60) return undefined;
  return wall - sign * offsetMinutes * MINUTE;
}

const zones = new Map<string, IANAZone>();

/** The zone, or undefined if the IANA database does not know the name. */
export function zoneNamed(name: string): IANAZone | undefined {
  let zone = zones.get(name);
  if (zone === undefined) {
    if (!IANAZone.isValidZone(name)) return undefined;
    zone = IANAZone.create(name);
    zones.set(name, zone);
  }
  return zone;
}

// Candidate offsets per (zone, wall-clock minute): every zone transition in the tz
// database falls on a whole minute, so all readings within one minute share them.
const offsetCache = new Map<string, readonly number[]>();
const OFFSET_CACHE_LIMIT = 50_000;

function candidateOffsets(zone: IANAZone, wallMinute: number): readonly number[] {
  const key = `${zone.name}|${wallMinute}`;
  const hit = offsetCache.get(key);
  if (hit !== undefined) return hit;
  const wall = wallMinute * MINUTE;
  // The offsets in force half a day either side cover any transition near this reading.
  const tried = new Set([zone.offset(wall - 43_200_000), zone.offset(wall), zone.offset(wall + 43_200_000)]);
  const found: number[] = [];
  for (const offset of tried) {
    if (zone.offset(wall - offset * MINUTE) === offset) found.push(offset);
  }
  // Larger offset first = earlier instant first (the first occurrence of a repeated hour).
  found.sort((a, b) => b - a);
  if (offsetCache.size >= OFFSET_CACHE_LIMIT) offsetCache.clear();
  offsetCache.set(key, found);
  return found;
}

export type LocalTimeReading =
  | { readonly ok: true; readonly instants: readonly number[] }
  | { readonly ok: false; readonly problem: 'unparseable' | 'nonexistent' };

/**
 * Every instant a local `yyyy-MM-dd HH:mm:ss` reading can mean in `zone`, earliest first:
 * one normally, two in the repeated hour when clocks go back, none in the skipped hour
 * when they go forward.
 */
export function localTimeInstants(text: string, zone: IANAZone): LocalTimeReading {
  const m = LOCAL.exec(text);
  if (m === null) return { ok: false, problem: 'unparseable' };
  const wall = wallMillis(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6]!);
  if (wall === undefined) return { ok: false, problem: 'unparseable' };
  const instants = candidateOffsets(zone, Math.floor(wall / MINUTE)).map((offset) => wall - offset * MINUTE);
  return instants.length === 0 ? { ok: false, problem: 'nonexistent' } : { ok: true, instants };
}
