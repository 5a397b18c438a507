import type { CdrRejectedRecord } from '../contracts/records.ts';
import type { RuntimeConfig } from '../runtime/config.ts';
import { InvalidInputError } from '../runtime/errors.ts';
import { BatchProducer, createKafka, standardHeaders, type OutgoingMessage } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { topics } from '../topics/catalog.ts';
import { replayTopic } from '../runtime/replay.ts';

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
  /** Matching rejections that cannot go back in (a CSV line from a file job): fix the file and upload it again. */
  notRedrivable: number;
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
  const report: RedriveReport = { scanned: 0, matched: 0, notRedrivable: 0, republished: {} };
  const out: Record<string, OutgoingMessage[]> = {};
  report.scanned = await replayTopic<CdrRejectedRecord>(kafka, serde, topics.cdrRejected.name, options.since, async (rejection) => {
    if (rejection.reason !== options.reason || (options.stage && rejection.stage !== options.stage) || (options.source && rejection.source !== options.source)) return;
    const target = inputOf[rejection.stage];
    if (!target || rejection.payloadFormat !== 'avro-confluent') {
      report.notRedrivable++;
      return;
    }
    await serde.prepare([rejection.payload]);
    const original = serde.decode<Record<string, unknown>>(rejection.payload);
    report.matched++;
    (out[target.topic] ??= []).push({ key: target.key(original), value: rejection.payload, headers: standardHeaders({ eventId: String(original.eventId ?? original.cdrId) }) });
  });
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
