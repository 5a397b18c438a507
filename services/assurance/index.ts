import path from 'node:path';
import client from 'prom-client';
import type { RuntimeConfig } from '../../runtime/config.ts';
import type { ConsumedRecord } from '../../runtime/kafka.ts';
import type { ControlTotalRecord } from '../../runtime/control-totals.ts';
import type { ServiceMetrics } from '../../runtime/metrics.ts';
import type { RunningService, ServiceDeps } from '../../runtime/service.ts';
import { startStage } from '../../runtime/stage.ts';
import { stackHome } from '../../infra/stack/paths.ts';
import { topics } from '../../topics/catalog.ts';
import { gatewaysFromEnv } from './gateways.ts';
import { writeReport } from './report.ts';
import { consistencyRun, publishDiscrepancies, type ConsistencyOptions, type ConsistencyReport } from './run.ts';

export const GROUP_ID = 'rateline-assurance';

export interface AssuranceOptions extends ConsistencyOptions {
  /** Where reports go (`<brand>-<day>.json` and `.html`); default `$RATELINE_HOME/assurance`. */
  reportsDir?: string;
  /** Sources whose CDR balance each brand's run checks as well (ASSURANCE_SOURCES, comma-separated). */
  sources?: string[];
  /** Brands whose bill runs this instance follows (ASSURANCE_BRANDS, comma-separated; default every brand). */
  brands?: string[];
  /** Consumer group on ops.control-totals (default rateline-assurance). */
  groupId?: string;
  /** How long after a brand's last bill-run figure the run starts (a bill run publishes group by group). */
  settleMs?: number;
  /** Called with each finished run (tests, the all-in-one process). */
  onReport?(brand: string, day: string, report: ConsistencyReport): void;
}

export interface RunningAssurance extends RunningService {
  /** Runs now for a brand and day range (with the configured sources, or these), publishes and writes the report (also what the schedule does). */
  runNow(brand: string, from: string, to: string, sources?: string[]): Promise<ConsistencyReport>;
}

interface AssuranceMetrics {
  runs: client.Counter<'verdict'>;
  discrepancies: client.Gauge<'brand' | 'check'>;
  lastRun: client.Gauge<'brand'>;
  duration: client.Histogram;
}

function assuranceMetrics(metrics: ServiceMetrics): AssuranceMetrics {
  const registers = [metrics.registry];
  return {
    runs: new client.Counter({ name: 'rateline_assurance_runs_total', help: 'Consistency runs finished, by verdict (clean or discrepancies)', labelNames: ['verdict'], registers }),
    discrepancies: new client.Gauge({ name: 'rateline_assurance_discrepancies', help: "Discrepancies the brand's latest consistency run found, by check", labelNames: ['brand', 'check'], registers }),
    lastRun: new client.Gauge({ name: 'rateline_assurance_last_run_timestamp_seconds', help: "Unix time of the brand's latest finished consistency run", labelNames: ['brand'], registers }),
    duration: new client.Histogram({ name: 'rateline_assurance_run_duration_seconds', help: 'How long a consistency run took', buckets: [0.5, 1, 5, 15, 60, 300, 900], registers }),
  };
}

/**
 * assurance: the daily consistency run, its own service. It follows ops.control-totals; when a
 * brand's bill run publishes its figures for a day, it waits until they settle and runs the
 * checks for that brand and day (services/assurance/run.ts), publishes each discrepancy on
 * ops.discrepancies, writes the report and exports the verdict as metrics for the alert rules.
 * `runNow` (and `rateline assurance run`) runs on demand for any day range.
 */
export async function startAssurance(config: RuntimeConfig, deps: ServiceDeps, options: AssuranceOptions = {}): Promise<RunningAssurance> {
  const reportsDir = options.reportsDir ?? path.join(stackHome(), 'assurance');
  const list = (value: string | undefined) => (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  const sources = options.sources ?? list(process.env.ASSURANCE_SOURCES);
  const followed = options.brands ?? list(process.env.ASSURANCE_BRANDS);
  const follows = (brand: string) => followed.length === 0 || followed.includes(brand);
  const settleMs = options.settleMs ?? 5_000;
  const logger = deps.logger.child({ stage: 'assurance' });
  const runOptions: ConsistencyOptions = { ...options, gatewayFor: options.gatewayFor ?? gatewaysFromEnv() };
  let m: AssuranceMetrics | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  const pending = new Map<string, NodeJS.Timeout>();
  let stopping = false;

  const runNow = (brand: string, from: string, to: string, runSources = sources): Promise<ConsistencyReport> => {
    // One run at a time: each reads whole topics, and two at once only double the load.
    const run = chain.then(async () => {
      const end = m?.duration.startTimer();
      const report = await consistencyRun(deps.kafka, deps.serde, { brands: [brand], sources: runSources, from, to }, deps.clock.now(), runOptions);
      end?.();
      await publishDiscrepancies(deps.kafka, deps.serde, report);
      await writeReport(reportsDir, from === to ? `${brand}-${from}` : `${brand}-${from}-${to}`, report);
      if (m) {
        m.runs.inc({ verdict: report.discrepancies.length === 0 ? 'clean' : 'discrepancies' });
        m.discrepancies.reset();
        const byCheck = new Map<string, number>();
        for (const d of report.discrepancies) byCheck.set(d.check, (byCheck.get(d.check) ?? 0) + 1);
        for (const [check, n] of byCheck) m.discrepancies.set({ brand, check }, n);
        m.lastRun.set({ brand }, deps.clock.now() / 1000);
      }
      logger.info('consistency run', { brand, from, to, verdict: report.verdict });
      options.onReport?.(brand, from, report);
      return report;
    });
    chain = run.catch(() => undefined);
    return run;
  };

  const schedule = (brand: string, day: string) => {
    if (stopping) return;
    const key = `${brand} ${day}`;
    clearTimeout(pending.get(key));
    pending.set(
      key,
      setTimeout(() => {
        pending.delete(key);
        runNow(brand, day, day).catch((error: unknown) => logger.error('consistency run failed', { brand, day, error }));
      }, settleMs),
    );
  };

  const handleBatch = async (records: ConsumedRecord[]) => {
    await deps.serde.prepare(records.map((r) => r.value));
    for (const record of records) {
      // A tombstone is a figure withdrawn: nothing to run for.
      if (record.value === null) continue;
      const total = deps.serde.decode<ControlTotalRecord>(record.value, 'control-total');
      if (total.stage === 'bill-run' && total.scopeKind === 'brand' && follows(total.scope)) schedule(total.scope, total.day);
    }
  };

  const stage = await startStage(config, deps, {
    name: 'assurance',
    groupId: options.groupId ?? GROUP_ID,
    inputTopics: [topics.controlTotals.name],
    deadLetterTopic: topics.deadLetter.name,
    handleBatch,
  });
  m = assuranceMetrics(stage.metrics);
  return {
    ...stage,
    runNow,
    stop: async () => {
      stopping = true;
      for (const t of pending.values()) clearTimeout(t);
      pending.clear();
      await chain;
      await stage.stop();
    },
  };
}
