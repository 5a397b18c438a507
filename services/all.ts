import type { RuntimeConfig } from '../runtime/config.ts';
import type { RunningService, ServiceDeps } from '../runtime/service.ts';
import { startIngest, type IngestOptions } from './ingest/index.ts';
import { startResolve } from './resolve/index.ts';
import { startRate } from './rate/index.ts';
import { startAssurance } from './assurance/index.ts';
import { startDrawdown } from './drawdown/index.ts';
import { startPlanSwapRerating } from './drawdown/swaps.ts';
import { startCatalog } from './catalog/index.ts';
import { startBillRun } from './billrun/index.ts';
import { startCollect } from './collect/index.ts';
import { startAgeing } from './ageing/index.ts';
import { startNotify } from './notify/index.ts';
import { startUsageAlerts } from './usage-alerts/index.ts';
import { startAdvisor } from './advisor/index.ts';
import { stackHome } from '../infra/stack/paths.ts';

export const pipelineServices = { ingest: startIngest, resolve: startResolve, rate: startRate, drawdown: startDrawdown } as const;
export type PipelineServiceName = keyof typeof pipelineServices;

/** Every service, for the all-in-one process (`rateline run`): the mediation pipeline, the catalogue and billing. */
export const allServices = {
  ...pipelineServices,
  catalog: (config: RuntimeConfig, deps: ServiceDeps) => startCatalog(config, deps),
  billrun: (config: RuntimeConfig, deps: ServiceDeps) => startBillRun(config, deps),
  collect: (config: RuntimeConfig, deps: ServiceDeps) => startCollect(config, deps),
  ageing: (config: RuntimeConfig, deps: ServiceDeps) => startAgeing(config, deps),
  // With no SMTP server named, the all-in-one process writes mails to .rateline/mail/ (development).
  notify: (config: RuntimeConfig, deps: ServiceDeps) =>
    startNotify(config, deps, { env: process.env.SMTP_URL || process.env.SMTP_HOST || process.env.NOTIFY_MAIL_DIR ? process.env : { ...process.env, NOTIFY_MAIL_DIR: `${stackHome()}/mail` } }),
  'usage-alerts': (config: RuntimeConfig, deps: ServiceDeps) => startUsageAlerts(config, deps),
  assurance: (config: RuntimeConfig, deps: ServiceDeps) => startAssurance(config, deps),
  advisor: (config: RuntimeConfig, deps: ServiceDeps) => startAdvisor(config, deps),
  'plan-swaps': (config: RuntimeConfig, deps: ServiceDeps) => startPlanSwapRerating(config, deps),
} as const;
export type ServiceName = keyof typeof allServices;

/**
 * The mediation pipeline's four services in one process (the embedded default and the tests):
 * the same `start` functions as each service's own main, each with its own consumer group,
 * producer and ops endpoint. Stops in reverse order.
 */
export async function startPipeline(
  config: RuntimeConfig,
  deps: ServiceDeps,
  names: ServiceName[] = ['ingest', 'resolve', 'rate', 'drawdown'],
  options: { ingest?: IngestOptions } = {},
): Promise<RunningService & { services: RunningService[] }> {
  const start = (name: ServiceName, serviceDeps: ServiceDeps) => (name === 'ingest' ? startIngest(config, serviceDeps, options.ingest) : allServices[name](config, serviceDeps));
  // Started side by side: each spends most of its start reading the ref.* topics.
  const started = await Promise.allSettled(names.map((name) => start(name, { ...deps, logger: deps.logger.child({ service: name }) })));
  const services = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    for (const service of services.reverse()) await service.stop().catch(() => undefined);
    throw failed.reason;
  }
  return {
    name: 'pipeline',
    url: services.map((s) => `${s.name} ${s.url}${s.apiUrl ? ` (API ${s.apiUrl})` : ''}`).join(', '),
    services,
    stop: async () => {
      for (const service of [...services].reverse()) await service.stop();
    },
  };
}
