import { Decimal } from 'decimal.js';
import { dec, minorUnits } from '../money/index.ts';
import { DEFAULT_RATE_TABLES } from './rates.ts';
import type { EffectiveRate, RegimeTable, TaxComponent } from './rates.ts';
import { TaxError } from './types.ts';
import type { SyncTaxEngine, TaxCalculation, TaxLine, TaxRequest } from './types.ts';

const LOCAL_DATE = /^\d{4}-\d{2}-\d{2}$/;
const RATE = /^\d+(\.\d+)?$/;

/** Every problem of a set of tables, at once. */
export function validateRateTables(tables: readonly RegimeTable[]): string[] {
  const problems: string[] = [];
  const regimes = new Set<string>();
  for (const table of tables) {
    const at = `regime ${table.regime}`;
    if (regimes.has(table.regime)) problems.push(`${at}: listed twice`);
    regimes.add(table.regime);
    const codes = new Set<string>();
    for (const c of table.components) {
      if (codes.has(c.taxCode)) problems.push(`${at}: tax ${c.taxCode} listed twice`);
      codes.add(c.taxCode);
      problems.push(...validateRates(`${at} ${c.taxCode}`, c.rates));
    }
    for (const [region, list] of Object.entries(table.regions)) {
      for (const code of list) {
        if (!codes.has(code)) problems.push(`${at}: region ${region} names unknown tax ${code}`);
      }
    }
    if (!table.regionRequired && table.regions['*'] === undefined) {
      problems.push(`${at}: a regime without regions needs the region "*"`);
    }
  }
  return problems;
}

function validateRates(at: string, rates: readonly EffectiveRate[]): string[] {
  const problems: string[] = [];
  if (rates.length === 0) problems.push(`${at}: no rates`);
  rates.forEach((r, i) => {
    if (!RATE.test(r.rate) || dec(r.rate).greaterThanOrEqualTo(1)) problems.push(`${at}[${i}]: rate "${r.rate}" is not a fraction below 1`);
    if (!LOCAL_DATE.test(r.from)) problems.push(`${at}[${i}]: from "${r.from}" is not YYYY-MM-DD`);
    if (r.to !== null && !LOCAL_DATE.test(r.to)) problems.push(`${at}[${i}]: to "${r.to}" is not YYYY-MM-DD`);
    if (r.to !== null && r.to <= r.from) problems.push(`${at}[${i}]: to ${r.to} is not after from ${r.from}`);
  });
  // Spans in order must not overlap (a gap is allowed: no rate in force then).
  const sorted = [...rates].sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const next = sorted[i]!;
    if (prev.to === null || prev.to > next.from) problems.push(`${at}: rates from ${prev.from} and ${next.from} overlap`);
  }
  return problems;
}

/** The rate in force on `day` (YYYY-MM-DD), or undefined. */
export function rateInForce(rates: readonly EffectiveRate[], day: string): EffectiveRate | undefined {
  return rates.find((r) => r.from <= day && (r.to === null || day < r.to));
}

function percentText(rate: Decimal): string {
  return `${rate.times(100).toFixed()}%`;
}

/** Checks a request once, reporting every problem. */
function checkRequest(request: TaxRequest): void {
  const problems: string[] = [];
  if (!LOCAL_DATE.test(request.taxPoint)) problems.push(`taxPoint "${request.taxPoint}" is not YYYY-MM-DD`);
  try {
    minorUnits(request.currency);
  } catch (error) {
    problems.push((error as Error).message);
  }
  request.lines.forEach((l, i) => {
    if (!(l.amount instanceof Decimal) || !l.amount.isFinite()) problems.push(`lines[${i}] (${l.lineId}): amount is not a finite Decimal`);
  });
  request.customer.exemptions.forEach((e, i) => {
    if (!LOCAL_DATE.test(e.effectiveFrom)) problems.push(`customer.exemptions[${i}]: effectiveFrom "${e.effectiveFrom}" is not YYYY-MM-DD`);
    if (e.effectiveTo !== null && !LOCAL_DATE.test(e.effectiveTo)) problems.push(`customer.exemptions[${i}]: effectiveTo "${e.effectiveTo}" is not YYYY-MM-DD`);
    if (e.certificateId.trim() === '') problems.push(`customer.exemptions[${i}]: certificateId is empty`);
  });
  if (problems.length > 0) {
    throw new TaxError('invalid_tax_request', `invalid tax request for ${request.invoiceId}: ${problems.join('; ')}`, problems);
  }
}

/**
 * The built-in engine: effective-dated tables, one tax line per tax that applies in the
 * customer's region, each on the sum of the unrounded taxable lines, exact and unrounded
 * (the invoice rounds it once). Exempt taxes give a zero line naming the certificate.
 */
export class BuiltinTaxEngine implements SyncTaxEngine {
  static readonly identifier = 'builtin';
  readonly id = BuiltinTaxEngine.identifier;
  private readonly tables: ReadonlyMap<string, RegimeTable>;

  constructor(tables: readonly RegimeTable[] = DEFAULT_RATE_TABLES) {
    const problems = validateRateTables(tables);
    if (problems.length > 0) {
      throw new TaxError('invalid_rate_table', `invalid rate tables: ${problems.join('; ')}`, problems);
    }
    this.tables = new Map(tables.map((t) => [t.regime, t]));
  }

  calculate(request: TaxRequest): TaxCalculation {
    checkRequest(request);
    const table = this.tables.get(request.regime);
    if (table === undefined) {
      throw new TaxError('unknown_regime', `the built-in tax engine has no regime "${request.regime}"`);
    }
    const { customer } = request;
    const base = request.lines
      .filter((l) => l.taxable)
      .reduce((sum, l) => sum.plus(l.amount), dec(0));

    if (table.country !== '*' && customer.country !== table.country) {
      const reverse = table.reverseChargeTaxIdTypes?.length
        ? customer.taxIds.find((id) => table.reverseChargeTaxIdTypes!.includes(id.type))
        : undefined;
      if (reverse === undefined) {
        throw new TaxError(
          'unsupported_jurisdiction',
          `regime ${table.regime} taxes customers in ${table.country}; a customer in ${customer.country}` +
            (table.reverseChargeTaxIdTypes ? ' without a business tax id' : '') + ' is out of scope',
        );
      }
      // B2B outside the country: the customer accounts for the tax (reverse charge).
      return {
        engineId: this.id,
        taxes: this.codesFor(table, '*').map((c) => {
          const statutory = this.rateOf(c, request.taxPoint);
          return line(c, dec(0), statutory, base, {
            kind: 'reverse_charge',
            reference: reverse.value,
            reason: `reverse charge: business customer in ${customer.country} (${reverse.type} ${reverse.value}) accounts for ${c.name}`,
          });
        }),
      };
    }

    const key = table.regionRequired ? customer.region ?? '' : '*';
    const components = this.codesFor(table, key);
    const taxes: TaxLine[] = [];
    for (const c of components) {
      if (!c.chargedOnTelecom) continue;
      const statutory = this.rateOf(c, request.taxPoint);
      const exemption = customer.exemptions.find(
        (e) => e.taxCode === c.taxCode && e.effectiveFrom <= request.taxPoint && (e.effectiveTo === null || request.taxPoint < e.effectiveTo),
      );
      taxes.push(
        exemption
          ? line(c, dec(0), statutory, base, { kind: 'certificate', reference: exemption.certificateId, reason: exemption.reason })
          : line(c, statutory, statutory, base, null),
      );
    }
    return { engineId: this.id, taxes };
  }

  private codesFor(table: RegimeTable, region: string): TaxComponent[] {
    const codes = table.regions[region];
    if (codes === undefined) {
      throw new TaxError(
        'unsupported_jurisdiction',
        `regime ${table.regime} has no rates for region "${region}" of ${table.country} (known: ${Object.keys(table.regions).join(', ')})`,
      );
    }
    return codes.map((code) => table.components.find((c) => c.taxCode === code)!);
  }

  private rateOf(c: TaxComponent, taxPoint: string): Decimal {
    const r = rateInForce(c.rates, taxPoint);
    if (r === undefined) {
      throw new TaxError('no_rate_in_force', `${c.taxCode} has no rate in force on ${taxPoint}`);
    }
    return dec(r.rate);
  }
}

function line(c: TaxComponent, rate: Decimal, statutory: Decimal, base: Decimal, exemption: TaxLine['exemption']): TaxLine {
  const name = exemption ? `${c.name} ${percentText(statutory)} (${exemption.kind === 'certificate' ? 'exempt' : 'reverse charge'})` : `${c.name} ${percentText(statutory)}`;
  return {
    taxCode: c.taxCode,
    jurisdiction: c.jurisdiction,
    name,
    rate,
    statutoryRate: statutory,
    taxableAmount: base,
    tax: base.times(rate),
    exemption,
  };
}
