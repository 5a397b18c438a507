import type { Kafka } from 'kafkajs';
import type { CdrRejectedRecord, UsageChargedRecord } from '../../contracts/records.ts';
import { runBatchConsumer, startGroupAtEnd, type RunningConsumer } from '../../runtime/kafka.ts';
import type { AvroSerde } from '../../runtime/serde.ts';
import { topics } from '../../topics/catalog.ts';
import { uniqueSuffix } from '../helpers.ts';

/** What came out of the pipeline for one source: every delivery kept, to check duplicates too. */
export interface Outcomes {
  charged: Map<string, UsageChargedRecord[]>;
  rejected: Map<string, CdrRejectedRecord[]>;
  reader: RunningConsumer;
  groupId: string;
}

/**
 * Reads usage.charged and cdr.rejected from their current end (call it before producing the
 * source's CDRs: every earlier suite's records on these shared topics are not read at all),
 * keeping this source's records by event id.
 */
export async function collectOutcomes(kafka: Kafka, serde: AvroSerde, source: string): Promise<Outcomes> {
  const charged = new Map<string, UsageChargedRecord[]>();
  const rejected = new Map<string, CdrRejectedRecord[]>();
  const groupId = `collect-${source}-${uniqueSuffix()}`;
  const watched = [topics.usageCharged.name, topics.cdrRejected.name];
  await startGroupAtEnd(kafka, groupId, watched);
  const reader = await runBatchConsumer(kafka, {
    groupId,
    topics: watched,
    handle: async (records) => {
      await serde.prepare(records.map((r) => r.value));
      for (const r of records) {
        // Another suite's poison on these topics is not this source's: a reader must not stop on it.
        let decoded: UsageChargedRecord | CdrRejectedRecord;
        try {
          decoded = serde.decode(r.value, r.topic === topics.usageCharged.name ? 'usage.charged' : 'cdr.rejected');
        } catch {
          continue;
        }
        if (decoded.source !== source) continue;
        if (r.topic === topics.usageCharged.name) charged.set(decoded.eventId, [...(charged.get(decoded.eventId) ?? []), decoded as UsageChargedRecord]);
        else rejected.set(decoded.eventId, [...(rejected.get(decoded.eventId) ?? []), decoded as CdrRejectedRecord]);
      }
    },
  });
  return { charged, rejected, reader, groupId };
}
