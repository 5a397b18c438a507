import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import { publishReference } from '../contracts/reference.ts';
import type { CdrRawRecord } from '../contracts/records.ts';
import { BatchProducer, standardHeaders } from '../runtime/kafka.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import { silentLogger } from '../runtime/log.ts';
import { systemClock } from '../runtime/time.ts';
import type { RunningService } from '../runtime/service.ts';
import { startPipeline } from '../services/all.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, topics, valueSubject } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { buildScenario } from './support/mediation-scenario.ts';
import { collectOutcomes, type Outcomes } from './support/collect.ts';

const CDRS = 100_000;
const scenario = buildScenario(uniqueSuffix(), CDRS);
const config = testConfig('mediation-e2e');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
let pipeline: RunningService;
let outcomes: Outcomes;

beforeAll(async () => {
  await applyTopics(kafka, serde, allTopics([]));
  const producer = await BatchProducer.connect(kafka);
  await publishReference(scenario.reference, producer, serde);
  await producer.stop();
  pipeline = await startPipeline(config, { kafka, serde, logger: silentLogger, clock: systemClock });
  outcomes = await collectOutcomes(kafka, serde, scenario.source);
});

afterAll(async () => {
  await outcomes?.reader.stop();
  await pipeline?.stop();
});

export async function produceCdrs(cdrs: CdrRawRecord[]): Promise<void> {
  const producer = await BatchProducer.connect(kafka);
  const encode = serde.encoder<CdrRawRecord>(await serde.register(valueSubject(topics.cdrRaw.name), loadSchema('cdr.raw')));
  for (let i = 0; i < cdrs.length; i += 5000) {
    await producer.send({ [topics.cdrRaw.name]: cdrs.slice(i, i + 5000).map((c) => ({ key: `${c.source}/${c.cdrId}`, value: encode(c), headers: standardHeaders({ eventId: c.cdrId }) })) });
  }
  await producer.stop();
}

describe(`the mediation pipeline end to end (${CDRS.toLocaleString('en-US')} CDRs, 3 brands, 10 accounts of 150 numbers)`, () => {
  it('charges or rejects every CDR, and the totals equal an independent calculation', { timeout: 900_000 }, async () => {
    const t0 = Date.now();
    await produceCdrs(scenario.cdrs);
    const rejectedTotal = Object.values(scenario.expected.rejectedByReason).reduce((a, b) => a + b, 0);
    await eventually(
      `${scenario.expected.charged} charged and ${rejectedTotal} rejected`,
      () => (outcomes.charged.size >= scenario.expected.charged && outcomes.rejected.size >= rejectedTotal ? true : undefined),
      600_000,
    );
    const seconds = (Date.now() - t0) / 1000;
    console.log(`[e2e] ${CDRS} CDRs through ingest, resolve, rate and drawdown in ${seconds.toFixed(1)} s (${Math.round(CDRS / seconds)} CDRs/s, all four services in one process)`);
    await new Promise((r) => setTimeout(r, 1000)); // anything extra would show up now

    // Counts in equal counts out: each CDR is charged or rejected, never both, never lost.
    expect(outcomes.charged.size).toBe(scenario.expected.charged);
    const reasons: Record<string, number> = {};
    for (const [, [rejection]] of outcomes.rejected) reasons[rejection!.reason] = (reasons[rejection!.reason] ?? 0) + 1;
    expect(reasons).toEqual(scenario.expected.rejectedByReason);
    const chargedCdrIds = new Set([...outcomes.charged.values()].map(([u]) => u!.cdrId));
    for (const [, [rejection]] of outcomes.rejected) {
      if (rejection!.reason !== 'duplicate_cdr') expect(chargedCdrIds.has(rejection!.cdrId!)).toBe(false);
    }
    const inputIds = new Set(scenario.cdrs.map((c) => c.cdrId));
    const outputIds = new Set([...chargedCdrIds, ...[...outcomes.rejected.values()].map(([r]) => r!.cdrId!)]);
    expect(outputIds).toEqual(inputIds);

    // Money and units per subscription equal the hand-written calculation.
    const actual = new Map<string, { currency: string; billable: number; included: number; overage: number; amount: Decimal }>();
    for (const [, deliveries] of outcomes.charged) {
      const usage = deliveries[0]!;
      for (const again of deliveries) expect(new Decimal(again.amount).equals(usage.amount)).toBe(true);
      const total = actual.get(usage.subscriptionId) ?? { currency: usage.currency, billable: 0, included: 0, overage: 0, amount: new Decimal(0) };
      total.billable += usage.billableSeconds;
      total.included += usage.includedSeconds;
      total.overage += usage.overageSeconds;
      total.amount = total.amount.plus(usage.amount);
      actual.set(usage.subscriptionId, total);
    }
    const asText = (m: typeof actual) => Object.fromEntries([...m].sort().map(([k, v]) => [k, `${v.billable}/${v.included}/${v.overage} ${v.amount.toFixed(6)} ${v.currency}`]));
    expect(asText(actual)).toEqual(asText(scenario.expected.bySubscription));

    // The reassigned number: calls before the change belong to the old account, after it to the new one.
    for (const [, [usage]] of outcomes.charged) {
      if (usage!.calledNumber !== scenario.reassignment.number) continue;
      expect(usage!.accountId).toBe(usage!.startTime < scenario.reassignment.at ? scenario.reassignment.from : scenario.reassignment.to);
    }
  });
});
