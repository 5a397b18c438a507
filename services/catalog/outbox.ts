import type { Knex } from 'knex';
import type { BatchProducer, OutgoingMessage } from '../../runtime/kafka.ts';
import { standardHeaders } from '../../runtime/kafka.ts';
import type { Logger } from '../../runtime/log.ts';
import type { ServiceMetrics } from '../../runtime/metrics.ts';
import { loadSchema, type AvroSerde } from '../../runtime/serde.ts';
import { sleep } from '../../runtime/time.ts';
import { valueSubject } from '../../topics/catalog.ts';
import { t } from './schema.ts';

/** One message to publish once the transaction that wrote it commits. */
export interface OutboxMessage {
  topic: string;
  /** The Avro schema in schemas/ (registered under `<topic>-value`). */
  schema: string;
  key: string;
  /** Deterministic: a re-send after a crash carries the same id. */
  eventId: string;
  brand: string | null;
  /** The record in wire form (instants epoch ms, decimals as strings): what the encoder takes. */
  payload: unknown;
}

/** Writes messages in the caller's transaction: they exist if and only if the change does. */
export async function enqueue(trx: Knex.Transaction, messages: OutboxMessage[]): Promise<void> {
  if (messages.length === 0) return;
  await trx(t('outbox')).insert(
    messages.map((m) => ({ topic: m.topic, schema: m.schema, msg_key: m.key, event_id: m.eventId, brand: m.brand, payload: JSON.stringify(m.payload) })),
  );
}

interface OutboxRow {
  id: string;
  topic: string;
  schema: string;
  msg_key: string;
  event_id: string;
  brand: string | null;
  payload: unknown;
}

// One publisher at a time across instances, so messages leave in the order they were written.
const PUBLISHER_LOCK = 0x6361_7461; // "cata"

export interface OutboxPublisher {
  /** Publish soon (after a commit), instead of at the next poll. */
  nudge(): void;
  /** Publishes what is pending now; resolves with how many were sent. For tests and stop. */
  drain(): Promise<number>;
  isHealthy(): boolean;
  stop(): Promise<void>;
}

/**
 * The loop that sends the outbox to Kafka: rows in id order, in batches, inside a transaction
 * holding an advisory lock; rows are marked sent after the broker acknowledged them.
 */
export function startOutboxPublisher(deps: { db: Knex; producer: BatchProducer; serde: AvroSerde; logger: Logger; metrics: ServiceMetrics; pollMs: number; batchSize?: number }): OutboxPublisher {
  const { db, producer, serde, logger, metrics, pollMs } = deps;
  const batchSize = deps.batchSize ?? 500;
  const encoders = new Map<string, (value: unknown) => Buffer>();
  let stopping = false;
  let healthy = true;
  let wake: (() => void) | undefined;
  let pending = false;

  const encoderFor = async (topic: string, schema: string) => {
    const cacheKey = `${topic}\u0000${schema}`;
    let encode = encoders.get(cacheKey);
    if (!encode) {
      encode = serde.encoder<unknown>(await serde.register(valueSubject(topic), loadSchema(schema)));
      encoders.set(cacheKey, encode);
    }
    return encode;
  };

  const publishBatch = async (): Promise<number> => {
    const trx = await db.transaction();
    try {
      const { rows: lock } = (await trx.raw('select pg_try_advisory_xact_lock(?) as ok', [PUBLISHER_LOCK])) as { rows: { ok: boolean }[] };
      if (!lock[0]?.ok) {
        await trx.rollback();
        return 0;
      }
      const rows = (await trx(t('outbox')).whereNull('sent_at').orderBy('id').limit(batchSize).select('*')) as OutboxRow[];
      if (rows.length === 0) {
        await trx.commit();
        return 0;
      }
      const byTopic: Record<string, OutgoingMessage[]> = {};
      for (const row of rows) {
        const encode = await encoderFor(row.topic, row.schema);
        (byTopic[row.topic] ??= []).push({
          key: row.msg_key,
          value: encode(row.payload),
          headers: standardHeaders({ eventId: row.event_id, ...(row.brand ? { brand: row.brand } : {}) }),
        });
      }
      await producer.send(byTopic);
      await trx(t('outbox')).whereIn('id', rows.map((r) => r.id)).update({ sent_at: trx.fn.now() });
      await trx.commit();
      for (const [topic, messages] of Object.entries(byTopic)) metrics.recordsOut.inc({ topic }, messages.length);
      return rows.length;
    } catch (err) {
      await trx.rollback().catch(() => undefined);
      throw err;
    }
  };

  let running: Promise<void> | undefined;
  const loop = async () => {
    let backoff = pollMs;
    while (!stopping) {
      try {
        pending = false;
        const sent = await publishBatch();
        healthy = true;
        backoff = pollMs;
        if (sent > 0) continue;
      } catch (err) {
        healthy = false;
        logger.error('outbox publish failed; retrying', { error: err });
        backoff = Math.min(backoff * 2, 10_000);
      }
      if (pending) continue;
      await Promise.race([sleep(backoff), new Promise<void>((resolve) => (wake = resolve))]);
      wake = undefined;
    }
  };
  running = loop();

  return {
    nudge: () => {
      pending = true;
      wake?.();
    },
    drain: async () => {
      let total = 0;
      for (;;) {
        const n = await publishBatch();
        total += n;
        if (n === 0) return total;
      }
    },
    isHealthy: () => healthy,
    stop: async () => {
      stopping = true;
      wake?.();
      await running;
    },
  };
}
