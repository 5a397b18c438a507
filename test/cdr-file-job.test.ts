import { publishTestKeys, withKey, type TestKey } from './support/api-keys.ts';
import { once } from 'node:events';
import { createWriteStream, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kafka } from 'kafkajs';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cdrEventId, fileLineOrigin, rejectionId } from '../domain/cdr/index.ts';
import type { CdrRawRecord, CdrRejectedRecord } from '../contracts/records.ts';
import { createDb, migrateService } from '../runtime/db.ts';
import { BatchProducer, createKafka } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { systemClock } from '../runtime/time.ts';
import { applyTopics } from '../topics/apply.ts';
import { topics } from '../topics/catalog.ts';
import { migrations, SCHEMA } from '../services/ingest/schema.ts';
import { startIngest } from '../services/ingest/index.ts';
import { runFileJob, runFileJobWithConfig, type FileJobDeps, type FileJobInput, type FileJobSummary } from '../services/ingest/file-job.ts';
import { eventually, testConfig, testTopic, uniqueSuffix } from './helpers.ts';

const fixture = (name: string) => fileURLToPath(new URL(`../domain/cdr/fixtures/${name}`, import.meta.url));
const fixtureLines = (name: string) => readFileSync(fixture(name), 'utf8').split('\n');

/*
 * Expected outcomes, counted by hand from the fixture files (one CDR per physical line, no
 * header, no blank lines):
 *
 * asterisk-Master.csv, 11 lines. Disposition column: lines 2 NO ANSWER, 4 BUSY, 9 FAILED, so
 * 3 not_answered. Line 6 stops mid-field ("2026-11-02 16:00:0, unterminated quote):
 * malformed_line. Line 8 dialled the `s` extension, not a number: invalid_number. The other 6
 * (1, 3, 5, 7, 10, 11) are ANSWERED with sound numbers and times: published.
 *
 * freeswitch-Master.csv, 10 lines. hangup_cause: 2 NO_ANSWER, 4 USER_BUSY, 5 ORIGINATOR_CANCEL,
 * so 3 not_answered. Line 6 has 14 columns, not 15 (no write_codec): malformed_line. Line 7's
 * caller is 0000000000: invalid_number. The other 5 (1, 3, 8, 9, 10) are NORMAL_CLEARING:
 * published.
 */
const ASTERISK = {
  read: 11,
  published: 6,
  rejected: 5,
  rejectedByReason: { not_answered: 3, malformed_line: 1, invalid_number: 1 },
  publishedIds: ['1793646187.1', '1793648533.7', '1793651516.12', '1793653950.18', '1793658609.27', '1793661300.30'],
  rejectedLines: { 2: 'not_answered', 4: 'not_answered', 6: 'malformed_line', 8: 'invalid_number', 9: 'not_answered' } as Record<number, string>,
};
const FREESWITCH = {
  read: 10,
  published: 5,
  rejected: 5,
  rejectedByReason: { not_answered: 3, malformed_line: 1, invalid_number: 1 },
  publishedIds: [
    'a3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d',
    'd4e5f6a7-1b2c-4d3e-9f4a-5b6c7d8e9f0a',
    'e1f2a3b4-8c9d-4e0f-8a1b-2c3d4e5f6a7b',
    '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
    '1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e',
  ],
  rejectedLines: { 2: 'not_answered', 4: 'not_answered', 5: 'not_answered', 6: 'malformed_line', 7: 'invalid_number' } as Record<number, string>,
};

type Offsets = Map<number, number>;

let kafka: Kafka;
let serde: AvroSerde;
let db: Knex;
let producer: BatchProducer;
let deps: FileJobDeps;
let parentKey: TestKey;
let brandKey: TestKey;

async function endOffsets(topic: string): Promise<Offsets> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
  } finally {
    await admin.disconnect();
  }
}

interface Read {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

/**
 * Every record of `topic` between two sets of offsets, read by a fresh group that seeks to
 * `from`: the shared topics hold other suites' records too, so tests read only their window.
 */
async function readWindow(topic: string, from: Offsets, to: Offsets): Promise<Read[]> {
  const wanted = [...to].filter(([p, end]) => end > (from.get(p) ?? 0));
  if (wanted.length === 0) return [];
  const out = new Map<string, Read>();
  const next = new Map(wanted.map(([p]) => [p, from.get(p) ?? 0]));
  const consumer = kafka.consumer({ groupId: `file-job-window-${uniqueSuffix()}` });
  // Seek once the group is joined (kafkajs refuses a seek before); a rejoin seeks again, hence the map.
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const [partition] of wanted) consumer.seek({ topic, partition, offset: String(from.get(partition) ?? 0) });
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: false });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      const end = to.get(batch.partition) ?? 0;
      for (const m of batch.messages) {
        const offset = Number(m.offset);
        if (offset < (from.get(batch.partition) ?? 0) || offset >= end) continue;
        const headers = Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)]));
        out.set(`${batch.partition}:${offset}`, { key: m.key?.toString() ?? '', value: m.value!, headers });
        next.set(batch.partition, Math.max(next.get(batch.partition) ?? 0, offset + 1));
      }
    },
  });
  try {
    await eventually(`${topic} up to ${JSON.stringify([...to])}`, () => (wanted.every(([p, end]) => (next.get(p) ?? 0) >= end) ? true : undefined), 60_000);
  } finally {
    await consumer.disconnect();
  }
  return [...out.values()];
}

async function decodeAll<T>(records: Read[]): Promise<(Read & { record: T })[]> {
  await serde.prepare(records.map((r) => r.value));
  return records.map((r) => ({ ...r, record: serde.decode<T>(r.value) }));
}

const bySource = (source: string) => (r: Read) => r.key === source || r.key.startsWith(`${source}/`);

/** Runs a fixture through the job and returns the summary with what it put on both topics. */
async function runAndRead(input: FileJobInput) {
  const rawBefore = await endOffsets(topics.cdrRaw.name);
  const rejectedBefore = await endOffsets(topics.cdrRejected.name);
  const summary = await runFileJob(input, deps);
  const raw = await decodeAll<CdrRawRecord>((await readWindow(topics.cdrRaw.name, rawBefore, await endOffsets(topics.cdrRaw.name))).filter(bySource(input.source)));
  // Services running on the shared stack may reject these CDRs further down (stage resolve, ...): keep the file's own.
  const rejected = (await decodeAll<CdrRejectedRecord>((await readWindow(topics.cdrRejected.name, rejectedBefore, await endOffsets(topics.cdrRejected.name))).filter(bySource(input.source)))).filter(
    (r) => r.record.stage === 'file',
  );
  return { summary, raw, rejected };
}

beforeAll(async () => {
  const config = testConfig('cdr-file-test');
  kafka = createKafka(config.kafka, silentLogger);
  serde = new AvroSerde(config.registry.url);
  await applyTopics(kafka, serde, Object.values(topics));
  [parentKey, brandKey] = (await publishTestKeys(kafka, serde, [{ brand: null }, { brand: 'some-brand' }])) as [TestKey, TestKey];
  db = createDb(config.postgres);
  await migrateService(db, SCHEMA, migrations);
  producer = await BatchProducer.connect(kafka);
  deps = { producer, serde, db, clock: systemClock, logger: silentLogger };
});

afterAll(async () => {
  await producer?.stop();
  await db?.destroy();
});

describe('the CDR file job against the real stack', () => {
  it('publishes the Asterisk fixture: answered calls to cdr.raw, the rest to cdr.rejected with file name and line', async () => {
    const source = `ast-${uniqueSuffix()}`;
    const fileName = `asterisk-${source}.csv`;
    const { summary, raw, rejected } = await runAndRead({ path: fixture('asterisk-Master.csv'), fileName, mapping: 'asterisk', zone: 'America/New_York', usageType: 'LCA', source });

    expect(summary).toMatchObject({ fileName, source, mapping: 'asterisk', read: ASTERISK.read, published: ASTERISK.published, rejected: ASTERISK.rejected, rejectedByReason: ASTERISK.rejectedByReason, duplicate: false });
    expect(summary.jobId).toMatch(/^[0-9a-f]{64}$/);

    expect(raw.map((r) => r.record.cdrId).sort()).toEqual([...ASTERISK.publishedIds].sort());
    for (const r of raw) {
      expect(r.key).toBe(`${source}/${r.record.cdrId}`);
      expect(r.headers['event-id']).toBe(cdrEventId(source, r.record.cdrId));
      expect(r.record.attributes.file_name).toBe(fileName);
    }
    const smith = raw.find((r) => r.record.cdrId === '1793648533.7')!.record;
    // Line 3: 14:42:20 EST answer = 19:42:20 UTC; billsec 420; numbers normalised to E.164.
    expect(smith).toMatchObject({ callingNumber: '+13125550199', calledNumber: '+18005550100', usageType: 'LCA', startTime: Date.UTC(2026, 10, 2, 19, 42, 20), durationSeconds: 420, attributes: { file_line: '3' } });

    const lines = fixtureLines('asterisk-Master.csv');
    expect(Object.fromEntries(rejected.map((r) => [r.record.origin.line, r.record.reason]))).toEqual(ASTERISK.rejectedLines);
    for (const { key, headers, record } of rejected) {
      expect(key).toBe(source);
      expect(record).toMatchObject({ stage: 'file', source, payloadFormat: 'csv', origin: { file: fileName, topic: null } });
      expect(record.payload.toString('utf8')).toBe(lines[record.origin.line! - 1]);
      expect(record.eventId).toBe(rejectionId({ stage: 'file', origin: fileLineOrigin(summary.jobId, record.origin.line!), reason: record.reason }));
      expect(headers['event-id']).toBe(record.eventId);
    }
    expect(rejected.find((r) => r.record.origin.line === 8)!.record.detail).toContain('calledNumber');
  });

  it('publishes the FreeSWITCH fixture with the expected counts and rejected lines', async () => {
    const source = `fs-${uniqueSuffix()}`;
    const fileName = `freeswitch-${source}.csv`;
    const { summary, raw, rejected } = await runAndRead({ path: fixture('freeswitch-Master.csv'), fileName, mapping: 'freeswitch', zone: 'America/Chicago', usageType: 'LCA', source });

    expect(summary).toMatchObject({ read: FREESWITCH.read, published: FREESWITCH.published, rejected: FREESWITCH.rejected, rejectedByReason: FREESWITCH.rejectedByReason, duplicate: false });
    expect(raw.map((r) => r.record.cdrId).sort()).toEqual([...FREESWITCH.publishedIds].sort());
    // Line 1: answered 08:15:04 CST = 14:15:04 UTC.
    expect(raw.find((r) => r.record.cdrId === FREESWITCH.publishedIds[0])!.record).toMatchObject({ startTime: Date.UTC(2026, 10, 2, 14, 15, 4), durationSeconds: 300 });
    expect(Object.fromEntries(rejected.map((r) => [r.record.origin.line, r.record.reason]))).toEqual(FREESWITCH.rejectedLines);
    expect(rejected.every((r) => r.record.origin.file === fileName)).toBe(true);
    expect(rejected.find((r) => r.record.origin.line === 6)!.record.detail).toBe('expected 15 columns for freeswitch, got 14');
  });

  it('publishes nothing new for the same file twice; a job left running is redone with the same ids', async () => {
    const source = `dup-${uniqueSuffix()}`;
    const input: FileJobInput = { path: fixture('asterisk-Master.csv'), fileName: 'Master.csv', mapping: 'asterisk', zone: 'America/New_York', usageType: 'LCA', source };
    const first = await runAndRead(input);
    expect(first.summary).toMatchObject({ published: 6, rejected: 5, duplicate: false });
    expect(first.raw).toHaveLength(6);

    // Same bytes under another name: the same job.
    const second = await runAndRead({ ...input, fileName: 'Master-copy.csv' });
    expect(second.summary).toEqual({ ...first.summary, duplicate: true });
    expect(second.raw).toHaveLength(0);
    expect(second.rejected).toHaveLength(0);
    const row = await db(`${SCHEMA}.file_jobs`).where({ job_id: first.summary.jobId }).first();
    expect(row).toMatchObject({ status: 'done', source, file_name: 'Master.csv' });

    // Other options are another job: a different source is not a duplicate.
    const other = await runFileJob({ ...input, source: `${source}-b` }, deps);
    expect(other.duplicate).toBe(false);
    expect(other.jobId).not.toBe(first.summary.jobId);

    // A crash mid-job leaves 'running': the next run redoes the file with the same event ids.
    await db(`${SCHEMA}.file_jobs`).where({ job_id: first.summary.jobId }).update({ status: 'running' });
    const redo = await runAndRead(input);
    expect(redo.summary).toMatchObject({ jobId: first.summary.jobId, published: 6, rejected: 5, duplicate: false });
    expect(redo.raw.map((r) => r.headers['event-id']).sort()).toEqual(first.raw.map((r) => r.headers['event-id']).sort());
    expect(redo.rejected.map((r) => r.record.eventId).sort()).toEqual(first.rejected.map((r) => r.record.eventId).sort());
  });

  it('takes uploads on the ingest service: POST /cdr-files returns the summary; bad parameters get 400 with every problem', async () => {
    const service = await startIngest(testConfig('ingest-upload-test'), { kafka, serde, logger: silentLogger, clock: systemClock });
    try {
      const source = `up-${uniqueSuffix()}`;
      const body = readFileSync(fixture('asterisk-Master.csv'));
      const url = `${service.apiUrl}/cdr-files?mapping=asterisk&zone=America/New_York&source=${source}&name=Master.csv`;
      const rawBefore = await endOffsets(topics.cdrRaw.name);

      const response = await fetch(url, { method: 'POST', body, headers: withKey(parentKey, { 'content-type': 'text/csv' }) });
      expect(response.status).toBe(200);
      const summary = (await response.json()) as FileJobSummary;
      expect(summary).toMatchObject({ fileName: 'Master.csv', source, mapping: 'asterisk', read: 11, published: 6, rejected: 5, rejectedByReason: ASTERISK.rejectedByReason, duplicate: false });

      // The same summary as the job run directly on the file (no network in between): a rerun of it is a duplicate.
      const direct = await runFileJob({ path: fixture('asterisk-Master.csv'), fileName: 'Master.csv', mapping: 'asterisk', zone: 'America/New_York', usageType: 'LCA', source }, deps);
      expect(direct).toEqual({ ...summary, duplicate: true });

      const again = await fetch(url, { method: 'POST', body, headers: withKey(parentKey) });
      expect(again.status).toBe(200);
      expect(await again.json()).toEqual({ ...summary, duplicate: true });
      const mine = (await readWindow(topics.cdrRaw.name, rawBefore, await endOffsets(topics.cdrRaw.name))).filter(bySource(source));
      expect(mine).toHaveLength(6);

      const bad = await fetch(`${service.apiUrl}/cdr-files?mapping=cisco&zone=Mars/Olympus&colour=red`, { method: 'POST', body, headers: withKey(parentKey) });
      expect(bad.status).toBe(400);
      const problems = (await bad.json()) as { error: string; problems: { path: string; message: string }[] };
      expect(problems.error).toBe('invalid_parameters');
      expect(problems.problems).toHaveLength(5);
      expect(problems.problems.map((p) => p.message).join('\n')).toMatch(/mapping "cisco" is unknown[\s\S]*zone "Mars\/Olympus"[\s\S]*source is missing[\s\S]*file name is missing[\s\S]*unknown parameter "colour"/);

      const badHeader = await fetch(`${service.apiUrl}/cdr-files?mapping=rateline&source=${source}&name=bad.csv`, { method: 'POST', body: 'id,from,to\n1,2,3\n', headers: withKey(parentKey) });
      expect(badHeader.status).toBe(422);
      expect(await badHeader.json()).toMatchObject({ error: 'invalid_header' });

      // Uploads only: a GET of the upload path is the wrong method, not a missing route.
      const listing = await fetch(`${service.apiUrl}/cdr-files`, { headers: withKey(parentKey) });
      expect(listing.status).toBe(405);
      expect(listing.headers.get('allow')).toBe('POST');

      // A file may hold any brand's usage: no key 401, an unknown key 401, a brand's key 403; nothing published.
      const before = await endOffsets(topics.cdrRaw.name);
      const other = `${url.replace(source, `${source}-refused`)}`;
      expect((await fetch(other, { method: 'POST', body })).status).toBe(401);
      expect((await fetch(other, { method: 'POST', body, headers: { 'x-api-key': 'rlk_nobody_0123456789abcdefghijklmnop' } })).status).toBe(401);
      expect(await (await fetch(other, { method: 'POST', body, headers: withKey(brandKey) })).json()).toMatchObject({ status: 403, error: 'parent_key_required' });
      expect((await readWindow(topics.cdrRaw.name, before, await endOffsets(topics.cdrRaw.name))).filter(bySource(`${source}-refused`))).toEqual([]);
      expect(await (await fetch(`${service.apiUrl}/openapi.json`)).json()).toEqual(JSON.parse(readFileSync('services/ingest/openapi.json', 'utf8')));
      // /metrics and /healthz are on the ops listener, not the API's.
      expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${service.apiUrl}/healthz`, { headers: withKey(parentKey) })).status).toBe(404);
    } finally {
      await service.stop();
    }
  });

  it('streams a generated Asterisk file through the CLI-level function in bounded memory', async () => {
    // 1,000,000 lines take about 40 s here (2 cores shared with the broker); a smaller run: RATELINE_FILE_JOB_LINES=200000.
    const lines = Number(process.env.RATELINE_FILE_JOB_LINES ?? 1_000_000);
    const path = join(tmpdir(), `rateline-big-${uniqueSuffix()}-Master.csv`);
    // Its own topics: a benchmark's hundreds of thousands of CDRs must not flood the shared cdr.raw.
    const rawTopic = testTopic('file-job-raw', { partitions: topics.cdrRaw.partitions });
    const rejectedTopic = testTopic('file-job-rejected', { partitions: topics.cdrRejected.partitions });
    const admin = kafka.admin();
    try {
      await writeAsteriskFile(path, lines);
      await applyTopics(kafka, undefined, [rawTopic, rejectedTopic]);
      const source = `big-${uniqueSuffix()}`;

      global.gc?.();
      const rssBefore = process.memoryUsage().rss;
      let rssPeak = rssBefore;
      const sampler = setInterval(() => {
        rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      }, 100);
      const started = performance.now();
      let summary: FileJobSummary;
      try {
        summary = await runFileJobWithConfig(testConfig('cdr-file-big'), { path, fileName: 'big-Master.csv', mapping: 'asterisk', zone: 'UTC', usageType: 'LCA', source }, { topics: { raw: rawTopic.name, rejected: rejectedTopic.name } });
      } finally {
        clearInterval(sampler);
      }
      const seconds = (performance.now() - started) / 1000;
      console.log(
        `cdr file job: ${lines} lines in ${seconds.toFixed(1)} s = ${Math.round(lines / seconds)} rows/s; ` +
          `RSS ${(rssBefore / 1e6).toFixed(0)} MB before, peak ${(rssPeak / 1e6).toFixed(0)} MB (+${((rssPeak - rssBefore) / 1e6).toFixed(0)} MB)`,
      );

      // Every 10th line is NO ANSWER, the rest ANSWERED (see writeAsteriskFile).
      expect(summary).toMatchObject({ read: lines, published: lines * 0.9, rejected: lines * 0.1, rejectedByReason: { not_answered: lines * 0.1 }, duplicate: false });
      const sum = (offsets: Offsets) => [...offsets.values()].reduce((a, b) => a + b, 0);
      expect(sum(await endOffsets(rawTopic.name))).toBe(lines * 0.9);
      expect(sum(await endOffsets(rejectedTopic.name))).toBe(lines * 0.1);
      expect(rssPeak - rssBefore).toBeLessThan(300e6);
    } finally {
      await rm(path, { force: true });
      await admin.connect();
      await admin.deleteTopics({ topics: [rawTopic.name, rejectedTopic.name] }).catch(() => undefined);
      await admin.disconnect();
    }
  }, 600_000);
});

/** Asterisk Master.csv lines, UTC times, one call every 400 ms; every 10th NO ANSWER. */
async function writeAsteriskFile(path: string, lines: number): Promise<void> {
  const out = createWriteStream(path);
  const base = Date.UTC(2026, 10, 2, 5, 0, 0);
  const local = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
  for (let i = 0; i < lines; i++) {
    const start = base + i * 400;
    const billsec = i % 600;
    const answered = i % 10 !== 0;
    const answer = answered ? `"${local(start + 5000)}"` : '';
    const line =
      `"","212555${String(i % 10_000).padStart(4, '0')}","18005550100","from-pstn","""Caller ${i}"" <2125550000>",` +
      `"PJSIP/trunk-${i.toString(16).padStart(8, '0')}","PJSIP/agent-1","Dial","PJSIP/agent-1,30","${local(start)}",${answer},` +
      `"${local(start + 5000 + billsec * 1000)}",${billsec + 5},${answered ? billsec : 0},"${answered ? 'ANSWERED' : 'NO ANSWER'}","DOCUMENTATION","${1793600000 + i}.${i}",""\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}
