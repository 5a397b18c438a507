import type { Decimal } from 'decimal.js';
import type { RoundingMode } from '../money/index.ts';
import type { Anchor, BillingPeriod } from '../periods/index.ts';
import type { CustomerTaxContext, SyncTaxEngine, TaxLineExemption, TaxRequest } from '../tax/index.ts';

/** Whether a cancellation within a period gives back the unused part of the fee paid. */
export type CancellationCreditPolicy = 'prorated' | 'none';

/** What the invoice needs of the issuing brand (domain/reference Brand, typed). */
export interface BillingBrand {
  readonly code: string;
  /** ISO 3166-1 alpha-2 of the seller. */
  readonly country: string;
  readonly currency: string;
  readonly timeZone: string;
  readonly roundingMode: RoundingMode;
  readonly taxRegime: string;
  readonly cancellationCredit: CancellationCreditPolicy;
  /** Days from issue to due date, in brand-local calendar days. */
  readonly paymentTermsDays: number;
}

/** A 12-month (or other) commitment's discount, offered by a plan. */
export interface CommitmentDiscount {
  readonly months: number;
  /** Percent off the monthly fee, a decimal string or Decimal ("10" for 10%). */
  readonly percent: Decimal | string;
}

/** What the invoice needs of a plan version. */
export interface BillingPlan {
  readonly planId: string;
  readonly version: number;
  readonly name: string;
  /** Monthly fee, unrounded decimal (string from a file, Decimal from Avro). */
  readonly monthlyFee: Decimal | string;
  readonly commitmentDiscount: CommitmentDiscount | null;
}

/** A commitment the customer signed: the discount applies to fee periods starting in [startsAt, endsAt). */
export interface Commitment {
  readonly months: number;
  readonly startsAt: Date;
  readonly endsAt: Date;
}

export interface BillingSubscription {
  readonly subscriptionId: string;
  readonly accountId: string;
  /** Sets the anniversary (domain/periods). */
  readonly anchor: Anchor;
  /** First instant no longer in trial; null for no trial. */
  readonly trialEndsAt: Date | null;
  /** The instant the cancellation takes effect; null while not cancelled. */
  readonly cancelledAt: Date | null;
  readonly commitment: Commitment | null;
  /**
   * Since when fees are paused (a suspension whose brand policy pauses billing): a period
   * starting at or after it has no fee; usage is still billed. Absent or null: billed normally.
   */
  readonly billingPausedAt?: Date | null;
}

/** A plan change at `at`: the fee moves from `from` to `to` for the rest of the period. */
export interface PlanChange {
  readonly at: Date;
  readonly from: BillingPlan;
  readonly to: BillingPlan;
}

/** One tier of a usage type's overage over the period. */
export interface UsageTier {
  /** 0-based tier index of the price model. */
  readonly tier: number;
  /** Base units (seconds) priced in the tier; negative on a volume re-pricing line. */
  readonly seconds: number;
  readonly unitPrice: Decimal;
  /** Flat fee included in `amount`. */
  readonly flatFee: Decimal;
  /** Unrounded (scale 6). */
  readonly amount: Decimal;
}

/** The charged usage of one usage type over the period just ended. */
export interface UsageSummary {
  readonly usageType: string;
  /** Seconds per price unit (60: prices per minute). */
  readonly unitSeconds: number;
  readonly calls: number;
  readonly billableSeconds: number;
  readonly includedSeconds: number;
  readonly overageSeconds: number;
  readonly tiers: readonly UsageTier[];
}

/**
 * A signed amount carried to this invoice: a re-rating difference (new version − billed
 * version) or usage that arrived after its period was invoiced.
 */
export interface Adjustment {
  /** Deterministic (e.g. the re-rating version and period); becomes the line id. */
  readonly adjustmentId: string;
  readonly reason: 'rerating' | 'late_usage';
  readonly usageType: string | null;
  readonly description: string;
  /** Signed, unrounded, at most 6 decimals. */
  readonly amount: Decimal;
  /** The period the adjusted usage belongs to. */
  readonly periodStart: Date;
  readonly periodEnd: Date;
}

export interface InvoiceInput {
  readonly brand: BillingBrand;
  readonly subscription: BillingSubscription;
  /** The plan in force at the anniversary (after any change within the period just ended). */
  readonly plan: BillingPlan;
  /**
   * The period that starts on this anniversary (domain/periods `nthPeriod`): its fee is
   * billed in advance; the usage and changes of period `index − 1` in arrears. Index 0
   * is the opening invoice (no arrears).
   */
  readonly period: BillingPeriod;
  /** When the invoice is issued; its brand-local date is the tax point. */
  readonly issuedAt: Date;
  /** Charged usage of the period just ended, per usage type. */
  readonly usage: readonly UsageSummary[];
  readonly adjustments: readonly Adjustment[];
  /** Plan changes within the period just ended, any order. */
  readonly planChanges: readonly PlanChange[];
  readonly customerTax: CustomerTaxContext;
}

export interface InvoiceBuildInput extends InvoiceInput {
  readonly taxEngine: SyncTaxEngine;
}

export type InvoiceLineKind = 'subscription_fee' | 'discount' | 'usage' | 'adjustment' | 'proration' | 'credit';

/** A line before the rounding step. */
export interface DraftLine {
  /** Deterministic within the invoice (`fee`, `usage:TOLLFREE:t1`, `adjustment:<id>`). */
  readonly lineId: string;
  readonly kind: InvoiceLineKind;
  readonly description: string;
  readonly usageType: string | null;
  /** In the line's unit (months for fees and prorations, price units for usage), scale 6. */
  readonly quantity: Decimal;
  readonly unitPrice: Decimal;
  /** Unrounded and exact (a proration's to 50 digits); quantity × unitPrice may differ, those are for reading. */
  readonly amount: Decimal;
  readonly periodStart: Date;
  readonly periodEnd: Date;
  readonly taxable: boolean;
}

/** A line after the rounding step: `amount` in minor units, `unroundedAmount` kept for audit. */
export interface InvoiceLine extends Omit<DraftLine, 'amount'> {
  readonly amount: Decimal;
  readonly unroundedAmount: Decimal;
}

/** A tax after the rounding step: `amount` in minor units. */
export interface InvoiceTax {
  readonly taxCode: string;
  readonly jurisdiction: string;
  readonly name: string;
  readonly rate: Decimal;
  readonly statutoryRate: Decimal;
  readonly taxableAmount: Decimal;
  readonly unroundedAmount: Decimal;
  readonly amount: Decimal;
  readonly exemption: TaxLineExemption | null;
}

/** The usage section of the document: per usage type, in minutes and money. */
export interface UsageSummaryLine {
  readonly usageType: string;
  readonly calls: number;
  readonly unitSeconds: number;
  /** In price units (minutes when unitSeconds is 60), scale 6. */
  readonly billableUnits: Decimal;
  readonly includedUnits: Decimal;
  readonly overageUnits: Decimal;
  /** The sum of this usage type's ROUNDED tier lines: equal to what the lines charge. */
  readonly amount: Decimal;
  /** The lineIds of its tier lines. */
  readonly lineIds: readonly string[];
}

/** Everything but the taxes and the rounding: what a tax engine is asked about. */
export interface InvoiceDraft {
  readonly invoiceId: string;
  readonly brand: string;
  readonly accountId: string;
  readonly subscriptionId: string;
  /** The period that starts on this anniversary. */
  readonly periodStart: Date;
  readonly periodEnd: Date;
  /** The period just ended (usage in arrears); null on the opening invoice. */
  readonly usagePeriod: BillingPeriod | null;
  readonly issuedAt: Date;
  readonly dueAt: Date;
  /** Brand-local date of issue: the tax point. */
  readonly taxPoint: string;
  readonly currency: string;
  readonly roundingMode: RoundingMode;
  readonly lines: readonly DraftLine[];
  readonly usage: readonly UsageSummary[];
  /** What the customer should read beside the lines: each plan change of the period just ended, in words. */
  readonly notes: readonly string[];
  /** What the tax engine is asked: the unrounded lines, the tax point, the customer. */
  readonly taxRequest: TaxRequest;
}

export interface Invoice {
  readonly invoiceId: string;
  /** Assigned by the bill-run service (gapless per brand) when it commits; null here. */
  readonly invoiceNumber: string | null;
  readonly brand: string;
  readonly accountId: string;
  readonly subscriptionId: string;
  readonly periodStart: Date;
  readonly periodEnd: Date;
  readonly usagePeriod: BillingPeriod | null;
  readonly issuedAt: Date;
  readonly dueAt: Date;
  readonly taxPoint: string;
  readonly currency: string;
  readonly lines: readonly InvoiceLine[];
  readonly usageSummaries: readonly UsageSummaryLine[];
  /** The plan changes of the period just ended, in words ("Plan changed from A to B from 2026-03-01"); absent on invoices from before notes. */
  readonly notes?: readonly string[];
  readonly taxes: readonly InvoiceTax[];
  readonly taxEngineId: string;
  /** Sum of the rounded line amounts. */
  readonly subtotal: Decimal;
  /** Sum of the rounded taxes. */
  readonly taxTotal: Decimal;
  /** subtotal + taxTotal. */
  readonly total: Decimal;
}


export type InvoicingErrorCode = 'invalid_invoice_input' | 'invalid_tax_result';

export class InvoicingError extends Error {
  override readonly name = 'InvoicingError';
  readonly retryable = false;
  constructor(
    readonly code: InvoicingErrorCode,
    message: string,
    readonly problems: readonly string[] = [message],
  ) {
    super(message);
  }
}
