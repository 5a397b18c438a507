/** Structured logs: one JSON object a line on stdout, so any collector can parse them. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

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

export function createLogger(base: Record<string, unknown> = {}, level: LogLevel = (process.env.LOG_LEVEL as LogLevel) ?? 'info', write: (line: string) => void = (line) => process.stdout.write(line + '\n')): Logger {
  const min = order[level] ?? order.info;
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (order[lvl] < min) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, ...base, msg };
    for (const [key, value] of Object.entries(fields ?? {})) entry[key] = secretField.test(key) ? '[redacted]' : serialise(value);
    write(JSON.stringify(entry));
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger({ ...base, ...fields }, level, write),
  };
}

/** A logger that drops everything (tests, quiet CLI runs). */
export const silentLogger: Logger = createLogger({}, 'error', () => undefined);
