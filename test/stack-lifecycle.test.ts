import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStackState, stackHome, stackPaths, startStack, stopStack } from '../infra/stack/index.ts';
import { isAlive } from '../infra/stack/process.ts';
import { AvroSerde } from '../runtime/serde.ts';

/**
 * A second, private stack (its own folder and ports) so that killing it does not disturb the
 * stack the other suites use. The downloaded jars and registry are shared by symlink.
 */
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rateline-lifecycle-'));
const env: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  JAVA_HOME: process.env.JAVA_HOME,
  RATELINE_HOME: home,
  RATELINE_KAFKA_PORT: '29092',
  RATELINE_KAFKA_CONTROLLER_PORT: '29093',
  RATELINE_REGISTRY_PORT: '28081',
  RATELINE_REGISTRY_MANAGEMENT_PORT: '28082',
  RATELINE_PG_PORT: '25432',
};

beforeAll(() => {
  fs.chmodSync(home, 0o755); // PostgreSQL runs as the postgres user and must reach its data directory
  const shared = stackPaths(stackHome());
  const own = stackPaths(home);
  fs.symlinkSync(shared.kafkaLibs, own.kafkaLibs);
  fs.symlinkSync(shared.registryDist, own.registryDist);
});

afterAll(async () => {
  await stopStack(env);
  fs.rmSync(home, { recursive: true, force: true });
});

const pids = () => Object.values(readStackState(stackPaths(home))?.parts ?? {}).map((part) => part!.pid);

describe('the local stack lifecycle', () => {
  it('starts again after every part was killed with SIGKILL, with the registry schemas kept', async () => {
    const first = await startStack({ env });
    const serde = new AvroSerde(first.schemaRegistryUrl);
    const schema = { type: 'record' as const, name: 'Survivor', fields: [{ name: 'id', type: 'string' }] };
    const id = await serde.register('survivor-value', schema);

    const killed = pids();
    expect(killed).toHaveLength(3);
    for (const pid of killed) process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    expect(killed.some(isAlive)).toBe(false);

    const second = await startStack({ env });
    expect(second.started).toHaveLength(3);
    expect(pids().some((pid) => killed.includes(pid))).toBe(false);
    // Schema ids survive a restart: records already in Kafka still decode.
    expect(await new AvroSerde(second.schemaRegistryUrl).lookup('survivor-value', schema)).toBe(id);
  });

  it('reuses running parts instead of starting them twice', async () => {
    const before = pids();
    await startStack({ env });
    expect(pids()).toEqual(before);
  });

  it('stops cleanly and leaves nothing running', async () => {
    const running = pids();
    expect(await stopStack(env)).toEqual(['registry', 'kafka', 'postgres']);
    expect(running.some(isAlive)).toBe(false);
  });

  it('names the taken port and the variable that moves it', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(29092, '127.0.0.1', () => resolve()));
    try {
      await expect(startStack({ env })).rejects.toThrow(/port 29092 \(Kafka\) is taken by another process: set RATELINE_KAFKA_PORT/);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
      await stopStack(env);
    }
  });
});
