import type { Kafka } from 'kafkajs';
import type { CdrRejectedRecord, UsageChargedRecord } from '../../contracts/records.ts';
import { runBatchConsumer, type RunningConsumer } from '../../runtime/kafka.ts';
import type { AvroSerde } from '../../runtime/serde.ts';
import { topics } from '../../topics/catalog.ts';
import { uniqueSuffix } from '../helpers.ts';

/** What came out of the pipeline for one source: every delivery kept, to check duplicates too. */
export interface Outcomes {
  charged: Map<string, UsageChargedRecord[]>;
  rejected: Map<string, CdrRejectedRecord[]>;
  reader: RunningConsumer;
}

/** Reads usage.charged and cdr.rejected from the beginning, keeping this source's records by event id. */
export async function collectOutcomes(kafka: Kafka, serde: AvroSerde, source: string): Promise<Outcomes> {
  const charged = new Map<string, UsageChargedRecord[]>();
  const rejected = new Map<string, CdrRejectedRecord[]>();
  const reader = await runBatchConsumer(kafka, {
    groupId: `collect-${source}-${uniqueSuffix()}`,
    topics: [topics.usageCharged.name, topics.cdrRejected.name],
    handle: async (records) => {
      await serde.prepare(records.map((r) => r.value));
      for (const r of records) {
        if (r.topic === topics.usageCharged.name) {
          const usage = serde.decode<UsageChargedRecord>(r.value!);
          if (usage.source === source) charged.set(usage.eventId, [...(charged.get(usage.eventId) ?? []), usage]);
        } else {
          const rejection = serde.decode<CdrRejectedRecord>(r.value!);
          if (rejection.source === source) rejected.set(rejection.eventId, [...(rejected.get(rejection.eventId) ?? []), rejection]);
        }
      }
    },
  });
  return { charged, rejected, reader };
}
