/**
 * The one error family. `code` is stable snake_case (logged, counted, put on rejected records);
 * `retryable` tells the consumer loop whether to try again or to dead-letter.
 */
export class RatelineError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, { cause: options.cause });
    this.name = 'RatelineError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

/** Bad configuration: every problem at once, each saying what to set. */
export class ConfigError extends RatelineError {
  constructor(readonly problems: string[]) {
    super('invalid_config', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Input that will never become valid by retrying: rejected or dead-lettered with its reason. */
export class InvalidInputError extends RatelineError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super(code, message, { retryable: false, details });
    this.name = 'InvalidInputError';
  }
}

/** A dependency failed in a way that may pass (broker, registry, database unreachable). */
export class TransientError extends RatelineError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, cause instanceof Error ? `${message}: ${cause.message}` : message, { retryable: true, cause });
    this.name = 'TransientError';
  }
}

/** How the runtime treats a failure: retry the same work later, or set the input aside for good. */
export interface FailureClass {
  retryable: boolean;
  /** Stable snake_case: logged, counted, put on dead letters and rejections. */
  code: string;
}

/**
 * PostgreSQL SQLSTATEs that pass by themselves: connection exceptions (08), serialization
 * failures and deadlocks (40001, 40P01), insufficient resources (53), lock timeouts (55P03),
 * cancelled statements (57014) and the server shutting down or starting (57P01-57P03).
 * Every other SQLSTATE (data, integrity, syntax, undefined table...) is permanent.
 */
const transientSqlStates = /^(08|53|40001$|40P01$|55P03$|57014$|57P0[123]$)/;
const sqlStatePattern = /^[0-9A-Z]{5}$/;

/** Node's socket and DNS errors: the peer (broker, registry, database, gateway) is away. */
const networkErrorCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT']);

/** node-postgres and knex report a lost or unobtainable connection without a SQLSTATE. */
const lostDatabaseConnection = /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect|Knex: Timeout acquiring a connection|Client was closed and is not queryable/i;

function classifyOne(err: unknown): FailureClass | undefined {
  if (err instanceof RatelineError) return { retryable: err.retryable, code: err.code };
  if (err === null || typeof err !== 'object') return undefined;
  const { code, retryable, name, message } = err as { code?: unknown; retryable?: unknown; name?: unknown; message?: unknown };
  if (typeof code === 'string' && sqlStatePattern.test(code) && !networkErrorCodes.has(code)) return { retryable: transientSqlStates.test(code), code: `sqlstate_${code}` };
  if (typeof code === 'string' && networkErrorCodes.has(code)) return { retryable: true, code: 'connection_failed' };
  // The domain's own error classes carry a code and their own retryable flag.
  if (typeof code === 'string' && typeof retryable === 'boolean') return { retryable, code };
  if (name === 'KnexTimeoutError' || (typeof message === 'string' && lostDatabaseConnection.test(message))) return { retryable: true, code: 'database_unavailable' };
  // kafkajs's errors are about the broker or the connection to it.
  if (typeof name === 'string' && name.startsWith('KafkaJS')) return { retryable: true, code: 'kafka_unavailable' };
  if (name === 'AbortError' || name === 'TimeoutError') return { retryable: true, code: 'timeout' };
  return undefined;
}

/**
 * Classifies anything thrown, once, for every consumer: our errors and the domain's keep their
 * own code and flag; infrastructure failures (PostgreSQL connection loss, serialization failures,
 * deadlocks, sockets, the broker) are retryable, found anywhere along the `cause` chain; anything
 * else is a bug or bad data (`internal_error`) and is never retried, so it cannot wedge a stage.
 */
export function classifyFailure(err: unknown): FailureClass {
  const seen = new Set<unknown>();
  for (let current: unknown = err; current !== undefined && current !== null && !seen.has(current); current = (current as { cause?: unknown }).cause) {
    seen.add(current);
    const known = classifyOne(current);
    if (known) return known;
  }
  return { retryable: false, code: 'internal_error' };
}

export function isRetryable(err: unknown): boolean {
  return classifyFailure(err).retryable;
}

export function errorCode(err: unknown): string {
  return classifyFailure(err).code;
}
