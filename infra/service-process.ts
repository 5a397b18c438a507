import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from './stack/paths.ts';

/** A service run as its own process (its main.ts), as in production: for fault suites (SIGKILL) and the production-shape benchmark. */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  readonly logFile: string;
  kills = 0;

  constructor(
    readonly name: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.logFile = path.join(os.tmpdir(), `rateline-${name}-${process.pid}.log`);
    fs.rmSync(this.logFile, { force: true });
  }

  start(): void {
    const out = fs.openSync(this.logFile, 'a');
    // RATELINE_SERVICE_CPU_PROF=<dir>: each service writes its CPU profiles to <dir>/<name> when it exits, one a thread (node refuses --cpu-prof in NODE_OPTIONS).
    const profileDir = this.env.RATELINE_SERVICE_CPU_PROF ?? process.env.RATELINE_SERVICE_CPU_PROF;
    const profiling = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(profileDir, this.name)}`] : [];
    this.child = spawn(process.execPath, [...profiling, '--import', 'tsx', path.join(projectRoot, 'services', this.name, 'main.ts')], {
      cwd: projectRoot,
      env: { ...process.env, ...this.env, HTTP_PORT: '0', LOG_LEVEL: 'info' },
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
  }

  /** How many times the service logged that it started (and so joined and consumed). */
  startsLogged(): number {
    try {
      return fs.readFileSync(this.logFile, 'utf8').split('\n').filter((line) => line.includes('"msg":"started"')).length;
    } catch {
      return 0;
    }
  }

  /** The last lines of its log, as written. */
  logTail(lines: number): string {
    return tailOf(this.logFile, lines);
  }

  /** The ops endpoint (/metrics, /healthz) of the latest start, from its "started" log line. */
  opsUrl(): string | undefined {
    const lines = this.logLines().filter((line) => line.msg === 'started');
    return lines[lines.length - 1]?.ops as string | undefined;
  }

  /** The API (a catalogue key on each route) of the latest start, from its "started" log line. */
  apiUrl(): string | undefined {
    const lines = this.logLines().filter((line) => line.msg === 'started');
    return lines[lines.length - 1]?.api as string | undefined;
  }

  /** The log as parsed JSON lines (lines that are not JSON are left out). */
  logLines(): Record<string, unknown>[] {
    let text = '';
    try {
      text = fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return [];
    }
    return text.split('\n').flatMap((line) => {
      try {
        return line.startsWith('{') ? [JSON.parse(line) as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    });
  }

  /** The running process's id (for its CPU time in /proc), if started. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get exitCode(): number | null | undefined {
    return this.child?.exitCode;
  }

  /** SIGKILL: no chance to finish the batch, commit or flush. */
  kill(): void {
    this.child?.kill('SIGKILL');
    this.kills++;
  }

  /** SIGTERM and wait: the graceful stop. Returns how long the process took to end. */
  async stop(): Promise<number> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return 0;
    const started = Date.now();
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    const took = Date.now() - started;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return took;
  }
}

/** The last lines of a text file, or what kept it from being read. */
export function tailOf(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (error) {
    return `(${file}: ${(error as Error).message})`;
  }
}
