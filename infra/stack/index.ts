import fs from 'node:fs';
import path from 'node:path';
import { stackHome, stackPaths, type StackPaths } from './paths.ts';
import { isAlive, sleep } from './process.ts';
import { ensureDatabases, localDatabaseUrl, pgDataDir, PG_PASSWORD, PG_USER, startPostgres, stopPostgres } from './postgres.ts';
import { startKafka, stopKafka } from './kafka.ts';
import { startRegistry, stopRegistry, type RegistryStorage } from './registry.ts';

/** Where each part of the stack is reachable; what every service's config needs. */
export interface StackEndpoints {
  kafkaBrokers: string;
  schemaRegistryUrl: string;
  databaseUrl: string;
}

interface PartState {
  pid: number;
  startedMs: number;
}

/** What `.rateline/stack.json` records: the endpoints and the pids of the parts this project started. */
export interface StackState {
  endpoints: StackEndpoints;
  parts: { postgres?: PartState; kafka?: PartState; registry?: PartState };
}

export interface StackPorts {
  kafka: number;
  kafkaController: number;
  registry: number;
  registryManagement: number;
  postgres: number;
}

function portFrom(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${name}=${raw} is not a TCP port (1-65535)`);
  return port;
}

export function stackPorts(env: NodeJS.ProcessEnv = process.env): StackPorts {
  return {
    kafka: portFrom(env, 'RATELINE_KAFKA_PORT', 19092),
    kafkaController: portFrom(env, 'RATELINE_KAFKA_CONTROLLER_PORT', 19093),
    registry: portFrom(env, 'RATELINE_REGISTRY_PORT', 18081),
    registryManagement: portFrom(env, 'RATELINE_REGISTRY_MANAGEMENT_PORT', 18082),
    postgres: portFrom(env, 'RATELINE_PG_PORT', 15432),
  };
}

export function readStackState(paths: StackPaths): StackState | undefined {
  try {
    return JSON.parse(fs.readFileSync(paths.state, 'utf8')) as StackState;
  } catch {
    return undefined;
  }
}

function writeStackState(paths: StackPaths, state: StackState): void {
  fs.writeFileSync(`${paths.state}.tmp`, JSON.stringify(state, null, 2));
  fs.renameSync(`${paths.state}.tmp`, paths.state);
}

/** One start or stop at a time per stack home; a lock left by a killed process is taken over. */
async function withLock<T>(paths: StackPaths, work: () => Promise<T>): Promise<T> {
  const lock = path.join(paths.home, 'stack.lock');
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch {
      const holder = Number(fs.readFileSync(lock, 'utf8').trim() || '0');
      if (!holder || !isAlive(holder)) {
        fs.rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another rateline process (pid ${holder}) holds ${lock}`);
      await sleep(500);
    }
  }
  try {
    return await work();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

function registryStorageFrom(databaseUrl: string): RegistryStorage {
  const url = new URL(databaseUrl);
  return {
    jdbcUrl: `jdbc:postgresql://${url.hostname}:${url.port || 5432}/apicurio_registry`,
    username: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
}

export interface StartStackOptions {
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

/**
 * Brings up what the environment does not already provide: PostgreSQL unless DATABASE_URL is set,
 * Kafka unless KAFKA_BROKERS is set, the schema registry unless SCHEMA_REGISTRY_URL is set. Parts
 * already running from an earlier start are reused; parts left behind by a killed run are cleaned
 * up and started again. Returns when every part answers real requests.
 */
export async function startStack(options: StartStackOptions = {}): Promise<StackEndpoints & { started: string[] }> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => undefined);
  const paths = stackPaths(stackHome(env));
  for (const dir of [paths.home, paths.logs]) fs.mkdirSync(dir, { recursive: true });
  const ports = stackPorts(env);

  return withLock(paths, async () => {
    const previous = readStackState(paths);
    const parts: StackState['parts'] = {};
    const started: string[] = [];
    const timed = async <T>(name: string, start: () => Promise<T & { pid: number }>) => {
      const t0 = Date.now();
      const result = await start();
      parts[name as keyof StackState['parts']] = { pid: result.pid, startedMs: Date.now() - t0 };
      started.push(`${name} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${result.pid})`);
      return result;
    };

    let databaseUrl = env.DATABASE_URL;
    if (!databaseUrl) {
      databaseUrl = (await timed('postgres', () => startPostgres(paths, ports.postgres))).url;
    }
    const save = () => writeStackState(paths, { endpoints: { kafkaBrokers: env.KAFKA_BROKERS ?? '', schemaRegistryUrl: env.SCHEMA_REGISTRY_URL ?? '', databaseUrl: databaseUrl! }, parts });
    save();

    const kafkaBrokers = env.KAFKA_BROKERS
      ? env.KAFKA_BROKERS
      : (await timed('kafka', () => startKafka(paths, { client: ports.kafka, controller: ports.kafkaController }, previous?.parts.kafka?.pid, log))).brokers;

    let schemaRegistryUrl = env.SCHEMA_REGISTRY_URL;
    if (!schemaRegistryUrl) {
      if (env.DATABASE_URL) {
        const admin = new URL(env.DATABASE_URL);
        admin.pathname = '/postgres';
        await ensureDatabases(admin.toString(), ['apicurio_registry']);
      }
      const storage = env.DATABASE_URL ? registryStorageFrom(env.DATABASE_URL) : { jdbcUrl: `jdbc:postgresql://127.0.0.1:${ports.postgres}/apicurio_registry`, username: PG_USER, password: PG_PASSWORD };
      schemaRegistryUrl = (await timed('registry', () => startRegistry(paths, { http: ports.registry, management: ports.registryManagement }, storage, previous?.parts.registry?.pid, log))).url;
    }

    const endpoints = { kafkaBrokers, schemaRegistryUrl, databaseUrl };
    writeStackState(paths, { endpoints, parts });
    return { ...endpoints, started };
  });
}

/** Stops the parts this project started (never a server the environment pointed at). */
export async function stopStack(env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const paths = stackPaths(stackHome(env));
  if (!fs.existsSync(paths.home)) return [];
  return withLock(paths, async () => {
    const state = readStackState(paths);
    const stopped: string[] = [];
    if (state?.parts.registry) {
      await stopRegistry(state.parts.registry.pid, paths);
      stopped.push('registry');
    }
    if (state?.parts.kafka) {
      await stopKafka(state.parts.kafka.pid, paths);
      stopped.push('kafka');
    }
    if (state?.parts.postgres) {
      await stopPostgres(state.parts.postgres.pid, pgDataDir(paths));
      stopped.push('postgres');
    }
    fs.rmSync(paths.state, { force: true });
    return stopped;
  });
}

/** The endpoints of a running local stack, if `rateline stack up` recorded one. */
export function runningStackEndpoints(env: NodeJS.ProcessEnv = process.env): StackEndpoints | undefined {
  const state = readStackState(stackPaths(stackHome(env)));
  if (!state) return undefined;
  const alive = Object.values(state.parts).every((part) => part && isAlive(part.pid));
  return alive ? state.endpoints : undefined;
}

export { localDatabaseUrl, stackHome, stackPaths };
