import { basename } from 'node:path';
import { Decimal } from 'decimal.js';
import {
  CdrFileError,
  CSV_MAPPING_NAMES,
  DEFAULT_DURATION_LIMITS,
  DEFAULT_PLATFORM_ZONE,
  DEFAULT_USAGE_TYPE,
  cdrEventId,
  csvMappingNamed,
  readCdrFile,
  zoneNamed,
  type CsvMapping,
  type CsvMappingName,
  type ValidationPolicy,
} from '../domain/cdr/index.ts';
import { ratePipeline, type AcceptedCdr, type ChargePeriodState, type PipelineRejection, type UsageCharged } from '../domain/mediation/index.ts';
import { loadReferenceFile, ReferenceTables, type ReferenceData } from '../domain/reference/index.ts';

/**
 * `rateline rate-file`: rates a CDR file offline, with no Kafka and no database, through the same
 * domain code as the services: domain/cdr validation (ingest's policy and its de-duplication on
 * source and cdrId, within the file), then domain/mediation's ratePipeline (resolve, rate, draw
 * down and price), with the drawdown state carried from one chunk of the file to the next.
 *
 * Output contract:
 * - stdout: one JSON object a line per charged usage (usage.charged's fields, plus `line`, the
 *   CSV line it came from); amounts as decimal strings (unrounded, as on the wire), instants ISO.
 * - stderr: one JSON object a line per rejection, `{"rejected": true, stage, reason, detail, line,
 *   source, cdrId}`, then one closing `{"summary": {...}}` line. Every stderr line is JSON.
 *
 * `--plan <planId>:<version>` puts every subscription on that plan before rating (what-if
 * pricing); subscriptions of a brand billing in another currency are then rejected with
 * `currency_mismatch`, as the services would.
 */

export const RATE_FILE_MAPPINGS = CSV_MAPPING_NAMES;
export type RateFileMapping = CsvMappingName;

export interface RateFileOptions {
  reference: string;
  cdrs: string;
  mapping: RateFileMapping;
  /** Zone of the platform's local times (asterisk, freeswitch); default UTC. */
  zone: string;
  /** The constant usage type of asterisk and freeswitch lines; default LCA. */
  usageType: string;
  /** The platform the file came from: part of each CDR's event id, as in ingest. */
  source: string;
  plan: { planId: string; version: number } | undefined;
  /** The one instant stamped as accepted/resolved/rated/charged; default now. */
  at: number;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; problems: string[] };

/** Checks the command's options, every problem at once. */
export function checkRateFileOptions(options: Record<string, string | true>, now = Date.now()): Checked<RateFileOptions> {
  const problems: string[] = [];
  const text = (name: string): string | undefined => {
    const v = options[name];
    if (v === true) {
      problems.push(`--${name} needs a value`);
      return undefined;
    }
    return v;
  };
  const reference = text('reference');
  const cdrs = text('cdrs');
  const mappingText = text('mapping');
  const zoneText = text('zone');
  const usageText = text('usage-type');
  const planText = text('plan');
  const atText = text('at');
  if (!reference) problems.push('--reference <reference.json> is required');
  if (!cdrs) problems.push('--cdrs <file.csv> is required');
  const mapping = RATE_FILE_MAPPINGS.find((m) => m === mappingText);
  if (mappingText === undefined) problems.push(`--mapping is required: one of ${RATE_FILE_MAPPINGS.join(', ')}`);
  else if (mapping === undefined) problems.push(`--mapping ${mappingText} is unknown: one of ${RATE_FILE_MAPPINGS.join(', ')}`);
  if (mapping === 'rateline' && zoneText !== undefined) problems.push('--zone does not apply to the rateline mapping: its times are ISO 8601 with an offset');
  if (mapping === 'rateline' && usageText !== undefined) problems.push('--usage-type does not apply to the rateline mapping: its usage_type column names it');
  const zone = zoneText ?? DEFAULT_PLATFORM_ZONE;
  if (!zoneNamed(zone)) problems.push(`--zone ${zone} is not an IANA time zone (e.g. America/New_York, UTC)`);
  const usageType = usageText ?? DEFAULT_USAGE_TYPE;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/.test(usageType)) problems.push(`--usage-type ${usageType} must be 1-40 letters, digits, '_', '.' or '-'`);
  const source = text('source') ?? mappingText ?? '';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}$/.test(source)) problems.push(`--source "${source}" must be 1-100 letters, digits, '_', '.', ':', '@' or '-'`);
  let plan: RateFileOptions['plan'];
  if (planText !== undefined) {
    const match = /^(.+):(\d+)$/.exec(planText);
    if (!match) problems.push(`--plan ${planText} must be <planId>:<version>, e.g. ansr-us-pro:2`);
    else plan = { planId: match[1]!, version: Number(match[2]) };
  }
  let at = now;
  if (atText !== undefined) {
    at = Date.parse(atText);
    if (!/(Z|[+-]\d\d:\d\d)$/.test(atText) || Number.isNaN(at)) problems.push(`--at ${atText} must be an ISO 8601 instant with an offset`);
  }
  if (problems.length > 0 || !mapping || !reference || !cdrs) return { ok: false, problems };
  return { ok: true, value: { reference, cdrs, mapping, zone, usageType, source, plan, at } };
}

export function mappingOf(options: Pick<RateFileOptions, 'mapping' | 'zone' | 'usageType'>): CsvMapping {
  return csvMappingNamed(options.mapping, options);
}

/** The reference data with every subscription on one plan: a what-if. The plan must exist. */
export function withPlan(data: ReferenceData, plan: { planId: string; version: number }): Checked<ReferenceData> {
  if (!data.plans.some((p) => p.planId === plan.planId && p.version === plan.version)) {
    const known = data.plans.map((p) => `${p.planId}:${p.version}`).join(', ');
    return { ok: false, problems: [`--plan ${plan.planId}:${plan.version} is not in the reference file (plans: ${known})`] };
  }
  return { ok: true, value: { ...data, subscriptions: data.subscriptions.map((s) => ({ ...s, planId: plan.planId, planVersion: plan.version })) } };
}

const iso = (ms: number) => new Date(ms).toISOString();
// toFixed, not toString: never an exponent (1e-7), whatever the amount.
const dec = (d: Decimal) => new Decimal(d).toFixed();

/** A charged usage as one JSON-ready object: decimals as strings, instants ISO. */
export function chargedJson(u: UsageCharged, line: number | undefined): Record<string, unknown> {
  return {
    eventId: u.eventId,
    line: line ?? null,
    source: u.source,
    cdrId: u.cdrId,
    callingNumber: u.callingNumber,
    calledNumber: u.calledNumber,
    usageType: u.usageType,
    startTime: iso(u.startTime),
    endTime: iso(u.endTime),
    durationSeconds: u.durationSeconds,
    attributes: u.attributes,
    brand: u.brand,
    accountId: u.accountId,
    subscriptionId: u.subscriptionId,
    assignmentId: u.assignmentId,
    productId: u.productId,
    ratingVersion: u.ratingVersion,
    ruleId: u.ruleId,
    ruleVersion: u.ruleVersion,
    billableSeconds: u.billableSeconds,
    ratedAt: iso(u.ratedAt),
    periodStart: iso(u.periodStart),
    periodEnd: iso(u.periodEnd),
    planId: u.planId,
    planVersion: u.planVersion,
    includedSeconds: u.includedSeconds,
    overageSeconds: u.overageSeconds,
    draws: u.draws,
    currency: u.currency,
    amount: dec(u.amount),
    tiers: u.tiers.map((t) => ({ tier: t.tier, units: dec(t.units), unitPrice: dec(t.unitPrice), amount: dec(t.amount), seconds: t.seconds, flatFee: dec(t.flatFee) })),
    chargedAt: iso(u.chargedAt),
  };
}

export interface RateFileSummary {
  file: string;
  source: string;
  plan: string | null;
  read: number;
  charged: number;
  rejected: number;
  /** `stage:reason` -> count. */
  rejectedByReason: Record<string, number>;
  /** Per currency: the unrounded sum of overage amounts, and the seconds. */
  totals: Record<string, { amount: string; includedSeconds: number; overageSeconds: number }>;
  seconds: number;
}

export interface RateFileIo {
  out(line: string): void;
  err(line: string): void;
}

/** CDRs rated per ratePipeline call; drawdown state is carried between calls. */
const CHUNK = 2_000;

/** Rates one file; resolves with the summary (also written to `io.err` as the last line). */
export async function rateFile(options: RateFileOptions, io: RateFileIo): Promise<Checked<RateFileSummary>> {
  const t0 = performance.now();
  const loaded = await loadReferenceFile(options.reference);
  if (!loaded.ok) return { ok: false, problems: loaded.error.map((i) => `${options.reference}${i.path ? ` ${i.path}` : ''}: ${i.message}`) };
  let data = loaded.value;
  if (options.plan) {
    const swapped = withPlan(data, options.plan);
    if (!swapped.ok) return swapped;
    data = swapped.value;
  }
  const tables = ReferenceTables.fromData(data);
  // ingest's policy: usage types the catalogue knows, at most a day, 2 s of tolerance.
  const policy: ValidationPolicy = { usageTypes: tables.usageTypes(), ...DEFAULT_DURATION_LIMITS };
  const file = basename(options.cdrs);

  const summary: RateFileSummary = { file, source: options.source, plan: options.plan ? `${options.plan.planId}:${options.plan.version}` : null, read: 0, charged: 0, rejected: 0, rejectedByReason: {}, totals: {}, seconds: 0 };
  const totals = new Map<string, { amount: Decimal; includedSeconds: number; overageSeconds: number }>();
  const reject = (r: { stage: string; reason: string; detail: string; line: number | null; cdrId: string | null }) => {
    summary.rejected++;
    const key = `${r.stage}:${r.reason}`;
    summary.rejectedByReason[key] = (summary.rejectedByReason[key] ?? 0) + 1;
    io.err(JSON.stringify({ rejected: true, stage: r.stage, reason: r.reason, detail: r.detail, line: r.line, source: options.source, cdrId: r.cdrId }));
  };

  const seen = new Set<string>();
  const lineOf = new Map<string, number>();
  let states: ReadonlyMap<string, ChargePeriodState> = new Map();
  let chunk: AcceptedCdr[] = [];
  const flush = () => {
    if (chunk.length === 0) return;
    const result = ratePipeline(chunk, tables, { at: options.at, states });
    states = result.states;
    // The pipeline reports charges and rejections in two lists: put them back in file order.
    const byId = new Map<string, { charged?: UsageCharged; rejection?: PipelineRejection }>();
    for (const c of result.charged) byId.set(c.eventId, { charged: c });
    for (const r of result.rejections) byId.set(r.eventId, { rejection: r });
    for (const cdr of chunk) {
      const outcome = byId.get(cdr.eventId);
      const line = lineOf.get(cdr.eventId);
      if (outcome?.charged) {
        const u = outcome.charged;
        summary.charged++;
        const t = totals.get(u.currency) ?? { amount: new Decimal(0), includedSeconds: 0, overageSeconds: 0 };
        totals.set(u.currency, { amount: t.amount.plus(u.amount), includedSeconds: t.includedSeconds + u.includedSeconds, overageSeconds: t.overageSeconds + u.overageSeconds });
        io.out(JSON.stringify(chargedJson(u, line)));
      } else if (outcome?.rejection) {
        const r = outcome.rejection;
        reject({ stage: r.stage, reason: r.reason, detail: r.detail, line: line ?? null, cdrId: r.cdrId });
      }
      lineOf.delete(cdr.eventId);
    }
    chunk = [];
  };

  try {
    for await (const result of readCdrFile(options.cdrs, mappingOf(options), { source: options.source, policy })) {
      summary.read++;
      if (!result.ok) {
        reject({ stage: 'ingest', reason: result.reason, detail: result.detail, line: result.line, cdrId: null });
        continue;
      }
      const cdr = result.cdr;
      const eventId = cdrEventId(cdr.source, cdr.cdrId);
      // ingest de-duplicates on (source, cdrId): the second sighting is rejected, never charged twice.
      if (seen.has(eventId)) {
        reject({ stage: 'ingest', reason: 'duplicate_cdr', detail: `CDR ${cdr.cdrId} of ${cdr.source} was already accepted (event ${eventId})`, line: result.line, cdrId: cdr.cdrId });
        continue;
      }
      seen.add(eventId);
      lineOf.set(eventId, result.line);
      chunk.push({
        eventId,
        source: cdr.source,
        cdrId: cdr.cdrId,
        callingNumber: cdr.callingNumber,
        calledNumber: cdr.calledNumber,
        usageType: cdr.usageType,
        startTime: cdr.startTime,
        endTime: cdr.endTime,
        durationSeconds: cdr.durationSeconds,
        attributes: cdr.attributes,
        origin: { topic: null, partition: null, offset: null, file, line: result.line },
        acceptedAt: options.at,
      });
      if (chunk.length >= CHUNK) flush();
    }
    flush();
  } catch (err) {
    if (err instanceof CdrFileError) return { ok: false, problems: [...err.problems.map((p) => `${options.cdrs}: ${p}`)] };
    throw err;
  }
  for (const [currency, t] of totals) summary.totals[currency] = { amount: t.amount.toFixed(), includedSeconds: t.includedSeconds, overageSeconds: t.overageSeconds };
  summary.seconds = Math.round(performance.now() - t0) / 1000;
  io.err(JSON.stringify({ summary }));
  return { ok: true, value: summary };
}

/** The CLI command: 0 when the file was rated (rejections included), 2 for bad options or input. */
export async function rateFileCommand(options: Record<string, string | true>, io: RateFileIo): Promise<number> {
  const checked = checkRateFileOptions(options);
  if (!checked.ok) {
    io.err(`rateline rate-file:\n  - ${checked.problems.join('\n  - ')}`);
    return 2;
  }
  const rated = await rateFile(checked.value, io);
  if (!rated.ok) {
    io.err(`rateline rate-file:\n  - ${rated.problems.join('\n  - ')}`);
    return 2;
  }
  return 0;
}
