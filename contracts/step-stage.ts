import { ControlTally, utcDay, type Stage } from '../domain/assurance/control-totals.ts';
import { ReferenceTables } from '../domain/reference/index.ts';
import { controlTotalMessages, sliceTotals, type ControlTotalRecord } from '../runtime/control-totals.ts';
import type { RuntimeConfig } from '../runtime/config.ts';
import { standardHeaders, type ConsumedRecord, type OutgoingMessage } from '../runtime/kafka.ts';
import { loadSchema } from '../runtime/serde.ts';
import type { RunningService, ServiceDeps } from '../runtime/service.ts';
import { startStage, type StageContext } from '../runtime/stage.ts';
import { topics, valueSubject, type TopicSpec } from '../topics/catalog.ts';
import { kafkaOrigin, type CdrRejectedRecord } from './records.ts';
import { allReferenceTopics, applyReferenceRecords } from './reference.ts';
import { buildRejection } from './rejection.ts';

/** What a stateless step returns for one record. */
export type StepResult<Out> = { ok: true; value: Out; key: string; brand?: string } | { ok: false; reason: string; detail: string };

export interface StepStageDefinition<In extends { eventId: string; source: string; cdrId: string; startTime: number }, Out> {
  name: Stage;
  groupId: string;
  input: TopicSpec;
  output: TopicSpec & { schema: string };
  parentCompany?: string;
  step(record: In, tables: ReferenceTables): StepResult<Out>;
}

/**
 * A stateless stream stage over the reference tables: decode, apply a pure step, produce the
 * result keyed as the step says, or a rejection with the original bytes. At-least-once with
 * deterministic output ids: whoever consumes it is idempotent on the event id.
 */
export async function startStepStage<In extends { eventId: string; source: string; cdrId: string; startTime: number }, Out>(config: RuntimeConfig, deps: ServiceDeps, definition: StepStageDefinition<In, Out>): Promise<RunningService> {
  const tables = new ReferenceTables(definition.parentCompany ?? process.env.RATELINE_PARENT_COMPANY ?? 'ansr-group');
  const encodeOut = deps.serde.encoder<Out>(await deps.serde.register(valueSubject(definition.output.name), loadSchema(definition.output.schema)));
  const encodeRejected = deps.serde.encoder<CdrRejectedRecord>(await deps.serde.register(valueSubject(topics.cdrRejected.name), loadSchema('cdr.rejected')));
  const encodeControl = deps.serde.encoder<ControlTotalRecord>(await deps.serde.register(valueSubject(topics.controlTotals.name), loadSchema('control-total')));

  const handleBatch = async (records: ConsumedRecord[], { producer, metrics }: StageContext) => {
    await deps.serde.prepare(records.map((r) => r.value));
    const produced: OutgoingMessage[] = [];
    const rejected: OutgoingMessage[] = [];
    // A gathered batch holds several partitions: figures are kept per partition's slice of offsets.
    const slices = new Map<number, { tally: ControlTally; first: ConsumedRecord; last: ConsumedRecord }>();
    for (const record of records) {
      let slice = slices.get(record.partition);
      if (slice === undefined) slices.set(record.partition, (slice = { tally: new ControlTally(definition.name), first: record, last: record }));
      slice.last = record;
      const tally = slice.tally;
      const input = deps.serde.decode<In>(record.value, definition.input.schema ?? undefined);
      const result = definition.step(input, tables);
      const sourceDay = tally.at('source', input.source, utcDay(Number(input.startTime))).count('in');
      if (result.ok) {
        sourceDay.count('out');
        produced.push({ key: result.key, value: encodeOut(result.value), headers: standardHeaders({ eventId: input.eventId, ...(result.brand ? { brand: result.brand } : {}) }) });
        continue;
      }
      const rejection = buildRejection({
        stage: definition.name,
        reason: result.reason,
        detail: result.detail,
        source: input.source,
        cdrId: input.cdrId,
        payload: record.value!,
        payloadFormat: 'avro-confluent',
        origin: kafkaOrigin(record.topic, record.partition, record.offset),
        subject: input.eventId,
        now: deps.clock.now(),
      });
      rejected.push({ key: input.source, value: encodeRejected(rejection), headers: standardHeaders({ eventId: rejection.eventId }) });
      metrics.rejected.inc({ reason: result.reason });
      sourceDay.count(`rejected:${result.reason}`);
    }
    // The batch's figures travel with its outputs: a batch sent again after a crash sends them again, under the same key.
    const control = [...slices.values()].flatMap(({ tally, first, last }) =>
      controlTotalMessages(encodeControl, sliceTotals(tally, { topic: first.topic, partition: first.partition, firstOffset: Number(first.offset), lastOffset: Number(last.offset) }, deps.clock.now())),
    );
    await producer.send({ [definition.output.name]: produced, [topics.cdrRejected.name]: rejected, [topics.controlTotals.name]: control });
    metrics.recordsOut.inc({ topic: definition.output.name }, produced.length);
    metrics.recordsOut.inc({ topic: topics.cdrRejected.name }, rejected.length);
  };

  return startStage(config, deps, {
    name: definition.name,
    groupId: definition.groupId,
    inputTopics: [definition.input.name],
    deadLetterTopic: topics.deadLetter.name,
    referenceTopics: allReferenceTopics,
    onReference: (records) => applyReferenceRecords(tables, records, deps.logger),
    gatherPartitions: true,
    handleBatch,
  });
}
