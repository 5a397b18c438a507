import type { Kafka } from 'kafkajs';
import { runningStackEndpoints, startStack, type StackEndpoints } from '../infra/stack/index.ts';
import { loadRuntimeConfig, type RuntimeConfig } from '../runtime/config.ts';
import { createKafka } from '../runtime/kafka.ts';
import { createLogger, type Logger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';

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
