import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../infra/stack/paths.ts';

/** A service run as its own process (its main.ts), as in production, so that it can be SIGKILLed. */
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
    this.child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'services', this.name, 'main.ts')], {
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

  /** SIGKILL: no chance to finish the batch, commit or flush. */
  kill(): void {
    this.child?.kill('SIGKILL');
    this.kills++;
  }

  /** SIGTERM and wait: the graceful stop. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}
