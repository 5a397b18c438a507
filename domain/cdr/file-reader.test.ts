import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RATELINE_CSV, asteriskMasterCsv, freeswitchMasterCsv } from './csv-mapping.ts';
import type { FileLineResult } from './file-reader.ts';
import { CdrFileError, emptySummary, readCdrFile, summariseFile, tally } from './file-reader.ts';
import type { ValidationPolicy } from './types.ts';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const policy: ValidationPolicy = {
  usageTypes: ['LCA', 'IVR', 'CHAT', 'QRS'],
  maxDurationSeconds: 86_400,
  durationToleranceSeconds: 2,
};
const utc = (h: number, mi: number, s: number) => Date.UTC(2026, 10, 2, h, mi, s);

async function collect(iterable: AsyncIterable<FileLineResult>): Promise<FileLineResult[]> {
  const out: FileLineResult[] = [];
  for await (const r of iterable) out.push(r);
  return out;
}
const outline = (results: FileLineResult[]) => results.map((r) => (r.ok ? `${r.line}:ok` : `${r.line}:${r.reason}`));

describe('readCdrFile: Asterisk Master.csv fixture', () => {
  const mapping = asteriskMasterCsv({
    zone: 'America/New_York',
    usageType: { kind: 'column', column: 'dcontext', map: { 'from-tollfree-ivr': 'IVR' }, fallback: 'LCA' },
  });

  it('accepts answered calls and rejects the rest with a reason, line by line', async () => {
    const results = await collect(readCdrFile(fixture('asterisk-Master.csv'), mapping, { source: 'ast-job-7', policy }));
    expect(outline(results)).toEqual([
      '1:ok',
      '2:not_answered', // NO ANSWER
      '3:ok', // "Smith, John" in clid
      '4:not_answered', // BUSY
      '5:ok', // anonymous caller
      '6:malformed_line', // truncated mid-write
      '7:ok', // international caller, IVR context
      '8:invalid_number', // dialled the 's' extension
      '9:not_answered', // FAILED
      '10:ok',
      '11:ok',
    ]);
    const byLine = new Map(results.map((r) => [r.line, r]));
    expect(byLine.get(3)).toMatchObject({
      ok: true,
      cdr: {
        cdrId: '1793648533.7',
        callingNumber: '+13125550199',
        calledNumber: '+18005550100',
        usageType: 'LCA',
        startTime: utc(19, 42, 20), // 14:42:20 EST
        endTime: utc(19, 49, 20),
        durationSeconds: 420,
        attributes: { clid: '"Smith, John" <3125550199>', platform_accountcode: 'acme', amaflags: 'BILLING' },
      },
    });
    expect(byLine.get(5)).toMatchObject({ ok: true, cdr: { callingNumber: null, durationSeconds: 60 } });
    expect(byLine.get(7)).toMatchObject({
      ok: true,
      cdr: { callingNumber: '+442079460958', calledNumber: '+18005550123', usageType: 'IVR', durationSeconds: 1080 },
    });
    expect(byLine.get(11)).toMatchObject({ ok: true, cdr: { attributes: { userfield: 'campaign=fall26' } } });
    const malformed = byLine.get(6);
    expect(malformed).toMatchObject({ ok: false, reason: 'malformed_line', detail: 'unterminated quoted field at character 172' });
    expect(malformed?.ok === false && malformed.rawLine.endsWith('"2026-11-02 16:00:0')).toBe(true);
    expect(byLine.get(8)).toMatchObject({ detail: 'calledNumber: "s" is not a phone number that normalises to E.164 (+ then 8-15 digits)' });
  });

  it('without a policy, yields records as mapped (numbers as written)', async () => {
    const results = await collect(readCdrFile(fixture('asterisk-Master.csv'), mapping, { source: 'ast-job-7' }));
    expect(outline(results).filter((l) => l.endsWith(':ok'))).toHaveLength(7); // the 's' line maps fine
    expect(results[0]).toMatchObject({ ok: true, cdr: { callingNumber: '2125550142', calledNumber: '18005550100' } });
  });
});

describe('readCdrFile: FreeSWITCH fixture', () => {
  it('accepts NORMAL_CLEARING calls', async () => {
    const mapping = freeswitchMasterCsv({
      zone: 'America/Chicago',
      usageType: { kind: 'column', column: 'context', map: { ivr: 'IVR', public: 'LCA' } },
    });
    const results = await collect(readCdrFile(fixture('freeswitch-Master.csv'), mapping, { source: 'fs-job-3', policy }));
    expect(outline(results)).toEqual([
      '1:ok',
      '2:not_answered', // NO_ANSWER
      '3:ok', // "Smith, John"
      '4:not_answered', // USER_BUSY
      '5:not_answered', // ORIGINATOR_CANCEL
      '6:malformed_line', // 14 columns
      '7:invalid_number', // caller 0000000000
      '8:ok', // doubled quotes in the name
      '9:ok', // ivr context
      '10:ok',
    ]);
    expect(results[0]).toMatchObject({
      cdr: { cdrId: 'a3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d', calledNumber: '+18005550100', startTime: utc(14, 15, 4), durationSeconds: 300 },
    });
    expect(results[7]).toMatchObject({ cdr: { attributes: { caller_id_name: 'Bob "The Builder" Lee' } } });
    expect(results[8]).toMatchObject({ cdr: { usageType: 'IVR', startTime: utc(18, 0, 1) } });
    expect(results[5]).toMatchObject({ detail: 'expected 15 columns for freeswitch, got 14' });
  });
});

describe('readCdrFile: rateline CSV fixture', () => {
  it('skips the header and blank lines, keeping physical line numbers', async () => {
    const results = await collect(readCdrFile(fixture('rateline.csv'), RATELINE_CSV, { source: 'up-1', policy, receivedAt: 5 }));
    expect(outline(results)).toEqual([
      '2:ok',
      '3:ok',
      '5:ok', // line 4 is blank
      '6:invalid_time_range',
      '7:unknown_usage_type',
      '8:invalid_timestamp',
    ]);
    expect(results[0]).toMatchObject({
      cdr: { callingNumber: '+12125550142', calledNumber: '+18005550100', startTime: utc(19, 3, 12), receivedAt: 5, attributes: { agent_id: 'ag-7' } },
    });
    expect(results[2]).toMatchObject({ cdr: { callingNumber: '+442079460958', startTime: utc(19, 0, 0) } });
  });

  it('summarises a file', async () => {
    const expected = {
      read: 6,
      accepted: 3,
      rejected: 3,
      rejectedByReason: { invalid_time_range: 1, unknown_usage_type: 1, invalid_timestamp: 1 },
    };
    expect(await summariseFile(fixture('rateline.csv'), RATELINE_CSV, { source: 'up-1', policy })).toEqual(expected);
    const results = await collect(readCdrFile(fixture('rateline.csv'), RATELINE_CSV, { source: 'up-1', policy }));
    expect(results.reduce(tally, emptySummary())).toEqual(expected);
  });
});

describe('readCdrFile: files it cannot read', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rateline-cdr-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a header without the mapped columns', async () => {
    const path = join(dir, 'bad-header.csv');
    await writeFile(path, 'id,from,to\n1,2,3\n');
    await expect(collect(readCdrFile(path, RATELINE_CSV, { source: 'x' }))).rejects.toBeInstanceOf(CdrFileError);
    await expect(collect(readCdrFile(path, RATELINE_CSV, { source: 'x' }))).rejects.toMatchObject({ code: 'invalid_header' });
  });

  it('accepts a BOM and CRLF line ends', async () => {
    const path = join(dir, 'crlf.csv');
    await writeFile(
      path,
      '\ufeffcdr_id,calling_number,called_number,usage_type,start_time,end_time,duration_seconds\r\n' +
        'r-1,,+18005550100,LCA,2026-11-02T19:10:00Z,2026-11-02T19:11:00Z,60\r\n',
    );
    expect(outline(await collect(readCdrFile(path, RATELINE_CSV, { source: 'x', policy })))).toEqual(['2:ok']);
  });

  it('streams a 200,000-line Asterisk file in bounded memory', async () => {
    const lines = 200_000;
    const path = join(dir, 'big-Master.csv');
    const out = createWriteStream(path);
    const base = Date.UTC(2026, 10, 2, 5, 0, 0); // 00:00 EST
    const pad = (n: number) => String(n).padStart(2, '0');
    const local = (ms: number) => {
      const d = new Date(ms - 5 * 3_600_000); // EST, no DST change on 2 Nov
      return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
    };
    for (let i = 0; i < lines; i++) {
      const start = base + i * 400; // spread over ~22 hours
      const billsec = i % 600;
      const answered = i % 10 !== 0; // every 10th is NO ANSWER
      const answer = answered ? `"${local(start + 5000)}"` : '';
      const end = local(start + 5000 + billsec * 1000);
      const line =
        `"","212555${String(i % 10_000).padStart(4, '0')}","18005550100","from-pstn","""Caller ${i}"" <2125550000>",` +
        `"PJSIP/trunk-${i.toString(16).padStart(8, '0')}","PJSIP/agent-1","Dial","PJSIP/agent-1,30","${local(start)}",${answer},` +
        `"${end}",${billsec + 5},${answered ? billsec : 0},"${answered ? 'ANSWERED' : 'NO ANSWER'}","DOCUMENTATION","${1793600000 + i}.${i}",""\n`;
      if (!out.write(line)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');

    const mapping = asteriskMasterCsv({ zone: 'America/New_York' });
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    let peak = heapBefore;
    let summary = emptySummary();
    const started = performance.now();
    for await (const result of readCdrFile(path, mapping, { source: 'big', policy })) {
      summary = tally(summary, result);
      if (summary.read % 20_000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `readCdrFile: ${lines} lines in ${seconds.toFixed(2)} s = ${Math.round(lines / seconds)} rows/s; ` +
        `heap grew at most ${((peak - heapBefore) / 1e6).toFixed(1)} MB`,
    );
    expect(summary).toEqual({
      read: lines,
      accepted: lines * 0.9,
      rejected: lines * 0.1,
      rejectedByReason: { not_answered: lines * 0.1 },
    });
  }, 120_000);
});
