import type { Knex } from 'knex';
import { DEFAULT_DURATION_LIMITS, cdrEventId, cdrKey, checkDedupeWindow, parseCdrKey, validateCdr, type RawCdr, type ValidationPolicy } from '../../domain/cdr/index.ts';
import { buildRejection, kafkaPayloadFormat } from '../../contracts/rejection.ts';
import { kafkaOrigin, type CdrAcceptedRecord, type CdrRawRecord, type CdrRejectedRecord } from '../../contracts/records.ts';
import type { RuntimeConfig } from '../../runtime/config.ts';
import { createDb, inTransaction, migrateService, runTogether } from '../../runtime/db.ts';
import { InvalidInputError } from '../../runtime/errors.ts';
import { ControlTally, utcDay } from '../../domain/assurance/control-totals.ts';
import { controlTotalsProducer, controlTotalsStatement, startControlTotalsPublisher } from '../../runtime/control-totals.ts';
import { standardHeaders, type ConsumedRecord, type OutgoingMessage } from '../../runtime/kafka.ts';
import type { RunningService, ServiceDeps } from '../../runtime/service.ts';
import { sendCounted, startStage, type StageApi, type StageContext } from '../../runtime/stage.ts';
import { topics, valueSubject } from '../../topics/catalog.ts';
import { loadSchema } from '../../runtime/serde.ts';
import { redriveRoutes, type RedriveDeps } from './redrive-routes.ts';
import { migrations, offsets, SCHEMA } from './schema.ts';
import { cdrFileUploadRoutes, type FileJobDeps } from './file-job.ts';
import { dedupePruneRoute, dedupePruner, dedupeSettings, type DedupeSettings, type PruneReport } from './dedupe-window.ts';

export const GROUP_ID = 'rateline-ingest';

export interface IngestOptions {
  maxDurationSeconds?: number;
  durationToleranceSeconds?: number;
  /** Overrides INGEST_DEDUPE_WINDOW_DAYS and INGEST_DEDUPE_PRUNE_INTERVAL_MS. */
  dedupe?: Partial<DedupeSettings>;
  env?: Readonly<Record<string, string | undefined>>;
}

export interface RunningIngest extends RunningService {
  /** Forgets the seen CDRs past the de-duplication window now (also POST /dedupe-prunes). */
  pruneNow(): Promise<PruneReport>;
}

interface Candidate {
  record: ConsumedRecord;
  cdr: RawCdr;
  eventId: string;
  origin: string;
}

/**
 * ingest: validates raw CDRs and de-duplicates them on (source, cdrId) across restarts and
 * redelivery, over a window of days (domain/cdr/dedupe-window.ts). Valid, first-seen CDRs go to
 * cdr.accepted; everything else to cdr.rejected with a reason (duplicates and CDRs older than
 * the window included, so that counts in equal counts out).
 */
export async function startIngest(config: RuntimeConfig, deps: ServiceDeps, options: IngestOptions = {}): Promise<RunningIngest> {
  const dedupe = dedupeSettings(options.env ?? process.env, options.dedupe ?? {});
  const db = createDb(config.postgres);
  await migrateService(db, SCHEMA, migrations);
  const store = offsets.store(db);
  const acceptedId = await deps.serde.register(valueSubject(topics.cdrAccepted.name), loadSchema('cdr.accepted'));
  const rejectedId = await deps.serde.register(valueSubject(topics.cdrRejected.name), loadSchema('cdr.rejected'));
  const encodeAccepted = deps.serde.encoder<CdrAcceptedRecord>(acceptedId);
  const encodeRejected = deps.serde.encoder<CdrRejectedRecord>(rejectedId);
  const controlSink = await controlTotalsProducer(deps.kafka, deps.serde);
  const controlTotals = startControlTotalsPublisher({ db, schema: SCHEMA, logger: deps.logger, publish: controlSink.publish });

  // Usage types the catalogue knows: the union of every brand's usage-product map.
  const usageTypesByBrand = new Map<string, string[]>();
  const policy = (): ValidationPolicy => ({
    usageTypes: new Set([...usageTypesByBrand.values()].flat()),
    maxDurationSeconds: options.maxDurationSeconds ?? DEFAULT_DURATION_LIMITS.maxDurationSeconds,
    durationToleranceSeconds: options.durationToleranceSeconds ?? DEFAULT_DURATION_LIMITS.durationToleranceSeconds,
  });
  let currentPolicy = policy();

  const reject = (record: ConsumedRecord, reason: string, detail: string, cdr: Partial<RawCdr> | undefined, now: number): OutgoingMessage => {
    const rejection = buildRejection({
      stage: 'ingest',
      reason,
      detail,
      source: cdr?.source ?? null,
      cdrId: cdr?.cdrId ?? null,
      payload: record.value ?? Buffer.alloc(0),
      payloadFormat: kafkaPayloadFormat(record.value),
      origin: kafkaOrigin(record.topic, record.partition, record.offset),
      subject: `${record.topic}:${record.partition}:${record.offset}`,
      now,
    });
    return { key: cdr?.source ?? null, value: encodeRejected(rejection), headers: standardHeaders({ eventId: rejection.eventId }) };
  };

  const handleBatch = async (records: ConsumedRecord[], context: StageContext) => {
    const { metrics } = context;
    const now = deps.clock.now();
    await deps.serde.prepare(records.map((r) => r.value));
    const rejected: OutgoingMessage[] = [];
    const candidates: Candidate[] = [];
    const tally = new ControlTally('ingest');
    for (const record of records) {
      let raw: CdrRawRecord;
      try {
        raw = deps.serde.decode<CdrRawRecord>(record.value, 'cdr.raw');
      } catch (err) {
        const code = err instanceof InvalidInputError ? err.code : 'undecodable_record';
        // The value is unreadable, but cdr.raw's key still says whose CDR it was.
        const keyed = parseCdrKey(record.key?.toString());
        rejected.push(reject(record, code, undecodableDetail(record, err), keyed, now));
        metrics.rejected.inc({ reason: code });
        countIngest(tally, keyed?.source, callDay(undefined, record.timestamp), `rejected:${code}`);
        continue;
      }
      const day = callDay(raw.startTime, record.timestamp);
      const checked = validateCdr(raw, currentPolicy);
      if (!checked.ok) {
        rejected.push(reject(record, checked.error.code, checked.error.issues.map((i) => `${i.field}: ${i.message}`).join('; '), raw, now));
        metrics.rejected.inc({ reason: checked.error.code });
        countIngest(tally, raw.source, day, `rejected:${checked.error.code}`);
        continue;
      }
      const cdr = checked.value;
      const inWindow = checkDedupeWindow(cdr.startTime, now, dedupe.windowDays);
      if (!inWindow.ok) {
        rejected.push(reject(record, inWindow.code, inWindow.message, cdr, now));
        metrics.rejected.inc({ reason: inWindow.code });
        countIngest(tally, cdr.source, day, `rejected:${inWindow.code}`);
        continue;
      }
      candidates.push({ record, cdr, eventId: cdrEventId(cdr.source, cdr.cdrId), origin: `${record.topic}:${record.partition}:${record.offset}` });
    }

    await inTransaction(db, async (trx) => {
      const acceptedCandidates = await firstSightings(trx, candidates);
      const accepted: OutgoingMessage[] = [];
      for (const candidate of candidates) {
        if (acceptedCandidates.has(candidate)) {
          const { cdr, record, eventId } = candidate;
          const value: CdrAcceptedRecord = {
            eventId,
            source: cdr.source,
            cdrId: cdr.cdrId,
            callingNumber: cdr.callingNumber,
            calledNumber: cdr.calledNumber,
            usageType: cdr.usageType,
            startTime: cdr.startTime,
            endTime: cdr.endTime,
            durationSeconds: cdr.durationSeconds,
            attributes: { ...cdr.attributes },
            origin: kafkaOrigin(record.topic, record.partition, record.offset),
            acceptedAt: now,
          };
          accepted.push({ key: cdrKey(cdr.source, cdr.cdrId), value: encodeAccepted(value), headers: standardHeaders({ eventId }) });
          countIngest(tally, cdr.source, callDay(cdr.startTime, record.timestamp), 'accepted');
        } else {
          rejected.push(reject(candidate.record, 'duplicate_cdr', `CDR ${candidate.cdr.cdrId} of ${candidate.cdr.source} was already accepted (event ${candidate.eventId})`, candidate.cdr, now));
          metrics.rejected.inc({ reason: 'duplicate_cdr' });
          countIngest(tally, candidate.cdr.source, callDay(candidate.cdr.startTime, candidate.record.timestamp), 'rejected:duplicate_cdr');
        }
      }
      // Produce before the state commits: a crash in between re-sends the same ids, never loses.
      await sendCounted(context, { [topics.cdrAccepted.name]: accepted, [topics.cdrRejected.name]: rejected });
      // The figures commit with the dedupe state (a batch rolled back and redelivered counts once), with the offset, in one round trip.
      await runTogether(trx, [controlTotalsStatement(SCHEMA, tally), store.saveAfterEachStatement(GROUP_ID, records)]);
    });
  };

  const pruner = dedupePruner({ db, clock: deps.clock, logger: deps.logger.child({ stage: 'ingest' }), settings: dedupe });
  const stage = await startStage(config, deps, {
    name: 'ingest',
    groupId: GROUP_ID,
    inputTopics: [topics.cdrRaw.name],
    deadLetterTopic: topics.deadLetter.name,
    referenceTopics: [topics.refBrands.name],
    onReference: (records) => {
      for (const { key, value } of records) {
        if (value === null) usageTypesByBrand.delete(key);
        else usageTypesByBrand.set(key, Object.keys((value as { usageProducts: Record<string, string> }).usageProducts));
      }
      currentPolicy = policy();
    },
    gatherPartitions: true,
    handleBatch,
    storedOffsets: () => store.load(GROUP_ID),
    api: ({ producer, metrics }) => ingestApi({ producer, metrics, serde: deps.serde, db, clock: deps.clock, logger: deps.logger.child({ stage: 'ingest' }), kafka: deps.kafka }),
    opsRoutes: ({ metrics }) => {
      metrics.registry.registerMetric(pruner.metric);
      return dedupePruneRoute(pruner);
    },
    close: async () => {
      await controlTotals.stop();
      await controlSink.stop();
      await db.destroy();
    },
  });
  pruner.start();
  return {
    ...stage,
    pruneNow: pruner.runNow,
    stop: async () => {
      await pruner.stop();
      await stage.stop();
    },
  };
}

/** A record in, and where it ended, on its source's figures (a record whose key names no source: `(unknown)`). */
function countIngest(tally: ControlTally, source: string | undefined, day: string, outcome: string): void {
  tally.at('source', source ?? '(unknown)', day).count('in').count(outcome);
}

/** The UTC day the call started, or the day the record arrived when it names no usable start. */
function callDay(startTime: number | undefined, arrivedAt: number): string {
  const start = Number(startTime);
  return Number.isFinite(start) && Math.abs(start) < 8.64e15 ? utcDay(start) : utcDay(arrivedAt);
}

/** Apicurio's serdes put the schema id in these headers unless told to frame the value as Confluent's do. */
const SCHEMA_ID_HEADERS = ['apicurio.value.globalId', 'apicurio.value.contentId'];

/**
 * Why a record could not be decoded, for whoever reads the rejection: the decoder's message, the
 * key when it is not `source/cdrId` (nothing else on the rejection keeps it), and a hint when the
 * schema id travelled in headers.
 */
function undecodableDetail(record: ConsumedRecord, err: unknown): string {
  const parts = [err instanceof Error ? err.message : String(err)];
  const key = record.key?.toString();
  if (key !== undefined && !parseCdrKey(key)) parts.push(`its key ${JSON.stringify(key)} is not source/cdrId`);
  const idHeaders = SCHEMA_ID_HEADERS.filter((h) => h in record.headers);
  if (idHeaders.length > 0) parts.push(`the schema id is in the record's headers (${idHeaders.join(', ')}): the producer's serde must write the Confluent wire format (README, "Writing cdr.raw from another language")`);
  return parts.join('; ');
}

/**
 * Which candidates are first sightings: inserted now, or inserted earlier from this very offset
 * (a redelivery after a crash, to be re-sent with the same id). A second CDR with the same id in
 * one batch, or one seen before from another offset, is a duplicate.
 */
async function firstSightings(trx: Knex.Transaction, candidates: Candidate[]): Promise<Set<Candidate>> {
  const firstInBatch = new Map<string, Candidate>();
  for (const c of candidates) if (!firstInBatch.has(c.eventId)) firstInBatch.set(c.eventId, c);
  const unique = [...firstInBatch.values()];
  const result = new Set<Candidate>();
  if (unique.length === 0) return result;
  const inserted = new Set<string>();
  for (let i = 0; i < unique.length; i += 5000) {
    const chunk = unique.slice(i, i + 5000);
    // Array parameters, one per column: a fixed statement text whatever the batch size.
    const { rows } = (await trx.raw(
      `insert into ${SCHEMA}.seen_cdrs (event_id, source, cdr_id, origin, start_time)
       select * from unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[])
       on conflict (event_id) do nothing returning event_id`,
      [chunk.map((c) => c.eventId), chunk.map((c) => c.cdr.source), chunk.map((c) => c.cdr.cdrId), chunk.map((c) => c.origin), chunk.map((c) => new Date(c.cdr.startTime).toISOString())],
    )) as { rows: { event_id: string }[] };
    for (const row of rows) inserted.add(row.event_id);
  }
  const known = unique.filter((c) => !inserted.has(c.eventId));
  const storedOrigin = new Map<string, string>();
  for (let i = 0; i < known.length; i += 5000) {
    const { rows } = (await trx.raw(`select event_id, origin from ${SCHEMA}.seen_cdrs where event_id = any(?::text[])`, [known.slice(i, i + 5000).map((c) => c.eventId)])) as { rows: { event_id: string; origin: string }[] };
    for (const row of rows) storedOrigin.set(row.event_id, row.origin);
  }
  for (const c of unique) {
    if (inserted.has(c.eventId) || storedOrigin.get(c.eventId) === c.origin) result.add(c);
  }
  return result;
}

/** The API: CDR file uploads, and redrive of rejected records and dead letters. */
export function ingestApi(deps: FileJobDeps & RedriveDeps): StageApi {
  return {
    title: 'rateline ingest',
    audit: { db: deps.db, schema: SCHEMA },
    description: "CDR file uploads (the parent company's key); rejected records and dead letters sent back into the pipeline. Platforms publish single CDRs to cdr.raw directly.",
    routes: async (app) => {
      await app.register(cdrFileUploadRoutes(deps));
      await app.register(redriveRoutes(deps));
    },
  };
}
