import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { AvroSerde } from './serde.ts';
import { InvalidInputError } from './errors.ts';
import { decodeHeaders, deleteGroup, superviseConsumer } from './kafka.ts';
import { sleep } from './time.ts';
import type { Logger } from './log.ts';
import { sendToDeadLetter, type DeadLetterSink } from './consumer-loop.ts';
import { schemaOfTopic } from '../topics/catalog.ts';

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
export async function readCompactedTopics(
  kafka: Kafka,
  serde: AvroSerde,
  topics: string[],
  apply: (records: CompactedRecord[]) => void,
  logger: Logger,
  deadLetters?: Omit<DeadLetterSink, 'logger'>,
): Promise<CompactedReader> {
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
  let stopping = false;
  const positions = new ReadPositions();
  const supervised = await superviseConsumer(kafka, { groupId, maxWaitTimeInMs: 500 }, logger, async (consumer) => {
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, resolveOffset }) => {
        // An id the registry does not know is set aside by decode below; a registry that is away
        // is waited for, since skipping would leave the tables without the record.
        for (let delay = 250; ; delay = Math.min(2 * delay, 5_000)) {
          try {
            await serde.prepare(batch.messages.map((m) => m.value));
            break;
          } catch (error) {
            if (stopping) return;
            logger.warn('reading reference schemas failed, retrying', { topic: batch.topic, error, delayMs: delay });
            await sleep(delay);
          }
        }
        const schema = schemaOfTopic(batch.topic);
        const records: CompactedRecord[] = [];
        for (const message of positions.unread(batch.topic, batch.partition, batch.messages)) {
          const key = message.key?.toString('utf8');
          try {
            if (key === undefined) throw new InvalidInputError('missing_key', 'a reference record without a key cannot be applied');
            // A null value is a tombstone: the entity was deleted.
            records.push({ topic: batch.topic, key, value: message.value ? serde.decode(message.value, schema) : null });
          } catch (error) {
            // Every instance reads every reference record, so each sets a bad one aside once per start.
            logger.error('undecodable reference record skipped', { topic: batch.topic, key, offset: message.offset, error });
            if (deadLetters) {
              const record = { topic: batch.topic, partition: batch.partition, offset: message.offset, key: message.key, value: message.value, headers: decodeHeaders(message.headers), timestamp: Number(message.timestamp) };
              await sendToDeadLetter(record, error, { ...deadLetters, logger }).catch((sendError: unknown) => logger.error('dead-lettering a reference record failed', { error: sendError }));
            }
          }
        }
        apply(records);
        const last = batch.messages[batch.messages.length - 1];
        if (last) {
          positions.advance(batch.topic, batch.partition, last.offset);
          resolveOffset(last.offset);
          markProgress(batch.topic, batch.partition, BigInt(last.offset) + 1n);
        }
      },
    });
  });
  return {
    ready,
    isCaughtUp: () => targets.size === 0,
    stop: () => {
      stopping = true;
      return supervised.stop().then(() => deleteGroup(kafka, groupId));
    },
  };
}

/**
 * How far each partition has been applied, kept across the consumer's rejoins and restarts.
 * Nothing is committed, so a consumer that rejoins (its session lost while the broker was away)
 * or is restarted reads each partition again from its beginning: what was applied is skipped.
 * Re-applying old versions would wind the tables back until the re-read caught up, and a bad
 * record would be dead-lettered once more.
 */
export class ReadPositions {
  private readonly next = new Map<string, bigint>();

  /** The messages of a batch not applied yet. */
  unread<M extends { offset: string }>(topic: string, partition: number, messages: M[]): M[] {
    const from = this.next.get(`${topic}:${partition}`);
    return from === undefined ? messages : messages.filter((m) => BigInt(m.offset) >= from);
  }

  advance(topic: string, partition: number, lastOffset: string): void {
    const key = `${topic}:${partition}`;
    const next = BigInt(lastOffset) + 1n;
    if (next > (this.next.get(key) ?? 0n)) this.next.set(key, next);
  }
}
