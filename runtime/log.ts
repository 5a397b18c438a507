/**
 * Structured logs on pino: one JSON object a line on stdout (`level` as its name, `time` ISO
 * 8601, the logger's fields, `msg`), so any collector can parse them. The services call it
 * through this small interface (message first, fields second) so that the library stays
 * swappable and every field passes the same redaction.
 */
import pino from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

/** Field names whose values are never written, whatever they hold. */
const secretField = /password|secret|authorization|cookie|private.?key/i;
/** Credentials inside a URL (postgres://user:password@host). */
const urlCredentials = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]+):[^@/\s]+@/gi;

function redact(text: string): string {
  return text.replace(urlCredentials, '$1:***@');
}

/** Errors keep their stack, code and whole cause chain (to a bounded depth); secrets never pass. */
function serialise(value: unknown, depth = 0): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return {
      name: value.name,
      message: redact(value.message),
      ...(code !== undefined ? { code } : {}),
      ...(value.stack ? { stack: redact(value.stack) } : {}),
      ...(value.cause !== undefined && depth < 8 ? { cause: serialise(value.cause, depth + 1) } : {}),
    };
  }
  if (typeof value === 'string') return redact(value);
  return value;
}

/** A log line's own fields (and a child's), each through the redaction and error serialisation. */
function clean(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) out[key] = secretField.test(key) ? '[redacted]' : serialise(value);
  return out;
}

const levels = new Set<LogLevel>(['debug', 'info', 'warn', 'error']);

function wrap(log: pino.Logger): Logger {
  return {
    debug: (msg, fields) => log.debug(fields ?? {}, msg),
    info: (msg, fields) => log.info(fields ?? {}, msg),
    warn: (msg, fields) => log.warn(fields ?? {}, msg),
    error: (msg, fields) => log.error(fields ?? {}, msg),
    child: (fields) => wrap(log.child(clean(fields))),
  };
}

/**
 * A logger with `base` fields on every line. `write` takes each line without its newline
 * (tests collect them); by default lines go to stdout synchronously, so none is lost when a
 * process exits.
 */
export function createLogger(base: Record<string, unknown> = {}, level: LogLevel = (process.env.LOG_LEVEL as LogLevel) ?? 'info', write?: (line: string) => void): Logger {
  const destination = write ? { write: (line: string) => write(line.endsWith('\n') ? line.slice(0, -1) : line) } : pino.destination({ dest: 1, sync: true });
  const log = pino(
    {
      level: levels.has(level) ? level : 'info',
      base: clean(base),
      timestamp: pino.stdTimeFunctions.isoTime,
      // Errors under any key, `err` too, get the one serialisation below (cause chain, redaction).
      serializers: { err: (value: unknown) => value },
      formatters: { level: (label) => ({ level: label }), log: clean },
    },
    destination,
  );
  return wrap(log);
}

/** A logger that drops everything (tests, quiet CLI runs). */
export const silentLogger: Logger = createLogger({}, 'error', () => undefined);
