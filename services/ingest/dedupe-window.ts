import type { FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import client from 'prom-client';
import { DEFAULT_DEDUPE_WINDOW_DAYS, dedupeWindowProblems, pruneBefore } from '../../domain/cdr/index.ts';
import { wholeNumberSetting } from '../../runtime/config.ts';
import { ConfigError } from '../../runtime/errors.ts';
import type { Logger } from '../../runtime/log.ts';
import type { Clock } from '../../runtime/time.ts';
import { SCHEMA } from './schema.ts';

/** Rows a prune statement deletes at most: each statement is its own short transaction. */
export const PRUNE_BATCH_ROWS = 10_000;
const DEFAULT_PRUNE_INTERVAL_MS = 3_600_000;
// Node fires a longer setTimeout at once.
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface DedupeSettings {
  windowDays: number;
  /** 0: no schedule, only POST /dedupe-prunes. */
  pruneIntervalMs: number;
}

/** The window and prune schedule from options or the environment, every problem at once. */
export function dedupeSettings(env: Readonly<Record<string, string | undefined>>, options: Partial<DedupeSettings>): DedupeSettings {
  const problems: string[] = [];
  const read = (name: string, given: number | undefined, fallback: number): number => {
    try {
      return given ?? wholeNumberSetting(env, name, fallback);
    } catch (error) {
      problems.push(...(error as ConfigError).problems);
      return fallback;
    }
  };
  const windowDays = read('INGEST_DEDUPE_WINDOW_DAYS', options.windowDays, DEFAULT_DEDUPE_WINDOW_DAYS);
  const pruneIntervalMs = read('INGEST_DEDUPE_PRUNE_INTERVAL_MS', options.pruneIntervalMs, DEFAULT_PRUNE_INTERVAL_MS);
  problems.push(...dedupeWindowProblems(windowDays).map((p) => `INGEST_DEDUPE_WINDOW_DAYS: ${p}`));
  if (!Number.isSafeInteger(pruneIntervalMs) || pruneIntervalMs < 0 || pruneIntervalMs > MAX_TIMER_MS) {
    problems.push(`INGEST_DEDUPE_PRUNE_INTERVAL_MS must be 0 (no schedule) to ${MAX_TIMER_MS} ms (about 24.8 days), got ${pruneIntervalMs}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { windowDays, pruneIntervalMs };
}

/**
 * Deletes the seen CDRs that started before `before`, `PRUNE_BATCH_ROWS` a statement, so no
 * statement holds its locks long. Rows another instance is deleting are skipped, not waited
 * for. Rows from before the start_time column go by their first_seen_at.
 */
export async function pruneSeenCdrs(db: Knex, before: number, stopping: () => boolean = () => false): Promise<number> {
  const cutoff = new Date(before).toISOString();
  let pruned = 0;
  for (const where of ['start_time < ?::timestamptz', 'start_time is null and first_seen_at < ?::timestamptz']) {
    for (;;) {
      if (stopping()) return pruned;
      const { rowCount } = (await db.raw(
        `delete from ${SCHEMA}.seen_cdrs where event_id in
           (select event_id from ${SCHEMA}.seen_cdrs where ${where} limit ? for update skip locked)`,
        [cutoff, PRUNE_BATCH_ROWS],
      )) as { rowCount: number };
      pruned += rowCount;
      if (rowCount < PRUNE_BATCH_ROWS) break;
    }
  }
  return pruned;
}

export interface PruneReport {
  /** Seen CDRs that started before this instant were forgotten. */
  before: string;
  pruned: number;
}

export interface DedupePruner {
  /** rateline_dedupe_pruned_total, for the stage's registry. */
  readonly metric: client.Counter;
  /** Prunes now; a call during a run waits for it, then prunes by the clock as it is then. */
  runNow(): Promise<PruneReport>;
  /** Runs at once and then every interval, until stop. */
  start(): void;
  /** Ends the schedule and waits for a run in hand, which stops after its current statement. */
  stop(): Promise<void>;
}

export function dedupePruner(deps: { db: Knex; clock: Clock; logger: Logger; settings: DedupeSettings }): DedupePruner {
  const { db, clock, logger, settings } = deps;
  const metric = new client.Counter({ name: 'rateline_dedupe_pruned_total', help: 'Seen CDRs forgotten by the de-duplication window', registers: [] });
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  const prune = async (): Promise<PruneReport> => {
    const before = pruneBefore(clock.now(), settings.windowDays);
    const pruned = await pruneSeenCdrs(db, before, () => stopping);
    metric.inc(pruned);
    const report = { before: new Date(before).toISOString(), pruned };
    logger.info('dedupe prune', { ...report, windowDays: settings.windowDays });
    return report;
  };
  const runNow = () => {
    const run = queue.then(prune);
    queue = run.catch(() => undefined);
    return run;
  };
  const schedule = (delay: number) => {
    timer = setTimeout(() => {
      void runNow()
        .catch((error: unknown) => logger.error('dedupe prune failed', { error }))
        .finally(() => {
          if (!stopping) schedule(settings.pruneIntervalMs);
        });
    }, delay);
  };

  return {
    metric,
    runNow,
    // The first run at start: a service restarted more often than the interval still prunes.
    start: () => {
      if (settings.pruneIntervalMs > 0) schedule(0);
    },
    stop: async () => {
      stopping = true;
      clearTimeout(timer);
      await queue;
    },
  };
}

/** POST /dedupe-prunes on the ops listener: prune now, answer with the report (no customer data in it). */
export function dedupePruneRoute(pruner: DedupePruner): (app: FastifyInstance) => void {
  return (app) => {
    app.post('/dedupe-prunes', async (_request, reply) => reply.send(await pruner.runNow()));
  };
}
