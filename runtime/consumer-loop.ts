import type { BatchProducer, ConsumedRecord } from './kafka.ts';
import { classifyFailure } from './errors.ts';
import type { Logger } from './log.ts';
import type { ServiceMetrics } from './metrics.ts';
import type { HealthCheck } from './http.ts';

export interface RetryPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
}
// Capped at 5 s: a stage is back at work within seconds of its dependency, at the cost of a retry every 5 s in a long outage.
export const defaultRetryPolicy: RetryPolicy = { initialDelayMs: 200, maxDelayMs: 5_000 };

/** What the consumer gives a handler besides the records. */
export interface LoopContext {
  isStopping(): boolean;
  /** Resolves after `ms`, or at once when the consumer is asked to stop. */
  pause(ms: number): Promise<void>;
  /** Keeps the group membership alive during a long wait. */
  heartbeat(): Promise<void>;
}

/**
 * Thrown when the consumer stops in the middle of retrying: the batch is abandoned whole, its
 * offsets are not committed, and the next owner of the partition processes it again.
 */
export class BatchAbandoned extends Error {
  constructor() {
    super('the consumer stopped while the batch waited to be retried');
    this.name = 'BatchAbandoned';
  }
}

/**
 * Whether a stage is processing or stuck retrying a transient failure, and since when: read by
 * /healthz (`degraded` with the cause) and exported as `rateline_degraded`.
 */
export class StageHealth {
  private problem: { code: string; message: string; since: number } | undefined;

  constructor(private readonly metrics?: ServiceMetrics) {}

  degrade(code: string, message: string): void {
    if (this.problem?.code === code) return;
    if (this.problem) this.metrics?.degraded.set({ code: this.problem.code }, 0);
    this.problem = { code, message, since: this.problem?.since ?? Date.now() };
    this.metrics?.degraded.set({ code }, 1);
    this.metrics?.degradedSince.set(this.problem.since / 1000);
  }

  recover(): void {
    if (!this.problem) return;
    this.metrics?.degraded.set({ code: this.problem.code }, 0);
    this.metrics?.degradedSince.set(0);
    this.problem = undefined;
  }

  readonly check: HealthCheck = () =>
    this.problem
      ? { ok: false, degraded: true, detail: `${this.problem.code}: ${this.problem.message}`, since: new Date(this.problem.since).toISOString() }
      : { ok: true };
}

export interface ResilientHandlerOptions {
  service: string;
  producer: BatchProducer;
  deadLetterTopic: string;
  logger: Logger;
  metrics: ServiceMetrics;
  health?: StageHealth;
  retry?: RetryPolicy;
}

/**
 * Wraps a batch handler with the house failure policy (errors.ts classifies every failure once):
 * - transient (broker, registry or database away): the same batch is retried with exponential
 *   backoff and jitter, nothing is committed meanwhile, and the stage reports itself degraded;
 *   a stop during the wait abandons the batch at once (BatchAbandoned), uncommitted;
 * - permanent (bad data, a domain refusal, a bug): the batch is split in halves until the records
 *   that fail for good are alone; each goes to the dead-letter topic with its original bytes and
 *   the error's code, and every other record is processed in its original order. A poison record
 *   costs about 2·log2(batch) attempts and holds nothing back.
 * Nothing is lost: a record is either processed or dead-lettered before its offset is committed.
 */
export function resilientHandler(
  handle: (records: ConsumedRecord[]) => Promise<void>,
  options: ResilientHandlerOptions,
): (records: ConsumedRecord[], context: LoopContext) => Promise<void> {
  const policy = options.retry ?? defaultRetryPolicy;

  /** Runs the handler until it passes or fails for good; returns the permanent failure, if any. */
  const attempt = async (records: ConsumedRecord[], context: LoopContext): Promise<unknown> => {
    let delay = policy.initialDelayMs;
    for (;;) {
      try {
        await handle(records);
        options.health?.recover();
        return undefined;
      } catch (err) {
        const failure = classifyFailure(err);
        if (!failure.retryable) return err;
        if (context.isStopping()) throw new BatchAbandoned();
        options.health?.degrade(failure.code, err instanceof Error ? err.message : String(err));
        options.metrics.retries.inc({ code: failure.code });
        options.logger.warn('batch failed, retrying', { error: err, code: failure.code, records: records.length, delayMs: delay });
        await context.pause(delay * (0.5 + Math.random()));
        if (context.isStopping()) throw new BatchAbandoned();
        await context.heartbeat().catch(() => undefined);
        delay = Math.min(delay * 2, policy.maxDelayMs);
      }
    }
  };

  const processOrSetAside = async (records: ConsumedRecord[], context: LoopContext): Promise<void> => {
    const failure = await attempt(records, context);
    if (failure === undefined) return;
    if (records.length === 1) {
      await sendToDeadLetter(records[0]!, failure, options);
      return;
    }
    const middle = Math.ceil(records.length / 2);
    await processOrSetAside(records.slice(0, middle), context);
    await processOrSetAside(records.slice(middle), context);
  };

  return (records, context) => processOrSetAside(records, context);
}

export type DeadLetterSink = Pick<ResilientHandlerOptions, 'service' | 'producer' | 'deadLetterTopic' | 'logger' | 'metrics'>;

/** Sets a record aside for good: its original bytes, where it came from and why, on the dead-letter topic. */
export async function sendToDeadLetter(record: ConsumedRecord, error: unknown, options: DeadLetterSink): Promise<void> {
  const { code } = classifyFailure(error);
  options.logger.error('record dead-lettered', { error, code, topic: record.topic, partition: record.partition, offset: record.offset });
  await options.producer.send({
    [options.deadLetterTopic]: [
      {
        key: record.key?.toString('utf8') ?? null,
        value: record.value,
        headers: {
          ...record.headers,
          'dlq-service': options.service,
          'dlq-topic': record.topic,
          'dlq-partition': String(record.partition),
          'dlq-offset': record.offset,
          'dlq-error-code': code,
          'dlq-error-message': error instanceof Error ? error.message.slice(0, 1000) : String(error).slice(0, 1000),
          'dlq-at': String(Date.now()),
        },
      },
    ],
  });
  options.metrics.deadLettered.inc({ reason: code });
}
