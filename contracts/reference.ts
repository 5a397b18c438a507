import { referenceKey, type ReferenceData, type ReferenceKind, type ReferenceRecords, type ReferenceTables } from '../domain/reference/index.ts';
import type { BatchProducer, OutgoingMessage } from '../runtime/kafka.ts';
import { standardHeaders } from '../runtime/kafka.ts';
import type { CompactedRecord } from '../runtime/compacted.ts';
import type { Logger } from '../runtime/log.ts';
import { loadSchema, type AvroSerde } from '../runtime/serde.ts';
import { topics, valueSubject } from '../topics/catalog.ts';

/** Which compacted topic holds which kind of reference record. */
export const referenceTopicOf: Record<ReferenceKind, { topic: string; schema: string }> = {
  brand: { topic: topics.refBrands.name, schema: 'ref.brands' },
  number: { topic: topics.refNumbers.name, schema: 'ref.numbers' },
  plan: { topic: topics.refPlans.name, schema: 'ref.plans' },
  subscription: { topic: topics.refSubscriptions.name, schema: 'ref.subscriptions' },
  ratingRule: { topic: topics.refRatingRules.name, schema: 'ref.rating-rules' },
  customer: { topic: topics.refCustomers.name, schema: 'ref.customers' },
};
const kindOfTopic = new Map(Object.entries(referenceTopicOf).map(([kind, { topic }]) => [topic, kind as ReferenceKind]));

export const allReferenceTopics = Object.values(referenceTopicOf).map((r) => r.topic);

/**
 * Applies records read from the ref.* topics to the in-memory tables. A record the tables refuse
 * is logged and skipped; the previous value stays (a bad catalogue change never blanks a table).
 */
export function applyReferenceRecords(tables: ReferenceTables, records: CompactedRecord[], logger: Logger): void {
  for (const { topic, key, value } of records) {
    const kind = kindOfTopic.get(topic);
    if (!kind) continue;
    const outcome = tables.apply(kind, key, value as ReferenceRecords[typeof kind] | null);
    if (!outcome.ok) logger.error('reference record refused', { topic, key, code: outcome.code, issues: outcome.issues });
  }
}

/**
 * Publishes reference data to the ref.* compacted topics, each record under its natural key.
 * Re-publishing the same data is harmless: compaction keeps the latest per key.
 */
export async function publishReference(data: ReferenceData, producer: BatchProducer, serde: AvroSerde): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const byTopic: Record<string, OutgoingMessage[]> = {};
  const lists: { [K in ReferenceKind]: readonly ReferenceRecords[K][] } = {
    brand: data.brands,
    number: data.numbers,
    plan: data.plans,
    subscription: data.subscriptions,
    ratingRule: data.ratingRules,
    customer: data.customers,
  };
  for (const kind of Object.keys(lists) as ReferenceKind[]) {
    const { topic, schema } = referenceTopicOf[kind];
    const encode = serde.encoder<unknown>(await serde.register(valueSubject(topic), loadSchema(schema)));
    byTopic[topic] = (lists[kind] as readonly ReferenceRecords[typeof kind][]).map((record) => {
      const key = referenceKey(kind, record);
      return { key, value: encode(record), headers: standardHeaders({ eventId: `${kind}:${key}` }) };
    });
    counts[topic] = byTopic[topic]!.length;
  }
  const all = Object.entries(byTopic);
  // Send in slices: a generated reference set holds hundreds of thousands of numbers.
  for (const [topic, messages] of all) {
    for (let i = 0; i < messages.length; i += 5000) await producer.send({ [topic]: messages.slice(i, i + 5000) });
  }
  return counts;
}
