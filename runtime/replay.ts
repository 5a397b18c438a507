import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import type { AvroSerde } from './serde.ts';
import { closeThrowawayConsumer } from './kafka.ts';

/**
 * Reads a topic (or some of its partitions) from a Kafka timestamp (or its beginning) up to its
 * end offsets as they are at the call, handing each decoded record to `onRecord`, then returns. For ops jobs (re-rating,
 * redrive) that need a bounded replay, not a subscription; nothing is committed and the
 * throwaway consumer group is deleted afterwards.
 */
export async function replayTopic<T>(
  kafka: Kafka,
  serde: AvroSerde,
  topic: string,
  fromTimestamp: number | undefined,
  onRecord: (value: T, message: KafkaMessage) => Promise<void> | void,
  options: { partitions?: readonly number[] } = {},
): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  const starts = fromTimestamp === undefined ? ends.map((p) => ({ partition: p.partition, offset: p.low })) : await admin.fetchTopicOffsetsByTimestamp(topic, fromTimestamp);
  await admin.disconnect();
  const remaining = new Map<number, bigint>();
  // Only these partitions are read; the others are skipped to their end (nothing fetched).
  const selected = (partition: number) => options.partitions === undefined || options.partitions.includes(partition);
  for (const end of ends) {
    if (!selected(end.partition)) continue;
    const start = starts.find((s) => s.partition === end.partition);
    const from = start && BigInt(start.offset) >= 0n ? BigInt(start.offset) : BigInt(end.high);
    if (BigInt(end.high) > from) remaining.set(end.partition, BigInt(end.high));
  }
  let read = 0;
  if (remaining.size === 0) return read;

  const groupId = `rateline-replay-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 500 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const s of starts) if (selected(s.partition) && BigInt(s.offset) >= 0n) consumer.seek({ topic, partition: s.partition, offset: String(s.offset) });
    for (const end of ends) if (!selected(end.partition)) consumer.seek({ topic, partition: end.partition, offset: String(end.high) });
  });
  let done!: () => void;
  let failed!: (err: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => {
    done = resolve;
    failed = reject;
  });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      try {
        await serde.prepare(batch.messages.map((m) => m.value));
        const end = remaining.get(batch.partition);
        for (const message of batch.messages) {
          if (end === undefined || BigInt(message.offset) >= end) break;
          read++;
          await onRecord(serde.decode<T>(message.value!), message);
          if (BigInt(message.offset) + 1n >= end) remaining.delete(batch.partition);
        }
        if (remaining.size === 0) done();
      } catch (err) {
        failed(err);
      }
    },
  });
  try {
    await finished;
  } finally {
    await closeThrowawayConsumer(kafka, consumer, groupId);
  }
  return read;
}
