import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRateFileOptions, rateFile, type RateFileOptions } from '../cli/rate-file.ts';

// Offline: no Kafka, no database. Lives in test/ with the suites that exercise whole commands.

const REFERENCE = 'domain/reference/fixtures/sample-reference.json';
const AT = '2026-03-31T00:00:00Z';

// Numbers and plans of sample-reference.json:
// - +18665550100: lca-ca, sub-ca-3001 on lca-ca-basic v1 (CAD): LCA 1.05/min over 1,200 s included,
//   plus a 600 s LCA add-on drawn first (priority 5); IVR 0.003/s, nothing included. Rule lca-ca-lca:
//   minimum 60 s, first 30 s then 30 s steps, up. IVR: the parent's 1 s/1 s rule.
// - +18665550101: the same account's until 2026-03-10T05:00Z, nobody's after.
// - +18005550101: ansr-us, sub-us-1002 on ansr-us-pro v2 (USD): 6,000 s included, 0.80/min after.
//   Rule ansr-us-lca: 10 s grace, first 30 s then 6 s steps, up.
const CSV = `cdr_id,calling_number,called_number,usage_type,start_time,end_time,duration_seconds
ca-1,+14165550123,+18665550100,LCA,2026-03-05T14:00:00Z,2026-03-05T14:30:00Z,1800
ca-2,+14165550123,+18665550100,LCA,2026-03-05T15:00:00Z,2026-03-05T15:01:35Z,95
ca-3,+14165550123,+18665550100,IVR,2026-03-05T16:00:00Z,2026-03-05T16:01:01Z,61
ca-4,+14165550123,+18665550101,LCA,2026-03-12T16:00:00Z,2026-03-12T16:01:00Z,60
ca-2,+14165550123,+18665550100,LCA,2026-03-05T15:00:00Z,2026-03-05T15:01:35Z,95
ca-5,+14165550123,not-a-number,LCA,2026-03-05T17:00:00Z,2026-03-05T17:01:00Z,60
ca-6,+14165550123,+18665550100,CHAT,2026-03-05T18:00:00Z,2026-03-05T18:05:00Z,300
us-1,+12125550142,+18005550101,LCA,2026-03-05T19:00:00Z,2026-03-05T21:00:00Z,7200
`;

let dir: string;
let csv: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rate-file-'));
  csv = join(dir, 'calls.csv');
  await writeFile(csv, CSV);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function options(extra: Record<string, string> = {}): RateFileOptions {
  const checked = checkRateFileOptions({ reference: REFERENCE, cdrs: csv, mapping: 'rateline', source: 'pbx-test', at: AT, ...extra });
  if (!checked.ok) throw new Error(checked.problems.join('; '));
  return checked.value;
}

async function run(extra: Record<string, string> = {}) {
  const out: Record<string, unknown>[] = [];
  const err: Record<string, unknown>[] = [];
  const result = await rateFile(options(extra), { out: (l) => out.push(JSON.parse(l)), err: (l) => err.push(JSON.parse(l)) });
  if (!result.ok) throw new Error(result.problems.join('; '));
  const brief = out.map((u) => ({ cdrId: u.cdrId, line: u.line, billable: u.billableSeconds, included: u.includedSeconds, overage: u.overageSeconds, amount: u.amount }));
  const rejected = err.filter((e) => e.rejected === true).map((e) => `${e.line} ${e.stage}:${e.reason}`);
  return { out, brief, rejected, summary: result.value };
}

describe('rateline rate-file (offline rating of a CDR file)', () => {
  it('charges each usage as the services would, rejects the rest with reasons, and sums per currency', async () => {
    const { out, brief, rejected, summary } = await run();
    expect(brief).toEqual([
      // 1,800 s = 30 s + 59 × 30 s, billable 1,800: the 600 s add-on first, then the plan's 1,200 s. Nothing to pay.
      { cdrId: 'ca-1', line: 2, billable: 1800, included: 1800, overage: 0, amount: '0' },
      // 95 s: 30 s + ceil(65 / 30) × 30 s = 120 s; buckets empty: 2 min × 1.05 = 2.10 CAD.
      { cdrId: 'ca-2', line: 3, billable: 120, included: 0, overage: 120, amount: '2.1' },
      // IVR 61 s by the second: 61 × 0.003 = 0.183 CAD (unrounded: rounding is the invoice's).
      { cdrId: 'ca-3', line: 4, billable: 61, included: 0, overage: 61, amount: '0.183' },
      // 7,200 s: past the 10 s grace, 30 s + 1,195 × 6 s = 7,200 s; 6,000 s included, 1,200 s = 20 min × 0.80 = 16.00 USD.
      { cdrId: 'us-1', line: 9, billable: 7200, included: 6000, overage: 1200, amount: '16' },
    ]);
    expect(rejected.sort()).toEqual([
      '5 resolve:unresolved_number', // +18665550101 was released on 2026-03-10
      '6 ingest:duplicate_cdr', // ca-2 again
      '7 ingest:invalid_number',
      '8 resolve:no_product', // lca-ca sells no CHAT
    ]);
    // Every data line ends in exactly one place.
    expect(summary.read).toBe(8);
    expect(summary.charged + summary.rejected).toBe(summary.read);
    // 0 + 2.10 + 0.183 = 2.283 CAD; 16 USD.
    expect(summary.totals).toEqual({ CAD: { amount: '2.283', includedSeconds: 1800, overageSeconds: 181 }, USD: { amount: '16', includedSeconds: 6000, overageSeconds: 1200 } });

    const us = out.find((u) => u.cdrId === 'us-1')!;
    expect(us).toMatchObject({
      brand: 'ansr-us',
      accountId: 'acct-us-1002',
      planId: 'ansr-us-pro',
      planVersion: 2,
      currency: 'USD',
      startTime: '2026-03-05T19:00:00.000Z',
      // sub-us-1002's anchor is midnight in New York: its period runs from 1 March to 1 April local time.
      periodStart: '2026-03-01T05:00:00.000Z',
      periodEnd: '2026-04-01T04:00:00.000Z',
      chargedAt: '2026-03-31T00:00:00.000Z',
      tiers: [{ tier: 1, units: '20', unitPrice: '0.8', amount: '16', seconds: 1200 }],
      draws: [{ bucketId: 'us-pro-lca', seconds: 6000 }],
    });
  });

  it('--plan puts every subscription on one plan (what-if pricing)', async () => {
    const { brief, rejected } = await run({ plan: 'ansr-us-starter:1' });
    // On Starter: 600 s included, then graduated per minute: 6,600 s = 110 min;
    // the first 100 min × 1.20 = 120.00, the next 10 × 0.90 = 9.00: 129.00 USD.
    expect(brief).toEqual([{ cdrId: 'us-1', line: 9, billable: 7200, included: 600, overage: 6600, amount: '129' }]);
    // A USD plan for the Canadian account: the charge step refuses it, as drawdown would.
    expect(rejected.filter((r) => r.includes('currency_mismatch')).sort()).toEqual(['2 charge:currency_mismatch', '3 charge:currency_mismatch', '4 charge:currency_mismatch']);

    const pro1 = await run({ plan: 'ansr-us-pro:1' });
    // Pro v1 charges 0.85/min: 20 min × 0.85 = 17.00 USD.
    expect(pro1.brief.find((u) => u.cdrId === 'us-1')).toEqual({ cdrId: 'us-1', line: 9, billable: 7200, included: 6000, overage: 1200, amount: '17' });
  });

  it('reports every bad option at once', () => {
    const checked = checkRateFileOptions({ cdrs: 'x.csv', mapping: 'rateline', zone: 'Mars/Olympus', plan: 'nope' });
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(checked.problems).toEqual([
      '--reference <reference.json> is required',
      '--zone does not apply to the rateline mapping: its times are ISO 8601 with an offset',
      '--zone Mars/Olympus is not an IANA time zone (e.g. America/New_York, UTC)',
      '--plan nope must be <planId>:<version>, e.g. ansr-us-pro:2',
    ]);
  });

  it('rates the rateline CSV fixture through the CLI: charged lines on stdout, JSON on stderr', async () => {
    const { stdout, stderr } = await promisify(execFile)('npx', ['tsx', 'cli/rateline.ts', 'rate-file', '--reference', REFERENCE, '--cdrs', 'domain/cdr/fixtures/rateline.csv', '--mapping', 'rateline', '--source', 'fixture'], { cwd: process.cwd() });
    const charged = stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const errs = stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const summary = errs.at(-1)!.summary as { read: number; charged: number; rejected: number };
    // Six data lines: r-1001 to r-1003 call +18005550100 (sub-us-1001) in November 2026; r-1004 ends
    // before it starts, r-1005 is a FAX (no usage type), r-1006 has a time without an offset.
    expect(summary.read).toBe(6);
    expect(charged.length + errs.filter((e) => e.rejected).length).toBe(6);
    expect(summary.charged + summary.rejected).toBe(6);
    for (const u of charged) expect(typeof u.amount).toBe('string');
  }, 60_000);
});
