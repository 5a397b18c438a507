import { ConfigError } from '../../runtime/errors.ts';

/** The services the console calls (each one's API listener), by name. */
export const consoleServices = ['catalog', 'billrun', 'collect', 'ageing', 'drawdown', 'ingest', 'notify'] as const;
export type ConsoleService = (typeof consoleServices)[number];
export type ServiceUrls = Partial<Record<ConsoleService, string>>;

export interface ConsoleSettings {
  services: ServiceUrls;
  /** Signs the session cookie; a fresh random one per process when unset (sessions then end with it). */
  cookieSecret: string | undefined;
  /** Mark the cookie Secure (behind TLS). */
  secureCookie: boolean;
  /** How long a session lasts without use. */
  sessionIdleMs: number;
}

/** `<NAME>_API_URL` for each service (e.g. BILLRUN_API_URL=http://billrun:8080); a screen whose service is not named says so. */
export function consoleSettings(env: NodeJS.ProcessEnv): ConsoleSettings {
  const services: ServiceUrls = {};
  const problems: string[] = [];
  for (const name of consoleServices) {
    const value = env[`${name.toUpperCase()}_API_URL`];
    if (!value) continue;
    try {
      services[name] = new URL(value).toString().replace(/\/$/, '');
    } catch {
      problems.push(`${name.toUpperCase()}_API_URL is not a URL: ${value}`);
    }
  }
  const idle = env.CONSOLE_SESSION_IDLE_MINUTES ? Number(env.CONSOLE_SESSION_IDLE_MINUTES) : 480;
  if (!Number.isInteger(idle) || idle < 1) problems.push('CONSOLE_SESSION_IDLE_MINUTES must be a whole number of minutes, at least 1');
  if (env.CONSOLE_COOKIE_SECRET !== undefined && env.CONSOLE_COOKIE_SECRET.length < 32) problems.push('CONSOLE_COOKIE_SECRET must be at least 32 characters');
  if (problems.length > 0) throw new ConfigError(problems);
  return { services, cookieSecret: env.CONSOLE_COOKIE_SECRET, secureCookie: env.CONSOLE_SECURE_COOKIE === 'true', sessionIdleMs: idle * 60_000 };
}
