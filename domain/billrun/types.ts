import type { BillingPeriod } from '../periods/index.ts';
import type { Brand, Subscription } from '../reference/index.ts';

/** What the bill run needs of a brand (domain/reference Brand). */
export type BillRunBrand = Pick<Brand, 'code' | 'timeZone' | 'billingHour'>;

/** What the bill run needs of a subscription (domain/reference Subscription: instants in epoch ms). */
export type BillRunSubscription = Pick<
  Subscription,
  'subscriptionId' | 'brand' | 'anchor' | 'status' | 'trialEndsAt' | 'cancelledAt'
>;

/**
 * What an invoice due on an anniversary bills:
 * - `opening`: period 0's fee in advance (no arrears);
 * - `anniversary`: period n's fee in advance (none while in trial) and period n − 1's usage in arrears;
 * - `final`: after a cancellation, only the arrears of the last period served.
 */
export type BillingKind = 'opening' | 'anniversary' | 'final';

export interface DueBilling {
  readonly subscriptionId: string;
  /**
   * n: the index of the period that starts on this anniversary. With the subscription id
   * it is the billing's identity (an invoice's key), and the `period` domain/invoicing takes.
   */
  readonly periodIndex: number;
  readonly kind: BillingKind;
  /** Brand-local date of the anniversary, YYYY-MM-DD. */
  readonly anniversary: string;
  /** When it became due: the brand's billing hour on the anniversary (see README for DST). */
  readonly dueAt: Date;
  /** Period n (domain/periods), whatever is billed: what `buildInvoice` takes as `period`. */
  readonly period: BillingPeriod;
  /** The period whose fee is billed in advance (= `period`), or null (trial, final). */
  readonly feePeriod: BillingPeriod | null;
  /** The period whose usage is billed in arrears (n − 1), or null on the opening invoice. */
  readonly usagePeriod: BillingPeriod | null;
  /** The fee is withheld because period n starts before the trial ends. */
  readonly inTrial: boolean;
  /** Due on an earlier brand-local day than `now`: billed by catch-up after a missed run. */
  readonly late: boolean;
}

export interface SkippedBilling extends DueBilling {
  readonly reason: 'beyond_catch_up_limit';
}

export interface DueBillingsInput {
  readonly brand: BillRunBrand;
  readonly subscriptions: readonly BillRunSubscription[];
  /** The run's instant, from the injected clock. */
  readonly now: Date;
  /** Keys (`billingKey(subscriptionId, periodIndex)`) of the billings already invoiced. */
  readonly invoiced: ReadonlySet<string>;
  /**
   * Catch-up bound in brand-local calendar days: a billing due on an anniversary more
   * than this many days before today's local date is not billed automatically but listed
   * in `skipped`. Default 7.
   */
  readonly maxCatchUpDays?: number;
  /**
   * Billings due before this instant are settled history (a migration cut-over, or the
   * oldest invoice the caller loaded) and are not examined. Default: none (from the anchor).
   */
  readonly since?: Date | null;
  /**
   * Per subscription id, the first period index to examine: the periods before it are known to
   * be invoiced (the bill-run service keeps it per subscription). Default 0 (from the anchor).
   */
  readonly fromPeriodIndex?: ReadonlyMap<string, number>;
}

export interface NextBillingInput {
  readonly brand: BillRunBrand;
  readonly subscription: BillRunSubscription;
  /** The first period index not known to be invoiced. */
  readonly fromPeriodIndex: number;
  readonly since?: Date | null;
}

/** A subscription's next billing: what it is, and when it falls due. */
export interface NextBilling {
  readonly periodIndex: number;
  readonly dueAt: Date;
  /** Brand-local date of the anniversary, YYYY-MM-DD. */
  readonly anniversary: string;
}

export interface DueBillingsResult {
  /** Ordered by dueAt, then subscription id, then period index. */
  readonly due: readonly DueBilling[];
  /** Not invoiced but older than the catch-up bound: a warning for ops, never dropped in silence. */
  readonly skipped: readonly SkippedBilling[];
  /** One human-readable line per skipped billing (empty when none). */
  readonly warnings: readonly string[];
}

/** One invoice to number: its billing identity. */
export interface InvoiceRef {
  readonly subscriptionId: string;
  readonly periodIndex: number;
}

export interface NumberedInvoice<T extends InvoiceRef> {
  readonly invoice: T;
  /** The brand's gapless sequence number. */
  readonly sequence: number;
  readonly invoiceNumber: string;
}

export interface InvoiceNumberAllocation<T extends InvoiceRef> {
  /** In allocation order: by subscription id (code-unit order), then period index. */
  readonly numbered: readonly NumberedInvoice<T>[];
  /** The new last number: `lastNumber + numbered.length`. */
  readonly lastNumber: number;
}

export type BillRunErrorCode = 'invalid_bill_run_input' | 'duplicate_billing' | 'invalid_invoice_number_input';

export class BillRunError extends Error {
  override readonly name = 'BillRunError';
  readonly retryable = false;
  constructor(
    readonly code: BillRunErrorCode,
    message: string,
    readonly problems: readonly string[] = [message],
  ) {
    super(message);
  }
}
