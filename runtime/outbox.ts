import type { Kafka } from 'kafkajs';
import type { Knex } from 'knex';
import client from 'prom-client';
import type avro from 'avsc';
import { valueSubject } from '../topics/catalog.ts';
import { InvalidInputError } from './errors.ts';
import { commit } from './db.ts';
import { BatchProducer, standardHeaders, type OutgoingMessage } from './kafka.ts';
import type { Logger } from './log.ts';
import type { ServiceMetrics } from './metrics.ts';
import { avroType, loadSchema, type AvroSerde } from './serde.ts';
import { sleep } from './time.ts';

/**
 * The transactional outbox every service publishes through: events are written in the
 * transaction of the change they announce, and one relay sends them to Kafka.
 *
 * Guarantees, and why this way:
 * - Once: a relay claims rows, sends them with the idempotent producer, waits for the broker's
 *   acknowledgement, and marks them published in the same transaction that claimed them. The
 *   claim is a row lock (FOR UPDATE), so no two relays ever hold the same row. Only a crash
 *   (or an abandoned stop) between the acknowledgement and the commit sends a row again, under
 *   the same event id, which every consumer is idempotent on. Enqueueing an event id a second
 *   time adds nothing.
 * - In order: rows leave in id order, and only one relay at a time claims, under a
 *   transaction-level advisory lock per outbox table. With FOR UPDATE SKIP LOCKED alone, two
 *   relays take consecutive slices (ids 1-500 and 501-1000) and the second may be acknowledged
 *   first, putting an account's later event before its earlier one on the partition. Per-key
 *   claims would keep order with several relays, but an outbox's throughput is bounded by the
 *   broker's acknowledgements, not by the relay, so a second relay is a standby, not extra
 *   capacity: one at a time costs nothing and keeps the proof simple. What it gives: an event
 *   enqueued after another event's transaction committed is published after it (its id is
 *   larger, and the earlier row is visible to any claim that sees the later one), on whichever
 *   relay, across restarts. Writers of one key that do not wait for each other have no order
 *   between them to keep.
 * - Payloads are checked against their Avro schema when enqueued, so a bad record fails the
 *   transaction that made it instead of stopping the relay at the head of the queue.
 */

/** One event to publish once the caller's transaction commits. */
export interface OutboxEvent {
  topic: string;
  /** The Avro schema in schemas/ (registered under `<topic>-value` when first sent). */
  schema: string;
  key: string;
  /** Deterministic: a re-send after a crash carries the same id, and enqueueing it again adds nothing. */
  eventId: string;
  brand: string | null;
  /**
   * The record as avsc encodes it, stored as JSON: decimal.js values become decimal strings
   * (which the decimal type reads back exactly), so instants must be epoch milliseconds.
   */
  payload: unknown;
}

const TABLE = 'outbox';
const qualified = (schema: string) => `${schema}.${TABLE}`;

/**
 * The outbox table in a service's own PostgreSQL schema (a migration calls this). Rows stay
 * after they are published: the unique event id keeps guarding against a second enqueue.
 */
export async function createOutboxTable(db: Knex, schema: string): Promise<void> {
  await db.schema.withSchema(schema).createTable(TABLE, (t) => {
    t.bigIncrements('id').primary();
    t.text('event_id').notNullable().unique();
    t.text('topic').notNullable();
    t.text('msg_key').notNullable();
    t.text('brand');
    t.text('schema').notNullable();
    t.jsonb('payload').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('published_at', { useTz: true });
  });
  await db.raw(`create index outbox_pending on ${qualified(schema)} (id) where published_at is null`);
}

const types = new Map<string, avro.Type>();
const typeOf = (schema: string) => {
  let type = types.get(schema);
  if (!type) types.set(schema, (type = avroType(loadSchema(schema))));
  return type;
};

/** Why a payload does not fit its schema: the paths of every field that does not. */
function payloadProblems(schema: string, payload: unknown): string[] {
  const type = typeOf(schema);
  // The common case first: a check without an error hook stops at no path and builds nothing.
  if (type.isValid(payload)) return [];
  const problems: string[] = [];
  type.isValid(payload, { errorHook: (path, value) => problems.push(`${path.join('.') || '(record)'}: ${JSON.stringify(value) ?? 'undefined'}`) });
  return problems;
}

/**
 * Writes events in the caller's transaction: they exist if and only if the change does. Each
 * relay of this table in the process is woken when the transaction commits. Resolves with how
 * many events were new (an event id already enqueued is skipped).
 */
export async function enqueue(trx: Knex.Transaction, schema: string, events: readonly OutboxEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const rows = events.map((e) => {
    const json = JSON.stringify(e.payload);
    const problems = payloadProblems(e.schema, JSON.parse(json));
    if (problems.length > 0) throw new InvalidInputError('invalid_outbox_event', `event ${e.eventId} for ${e.topic} does not fit schema ${e.schema}: ${problems.join('; ')}`, { eventId: e.eventId, problems });
    return { event_id: e.eventId, topic: e.topic, msg_key: e.key, brand: e.brand, schema: e.schema, payload: json };
  });
  const table = qualified(schema);
  let inserted = 0;
  // In slices: one statement's bind parameters are limited (65,535), a bill run's invoices are not.
  for (let i = 0; i < rows.length; i += 1000) inserted += (await trx(table).insert(rows.slice(i, i + 1000)).onConflict('event_id').ignore().returning('id')).length;
  trx.executionPromise?.then(
    () => wakeRelays(table),
    () => undefined,
  );
  return inserted;
}

// Relays of each table in this process, woken after a commit that enqueued; other processes
// find the rows at their next poll.
const relaysOf = new Map<string, Set<() => void>>();
function wakeRelays(table: string): void {
  for (const wake of relaysOf.get(table) ?? []) wake();
}

export interface OutboxRelayOptions {
  db: Knex;
  /** The service's PostgreSQL schema, which holds its outbox table. */
  schema: string;
  kafka: Kafka;
  serde: AvroSerde;
  logger: Logger;
  /** The service's metrics: rateline_outbox_pending and rateline_outbox_published_total join its registry, records out are counted per topic. */
  metrics?: ServiceMetrics;
  /** Called once per topic before the first send to it, with the brand of the row (e.g. to create the brand's topics). */
  prepareTopic?(topic: string, brand: string | null): Promise<void>;
  /** How often to look without a wake-up (default 1 s). */
  pollMs?: number;
  /** Rows a claim takes (default 500). */
  batchSize?: number;
  /** How long stop() lets a claim in hand finish before abandoning it (default 2 s). */
  stopTimeoutMs?: number;
}

export interface OutboxRelay {
  /** Publish soon rather than at the next poll. */
  wake(): void;
  /** Resolves when nothing enqueued before the call is left unpublished (by this relay or another); with how many this call sent. */
  drain(): Promise<number>;
  isHealthy(): boolean;
  /** Finishes the claim in hand (or abandons it after stopTimeoutMs: its rows go out again later), then disconnects. */
  stop(): Promise<void>;
}

// The advisory lock's first key, with the table's hash as the second: this two-key space is
// apart from the one-key locks services take (e.g. bill-run's per brand).
const RELAY_LOCK_CLASS = 0x6f62_7872; // "obxr"
const BUSY_RETRY_MS = 50;

interface OutboxRow {
  id: string;
  event_id: string;
  topic: string;
  msg_key: string;
  brand: string | null;
  schema: string;
  payload: unknown;
}

/** Starts the relay of a service's outbox, with its own idempotent producer. */
export async function startOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const { db, serde, logger } = options;
  const table = qualified(options.schema);
  const pollMs = options.pollMs ?? 1000;
  const batchSize = options.batchSize ?? 500;
  const stopTimeoutMs = options.stopTimeoutMs ?? 2000;
  const producer = await BatchProducer.connect(options.kafka);
  const registry = options.metrics?.registry;
  const published = registry ? new client.Counter({ name: 'rateline_outbox_published_total', help: 'Outbox events published, by topic', labelNames: ['topic'], registers: [registry] }) : undefined;
  if (registry) {
    new client.Gauge({
      name: 'rateline_outbox_pending',
      help: 'Outbox events committed and not yet published',
      registers: [registry],
      async collect() {
        const [row] = await db(table).whereNull('published_at').count({ n: '*' });
        this.set(Number(row?.n ?? 0));
      },
    });
  }

  const encoders = new Map<string, Promise<(value: unknown) => Buffer>>();
  const encoderFor = (topic: string, schema: string, brand: string | null) => {
    const cacheKey = `${topic}\u0000${schema}`;
    let encoder = encoders.get(cacheKey);
    if (!encoder) {
      encoder = (async () => {
        await options.prepareTopic?.(topic, brand);
        return serde.encoder<unknown>(await serde.register(valueSubject(topic), loadSchema(schema)));
      })();
      encoders.set(cacheKey, encoder);
      encoder.catch(() => encoders.delete(cacheKey));
    }
    return encoder;
  };

  const inFlight = new Set<Knex.Transaction>();
  /** One claim: rows in id order (up to `lastId`) under the relay lock, sent, then marked in the same transaction. */
  const claim = async (lastId?: string): Promise<number | 'busy'> => {
    const trx = await db.transaction();
    inFlight.add(trx);
    try {
      const { rows: lock } = (await trx.raw('select pg_try_advisory_xact_lock(?, hashtext(?)) as ok', [RELAY_LOCK_CLASS, table])) as { rows: { ok: boolean }[] };
      if (!lock[0]?.ok) {
        await trx.rollback();
        return 'busy';
      }
      const pending = trx(table).whereNull('published_at');
      if (lastId !== undefined) void pending.where('id', '<=', lastId);
      const rows: OutboxRow[] = await pending.orderBy('id').limit(batchSize).forUpdate().select('id', 'event_id', 'topic', 'msg_key', 'brand', 'schema', 'payload');
      if (rows.length === 0) {
        await commit(trx);
        return 0;
      }
      const byTopic: Record<string, OutgoingMessage[]> = {};
      for (const row of rows) {
        const encode = await encoderFor(row.topic, row.schema, row.brand);
        (byTopic[row.topic] ??= []).push({ key: row.msg_key, value: encode(row.payload), headers: standardHeaders({ eventId: row.event_id, ...(row.brand ? { brand: row.brand } : {}) }) });
      }
      await producer.send(byTopic);
      await trx(table).whereIn('id', rows.map((r) => r.id)).update({ published_at: trx.fn.now() });
      await commit(trx);
      for (const [topic, messages] of Object.entries(byTopic)) {
        published?.inc({ topic }, messages.length);
        options.metrics?.recordsOut.inc({ topic }, messages.length);
      }
      return rows.length;
    } catch (err) {
      await trx.rollback().catch(() => undefined);
      throw err;
    } finally {
      inFlight.delete(trx);
    }
  };

  /** The newest row pending now: drain and stop send up to it, not what keeps arriving after. */
  const lastPendingId = async (): Promise<string | undefined> => {
    const [row] = await db(table).whereNull('published_at').max({ id: 'id' });
    return row?.id == null ? undefined : String(row.id);
  };

  let stopping = false;
  let abandoned = false;
  let healthy = true;
  let woken = false;
  let wakeUp: (() => void) | undefined;
  const wake = () => {
    woken = true;
    wakeUp?.();
  };
  const waitFor = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => (wakeUp = undefined));

  const loop = async () => {
    let backoff = pollMs;
    while (!stopping) {
      woken = false;
      let wait: number;
      try {
        const sent = await claim();
        healthy = true;
        backoff = pollMs;
        if (sent === 'busy') {
          // Another relay is sending; its claim may have missed a commit this one was woken for.
          await sleep(BUSY_RETRY_MS);
          continue;
        }
        wait = sent > 0 || woken ? 0 : pollMs;
      } catch (error) {
        if (stopping) break;
        healthy = false;
        logger.error('outbox relay failed; retrying', { table, error });
        wait = backoff = Math.min(backoff * 2, 10_000);
      }
      if (wait > 0 && !stopping) await waitFor(wait);
    }
  };
  const relays = relaysOf.get(table) ?? new Set();
  relaysOf.set(table, relays.add(wake));
  const running = loop();

  let stopped: Promise<void> | undefined;
  return {
    wake,
    drain: async () => {
      const last = await lastPendingId();
      let sent = 0;
      while (last !== undefined) {
        const n = await claim(last);
        if (n === 'busy') await sleep(BUSY_RETRY_MS);
        else if (n === 0) break;
        else sent += n;
      }
      return sent;
    },
    isHealthy: () => healthy,
    stop: () =>
      (stopped ??= (async () => {
        stopping = true;
        relays.delete(wake);
        wakeUp?.();
        const finishing = (async () => {
          await running;
          // What committed before the stop goes out now rather than at the next start; what
          // commits after is for another relay or the next start.
          const last = await lastPendingId();
          while (!abandoned && last !== undefined) {
            const n = await claim(last);
            if (n === 'busy' || n === 0) return;
          }
        })().catch((error: unknown) => logger.warn('outbox relay stopped with events unsent; they go out at the next start', { table, error }));
        if (!(await within(finishing, stopTimeoutMs))) {
          // Usually a broker that does not answer: the rows stay unpublished and go out again.
          abandoned = true;
          logger.warn('outbox relay abandoned its claim on stop; those events are sent again later', { table });
          await Promise.all([...inFlight].map((trx) => trx.rollback().catch(() => undefined)));
        }
        await within(producer.stop().catch(() => undefined), stopTimeoutMs);
        if (registry) for (const name of ['rateline_outbox_published_total', 'rateline_outbox_pending']) registry.removeSingleMetric(name);
      })()),
  };
}

/** Whether `work` settled within `ms`. */
async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
