import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** The major version a `java` binary reports, or undefined when it cannot run. */
export function javaMajorVersion(javaBin: string): number | undefined {
  // `java -version` writes to stderr.
  const result = spawnSync(javaBin, ['-version'], { encoding: 'utf8' });
  if (result.error) return undefined;
  return parseJavaVersion(`${result.stderr ?? ''}${result.stdout ?? ''}`);
}

function parseJavaVersion(output: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(output);
  if (!match) return undefined;
  const major = Number(match[1]);
  return major === 1 ? Number(match[2]) : major; // "1.8.0" is Java 8
}

/**
 * Finds a Java of at least `minimum`: JAVA_HOME first, then `java` on PATH, then the newest JDK
 * under /usr/lib/jvm. Throws with a message that says what to install or set.
 */
export function findJava(minimum: number, purpose: string, alternative: string, env = process.env): string {
  const preferred = [...(env.JAVA_HOME ? [path.join(env.JAVA_HOME, 'bin', 'java')] : []), 'java'];
  for (const bin of preferred) {
    if ((javaMajorVersion(bin) ?? 0) >= minimum) return bin;
  }
  let best: { bin: string; version: number } | undefined;
  let installed: string[] = [];
  try {
    installed = fs.readdirSync('/usr/lib/jvm').map((dir) => path.join('/usr/lib/jvm', dir, 'bin', 'java'));
  } catch {
    // no /usr/lib/jvm on this machine
  }
  for (const bin of installed) {
    const version = javaMajorVersion(bin) ?? 0;
    if (version >= minimum && (!best || version > best.version)) best = { bin, version };
  }
  if (best) return best.bin;
  throw new Error(`${purpose} needs Java ${minimum} or newer and none was found (JAVA_HOME, PATH, /usr/lib/jvm): install JDK ${minimum}+ or ${alternative}`);
}
