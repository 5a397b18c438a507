import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import type { Kafka } from 'kafkajs';
import { loadRuntimeConfig, type RuntimeConfig } from '../runtime/config.ts';
import { createKafka } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import type { TopicSpec } from '../topics/catalog.ts';

/** Config pointing at the stack the global setup started. */
export function testConfig(name = 'test'): RuntimeConfig {
  const endpoints = inject('endpoints');
  return loadRuntimeConfig(name, { KAFKA_BROKERS: endpoints.kafkaBrokers, SCHEMA_REGISTRY_URL: endpoints.schemaRegistryUrl, DATABASE_URL: endpoints.databaseUrl, HTTP_PORT: '0' });
}

export function testKafka(name = 'test'): Kafka {
  return createKafka(testConfig(name).kafka, silentLogger);
}

/** A unique suffix so that suites never see each other's topics, subjects or groups. */
export const uniqueSuffix = () => randomUUID().slice(0, 8);

export function testTopic(base: string, overrides: Partial<TopicSpec> = {}): TopicSpec {
  return { name: `test.${base}.${uniqueSuffix()}`, partitions: 3, key: 'test', cleanupPolicy: 'delete', retentionMs: 3_600_000, schema: null, description: 'test topic', ...overrides };
}

/** Polls until `probe` returns a value, or fails after `timeoutMs` naming what was awaited. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
