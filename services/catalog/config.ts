import { ConfigError } from '../../runtime/errors.ts';

/** The catalogue's own settings, beside the runtime's (Kafka, registry, PostgreSQL, HTTP). */
export interface CatalogConfig {
  /** The parent company's id: owner of the shared catalogue and default rating rules. */
  parentCompany: string;
  /** The first parent API key; unset, one is made on the first start and written to adminKeyFile. */
  adminKey: string | undefined;
  /** Where a made first key is written, mode 0600 (CATALOG_ADMIN_KEY_FILE; default $RATELINE_HOME/catalog-admin-key). */
  adminKeyFile?: string;
  /** How often the outbox publisher looks for rows when nothing nudged it. */
  outboxPollMs: number;
  /** How often ended trials are activated (0: never, e.g. when another job does it). */
  trialSweepMs: number;
  /** Apply the ageing service's dunning steps from account.lifecycle (default true; CATALOG_APPLY_DUNNING=false turns it off). */
  applyDunning?: boolean;
}

export function loadCatalogConfig(env: NodeJS.ProcessEnv = process.env): CatalogConfig {
  const problems: string[] = [];
  const parentCompany = env.CATALOG_PARENT_COMPANY ?? 'ansr-group';
  if (!/^[a-z0-9][a-z0-9-]{0,39}$/.test(parentCompany)) problems.push(`CATALOG_PARENT_COMPANY=${parentCompany} must be 1-40 lowercase letters, digits or dashes`);
  const adminKey = env.CATALOG_ADMIN_KEY || undefined;
  if (adminKey !== undefined && adminKey.length < 24) problems.push('CATALOG_ADMIN_KEY must be at least 24 characters (it is the key that sees every brand)');
  const rawPoll = env.CATALOG_OUTBOX_POLL_MS;
  const outboxPollMs = rawPoll ? Number(rawPoll) : 1000;
  if (!Number.isInteger(outboxPollMs) || outboxPollMs <= 0) problems.push(`CATALOG_OUTBOX_POLL_MS=${rawPoll} must be a positive whole number of milliseconds`);
  const rawSweep = env.CATALOG_TRIAL_SWEEP_MS;
  const trialSweepMs = rawSweep ? Number(rawSweep) : 60_000;
  if (!Number.isInteger(trialSweepMs) || trialSweepMs < 0) problems.push(`CATALOG_TRIAL_SWEEP_MS=${rawSweep} must be a whole number of milliseconds (0 turns the sweep off)`);
  if (problems.length > 0) throw new ConfigError(problems);
  return { parentCompany, adminKey, outboxPollMs, trialSweepMs, ...(env.CATALOG_ADMIN_KEY_FILE ? { adminKeyFile: env.CATALOG_ADMIN_KEY_FILE } : {}) };
}
