import { rejectionId } from '../domain/cdr/index.ts';
import type { CdrRejectedRecord, OriginRecord } from './records.ts';

/**
 * How a Kafka record's value is framed, as far as its bytes show: the Confluent wire format
 * (magic byte 0 and a 4-byte schema id, then the body) or anything else.
 */
export const kafkaPayloadFormat = (value: Buffer | null): CdrRejectedRecord['payloadFormat'] =>
  value !== null && value.length >= 5 && value[0] === 0 ? 'avro-confluent' : 'bytes';

/**
 * A cdr.rejected record. Its id is derived from the stage, where the record was read and the
 * reason, so the same rejection re-sent after a crash is recognised downstream.
 */
export function buildRejection(fields: {
  stage: string;
  reason: string;
  detail: string;
  source: string | null;
  cdrId: string | null;
  payload: Buffer;
  payloadFormat: CdrRejectedRecord['payloadFormat'];
  origin: OriginRecord;
  /** What was rejected, stable across redelivery (an event id, or topic:partition:offset). */
  subject: string;
  now: number;
}): CdrRejectedRecord {
  return {
    eventId: rejectionId({ stage: fields.stage, origin: fields.subject, reason: fields.reason }),
    stage: fields.stage,
    reason: fields.reason,
    detail: fields.detail,
    source: fields.source,
    cdrId: fields.cdrId,
    payload: fields.payload,
    payloadFormat: fields.payloadFormat,
    origin: fields.origin,
    rejectedAt: fields.now,
  };
}
