import { ConfigError } from './errors.ts';

/** Where the shared infrastructure is. Each concern is one typed block, validated at boot. */
export interface KafkaConfig {
  brokers: string[];
  clientId: string;
  /** How long the group waits for a silent member before giving its partitions to others. */
  sessionTimeoutMs: number;
  /** Most bytes fetched per partition: the batch size a stage works with. */
  maxBytesPerPartition: number;
  /** Partitions whose batches a stage processes at once. */
  partitionsConcurrently: number;
  /** The mediation stages take a fetch's partition batches as one batch (one produce, one transaction a fetch). */
  gatherPartitions: boolean;
  /** A fetch waits for this many bytes (or fetchMaxWaitMs): larger batches under a light steady load, fewer per-batch costs. */
  fetchMinBytes: number;
  fetchMaxWaitMs: number;
}
export interface RegistryConfig {
  url: string;
}
export interface PostgresConfig {
  url: string;
}
export interface HttpConfig {
  host: string;
  /** The API's port (HTTP_PORT); 0 picks a free port (tests, several services in one process). */
  port: number;
  /** The ops listener's port (/metrics, /healthz; OPS_PORT), apart from the API. */
  opsPort?: number;
}
export interface RuntimeConfig {
  kafka: KafkaConfig;
  registry: RegistryConfig;
  postgres: PostgresConfig;
  http: HttpConfig;
}

/** Endpoints from somewhere other than the environment, e.g. the local stack's state file. */
export interface EndpointDefaults {
  kafkaBrokers?: string;
  schemaRegistryUrl?: string;
  databaseUrl?: string;
}

const hint = 'start the local stack with `npm run stack -- up`, or set it to an existing server';

function parseUrl(name: string, raw: string | undefined, protocols: string[], problems: string[]): string {
  if (!raw) {
    problems.push(`${name} is not set: ${hint}`);
    return '';
  }
  try {
    const url = new URL(raw);
    if (!protocols.includes(url.protocol)) problems.push(`${name}=${raw} must start with ${protocols.map((p) => `${p}//`).join(' or ')}`);
  } catch {
    problems.push(`${name}=${raw} is not a URL`);
  }
  return raw;
}

function parseBrokers(raw: string | undefined, problems: string[]): string[] {
  if (!raw) {
    problems.push(`KAFKA_BROKERS is not set: ${hint}`);
    return [];
  }
  const brokers = raw.split(',').map((b) => b.trim()).filter(Boolean);
  for (const broker of brokers) {
    if (!/^[^:\s]+:\d{1,5}$/.test(broker)) problems.push(`KAFKA_BROKERS entry "${broker}" must be host:port`);
  }
  return brokers;
}

function parsePositive(name: string, raw: string | undefined, fallback: number, problems: string[]): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) problems.push(`${name}=${raw} must be a positive whole number`);
  return value;
}

function parseSwitch(name: string, raw: string | undefined, fallback: boolean, problems: string[]): boolean {
  if (raw === undefined || raw === '') return fallback;
  if (raw === '1' || raw === 'true') return true;
  if (raw === '0' || raw === 'false') return false;
  problems.push(`${name}=${raw} must be 1 or 0 (true or false)`);
  return fallback;
}

function parsePort(name: string, raw: string | undefined, fallback: number, problems: string[]): number {
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push(`${name}=${raw} must be a TCP port (0-65535)`);
  return port;
}

/**
 * Reads the runtime configuration from the environment (falling back to `defaults`), reporting
 * every problem at once with what to set.
 */
export function loadRuntimeConfig(serviceName: string, env: NodeJS.ProcessEnv = process.env, defaults: EndpointDefaults = {}): RuntimeConfig {
  const problems: string[] = [];
  const config: RuntimeConfig = {
    kafka: {
      brokers: parseBrokers(env.KAFKA_BROKERS || defaults.kafkaBrokers, problems),
      clientId: env.KAFKA_CLIENT_ID ?? `rateline-${serviceName}`,
      sessionTimeoutMs: parsePositive('KAFKA_SESSION_TIMEOUT_MS', env.KAFKA_SESSION_TIMEOUT_MS, 10_000, problems),
      maxBytesPerPartition: parsePositive('KAFKA_MAX_BYTES_PER_PARTITION', env.KAFKA_MAX_BYTES_PER_PARTITION, 4 * 1024 * 1024, problems),
      partitionsConcurrently: parsePositive('RATELINE_PARTITIONS_CONCURRENTLY', env.RATELINE_PARTITIONS_CONCURRENTLY, 1, problems),
      gatherPartitions: parseSwitch('RATELINE_GATHER_PARTITIONS', env.RATELINE_GATHER_PARTITIONS, true, problems),
      fetchMinBytes: parsePositive('KAFKA_FETCH_MIN_BYTES', env.KAFKA_FETCH_MIN_BYTES, 1, problems),
      fetchMaxWaitMs: parsePositive('KAFKA_FETCH_MAX_WAIT_MS', env.KAFKA_FETCH_MAX_WAIT_MS, 5_000, problems),
    },
    registry: { url: parseUrl('SCHEMA_REGISTRY_URL', env.SCHEMA_REGISTRY_URL || defaults.schemaRegistryUrl, ['http:', 'https:'], problems) },
    postgres: { url: parseUrl('DATABASE_URL', env.DATABASE_URL || defaults.databaseUrl, ['postgres:', 'postgresql:'], problems) },
    http: { host: env.HTTP_HOST ?? '127.0.0.1', port: parsePort('HTTP_PORT', env.HTTP_PORT, 0, problems), opsPort: parsePort('OPS_PORT', env.OPS_PORT, 0, problems) },
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * A whole-number setting (milliseconds, days, counts) of a service, from the environment: the
 * fallback when unset, a ConfigError naming the variable when it is not a whole number ≥ 0.
 */
export function wholeNumberSetting(env: Readonly<Record<string, string | undefined>>, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new ConfigError([`${name} must be a whole number ≥ 0, got "${raw}"`]);
  return value;
}
