import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { checkFileJobParams, fileJobId, formatSummary, mappingFor, type FileJobOptions } from './file-job.ts';

describe('checkFileJobParams', () => {
  it('applies the defaults for a platform mapping', () => {
    expect(checkFileJobParams({ mapping: 'asterisk', source: 'ast-1', fileName: 'Master.csv' })).toEqual({
      ok: true,
      value: { mapping: 'asterisk', zone: 'UTC', usageType: 'LCA', source: 'ast-1', fileName: 'Master.csv' },
    });
    expect(checkFileJobParams({ mapping: 'freeswitch', zone: 'America/Chicago', usageType: 'IVR', source: 'fs-1', fileName: 'Master.csv' })).toMatchObject({
      ok: true,
      value: { zone: 'America/Chicago', usageType: 'IVR' },
    });
  });

  it('takes neither zone nor usage type for the rateline CSV, which carries both per line', () => {
    expect(checkFileJobParams({ mapping: 'rateline', source: 'up', fileName: 'a.csv' })).toEqual({
      ok: true,
      value: { mapping: 'rateline', zone: null, usageType: null, source: 'up', fileName: 'a.csv' },
    });
    const checked = checkFileJobParams({ mapping: 'rateline', zone: 'UTC', usageType: 'LCA', source: 'up', fileName: 'a.csv' });
    expect(checked.ok === false && checked.problems).toEqual([
      'zone does not apply to the rateline mapping: its times are ISO 8601 with an offset',
      'usage type does not apply to the rateline mapping: its usage_type column names it',
    ]);
  });

  it('reports every problem at once', () => {
    const checked = checkFileJobParams({ mapping: 'cisco', zone: 'Mars/Olympus', usageType: 'a b', source: 'has/slash', fileName: '../etc' });
    expect(checked.ok).toBe(false);
    expect(checked.ok === false && checked.problems.map((p) => p.split(' ')[0])).toEqual(['mapping', 'zone', 'usage', 'source', 'file']);
    const empty = checkFileJobParams({});
    expect(empty.ok === false && empty.problems).toEqual([
      'mapping is missing: one of asterisk, freeswitch, rateline',
      'source is missing: name the telephony platform the file came from (e.g. asterisk-nyc-1)',
      'file name is missing',
    ]);
  });
});

describe('mappingFor', () => {
  it('gives the ready mapping with the zone and the constant usage type', () => {
    const options: FileJobOptions = { mapping: 'asterisk', zone: 'America/New_York', usageType: 'IVR', source: 's' };
    expect(mappingFor(options)).toMatchObject({ platform: 'asterisk', time: { kind: 'local', zone: 'America/New_York' }, usageType: { kind: 'constant', value: 'IVR' } });
    expect(mappingFor({ ...options, mapping: 'freeswitch' })).toMatchObject({ platform: 'freeswitch', cdrId: 'uuid' });
    expect(mappingFor({ mapping: 'rateline', zone: null, usageType: null, source: 's' })).toMatchObject({ platform: 'rateline', header: true });
  });
});

describe('fileJobId', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'file-job-id-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is the SHA-256 of the options line and the bytes; any option or byte changes it, the path does not', async () => {
    const options: FileJobOptions = { mapping: 'asterisk', zone: 'UTC', usageType: 'LCA', source: 'ast-1' };
    const a = join(dir, 'a.csv');
    const b = join(dir, 'b.csv');
    await writeFile(a, 'line one\nline two\n');
    await writeFile(b, 'line one\nline two\n');
    const expected = createHash('sha256').update('{"mapping":"asterisk","zone":"UTC","usageType":"LCA","source":"ast-1"}\nline one\nline two\n').digest('hex');
    expect(await fileJobId(a, options)).toBe(expected);
    expect(await fileJobId(b, options)).toBe(expected);
    expect(await fileJobId(a, { ...options, source: 'ast-2' })).not.toBe(expected);
    expect(await fileJobId(a, { ...options, zone: 'America/New_York' })).not.toBe(expected);
    await writeFile(b, 'line one\nline twO\n');
    expect(await fileJobId(b, options)).not.toBe(expected);
  });
});

describe('formatSummary', () => {
  it('lists the counts and the reasons, most frequent first', () => {
    const text = formatSummary({
      jobId: 'ab'.repeat(32),
      fileName: 'Master.csv',
      source: 'ast-1',
      mapping: 'asterisk',
      read: 11,
      published: 6,
      rejected: 5,
      rejectedByReason: { malformed_line: 1, not_answered: 3, invalid_number: 1 },
      duplicate: false,
      seconds: 0.5,
    });
    expect(text.split('\n')).toEqual([
      'Master.csv (job abababababababab, mapping asterisk, source ast-1)',
      '  done in 0.50 s',
      '  read      11',
      '  published 6 to cdr.raw',
      '  rejected  5 to cdr.rejected',
      '    not_answered: 3',
      '    malformed_line: 1',
      '    invalid_number: 1',
    ]);
  });
});
