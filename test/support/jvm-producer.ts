import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { findJava } from '../../infra/stack/java.ts';
import { runMaven } from '../../infra/stack/kafka.ts';
import { projectRoot, stackHome } from '../../infra/stack/paths.ts';

const producerDir = path.join(projectRoot, 'test', 'jvm-producer');

export type JvmProducerMode = 'correct' | 'headers' | 'global-id';

export interface JvmProducerRun {
  mode: JvmProducerMode;
  count: number;
  source: string;
  brokers: string;
  /** The registry's base URL (the producer talks to its v2 API under it). */
  registryUrl: string;
  calledNumber: string;
  /** The registry artifact whose schema to write with; the serde's default is `<topic>-value`. */
  artifactId?: string;
}

/** Resolves the producer's jars from Maven Central once; later runs use the copy under the stack's home. */
export function ensureJvmProducerJars(home = stackHome()): string {
  const libs = path.join(home, 'jvm-producer-libs');
  const marker = path.join(libs, '.complete');
  if (!fs.existsSync(marker)) {
    runMaven(['dependency:copy-dependencies'], { home }, path.join(producerDir, 'pom.xml'), 'download the JVM producer test\'s jars: install Maven');
    fs.writeFileSync(marker, new Date().toISOString());
  }
  return libs;
}

/**
 * Runs test/jvm-producer/Producer.java as a single-file source (Java 11+ compiles it on the fly)
 * and resolves once the broker acknowledged every record.
 */
export async function runJvmProducer(libs: string, run: JvmProducerRun): Promise<string> {
  const java = findJava(17, 'the JVM producer', 'set JAVA_HOME to one');
  const args = [
    // A short run: the quick compiler alone and one GC thread halve its CPU (2.4 s against 4.7 s
    // measured here), and on two busy cores its time.
    '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC',
    '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
    '-cp', `${libs}/*`,
    path.join(producerDir, 'Producer.java'),
    '--mode', run.mode,
    '--count', String(run.count),
    '--source', run.source,
    '--bootstrap', run.brokers,
    '--registry', run.registryUrl,
    '--schema', path.join(projectRoot, 'schemas', 'cdr.raw.avsc'),
    '--called', run.calledNumber,
    ...(run.artifactId ? ['--artifact-id', run.artifactId] : []),
  ];
  try {
    const { stdout } = await promisify(execFile)(java, args, { timeout: 60_000 });
    return stdout;
  } catch (err) {
    // execFile's message holds the command and its stderr.
    throw new Error(`the JVM producer (${run.mode}) failed: ${(err as Error).message}`);
  }
}
