import { describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import { applyTopics } from '../topics/apply.ts';
import { BatchProducer, runBatchConsumer, type ConsumedRecord } from '../runtime/kafka.ts';
import { resilientHandler, StageHealth } from '../runtime/consumer-loop.ts';
import { InvalidInputError, TransientError } from '../runtime/errors.ts';
import { createServiceMetrics } from '../runtime/metrics.ts';
import { startOpsServer } from '../runtime/http.ts';
import { silentLogger } from '../runtime/log.ts';
import { eventually, testKafka, testTopic, uniqueSuffix } from './helpers.ts';

/** The group's committed offsets on the topic, summed over its partitions. */
async function committedTotal(kafka: ReturnType<typeof testKafka>, groupId: string, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    return offsets[0]!.partitions.reduce((sum, p) => sum + Number(p.offset), 0);
  } finally {
    await admin.disconnect();
  }
}

describe('the consumer loop against the real broker', () => {
  it('retries a retryable failure, dead-letters a poison record with its reason, and commits only after processing', async () => {
    const kafka = testKafka();
    const input = testTopic('loop-in');
    const dlq = testTopic('loop-dlq', { partitions: 1 });
    await applyTopics(kafka, undefined, [input, dlq]);
    const producer = await BatchProducer.connect(kafka);
    const values = Array.from({ length: 20 }, (_, i) => (i === 7 ? 'poison' : `ok-${i}`));
    await producer.send({ [input.name]: values.map((value, i) => ({ key: `k${i % 4}`, value: Buffer.from(value) })) });

    const metrics = createServiceMetrics('loop-test');
    const processed: string[] = [];
    let transientFailures = 0;
    const handle = async (records: ConsumedRecord[]) => {
      // The broker "is down" for the first attempt: nothing of this batch may count as processed.
      if (transientFailures < 2) {
        transientFailures++;
        throw new TransientError('broker_unavailable', 'simulated outage');
      }
      if (records.some((r) => r.value?.toString() === 'poison')) throw new InvalidInputError('poison_record', 'this record can never be processed');
      for (const r of records) processed.push(r.value!.toString());
    };
    const groupId = `loop-${uniqueSuffix()}`;
    const consumer = await runBatchConsumer(kafka, {
      groupId,
      topics: [input.name],
      handle: resilientHandler(handle, { service: 'loop-test', producer, deadLetterTopic: dlq.name, logger: silentLogger, metrics, retry: { initialDelayMs: 10, maxDelayMs: 50 } }),
    });
    await eventually('19 good records processed', () => (new Set(processed).size === 19 ? true : undefined));
    await consumer.stop();

    expect(new Set(processed)).toEqual(new Set(values.filter((v) => v !== 'poison')));
    expect((await metrics.registry.getSingleMetricAsString('rateline_batch_retries_total'))).toMatch(/rateline_batch_retries_total\{code="broker_unavailable",service="loop-test"\} 2/);

    // The poison record is in the dead-letter topic with its original bytes and the error code.
    const dead: ConsumedRecord[] = [];
    const reader = await runBatchConsumer(kafka, { groupId: `dlq-${uniqueSuffix()}`, topics: [dlq.name], handle: async (records) => void dead.push(...records) });
    await eventually('the dead-lettered record', () => (dead.length === 1 ? true : undefined));
    await reader.stop();
    expect(dead[0]!.value!.toString()).toBe('poison');
    expect(dead[0]!.headers).toMatchObject({ 'dlq-error-code': 'poison_record', 'dlq-topic': input.name, 'dlq-service': 'loop-test' });

    // Offsets were committed after processing: a restarted consumer of the group gets nothing again.
    expect(await committedTotal(kafka, groupId, input.name)).toBe(20);
    await producer.stop();
  });

  it('gathers a fetch\'s partition batches into one call, each partition in order, with a poison record set aside alone and every offset committed', async () => {
    const kafka = testKafka();
    const input = testTopic('gather-in', { partitions: 6 });
    const dlq = testTopic('gather-dlq', { partitions: 1 });
    await applyTopics(kafka, undefined, [input, dlq]);
    const producer = await BatchProducer.connect(kafka);
    // 600 records over 24 keys: every partition gets some, each key's in the order sent.
    const values = Array.from({ length: 600 }, (_, i) => (i === 333 ? 'poison' : `k${i % 24}-${i}`));
    await producer.send({ [input.name]: values.map((value, i) => ({ key: `k${i % 24}`, value: Buffer.from(value) })) });

    const metrics = createServiceMetrics('gather-test');
    const calls: ConsumedRecord[][] = [];
    const processed: string[] = [];
    const handle = async (records: ConsumedRecord[]) => {
      calls.push(records);
      if (records.some((r) => r.value?.toString() === 'poison')) throw new InvalidInputError('poison_record', 'this record can never be processed');
      for (const r of records) processed.push(r.value!.toString());
    };
    const groupId = `gather-${uniqueSuffix()}`;
    const consumer = await runBatchConsumer(kafka, {
      groupId,
      topics: [input.name],
      gatherPartitions: true,
      handle: resilientHandler(handle, { service: 'gather-test', producer, deadLetterTopic: dlq.name, logger: silentLogger, metrics, retry: { initialDelayMs: 10, maxDelayMs: 50 } }),
    });
    await eventually('599 good records processed', () => (processed.length >= 599 ? true : undefined));
    await consumer.stop();

    // The records were waiting before the consumer joined: its first fetch held every partition, handed over as one call.
    expect(new Set(calls[0]!.map((r) => r.partition)).size).toBe(6);
    // Each record once, each key's records in the order sent, the poison record only dead-lettered.
    expect(processed).toHaveLength(599);
    expect(new Set(processed)).toEqual(new Set(values.filter((v) => v !== 'poison')));
    for (let k = 0; k < 24; k++) {
      const ofKey = processed.filter((v) => v.startsWith(`k${k}-`)).map((v) => Number(v.split('-')[1]));
      expect(ofKey).toEqual([...ofKey].sort((a, b) => a - b));
    }
    expect(await metrics.registry.getSingleMetricAsString('rateline_records_dead_lettered_total')).toMatch(/reason="poison_record".* 1/);

    expect(await committedTotal(kafka, groupId, input.name)).toBe(600);
    await producer.stop();
  });

  it('finds a poison record by halving the batch: only it is dead-lettered, the rest go on in order, and a bug (TypeError) never loops', async () => {
    const kafka = testKafka();
    const input = testTopic('halving-in', { partitions: 1 });
    const dlq = testTopic('halving-dlq', { partitions: 1 });
    await applyTopics(kafka, undefined, [input, dlq]);
    const producer = await BatchProducer.connect(kafka);
    const values = Array.from({ length: 1000 }, (_, i) => (i === 613 ? 'null-deref' : `ok-${i}`));
    await producer.send({ [input.name]: values.map((value) => ({ key: 'one-key', value: Buffer.from(value) })) });
    const metrics = createServiceMetrics('halving-test');
    const processed: string[] = [];
    let attempts = 0;
    const handle = async (records: ConsumedRecord[]) => {
      attempts++;
      // A bug that fails on one record (as `record.value!.length` on a null value would).
      for (const r of records) if (r.value!.toString() === 'null-deref') (null as unknown as { length: number }).length;
      for (const r of records) processed.push(r.value!.toString());
    };
    const consumer = await runBatchConsumer(kafka, {
      groupId: `halving-${uniqueSuffix()}`,
      topics: [input.name],
      handle: resilientHandler(handle, { service: 'halving-test', producer, deadLetterTopic: dlq.name, logger: silentLogger, metrics }),
    });
    try {
      await eventually('999 good records processed', () => (processed.length >= 999 ? true : undefined));
      // In their original order, each once: halving keeps the left half before the right.
      expect(processed).toEqual(values.filter((v) => v !== 'null-deref'));
      const dead: ConsumedRecord[] = [];
      const reader = await runBatchConsumer(kafka, { groupId: `dlq-${uniqueSuffix()}`, topics: [dlq.name], handle: async (records) => void dead.push(...records) });
      await eventually('the dead letter', () => (dead.length === 1 ? true : undefined));
      await reader.stop();
      expect(dead[0]!.value!.toString()).toBe('null-deref');
      expect(dead[0]!.headers).toMatchObject({ 'dlq-error-code': 'internal_error', 'dlq-topic': input.name, 'dlq-offset': '613', 'dlq-service': 'halving-test' });
      expect(Number(dead[0]!.headers['dlq-at'])).toBeGreaterThan(0);
      // About 2·log2(n) attempts per batch kafkajs delivered, not one per record.
      expect(attempts).toBeLessThan(60);
      expect(await metrics.registry.getSingleMetricAsString('rateline_batch_retries_total')).not.toMatch(/internal_error/);
    } finally {
      await consumer.stop();
      await producer.stop();
    }
  });

  it('a stop in the middle of a backoff returns at once, commits nothing of the batch, and the stage says degraded meanwhile', async () => {
    const kafka = testKafka();
    const input = testTopic('backoff-in', { partitions: 1 });
    await applyTopics(kafka, undefined, [input]);
    const producer = await BatchProducer.connect(kafka);
    await producer.send({ [input.name]: [1, 2, 3].map((i) => ({ key: 'k', value: Buffer.from(`r${i}`) })) });
    const metrics = createServiceMetrics('backoff-test');
    const health = new StageHealth(metrics);
    let failures = 0;
    const groupId = `backoff-${uniqueSuffix()}`;
    const consumer = await runBatchConsumer(kafka, {
      groupId,
      topics: [input.name],
      handle: resilientHandler(
        async () => {
          failures++;
          throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
        },
        { service: 'backoff-test', producer, deadLetterTopic: input.name, logger: silentLogger, metrics, health, retry: { initialDelayMs: 60_000, maxDelayMs: 60_000 } },
      ),
    });
    try {
      await eventually('the first failure', () => (failures > 0 ? true : undefined));
      expect(health.check()).toMatchObject({ ok: false, degraded: true, detail: expect.stringMatching(/^sqlstate_57P01: terminating connection/) });
      expect(await metrics.registry.getSingleMetricAsString('rateline_degraded')).toMatch(/rateline_degraded\{code="sqlstate_57P01",service="backoff-test"\} 1/);
      const stopping = Date.now();
      await consumer.stop();
      // The backoff was a minute; the stop did not wait it out.
      expect(Date.now() - stopping).toBeLessThan(10_000);
    } finally {
      await producer.stop();
    }
    const admin = kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchOffsets({ groupId, topics: [input.name] });
    await admin.disconnect();
    expect(offsets[0]!.partitions[0]!.offset).toBe('-1');
  });

  it('a consumer kafkajs gives up on (a non-retriable crash, as after a long broker outage) is started again and goes on', async () => {
    const kafka = testKafka();
    const input = testTopic('crash-in', { partitions: 1 });
    await applyTopics(kafka, undefined, [input]);
    const producer = await BatchProducer.connect(kafka);
    await producer.send({ [input.name]: [1, 2, 3].map((i) => ({ key: 'k', value: Buffer.from(`r${i}`) })) });
    const processed: string[] = [];
    let crashes = 0;
    const consumer = await runBatchConsumer(kafka, {
      groupId: `crash-${uniqueSuffix()}`,
      topics: [input.name],
      handle: async (records) => {
        // kafkajs does not restart a consumer whose error is not retriable: it would stay dead.
        if (crashes++ === 0) throw new kafkajs.KafkaJSNonRetriableError('Connection error: connect ECONNREFUSED');
        for (const r of records) processed.push(r.value!.toString());
      },
    });
    try {
      await eventually('the records processed after the crash', () => (processed.length === 3 ? true : undefined), 30_000);
      expect(processed).toEqual(['r1', 'r2', 'r3']);
      expect(consumer.isRunning()).toBe(true);
    } finally {
      await consumer.stop();
      await producer.stop();
    }
  });

  it('serves /metrics for Prometheus and /healthz that reports a failing check', async () => {
    const metrics = createServiceMetrics('ops-test');
    metrics.recordsIn.inc({ topic: 'cdr.raw' }, 3);
    let consumerUp = true;
    const server = await startOpsServer({ host: '127.0.0.1', port: 0 }, metrics.registry, { consumer: () => ({ ok: consumerUp }) });
    try {
      const body = await (await fetch(`${server.url}/metrics`)).text();
      expect(body).toMatch(/rateline_records_in_total\{topic="cdr.raw",service="ops-test"\} 3/);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      consumerUp = false;
      const unhealthy = await fetch(`${server.url}/healthz`);
      expect(unhealthy.status).toBe(503);
      expect(await unhealthy.json()).toEqual({ status: 'unavailable', checks: { consumer: { ok: false } } });
    } finally {
      await server.close();
    }
  });
  it('consumes topics that match a pattern, including one created after it started', async () => {
    const kafka = testKafka();
    const run = uniqueSuffix();
    const first = testTopic('pattern', { name: `test.pattern-${run}.a` });
    const later = testTopic('pattern', { name: `test.pattern-${run}.b` });
    const unrelated = testTopic('pattern', { name: `test.other-${run}.a` });
    await applyTopics(kafka, undefined, [first, unrelated]);
    const seen: string[] = [];
    const consumer = await runBatchConsumer(kafka, {
      groupId: `pattern-${run}`,
      topics: [new RegExp(`^test\\.pattern-${run}\\.`)],
      topicRefreshMs: 500,
      handle: async (records) => {
        for (const r of records) seen.push(`${r.topic}:${r.value!.toString()}`);
      },
    });
    const producer = await BatchProducer.connect(kafka);
    try {
      await producer.send({ [first.name]: [{ key: 'k', value: Buffer.from('one') }], [unrelated.name]: [{ key: 'k', value: Buffer.from('not mine') }] });
      await eventually('the first topic consumed', () => (seen.includes(`${first.name}:one`) ? true : undefined), 60_000);
      // A new brand's topic, created while the consumer runs.
      await applyTopics(kafka, undefined, [later]);
      await producer.send({ [later.name]: [{ key: 'k', value: Buffer.from('two') }] });
      await eventually('the later topic consumed', () => (seen.includes(`${later.name}:two`) ? true : undefined), 60_000);
      expect(seen.filter((s) => s.startsWith(unrelated.name))).toEqual([]);
      // Rejoining did not deliver the first topic's record again.
      expect(seen.filter((s) => s === `${first.name}:one`)).toHaveLength(1);
    } finally {
      await producer.stop();
      await consumer.stop();
    }
  });
});
