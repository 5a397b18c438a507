import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tailOf } from '../../infra/service-process.ts';
import { readStackState, stackHome, stackPaths, startStack, stopStack, type StackEndpoints } from '../../infra/stack/index.ts';

/**
 * A stack of its own (folder and ports) for suites that kill the broker, stop PostgreSQL or the
 * registry, or leave poison on compacted topics: the stack the other suites share never sees it.
 * The downloaded jars and registry are shared with the main stack by symlink.
 */
export class PrivateStack {
  readonly home = fs.mkdtempSync(path.join(os.tmpdir(), 'rateline-private-'));
  readonly env: NodeJS.ProcessEnv;
  endpoints!: StackEndpoints;

  constructor(portBase: number) {
    this.env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      JAVA_HOME: process.env.JAVA_HOME,
      RATELINE_HOME: this.home,
      RATELINE_KAFKA_PORT: String(portBase + 92),
      RATELINE_KAFKA_CONTROLLER_PORT: String(portBase + 93),
      RATELINE_REGISTRY_PORT: String(portBase + 81),
      RATELINE_REGISTRY_MANAGEMENT_PORT: String(portBase + 82),
      RATELINE_PG_PORT: String(portBase + 32),
    };
  }

  async start(): Promise<StackEndpoints> {
    fs.chmodSync(this.home, 0o755); // PostgreSQL runs as the postgres user and must reach its data directory
    const shared = stackPaths(stackHome());
    const own = stackPaths(this.home);
    if (!fs.existsSync(own.kafkaLibs)) fs.symlinkSync(shared.kafkaLibs, own.kafkaLibs);
    if (!fs.existsSync(own.registryDist)) fs.symlinkSync(shared.registryDist, own.registryDist);
    this.endpoints = await startStack({ env: this.env });
    return this.endpoints;
  }

  /** Starts again whatever part is not running; resolves when every part answers. */
  async restartMissing(): Promise<void> {
    await startStack({ env: this.env });
  }

  pid(part: 'kafka' | 'postgres' | 'registry'): number {
    const pid = readStackState(stackPaths(this.home))?.parts[part]?.pid;
    if (pid === undefined) throw new Error(`the private stack has no ${part} running`);
    return pid;
  }

  /** Sends a signal to a part and waits until its process is gone. */
  async signal(part: 'kafka' | 'postgres' | 'registry', signal: NodeJS.Signals): Promise<void> {
    const pid = this.pid(part);
    process.kill(pid, signal);
    for (let i = 0; i < 300; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${part} (pid ${pid}) did not end after ${signal}`);
  }

  /** The last lines of each part's log. */
  logTails(lines: number): string {
    const logs = stackPaths(this.home).logs;
    const files = fs.existsSync(logs) ? fs.readdirSync(logs) : [];
    return files.map((file) => `\n--- ${file}\n${tailOf(path.join(logs, file), lines)}`).join('') || `(nothing in ${logs})`;
  }

  async stop(): Promise<void> {
    await stopStack(this.env);
    // The parts' logs outlive the stack, for a failure to be read after the run.
    const logs = stackPaths(this.home).logs;
    if (fs.existsSync(logs)) fs.cpSync(logs, `${this.home}-logs`, { recursive: true });
    fs.rmSync(this.home, { recursive: true, force: true });
  }
}
