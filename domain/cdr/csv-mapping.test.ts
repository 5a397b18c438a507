import { describe, expect, it } from 'vitest';
import type { CsvMapping } from './csv-mapping.ts';
import { RATELINE_CSV, asteriskMasterCsv, chooseInstants, compileMapping, freeswitchMasterCsv, mapCsvLine } from './csv-mapping.ts';
import { localTimeInstants, parseIsoWithOffset, zoneNamed } from './local-time.ts';

const utc = (y: number, mo: number, d: number, h: number, mi: number, s: number) => Date.UTC(y, mo - 1, d, h, mi, s);
const ctx = { source: 'job-1', receivedAt: 1_800_000_000_000 };

function compiled(mapping: CsvMapping, header?: string[]) {
  const result = compileMapping(mapping, header);
  if (!result.ok) throw new Error(result.error.join('; '));
  return result.value;
}

describe('local times', () => {
  const ny = zoneNamed('America/New_York')!;

  it.each<[string, string, number[]]>([
    // EST (-05:00) after 1 Nov 2026
    ['America/New_York', '2026-11-02 14:03:07', [utc(2026, 11, 2, 19, 3, 7)]],
    // EDT (-04:00) in summer
    ['America/New_York', '2026-07-01 09:00:00', [utc(2026, 7, 1, 13, 0, 0)]],
    // Clocks go back 02:00 EDT -> 01:00 EST on 1 Nov 2026: 01:30 happens twice
    ['America/New_York', '2026-11-01 01:30:00', [utc(2026, 11, 1, 5, 30, 0), utc(2026, 11, 1, 6, 30, 0)]],
    ['America/New_York', '2026-11-01 00:59:59', [utc(2026, 11, 1, 4, 59, 59)]],
    ['America/New_York', '2026-11-01 02:00:00', [utc(2026, 11, 1, 7, 0, 0)]],
    // Europe/London: BST ends 25 Oct 2026 at 02:00 BST -> 01:00 GMT
    ['Europe/London', '2026-10-25 01:15:00', [utc(2026, 10, 25, 0, 15, 0), utc(2026, 10, 25, 1, 15, 0)]],
    // Lord Howe moves by 30 minutes
    ['Australia/Lord_Howe', '2026-04-05 01:45:00', [utc(2026, 4, 4, 14, 45, 0), utc(2026, 4, 4, 15, 15, 0)]],
    ['UTC', '2026-11-01 01:30:00', [utc(2026, 11, 1, 1, 30, 0)]],
  ])('%s %s', (zone, text, instants) => {
    expect(localTimeInstants(text, zoneNamed(zone)!)).toEqual({ ok: true, instants });
  });

  it('refuses a time in the skipped hour and malformed text', () => {
    // Clocks go forward 02:00 EST -> 03:00 EDT on 8 Mar 2026
    expect(localTimeInstants('2026-03-08 02:30:00', ny)).toEqual({ ok: false, problem: 'nonexistent' });
    expect(localTimeInstants('2026-03-08 03:00:00', ny)).toEqual({ ok: true, instants: [utc(2026, 3, 8, 7, 0, 0)] });
    for (const bad of ['2026-02-30 10:00:00', '2026-11-02 24:00:00', '2026-11-02T14:03', '02/11/2026 14:03:07', '']) {
      expect(localTimeInstants(bad, ny)).toEqual({ ok: false, problem: 'unparseable' });
    }
  });

  it.each<[string, number | undefined]>([
    ['2026-11-02T14:03:12-05:00', utc(2026, 11, 2, 19, 3, 12)],
    ['2026-11-02T19:03:12Z', utc(2026, 11, 2, 19, 3, 12)],
    ['2026-11-02T19:03:12.250Z', utc(2026, 11, 2, 19, 3, 12) + 250],
    ['2026-11-02T20:00:00+0100', utc(2026, 11, 2, 19, 0, 0)],
    ['2026-11-02T05:30:00+05:30', utc(2026, 11, 2, 0, 0, 0)],
    ['2026-11-02T19:03:12', undefined], // no offset
    ['2026-11-02 15:00', undefined],
    ['2026-02-29T00:00:00Z', undefined], // 2026 is not a leap year
  ])('ISO %s', (text, expected) => {
    expect(parseIsoWithOffset(text)).toBe(expected);
  });
});

describe('chooseInstants', () => {
  const first = utc(2026, 11, 1, 5, 30, 0);
  const second = utc(2026, 11, 1, 6, 30, 0);
  it('lets the measured durations pick, and falls back to the first occurrence', () => {
    // 01:30 twice, end 01:40 twice, 600 s: both pairs fit, the first occurrence wins
    expect(chooseInstants([first, second], undefined, [first + 600_000, second + 600_000], 600)).toEqual({
      start: first,
      answer: undefined,
      end: first + 600_000,
    });
    // end 01:40 but 4200 s long: started at the first 01:30, ended at the second 01:40
    expect(chooseInstants([first, second], undefined, [first + 600_000, second + 600_000], 4200).end).toBe(second + 600_000);
  });
});

describe('Asterisk Master.csv mapping', () => {
  const asterisk = compiled(asteriskMasterCsv({ zone: 'America/New_York' }));
  const line =
    '"","2125550142","18005550100","from-pstn","""Jane Doe"" <2125550142>","PJSIP/trunk-00000001",' +
    '"PJSIP/agent101-00000002","Dial","PJSIP/agent101,30,tT","2026-11-02 14:03:07","2026-11-02 14:03:12",' +
    '"2026-11-02 14:05:10",123,118,"ANSWERED","DOCUMENTATION","1793646187.1",""';

  it('maps an answered call: answer time as start, billsec as duration, EST to UTC', () => {
    expect(mapCsvLine(asterisk, line, ctx)).toEqual({
      ok: true,
      value: {
        source: 'job-1',
        cdrId: '1793646187.1',
        callingNumber: '2125550142',
        calledNumber: '18005550100',
        usageType: 'LCA',
        startTime: utc(2026, 11, 2, 19, 3, 12), // 14:03:12 EST
        endTime: utc(2026, 11, 2, 19, 5, 10), // 14:05:10 EST
        durationSeconds: 118,
        attributes: {
          dcontext: 'from-pstn',
          clid: '"Jane Doe" <2125550142>',
          channel: 'PJSIP/trunk-00000001',
          dstchannel: 'PJSIP/agent101-00000002',
          lastapp: 'Dial',
          disposition: 'ANSWERED',
          amaflags: 'DOCUMENTATION',
          total_duration_seconds: '123',
          setup_time: '2026-11-02T19:03:07.000Z',
        },
        receivedAt: 1_800_000_000_000,
      },
    });
  });

  it('has 18 columns with loguniqueid and loguserfield, more with newcdrcolumns', () => {
    expect(asterisk.width).toBe(18);
    expect(compiled(asteriskMasterCsv({ zone: 'UTC', loguserfield: false })).width).toBe(17);
    const extended = compiled(asteriskMasterCsv({ zone: 'UTC', newcdrcolumns: true }));
    expect(extended.width).toBe(21);
    const result = mapCsvLine(extended, `${line},"","1793646187.1",3`, ctx);
    expect(result.ok && result.value.attributes).toMatchObject({ linkedid: '1793646187.1', sequence: '3' });
  });

  it('rejects an unanswered call as not_answered only', () => {
    const noAnswer =
      '"","4155550123","18005550100","from-pstn","""Bob Lee"" <4155550123>","PJSIP/trunk-00000004","","Dial",' +
      '"PJSIP/agent102,30,tT","2026-11-02 14:20:41",,"2026-11-02 14:21:11",30,0,"NO ANSWER","DOCUMENTATION","1793647241.4",""';
    const result = mapCsvLine(asterisk, noAnswer, ctx);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.code).toBe('not_answered');
      expect(result.error.issues).toHaveLength(1);
      expect(result.error.message).toBe("disposition: is 'NO ANSWER'; billable only when 'ANSWERED'");
    }
  });

  it('rejects a line with the wrong column count as malformed', () => {
    const result = mapCsvLine(asterisk, line.replace(',""', ''), ctx);
    expect(!result.ok && result.error.code).toBe('malformed_line');
    expect(!result.ok && result.error.message).toBe('expected 18 columns for asterisk, got 17');
  });

  it('reports every field problem of an answered line', () => {
    const bad = line
      .replace('"1793646187.1"', '""')
      .replace('"2026-11-02 14:03:07"', '"2026-11-02 25:03:07"')
      .replace(',118,', ',1e2,');
    const result = mapCsvLine(asterisk, bad, ctx);
    expect(!result.ok && result.error.issues.map((i) => `${i.field}:${i.code}`)).toEqual([
      'uniqueid:missing_field',
      'start:invalid_timestamp',
      'billsec:invalid_duration',
    ]);
    expect(!result.ok && result.error.code).toBe('missing_field');
  });

  it('maps the usage type from dcontext with a value map and fallback', () => {
    const byContext = compiled(
      asteriskMasterCsv({
        zone: 'America/New_York',
        usageType: { kind: 'column', column: 'dcontext', map: { 'from-tollfree-ivr': 'IVR' }, fallback: 'LCA' },
      }),
    );
    const ivr = mapCsvLine(byContext, line.replace('"from-pstn"', '"from-tollfree-ivr"'), ctx);
    expect(ivr.ok && ivr.value.usageType).toBe('IVR');
    const other = mapCsvLine(byContext, line, ctx);
    expect(other.ok && other.value.usageType).toBe('LCA');
  });

  describe('the repeated hour when clocks go back (America/New_York, 1 Nov 2026)', () => {
    const at = (start: string, answer: string, end: string, duration: number, billsec: number) =>
      mapCsvLine(
        asterisk,
        line
          .replace('"2026-11-02 14:03:07"', `"${start}"`)
          .replace('"2026-11-02 14:03:12"', `"${answer}"`)
          .replace('"2026-11-02 14:05:10"', `"${end}"`)
          .replace(',123,118,', `,${duration},${billsec},`),
        ctx,
      );

    it('a call wholly inside the hour fits both readings: the first occurrence (EDT) wins', () => {
      // 01:10:00 setup, 01:10:05 answer, 01:20:05 end: 605 s / 600 s either way
      const result = at('2026-11-01 01:10:00', '2026-11-01 01:10:05', '2026-11-01 01:20:05', 605, 600);
      expect(result.ok && [result.value.startTime, result.value.endTime]).toEqual([
        utc(2026, 11, 1, 5, 10, 5), // 01:10:05 EDT
        utc(2026, 11, 1, 5, 20, 5),
      ]);
    });

    it('a call across the change: the durations place start in EDT and end in EST', () => {
      // 01:50:00 EDT (05:50Z) to 01:10:10 EST (06:10:10Z): 1210 s, billsec 1200 from 01:50:10
      const result = at('2026-11-01 01:50:00', '2026-11-01 01:50:10', '2026-11-01 01:10:10', 1210, 1200);
      expect(result.ok && result.value).toMatchObject({
        startTime: utc(2026, 11, 1, 5, 50, 10),
        endTime: utc(2026, 11, 1, 6, 10, 10),
        durationSeconds: 1200,
        attributes: { setup_time: '2026-11-01T05:50:00.000Z' },
      });
    });

    it('a call that starts in the second 01:xx (EST) is placed there by its duration', () => {
      // 01:55 EST (06:55Z) to 02:05 EST (07:05Z): 600 s; 01:55 EDT would make it 4200 s
      const result = at('2026-11-01 01:55:00', '2026-11-01 01:55:00', '2026-11-01 02:05:00', 600, 600);
      expect(result.ok && [result.value.startTime, result.value.endTime]).toEqual([
        utc(2026, 11, 1, 6, 55, 0),
        utc(2026, 11, 1, 7, 5, 0),
      ]);
    });

    it('a time in the skipped spring hour is invalid_timestamp', () => {
      const result = at('2026-03-08 02:30:00', '2026-03-08 03:30:05', '2026-03-08 03:31:05', 65, 60);
      expect(!result.ok && result.error.issues).toEqual([
        {
          field: 'start',
          code: 'invalid_timestamp',
          message: "'2026-03-08 02:30:00' does not exist in America/New_York (skipped when clocks went forward)",
        },
      ]);
    });
  });
});

describe('FreeSWITCH mapping', () => {
  const fs = compiled(freeswitchMasterCsv({ zone: 'America/Chicago' }));
  it('maps the example template; uuid is the id, billsec the duration, CST to UTC', () => {
    const line =
      '"Smith, John","3125550199","8005550100","public","2026-11-02 09:02:00","2026-11-02 09:02:09",' +
      '"2026-11-02 09:12:09","609","600","NORMAL_CLEARING","d4e5f6a7-1b2c-4d3e-9f4a-5b6c7d8e9f0a",' +
      '"e5f6a7b8-2c3d-4e4f-8a5b-6c7d8e9f0a1b","acme","PCMA","PCMA"';
    expect(mapCsvLine(fs, line, ctx)).toEqual({
      ok: true,
      value: {
        source: 'job-1',
        cdrId: 'd4e5f6a7-1b2c-4d3e-9f4a-5b6c7d8e9f0a',
        callingNumber: '3125550199',
        calledNumber: '8005550100',
        usageType: 'LCA',
        startTime: utc(2026, 11, 2, 15, 2, 9), // 09:02:09 CST = 15:02:09Z
        endTime: utc(2026, 11, 2, 15, 12, 9),
        durationSeconds: 600,
        attributes: {
          caller_id_name: 'Smith, John',
          context: 'public',
          hangup_cause: 'NORMAL_CLEARING',
          bleg_uuid: 'e5f6a7b8-2c3d-4e4f-8a5b-6c7d8e9f0a1b',
          platform_accountcode: 'acme',
          read_codec: 'PCMA',
          write_codec: 'PCMA',
          total_duration_seconds: '609',
          setup_time: '2026-11-02T15:02:00.000Z',
        },
        receivedAt: 1_800_000_000_000,
      },
    });
  });

  it('treats only the configured hangup causes as answered', () => {
    const busy =
      '"Ana Ruiz","5125550100","8005550100","public","2026-11-02 09:40:00","","2026-11-02 09:40:03","3","0",' +
      '"USER_BUSY","f6a7b8c9-3d4e-4f5a-9b6c-7d8e9f0a1b2c","","acme","PCMU","PCMU"';
    const result = mapCsvLine(fs, busy, ctx);
    expect(!result.ok && result.error.code).toBe('not_answered');
    const lenient = compiled(freeswitchMasterCsv({ zone: 'America/Chicago', answeredCauses: ['NORMAL_CLEARING', 'USER_BUSY'] }));
    // now "answered" but with no answer time: missing_field
    const again = mapCsvLine(lenient, busy, ctx);
    expect(!again.ok && again.error.issues.map((i) => `${i.field}:${i.code}`)).toEqual(['answer_stamp:missing_field']);
  });
});

describe('rateline CSV mapping and compileMapping', () => {
  const header = ['cdr_id', 'calling_number', 'called_number', 'usage_type', 'start_time', 'end_time', 'duration_seconds', 'agent_id'];

  it('resolves columns by header name, in any order, extra columns to attributes', () => {
    const shuffled = [...header].reverse();
    const mapping = compiled(RATELINE_CSV, shuffled);
    const fields = ['r-1', '', '+18005550100', 'CHAT', '2026-11-02T19:10:00Z', '2026-11-02T19:25:00Z', '900', 'ag-3'].reverse();
    const line = fields.join(',');
    expect(mapCsvLine(mapping, line, { source: 'job-2' })).toEqual({
      ok: true,
      value: {
        source: 'job-2',
        cdrId: 'r-1',
        callingNumber: null,
        calledNumber: '+18005550100',
        usageType: 'CHAT',
        startTime: utc(2026, 11, 2, 19, 10, 0),
        endTime: utc(2026, 11, 2, 19, 25, 0),
        durationSeconds: 900,
        attributes: { agent_id: 'ag-3' },
        receivedAt: null,
      },
    });
  });

  it('reports every mapping problem at once', () => {
    const result = compileMapping(
      { ...RATELINE_CSV, time: { kind: 'local', zone: 'Mars/Olympus' }, cdrId: 'id', start: 9 },
      header,
    );
    expect(!result.ok && result.error).toEqual([
      "time.zone: 'Mars/Olympus' is not an IANA time zone",
      `cdrId: no column named 'id' (have: ${header.join(', ')})`,
      'start: column index 9 is out of range (0-7)',
    ]);
    expect(compileMapping(RATELINE_CSV)).toEqual({ ok: false, error: ['the mapping expects a header row but none was given'] });
  });

  it('computes the duration when told to', () => {
    const mapping = compiled({ ...RATELINE_CSV, duration: { kind: 'computed' } }, header);
    const result = mapCsvLine(mapping, 'r-2,,+18005550100,LCA,2026-11-02T19:10:00Z,2026-11-02T19:12:30.600Z,,', ctx);
    // 150.6 s rounds to 151
    expect(result.ok && result.value.durationSeconds).toBe(151);
  });

  it('reads epoch times', () => {
    const mapping = compiled({ ...RATELINE_CSV, time: { kind: 'epoch', unit: 's' } }, header);
    const result = mapCsvLine(mapping, 'r-3,,+18005550100,LCA,1793646192,1793646310,118,', ctx);
    expect(result.ok && [result.value.startTime, result.value.endTime]).toEqual([
      utc(2026, 11, 2, 19, 3, 12),
      utc(2026, 11, 2, 19, 5, 10),
    ]);
  });
});
