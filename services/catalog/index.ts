import type { RuntimeConfig } from '../../runtime/config.ts';
import { createDb, migrateService } from '../../runtime/db.ts';
import { BatchProducer } from '../../runtime/kafka.ts';
import { StageHealth } from '../../runtime/consumer-loop.ts';
import { createServiceMetrics, type ServiceMetrics } from '../../runtime/metrics.ts';
import { startOutboxRelay, type OutboxRelay } from '../../runtime/outbox.ts';
import type { RunningService, ServiceDeps } from '../../runtime/service.ts';
import { Catalog } from './catalog.ts';
import { loadCatalogConfig, type CatalogConfig } from './config.ts';
import fs from 'node:fs';
import type { Logger } from '../../runtime/log.ts';
import { applyTopics } from '../../topics/apply.ts';
import { topics } from '../../topics/catalog.ts';
import path from 'node:path';
import { bootstrapAdminKey, publishAllKeys } from './keys.ts';
import { openApiDocument } from './openapi.ts';
import { migrations, SCHEMA } from './schema.ts';
import { startApiServer } from './server.ts';
import { startDunningListener } from './dunning.ts';

export interface RunningCatalog extends RunningService {
  metrics: ServiceMetrics;
  /** The relay of the catalogue's outbox (drain: publish what it holds now). */
  outbox: OutboxRelay;
  catalog: Catalog;
}

/** Where the first parent key is written: CATALOG_ADMIN_KEY_FILE, else the local stack's home. */
export function defaultAdminKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.CATALOG_ADMIN_KEY_FILE || path.join(env.RATELINE_HOME || path.join(process.cwd(), '.rateline'), 'catalog-admin-key');
}

/**
 * Writes the first parent key to a file only its owner can read (0600, also when the file existed
 * with wider modes) and logs where, never the key.
 */
export function saveFirstKey(created: { keyId: string; key: string }, file: string, logger: Logger): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, `${created.key}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  logger.warn('made the first parent API key and wrote it to a file only its owner can read (mode 0600); keep it, only its hash is stored', { keyId: created.keyId, file });
}

/**
 * catalog: the REST API over the catalogue's PostgreSQL schema. Every change is written with
 * its ref.* (and account.lifecycle) records into an outbox in one transaction; the outbox
 * publisher sends them to Kafka. `apiUrl` serves the API and /openapi.json, `url` /metrics and /healthz.
 */
export async function startCatalog(config: RuntimeConfig, deps: ServiceDeps, options: CatalogConfig = loadCatalogConfig()): Promise<RunningCatalog> {
  const logger = deps.logger.child({ service: 'catalog' });
  const metrics = createServiceMetrics('catalog');
  const db = createDb(config.postgres);
  try {
    await migrateService(db, SCHEMA, migrations);
    const created = await bootstrapAdminKey(db, options.adminKey);
    // On the first start without CATALOG_ADMIN_KEY: the key goes to a file only its owner reads, never to a log.
    if (created) saveFirstKey(created, options.adminKeyFile ?? defaultAdminKeyFile(), logger);
    // Every service verifies keys from ref.api-keys: the topic first, then what it must hold.
    await applyTopics(deps.kafka, deps.serde, [topics.refApiKeys]);
    await publishAllKeys(db);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  const outbox = await startOutboxRelay({ db, schema: SCHEMA, kafka: deps.kafka, serde: deps.serde, logger, metrics, pollMs: options.outboxPollMs });
  const catalog = new Catalog(db, options.parentCompany, deps.clock);
  const health = new StageHealth(metrics);
  // Only the dunning listener's dead letters: every event the catalogue publishes goes through its outbox.
  const producer = await BatchProducer.connect(deps.kafka);
  await catalog.ensureParent();
  const server = await startApiServer({
    config: config.http,
    db,
    catalog,
    metrics,
    logger,
    openApi: openApiDocument,
    now: () => deps.clock.now(),
    checks: { outbox: () => ({ ok: outbox.isHealthy() }), dunning: health.check },
  });

  const dunning = options.applyDunning ?? process.env.CATALOG_APPLY_DUNNING !== 'false' ? await startDunningListener({ kafka: deps.kafka, serde: deps.serde, db, catalog, logger, producer, metrics, health }) : undefined;

  let sweeping: Promise<unknown> | undefined;
  const sweep =
    options.trialSweepMs > 0
      ? setInterval(() => {
          sweeping ??= catalog
            .activateEndedTrials()
            .then((ids) => ids.length > 0 && logger.info('activated ended trials', { count: ids.length }))
            .catch((error: unknown) => logger.error('trial sweep failed', { error }))
            .finally(() => (sweeping = undefined));
        }, options.trialSweepMs)
      : undefined;

  let stopped: Promise<void> | undefined;
  return {
    name: 'catalog',
    url: server.url,
    apiUrl: server.apiUrl,
    metrics,
    outbox,
    catalog,
    stop: () =>
      (stopped ??= (async () => {
        clearInterval(sweep);
        await sweeping;
        await dunning?.stop();
        await producer.stop();
        await server.close();
        await outbox.stop();
        await db.destroy();
      })()),
  };
}
