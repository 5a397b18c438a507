import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hashKey } from '../runtime/auth.ts';
import type { RuntimeConfig } from '../runtime/config.ts';
import { createKafka } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';
import type { RunningService, ServiceDeps } from '../runtime/service.ts';
import { systemClock } from '../runtime/time.ts';
import { MAX_DEDUPE_WINDOW_DAYS } from '../domain/cdr/index.ts';
import { pipelineServices, startPipeline, type PipelineServiceName } from '../services/all.ts';
import { startAgeing } from '../services/ageing/index.ts';
import { startBillRun } from '../services/billrun/index.ts';
import { startCatalog } from '../services/catalog/index.ts';
import { startCollect } from '../services/collect/index.ts';
import { startConsole } from '../services/console/index.ts';
import { SAMPLE_REFERENCE } from './pipeline-demo.ts';

/** The reference file's brands, plans and rules as the catalogue's API takes them (its JSON form). */
export interface CatalogueSample {
  parentCompany: string;
  brands: ({ code: string; parentCompany?: string } & Record<string, unknown>)[];
  plans: ({ planId: string } & Record<string, unknown>)[];
  ratingRules: ({ ruleId: string } & Record<string, unknown>)[];
}

export function readCatalogueSample(file = SAMPLE_REFERENCE): CatalogueSample {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as CatalogueSample;
  return { parentCompany: raw.parentCompany, brands: raw.brands, plans: raw.plans, ratingRules: raw.ratingRules };
}

export interface ConsoleDemo {
  url: string;
  parentKey: string;
  clerkKey: string;
  clerkBrand: string;
  stop(): Promise<void>;
}

/** A file's increment (`rounding: {mode, tie}` for nearest) as the catalogue takes it (`rounding`, `tie`). */
function increment(value: unknown): unknown {
  const { seconds, rounding } = value as { seconds: number; rounding: string | { mode: string; tie?: string } };
  return typeof rounding === 'string' ? { seconds, rounding } : { seconds, rounding: rounding.mode, ...(rounding.tie ? { tie: rounding.tie } : {}) };
}

const pipelineStages = Object.keys(pipelineServices) as PipelineServiceName[];

/** How long the keys printed for the demo stay valid. */
const DEMO_KEY_HOURS = 24;

/**
 * The end of the main job: the operations console (services/console) on the demo data, beside
 * the services whose APIs it calls (catalog, bill-run, collect, ageing, and the mediation four for
 * usage, re-rating and redrive), each on its own ephemeral port and talking to the console over
 * HTTP only. The sample's brands, plans and rating rules are put into the catalogue through its
 * API (PUTs by natural id with the file's versions: a second run changes nothing) so that the
 * Catalogue screen and the keys have them; accounts, subscriptions and numbers the console reads
 * from ref.*, where the demo published them. Two keys are made through the catalogue's API, valid
 * for a day: the parent's (every brand) and one brand's clerk. The catalogue's own first key is
 * made for this start and revoked once they exist, so no key without an expiry is left behind.
 */
export async function startConsoleDemo(config: RuntimeConfig, print: (line: string) => void, options: { sample?: CatalogueSample; clerkBrand?: string; consolePort?: number; collectGroupId?: string } = {}): Promise<ConsoleDemo> {
  const sample = options.sample ?? readCatalogueSample();
  const clerkBrand = options.clerkBrand ?? sample.brands[0]!.code;
  const kafka = createKafka(config.kafka, silentLogger);
  const deps: ServiceDeps = { kafka, serde: new AvroSerde(config.registry.url), logger: silentLogger, clock: systemClock };
  const services = { ...config, http: { ...config.http, port: 0, opsPort: 0 } };
  const started: RunningService[] = [];
  // Side by side: each stop mostly waits for its consumers to leave their groups (seconds each).
  const stop = async () => {
    await Promise.all(started.map((service) => service.stop().catch(() => undefined)));
  };
  try {
    const bootstrapKey = `demo-bootstrap-${randomBytes(24).toString('base64url')}`;
    const catalog = await startCatalog(services, deps, { parentCompany: sample.parentCompany, adminKey: bootstrapKey, outboxPollMs: 200, trialSweepMs: 0, applyDunning: false });
    started.push(catalog);
    const call = async <T>(method: string, path: string, body: unknown): Promise<T> => {
      const res = await fetch(`${catalog.apiUrl}${path}`, { method, headers: { 'x-api-key': bootstrapKey, 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
      const json = (await res.json()) as T;
      if (!res.ok) throw new Error(`catalog ${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    for (const { code, parentCompany: _p, ...brand } of sample.brands) await call('PUT', `/brands/${encodeURIComponent(code)}`, brand);
    for (const plan of sample.plans) await call('PUT', `/plans/${encodeURIComponent(plan.planId)}`, plan);
    for (const rule of sample.ratingRules) await call('PUT', `/rating-rules/${encodeURIComponent(rule.ruleId)}`, { ...rule, initialIncrement: increment(rule.initialIncrement), mainIncrement: increment(rule.mainIncrement) });
    const expiresAt = new Date(Date.now() + DEMO_KEY_HOURS * 3_600_000).toISOString();
    const parent = await call<{ key: string }>('POST', '/api-keys', { brand: null, label: 'npm start: console, every brand', expiresAt });
    const clerk = await call<{ key: string }>('POST', '/api-keys', { brand: clerkBrand, label: `npm start: console, ${clerkBrand}'s clerk`, expiresAt });
    await call('POST', `/api-keys/admin-${hashKey(bootstrapKey).slice(0, 12)}/revoke`, {});
    await catalog.outbox.drain();

    const [billrun, collect, ageing, ...stages] = await Promise.all([
      startBillRun(services, deps, { intervalMs: 0 }),
      // The sample brands' invoices only; its start-up pass charges what is due (without a
      // gateway's credentials in the environment, such an invoice waits as gateway_unavailable).
      startCollect(services, deps, { intervalMs: 0, topicPattern: new RegExp(`^brand\\.(${sample.brands.map((b) => b.code).join('|')})\\.invoices$`), ...(options.collectGroupId ? { groupId: options.collectGroupId } : {}) }),
      startAgeing(services, deps, { intervalMs: 0 }),
      // Each stage on its own, so that they stop side by side too. The sample calls are dated
      // March 2026: a redriven one must not be refused by ingest as too old.
      ...pipelineStages.map((name) => startPipeline(services, deps, [name], { ingest: { dedupe: { windowDays: MAX_DEDUPE_WINDOW_DAYS } } })),
    ]);
    started.push(billrun, collect, ageing, ...stages);
    const stage = (name: PipelineServiceName) => stages[pipelineStages.indexOf(name)]!.services[0]!.apiUrl!;
    const consoleService = await startConsole({ ...services, http: { ...services.http, port: options.consolePort ?? 0 } }, deps, {
      parentCompany: sample.parentCompany,
      services: { catalog: catalog.apiUrl!, billrun: billrun.apiUrl!, collect: collect.apiUrl!, ageing: ageing.apiUrl!, drawdown: stage('drawdown'), ingest: stage('ingest') },
    });
    started.push(consoleService);
    const url = `${consoleService.apiUrl!}/`;
    // The keys reach the console on ref.api-keys: print them once it signs them in.
    await signsIn(url, parent.key, 30_000);
    print(`the operations console (services/console, over the services' APIs): ${url}`);
    print(`  sign in with the parent company's key (every brand): ${parent.key}`);
    print(`  or with ${clerkBrand}'s clerk key (that brand only):  ${clerk.key}`);
    print(`  (both expire ${expiresAt}; Ctrl-C stops the console and its services, the stack keeps running)`);
    return { url, parentKey: parent.key, clerkKey: clerk.key, clerkBrand, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Waits until the console's sign-in takes the key (a redirect to the signed-in home), at most `ms`. */
export async function signsIn(url: string, key: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const res = await fetch(new URL('/sign-in', url), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ key }), redirect: 'manual', signal: AbortSignal.timeout(10_000) });
    if (res.status === 303) return;
    if (Date.now() > deadline) throw new Error(`the console at ${url} did not take the demo key within ${ms / 1000} s (sign-in answered ${res.status})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
