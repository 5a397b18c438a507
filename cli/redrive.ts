import { randomUUID } from 'node:crypto';
import type { CdrRejectedRecord } from '../contracts/records.ts';
import type { RuntimeConfig } from '../runtime/config.ts';
import { InvalidInputError } from '../runtime/errors.ts';
import { BatchProducer, createKafka, standardHeaders, type OutgoingMessage } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { topics } from '../topics/catalog.ts';

/** Where a stage's rejected payload goes back in: the topic that stage consumes. */
const inputOf: Record<string, { topic: string; key: (record: Record<string, unknown>) => string }> = {
  ingest: { topic: topics.cdrRaw.name, key: (r) => `${String(r.source)}/${String(r.cdrId)}` },
  resolve: { topic: topics.cdrAccepted.name, key: (r) => `${String(r.source)}/${String(r.cdrId)}` },
  rate: { topic: topics.usageResolved.name, key: (r) => String(r.accountId) },
  drawdown: { topic: topics.usageRated.name, key: (r) => String(r.accountId) },
};

export interface RedriveOptions {
  reason: string;
  stage?: string;
  source?: string;
  /** Only rejections written at or after this instant (Kafka timestamp). */
  since?: number;
  dryRun?: boolean;
}

export interface RedriveReport {
  scanned: number;
  matched: number;
  republished: Record<string, number>;
}

/**
 * Sends rejected records back to the topic of the stage that rejected them, once the cause is
 * fixed (a number assigned, a rule published). Safe to repeat: the payloads keep their event ids,
 * ingest de-duplicates on (source, CDR id) and drawdown on (event id, rating version).
 */
export async function redrive(config: RuntimeConfig, options: RedriveOptions): Promise<RedriveReport> {
  if (options.stage !== undefined && !inputOf[options.stage]) throw new InvalidInputError('invalid_parameters', `--stage must be one of ${Object.keys(inputOf).join(', ')}`);
  const kafka = createKafka(config.kafka, silentLogger);
  const serde = new AvroSerde(config.registry.url);
  const topic = topics.cdrRejected.name;
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  const starts = options.since === undefined ? ends.map((p) => ({ partition: p.partition, offset: p.low })) : await admin.fetchTopicOffsetsByTimestamp(topic, options.since);
  await admin.disconnect();
  const remaining = new Map<number, bigint>();
  for (const end of ends) {
    const start = starts.find((s) => s.partition === end.partition);
    const from = start && BigInt(start.offset) >= 0n ? BigInt(start.offset) : BigInt(end.high);
    if (BigInt(end.high) > from) remaining.set(end.partition, BigInt(end.high));
  }
  const report: RedriveReport = { scanned: 0, matched: 0, republished: {} };
  const out: Record<string, OutgoingMessage[]> = {};
  if (remaining.size > 0) {
    const groupId = `rateline-redrive-${randomUUID()}`;
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 500 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    consumer.on(consumer.events.GROUP_JOIN, () => {
      for (const s of starts) if (BigInt(s.offset) >= 0n) consumer.seek({ topic, partition: s.partition, offset: String(s.offset) });
    });
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        await serde.prepare(batch.messages.map((m) => m.value));
        const end = remaining.get(batch.partition);
        for (const message of batch.messages) {
          if (end === undefined || BigInt(message.offset) >= end) break;
          report.scanned++;
          const rejection = serde.decode<CdrRejectedRecord>(message.value!);
          if (BigInt(message.offset) + 1n >= end) remaining.delete(batch.partition);
          if (rejection.reason !== options.reason || (options.stage && rejection.stage !== options.stage) || (options.source && rejection.source !== options.source)) continue;
          const target = inputOf[rejection.stage];
          if (!target || rejection.payloadFormat !== 'avro-confluent') continue;
          await serde.prepare([rejection.payload]);
          const original = serde.decode<Record<string, unknown>>(rejection.payload);
          report.matched++;
          (out[target.topic] ??= []).push({ key: target.key(original), value: rejection.payload, headers: standardHeaders({ eventId: String(original.eventId ?? original.cdrId) }) });
        }
        if (remaining.size === 0) done();
      },
    });
    await finished;
    await consumer.stop();
    await consumer.disconnect();
    const cleanup = kafka.admin();
    await cleanup.connect();
    await cleanup.deleteGroups([groupId]).catch(() => undefined);
    await cleanup.disconnect();
  }
  for (const [t, messages] of Object.entries(out)) report.republished[t] = messages.length;
  if (!options.dryRun && report.matched > 0) {
    const producer = await BatchProducer.connect(kafka);
    try {
      await producer.send(out);
    } finally {
      await producer.stop();
    }
  }
  return report;
}
