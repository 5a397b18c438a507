import type http from 'node:http';
import type { RuntimeConfig } from './config.ts';
import { readCompactedTopics, type CompactedReader, type CompactedRecord } from './compacted.ts';
import { resilientHandler, StageHealth } from './consumer-loop.ts';
import { startOpsServer, type HealthCheck } from './http.ts';
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
  /** Process one batch: produce outputs (and commit state) before resolving. */
  handleBatch(records: ConsumedRecord[], context: StageContext): Promise<void>;
  storedOffsets?(): Promise<Map<string, string>>;
  healthChecks?: Record<string, HealthCheck>;
  routes?(context: StageContext): Record<string, http.RequestListener>;
  /** Release what the stage owns (database pool, ...) after the consumer and producer stopped. */
  close?(): Promise<void>;
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

  let reference: CompactedReader | undefined;
  if (stage.referenceTopics?.length) {
    reference = await readCompactedTopics(deps.kafka, deps.serde, stage.referenceTopics, (records) => stage.onReference?.(records), logger, {
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
    metrics.recordsIn.inc({ topic: records[0]!.topic }, records.length);
    for (const r of records) metrics.recordLatencySeconds.observe({ topic: r.topic }, Math.max(0, (now - r.timestamp) / 1000));
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
    onLag: (topic, partition, lag) => metrics.consumerLag.set({ topic, partition: String(partition) }, lag),
    ...(stage.storedOffsets ? { storedOffsets: stage.storedOffsets } : {}),
  });

  const server = await startOpsServer(
    config.http,
    metrics.registry,
    {
      consumer: () => ({ ok: consumer?.isRunning() ?? false }),
      processing: health.check,
      producer: () => ({ ok: producer.isConnected }),
      reference: () => ({ ok: reference?.isCaughtUp() ?? true }),
      ...stage.healthChecks,
    },
    stage.routes?.(context) ?? {},
  );

  let stopped: Promise<void> | undefined;
  return {
    name: stage.name,
    url: server.url,
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
