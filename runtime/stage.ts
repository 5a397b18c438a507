import type { FastifyInstance } from 'fastify';
import type { RuntimeConfig } from './config.ts';
import { KeyTable, type ApiKeyRecord } from './auth.ts';
import type { AuditTrail } from './audit.ts';
import { readCompactedTopics, type CompactedReader, type CompactedRecord } from './compacted.ts';
import { resilientHandler, StageHealth } from './consumer-loop.ts';
import { startHttp, startOpsServer, type HealthCheck } from './http.ts';
import { topics } from '../topics/catalog.ts';
import { applyTopics } from '../topics/apply.ts';
import { BatchProducer, runBatchConsumer, type ConsumedRecord, type OutgoingMessage, type RunningConsumer } from './kafka.ts';
import { createServiceMetrics, type ServiceMetrics } from './metrics.ts';
import type { RunningService, ServiceDeps } from './service.ts';

export interface StageContext {
  producer: BatchProducer;
  metrics: ServiceMetrics;
}

/** Produces a batch's outputs, waiting for the broker, and counts them per topic. */
export async function sendCounted({ producer, metrics }: StageContext, byTopic: Record<string, OutgoingMessage[]>): Promise<void> {
  await producer.send(byTopic);
  for (const [topic, messages] of Object.entries(byTopic)) metrics.recordsOut.inc({ topic }, messages.length);
}

export interface StageDefinition {
  name: string;
  groupId: string;
  /** Names or patterns (see ConsumerOptions.topics). */
  inputTopics: (string | RegExp)[];
  deadLetterTopic: string;
  /** Compacted reference topics to hold in memory before the first record is processed. */
  referenceTopics?: string[];
  onReference?(records: CompactedRecord[]): void;
  /**
   * Take the partition batches of a fetch as one batch (see ConsumerOptions.gatherPartitions):
   * handleBatch then gets records of several partitions, each partition's in order.
   */
  gatherPartitions?: boolean;
  /** Process one batch: produce outputs (and commit state) before resolving. */
  handleBatch(records: ConsumedRecord[], context: StageContext): Promise<void>;
  storedOffsets?(): Promise<Map<string, string>>;
  healthChecks?: Record<string, HealthCheck>;
  /** The stage's API: its routes need a catalogue key (read from ref.api-keys) unless marked public. */
  api?(context: StageContext): StageApi;
  /** Extra routes on the ops listener (maintenance that reads no customer data). */
  opsRoutes?(context: StageContext): (app: FastifyInstance) => void;
  /** Release what the stage owns (database pool, ...) after the consumer and producer stopped. */
  close?(): Promise<void>;
}

export interface StageApi {
  title: string;
  description: string;
  /** Shared schemas (`$id` set), listed in the OpenAPI components. */
  schemas?: Record<string, unknown>[];
  routes(app: FastifyInstance): void | Promise<void>;
  /** Where calls of routes marked `config: { audit: true }` are recorded, readable at GET /audit-events. */
  audit?: AuditTrail;
}

/** A record of ref.api-keys as the key table holds it. */
export function apiKeyRecord(value: unknown): ApiKeyRecord | null {
  if (value === null) return null;
  const v = value as { keyId: string; brand: string | null; keyHash: string; expiresAt: number | bigint | null; revokedAt: number | bigint | null };
  return { keyId: v.keyId, brand: v.brand, keyHash: v.keyHash, expiresAt: v.expiresAt === null ? null : Number(v.expiresAt), revokedAt: v.revokedAt === null ? null : Number(v.revokedAt) };
}

/**
 * The frame every stream stage shares: metrics, an idempotent producer, reference tables loaded
 * before the first record, a batch consumer with the retry and dead-letter policy, and the ops
 * endpoint. Stop finishes the batch in hand and commits, then flushes and disconnects.
 */
export async function startStage(config: RuntimeConfig, deps: ServiceDeps, stage: StageDefinition): Promise<RunningService & { metrics: ServiceMetrics }> {
  const metrics = createServiceMetrics(stage.name);
  const logger = deps.logger.child({ stage: stage.name });
  const health = new StageHealth(metrics);
  const producer = await BatchProducer.connect(deps.kafka);
  const context: StageContext = { producer, metrics };

  // A stage with an API verifies keys from the catalogue's ref.api-keys, read with its reference data.
  const keys = new KeyTable();
  const referenceTopics = [...(stage.referenceTopics ?? []), ...(stage.api ? [topics.refApiKeys.name] : [])];
  const onReference = (records: CompactedRecord[]) => {
    const others: CompactedRecord[] = [];
    for (const record of records) {
      if (record.topic === topics.refApiKeys.name) keys.apply(record.key, apiKeyRecord(record.value));
      else others.push(record);
    }
    if (others.length > 0) stage.onReference?.(others);
  };
  // The key topic is the catalogue's, but a stage may start first: it then waits with no keys.
  if (stage.api) await applyTopics(deps.kafka, deps.serde, [topics.refApiKeys]);
  let reference: CompactedReader | undefined;
  if (referenceTopics.length > 0) {
    reference = await readCompactedTopics(deps.kafka, deps.serde, referenceTopics, onReference, logger, {
      service: stage.name,
      producer,
      deadLetterTopic: stage.deadLetterTopic,
      metrics,
    });
    await reference.ready;
  }

  const handle = async (records: ConsumedRecord[]) => {
    const timer = metrics.batchSeconds.startTimer({ topic: records[0]!.topic });
    await stage.handleBatch(records, context);
    timer();
    const now = Date.now();
    const perTopic = new Map<string, number>();
    for (const r of records) {
      perTopic.set(r.topic, (perTopic.get(r.topic) ?? 0) + 1);
      metrics.recordLatencySeconds.observe({ topic: r.topic }, Math.max(0, (now - r.timestamp) / 1000));
    }
    for (const [topic, count] of perTopic) metrics.recordsIn.inc({ topic }, count);
  };
  let consumer: RunningConsumer | undefined;
  consumer = await runBatchConsumer(deps.kafka, {
    groupId: stage.groupId,
    topics: stage.inputTopics,
    handle: resilientHandler(handle, { service: stage.name, producer, deadLetterTopic: stage.deadLetterTopic, logger, metrics, health }),
    logger,
    sessionTimeoutMs: config.kafka.sessionTimeoutMs,
    maxBytesPerPartition: config.kafka.maxBytesPerPartition,
    partitionsConcurrently: config.kafka.partitionsConcurrently,
    ...(stage.gatherPartitions && config.kafka.gatherPartitions ? { gatherPartitions: true } : {}),
    fetchMinBytes: config.kafka.fetchMinBytes,
    fetchMaxWaitMs: config.kafka.fetchMaxWaitMs,
    onLag: (topic, partition, lag) => metrics.consumerLag.set({ topic, partition: String(partition) }, lag),
    ...(stage.storedOffsets ? { storedOffsets: stage.storedOffsets } : {}),
  });

  const checks: Record<string, HealthCheck> = {
    consumer: () => ({ ok: consumer?.isRunning() ?? false }),
    processing: health.check,
    producer: () => ({ ok: producer.isConnected }),
    reference: () => ({ ok: reference?.isCaughtUp() ?? true }),
    ...stage.healthChecks,
  };
  const api = stage.api?.(context);
  let server: { url: string; apiUrl?: string; close(): Promise<void> };
  try {
    server = api
      ? await startHttp(config.http, metrics.registry, checks, { ...api, verifier: keys, logger, metrics, now: () => deps.clock.now() }, stage.opsRoutes?.(context))
      : await startOpsServer(config.http, metrics.registry, checks, stage.opsRoutes?.(context));
  } catch (err) {
    await consumer.stop();
    await producer.stop();
    await reference?.stop();
    throw err;
  }

  let stopped: Promise<void> | undefined;
  return {
    name: stage.name,
    url: server.url,
    ...(server.apiUrl ? { apiUrl: server.apiUrl } : {}),
    metrics,
    stop: () =>
      (stopped ??= (async () => {
        await consumer?.stop();
        consumer = undefined;
        await producer.stop();
        await reference?.stop();
        await server.close();
        await stage.close?.();
      })()),
  };
}
