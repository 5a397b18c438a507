import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { StackPaths } from './paths.ts';
import { findJava } from './java.ts';
import { runMaven } from './kafka.ts';
import { commandLineOf, isAlive, isPortFree, spawnDetached, stopProcess, tailOf, waitUntil } from './process.ts';

export const APICURIO_VERSION = '3.3.3';

export interface RegistryPorts {
  http: number;
  management: number;
}

/** Where Apicurio keeps its schemas: a PostgreSQL database, so schema ids survive restarts. */
export interface RegistryStorage {
  jdbcUrl: string;
  username: string;
  password: string;
}

/** Downloads (once, through Maven) and unpacks the Apicurio Registry distribution. */
export function ensureRegistryDist(paths: StackPaths, log: (line: string) => void): string {
  const runJar = path.join(paths.registryDist, 'quarkus-run.jar');
  if (fs.existsSync(runJar)) return runJar;
  const archive = path.join(paths.downloads, `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`);
  if (!fs.existsSync(archive)) {
    log(`downloading Apicurio Registry ${APICURIO_VERSION} from Maven Central (once; 158 MB)`);
    runMaven(['dependency:copy@apicurio'], paths);
  }
  const staging = `${paths.registryDist}.partial`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  execFileSync('tar', ['-xzf', archive, '-C', staging]);
  if (!fs.existsSync(path.join(staging, 'quarkus-run.jar'))) throw new Error(`${archive} has no quarkus-run.jar: delete it and start again`);
  fs.rmSync(paths.registryDist, { recursive: true, force: true });
  fs.renameSync(staging, paths.registryDist);
  return runJar;
}

export const registryUrlFor = (port: number) => `http://127.0.0.1:${port}/apis/ccompat/v7`;

export async function isRegistryReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2000) });
    return response.ok;
  } catch {
    return false;
  }
}

const marker = (paths: StackPaths) => `-Drateline.home=${paths.home}`;
const isOurRegistry = (pid: number, paths: StackPaths) => {
  const cmd = commandLineOf(pid);
  return cmd.includes('quarkus-run.jar') && cmd.includes(marker(paths));
};

/** Starts Apicurio Registry (it needs Java 21+) on its PostgreSQL storage and waits for its Confluent API. */
export async function startRegistry(paths: StackPaths, ports: RegistryPorts, storage: RegistryStorage, previousPid: number | undefined, log: (line: string) => void): Promise<{ pid: number; url: string }> {
  const url = registryUrlFor(ports.http);
  if (previousPid !== undefined && isAlive(previousPid) && isOurRegistry(previousPid, paths)) {
    if (await isRegistryReady(url)) return { pid: previousPid, url };
    await stopProcess(previousPid, 'SIGTERM', 15_000);
  }
  for (const [port, what] of [[ports.http, 'RATELINE_REGISTRY_PORT'], [ports.management, 'RATELINE_REGISTRY_MANAGEMENT_PORT']] as const) {
    if (!(await isPortFree(port))) throw new Error(`port ${port} (schema registry) is taken by another process: set ${what} to another port, or SCHEMA_REGISTRY_URL to use an existing registry`);
  }
  const java = findJava(21, 'Apicurio Registry (the local schema registry)', 'set JAVA_HOME to one, or SCHEMA_REGISTRY_URL to an existing registry');
  const runJar = ensureRegistryDist(paths, log);
  const logFile = path.join(paths.logs, 'registry.log');
  const pid = spawnDetached(
    java,
    [
      '-Xms128m', '-Xmx512m', marker(paths),
      '-Dquarkus.http.host=127.0.0.1', `-Dquarkus.http.port=${ports.http}`,
      '-Dquarkus.management.host=127.0.0.1', `-Dquarkus.management.port=${ports.management}`,
      '-Dquarkus.log.level=WARN', '-Dquarkus.log.category."io.apicurio".level=INFO',
      '-Dapicurio.storage.kind=sql', '-Dapicurio.storage.sql.kind=postgresql',
      `-Dapicurio.datasource.url=${storage.jdbcUrl}`,
      `-Dapicurio.datasource.username=${storage.username}`,
      `-Dapicurio.datasource.password=${storage.password}`,
      '-jar', runJar,
    ],
    logFile,
    { cwd: paths.registryDist },
  );
  await waitUntil(
    () => isRegistryReady(url),
    90_000,
    () => `the schema registry did not answer at ${url}; see ${logFile}:\n${tailOf(logFile)}`,
    () => (isAlive(pid) ? undefined : `the schema registry exited during start; see ${logFile}:\n${tailOf(logFile)}`),
  );
  return { pid, url };
}

export async function stopRegistry(pid: number, paths: StackPaths): Promise<void> {
  if (isAlive(pid) && isOurRegistry(pid, paths)) await stopProcess(pid, 'SIGTERM', 15_000);
}
