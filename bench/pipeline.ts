/**
 * `npm run bench`: how close the mediation pipeline (ingest → resolve → rate → drawdown, all four
 * in this process via startPipeline, or each as its own process with `--shape processes`, as Helm
 * deploys them) comes to the raw Kafka pipe on the same broker, same client and same consumer
 * loop. Prints figures; asserts nothing. See bench/README.md for the options.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import kafkajs, { type Admin, type Kafka } from 'kafkajs';
import { MAX_DEDUPE_WINDOW_DAYS, cdrEventId } from '../domain/cdr/index.ts';
import { generateReference, parseReferenceFile, type ReferenceData } from '../domain/reference/index.ts';
import { publishReference } from '../contracts/reference.ts';
import type { CdrRawRecord, CdrRejectedRecord } from '../contracts/records.ts';
import { readStackState, runningStackEndpoints, stackHome, stackPaths, startStack, type StackEndpoints } from '../infra/stack/index.ts';
import { loadRuntimeConfig, type RuntimeConfig } from '../runtime/config.ts';
import { BatchProducer, createKafka, runBatchConsumer, standardHeaders, startGroupAtEnd, type ConsumedRecord, type OutgoingMessage, type RunningConsumer } from '../runtime/kafka.ts';
import { createLogger } from '../runtime/log.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import { systemClock } from '../runtime/time.ts';
import type { RunningService } from '../runtime/service.ts';
import { startPipeline } from '../services/all.ts';
import { GROUP_ID as INGEST_GROUP } from '../services/ingest/index.ts';
import { GROUP_ID as RESOLVE_GROUP } from '../services/resolve/index.ts';
import { GROUP_ID as RATE_GROUP } from '../services/rate/index.ts';
import { GROUP_ID as DRAWDOWN_GROUP } from '../services/drawdown/index.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, topics, valueSubject, type TopicSpec } from '../topics/catalog.ts';
import { seededRandom } from '../domain/prng.ts';
import type { ServiceMetrics } from '../runtime/metrics.ts';
import { ServiceProcess } from '../infra/service-process.ts';
import { benchTopic, fmt, say } from './stack.ts';
import { formatSummary, startProfile, summariseProfile, writeProfile, type ProfileSummary } from './profile.ts';

const { ConfigResourceTypes } = kafkajs;

// ---------------------------------------------------------------------------------------------
// Options: `--n 100000` or BENCH_N=100000, and so on.

interface BenchOptions {
  n: number;
  brands: number;
  accounts: number;
  numbersPerAccount: number;
  mode: 'steady' | 'backlog' | 'both' | 'baseline';
  timeoutSeconds: number;
  skipBaseline: boolean;
  /** 0: leave the topics as they are. Else max.message.bytes set on the pipeline's topics for the run (restored after). */
  maxMessageBytes: number;
  /** Stages to time alone, each draining a pre-filled input (instead of the pipeline modes). */
  stages: StageName[];
  /** Write a CPU profile of each timed stage window to this path prefix (and print a summary). */
  cpuProf: string | undefined;
  /** The four stages in this process, or each as its own process (its main.ts, as deployed). */
  shape: 'one-process' | 'processes';
  /** CDRs a second produced in steady mode; 'auto': half the backlog run's end-to-end rate when one ran first, else unpaced. 0: unpaced. */
  steadyRate: number | 'auto';
  /** Steady mode: latency is also given for the CDRs produced after the first this many seconds, when the services are no longer cold. */
  warmupSeconds: number;
}

const optionNames = ['n', 'brands', 'accounts', 'numbers-per-account', 'mode', 'timeout', 'max-message-bytes', 'cpu-prof', 'shape', 'steady-rate', 'stage', 'warmup'] as const;

function readOptions(argv: string[]): BenchOptions {
  // strict: a misspelt option is an error, not silently the default.
  const { values } = parseArgs({
    args: argv,
    options: { ...Object.fromEntries(optionNames.map((name) => [name, { type: 'string' as const }])), 'skip-baseline': { type: 'boolean' } },
    strict: true,
  });
  const args = new Map<string, string>(Object.entries(values).map(([name, value]) => [name, String(value)]));
  const problems: string[] = [];
  const int = (name: string, env: string, fallback: number, min: number): number => {
    const raw = args.get(name) ?? process.env[env];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw.replace(/_/g, ''));
    if (!Number.isInteger(value) || value < min) problems.push(`--${name} / ${env}=${raw} must be an integer >= ${min}`);
    return value;
  };
  const mode = (args.get('mode') ?? process.env.BENCH_MODE ?? 'both') as BenchOptions['mode'];
  const shape = (args.get('shape') ?? process.env.BENCH_SHAPE ?? 'one-process') as BenchOptions['shape'];
  if (!['one-process', 'processes'].includes(shape)) problems.push(`--shape / BENCH_SHAPE=${shape} must be one-process or processes (each service its own process)`);
  const steadyRateArg = args.get('steady-rate') ?? process.env.BENCH_STEADY_RATE ?? 'auto';
  if (!['steady', 'backlog', 'both', 'baseline'].includes(mode)) problems.push(`--mode / BENCH_MODE=${mode} must be steady, backlog, both or baseline (the raw pipe only)`);
  const options: BenchOptions = {
    n: int('n', 'BENCH_N', 200_000, 1_000),
    brands: int('brands', 'BENCH_BRANDS', 20, 1),
    accounts: int('accounts', 'BENCH_ACCOUNTS', 2_000, 1),
    numbersPerAccount: int('numbers-per-account', 'BENCH_NUMBERS_PER_ACCOUNT', 5, 1),
    mode,
    timeoutSeconds: int('timeout', 'BENCH_TIMEOUT_S', 600, 10),
    maxMessageBytes: int('max-message-bytes', 'BENCH_MAX_MESSAGE_BYTES', 0, 0),
    skipBaseline: (args.get('skip-baseline') ?? process.env.BENCH_SKIP_BASELINE ?? 'false') === 'true',
    stages: [],
    cpuProf: args.get('cpu-prof') ?? process.env.BENCH_CPU_PROF,
    shape,
    steadyRate: steadyRateArg === 'auto' ? 'auto' : int('steady-rate', 'BENCH_STEADY_RATE', 0, 0),
    warmupSeconds: int('warmup', 'BENCH_WARMUP_S', 10, 0),
  };
  if (shape === 'processes' && stageArgGiven(args)) problems.push('--stage times stages in this process: it does not go with --shape processes');
  const stageArg = args.get('stage') ?? process.env.BENCH_STAGE;
  if (stageArg !== undefined) {
    const names: string[] = stageArg === 'all' ? STAGES.map((x) => x.name) : stageArg.split(',').map((x) => x.trim());
    const unknown = names.filter((x) => !STAGES.some((st) => st.name === x));
    if (unknown.length > 0 || names.length === 0) problems.push(`--stage / BENCH_STAGE=${stageArg} must be all or a comma-separated list of ${STAGES.map((x) => x.name).join(', ')}`);
    else options.stages = STAGES.map((x) => x.name).filter((x) => names.includes(x));
  }
  if (problems.length > 0) throw new Error(`bench options:\n  - ${problems.join('\n  - ')}`);
  return options;
}

const stageArgGiven = (args: Map<string, string>) => (args.get('stage') ?? process.env.BENCH_STAGE) !== undefined;

// ---------------------------------------------------------------------------------------------
// Small helpers.

class BenchTimeout extends Error {}

const logger = createLogger({ component: 'bench' }, 'warn', (line) => process.stderr.write(`${line}\n`));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
// The generated calls are dated March 2026: a de-duplication window that reaches back to them.
const HISTORIC_CDRS = { ingest: { dedupe: { windowDays: MAX_DEDUPE_WINDOW_DAYS } } };

let deadline = Infinity;
function checkDeadline(what: string): void {
  if (Date.now() > deadline) throw new BenchTimeout(`time limit reached while ${what}`);
}

async function waitFor(what: string, probe: () => boolean | Promise<boolean>, pollMs = 50): Promise<void> {
  for (;;) {
    if (await probe()) return;
    checkDeadline(`waiting for ${what}`);
    await sleep(pollMs);
  }
}

const rate = (count: number, ms: number) => (ms > 0 ? (count * 1000) / ms : NaN);
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Sends `total` messages in slices of 5,000 with up to 4 sends in flight (the DESIGN's setting). */
async function produceAll(producer: BatchProducer, total: number, slice: (from: number, to: number) => Record<string, OutgoingMessage[]>, chunk = 5_000, inFlight = 4): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const from = next;
      next = Math.min(total, next + chunk);
      await producer.send(slice(from, next));
      checkDeadline('producing');
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

/** Commits the current high watermarks for a new group, so that it reads only what comes next. */

/** Sum over partitions of high watermark minus the group's committed offset. */
async function groupLag(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [high, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
  const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
  let lag = 0n;
  for (const p of high) {
    const c = done.get(p.partition) ?? -1n;
    lag += c < 0n ? BigInt(p.high) - BigInt(p.low) : BigInt(p.high) - c;
  }
  return Number(lag);
}

/**
 * Sets max.message.bytes on topics and returns a function that puts the previous values back.
 * Only with --max-message-bytes: a stage's produce request can exceed the broker's 1 MB default
 * (see bench/README.md), and this lets the run measure speed past that fault.
 */
async function raiseMaxMessageBytes(admin: Admin, topicNames: string[], bytes: number): Promise<() => Promise<void>> {
  const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: topicNames.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['max.message.bytes'] })) });
  const previous = new Map(resources.map((r) => [r.resourceName, r.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue]));
  const set = (value: (topic: string) => string | undefined) =>
    admin.alterConfigs({
      validateOnly: false,
      resources: topicNames.flatMap((name) => {
        const v = value(name);
        return v === undefined ? [] : [{ type: ConfigResourceTypes.TOPIC, name, configEntries: [{ name: 'max.message.bytes', value: v }] }];
      }),
    });
  await set(() => String(bytes));
  return async () => {
    await set((name) => previous.get(name));
  };
}

/** Other processes consuming with the pipeline's groups would take partitions and share the work. */
async function otherMembers(admin: Admin): Promise<string[]> {
  const { groups } = await admin.describeGroups(STAGES.map((s) => s.group));
  return groups.filter((g) => g.members.length > 0).map((g) => `${g.groupId} (${g.members.length} member(s), ${g.state})`);
}

// ---------------------------------------------------------------------------------------------
// CPU: this process, the broker, and the machine.

interface CpuSnapshot {
  at: number;
  process: NodeJS.CpuUsage;
  brokerTicks: number | undefined;
  /** CPU ticks of each service process running (production shape), by pid. */
  serviceTicks: Map<number, number>;
  machineBusy: number;
  machineTotal: number;
}
/** The stages run as their own processes (--shape processes), while they run. */
const serviceProcesses: ServiceProcess[] = [];
const TICKS_PER_SECOND = 100;

function brokerPid(): number | undefined {
  return readStackState(stackPaths(stackHome()))?.parts.kafka?.pid;
}
function processTicks(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14 and 15 of stat)
  } catch {
    return undefined;
  }
}
function machineTicks(): { busy: number; total: number } {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    const total = values.reduce((a, b) => a + b, 0);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}
function cpuSnapshot(): CpuSnapshot {
  const m = machineTicks();
  const serviceTicks = new Map<number, number>();
  for (const p of serviceProcesses) {
    const ticks = processTicks(p.pid);
    if (p.pid !== undefined && ticks !== undefined) serviceTicks.set(p.pid, ticks);
  }
  return { at: Date.now(), process: process.cpuUsage(), brokerTicks: processTicks(brokerPid()), serviceTicks, machineBusy: m.busy, machineTotal: m.total };
}
function cpuSince(start: CpuSnapshot): { processCores: number; serviceCores: number; brokerCores: number; machineBusyPct: number; load: string } {
  const end = cpuSnapshot();
  const seconds = (end.at - start.at) / 1000;
  const p = process.cpuUsage(start.process);
  return {
    processCores: (p.user + p.system) / 1e6 / seconds,
    // A process started after the first snapshot counts from zero.
    serviceCores: [...end.serviceTicks].reduce((sum, [pid, ticks]) => sum + ticks - (start.serviceTicks.get(pid) ?? 0), 0) / TICKS_PER_SECOND / seconds,
    brokerCores: end.brokerTicks !== undefined && start.brokerTicks !== undefined ? (end.brokerTicks - start.brokerTicks) / TICKS_PER_SECOND / seconds : NaN,
    machineBusyPct: (100 * (end.machineBusy - start.machineBusy)) / (end.machineTotal - start.machineTotal),
    load: os.loadavg().map((l) => l.toFixed(2)).join(' '),
  };
}

// ---------------------------------------------------------------------------------------------
// 1. The raw pipe.

interface Baseline {
  recordBytes: number;
  produce: number;
  consume: number;
  oneStage: number;
  /** CPU of this process per record in the one-stage run (join and stop included). */
  oneStageCpuMicros: number;
}

async function rawBaseline(kafka: Kafka, admin: Admin, n: number, recordBytes: number, accounts: number): Promise<Baseline> {
  const id = randomUUID().slice(0, 8);
  const a = `bench.raw-in.${id}`;
  const b = `bench.raw-out.${id}`;
  await applyTopics(kafka, undefined, [benchTopic(a), benchTopic(b)]);
  const producer = await BatchProducer.connect(kafka);
  const payload = randomBytes(recordBytes);
  const keys = Array.from({ length: accounts }, (_, i) => `acct-${i}`);
  try {
    let t0 = Date.now();
    await produceAll(producer, n, (from, to) => {
      const messages: OutgoingMessage[] = [];
      for (let i = from; i < to; i++) messages.push({ key: keys[i % keys.length]!, value: payload });
      return { [a]: messages };
    });
    const produce = rate(n, Date.now() - t0);
    say(`  baseline produce: ${fmt(produce)} records/s`);

    const consumeOnce = async (groupId: string, handle: (records: ConsumedRecord[]) => Promise<void>): Promise<number> => {
      let count = 0;
      let first = Infinity;
      let last = 0;
      const consumer: RunningConsumer = await runBatchConsumer(kafka, {
        groupId,
        topics: [a],
        fromBeginning: true,
        handle: async (records) => {
          first = Math.min(first, Date.now());
          await handle(records);
          count += records.length;
          last = Date.now();
        },
      });
      const joinedAt = Date.now();
      try {
        await waitFor(`${groupId} to read ${n} records`, () => count >= n, 20);
      } finally {
        await consumer.stop();
      }
      // From the moment the group had joined (kafkajs run() resolves after join and sync), or the
      // first batch if that came earlier, to the last record.
      const begin = Math.min(first, joinedAt);
      return rate(count, last - begin);
    };
    const consume = await consumeOnce(`bench-consume-${id}`, async () => undefined);
    say(`  baseline consume: ${fmt(consume)} records/s`);
    t0 = Date.now();
    const cpu0 = process.cpuUsage();
    const oneStage = await consumeOnce(`bench-stage-${id}`, async (records) => {
      await producer.send({ [b]: records.map((r) => ({ key: r.key?.toString('utf8') ?? null, value: r.value })) });
    });
    const used = process.cpuUsage(cpu0);
    const oneStageCpuMicros = (used.user + used.system) / n;
    say(`  baseline one stage (consume → produce → commit): ${fmt(oneStage)} records/s, ${fmt(oneStageCpuMicros, 1)} µs CPU a record`);
    return { recordBytes, produce, consume, oneStage, oneStageCpuMicros };
  } finally {
    await producer.stop();
    await admin.deleteTopics({ topics: [a, b] }).catch(() => undefined);
    await admin.deleteGroups([`bench-consume-${id}`, `bench-stage-${id}`]).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// 2. CDRs for one run.

interface RunCdrs {
  source: string;
  messages: OutgoingMessage[];
  /** event id -> index of its first produced message. */
  index: Map<string, number>;
  producedAt: Float64Array;
  duplicates: number;
  invalid: number;
  unknownNumbers: number;
}

function makeCdrs(n: number, numbers: string[], encode: (cdr: CdrRawRecord) => Buffer, seed: number): RunCdrs {
  const source = `bench-${randomUUID().slice(0, 8)}`;
  const random = seededRandom(seed);
  const usageTypes = ['LCA', 'LCA', 'LCA', 'IVR', 'CHAT'];
  // After every generated anchor (by 2026-01-27) and the reassignments (2026-02-14).
  const from = Date.UTC(2026, 2, 2);
  const messages: OutgoingMessage[] = [];
  const index = new Map<string, number>();
  let duplicates = 0;
  let invalid = 0;
  let unknownNumbers = 0;
  let previous: CdrRawRecord | undefined;
  for (let i = 0; i < n; i++) {
    let cdr: CdrRawRecord;
    if (i % 200 === 7 && previous) {
      cdr = previous; // the platform sent the same CDR again: ingest rejects it as duplicate_cdr
      duplicates++;
    } else {
      const start = from + Math.floor(random() * 8 * 86_400) * 1000;
      const seconds = 5 + Math.floor(random() * 600);
      let calledNumber = numbers[Math.floor(random() * numbers.length)]!;
      if (i % 200 === 13) {
        calledNumber = 'not-a-number'; // ingest: invalid_number
        invalid++;
      } else if (i % 500 === 17) {
        calledNumber = `+1999555${String(i % 10_000).padStart(4, '0')}`; // resolve: unresolved_number
        unknownNumbers++;
      }
      cdr = {
        source,
        cdrId: `c${i}-${Math.floor(random() * 1e9).toString(36)}`,
        callingNumber: `+1212555${String(Math.floor(random() * 10_000)).padStart(4, '0')}`,
        calledNumber,
        usageType: usageTypes[Math.floor(random() * usageTypes.length)]!,
        startTime: start,
        endTime: start + seconds * 1000,
        durationSeconds: seconds,
        // Attributes as platforms send them, so that the record is the size of a real Avro CDR (~270 bytes).
        attributes: {
          agent_id: `ag-${Math.floor(random() * 5000)}`,
          trunk: `sip-trunk-${Math.floor(random() * 40)}`,
          queue: 'answering-main',
          codec: 'PCMU',
          channel: `SIP/carrier-${Math.floor(random() * 1e8).toString(16).padStart(8, '0')}`,
          disposition: 'ANSWERED',
          dcontext: 'from-pstn-tollfree',
          dstchannel: `SIP/agent-${Math.floor(random() * 1e8).toString(16).padStart(8, '0')}`,
          lastapp: 'Dial',
        },
        receivedAt: null,
      };
    }
    previous = cdr;
    const eventId = cdrEventId(cdr.source, cdr.cdrId);
    if (!index.has(eventId)) index.set(eventId, i);
    messages.push({ key: `${cdr.source}/${cdr.cdrId}`, value: encode(cdr), headers: standardHeaders({ eventId: cdr.cdrId }) });
  }
  return { source, messages, index, producedAt: new Float64Array(n), duplicates, invalid, unknownNumbers };
}

async function produceCdrs(producer: BatchProducer, run: RunCdrs): Promise<{ startedAt: number; ms: number }> {
  const startedAt = Date.now();
  await produceAll(producer, run.messages.length, (from, to) => {
    const now = Date.now();
    const slice = run.messages.slice(from, to);
    for (let i = 0; i < slice.length; i++) {
      slice[i]!.timestamp = now;
      run.producedAt[from + i] = now;
    }
    return { [topics.cdrRaw.name]: slice };
  });
  return { startedAt, ms: Date.now() - startedAt };
}

/**
 * Steady load at a fixed rate: slices of 1/20 s of records, each sent when its time comes (one
 * send in flight), so latency is measured below saturation rather than in a backlog.
 */
async function producePaced(producer: BatchProducer, run: RunCdrs, perSecond: number): Promise<{ startedAt: number; ms: number }> {
  const startedAt = Date.now();
  const slice = Math.max(50, Math.round(perSecond / 20));
  for (let from = 0; from < run.messages.length; from += slice) {
    const due = startedAt + (from * 1000) / perSecond;
    if (due > Date.now()) await sleep(due - Date.now());
    const now = Date.now();
    const messages = run.messages.slice(from, from + slice);
    for (let i = 0; i < messages.length; i++) {
      messages[i]!.timestamp = now;
      run.producedAt[from + i] = now;
    }
    await producer.send({ [topics.cdrRaw.name]: messages });
    checkDeadline('producing at a steady rate');
  }
  return { startedAt, ms: Date.now() - startedAt };
}

// ---------------------------------------------------------------------------------------------
// 3. Watching a run: a reader of the outputs, and samples of the services' metrics and lag.

interface Outputs {
  charged: Set<string>;
  rejected: number;
  rejectedBy: Map<string, number>;
  latencies: number[];
  /** The latency of each CDR produced after the warm-up. */
  warmLatencies: number[];
  firstOutputAt: number;
  lastOutputAt: number;
}

async function startReader(kafka: Kafka, admin: Admin, serde: AvroSerde, run: RunCdrs, warmupMs: number): Promise<{ outputs: Outputs; stop(): Promise<void> }> {
  const groupId = `bench-reader-${randomUUID().slice(0, 8)}`;
  const outTopics = [topics.usageCharged.name, topics.cdrRejected.name];
  await startGroupAtEnd(kafka, groupId, outTopics);
  const outputs: Outputs = { charged: new Set(), rejected: 0, rejectedBy: new Map(), latencies: [], warmLatencies: [], firstOutputAt: Infinity, lastOutputAt: 0 };
  const consumer = await runBatchConsumer(kafka, {
    groupId,
    topics: outTopics,
    fromBeginning: false,
    handle: async (records) => {
      const now = Date.now();
      let mine = 0;
      if (records[0]!.topic === topics.usageCharged.name) {
        // The event-id header is the CDR's event id: no decoding needed to tell this run's records.
        for (const r of records) {
          const eventId = r.headers['event-id'];
          const i = eventId === undefined ? undefined : run.index.get(eventId);
          if (i === undefined || outputs.charged.has(eventId!)) continue;
          outputs.charged.add(eventId!);
          outputs.latencies.push(now - run.producedAt[i]!);
          // producedAt[0] is when producing began (each slice is stamped when it is sent).
          if (run.producedAt[i]! - run.producedAt[0]! >= warmupMs) outputs.warmLatencies.push(now - run.producedAt[i]!);
          mine++;
        }
      } else {
        await serde.prepare(records.map((r) => r.value));
        for (const r of records) {
          const rejection = serde.decode<CdrRejectedRecord>(r.value!);
          if (rejection.source !== run.source) continue;
          outputs.rejected++;
          const key = `${rejection.stage}:${rejection.reason}`;
          outputs.rejectedBy.set(key, (outputs.rejectedBy.get(key) ?? 0) + 1);
          mine++;
        }
      }
      if (mine > 0) {
        outputs.firstOutputAt = Math.min(outputs.firstOutputAt, now);
        outputs.lastOutputAt = now;
      }
    },
  });
  return {
    outputs,
    stop: async () => {
      await consumer.stop();
      await admin.deleteGroups([groupId]).catch(() => undefined);
    },
  };
}

const STAGES = [
  { name: 'ingest', group: INGEST_GROUP, input: topics.cdrRaw.name },
  { name: 'resolve', group: RESOLVE_GROUP, input: topics.cdrAccepted.name },
  { name: 'rate', group: RATE_GROUP, input: topics.usageResolved.name },
  { name: 'drawdown', group: DRAWDOWN_GROUP, input: topics.usageRated.name },
] as const;
type StageName = (typeof STAGES)[number]['name'];

interface Sample {
  at: number;
  recordsIn: number[];
  busySeconds: number[];
  lag: number[];
  /** Per stage: cumulative counts of its record-latency histogram by upper bound (seconds), all input topics. */
  latency: Map<number, number>[];
  /** Per stage: batches handled, and its batch-duration histogram like `latency`. */
  batches: number[];
  batchDuration: Map<number, number>[];
  /** Per stage: the longest event-loop delay since the previous scrape (prom-client resets it on each). */
  loopDelayMax: number[];
}

/** A histogram's cumulative bucket counts by upper bound, summed over its label sets. */
function histogramBuckets(text: string, name: string): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}_bucket{`)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return buckets;
}

/** The smallest bucket bound holding quantile q of the records counted between two samples (an upper bound on it). */
function bucketQuantile(before: Map<number, number>, after: Map<number, number>, q: number): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  if (total <= 0) return NaN;
  for (const bound of bounds) if ((after.get(bound) ?? 0) - (before.get(bound) ?? 0) >= q * total) return bound;
  return Infinity;
}

function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Samples records in, busy time (batch duration sum) and consumer lag of the four stages. */
function startSampler(admin: Admin, pipeline: () => RunningService & { services: RunningService[] }, intervalMs = 500): { samples: Sample[]; stop(): Promise<void> } {
  const samples: Sample[] = [];
  let stopped = false;
  const take = async () => {
    const services = pipeline().services;
    const texts = await Promise.all(STAGES.map((s) => services.find((x) => x.name === s.name)).map((s) => (s ? fetch(`${s.url}/metrics`).then((r) => r.text()).catch(() => '') : Promise.resolve(''))));
    const lag = await Promise.all(STAGES.map((s) => groupLag(admin, s.group, s.input).catch(() => NaN)));
    samples.push({
      at: Date.now(),
      recordsIn: texts.map((t) => metricSum(t, 'rateline_records_in_total')),
      busySeconds: texts.map((t) => metricSum(t, 'rateline_batch_duration_seconds_sum')),
      lag,
      latency: texts.map((t) => histogramBuckets(t, 'rateline_record_latency_seconds')),
      batches: texts.map((t) => metricSum(t, 'rateline_batch_duration_seconds_count')),
      batchDuration: texts.map((t) => histogramBuckets(t, 'rateline_batch_duration_seconds')),
      loopDelayMax: texts.map((t) => (t ? metricSum(t, 'rateline_nodejs_eventloop_lag_max_seconds') : NaN)),
    });
  };
  const loop = (async () => {
    await Promise.resolve(); // lets the caller add a starting sample first
    while (!stopped) {
      const t = Date.now();
      await take();
      await sleep(Math.max(0, intervalMs - (Date.now() - t)));
    }
    await take();
  })();
  return {
    samples,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

interface StageFigures {
  name: string;
  records: number;
  perSecond: number;
  /** Records per second of the stage's own batch handling time (decode, domain, produce, database). */
  perBusySecond: number;
  maxLag: number;
  meanLag: number;
  /** The hop into this stage (previous stage's produce → this batch done), p50 and p99 as histogram bucket bounds. */
  hopP50: number;
  hopP99: number;
  /** Records a batch on average, and a batch's duration p50 and p99 as bucket bounds: a long tail here is a slow batch, not a queue. */
  meanBatch: number;
  batchP50: number;
  batchP99: number;
  /** The longest the stage's event loop was held up (a stall of the whole process: CPU taken away, GC, a long synchronous step). */
  loopDelayMax: number;
}

function stageFigures(samples: Sample[]): StageFigures[] {
  return STAGES.map((stage, s) => {
    const base = samples[0]!.recordsIn[s]!;
    const final = samples[samples.length - 1]!.recordsIn[s]!;
    const firstMove = samples.findIndex((x) => x.recordsIn[s]! > base);
    const lastMove = samples.findIndex((x) => x.recordsIn[s]! >= final);
    const begin = samples[Math.max(0, firstMove - 1)]!.at;
    const end = samples[lastMove]!.at;
    const busy = samples[samples.length - 1]!.busySeconds[s]! - samples[0]!.busySeconds[s]!;
    const lags = samples.map((x) => x.lag[s]!).filter(Number.isFinite);
    return {
      name: stage.name,
      records: final - base,
      perSecond: firstMove < 0 ? NaN : rate(final - base, end - begin),
      perBusySecond: busy > 0 ? (final - base) / busy : NaN,
      maxLag: Math.max(0, ...lags),
      meanLag: lags.length ? lags.reduce((a, b) => a + b, 0) / lags.length : NaN,
      hopP50: bucketQuantile(samples[0]!.latency[s]!, samples[samples.length - 1]!.latency[s]!, 0.5),
      hopP99: bucketQuantile(samples[0]!.latency[s]!, samples[samples.length - 1]!.latency[s]!, 0.99),
      meanBatch: (final - base) / Math.max(1, samples[samples.length - 1]!.batches[s]! - samples[0]!.batches[s]!),
      batchP50: bucketQuantile(samples[0]!.batchDuration[s]!, samples[samples.length - 1]!.batchDuration[s]!, 0.5),
      batchP99: bucketQuantile(samples[0]!.batchDuration[s]!, samples[samples.length - 1]!.batchDuration[s]!, 0.99),
      loopDelayMax: Math.max(0, ...samples.slice(1).map((x) => x.loopDelayMax[s]!).filter(Number.isFinite)),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// 4. One pipeline run.

interface RunReport {
  mode: 'steady' | 'backlog';
  n: number;
  produceMs: number;
  /** CDRs a second the steady run was paced at (0: as fast as the producer goes). */
  steadyRate: number;
  pipelineStartMs: number;
  endToEnd: number;
  windowMs: number;
  latencyP50: number;
  latencyP99: number;
  /** Steady mode: the CDRs produced after the warm-up (the first warmupSeconds of producing). */
  warm: { records: number; p50: number; p99: number; warmupSeconds: number };
  charged: number;
  rejected: number;
  rejectedBy: Map<string, number>;
  expectedRejected: number;
  stages: StageFigures[];
  cpu: ReturnType<typeof cpuSince>;
  timedOut: boolean;
}

interface Env {
  config: RuntimeConfig;
  kafka: Kafka;
  admin: Admin;
  serde: AvroSerde;
  producer: BatchProducer;
  encode: (cdr: CdrRawRecord) => Buffer;
  numbers: string[];
}

async function drainPipeline(env: Env): Promise<number> {
  let backlog = 0;
  await waitFor(
    'the pipeline to drain earlier records',
    async () => {
      const lags = await Promise.all(STAGES.map((s) => groupLag(env.admin, s.group, s.input)));
      backlog = Math.max(backlog, ...lags);
      return lags.every((l) => l === 0);
    },
    500,
  );
  return backlog;
}

/**
 * The production shape: each stage its own process (its main.ts, configured by the environment as
 * deployed), ready once each has logged that it started (reference tables loaded, group joined).
 */
async function startServiceProcesses(env: Env): Promise<RunningService & { services: RunningService[] }> {
  const childEnv = {
    KAFKA_BROKERS: env.config.kafka.brokers.join(','),
    SCHEMA_REGISTRY_URL: env.config.registry.url,
    DATABASE_URL: env.config.postgres.url,
    INGEST_DEDUPE_WINDOW_DAYS: String(MAX_DEDUPE_WINDOW_DAYS),
    OPS_PORT: '0',
  };
  const started = STAGES.map((st) => new ServiceProcess(st.name, childEnv));
  serviceProcesses.push(...started);
  for (const p of started) p.start();
  const stopAll = async () => {
    await Promise.all(started.map((p) => p.stop()));
    serviceProcesses.splice(0, serviceProcesses.length, ...serviceProcesses.filter((p) => !started.includes(p)));
  };
  try {
    await waitFor('the four service processes to start', () => {
      const exited = started.find((p) => p.exitCode !== null && p.exitCode !== undefined);
      if (exited) throw new Error(`${exited.name} exited (${exited.exitCode}) while starting; its log:\n${exited.logTail(20)}`);
      return started.every((p) => p.startsLogged() > 0 && p.opsUrl() !== undefined);
    }, 100);
  } catch (err) {
    await stopAll();
    throw err;
  }
  const services: RunningService[] = started.map((p) => ({ name: p.name, url: p.opsUrl()!, stop: async () => void (await p.stop()) }));
  return { name: 'pipeline (processes)', url: services[0]!.url, services, stop: stopAll };
}

async function runPipeline(env: Env, mode: 'steady' | 'backlog', options: BenchOptions, holder: { pipeline?: RunningService & { services: RunningService[] } }, steadyRate: number): Promise<RunReport> {
  const run = makeCdrs(options.n, env.numbers, env.encode, mode === 'steady' ? 11 : 23);
  const deps = { kafka: env.kafka, serde: env.serde, logger, clock: systemClock };
  let pipelineStartMs = 0;
  const startIt = async () => {
    const t0 = Date.now();
    holder.pipeline = options.shape === 'processes' ? await startServiceProcesses(env) : await startPipeline(env.config, deps, STAGES.map((st) => st.name), HISTORIC_CDRS);
    pipelineStartMs = Date.now() - t0;
  };
  if (mode === 'steady') {
    await startIt();
    const backlog = await drainPipeline(env);
    if (backlog > 0) say(`  (drained ${fmt(backlog)} records left on the pipeline's topics by earlier runs first)`);
  }
  const reader = await startReader(env.kafka, env.admin, env.serde, run, mode === 'steady' ? options.warmupSeconds * 1000 : Infinity);
  const expectedRejected = run.duplicates + run.invalid + run.unknownNumbers;
  let sampler: ReturnType<typeof startSampler> | undefined;
  let cpu0 = cpuSnapshot();
  let produced: { startedAt: number; ms: number };
  let timedOut = false;
  let windowStart: number;
  try {
    if (mode === 'steady') {
      sampler = startSampler(env.admin, () => holder.pipeline!);
      await sleep(600);
      cpu0 = cpuSnapshot();
      produced = steadyRate > 0 ? await producePaced(env.producer, run, steadyRate) : await produceCdrs(env.producer, run);
      windowStart = produced.startedAt;
    } else {
      produced = await produceCdrs(env.producer, run);
      cpu0 = cpuSnapshot();
      // The window starts when the pipeline is asked to start: its start-up (reference tables) counts.
      windowStart = Date.now();
      await startIt();
      sampler = startSampler(env.admin, () => holder.pipeline!);
      // A fresh pipeline's counters start at zero, at the moment it was asked to start.
      sampler.samples.push({ at: windowStart, recordsIn: STAGES.map(() => 0), busySeconds: STAGES.map(() => 0), lag: STAGES.map(() => NaN), latency: STAGES.map(() => new Map()), batches: STAGES.map(() => 0), batchDuration: STAGES.map(() => new Map()), loopDelayMax: STAGES.map(() => NaN) });
    }
    say(`  produced ${fmt(options.n)} CDRs to cdr.raw in ${fmt(produced.ms / 1000, 1)} s (${fmt(rate(options.n, produced.ms))}/s)${mode === 'backlog' ? `; pipeline started in ${fmt(pipelineStartMs / 1000, 1)} s` : ''}`);
    let lastReport = Date.now();
    try {
      await waitFor(
        'every CDR of the run to be charged or rejected',
        () => {
          const done = reader.outputs.charged.size + reader.outputs.rejected;
          if (Date.now() - lastReport > 10_000) {
            lastReport = Date.now();
            say(`  ... ${fmt(done)} of ${fmt(options.n)} charged or rejected`);
          }
          return done >= options.n;
        },
        100,
      );
      await sleep(1_000); // a last sample after the end, and late duplicates if any
    } catch (err) {
      if (!(err instanceof BenchTimeout)) throw err;
      timedOut = true;
      say(`  TIME LIMIT (${options.timeoutSeconds} s) reached: reporting what arrived so far`);
    }
  } finally {
    await sampler?.stop();
    await reader.stop();
  }
  const out = reader.outputs;
  const cpu = cpuSince(cpu0);
  const windowMs = out.lastOutputAt - windowStart;
  const sorted = Float64Array.from(out.latencies).sort();
  const warmSorted = Float64Array.from(out.warmLatencies).sort();
  return {
    mode,
    n: options.n,
    produceMs: produced.ms,
    steadyRate,
    pipelineStartMs,
    endToEnd: rate(out.charged.size + out.rejected, windowMs),
    windowMs,
    latencyP50: percentile(Array.from(sorted), 50),
    latencyP99: percentile(Array.from(sorted), 99),
    warm: { records: warmSorted.length, p50: percentile(Array.from(warmSorted), 50), p99: percentile(Array.from(warmSorted), 99), warmupSeconds: options.warmupSeconds },
    charged: out.charged.size,
    rejected: out.rejected,
    rejectedBy: out.rejectedBy,
    expectedRejected,
    stages: stageFigures(sampler!.samples),
    cpu,
    timedOut,
  };
}

// ---------------------------------------------------------------------------------------------
// 4b. Stages alone: each timed stage drains an input pre-filled with this run's records, with no
// other stage running, so that its ratio to the raw one-stage pipe (measured the same way: a
// pre-filled topic, consume → produce → commit) is known without the other stages' CPU.

interface StageAloneReport {
  name: StageName;
  records: number;
  startMs: number;
  ms: number;
  perSecond: number;
  /** Records per second of the stage's own batch time (decode, domain, produce, database). */
  perBusySecond: number;
  /** This process's CPU time over the window per record (the stage plus idle bench polling). */
  cpuMicrosPerRecord: number;
  cpu: ReturnType<typeof cpuSince>;
  profile: ProfileSummary | undefined;
  timedOut: boolean;
}

async function metricTotal(service: RunningService | undefined, name: 'recordsIn' | 'busy'): Promise<number> {
  const metrics = (service as (RunningService & { metrics?: ServiceMetrics }) | undefined)?.metrics;
  if (!metrics) return NaN;
  if (name === 'recordsIn') return (await metrics.recordsIn.get()).values.reduce((a, v) => a + v.value, 0);
  return (await metrics.batchSeconds.get()).values.filter((v) => v.metricName?.endsWith('_sum')).reduce((a, v) => a + v.value, 0);
}

/** Waits until these stages' groups have nothing left on their inputs (committed at most 1 s late). */
async function drainGroups(env: Env, names: readonly StageName[]): Promise<number> {
  let backlog = 0;
  await waitFor(
    `${names.join(', ')} to drain`,
    async () => {
      const lags = await Promise.all(STAGES.filter((s) => names.includes(s.name)).map((s) => groupLag(env.admin, s.group, s.input)));
      backlog = Math.max(backlog, ...lags);
      return lags.every((l) => l === 0);
    },
    250,
  );
  return backlog;
}

async function runStagesAlone(env: Env, options: BenchOptions, holder: { pipeline?: RunningService & { services: RunningService[] } }): Promise<StageAloneReport[]> {
  const deps = { kafka: env.kafka, serde: env.serde, logger, clock: systemClock };
  const start = async (names: StageName[]) => {
    holder.pipeline = await startPipeline(env.config, deps, names, HISTORIC_CDRS);
    return holder.pipeline;
  };
  const stop = async () => {
    const p = holder.pipeline;
    holder.pipeline = undefined;
    await p?.stop();
  };
  // Nothing of earlier runs may wait on the inputs: it would be timed with this run's records.
  const left = await Promise.all(STAGES.map((s) => groupLag(env.admin, s.group, s.input)));
  if (left.some((l) => l > 0)) {
    say(`  draining records left on the pipeline's topics first (${left.map((l) => fmt(l)).join(', ')})`);
    await start(STAGES.map((s) => s.name));
    await drainGroups(env, STAGES.map((s) => s.name));
    await stop();
  }
  const run = makeCdrs(options.n, env.numbers, env.encode, 31);
  const produced = await produceCdrs(env.producer, run);
  say(`  produced ${fmt(options.n)} CDRs to cdr.raw in ${fmt(produced.ms / 1000, 1)} s`);

  const last = Math.max(...options.stages.map((n) => STAGES.findIndex((s) => s.name === n)));
  const reports: StageAloneReport[] = [];
  let untimed: StageName[] = [];
  for (const stage of STAGES.slice(0, last + 1)) {
    if (!options.stages.includes(stage.name)) {
      untimed.push(stage.name);
      continue;
    }
    if (untimed.length > 0) {
      // Fill this stage's input with the stages before it, running together, untimed.
      const t = Date.now();
      await start(untimed);
      await drainGroups(env, untimed);
      await stop();
      say(`  pre-filled ${stage.input} with ${untimed.join(' + ')} in ${fmt((Date.now() - t) / 1000, 1)} s`);
      untimed = [];
    }
    const waiting = await groupLag(env.admin, stage.group, stage.input);
    const t0 = Date.now();
    const pipeline = await start([stage.name]);
    const joinedAt = Date.now();
    const service = pipeline.services[0];
    const cpu0 = cpuSnapshot();
    const profiling = options.cpuProf ? await startProfile() : undefined;
    const in0 = await metricTotal(service, 'recordsIn');
    let first = Infinity;
    let done = 0;
    let lastAt = joinedAt;
    let timedOut = false;
    let lagCheckedAt = joinedAt;
    let sharedWith = false;
    try {
      await waitFor(
        `${stage.name} to drain ${fmt(waiting)} records`,
        async () => {
          const count = (await metricTotal(service, 'recordsIn')) - in0;
          const now = Date.now();
          if (count > 0) first = Math.min(first, now);
          if (count > done) lastAt = now;
          done = count;
          if (done >= waiting) return true;
          // Another process in the group (a test running the services) takes partitions: stop
          // once the group has nothing left rather than wait for records it will never see.
          if (now - lastAt > 2_000 && now - lagCheckedAt > 1_000) {
            lagCheckedAt = now;
            if ((await groupLag(env.admin, stage.group, stage.input)) === 0) return (sharedWith = true);
          }
          return false;
        },
        5,
      );
    } catch (err) {
      if (!(err instanceof BenchTimeout)) throw err;
      timedOut = true;
    }
    const profile = await profiling?.stop();
    const cpu = cpuSince(cpu0);
    const busy = await metricTotal(service, 'busy');
    await stop();
    const ms = lastAt - Math.min(first, joinedAt);
    let summary: ProfileSummary | undefined;
    if (profile) {
      const file = `${options.cpuProf}${options.cpuProf!.endsWith('/') ? '' : '-'}${stage.name}.cpuprofile`;
      writeProfile(file, profile);
      summary = summariseProfile(profile, 20);
      say(`  ${stage.name}: CPU profile written to ${file}`);
    }
    if (sharedWith) say(`  WARNING: ${stage.name} saw ${fmt(done)} of ${fmt(waiting)} records: another member of ${stage.group} took the rest; its figure is not comparable`);
    const cpuMicrosPerRecord = (cpu.processCores * ms * 1000) / done;
    reports.push({ name: stage.name, records: done, startMs: joinedAt - t0, ms, perSecond: rate(done, ms), perBusySecond: busy > 0 ? done / busy : NaN, cpuMicrosPerRecord, cpu, profile: summary, timedOut });
    say(`  ${stage.name} alone: ${fmt(done)} records in ${fmt(ms / 1000, 2)} s = ${fmt(rate(done, ms))}/s, ${fmt(cpuMicrosPerRecord, 1)} µs CPU a record (start ${fmt((joinedAt - t0) / 1000, 1)} s; load ${cpu.load})`);
    if (timedOut) {
      say(`  TIME LIMIT (${options.timeoutSeconds} s) reached`);
      break;
    }
  }
  return reports;
}

function printStagesAlone(options: BenchOptions, baseline: Baseline | undefined, reports: StageAloneReport[]): void {
  const rows: [string, string, string][] = [];
  const row = (what: string, value: string, note = '') => rows.push([what, value, note]);
  say('');
  say(`rateline stages alone: N=${fmt(options.n)} CDRs, ${options.brands} brands, ${fmt(options.accounts)} accounts; each stage drains its pre-filled input with no other stage running; ${os.cpus().length} cores`);
  if (baseline) row('baseline one stage (consume → produce → commit)', `${fmt(baseline.oneStage)}/s`, `${baseline.recordBytes}-byte records, 6 partitions, same run; ${fmt(baseline.oneStageCpuMicros, 1)} µs CPU/record`);
  for (const r of reports) {
    const ratio = baseline ? `${fmt(r.perSecond / baseline.oneStage, 2)} × one stage; ` : '';
    row(`stage ${r.name} alone${r.timedOut ? ' (TIMED OUT)' : ''}`, `${fmt(r.perSecond)}/s`, `${ratio}${fmt(r.records)} in ${fmt(r.ms / 1000, 2)} s; ${fmt(r.cpuMicrosPerRecord, 1)} µs CPU/record; ${fmt(r.perBusySecond)}/s of its own batch time; process ${fmt(r.cpu.processCores, 2)} cores, broker ${fmt(r.cpu.brokerCores, 2)}; load ${r.cpu.load}`);
  }
  if (baseline && reports.length > 1) {
    // Stages in series share the cores: the chain's ceiling is the harmonic sum of the stages.
    const chain = 1 / reports.reduce((a, r) => a + 1 / r.perSecond, 0);
    row(`stages in series, one after another (1 / Σ 1/rate)`, `${fmt(chain)}/s`, `${fmt(chain / (baseline.oneStage / reports.length), 2)} × (one stage / ${reports.length} hops = ${fmt(baseline.oneStage / reports.length)}/s)`);
  }
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  say('');
  for (const [a, b, c] of rows) say(`${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`);
  if (baseline && reports.length > 0) {
    // CPU a record is steadier than records per second on a shared machine: say what it shows.
    say('');
    say(`what limits it: CPU a record. The raw pipe spends ${fmt(baseline.oneStageCpuMicros, 1)} µs of this process's CPU a record (opaque bytes, no headers);`);
    for (const r of reports) {
      const owners = r.profile ? `; profile: ${r.profile.byOwner.filter((o) => o.owner !== 'idle').slice(0, 4).map((o) => `${o.owner} ${fmt(o.pct)}%`).join(', ')}${r.profile.byOwner.find((o) => o.owner === 'idle') ? `, idle ${fmt(r.profile.byOwner.find((o) => o.owner === 'idle')!.pct)}%` : ''}` : '';
      say(`  ${r.name}: ${fmt(r.cpuMicrosPerRecord, 1)} µs = ${fmt(r.cpuMicrosPerRecord / baseline.oneStageCpuMicros, 1)} × the raw pipe's${owners}`);
    }
    say('  (see bench/README.md for where that CPU goes; --cpu-prof <prefix> profiles each stage)');
  }
  for (const r of reports) {
    if (!r.profile) continue;
    say('');
    say(`${r.name}:`);
    formatSummary(r.profile, say);
  }
  say('');
}

// ---------------------------------------------------------------------------------------------
// 5. The table.

function printReport(options: BenchOptions, baseline: Baseline | undefined, reports: RunReport[]): void {
  const rows: [string, string, string][] = [];
  const row = (what: string, value: string, note = '') => rows.push([what, value, note]);
  say('');
  say(`rateline pipeline benchmark: N=${fmt(options.n)} CDRs, ${options.brands} brands, ${fmt(options.accounts)} accounts, ${options.numbersPerAccount} numbers each; ${options.shape === 'processes' ? 'each stage its own process' : 'the four stages in this process'}; ${os.cpus().length} cores`);
  if (baseline) {
    row('baseline produce (kafkajs, idempotent, 5k a send, 4 in flight)', `${fmt(baseline.produce)}/s`, `${baseline.recordBytes}-byte records, 6 partitions`);
    row('baseline consume (group, runBatchConsumer)', `${fmt(baseline.consume)}/s`);
    row('baseline one stage (consume → produce → commit)', `${fmt(baseline.oneStage)}/s`, 'the raw pipe a stage can reach');
  }
  for (const r of reports) {
    const label = r.mode === 'steady' ? 'steady (services running while producing)' : 'backlog (N produced first, then the pipeline started)';
    rows.push(['', '', '']);
    row(`${label}`, r.timedOut ? 'TIMED OUT' : '');
    if (r.mode === 'steady') row('  produce of CDRs while the pipeline runs', `${fmt(rate(r.n, r.produceMs))}/s`, r.steadyRate > 0 ? `paced at ${fmt(r.steadyRate)}/s` : 'as fast as the producer goes');
    else row('  pipeline start (ref tables loaded)', `${fmt(r.pipelineStartMs / 1000, 1)} s`, 'counted in end-to-end (window starts at start-up)');
    for (const s of r.stages) {
      const ratio = baseline ? ` = ${fmt(s.perSecond / baseline.oneStage, 2)} × one stage` : '';
      row(`  stage ${s.name}`, `${fmt(s.perSecond)}/s`, `${fmt(s.records)} in${ratio}; ${fmt(s.perBusySecond)}/s of its own batch time; lag max ${fmt(s.maxLag)}, mean ${fmt(s.meanLag)}; hop in p50 ≤ ${fmt(s.hopP50, 3)} s, p99 ≤ ${fmt(s.hopP99, 3)} s; batches of ${fmt(s.meanBatch)} records, p50 ≤ ${fmt(s.batchP50, 3)} s, p99 ≤ ${fmt(s.batchP99, 3)} s; event loop held up ≤ ${fmt(s.loopDelayMax, 3)} s at most`);
    }
    const hops = STAGES.length;
    const ratio = baseline ? `${fmt(r.endToEnd / (baseline.oneStage / hops), 2)} × (one stage / ${hops} hops = ${fmt(baseline.oneStage / hops)}/s)` : '';
    row(r.mode === 'steady' ? '  end-to-end (first produce → last charged/rejected)' : '  end-to-end (pipeline start → last charged/rejected)', `${fmt(r.endToEnd)}/s`, `${fmt(r.windowMs / 1000, 1)} s; ${ratio}`);
    row('  latency produce → usage.charged at a reader, p50 / p99', `${fmt(r.latencyP50 / 1000, 2)} s / ${fmt(r.latencyP99 / 1000, 2)} s`);
    if (r.mode === 'steady' && r.warm.records > 0) {
      row(`  the same, CDRs produced after the first ${r.warm.warmupSeconds} s`, `${fmt(r.warm.p50 / 1000, 2)} s / ${fmt(r.warm.p99 / 1000, 2)} s`, `${fmt(r.warm.records)} charged; the first seconds meet services just started (JIT, connection pools)`);
    }
    const total = r.charged + r.rejected;
    row('  counts: charged + rejected = produced', `${fmt(r.charged)} + ${fmt(r.rejected)} = ${fmt(total)}`, total === r.n ? `OK (= ${fmt(r.n)})` : `MISMATCH: produced ${fmt(r.n)}`);
    row('  rejected by stage:reason', [...r.rejectedBy].map(([k, v]) => `${k} ${v}`).join(', '), `planted ${fmt(r.expectedRejected)}`);
    const slowest = [...r.stages].sort((a, b) => b.meanLag - a.meanLag)[0];
    if (options.shape === 'processes') {
      row('  CPU: the four service processes / this process (producer + reader)', `${fmt(r.cpu.serviceCores, 2)} / ${fmt(r.cpu.processCores, 2)} cores`, `broker ${fmt(r.cpu.brokerCores, 2)} cores; machine ${fmt(r.cpu.machineBusyPct)}% busy; load ${r.cpu.load}`);
    } else {
      row(`  CPU: this process (${STAGES.map((st) => st.name).join(', ')} + producer + reader)`, `${fmt(r.cpu.processCores, 2)} cores`, `broker ${fmt(r.cpu.brokerCores, 2)} cores; machine ${fmt(r.cpu.machineBusyPct)}% busy; load ${r.cpu.load}`);
    }
    if (slowest) row('  most lag (mean consumer lag)', slowest.name, `${fmt(slowest.meanLag)} records behind on average`);
  }
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  say('');
  for (const [a, b, c] of rows) say(a === '' && b === '' ? '' : `${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`);
  say('');
}

// ---------------------------------------------------------------------------------------------

async function endpoints(): Promise<StackEndpoints> {
  const { KAFKA_BROKERS, SCHEMA_REGISTRY_URL, DATABASE_URL } = process.env;
  if (KAFKA_BROKERS && SCHEMA_REGISTRY_URL && DATABASE_URL) return { kafkaBrokers: KAFKA_BROKERS, schemaRegistryUrl: SCHEMA_REGISTRY_URL, databaseUrl: DATABASE_URL };
  const running = runningStackEndpoints();
  if (running) return running;
  say('no local stack running: starting it (it keeps running afterwards; stop it with npm run stack -- down)');
  return startStack({ log: say });
}

async function main(): Promise<number> {
  const options = readOptions(process.argv.slice(2));
  deadline = Date.now() + options.timeoutSeconds * 1000;
  const config = loadRuntimeConfig('bench', { ...process.env, HTTP_PORT: '0' }, await endpoints());
  const kafka = createKafka(config.kafka, logger);
  const admin = kafka.admin();
  await admin.connect();
  const serde = new AvroSerde(config.registry.url);
  const holder: { pipeline?: RunningService & { services: RunningService[] } } = {};
  let producer: BatchProducer | undefined;
  let restoreTopics: (() => Promise<void>) | undefined;
  const stopPipeline = async () => {
    const p = holder.pipeline;
    holder.pipeline = undefined;
    await p?.stop();
  };
  const onSignal = () => {
    say('interrupted: stopping the pipeline');
    void stopPipeline().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    say(`broker ${config.kafka.brokers.join(',')}, registry ${config.registry.url}; time limit ${options.timeoutSeconds} s`);
    const encode = serde.encoder<CdrRawRecord>(await serde.register(valueSubject(topics.cdrRaw.name), loadSchema('cdr.raw')));

    // Reference data: published once per run; the same options give the same keys, so repeats are harmless.
    const t0 = Date.now();
    const parsed = parseReferenceFile(generateReference({ brands: options.brands, accountsPerBrand: Math.ceil(options.accounts / options.brands), numbersPerAccount: options.numbersPerAccount, seed: 1 }));
    if (!parsed.ok) throw new Error(`generated reference data does not parse: ${parsed.error.slice(0, 3).map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    const data: ReferenceData = parsed.value;
    const numbers = data.numbers.map((n) => n.number);
    const sample = makeCdrs(1_000, numbers, encode, 1);
    const recordBytes = Math.round(sample.messages.reduce((a, m) => a + m.value!.length, 0) / sample.messages.length);

    let baseline: Baseline | undefined;
    if (!options.skipBaseline) {
      say(`raw Kafka baseline: ${fmt(options.n)} records of ${recordBytes} bytes (the mean Avro CDR of this run)`);
      baseline = await rawBaseline(kafka, admin, options.n, recordBytes, options.accounts);
    }

    const changes = await applyTopics(kafka, serde, allTopics(data.brands.map((b) => b.code)));
    producer = await BatchProducer.connect(kafka);
    const counts = await publishReference(data, producer, serde);
    say(`reference data: ${Object.entries(counts).map(([t, c]) => `${t} ${fmt(c)}`).join(', ')} (generated and published in ${fmt((Date.now() - t0) / 1000, 1)} s; ${changes.length} topic changes)`);

    const busy = await otherMembers(admin);
    if (busy.length > 0) say(`WARNING: other processes consume with the pipeline's groups and will share its partitions: ${busy.join(', ')}`);
    const backlog = await Promise.all(STAGES.map((s) => groupLag(admin, s.group, s.input)));
    if (backlog.some((l) => l > 0)) say(`note: records already waiting on the pipeline's topics (ingest, resolve, rate, drawdown): ${backlog.map((l) => fmt(l)).join(', ')}`);
    if (options.maxMessageBytes > 0) {
      const pipelineTopics = [topics.cdrAccepted, topics.cdrRejected, topics.usageResolved, topics.usageRated, topics.usageCharged, topics.deadLetter].map((t) => t.name);
      restoreTopics = await raiseMaxMessageBytes(admin, pipelineTopics, options.maxMessageBytes);
      say(`max.message.bytes=${fmt(options.maxMessageBytes)} on ${pipelineTopics.join(', ')} for this run (restored at the end)`);
    }

    const env: Env = { config, kafka, admin, serde, producer, encode, numbers };
    const reports: RunReport[] = [];
    if (options.stages.length > 0) {
      say(`stages alone: ${options.stages.join(', ')}`);
      let alone: StageAloneReport[] = [];
      try {
        alone = await runStagesAlone(env, options, holder);
      } finally {
        await stopPipeline();
      }
      printStagesAlone(options, baseline, alone);
      return alone.every((r) => !r.timedOut) ? 0 : 1;
    }
    // Backlog first, so that steady mode can run at half its rate (latency below saturation).
    const modes: ('steady' | 'backlog')[] = options.mode === 'both' ? ['backlog', 'steady'] : options.mode === 'baseline' ? [] : [options.mode];
    for (const mode of modes) {
      const backlogRun = reports.find((r) => r.mode === 'backlog' && !r.timedOut);
      const steadyRate = mode === 'backlog' ? 0 : options.steadyRate === 'auto' ? (backlogRun ? Math.round(backlogRun.endToEnd / 2) : 0) : options.steadyRate;
      say(`pipeline run, ${mode}${options.shape === 'processes' ? ', each stage its own process' : ''}${steadyRate > 0 ? `, CDRs produced at ${fmt(steadyRate)}/s` : ''}:`);
      try {
        const report = await runPipeline(env, mode, options, holder, steadyRate);
        reports.push(report);
        if (report.timedOut) break;
      } finally {
        await stopPipeline();
      }
    }
    printReport(options, baseline, reports);
    return reports.every((r) => !r.timedOut && r.charged + r.rejected === r.n) ? 0 : 1;
  } catch (err) {
    if (err instanceof BenchTimeout) {
      say(`bench stopped: ${err.message} (limit ${options.timeoutSeconds} s; raise it with --timeout or BENCH_TIMEOUT_S)`);
      return 1;
    }
    throw err;
  } finally {
    await stopPipeline().catch((err: unknown) => say(`stopping the pipeline failed: ${(err as Error).message}`));
    await producer?.stop().catch(() => undefined);
    await restoreTopics?.().catch((err: unknown) => say(`restoring max.message.bytes failed: ${(err as Error).message}`));
    await admin.disconnect().catch(() => undefined);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
