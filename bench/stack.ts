import type { Kafka } from 'kafkajs';
import { runningStackEndpoints, startStack, type StackEndpoints } from '../infra/stack/index.ts';
import { loadRuntimeConfig, type RuntimeConfig } from '../runtime/config.ts';
import { createKafka } from '../runtime/kafka.ts';
import { createLogger, type Logger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';
import type { TopicSpec } from '../topics/catalog.ts';

/** The stack a benchmark runs on: the one the environment names, else the running local stack, else one started for it. */
async function endpoints(say: (line: string) => void): Promise<StackEndpoints> {
  const { KAFKA_BROKERS, SCHEMA_REGISTRY_URL, DATABASE_URL } = process.env;
  if (KAFKA_BROKERS && SCHEMA_REGISTRY_URL && DATABASE_URL) return { kafkaBrokers: KAFKA_BROKERS, schemaRegistryUrl: SCHEMA_REGISTRY_URL, databaseUrl: DATABASE_URL };
  return runningStackEndpoints() ?? startStack({ log: say });
}

/** A benchmark's config, logger (warn unless LOG_LEVEL says otherwise), Kafka client and serde on that stack. */
export async function connectBench(service: string, say: (line: string) => void): Promise<{ config: RuntimeConfig; logger: Logger; kafka: Kafka; serde: AvroSerde }> {
  const logger = createLogger({ service }, (process.env.LOG_LEVEL as 'warn' | undefined) ?? 'warn');
  const config = loadRuntimeConfig(service, { ...process.env, HTTP_PORT: '0' }, await endpoints(say));
  return { config, logger, kafka: createKafka(config.kafka, logger), serde: new AvroSerde(config.registry.url) };
}

/** A benchmark's output line. */
export const say = (line: string) => process.stdout.write(`${line}\n`);

/** A figure with thousands separators; n/a for what could not be measured. */
export const fmt = (value: number, digits = 0) => (Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a');

/** A scratch topic for a benchmark: 6 partitions, deleted after an hour if the benchmark does not. */
export function benchTopic(name: string): TopicSpec {
  return { name, partitions: 6, key: 'account', cleanupPolicy: 'delete', retentionMs: 3_600_000, schema: null, description: 'benchmark scratch topic' };
}
