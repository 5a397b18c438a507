import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { AvroSerde } from './serde.ts';
import { closeThrowawayConsumer } from './kafka.ts';
import type { Logger } from './log.ts';

export interface CompactedRecord {
  topic: string;
  key: string;
  /** Decoded value, or null for a tombstone (the entity was deleted). */
  value: unknown;
}

export interface CompactedReader {
  /** Resolves once every record present at start has been applied. */
  ready: Promise<void>;
  isCaughtUp(): boolean;
  stop(): Promise<void>;
}

/**
 * Reads compacted reference topics from the beginning into memory and keeps following them.
 * Each instance reads everything (no shared group, nothing committed): reference data is small
 * and every instance of a stream service needs all of it. `ready` resolves when the high
 * watermarks seen at start are reached, so a service never processes usage with half its tables.
 */
export async function readCompactedTopics(kafka: Kafka, serde: AvroSerde, topics: string[], apply: (records: CompactedRecord[]) => void, logger: Logger): Promise<CompactedReader> {
  const admin = kafka.admin();
  await admin.connect();
  const targets = new Map<string, bigint>();
  for (const topic of topics) {
    for (const p of await admin.fetchTopicOffsets(topic)) {
      if (BigInt(p.high) > BigInt(p.low)) targets.set(`${topic}:${p.partition}`, BigInt(p.high));
    }
  }
  await admin.disconnect();

  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => (resolveReady = resolve));
  const markProgress = (topic: string, partition: number, nextOffset: bigint) => {
    const key = `${topic}:${partition}`;
    const target = targets.get(key);
    if (target !== undefined && nextOffset >= target) targets.delete(key);
    if (targets.size === 0) resolveReady();
  };
  if (targets.size === 0) resolveReady();

  // A throwaway group: kafkajs needs one, and offsets are never committed.
  const groupId = `rateline-ref-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 500 });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch, resolveOffset }) => {
      // One record whose schema the registry no longer has must not stop the rest: each is
      // prepared on its own then, and one that still fails is skipped by decode below.
      await serde.prepare(batch.messages.map((m) => m.value)).catch(async () => {
        for (const m of batch.messages) await serde.prepare([m.value]).catch(() => undefined);
      });
      const records: CompactedRecord[] = [];
      for (const message of batch.messages) {
        const key = message.key?.toString('utf8');
        if (key === undefined) continue;
        try {
          records.push({ topic: batch.topic, key, value: message.value ? serde.decode(message.value) : null });
        } catch (error) {
          logger.error('undecodable reference record skipped', { topic: batch.topic, key, offset: message.offset, error });
        }
      }
      apply(records);
      const last = batch.messages[batch.messages.length - 1];
      if (last) {
        resolveOffset(last.offset);
        markProgress(batch.topic, batch.partition, BigInt(last.offset) + 1n);
      }
    },
  });
  return {
    ready,
    isCaughtUp: () => targets.size === 0,
    stop: () => closeThrowawayConsumer(kafka, consumer, groupId),
  };
}
