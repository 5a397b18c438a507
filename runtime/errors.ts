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

/**
 * PostgreSQL SQLSTATE classes that no retry will fix: data exceptions (22) and integrity
 * violations (23, e.g. a unique key that guards against double counting).
 */
const permanentSqlStates = /^(22|23)/;

/**
 * Classifies anything thrown: our errors keep their flag; a PostgreSQL data or integrity error
 * is permanent; anything else (connections, deadlocks, timeouts) counts as retryable.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof RatelineError) return err.retryable;
  const sqlState = (err as { code?: unknown } | null)?.code;
  if (typeof sqlState === 'string' && /^[0-9A-Z]{5}$/.test(sqlState) && permanentSqlStates.test(sqlState)) return false;
  return true;
}

export function errorCode(err: unknown): string {
  if (err instanceof RatelineError) return err.code;
  const sqlState = (err as { code?: unknown } | null)?.code;
  return typeof sqlState === 'string' && /^[0-9A-Z]{5}$/.test(sqlState) ? `sqlstate_${sqlState}` : 'unexpected_error';
}
