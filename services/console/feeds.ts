import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import type { CdrRejectedRecord } from '../../contracts/records.ts';
import type { Logger } from '../../runtime/log.ts';
import type { AvroSerde } from '../../runtime/serde.ts';
import { deleteGroup } from '../../runtime/kafka.ts';
import { topics } from '../../topics/catalog.ts';

/** One rejected CDR or dead letter, as the Today and Rejections screens list it. */
export interface Trouble {
  kind: 'rejected' | 'dead-letter';
  /** Where it sits: topic:partition:offset. */
  at: string;
  partition: number;
  offset: string;
  /** The brand header, when the record carried one (an unknown number has no brand yet). */
  brand: string | null;
  reason: string;
  detail: string;
  /** Stage (rejections) or service (dead letters). */
  where: string;
  source: string | null;
  cdrId: string | null;
  /** Could go back to be processed again: Confluent Avro bytes kept. */
  redrivable: boolean;
  time: number;
}

/** dlq-at is epoch milliseconds as text (runtime/consumer-loop.ts); older records may carry an ISO instant. */
const dlqAt = (value: string | null): number | undefined => {
  if (value === null) return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
};

const header = (value: unknown): string | null => {
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === null ? null : String(first);
};

/**
 * Follows cdr.rejected and ops.dead-letter from `sinceMs` back (looked up by timestamp, so a
 * start never reads a long history) and keeps the newest `keep` records in memory. Undecodable
 * records are shown as what they are rather than dropped: the console reads, it does not judge.
 */
export class TroubleFeed {
  private readonly items: Trouble[] = [];
  private consumer: Consumer | undefined;
  private groupId = `rateline-console-${randomUUID()}`;

  constructor(
    private readonly kafka: Kafka,
    private readonly serde: AvroSerde,
    private readonly logger: Logger,
    private readonly keep = 20_000,
  ) {}

  async start(sinceMs: number): Promise<void> {
    const watched = [topics.cdrRejected.name, topics.deadLetter.name];
    const admin = this.kafka.admin();
    await admin.connect();
    const starts: { topic: string; partition: number; offset: string }[] = [];
    try {
      const existing = new Set(await admin.listTopics());
      for (const topic of watched.filter((t) => existing.has(t))) {
        for (const p of await admin.fetchTopicOffsetsByTimestamp(topic, sinceMs)) starts.push({ topic, partition: p.partition, offset: p.offset });
      }
    } finally {
      await admin.disconnect();
    }
    if (starts.length === 0) return;
    const consumer = this.kafka.consumer({ groupId: this.groupId, readUncommitted: false });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: [...new Set(starts.map((s) => s.topic))], fromBeginning: false });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const values = batch.messages.map((m) => m.value);
        if (batch.topic === topics.cdrRejected.name) await this.serde.prepare(values).catch(() => undefined);
        for (const m of batch.messages) this.add(batch.topic, batch.partition, m.offset, m.value, m.headers ?? {}, Number(m.timestamp));
      },
    });
    for (const s of starts) consumer.seek(s);
  }

  private add(topic: string, partition: number, offset: string, value: Buffer | null, headers: Record<string, unknown>, timestamp: number): void {
    const at = `${topic}:${partition}:${offset}`;
    if (topic === topics.deadLetter.name) {
      this.push({
        kind: 'dead-letter', at, partition, offset, brand: header(headers.brand), reason: header(headers['dlq-error-code']) ?? 'unknown', detail: header(headers['dlq-error-message']) ?? '',
        where: header(headers['dlq-service']) ?? '?', source: header(headers['dlq-topic']), cdrId: null, redrivable: header(headers['dlq-topic']) !== null && value !== null, time: dlqAt(header(headers['dlq-at'])) ?? timestamp,
      });
      return;
    }
    try {
      const r = this.serde.decode<CdrRejectedRecord>(value, 'cdr.rejected');
      this.push({ kind: 'rejected', at, partition, offset, brand: header(headers.brand), reason: r.reason, detail: r.detail, where: r.stage, source: r.source, cdrId: r.cdrId, redrivable: r.payloadFormat === 'avro-confluent', time: Number(r.rejectedAt) || timestamp });
    } catch (err) {
      this.push({ kind: 'rejected', at, partition, offset, brand: header(headers.brand), reason: 'unreadable_rejection', detail: (err as Error).message, where: '?', source: null, cdrId: null, redrivable: false, time: timestamp });
    }
  }

  private push(item: Trouble): void {
    this.items.push(item);
    if (this.items.length > this.keep) this.items.splice(0, this.items.length - this.keep);
  }

  /** One record by where it sits (`topic:partition:offset`). */
  find(at: string): Trouble | undefined {
    return this.items.find((t) => t.at === at);
  }

  /** Newest first, narrowed to what a key may see: a brand's key only records carrying its brand. */
  list(filter: { brand?: string | undefined; onlyBrand?: string | undefined; since?: number; kind?: string; reason?: string }): Trouble[] {
    return this.items
      .filter((t) => (filter.onlyBrand === undefined || t.brand === filter.onlyBrand) && (filter.brand === undefined || t.brand === filter.brand) && (filter.since === undefined || t.time >= filter.since) && (!filter.kind || t.kind === filter.kind) && (!filter.reason || t.reason === filter.reason))
      .reverse();
  }

  async stop(): Promise<void> {
    if (!this.consumer) return;
    await this.consumer.disconnect();
    await deleteGroup(this.kafka, this.groupId).catch((error: unknown) => this.logger.warn('console feed group not deleted', { error }));
  }
}

/** Consumer lag per rateline consumer group (committed offsets against the high watermarks), biggest first. */
export async function pipelineLag(kafka: Kafka): Promise<{ group: string; lag: number; topics: string[] }[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith('rateline-') && !g.startsWith('rateline-ref-') && !g.startsWith('rateline-console-'));
    const highs = new Map<string, Map<number, bigint>>();
    const high = async (topic: string) => {
      let m = highs.get(topic);
      if (!m) highs.set(topic, (m = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]))));
      return m;
    };
    const out: { group: string; lag: number; topics: string[] }[] = [];
    for (const group of groups) {
      const committed = await admin.fetchOffsets({ groupId: group });
      let lag = 0n;
      const names: string[] = [];
      for (const t of committed) {
        const partitions = t.partitions.filter((p) => Number(p.offset) >= 0);
        if (partitions.length === 0) continue;
        names.push(t.topic);
        const h = await high(t.topic);
        for (const p of partitions) {
          const d = (h.get(p.partition) ?? 0n) - BigInt(p.offset);
          if (d > 0n) lag += d;
        }
      }
      if (names.length > 0) out.push({ group, lag: Number(lag), topics: names });
    }
    return out.sort((a, b) => b.lag - a.lag || a.group.localeCompare(b.group));
  } finally {
    await admin.disconnect();
  }
}
