import { randomUUID } from 'node:crypto';
import { createKafka, BatchProducer, standardHeaders } from '../runtime/kafka.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import { silentLogger } from '../runtime/log.ts';
import type { RuntimeConfig } from '../runtime/config.ts';
import type { CdrRawRecord } from '../contracts/records.ts';
import { topics, allTopics, valueSubject } from '../topics/catalog.ts';
import { applyTopics } from '../topics/apply.ts';

/** The sample CDR is a cdr.raw record as a telephony platform would send it. */
export type SampleCdr = CdrRawRecord;

/**
 * The foundation's end-to-end check, as a user sees it: topics and schemas applied, one Avro CDR
 * produced to cdr.raw through the registry, then read back from Kafka and decoded.
 */
export async function runDemo(config: RuntimeConfig, brands: string[], print: (line: string) => void): Promise<{ sent: SampleCdr; received: SampleCdr }> {
  const kafka = createKafka(config.kafka, silentLogger);
  const serde = new AvroSerde(config.registry.url);
  const changes = await applyTopics(kafka, serde, allTopics(brands));
  print(changes.length === 0 ? 'topics and schemas: already up to date' : `topics and schemas:\n  ${changes.join('\n  ')}`);

  const schemaId = await serde.register(valueSubject(topics.cdrRaw.name), loadSchema('cdr.raw'));
  const start = Date.UTC(2026, 10, 25, 14, 3, 7);
  const sent: SampleCdr = {
    source: 'demo',
    cdrId: `demo-${randomUUID()}`,
    callingNumber: '+12125550123',
    calledNumber: '+18005550100',
    usageType: 'LCA',
    startTime: start,
    endTime: start + 95_000,
    durationSeconds: 95,
    attributes: { disposition: 'ANSWERED' },
    receivedAt: Date.now(),
  };
  const producer = await BatchProducer.connect(kafka);
  await producer.send({ [topics.cdrRaw.name]: [{ key: `${sent.source}/${sent.cdrId}`, value: serde.encoder<SampleCdr>(schemaId)(sent), headers: standardHeaders({ eventId: sent.cdrId }) }] });
  await producer.stop();
  print(`produced CDR ${sent.cdrId} to ${topics.cdrRaw.name} (Avro, schema id ${schemaId})`);

  // Read it back with a throwaway consumer group from the end offsets of before the send.
  const consumer = kafka.consumer({ groupId: `rateline-demo-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: topics.cdrRaw.name, fromBeginning: true });
  const received = await new Promise<SampleCdr>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the CDR did not come back from ${topics.cdrRaw.name} within 60 s`)), 60_000);
    void consumer.run({
      eachBatch: async ({ batch }) => {
        await serde.prepare(batch.messages.map((m) => m.value));
        for (const message of batch.messages) {
          // cdr.raw is written by platforms we do not control: a record that does not decode is
          // not ours and must not stop the search (ingest rejects it with its reason).
          let cdr: SampleCdr;
          try {
            cdr = serde.decode<SampleCdr>(message.value, 'cdr.raw');
          } catch {
            continue;
          }
          if (cdr.cdrId === sent.cdrId) {
            clearTimeout(timer);
            resolve(cdr);
          }
        }
      },
    });
  });
  await consumer.disconnect();
  print(`consumed it back: ${JSON.stringify({ ...received, startTime: new Date(received.startTime).toISOString(), endTime: new Date(received.endTime).toISOString() })}`);
  return { sent, received };
}
