/**
 * TypeScript shapes of the Avro records in schemas/ (field for field). Instants are epoch
 * milliseconds (timestamp-millis); decimals are decimal.js values. The mediation records are the
 * domain's own types (domain/cdr, domain/mediation): one definition, no casts between layers.
 */
import type { RawCdr } from '../domain/cdr/index.ts';
import type { AcceptedCdr, Origin, UsageCharged, UsageRated, UsageResolved } from '../domain/mediation/index.ts';

export type CdrRawRecord = RawCdr;
export type OriginRecord = Origin;
export type CdrAcceptedRecord = AcceptedCdr;
export type UsageResolvedRecord = UsageResolved;
export type UsageRatedRecord = UsageRated;
export type UsageChargedRecord = UsageCharged;

export interface CdrRejectedRecord {
  eventId: string;
  stage: string;
  reason: string;
  detail: string;
  source: string | null;
  cdrId: string | null;
  payload: Buffer;
  /** 'bytes': not Confluent framing, nor a line of a file: kept exactly as received. */
  payloadFormat: 'avro-confluent' | 'csv' | 'json' | 'bytes';
  origin: OriginRecord;
  rejectedAt: number;
}

export const kafkaOrigin = (topic: string, partition: number, offset: string): OriginRecord => ({ topic, partition, offset: Number(offset), file: null, line: null });

/** Each call once, in the highest rating version a batch holds of it (the last of equals wins). */
export function latestRatingVersions<T extends { eventId: string; ratingVersion: number }>(records: readonly T[]): T[] {
  const latest = new Map<string, T>();
  for (const r of records) {
    const seen = latest.get(r.eventId);
    if (!seen || r.ratingVersion >= seen.ratingVersion) latest.set(r.eventId, r);
  }
  return [...latest.values()];
}
