import { createRequire } from 'node:module';
import kafkajs, { type Consumer, type ConsumerConfig, type EachBatchPayload, type ICustomPartitioner, type IHeaders, type Kafka, type Producer, type LogEntry } from 'kafkajs';

// kafkajs is CommonJS: take its values from the default export so every Node version resolves them.
const { Kafka: KafkaClient, logLevel, CompressionTypes, Partitioners } = kafkajs;
import type { KafkaConfig } from './config.ts';
import type { Logger } from './log.ts';
import { classifyFailure, RatelineError, TransientError } from './errors.ts';
import { BatchAbandoned, type LoopContext } from './consumer-loop.ts';

/** A message to produce. The key is the identity ordering and de-duplication rely on. */
export interface OutgoingMessage {
  key: string | null;
  value: Buffer | null;
  headers?: Record<string, string>;
  /** Epoch ms; defaults to now. */
  timestamp?: number;
}

/** A consumed message with where it came from. */
export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: number;
}

/** The small fixed set of headers every rateline message carries. */
export function standardHeaders(fields: { eventId: string; brand?: string; traceparent?: string }): Record<string, string> {
  const headers: Record<string, string> = { 'event-id': fields.eventId };
  if (fields.brand) headers.brand = fields.brand;
  if (fields.traceparent) headers.traceparent = fields.traceparent;
  return headers;
}

/**
 * kafkajs's level numbers (its `logLevel` object has no reverse mapping, so names cannot be
 * looked up from numbers): its errors and warnings reach our log at their own level.
 */
export function levelOfKafkaEntry(level: number): keyof Logger & ('error' | 'warn' | 'info' | 'debug') {
  if (level <= logLevel.ERROR) return 'error';
  if (level === logLevel.WARN) return 'warn';
  return 'debug';
}

export function createKafka(config: KafkaConfig, logger: Logger): Kafka {
  return new KafkaClient({
    clientId: config.clientId,
    brokers: config.brokers,
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...rest } = entry.log;
      logger[levelOfKafkaEntry(entry.level)](`kafka: ${message}`, { namespace: entry.namespace, ...rest });
    },
    // About a minute of reconnecting (a broker restart with data takes 10-30 s): a client that gives up
    // crashes its consumer, which then rejoins as a new member and waits out the old one's session.
    retry: { initialRetryTime: 200, maxRetryTime: 2_000, retries: 30 },
  });
}

export function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? String(value[0]) : String(value);
  }
  return out;
}

/**
 * The partition the producers' partitioner (kafkajs's default, murmur2 as Java's client) gives a
 * string key among `partitions` partitions: where a keyed record is, if the count never changed.
 */
export function partitionOfKey(topic: string, key: string, partitions: number): number {
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
  return Partitioners.DefaultPartitioner()({ topic, partitionMetadata, message: { key, value: null } });
}

/**
 * kafkajs's default partitioner (murmur2 of the key, as Java's client) remembering each key's
 * partition per topic and partition count: the default hashes a fresh Buffer of the key and
 * filters the partition list for every message, about a microsecond each, and a stage's keys
 * (accounts, sources) repeat. Every key lands where the default puts it.
 */
export const cachedDefaultPartitioner: ICustomPartitioner = () => {
  const partition = Partitioners.DefaultPartitioner();
  const byTopic = new Map<string, { partitions: number; keys: Map<string, number>; lookups: number; hits: number; bypass: boolean }>();
  return (args) => {
    const { topic, partitionMetadata, message } = args;
    if (typeof message.key !== 'string' || (message.partition !== undefined && message.partition !== null)) return partition(args);
    let known = byTopic.get(topic);
    if (known === undefined || known.partitions !== partitionMetadata.length || known.keys.size >= 100_000) {
      known = { partitions: partitionMetadata.length, keys: new Map(), lookups: 0, hits: 0, bypass: known?.bypass ?? false };
      byTopic.set(topic, known);
    }
    // Keys that never repeat (cdr.accepted's source/cdrId) would only fill the map: after 10,000
    // lookups with fewer than half hits, the topic goes straight to the default.
    if (known.bypass) return partition(args);
    let p = known.keys.get(message.key);
    if (++known.lookups === 10_000 && known.hits < 5_000) known.bypass = true;
    if (p === undefined) {
      p = partition(args);
      known.keys.set(message.key, p);
    } else known.hits++;
    return p;
  };
};

/** Broker answers that refuse the records themselves: no retry will get them accepted. */
const recordRefusals = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE', 'INVALID_TIMESTAMP']);
/** Broker answers that mean the idempotent producer's state is lost: it must be made anew. */
const producerStateErrors = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH', 'DUPLICATE_SEQUENCE_NUMBER', 'INVALID_PRODUCER_ID_MAPPING']);

// kafkajs's table of protocol errors: when its retrier gives up it keeps only the message.
const { errorCodes } = createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as { errorCodes: { type: string; message: string }[] };
const errorTypeByMessage = new Map(errorCodes.map((e) => [e.message, e.type]));

/** The Kafka protocol error type (e.g. OUT_OF_ORDER_SEQUENCE_NUMBER) anywhere in a kafkajs error's chain. */
export function kafkaErrorType(err: unknown): string | undefined {
  for (let e = err as { type?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 8; depth++) {
    if (typeof e.type === 'string') return e.type;
    const byMessage = typeof e.message === 'string' ? errorTypeByMessage.get(e.message) : undefined;
    if (byMessage) return byMessage;
    e = e.cause as typeof e;
  }
  return undefined;
}

/**
 * An idempotent producer (acks=all, no duplicates on retry) that sends batches and waits for the
 * broker's acknowledgement: nothing is fire-and-forget.
 */
export class BatchProducer {
  private connected = false;
  private producer!: Producer;
  private resetting: Promise<void> | undefined;

  private constructor(
    private readonly kafka: Kafka,
    private readonly options: { transactionalId?: string },
  ) {}

  static async connect(kafka: Kafka, options: { transactionalId?: string } = {}): Promise<BatchProducer> {
    const wrapped = new BatchProducer(kafka, options);
    await wrapped.open();
    return wrapped;
  }

  private async open(): Promise<void> {
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 5,
      createPartitioner: cachedDefaultPartitioner,
      ...(this.options.transactionalId ? { transactionalId: this.options.transactionalId } : {}),
    });
    await producer.connect();
    this.producer = producer;
    this.connected = true;
    producer.on(producer.events.DISCONNECT, () => {
      if (this.producer === producer) this.connected = false;
    });
    producer.on(producer.events.CONNECT, () => {
      if (this.producer === producer) this.connected = true;
    });
  }

  /**
   * A broker that lost its log tail (a SIGKILL before fsync) no longer agrees with the idempotent
   * producer's sequence numbers, and kafkajs cannot recover such a producer: a new one (a new
   * producer id) is made. What was sent is re-sent by the retried batch; consumers are
   * idempotent on event ids.
   */
  private reset(): Promise<void> {
    return (this.resetting ??= (async () => {
      const old = this.producer;
      this.connected = false;
      await old.disconnect().catch(() => undefined);
      await this.open();
    })().finally(() => (this.resetting = undefined)));
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /**
   * Sends messages to several topics; resolves when the broker acknowledged all. Large batches go
   * in slices of at most ~900 KB, so that no partition's record batch exceeds the broker's
   * default message.max.bytes (1 MB). Slices are sent one after another: order per partition
   * is what one account's usage relies on.
   */
  async send(byTopic: Record<string, OutgoingMessage[]>): Promise<void> {
    let slice: { topic: string; messages: { key: string | null; value: Buffer | null; headers?: Record<string, string>; timestamp?: string }[] }[] = [];
    let sliceBytes = 0;
    const flush = async () => {
      if (slice.length === 0) return;
      const topicMessages = slice;
      slice = [];
      sliceBytes = 0;
      try {
        await this.resetting;
        await this.producer.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None });
      } catch (cause) {
        const where = topicMessages.map((t) => t.topic).join(', ');
        const type = kafkaErrorType(cause);
        // Only a refusal of the records themselves is permanent; the rest passes (or needs a new producer).
        if (type !== undefined && recordRefusals.has(type)) throw new RatelineError('produce_rejected', `the broker refused a produce to ${where}: ${(cause as Error).message}`, { cause });
        if (type !== undefined && producerStateErrors.has(type)) await this.reset().catch(() => undefined);
        throw new TransientError('produce_failed', `produce to ${where}`, cause);
      }
    };
    for (const [topic, messages] of Object.entries(byTopic)) {
      let current: (typeof slice)[number] | undefined;
      for (const m of messages) {
        const size = (m.value?.length ?? 0) + (m.key?.length ?? 0) + 64;
        if (sliceBytes + size > 900_000) {
          await flush();
          current = undefined;
        }
        if (!current) {
          current = { topic, messages: [] };
          slice.push(current);
        }
        current.messages.push({ key: m.key, value: m.value, headers: m.headers, timestamp: m.timestamp === undefined ? undefined : String(m.timestamp) });
        sliceBytes += size;
      }
      current = undefined;
    }
    await flush();
  }

  /** kafkajs sends are awaited, so nothing is buffered: disconnect is the flush. */
  async stop(): Promise<void> {
    await this.producer.disconnect();
    this.connected = false;
  }
}

/** Stops a throwaway consumer and deletes its group, so ops jobs and readers leave nothing behind. */
export async function closeThrowawayConsumer(kafka: Kafka, consumer: Consumer, groupId: string): Promise<void> {
  await consumer.stop();
  await consumer.disconnect();
  await deleteGroup(kafka, groupId);
}

/** Deletes a consumer group that is done with (best effort: an ops job leaves nothing behind). */
export async function deleteGroup(kafka: Kafka, groupId: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteGroups([groupId]).catch(() => undefined);
  await admin.disconnect();
}

/**
 * Commits offsets at the current end of each topic for a group that has not consumed yet, so
 * that it reads only what is produced from now on (a reader of a long-lived shared topic that
 * needs none of its history: reading it from the beginning costs time that grows with the topic).
 */
export async function startGroupAtEnd(kafka: Kafka, groupId: string, topicNames: readonly string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (const topic of topicNames) {
      const offsets = await admin.fetchTopicOffsets(topic);
      await admin.setOffsets({ groupId, topic, partitions: offsets.map((o) => ({ partition: o.partition, offset: o.high })) });
    }
  } finally {
    await admin.disconnect();
  }
}

/** What a batch handler gets from the consumer besides the records. */
export type BatchContext = LoopContext;

export interface ConsumerOptions {
  groupId: string;
  /**
   * Topic names, or patterns (e.g. every brand's invoices: /^brand\..+\.invoices$/). Topics
   * matching a pattern that are created later are picked up within `topicRefreshMs`.
   */
  topics: (string | RegExp)[];
  fromBeginning?: boolean;
  /** Max bytes fetched per partition; larger batches amortise per-batch costs. */
  maxBytesPerPartition?: number;
  /** Process a batch; throw to retry it (retryable) or to have it split and dead-lettered. */
  handle(records: ConsumedRecord[], context: BatchContext): Promise<void>;
  onLag?(topic: string, partition: number, lag: number): void;
  sessionTimeoutMs?: number;
  /**
   * How many partitions' batches are processed at once. Safe because a key (an account, a CDR
   * id) never spans partitions, so batches of different partitions share no state.
   */
  partitionsConcurrently?: number;
  /**
   * Hand the partition batches of one fetch to `handle` together, as one call (records of each
   * partition in order, partition after partition), instead of one partition at a time: a stage
   * then pays its per-batch waits (an acknowledged produce, a COMMIT's flush, an offset commit)
   * once per fetch. The handler must accept records of several partitions.
   */
  gatherPartitions?: boolean;
  /** The broker answers a fetch once it has this many bytes, or after fetchMaxWaitMs (kafkajs's minBytes and maxWaitTimeInMs). */
  fetchMinBytes?: number;
  fetchMaxWaitMs?: number;
  /**
   * For stateful services that keep consumed offsets in their database (same transaction as
   * their state): after every assignment, each partition's first batch starts from the offset
   * stored there (records before it were processed already; a stored offset behind the batch
   * seeks back).
   */
  storedOffsets?(): Promise<Map<string, string>>;
  logger?: Logger;
  /**
   * With patterns among `topics`: how often to look for topics created since (a new brand's
   * invoices); the consumer then rejoins with them. Default 30 s.
   */
  topicRefreshMs?: number;
}

export interface RunningConsumer {
  readonly consumer: Consumer | undefined;
  isRunning(): boolean;
  stop(): Promise<void>;
}

/**
 * Consumes batches and commits a batch's offsets only after `handle` resolved: at-least-once.
 * What to do when `handle` throws is the caller's (see consumer-loop.ts); this function only
 * guarantees that an offset is never committed for a record that was not processed.
 */
export async function runBatchConsumer(kafka: Kafka, options: ConsumerOptions): Promise<RunningConsumer> {
  const patterns = options.topics.filter((t): t is RegExp => t instanceof RegExp);
  if (patterns.length === 0) return consumeTopics(kafka, options, options.topics as string[]);
  return consumePatterns(kafka, options, patterns);
}

/**
 * Topic patterns, kept current: kafkajs matches a pattern once, when it subscribes, so the
 * topics are listed here, subscribed by name, and listed again every `topicRefreshMs`; when a
 * matching topic appears the consumer stops (committing what it processed) and rejoins with it.
 */
async function consumePatterns(kafka: Kafka, options: ConsumerOptions, patterns: RegExp[]): Promise<RunningConsumer> {
  const names = options.topics.filter((t): t is string => typeof t === 'string');
  const admin = kafka.admin();
  await admin.connect();
  const matching = async (): Promise<string[]> => {
    const all = await admin.listTopics();
    return [...new Set([...names, ...all.filter((t) => !t.startsWith('__') && patterns.some((p) => p.test(t)))])].sort();
  };
  let subscribed = await matching();
  let current = subscribed.length > 0 ? await consumeTopics(kafka, options, subscribed) : undefined;
  let stopped = false;
  let refreshing: Promise<void> | undefined;
  const refresh = async () => {
    const now = await matching();
    if (stopped || now.join('\n') === subscribed.join('\n')) return;
    await current?.stop();
    if (stopped) return;
    subscribed = now;
    current = await consumeTopics(kafka, options, subscribed);
  };
  const timer = setInterval(() => {
    refreshing ??= refresh()
      .catch(() => undefined) // the broker may be away for a moment: the next tick tries again
      .finally(() => (refreshing = undefined));
  }, options.topicRefreshMs ?? 30_000);
  return {
    get consumer() {
      return current?.consumer;
    },
    // Waiting for a first matching topic is running too: nothing to consume yet.
    isRunning: () => !stopped && (current?.isRunning() ?? true),
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await refreshing;
      await current?.stop();
      await admin.disconnect();
    },
  };
}

async function consumeTopics(kafka: Kafka, options: ConsumerOptions, topicNames: string[]): Promise<RunningConsumer & { consumer: Consumer }> {
  const sessionTimeout = options.sessionTimeoutMs ?? 10_000;
  const consumerConfig: ConsumerConfig = {
    groupId: options.groupId,
    maxBytesPerPartition: options.maxBytesPerPartition ?? 4 * 1024 * 1024,
    maxBytes: 32 * 1024 * 1024,
    minBytes: options.fetchMinBytes ?? 1,
    maxWaitTimeInMs: options.fetchMaxWaitMs ?? 5_000,
    sessionTimeout,
    heartbeatInterval: Math.max(500, Math.floor(sessionTimeout / 10)),
    // Rides out a broker restart without crashing: a consumer that crashes rejoins under a new
    // member id and waits for the broker to expire the old one (a whole session timeout).
    retry: { initialRetryTime: 300, maxRetryTime: 1_000, retries: 300 },
  };
  let running = false;
  let stopping = false;
  const waits = new Set<() => void>();
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      if (stopping) return resolve();
      const done = () => {
        clearTimeout(timer);
        waits.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      waits.add(done);
    });
  // Partitions assigned since the last join whose stored offset has not been applied yet.
  let unchecked = new Set<string>();
  let stored: Promise<Map<string, string>> | undefined;
  const onJoin = (event: { payload: { memberAssignment: Record<string, number[]> } }) => {
    running = true;
    if (!options.storedOffsets) return;
    unchecked = new Set(Object.entries(event.payload.memberAssignment).flatMap(([topic, partitions]) => partitions.map((p) => `${topic}:${p}`)));
    stored = undefined;
  };
  /** The stored offsets, read once per assignment; waits out a database outage (or a stop). */
  const loadStored = async (): Promise<Map<string, string> | undefined> => {
    for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        return await (stored ??= options.storedOffsets!());
      } catch (error) {
        stored = undefined;
        if (stopping || !classifyFailure(error).retryable) throw error;
        options.logger?.warn('reading stored offsets failed, retrying', { error, delayMs: delay });
        await pause(delay);
        if (stopping) return undefined;
      }
    }
  };

  const handle = options.gatherPartitions ? gatherBatches(options.handle) : options.handle;
  const supervised = await superviseConsumer(kafka, consumerConfig, options.logger, async (consumer) => {
    consumer.on(consumer.events.GROUP_JOIN, onJoin);
    consumer.on(consumer.events.CRASH, () => void (running = false));
    await consumer.connect();
    await consumer.subscribe({ topics: topicNames, fromBeginning: options.fromBeginning ?? true });
    await consumer.run({
      // Offsets are resolved only after a batch is processed. kafkajs's runner commits the resolved
      // offsets after every batch anyway (runner.js autoCommitOffsets after eachBatch), so the
      // interval below only bounds commitOffsetsIfNecessary inside a batch; gathering partitions
      // (one call a fetch) is what saves commits. A crash redelivers what was not committed: every
      // consumer is idempotent on event ids, and stateful stages keep their offsets in their own database.
      autoCommit: true,
      autoCommitInterval: 1000,
      eachBatchAutoResolve: false,
      // Gathering needs every partition batch of a fetch handed over at once (kafkajs gives each to a worker).
      partitionsConsumedConcurrently: options.gatherPartitions ? GATHER_WORKERS : (options.partitionsConcurrently ?? 1),
      eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset, commitOffsetsIfNecessary }: EachBatchPayload) => {
        if (batch.messages.length === 0 || !isRunning() || isStale()) return;
        let messages = batch.messages;
        const where = `${batch.topic}:${batch.partition}`;
        if (unchecked.has(where)) {
          const offsets = await loadStored();
          if (offsets === undefined) return;
          unchecked.delete(where);
          const next = offsets.get(where);
          if (next !== undefined) {
            if (BigInt(next) < BigInt(messages[0]!.offset)) {
              consumer.seek({ topic: batch.topic, partition: batch.partition, offset: next });
              return;
            }
            messages = messages.filter((m) => BigInt(m.offset) >= BigInt(next));
            if (messages.length === 0) {
              resolveOffset(batch.messages[batch.messages.length - 1]!.offset);
              return;
            }
          }
        }
        const records: ConsumedRecord[] = messages.map((m) => {
          // Headers are decoded when first read: most stages never read them.
          let headers: Record<string, string> | undefined;
          return {
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key,
            value: m.value,
            get headers() {
              return (headers ??= decodeHeaders(m.headers));
            },
            set headers(value) {
              headers = value;
            },
            timestamp: Number(m.timestamp),
          };
        });
        try {
          await handle(records, { isStopping: () => stopping, pause, heartbeat });
        } catch (error) {
          if (error instanceof BatchAbandoned) return; // uncommitted: the next owner takes it again
          throw error;
        }
        const last = messages[messages.length - 1]!;
        const next = (BigInt(last.offset) + 1n).toString();
        resolveOffset(last.offset);
        await commitOffsetsIfNecessary();
        options.onLag?.(batch.topic, batch.partition, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(next))));
        await heartbeat();
      },
    });
  });
  running = true;
  return {
    get consumer() {
      return supervised.current();
    },
    isRunning: () => running,
    stop: async () => {
      stopping = true;
      for (const wake of [...waits]) wake();
      // kafkajs waits for the batch in hand to finish, then leaves the group.
      await supervised.stop();
      running = false;
    },
  };
}

/** More than the partitions one member is assigned in any deployment we run (topics have 3-12). */
const GATHER_WORKERS = 64;
/**
 * A gathered call takes partition batches up to this many records (a partition's batch is never
 * split): under a steady load a fetch holds far fewer; in a backlog every partition's batch is
 * large already, and one call over all of them would outlast the session (heartbeats go between calls).
 */
export const GATHER_MAX_RECORDS = 5_000;

/**
 * Gathers the batches handed over in one turn of the event loop (kafkajs starts every partition
 * batch of a fetch on its own worker in the same turn) into calls of `handle` of up to
 * `maxRecords` records, one after another; each caller's promise settles with the call that holds
 * its batch. Records stay in order within each partition. After a failed call the calls left are
 * not made and their callers fail too: none of them has its offsets resolved.
 */
export function gatherBatches<C extends { heartbeat?(): Promise<void> }>(
  handle: (records: ConsumedRecord[], context: C) => Promise<void>,
  maxRecords = GATHER_MAX_RECORDS,
): (records: ConsumedRecord[], context: C) => Promise<void> {
  type Waiting = { records: ConsumedRecord[]; context: C; resolve(): void; reject(error: unknown): void };
  let waiting: Waiting[] = [];
  const flush = async () => {
    const calls: Waiting[][] = [];
    let size = Infinity;
    for (const batch of waiting) {
      if (size + batch.records.length > maxRecords) {
        calls.push([]);
        size = 0;
      }
      calls[calls.length - 1]!.push(batch);
      size += batch.records.length;
    }
    waiting = [];
    for (const [i, call] of calls.entries()) {
      try {
        if (i > 0) await call[0]!.context.heartbeat?.();
        await handle(call.length === 1 ? call[0]!.records : call.flatMap((b) => b.records), call[0]!.context);
        for (const b of call) b.resolve();
      } catch (error) {
        for (const b of calls.slice(i).flat()) b.reject(error);
        return;
      }
    }
  };
  return (records, context) =>
    new Promise<void>((resolve, reject) => {
      if (waiting.length === 0) setImmediate(() => void flush());
      waiting.push({ records, context, resolve, reject });
    });
}

/**
 * A consumer that is started again when kafkajs gives up on it. kafkajs restarts a crashed
 * consumer only for errors it deems retriable; a broker away longer than its retries (a connection
 * error wrapped as non-retriable) leaves the consumer dead for good, and the service with it. Here a
 * new consumer is made and set up again (with backoff) until `stop`.
 */
export async function superviseConsumer(kafka: Kafka, config: ConsumerConfig, logger: Logger | undefined, setUp: (consumer: Consumer) => Promise<void>): Promise<{ current(): Consumer; stop(): Promise<void> }> {
  let stopped = false;
  let consumer = kafka.consumer(config);
  let relaunch: NodeJS.Timeout | undefined;
  const watch = (c: Consumer) =>
    c.on(c.events.CRASH, (event) => {
      const { error, restart } = event.payload;
      logger?.error('consumer crashed', { error, restart, groupId: config.groupId });
      if (!restart && !stopped) schedule(1_000);
    });
  const schedule = (delayMs: number) => {
    relaunch = setTimeout(() => {
      if (stopped) return;
      consumer = kafka.consumer(config);
      watch(consumer);
      setUp(consumer).then(
        () => logger?.warn('consumer started again after a crash', { groupId: config.groupId }),
        (error: unknown) => {
          logger?.error('starting the consumer again failed; retrying', { error, groupId: config.groupId });
          void consumer.disconnect().catch(() => undefined);
          schedule(Math.min(2 * delayMs, 10_000));
        },
      );
    }, delayMs);
  };
  watch(consumer);
  await setUp(consumer);
  return {
    current: () => consumer,
    stop: async () => {
      stopped = true;
      clearTimeout(relaunch);
      await consumer.stop();
      await consumer.disconnect();
    },
  };
}
