import type { RuntimeConfig } from '../../runtime/config.ts';
import { createDb, migrateService } from '../../runtime/db.ts';
import { BatchProducer } from '../../runtime/kafka.ts';
import { StageHealth } from '../../runtime/consumer-loop.ts';
import { createServiceMetrics, type ServiceMetrics } from '../../runtime/metrics.ts';
import type { RunningService, ServiceDeps } from '../../runtime/service.ts';
import { Catalog } from './catalog.ts';
import { loadCatalogConfig, type CatalogConfig } from './config.ts';
import { bootstrapAdminKey } from './keys.ts';
import { openApiDocument } from './openapi.ts';
import { startOutboxPublisher, type OutboxPublisher } from './outbox.ts';
import { migrations, SCHEMA } from './schema.ts';
import { startApiServer } from './server.ts';
import { startDunningListener } from './dunning.ts';

export interface RunningCatalog extends RunningService {
  metrics: ServiceMetrics;
  /** Publishes what the outbox holds now (tests; stop does it too). */
  outbox: OutboxPublisher;
  catalog: Catalog;
}

/**
 * catalog: the REST API over the catalogue's PostgreSQL schema. Every change is written with
 * its ref.* (and account.lifecycle) records into an outbox in one transaction; the outbox
 * publisher sends them to Kafka. `url` serves the API, /openapi.json, /metrics and /healthz.
 */
export async function startCatalog(config: RuntimeConfig, deps: ServiceDeps, options: CatalogConfig = loadCatalogConfig()): Promise<RunningCatalog> {
  const logger = deps.logger.child({ service: 'catalog' });
  const metrics = createServiceMetrics('catalog');
  const db = createDb(config.postgres);
  try {
    await migrateService(db, SCHEMA, migrations);
    const created = await bootstrapAdminKey(db, options.adminKey);
    // Printed once, on the first start without CATALOG_ADMIN_KEY: only its hash is kept.
    if (created) logger.warn('made the first parent API key; keep it, it is not shown again', { keyId: created.keyId, apiKey: created.key });
  } catch (err) {
    await db.destroy();
    throw err;
  }
  const producer = await BatchProducer.connect(deps.kafka);
  const outbox = startOutboxPublisher({ db, producer, serde: deps.serde, logger, metrics, pollMs: options.outboxPollMs });
  const catalog = new Catalog(db, options.parentCompany, deps.clock, () => outbox.nudge());
  const health = new StageHealth(metrics);
  await catalog.ensureParent();
  const server = await startApiServer({
    config: config.http,
    db,
    catalog,
    metrics,
    logger,
    openApi: openApiDocument,
    checks: { producer: () => ({ ok: producer.isConnected }), outbox: () => ({ ok: outbox.isHealthy() }), dunning: health.check },
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
    metrics,
    outbox,
    catalog,
    stop: () =>
      (stopped ??= (async () => {
        clearInterval(sweep);
        await sweeping;
        await dunning?.stop();
        await server.close();
        await outbox.stop();
        await outbox.drain().catch((error: unknown) => logger.warn('outbox left unsent; it is sent on the next start', { error }));
        await producer.stop();
        await db.destroy();
      })()),
  };
}
