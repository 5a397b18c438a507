import { answer, boolean, counts, integer, object, text } from '../../runtime/json-schema.ts';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Knex } from 'knex';
import {
  CdrFileError,
  CSV_MAPPING_NAMES,
  DEFAULT_DURATION_LIMITS,
  DEFAULT_PLATFORM_ZONE,
  DEFAULT_USAGE_TYPE,
  cdrEventId,
  cdrKey,
  fileLineOrigin,
  csvMappingNamed,
  readCdrFile,
  zoneNamed,
  type CdrIssue,
  type CsvMapping,
  type CsvMappingName,
  type ValidationPolicy,
} from '../../domain/cdr/index.ts';
import { buildRejection } from '../../contracts/rejection.ts';
import type { CdrRawRecord, CdrRejectedRecord } from '../../contracts/records.ts';
import type { RuntimeConfig } from '../../runtime/config.ts';
import { createDb, migrateService } from '../../runtime/db.ts';
import { errorCode, InvalidInputError } from '../../runtime/errors.ts';
import { asProblems, HttpError, principalOf, problemAnswer, problemResponses, send } from '../../runtime/http.ts';
import { BatchProducer, createKafka, standardHeaders, type OutgoingMessage } from '../../runtime/kafka.ts';
import { silentLogger, type Logger } from '../../runtime/log.ts';
import type { ServiceMetrics } from '../../runtime/metrics.ts';
import { AvroSerde, loadSchema } from '../../runtime/serde.ts';
import { systemClock, type Clock } from '../../runtime/time.ts';
import { topics, valueSubject } from '../../topics/catalog.ts';
import { migrations, SCHEMA } from './schema.ts';

/**
 * The CDR file job: a CSV file of CDRs (Asterisk or FreeSWITCH cdr_csv, or rateline's own CSV)
 * becomes cdr.raw records, one per valid line, and cdr.rejected records, one per line that is
 * not, carrying the file name and line number. The job id is a digest of the file's bytes and
 * the job's options, so the same upload twice publishes nothing the second time; a job that
 * crashed half-way ('running' in ingest.file_jobs) is simply run again, which is harmless:
 * ingest de-duplicates cdr.raw on (source, cdrId) and rejections carry deterministic ids.
 */

export const MAPPING_NAMES = CSV_MAPPING_NAMES;
export type MappingName = CsvMappingName;

/** What a job is run with; part of the job id, so a different option is a different job. */
export interface FileJobOptions {
  mapping: MappingName;
  /** IANA zone of the platform's local timestamps (asterisk, freeswitch); null for rateline CSV (ISO with offsets). */
  zone: string | null;
  /** The constant usage type of every line (asterisk, freeswitch); null for rateline CSV (its usage_type column). */
  usageType: string | null;
  /** The telephony platform the file came from: CDR ids are unique per source, so ingest de-duplicates on it. */
  source: string;
}

export interface FileJobInput extends FileJobOptions {
  /** A local file; uploads are spooled to a temp file first. */
  path: string;
  /** The name rejections and attributes carry (the upload's or the file's own name). */
  fileName: string;
}

export interface FileJobSummary {
  jobId: string;
  fileName: string;
  source: string;
  mapping: MappingName;
  /** Data lines read (header and blank lines excluded): published + rejected. */
  read: number;
  published: number;
  rejected: number;
  rejectedByReason: Record<string, number>;
  /** True when this exact file and options were already done: nothing was published this time. */
  duplicate: boolean;
  seconds: number;
}

export interface FileJobDeps {
  producer: BatchProducer;
  serde: AvroSerde;
  db: Knex;
  clock: Clock;
  logger: Logger;
  metrics?: ServiceMetrics;
  /** Default: cdr.raw and cdr.rejected from the catalogue (a benchmark may point elsewhere). */
  topics?: { raw: string; rejected: string };
  /** Messages per produce request; default 2,000. */
  batchSize?: number;
}

const FILE_JOBS = `${SCHEMA}.file_jobs`;
const DEFAULT_BATCH = 2_000;

/** Usage types are the catalogue's call, made by ingest: the file job lets any through. */
class AnyUsageType extends Set<string> {
  override has(): boolean {
    return true;
  }
}

/**
 * The checks a line must pass before it is published (normalised, numbers in E.164): everything
 * ingest checks, with ingest's defaults, except the usage type. A bad line is rejected here,
 * where its file, line and text are known; ingest checks again whatever reaches cdr.raw.
 */
const FILE_POLICY: ValidationPolicy = { usageTypes: new AnyUsageType(), ...DEFAULT_DURATION_LIMITS };

// ---------------------------------------------------------------------------------------------
// Options: checked once, at the edge (CLI or HTTP), every problem reported at once.

export interface FileJobParams {
  mapping?: string | undefined;
  zone?: string | undefined;
  usageType?: string | undefined;
  source?: string | undefined;
  fileName?: string | undefined;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; problems: string[] };

/** Validates a job's parameters, applying defaults (zone UTC, usage type LCA). */
export function checkFileJobParams(params: FileJobParams): Checked<FileJobOptions & { fileName: string }> {
  const problems: string[] = [];
  const mapping = (MAPPING_NAMES as readonly string[]).includes(params.mapping ?? '') ? (params.mapping as MappingName) : undefined;
  if (params.mapping === undefined || params.mapping === '') problems.push(`mapping is missing: one of ${MAPPING_NAMES.join(', ')}`);
  else if (mapping === undefined) problems.push(`mapping "${params.mapping}" is unknown: one of ${MAPPING_NAMES.join(', ')}`);
  const platform = mapping === 'asterisk' || mapping === 'freeswitch';

  let zone: string | null = null;
  if (params.zone !== undefined && mapping === 'rateline') problems.push('zone does not apply to the rateline mapping: its times are ISO 8601 with an offset');
  else if (platform || params.zone !== undefined) {
    zone = params.zone ?? DEFAULT_PLATFORM_ZONE;
    if (!zoneNamed(zone)) problems.push(`zone "${zone}" is not an IANA time zone (e.g. America/New_York, UTC)`);
  }

  let usageType: string | null = null;
  if (params.usageType !== undefined && mapping === 'rateline') problems.push('usage type does not apply to the rateline mapping: its usage_type column names it');
  else if (platform || params.usageType !== undefined) {
    usageType = params.usageType ?? DEFAULT_USAGE_TYPE;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/.test(usageType)) problems.push(`usage type "${usageType}" must be 1-40 letters, digits, '_', '.' or '-' (e.g. LCA, IVR)`);
  }

  const source = params.source ?? '';
  if (source === '') problems.push('source is missing: name the telephony platform the file came from (e.g. asterisk-nyc-1)');
  else if (!/^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}$/.test(source)) problems.push(`source "${source}" must be 1-100 letters, digits, '_', '.', ':', '@' or '-' (it prefixes the record key source/cdrId)`);

  const fileName = params.fileName ?? '';
  if (fileName === '') problems.push('file name is missing');
  else if (fileName.length > 255 || /[\u0000-\u001f\u007f/\\]/.test(fileName)) problems.push('file name must be at most 255 characters, without slashes or control characters');

  if (problems.length > 0 || mapping === undefined) return { ok: false, problems };
  return { ok: true, value: { mapping, zone, usageType, source, fileName } };
}

/** The CSV mapping a job reads its file with. */
export function mappingFor(options: FileJobOptions): CsvMapping {
  return csvMappingNamed(options.mapping, options);
}

/**
 * The job id: SHA-256 (hex) of the options and then the file's bytes, read as a stream. The
 * file name is not part of it: the same bytes uploaded under another name are the same job.
 */
export async function fileJobId(path: string, options: FileJobOptions): Promise<string> {
  const hash = createHash('sha256');
  const { mapping, zone, usageType, source } = options;
  hash.update(`${JSON.stringify({ mapping, zone, usageType, source })}\n`);
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

// ---------------------------------------------------------------------------------------------
// The job.

interface JobRow {
  job_id: string;
  status: string;
  summary: FileJobSummary | null;
}

/**
 * Runs one CDR file job: publishes every valid line to cdr.raw and rejects every other line to
 * cdr.rejected, in produce requests of `batchSize` with one request in flight while the next
 * batch is read, so memory stays bounded whatever the file's size. A job already done returns
 * its stored summary with `duplicate: true` and publishes nothing.
 */
export async function runFileJob(input: FileJobInput, deps: FileJobDeps): Promise<FileJobSummary> {
  const t0 = performance.now();
  const rawTopic = deps.topics?.raw ?? topics.cdrRaw.name;
  const rejectedTopic = deps.topics?.rejected ?? topics.cdrRejected.name;
  const logger = deps.logger.child({ job: 'cdr-file', file: input.fileName, source: input.source });
  const jobId = await fileJobId(input.path, input);

  const previous = (await deps.db(FILE_JOBS).where({ job_id: jobId }).first('job_id', 'status', 'summary')) as JobRow | undefined;
  if (previous?.status === 'done' && previous.summary) {
    logger.info('cdr file already done: nothing published', { jobId });
    return { ...previous.summary, duplicate: true };
  }
  // Two uploads of the same file at the same moment both run: harmless, as a rerun after a crash.
  await deps.db(FILE_JOBS)
    .insert({ job_id: jobId, file_name: input.fileName, source: input.source, status: 'running', summary: null, started_at: new Date(deps.clock.now()), finished_at: null })
    .onConflict('job_id')
    .merge(['file_name', 'status', 'summary', 'started_at', 'finished_at']);

  try {
    const summary = await publishFile(input, jobId, deps, rawTopic, rejectedTopic);
    const done: FileJobSummary = { ...summary, seconds: Math.round((performance.now() - t0) / 10) / 100 };
    await deps.db(FILE_JOBS).where({ job_id: jobId }).update({ status: 'done', summary: JSON.stringify(done), finished_at: new Date(deps.clock.now()) });
    logger.info('cdr file done', { ...done });
    return done;
  } catch (err) {
    // Best effort: a job that failed (rather than crashed) says so; running it again redoes it.
    await deps.db(FILE_JOBS)
      .where({ job_id: jobId })
      .update({ status: 'failed', summary: JSON.stringify({ error: errorCode(err), message: (err as Error).message }), finished_at: new Date(deps.clock.now()) })
      .catch(() => undefined);
    if (err instanceof CdrFileError) throw new InvalidInputError(err.code, `${input.fileName}: ${err.problems.join('; ')}`, { problems: err.problems });
    throw err;
  }
}

async function publishFile(input: FileJobInput, jobId: string, deps: FileJobDeps, rawTopic: string, rejectedTopic: string): Promise<Omit<FileJobSummary, 'seconds'>> {
  const [rawId, rejectedId] = await Promise.all([
    deps.serde.register(valueSubject(rawTopic), loadSchema('cdr.raw')),
    deps.serde.register(valueSubject(rejectedTopic), loadSchema('cdr.rejected')),
  ]);
  const encodeRaw = deps.serde.encoder<CdrRawRecord>(rawId);
  const encodeRejected = deps.serde.encoder<CdrRejectedRecord>(rejectedId);
  const batchSize = deps.batchSize ?? DEFAULT_BATCH;
  const receivedAt = deps.clock.now();
  const { source, fileName } = input;

  let read = 0;
  let published = 0;
  let rejected = 0;
  const rejectedByReason: Record<string, number> = {};
  let raws: OutgoingMessage[] = [];
  let rejects: OutgoingMessage[] = [];
  let inFlight: Promise<void> | undefined;

  // One request in flight while the next batch is read: order is kept, memory is two batches.
  const flush = async () => {
    const batch = { [rawTopic]: raws, [rejectedTopic]: rejects };
    const counts = { raw: raws.length, rejected: rejects.length };
    raws = [];
    rejects = [];
    await inFlight;
    inFlight = deps.producer.send(batch).then(() => {
      deps.metrics?.recordsOut.inc({ topic: rawTopic }, counts.raw);
      deps.metrics?.recordsOut.inc({ topic: rejectedTopic }, counts.rejected);
    });
    inFlight.catch(() => undefined); // awaited at the next flush; this only keeps it from being "unhandled"
  };

  const reject = (line: number, reason: string, detail: string, rawLine: string) => {
    rejected++;
    rejectedByReason[reason] = (rejectedByReason[reason] ?? 0) + 1;
    deps.metrics?.rejected.inc({ reason });
    const rejection = buildRejection({
      stage: 'file',
      reason,
      detail,
      source,
      cdrId: null,
      payload: Buffer.from(rawLine, 'utf8'),
      payloadFormat: 'csv',
      origin: { topic: null, partition: null, offset: null, file: fileName, line },
      subject: fileLineOrigin(jobId, line),
      now: deps.clock.now(),
    });
    rejects.push({ key: source, value: encodeRejected(rejection), headers: standardHeaders({ eventId: rejection.eventId }) });
  };

  try {
    for await (const result of readCdrFile(input.path, mappingFor(input), { source, receivedAt, policy: FILE_POLICY })) {
      read++;
      if (!result.ok) {
        reject(result.line, result.reason, detailOf(result.issues, result.detail), result.rawLine);
      } else {
        const cdr = result.cdr;
        const record: CdrRawRecord = {
          source: cdr.source,
          cdrId: cdr.cdrId,
          callingNumber: cdr.callingNumber,
          calledNumber: cdr.calledNumber,
          usageType: cdr.usageType,
          startTime: cdr.startTime,
          endTime: cdr.endTime,
          durationSeconds: cdr.durationSeconds,
          attributes: { ...cdr.attributes, file_name: fileName, file_line: String(result.line) },
          receivedAt: cdr.receivedAt,
        };
        raws.push({ key: cdrKey(cdr.source, cdr.cdrId), value: encodeRaw(record), headers: standardHeaders({ eventId: cdrEventId(cdr.source, cdr.cdrId) }) });
        published++;
      }
      if (raws.length + rejects.length >= batchSize) await flush();
    }
    await flush();
    await inFlight;
  } finally {
    await inFlight?.catch(() => undefined);
  }
  return { jobId, fileName, source, mapping: input.mapping, read, published, rejected, rejectedByReason, duplicate: false };
}

function detailOf(issues: readonly CdrIssue[], fallback: string): string {
  return issues.map((i) => (i.field === '' ? i.message : `${i.field}: ${i.message}`)).join('; ') || fallback;
}

// ---------------------------------------------------------------------------------------------
// Outside a running service: what `rateline cdr-file` runs.

/**
 * Connects to Kafka, the registry and PostgreSQL, makes sure ingest's schema is migrated, runs
 * one file job and disconnects (the producer is flushed: every send was acknowledged).
 */
export async function runFileJobWithConfig(
  config: RuntimeConfig,
  input: FileJobInput,
  overrides: { logger?: Logger; clock?: Clock; topics?: FileJobDeps['topics']; batchSize?: number } = {},
): Promise<FileJobSummary> {
  const logger = overrides.logger ?? silentLogger;
  const db = createDb(config.postgres, { poolMax: 2 });
  let producer: BatchProducer | undefined;
  try {
    await migrateService(db, SCHEMA, migrations);
    producer = await BatchProducer.connect(createKafka(config.kafka, logger));
    return await runFileJob(input, {
      producer,
      serde: new AvroSerde(config.registry.url),
      db,
      clock: overrides.clock ?? systemClock,
      logger,
      ...(overrides.topics ? { topics: overrides.topics } : {}),
      ...(overrides.batchSize ? { batchSize: overrides.batchSize } : {}),
    });
  } finally {
    await producer?.stop();
    await db.destroy();
  }
}

/** The summary for a person to read. */
export function formatSummary(summary: FileJobSummary): string {
  const lines = [
    `${summary.fileName} (job ${summary.jobId.slice(0, 16)}, mapping ${summary.mapping}, source ${summary.source})`,
    summary.duplicate ? '  already done: nothing published this time; the first run gave' : `  done in ${summary.seconds.toFixed(2)} s`,
    `  read      ${summary.read}`,
    `  published ${summary.published} to ${topics.cdrRaw.name}`,
    `  rejected  ${summary.rejected} to ${topics.cdrRejected.name}`,
  ];
  for (const [reason, count] of Object.entries(summary.rejectedByReason).sort(([, a], [, b]) => b - a)) lines.push(`    ${reason}: ${count}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// HTTP: POST /cdr-files?mapping=&zone=&usageType=&source=&name= with the file as the body.

const QUERY_PARAMS = new Set(['mapping', 'zone', 'usageType', 'source', 'name']);

/**
 * The upload endpoint (a parent key: a file may hold any brand's usage). The body is streamed
 * to a temp file (never held in memory), the job runs on it, the temp file is removed. 200 with
 * the summary; 400 listing every bad parameter; 422 for a file that cannot be read as a whole
 * (a bad header); other failures go to the HTTP layer's mapping (503 retryable, else 500).
 */
export function cdrFileUploadRoutes(deps: FileJobDeps): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    // Any content type: the body is never parsed, the handler streams it.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, _payload, done) => done(null));
    app.post<{ Querystring: Record<string, string> }>(
      '/cdr-files',
      {
        config: { audit: true },
        schema: {
          operationId: 'uploadCdrFile',
          summary: 'Upload a CDR file (the body, any content type): it is read, mapped and published to cdr.raw; a parent key',
          tags: ['cdr-files'],
          querystring: {
            type: 'object',
            properties: {
              mapping: { type: 'string', description: 'The file format: asterisk, rateline, ...' },
              zone: { type: 'string', description: 'IANA zone of local times in the file' },
              usageType: { type: 'string' },
              source: { type: 'string', description: 'The platform the file came from' },
              name: { type: 'string', description: 'The file name (a file is processed once per source and name)' },
            },
          },
          response: {
            200: answer(
              'The job summary: lines read = published + rejected (by reason); a file done before publishes nothing again',
              object({ jobId: text, fileName: text, source: text, mapping: text, read: integer, published: integer, rejected: integer, rejectedByReason: counts, duplicate: boolean, seconds: { type: 'number', description: 'How long the job took' } }),
            ),
            403: problemAnswer("A brand's key (uploads need the parent's)"),
            ...problemResponses,
          },
        },
      },
      async (request, reply) => {
        if (principalOf(request).kind !== 'parent') {
          request.raw.resume();
          throw new HttpError(403, 'parent_key_required', "CDR files may hold any brand's usage: upload them with the parent company's key");
        }
        const query = request.query;
        const unknown = Object.keys(query).filter((k) => !QUERY_PARAMS.has(k));
        const checked = checkFileJobParams({ mapping: query.mapping, zone: query.zone, usageType: query.usageType, source: query.source, fileName: query.name });
        const problems = [...(checked.ok ? [] : checked.problems), ...unknown.map((k) => `unknown parameter "${k}": expected ${[...QUERY_PARAMS].join(', ')}`)];
        if (!checked.ok || problems.length > 0) {
          request.raw.resume();
          void reply.header('connection', 'close');
          throw new HttpError(400, 'invalid_parameters', 'the parameters are invalid', problems.map((message) => ({ path: 'query', message })));
        }
        const dir = await mkdtemp(join(tmpdir(), 'rateline-upload-'));
        try {
          const path = join(dir, basename(checked.value.fileName));
          await pipeline(request.raw, createWriteStream(path));
          return send(reply, { status: 200, body: await runFileJob({ ...checked.value, path }, deps) });
        } catch (err) {
          deps.logger.warn('cdr file upload failed', { error: err, file: checked.value.fileName });
          if (err instanceof InvalidInputError) throw new HttpError(422, err.code, err.message, asProblems((err.details.problems ?? []) as unknown[]));
          throw err;
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
    );
  };
}
