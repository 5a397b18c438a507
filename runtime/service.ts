import type { Kafka } from 'kafkajs';
import { loadRuntimeConfig, type EndpointDefaults, type RuntimeConfig } from './config.ts';
import { createKafka } from './kafka.ts';
import { createLogger, type Logger } from './log.ts';
import { AvroSerde } from './serde.ts';
import { RatelineError } from './errors.ts';
import { systemClock, type Clock } from './time.ts';

/** What a service needs from outside; tests and the all-in-one process pass their own. */
export interface ServiceDeps {
  kafka: Kafka;
  serde: AvroSerde;
  logger: Logger;
  clock: Clock;
}

export interface RunningService {
  name: string;
  /** The ops endpoint (/metrics, /healthz). */
  url: string;
  /** The API (a catalogue key on every route that reads customer data or moves money), if the service has one. */
  apiUrl?: string;
  /** Finish the batch in hand, commit, flush producers, disconnect. */
  stop(): Promise<void>;
}

export type StartService = (config: RuntimeConfig, deps: ServiceDeps) => Promise<RunningService>;

export function defaultDeps(name: string, config: RuntimeConfig): ServiceDeps {
  const logger = createLogger({ service: name });
  return { kafka: createKafka(config.kafka, logger), serde: new AvroSerde(config.registry.url), logger, clock: systemClock };
}

/** How long a graceful stop may take before the process ends anyway (orchestrators wait 30 s). */
export const STOP_DEADLINE_MS = 9_000;

/**
 * The whole of a service's main.ts: config from the environment (checked at boot), start, and a
 * graceful stop on SIGTERM or SIGINT within STOP_DEADLINE_MS. A second signal exits at once.
 * An unhandled rejection or uncaught exception is logged with its stack and ends the process with
 * a non-zero code, so that the orchestrator restarts it: state is in PostgreSQL and Kafka, and an
 * abrupt end is a case every service already survives (uncommitted work is redone).
 */
export async function runMain(name: string, start: StartService, defaults: EndpointDefaults = {}): Promise<void> {
  let config: RuntimeConfig;
  try {
    config = loadRuntimeConfig(name, process.env, defaults);
  } catch (err) {
    process.stderr.write(`${name}: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const deps = defaultDeps(name, config);
  process.on('unhandledRejection', (reason) => {
    deps.logger.error('unhandled rejection; exiting', { error: reason });
    process.exit(70);
  });
  process.on('uncaughtException', (error) => {
    deps.logger.error('uncaught exception; exiting', { error });
    process.exit(70);
  });
  let service: RunningService;
  try {
    service = await start(config, deps);
  } catch (err) {
    deps.logger.error('start failed', { error: err, code: err instanceof RatelineError ? err.code : undefined });
    process.exit(1);
  }
  deps.logger.info('started', { ops: service.url, ...(service.apiUrl ? { api: service.apiUrl } : {}) });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    deps.logger.info('stopping', { signal });
    setTimeout(() => {
      deps.logger.error('stop took too long; exiting with the work in hand uncommitted', { deadlineMs: STOP_DEADLINE_MS });
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    service.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        deps.logger.error('stop failed', { error: err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
