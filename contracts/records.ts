import type { Decimal } from 'decimal.js';

/**
 * TypeScript shapes of the Avro records in schemas/ (field for field). Instants are epoch
 * milliseconds (timestamp-millis); decimals are decimal.js values.
 */
export interface CdrCore {
  source: string;
  cdrId: string;
  callingNumber: string | null;
  calledNumber: string;
  usageType: string;
  startTime: number;
  endTime: number;
  durationSeconds: number;
  attributes: Record<string, string>;
}

export interface CdrRawRecord extends CdrCore {
  receivedAt: number | null;
}

export interface OriginRecord {
  topic: string | null;
  partition: number | null;
  offset: number | null;
  file: string | null;
  line: number | null;
}

export interface CdrAcceptedRecord extends CdrCore {
  eventId: string;
  origin: OriginRecord;
  acceptedAt: number;
}

export interface CdrRejectedRecord {
  eventId: string;
  stage: string;
  reason: string;
  detail: string;
  source: string | null;
  cdrId: string | null;
  payload: Buffer;
  payloadFormat: 'avro-confluent' | 'csv' | 'json';
  origin: OriginRecord;
  rejectedAt: number;
}

export interface ResolvedFields {
  brand: string;
  accountId: string;
  subscriptionId: string;
  assignmentId: string;
  productId: string;
}

export interface UsageResolvedRecord extends CdrCore, ResolvedFields {
  eventId: string;
  resolvedAt: number;
}

export interface RatedFields {
  ratingVersion: number;
  ruleId: string;
  ruleVersion: number;
  billableSeconds: number;
  ratedAt: number;
}

export interface UsageRatedRecord extends CdrCore, ResolvedFields, RatedFields {
  eventId: string;
}

export interface TierChargeRecord {
  tier: number;
  units: Decimal;
  unitPrice: Decimal;
  amount: Decimal;
}

export interface UsageChargedRecord extends CdrCore, ResolvedFields, RatedFields {
  eventId: string;
  periodStart: number;
  periodEnd: number;
  planId: string;
  planVersion: number;
  includedSeconds: number;
  overageSeconds: number;
  draws: { bucketId: string; seconds: number }[];
  currency: string;
  amount: Decimal;
  tiers: TierChargeRecord[];
  chargedAt: number;
}

export const kafkaOrigin = (topic: string, partition: number, offset: string): OriginRecord => ({ topic, partition, offset: Number(offset), file: null, line: null });
