import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;
import type { StackPaths } from './paths.ts';
import { projectRoot } from './paths.ts';
import { findJava } from './java.ts';
import { commandLineOf, isAlive, isPortFree, spawnDetached, stopProcess, tailOf, waitUntil } from './process.ts';

export interface KafkaPorts {
  client: number;
  controller: number;
}

const pomFile = path.join(projectRoot, 'infra', 'pom.xml');

/** Resolves Kafka's jars from Maven Central once; later starts use the copy under .rateline. */
export function ensureKafkaJars(paths: StackPaths, log: (line: string) => void): void {
  const marker = path.join(paths.kafkaLibs, '.complete');
  if (fs.existsSync(marker)) return;
  log('resolving Kafka jars from Maven Central (once; about 20 s)');
  runMaven(['dependency:copy-dependencies'], paths);
  fs.writeFileSync(marker, new Date().toISOString());
}

/**
 * Runs Maven on one of the project's poms (infra/pom.xml unless told), which put what they resolve
 * under the stack's home. `needs` says what Maven is needed for, in the error when it is missing.
 */
export function runMaven(
  goals: string[],
  paths: Pick<StackPaths, 'home'>,
  pom = pomFile,
  needs = 'download Kafka and the schema registry: install Maven, or set KAFKA_BROKERS and SCHEMA_REGISTRY_URL to existing servers',
): void {
  try {
    execFileSync('mvn', ['-q', '-B', '-f', pom, `-Drateline.home=${paths.home}`, ...goals], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: Buffer; stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error(`Maven (mvn) is needed once to ${needs}`);
    throw new Error(`mvn ${goals.join(' ')} failed:\n${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`);
  }
}

function serverProperties(paths: StackPaths, ports: KafkaPorts): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=127.0.0.1:${ports.controller}`,
    `listeners=PLAINTEXT://127.0.0.1:${ports.client},CONTROLLER://127.0.0.1:${ports.controller}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${ports.client}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${paths.kafkaData}`,
    // Topics are code (topics/): nothing is created by accident.
    'auto.create.topics.enable=false',
    'num.partitions=6',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=10',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=10',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'log.retention.hours=168',
    '',
  ].join('\n');
}

/** Kafka's cluster id: 16 random bytes, base64url without padding, as StorageTool's random-uuid. */
const newClusterId = () => crypto.randomBytes(16).toString('base64url');

export async function isKafkaReady(brokers: string[]): Promise<boolean> {
  const kafka = new Kafka({ clientId: 'rateline-stack', brokers, logLevel: logLevel.NOTHING, connectionTimeout: 1000, retry: { retries: 0 } });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 && cluster.controller !== null;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

const marker = (paths: StackPaths) => `-Drateline.home=${paths.home}`;
export const isOurKafka = (pid: number, paths: StackPaths) => {
  const cmd = commandLineOf(pid);
  return cmd.includes('kafka.Kafka') && cmd.includes(marker(paths));
};

/**
 * Starts a one-node KRaft Kafka (broker and controller), formatting its storage on first use,
 * and waits until it has logged "Kafka Server started" and answers metadata requests.
 */
export async function startKafka(paths: StackPaths, ports: KafkaPorts, previousPid: number | undefined, log: (line: string) => void): Promise<{ pid: number; brokers: string }> {
  const brokers = `127.0.0.1:${ports.client}`;
  if (previousPid !== undefined && isAlive(previousPid) && isOurKafka(previousPid, paths)) {
    if (await isKafkaReady([brokers])) return { pid: previousPid, brokers };
    await stopProcess(previousPid, 'SIGTERM', 20_000);
  }
  for (const [port, what] of [[ports.client, 'RATELINE_KAFKA_PORT'], [ports.controller, 'RATELINE_KAFKA_CONTROLLER_PORT']] as const) {
    if (!(await isPortFree(port))) throw new Error(`port ${port} (Kafka) is taken by another process: set ${what} to another port, or KAFKA_BROKERS to use an existing broker`);
  }
  const java = findJava(17, 'Kafka', 'set KAFKA_BROKERS to an existing broker');
  ensureKafkaJars(paths, log);
  fs.writeFileSync(paths.kafkaConfig, serverProperties(paths, ports));
  const classpath = `${paths.kafkaLibs}/*`;
  if (!fs.existsSync(path.join(paths.kafkaData, 'meta.properties'))) {
    fs.mkdirSync(paths.kafkaData, { recursive: true });
    // `--cluster-id=` joined: a base64url id may start with '-', which the tool would read as an option (1 start in 64 failed).
    execFileSync(java, ['-cp', classpath, 'kafka.tools.StorageTool', 'format', `--cluster-id=${newClusterId()}`, '-c', paths.kafkaConfig, '--standalone'], { stdio: 'pipe' });
  }
  const logFile = path.join(paths.logs, 'kafka.log');
  const startOffset = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
  const pid = spawnDetached(
    java,
    [
      '-Xms256m', '-Xmx1g', '-XX:+UseG1GC', '-Djava.awt.headless=true',
      marker(paths),
      `-Dlog4j2.configurationFile=${path.join(projectRoot, 'infra', 'kafka-log4j2.xml')}`,
      `-Drateline.log.file=${logFile}`,
      '-cp', classpath, 'kafka.Kafka', paths.kafkaConfig,
    ],
    path.join(paths.logs, 'kafka.out'),
  );
  const started = () => {
    try {
      const fd = fs.openSync(logFile, 'r');
      const size = fs.fstatSync(fd).size;
      const from = size >= startOffset ? startOffset : 0; // the log rolled over meanwhile
      const buffer = Buffer.alloc(size - from);
      fs.readSync(fd, buffer, 0, buffer.length, from);
      fs.closeSync(fd);
      return buffer.toString('utf8').includes('Kafka Server started');
    } catch {
      return false;
    }
  };
  // An open port is not yet a ready broker after a restart with data: wait for the log line too.
  await waitUntil(
    async () => started() && (await isKafkaReady([brokers])),
    90_000,
    () => `Kafka did not become ready on ${brokers}; see ${logFile}:\n${tailOf(logFile)}`,
    () => (isAlive(pid) ? undefined : `Kafka exited during start; see ${logFile} and ${path.join(paths.logs, 'kafka.out')}:\n${tailOf(path.join(paths.logs, 'kafka.out'))}`),
  );
  return { pid, brokers };
}

export async function stopKafka(pid: number, paths: StackPaths): Promise<void> {
  if (isAlive(pid) && isOurKafka(pid, paths)) await stopProcess(pid, 'SIGTERM', 30_000);
}
