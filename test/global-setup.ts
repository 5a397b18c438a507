import type { TestProject } from 'vitest/node';
import { runningStackEndpoints, startStack, stopStack } from '../infra/stack/index.ts';
import type { StackEndpoints } from '../infra/stack/index.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    endpoints: StackEndpoints;
  }
}

/**
 * Starts the real local stack once for the integration suites (or uses the servers the
 * environment names), and stops at the end only what it started itself.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const wasRunning = runningStackEndpoints() !== undefined;
  const t0 = Date.now();
  const endpoints = await startStack({ log: (line) => console.log(`[stack] ${line}`) });
  console.log(`[stack] ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${endpoints.started.join('; ') || 'all parts from the environment'}`);
  project.provide('endpoints', { kafkaBrokers: endpoints.kafkaBrokers, schemaRegistryUrl: endpoints.schemaRegistryUrl, databaseUrl: endpoints.databaseUrl });
  return async () => {
    if (!wasRunning && process.env.RATELINE_KEEP_STACK !== '1') await stopStack();
  };
}
