import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { BuiltinTaxEngine, DEFAULT_RATE_TABLES, TaxEngineRegistry, TaxError, rateInForce, validateRateTables } from './index.ts';
import type { CustomerTaxContext, RegimeTable, TaxEngine, TaxRequest } from './index.ts';

const engine = new BuiltinTaxEngine();

function request(regime: string, customer: Partial<CustomerTaxContext>, taxPoint = '2026-07-01', amounts = ['100']): TaxRequest {
  return {
    invoiceId: 'inv:test', currency: 'CAD', roundingMode: 'half_up', regime, sellerCountry: 'CA', taxPoint,
    customer: { country: 'CA', region: null, taxIds: [], exemptions: [], ...customer },
    lines: amounts.map((a, i) => ({ lineId: `l${i}`, kind: 'usage', amount: new Decimal(a), taxable: true })),
  };
}

function rates(req: TaxRequest): [string, string, string][] {
  return engine.calculate(req).taxes.map((t) => [t.taxCode, t.rate.toFixed(), t.tax.toFixed()]);
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as TaxError).code;
  }
  return undefined;
}

describe('built-in engine, rates by region (base 100)', () => {
  it.each([
    ['ca_gst_hst_pst_qst', 'CA', 'ON', [['CA-ON-HST', '0.13', '13']]],
    ['ca_gst_hst_pst_qst', 'CA', 'QC', [['CA-GST', '0.05', '5'], ['CA-QC-QST', '0.09975', '9.975']]],
    ['ca_gst_hst_pst_qst', 'CA', 'BC', [['CA-GST', '0.05', '5'], ['CA-BC-PST', '0.07', '7']]],
    ['ca_gst_hst_pst_qst', 'CA', 'SK', [['CA-GST', '0.05', '5'], ['CA-SK-PST', '0.06', '6']]],
    ['ca_gst_hst_pst_qst', 'CA', 'MB', [['CA-GST', '0.05', '5'], ['CA-MB-RST', '0.07', '7']]],
    ['ca_gst_hst_pst_qst', 'CA', 'AB', [['CA-GST', '0.05', '5']]],
    ['ca_gst_hst_pst_qst', 'CA', 'NB', [['CA-NB-HST', '0.15', '15']]],
    ['ca_gst_hst_pst_qst', 'CA', 'NL', [['CA-NL-HST', '0.15', '15']]],
    ['ca_gst_hst_pst_qst', 'CA', 'PE', [['CA-PE-HST', '0.15', '15']]],
    ['ca_gst_hst_pst_qst', 'CA', 'NS', [['CA-NS-HST', '0.14', '14']]],
    ['us_sales_tax', 'US', 'NY', [['US-NY-SALES', '0.04', '4']]],
    ['us_sales_tax', 'US', 'TX', [['US-TX-SALES', '0.0625', '6.25']]],
    ['us_sales_tax', 'US', 'WA', [['US-WA-SALES', '0.065', '6.5']]],
    // Sales tax does not reach telecom services in CA and FL; no sales tax in OR, DE, MT, NH.
    ['us_sales_tax', 'US', 'CA', []],
    ['us_sales_tax', 'US', 'FL', []],
    ['us_sales_tax', 'US', 'OR', []],
    ['us_sales_tax', 'US', 'DE', []],
    ['us_sales_tax', 'US', 'MT', []],
    ['us_sales_tax', 'US', 'NH', []],
    ['uk_vat', 'GB', null, [['GB-VAT', '0.2', '20']]],
    ['none', 'US', 'NY', []],
  ])('%s %s-%s', (regime, country, region, expected) => {
    expect(rates(request(regime, { country, region }))).toEqual(expected);
  });
});

describe('effective dating: the rate in force on the tax point (issue date)', () => {
  it('Nova Scotia HST: 15% to 2025-03-31, 14% from 2025-04-01', () => {
    expect(rates(request('ca_gst_hst_pst_qst', { region: 'NS' }, '2025-03-31'))).toEqual([['CA-NS-HST', '0.15', '15']]);
    expect(rates(request('ca_gst_hst_pst_qst', { region: 'NS' }, '2025-04-01'))).toEqual([['CA-NS-HST', '0.14', '14']]);
  });

  it('Manitoba RST: 8% to 2019-06-30, 7% from 2019-07-01', () => {
    expect(rates(request('ca_gst_hst_pst_qst', { region: 'MB' }, '2019-06-30'))[1]).toEqual(['CA-MB-RST', '0.08', '8']);
    expect(rates(request('ca_gst_hst_pst_qst', { region: 'MB' }, '2019-07-01'))[1]).toEqual(['CA-MB-RST', '0.07', '7']);
  });

  it('a tax point before a table starts is refused, not guessed', () => {
    expect(codeOf(() => engine.calculate(request('ca_gst_hst_pst_qst', { region: 'ON' }, '2009-01-01')))).toBe('no_rate_in_force');
  });

  it('rateInForce: from inclusive, to exclusive', () => {
    const spans = [{ rate: '0.1', from: '2020-01-01', to: '2021-01-01' }, { rate: '0.2', from: '2021-01-01', to: null }];
    expect(rateInForce(spans, '2019-12-31')).toBeUndefined();
    expect(rateInForce(spans, '2020-12-31')?.rate).toBe('0.1');
    expect(rateInForce(spans, '2021-01-01')?.rate).toBe('0.2');
  });
});

describe('base, exemptions and reverse charge', () => {
  it('taxes the sum of the unrounded taxable lines, credits included, and leaves the rounding to the invoice', () => {
    // 10.004 + 10.004 − 5.001 = 15.007; × 0.13 = 1.95091 (unrounded).
    const calc = engine.calculate(request('ca_gst_hst_pst_qst', { region: 'ON' }, '2026-07-01', ['10.004', '10.004', '-5.001']));
    expect(calc.taxes[0]!.taxableAmount.toFixed()).toBe('15.007');
    expect(calc.taxes[0]!.tax.toFixed()).toBe('1.95091');
  });

  it('skips lines marked not taxable', () => {
    const req = request('uk_vat', { country: 'GB' }, '2026-07-01', ['10', '5']);
    const calc = engine.calculate({ ...req, lines: [req.lines[0]!, { ...req.lines[1]!, taxable: false }] });
    expect(calc.taxes[0]!.taxableAmount.toFixed()).toBe('10');
  });

  it('an exemption covers only its tax and its dates', () => {
    const exemptions = [{ taxCode: 'CA-QC-QST', certificateId: 'QC-1', effectiveFrom: '2026-01-01', effectiveTo: '2026-07-01', reason: 'band council' }];
    // In force on 2026-06-30: QST zero, GST charged.
    expect(rates(request('ca_gst_hst_pst_qst', { region: 'QC', exemptions }, '2026-06-30'))).toEqual([['CA-GST', '0.05', '5'], ['CA-QC-QST', '0', '0']]);
    // Expired on 2026-07-01 (exclusive end): QST charged.
    expect(rates(request('ca_gst_hst_pst_qst', { region: 'QC', exemptions }, '2026-07-01'))).toEqual([['CA-GST', '0.05', '5'], ['CA-QC-QST', '0.09975', '9.975']]);
  });

  it('UK VAT: a business outside the UK with a VAT id is reverse charged; one without is refused', () => {
    const calc = engine.calculate(request('uk_vat', { country: 'DE', taxIds: [{ type: 'eu_vat', value: 'DE129273398' }] }));
    expect(calc.taxes).toHaveLength(1);
    expect(calc.taxes[0]).toMatchObject({ taxCode: 'GB-VAT', exemption: { kind: 'reverse_charge', reference: 'DE129273398' } });
    expect(calc.taxes[0]!.tax.toFixed()).toBe('0');
    expect(codeOf(() => engine.calculate(request('uk_vat', { country: 'DE' })))).toBe('unsupported_jurisdiction');
    // A UK customer with a UK VAT number still pays VAT.
    expect(rates(request('uk_vat', { country: 'GB', taxIds: [{ type: 'gb_vat', value: 'GB980780684' }] }))).toEqual([['GB-VAT', '0.2', '20']]);
  });

  it('refuses what it cannot tax: unknown region, customer outside the regime, unknown regime, bad request', () => {
    expect(codeOf(() => engine.calculate(request('us_sales_tax', { country: 'US', region: 'ZZ' })))).toBe('unsupported_jurisdiction');
    expect(codeOf(() => engine.calculate(request('us_sales_tax', { country: 'CA', region: 'ON' })))).toBe('unsupported_jurisdiction');
    expect(codeOf(() => engine.calculate(request('vat_somewhere', { country: 'CA', region: 'ON' })))).toBe('unknown_regime');
    expect(codeOf(() => engine.calculate(request('uk_vat', { country: 'GB' }, '1 July 2026', ['1.0000001'])))).toBe('invalid_tax_request');
  });
});

describe('rate tables and registry', () => {
  it('the default tables are valid', () => {
    expect(validateRateTables(DEFAULT_RATE_TABLES)).toEqual([]);
  });

  it('reports every problem of bad tables at once', () => {
    const bad: RegimeTable = {
      regime: 'bad', country: 'XX', regionRequired: true,
      components: [{
        taxCode: 'X', jurisdiction: 'XX', name: 'X', chargedOnTelecom: true,
        rates: [{ rate: '0.1', from: '2020-01-01', to: null }, { rate: '1.5', from: '2021-01-01', to: null }],
      }],
      regions: { A: ['Y'] },
    };
    const problems = validateRateTables([bad]);
    expect(problems).toHaveLength(3); // rate ≥ 1, overlap, unknown tax Y
    expect(() => new BuiltinTaxEngine([bad])).toThrow(TaxError);
  });

  it('engines are registered and found by id', () => {
    const external: TaxEngine = { id: 'avalara', calculate: async () => ({ engineId: 'avalara', taxes: [] }) };
    const registry = new TaxEngineRegistry([engine, external]);
    expect(registry.get('builtin')).toBe(engine);
    expect(registry.ids()).toEqual(['builtin', 'avalara']);
    expect(codeOf(() => registry.get('vertex'))).toBe('unknown_tax_engine');
    expect(codeOf(() => registry.register(engine))).toBe('duplicate_tax_engine');
  });
});
