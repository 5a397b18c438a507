import { describe, expect, it } from 'vitest';
import { loadRuntimeConfig } from './config.ts';
import { ConfigError } from './errors.ts';

describe('loadRuntimeConfig', () => {
  it('reads every endpoint from the environment', () => {
    const config = loadRuntimeConfig('ingest', {
      KAFKA_BROKERS: 'k1:9092, k2:9092',
      SCHEMA_REGISTRY_URL: 'http://registry:8081',
      DATABASE_URL: 'postgres://u:p@db:5432/rateline',
      HTTP_PORT: '9100',
    });
    expect(config.kafka).toEqual({ brokers: ['k1:9092', 'k2:9092'], clientId: 'rateline-ingest', sessionTimeoutMs: 10_000, maxBytesPerPartition: 4 * 1024 * 1024, partitionsConcurrently: 1, gatherPartitions: true, fetchMinBytes: 1, fetchMaxWaitMs: 5_000 });
    expect(config.registry.url).toBe('http://registry:8081');
    expect(config.http).toEqual({ host: '127.0.0.1', port: 9100, opsPort: 0 });
  });

  it('reads the fetch settings, and names one that is not a positive whole number', () => {
    const endpoints = { KAFKA_BROKERS: 'k1:9092', SCHEMA_REGISTRY_URL: 'http://registry:8081', DATABASE_URL: 'postgres://db/rateline' };
    const config = loadRuntimeConfig('drawdown', { ...endpoints, KAFKA_FETCH_MIN_BYTES: '65536', KAFKA_FETCH_MAX_WAIT_MS: '20' });
    expect([config.kafka.fetchMinBytes, config.kafka.fetchMaxWaitMs]).toEqual([65_536, 20]);
    expect(() => loadRuntimeConfig('drawdown', { ...endpoints, KAFKA_FETCH_MAX_WAIT_MS: 'soon' })).toThrow(/KAFKA_FETCH_MAX_WAIT_MS/);
  });

  it('falls back to the local stack endpoints when the environment is silent', () => {
    const config = loadRuntimeConfig('rate', {}, { kafkaBrokers: '127.0.0.1:19092', schemaRegistryUrl: 'http://127.0.0.1:18081/apis/ccompat/v7', databaseUrl: 'postgres://127.0.0.1:15432/rateline' });
    expect(config.kafka.brokers).toEqual(['127.0.0.1:19092']);
  });

  it('reports every problem at once, each naming what to set', () => {
    let error: unknown;
    try {
      loadRuntimeConfig('rate', { KAFKA_BROKERS: 'nohost', DATABASE_URL: 'mysql://x', HTTP_PORT: '70000', RATELINE_GATHER_PARTITIONS: 'yes' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(5);
    expect(problems.join('\n')).toMatch(/KAFKA_BROKERS entry "nohost" must be host:port/);
    expect(problems.join('\n')).toMatch(/SCHEMA_REGISTRY_URL is not set/);
    expect(problems.join('\n')).toMatch(/DATABASE_URL=mysql:\/\/x must start with postgres:/);
    expect(problems.join('\n')).toMatch(/HTTP_PORT=70000/);
    expect(problems.join('\n')).toMatch(/RATELINE_GATHER_PARTITIONS=yes must be 1 or 0/);
  });

  it('lets the mediation stages take a partition at a time', () => {
    expect(loadRuntimeConfig('rate', { RATELINE_GATHER_PARTITIONS: '0' }, { kafkaBrokers: '127.0.0.1:19092', schemaRegistryUrl: 'http://r', databaseUrl: 'postgres://p' }).kafka.gatherPartitions).toBe(false);
  });
});
