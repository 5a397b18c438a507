import type { Decimal } from 'decimal.js';
import type { RoundingMode } from '../money/index.ts';

/**
 * A brand's tax regime, as named in its reference record (`ref.brands.taxRegime`). The
 * built-in engine knows `us_sales_tax`, `ca_gst_hst_pst_qst`, `uk_vat` and `none`; an
 * external engine may know others.
 */
export type TaxRegime = string;

/**
 * One invoice line as the tax engine sees it: its UNROUNDED, exact amount (a proration can
 * have more than 6 decimals: domain/invoicing). An adapter for an external engine that takes
 * fixed decimals sends them at its own scale; the invoice still rounds what comes back once.
 */
export interface TaxableLine {
  readonly lineId: string;
  /** subscription_fee, discount, usage, adjustment, proration, credit. */
  readonly kind: string;
  /** Unrounded, signed (credits and discounts are negative and reduce the base). */
  readonly amount: Decimal;
  /** False for a line no tax applies to; every line rateline makes today is taxable. */
  readonly taxable: boolean;
}

/** A customer's tax identifier (VAT number, GST/HST registration, state resale id). */
export interface TaxId {
  /** e.g. `gb_vat`, `eu_vat`, `ca_gst_hst`, `ca_qst`, `us_ein`. */
  readonly type: string;
  readonly value: string;
}

/**
 * An exemption certificate: the customer does not pay `taxCode` from `effectiveFrom`
 * (inclusive) to `effectiveTo` (exclusive), local dates YYYY-MM-DD compared with the
 * invoice's tax point.
 */
export interface TaxExemption {
  readonly taxCode: string;
  readonly certificateId: string;
  readonly effectiveFrom: string;
  readonly effectiveTo: string | null;
  /** Why, in words for the invoice (e.g. "resale", "501(c)(3) organisation"). */
  readonly reason: string;
}

/**
 * Where the customer is taxed (the billing address's country and region: the place of
 * supply is the caller's decision) and what it holds.
 */
export interface CustomerTaxContext {
  /** ISO 3166-1 alpha-2: US, CA, GB, ... */
  readonly country: string;
  /** State or province code (NY, ON, QC); null where the regime does not need one (GB). */
  readonly region: string | null;
  readonly taxIds: readonly TaxId[];
  readonly exemptions: readonly TaxExemption[];
}

/** What the bill run asks a tax engine for one invoice. */
export interface TaxRequest {
  readonly invoiceId: string;
  readonly currency: string;
  readonly roundingMode: RoundingMode;
  /** The seller brand's regime and country. */
  readonly regime: TaxRegime;
  readonly sellerCountry: string;
  /**
   * The tax point: the invoice's issue date, local date YYYY-MM-DD in the brand's zone.
   * The rate in force on this day applies to the whole invoice.
   */
  readonly taxPoint: string;
  readonly customer: CustomerTaxContext;
  readonly lines: readonly TaxableLine[];
}

/** Why a tax line is zero: an exemption certificate, or a reverse charge. */
export interface TaxLineExemption {
  readonly kind: 'certificate' | 'reverse_charge';
  /** The certificate id, or for a reverse charge the customer's tax id. */
  readonly reference: string;
  readonly reason: string;
}

/**
 * One tax on the invoice. `tax` is UNROUNDED (taxableAmount × rate, exact): the invoice
 * rounds it once, in `roundInvoice`. An engine that returns rounded taxes is fine:
 * rounding a rounded amount changes nothing.
 */
export interface TaxLine {
  /** e.g. US-NY-SALES, CA-GST, CA-ON-HST, CA-QC-QST, GB-VAT. */
  readonly taxCode: string;
  /** Country and region the tax belongs to: CA for GST, CA-ON for Ontario's HST. */
  readonly jurisdiction: string;
  /** What the customer reads: "HST (Ontario) 13%". */
  readonly name: string;
  /** The rate applied, a fraction (0.13); 0 on an exempt or reverse-charged line. */
  readonly rate: Decimal;
  /** The rate the tax would have had without the exemption. */
  readonly statutoryRate: Decimal;
  /** Sum of the exact, unrounded amounts of the taxable lines. */
  readonly taxableAmount: Decimal;
  /** taxableAmount × rate, exact and unrounded. */
  readonly tax: Decimal;
  /** Set on a zero-rated line: the certificate or reverse charge that made it zero. */
  readonly exemption: TaxLineExemption | null;
}

export interface TaxCalculation {
  /** The engine that computed it (stored with the invoice for audit). */
  readonly engineId: string;
  readonly taxes: readonly TaxLine[];
}

/**
 * A tax engine: the built-in one (effective-dated tables) or an external one (an
 * Avalara-like service behind an adapter). Registered by id; a brand's configuration
 * names the id. Domain code never switches on an engine's id.
 */
export interface TaxEngine {
  readonly id: string;
  /**
   * The taxes of one invoice, one line per tax, each on the sum of the UNROUNDED taxable
   * lines. Throws a `TaxError` (not retryable) for a customer the engine cannot tax
   * (unknown region, outside the regime); an external engine's adapter throws a
   * retryable error for a transport failure.
   */
  calculate(request: TaxRequest): TaxCalculation | PromiseLike<TaxCalculation>;
}

/** An engine that answers without I/O, usable inside the pure `buildInvoice`. */
export interface SyncTaxEngine extends TaxEngine {
  calculate(request: TaxRequest): TaxCalculation;
}

export type TaxErrorCode =
  | 'invalid_rate_table'
  | 'unknown_regime'
  | 'unsupported_jurisdiction'
  | 'no_rate_in_force'
  | 'invalid_tax_request'
  | 'unknown_tax_engine'
  | 'duplicate_tax_engine';

export class TaxError extends Error {
  override readonly name = 'TaxError';
  readonly retryable = false;
  constructor(
    readonly code: TaxErrorCode,
    message: string,
    readonly problems: readonly string[] = [message],
  ) {
    super(message);
  }
}
