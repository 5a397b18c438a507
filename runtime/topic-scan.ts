import { randomUUID } from 'node:crypto';
import type { IHeaders, Kafka } from 'kafkajs';
import { InvalidInputError } from './errors.ts';
import { closeThrowawayConsumer } from './kafka.ts';

/** A record as stored: bytes untouched, for ops tools that show or re-publish it. */
export interface RawRecord {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  /** The header bytes as stored, to re-publish exactly. */
  rawHeaders: IHeaders;
  /** The headers as UTF-8 text (the first value of a repeated header). */
  headers: Record<string, string>;
  timestamp: number;
}

/** Offsets [from, to) of one partition. */
export interface PartitionRange {
  partition: number;
  from: bigint;
  to: bigint;
}

/**
 * What each partition holds now: from its low watermark to its last stable offset (kafkajs lists
 * offsets read_committed), so an open transaction is never waited for. A transaction whose commit
 * just returned may show a moment later, once the broker has written its markers.
 */
export async function currentRanges(kafka: Kafka, topic: string): Promise<PartitionRange[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) throw new InvalidInputError('unknown_topic', `topic ${topic} does not exist (create the topics with: rateline topics apply)`);
    return (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, from: BigInt(p.low), to: BigInt(p.high) }));
  } finally {
    await admin.disconnect();
  }
}

const text = (value: IHeaders[string]): string | undefined => {
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : first.toString();
};

/**
 * Reads the given ranges of a topic (default: what it holds at the call, `currentRanges`) and
 * returns once each range is read; `onBatch` gets the records in offset order per partition.
 * Committed records only: an aborted transaction's records are skipped. A throwaway consumer
 * group, nothing committed, deleted afterwards.
 */
export async function scanTopic(kafka: Kafka, topic: string, onBatch: (records: RawRecord[]) => Promise<void> | void, ranges?: PartitionRange[]): Promise<number> {
  const wanted = (ranges ?? (await currentRanges(kafka, topic))).filter((r) => r.to > r.from);
  const remaining = new Map(wanted.map((r) => [r.partition, r]));
  if (remaining.size === 0) return 0;
  let read = 0;
  let done!: () => void;
  let failed!: (err: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => {
    done = resolve;
    failed = reject;
  });
  const reached = (partition: number, lastOffset: string) => {
    const range = remaining.get(partition);
    if (range && BigInt(lastOffset) + 1n >= range.to) remaining.delete(partition);
    if (remaining.size === 0) done();
  };

  const groupId = `rateline-scan-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 500 });
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const r of wanted) consumer.seek({ topic, partition: r.partition, offset: r.from.toString() });
  });
  // A fetch of nothing but transaction markers or aborted records never reaches eachBatch (the
  // end of a transactionally written topic is a marker): this event says where every batch ended.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => reached(payload.partition, payload.lastOffset));
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const range = remaining.get(batch.partition);
        if (!range) return;
        const records: RawRecord[] = [];
        for (const m of batch.messages) {
          const offset = BigInt(m.offset);
          if (offset < range.from || offset >= range.to) continue;
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(m.headers ?? {})) {
            const decoded = text(value);
            if (decoded !== undefined) headers[name] = decoded;
          }
          records.push({ partition: batch.partition, offset: m.offset, key: m.key, value: m.value, rawHeaders: m.headers ?? {}, headers, timestamp: Number(m.timestamp) });
        }
        if (records.length === 0) return;
        read += records.length;
        try {
          await onBatch(records);
        } catch (err) {
          failed(err);
        }
      },
    });
    await finished;
  } finally {
    await closeThrowawayConsumer(kafka, consumer, groupId);
  }
  return read;
}
