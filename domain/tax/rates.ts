/**
 * The built-in engine's rate tables: data, not code. Each rate is in force from `from`
 * (inclusive) to `to` (exclusive), local dates compared with the invoice's tax point (its
 * issue date). Sources and what is verified are in README.md.
 */

/** One rate of a tax over a span of dates. */
export interface EffectiveRate {
  /** A fraction as a decimal string: "0.13" for 13%. */
  readonly rate: string;
  /** First day in force, YYYY-MM-DD. */
  readonly from: string;
  /** First day no longer in force, or null while current. */
  readonly to: string | null;
}

/** One tax of a regime (a state's sales tax, GST, a province's HST, PST or QST, VAT). */
export interface TaxComponent {
  readonly taxCode: string;
  readonly jurisdiction: string;
  /** Name on the invoice, without the rate. */
  readonly name: string;
  /**
   * Whether the built-in engine charges it on rateline's services (answering, toll-free
   * and IVR telephony). A state whose sales tax does not reach telecom services (they pay
   * other, out-of-scope taxes instead) keeps its rate here for reference and is not charged.
   */
  readonly chargedOnTelecom: boolean;
  readonly rates: readonly EffectiveRate[];
  readonly note?: string;
}

/** The taxes of one regime and the components that apply in each region. */
export interface RegimeTable {
  readonly regime: string;
  /** ISO 3166-1 alpha-2 of the country whose customers the regime taxes. */
  readonly country: string;
  /** Whether a customer's region (state, province) selects the taxes. */
  readonly regionRequired: boolean;
  readonly components: readonly TaxComponent[];
  /**
   * Region code → tax codes that apply there, in invoice order. For a regime without
   * regions, the key `*`. A region with an empty list has no such tax (Oregon).
   */
  readonly regions: Readonly<Record<string, readonly string[]>>;
  /**
   * B2B customers outside `country` holding a tax id of one of these types are not
   * charged: a zero line with reason reverse charge (UK VAT). Absent: such customers
   * are refused as outside the regime.
   */
  readonly reverseChargeTaxIdTypes?: readonly string[];
}

const US_SALES_TAX: RegimeTable = {
  regime: 'us_sales_tax',
  country: 'US',
  regionRequired: true,
  components: [
    {
      taxCode: 'US-NY-SALES', jurisdiction: 'US-NY', name: 'New York State sales tax', chargedOnTelecom: true,
      rates: [{ rate: '0.04', from: '2005-06-01', to: null }],
      note: 'State rate only; county/city rates and the MCTD surcharge are out of scope.',
    },
    {
      taxCode: 'US-TX-SALES', jurisdiction: 'US-TX', name: 'Texas state sales tax', chargedOnTelecom: true,
      rates: [{ rate: '0.0625', from: '1990-07-01', to: null }],
      note: 'Telecommunications services are taxable services (Tax Code 151.0101, 151.0103); local rates out of scope.',
    },
    {
      taxCode: 'US-WA-SALES', jurisdiction: 'US-WA', name: 'Washington state sales tax', chargedOnTelecom: true,
      rates: [{ rate: '0.065', from: '1983-07-01', to: null }],
      note: 'Telecommunications services are retail sales in Washington; local rates out of scope.',
    },
    {
      taxCode: 'US-CA-SALES', jurisdiction: 'US-CA', name: 'California state sales tax', chargedOnTelecom: false,
      rates: [{ rate: '0.0725', from: '2017-01-01', to: null }],
      note: 'Sales tax does not apply to telecommunications services in California (they bear utility users taxes and CPUC surcharges instead, out of scope).',
    },
    {
      taxCode: 'US-FL-SALES', jurisdiction: 'US-FL', name: 'Florida state sales tax', chargedOnTelecom: false,
      rates: [{ rate: '0.06', from: '1988-02-01', to: null }],
      note: 'Communications services bear Florida\'s Communications Services Tax instead of sales tax (out of scope).',
    },
  ],
  regions: {
    NY: ['US-NY-SALES'],
    TX: ['US-TX-SALES'],
    WA: ['US-WA-SALES'],
    CA: ['US-CA-SALES'],
    FL: ['US-FL-SALES'],
    // No state sales tax.
    OR: [],
    DE: [],
    MT: [],
    NH: [],
  },
};

const GST: TaxComponent = {
  taxCode: 'CA-GST', jurisdiction: 'CA', name: 'GST', chargedOnTelecom: true,
  rates: [{ rate: '0.05', from: '2008-01-01', to: null }],
};

function hst(province: string, name: string, rates: readonly EffectiveRate[]): TaxComponent {
  return { taxCode: `CA-${province}-HST`, jurisdiction: `CA-${province}`, name: `HST (${name})`, chargedOnTelecom: true, rates };
}

const CA_GST_HST_PST_QST: RegimeTable = {
  regime: 'ca_gst_hst_pst_qst',
  country: 'CA',
  regionRequired: true,
  components: [
    GST,
    hst('ON', 'Ontario', [{ rate: '0.13', from: '2010-07-01', to: null }]),
    hst('NS', 'Nova Scotia', [
      { rate: '0.15', from: '2010-07-01', to: '2025-04-01' },
      { rate: '0.14', from: '2025-04-01', to: null },
    ]),
    hst('NB', 'New Brunswick', [{ rate: '0.15', from: '2016-07-01', to: null }]),
    hst('NL', 'Newfoundland and Labrador', [{ rate: '0.15', from: '2016-07-01', to: null }]),
    hst('PE', 'Prince Edward Island', [{ rate: '0.15', from: '2016-10-01', to: null }]),
    {
      taxCode: 'CA-QC-QST', jurisdiction: 'CA-QC', name: 'QST', chargedOnTelecom: true,
      rates: [{ rate: '0.09975', from: '2013-01-01', to: null }],
      note: 'Computed on the pre-tax amount, not on the amount with GST (since 2013).',
    },
    {
      taxCode: 'CA-BC-PST', jurisdiction: 'CA-BC', name: 'PST (British Columbia)', chargedOnTelecom: true,
      rates: [{ rate: '0.07', from: '2013-04-01', to: null }],
    },
    {
      taxCode: 'CA-SK-PST', jurisdiction: 'CA-SK', name: 'PST (Saskatchewan)', chargedOnTelecom: true,
      rates: [{ rate: '0.06', from: '2017-03-23', to: null }],
    },
    {
      taxCode: 'CA-MB-RST', jurisdiction: 'CA-MB', name: 'RST (Manitoba)', chargedOnTelecom: true,
      rates: [
        { rate: '0.08', from: '2013-07-01', to: '2019-07-01' },
        { rate: '0.07', from: '2019-07-01', to: null },
      ],
    },
  ],
  regions: {
    ON: ['CA-ON-HST'],
    NS: ['CA-NS-HST'],
    NB: ['CA-NB-HST'],
    NL: ['CA-NL-HST'],
    PE: ['CA-PE-HST'],
    QC: ['CA-GST', 'CA-QC-QST'],
    BC: ['CA-GST', 'CA-BC-PST'],
    SK: ['CA-GST', 'CA-SK-PST'],
    MB: ['CA-GST', 'CA-MB-RST'],
    AB: ['CA-GST'],
    NT: ['CA-GST'],
    NU: ['CA-GST'],
    YT: ['CA-GST'],
  },
};

const UK_VAT: RegimeTable = {
  regime: 'uk_vat',
  country: 'GB',
  regionRequired: false,
  components: [
    {
      taxCode: 'GB-VAT', jurisdiction: 'GB', name: 'VAT', chargedOnTelecom: true,
      rates: [{ rate: '0.20', from: '2011-01-04', to: null }],
    },
  ],
  regions: { '*': ['GB-VAT'] },
  reverseChargeTaxIdTypes: ['eu_vat', 'vat'],
};

const NO_TAX: RegimeTable = {
  regime: 'none',
  country: '*',
  regionRequired: false,
  components: [],
  regions: { '*': [] },
};

/** The tables the built-in engine uses unless given others. */
export const DEFAULT_RATE_TABLES: readonly RegimeTable[] = Object.freeze([
  US_SALES_TAX,
  CA_GST_HST_PST_QST,
  UK_VAT,
  NO_TAX,
]);
