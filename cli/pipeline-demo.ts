import { Decimal } from 'decimal.js';
import { MAX_DEDUPE_WINDOW_DAYS } from '../domain/cdr/index.ts';
import { loadReferenceFile, type ReferenceData } from '../domain/reference/index.ts';
import { publishReference } from '../contracts/reference.ts';
import type { CdrRawRecord, CdrRejectedRecord, UsageChargedRecord } from '../contracts/records.ts';
import type { RuntimeConfig } from '../runtime/config.ts';
import { BatchProducer, createKafka, runBatchConsumer, standardHeaders, type ConsumedRecord } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import { systemClock } from '../runtime/time.ts';
import { startPipeline } from '../services/all.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, topics, valueSubject } from '../topics/catalog.ts';

export const SAMPLE_REFERENCE = 'domain/reference/fixtures/sample-reference.json';

export async function loadReference(file: string): Promise<ReferenceData> {
  const loaded = await loadReferenceFile(file);
  if (!loaded.ok) throw new Error(`${file} is not valid reference data:\n  ${loaded.error.map((i) => `${i.path}: ${i.message}`).join('\n  ')}`);
  return loaded.value;
}

/**
 * The reference data with every account and subscription id given a run suffix (numbers keep
 * theirs and point at the suffixed accounts), so that each demo or test run starts its billing
 * periods with full buckets instead of continuing the previous run's.
 */
export function withRunSuffix(data: ReferenceData, suffix: string): ReferenceData {
  const account = (id: string) => `${id}-${suffix}`;
  return {
    ...data,
    subscriptions: data.subscriptions.map((s) => ({ ...s, subscriptionId: account(s.subscriptionId), accountId: account(s.accountId) })),
    numbers: data.numbers.map((n) => ({ ...n, assignments: n.assignments.map((a) => ({ ...a, assignmentId: account(a.assignmentId), accountId: account(a.accountId), subscriptionId: account(a.subscriptionId) })) })),
    customers: data.customers.map((c) => ({ ...c, accountId: account(c.accountId) })),
  };
}

/** Publishes a reference file to the ref.* topics (creating topics for its brands first). */
export async function publishReferenceFile(config: RuntimeConfig, file: string, suffix?: string): Promise<Record<string, number>> {
  const loaded = await loadReference(file);
  const data = suffix ? withRunSuffix(loaded, suffix) : loaded;
  const kafka = createKafka(config.kafka, silentLogger);
  const serde = new AvroSerde(config.registry.url);
  await applyTopics(kafka, serde, allTopics(data.brands.map((b) => b.code)));
  const producer = await BatchProducer.connect(kafka);
  try {
    return await publishReference(data, producer, serde);
  } finally {
    await producer.stop();
  }
}

/** Calls on the sample's numbers: ordinary ones, one each side of a reassignment, and bad ones. */
function sampleCalls(source: string): { cdrs: CdrRawRecord[]; bad: number } {
  const calls: [string, string, number, string][] = [
    ['+18005550100', '2026-03-05T15:00:00Z', 95, 'LCA'],
    ['+18005550100', '2026-03-05T16:30:00Z', 1820, 'LCA'],
    ['+18005550101', '2026-03-06T14:10:00Z', 31, 'LCA'],
    ['+18005550101', '2026-03-06T14:20:00Z', 240, 'IVR'],
    ['+18005550199', '2026-03-20T15:59:30Z', 61, 'LCA'], // before its reassignment: acct-us-1001
    ['+18005550199', '2026-03-20T16:00:30Z', 61, 'LCA'], // after it: acct-us-1002
    ['+448005550100', '2026-03-05T12:00:00Z', 300, 'CHAT'],
    ['+448005550100', '2026-03-05T12:30:00Z', 600, 'LCA'],
    ['+18665550100', '2026-03-05T14:00:00Z', 29, 'LCA'],
    ['+18665550100', '2026-03-05T14:05:00Z', 125, 'LCA'],
    ['+18005559999', '2026-03-05T15:00:00Z', 60, 'LCA'], // nobody's number: unresolved_number
    ['12', '2026-03-05T15:00:00Z', 60, 'LCA'], // not a number: invalid_number
  ];
  const cdrs = calls.map(([calledNumber, startIso, seconds, usageType], i) => {
    const start = Date.parse(startIso);
    return { source, cdrId: `call-${i + 1}`, callingNumber: '+12125550123', calledNumber, usageType, startTime: start, endTime: start + seconds * 1000, durationSeconds: seconds, attributes: {}, receivedAt: Date.now() };
  });
  cdrs.push({ ...cdrs[0]! }); // a duplicate delivery of the first call
  return { cdrs, bad: 3 };
}

/**
 * The main job on the local stack: reference data published, the four mediation services
 * running, sample CDRs through them, and what they charged printed per account.
 */
export async function runPipelineDemo(config: RuntimeConfig, print: (line: string) => void): Promise<{ charged: number; rejected: number; sent: number; run: string }> {
  const run = String(Date.now());
  const counts = await publishReferenceFile(config, SAMPLE_REFERENCE, run);
  print(`reference data published (accounts and subscriptions suffixed -${run}, so this run starts with full buckets): ${Object.entries(counts).map(([t, n]) => `${n} ${t}`).join(', ')}`);
  const kafka = createKafka(config.kafka, silentLogger);
  const serde = new AvroSerde(config.registry.url);
  const t0 = Date.now();
  // The sample calls are dated March 2026: a de-duplication window that reaches back to them.
  const pipeline = await startPipeline(config, { kafka, serde, logger: silentLogger, clock: systemClock }, undefined, { ingest: { dedupe: { windowDays: MAX_DEDUPE_WINDOW_DAYS } } });
  print(`pipeline started in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${pipeline.url}`);
  const source = `demo-${run}`;
  const { cdrs } = sampleCalls(source);
  const charged: UsageChargedRecord[] = [];
  const rejected: CdrRejectedRecord[] = [];
  const reader = await runBatchConsumer(kafka, {
    groupId: `rateline-demo-${source}`,
    topics: [topics.usageCharged.name, topics.cdrRejected.name],
    fromBeginning: false,
    handle: async (records: ConsumedRecord[]) => {
      await serde.prepare(records.map((r) => r.value));
      for (const r of records) {
        if (r.topic === topics.usageCharged.name) {
          const usage = serde.decode<UsageChargedRecord>(r.value!);
          if (usage.source === source) charged.push(usage);
        } else {
          const rejection = serde.decode<CdrRejectedRecord>(r.value!);
          if (rejection.source === source) rejected.push(rejection);
        }
      }
    },
  });
  try {
    // A new group starting at the end may miss records produced before it is assigned: wait for it.
    await new Promise((r) => setTimeout(r, 3000));
    const producer = await BatchProducer.connect(kafka);
    const encode = serde.encoder<CdrRawRecord>(await serde.register(valueSubject(topics.cdrRaw.name), loadSchema('cdr.raw')));
    await producer.send({ [topics.cdrRaw.name]: cdrs.map((c) => ({ key: `${c.source}/${c.cdrId}`, value: encode(c), headers: standardHeaders({ eventId: c.cdrId }) })) });
    await producer.stop();
    print(`produced ${cdrs.length} CDRs (source ${source}) to ${topics.cdrRaw.name}`);
    const deadline = Date.now() + 120_000;
    while (charged.length + rejected.length < cdrs.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  } finally {
    await reader.stop();
    await pipeline.stop();
  }

  print('\ncharged usage by account:');
  const byAccount = new Map<string, UsageChargedRecord[]>();
  for (const usage of charged) byAccount.set(usage.accountId, [...(byAccount.get(usage.accountId) ?? []), usage]);
  const width = Math.max(7, ...[...byAccount.keys()].map((a) => a.length));
  print(`  ${'account'.padEnd(width)} brand    calls  billable s  included s  overage s   amount`);
  for (const [account, usages] of [...byAccount].sort()) {
    const sum = (f: (u: UsageChargedRecord) => number) => usages.reduce((s, u) => s + f(u), 0);
    const amount = usages.reduce((s, u) => s.plus(u.amount), new Decimal(0));
    print(`  ${account.padEnd(width)} ${usages[0]!.brand.padEnd(8)} ${String(usages.length).padStart(5)} ${String(sum((u) => u.billableSeconds)).padStart(11)} ${String(sum((u) => u.includedSeconds)).padStart(11)} ${String(sum((u) => u.overageSeconds)).padStart(10)}   ${amount.toFixed(6)} ${usages[0]!.currency}`);
  }
  print('\nrejected:');
  for (const r of rejected) print(`  ${r.cdrId ?? '?'}: ${r.stage} ${r.reason} (${r.detail})`);
  print(`\n${cdrs.length} CDRs in: ${charged.length} charged + ${rejected.length} rejected${charged.length + rejected.length === cdrs.length ? ' (every CDR accounted for)' : ' (MISSING some: see the service logs)'}`);
  return { charged: charged.length, rejected: rejected.length, sent: cdrs.length, run };
}
