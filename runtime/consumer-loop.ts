import type { BatchProducer, ConsumedRecord } from './kafka.ts';
import { errorCode, isRetryable } from './errors.ts';
import type { Logger } from './log.ts';
import type { ServiceMetrics } from './metrics.ts';
import { sleep } from './time.ts';

export interface RetryPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
}
export const defaultRetryPolicy: RetryPolicy = { initialDelayMs: 200, maxDelayMs: 30_000 };

export interface ResilientHandlerOptions {
  service: string;
  producer: BatchProducer;
  deadLetterTopic: string;
  logger: Logger;
  metrics: ServiceMetrics;
  retry?: RetryPolicy;
}

/**
 * Wraps a batch handler with the house error policy:
 * - a retryable error (broker, registry or database unavailable) retries the same batch with
 *   exponential backoff and jitter until it passes or the service stops (then nothing is committed);
 * - any other error splits the batch and processes records one at a time, so that only the records
 *   that fail for good go to the dead-letter topic, with their original bytes and the error's code.
 * Nothing is lost: a record is either processed or dead-lettered before its offset is committed.
 */
export function resilientHandler(
  handle: (records: ConsumedRecord[]) => Promise<void>,
  options: ResilientHandlerOptions,
): (records: ConsumedRecord[], context: { isStopping(): boolean }) => Promise<void> {
  const policy = options.retry ?? defaultRetryPolicy;

  const withRetry = async (records: ConsumedRecord[], isStopping: () => boolean): Promise<unknown> => {
    let delay = policy.initialDelayMs;
    for (;;) {
      try {
        await handle(records);
        return undefined;
      } catch (err) {
        if (!isRetryable(err)) return err;
        if (isStopping()) throw err;
        options.metrics.retries.inc({ code: errorCode(err) });
        options.logger.warn('batch failed, retrying', { error: err, records: records.length, delayMs: delay });
        await sleep(delay * (0.5 + Math.random()));
        delay = Math.min(delay * 2, policy.maxDelayMs);
      }
    }
  };

  return async (records, context) => {
    const failure = await withRetry(records, context.isStopping);
    if (failure === undefined) return;
    for (const record of records) {
      const error = records.length === 1 ? failure : await withRetry([record], context.isStopping);
      if (error === undefined) continue;
      await deadLetter(record, error, options);
    }
  };
}

async function deadLetter(record: ConsumedRecord, error: unknown, options: ResilientHandlerOptions): Promise<void> {
  const code = errorCode(error);
  options.logger.error('record dead-lettered', { error, topic: record.topic, partition: record.partition, offset: record.offset });
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
          'dlq-error-message': error instanceof Error ? error.message.slice(0, 1000) : String(error),
        },
      },
    ],
  });
  options.metrics.deadLettered.inc({ reason: code });
}
