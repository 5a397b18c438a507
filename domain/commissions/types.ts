import type { Decimal } from 'decimal.js';
import type { Invoice } from '../invoicing/index.ts';
import type { RoundingMode } from '../money/index.ts';
import type { Anchor } from '../periods/index.ts';

/** A brand's agent commission rule: `initialPercent` for the first N months, then `recurringPercent`. */
export interface CommissionRule {
  readonly brand: string;
  /** Percent ("20" for 20%) of commissionable revenue of the subscription's periods 0 .. N − 1. */
  readonly initialPercent: Decimal | string;
  /** N: how many monthly periods, from the anchor, earn the initial percent. */
  readonly initialMonths: number;
  /** Percent of commissionable revenue of the periods after the first N. */
  readonly recurringPercent: Decimal | string;
}

/** What commissions need of a brand: its zone sets the periods and the statement month. */
export interface CommissionBrand {
  readonly code: string;
  readonly timeZone: string;
}

/** The selling agent of a subscription (the customer's agent at sale), and its anchor. */
export interface CommissionSubscription {
  readonly subscriptionId: string;
  /** null: sold without an agent; earns no commission. */
  readonly agentId: string | null;
  readonly anchor: Anchor;
}

/** Money paid back against an invoice (tax included, as the customer was refunded). */
export interface Refund {
  /** Deterministic; becomes the statement line id. */
  readonly refundId: string;
  readonly invoiceId: string;
  /** Positive, at most the invoice's total. */
  readonly amount: Decimal | string;
  readonly refundedAt: Date;
}

export interface CommissionInput {
  readonly brands: readonly CommissionBrand[];
  readonly rules: readonly CommissionRule[];
  readonly subscriptions: readonly CommissionSubscription[];
  readonly invoices: readonly Invoice[];
  readonly refunds: readonly Refund[];
}

/** One statement line: an invoice's commission, or a refund's reversal of it. */
export interface CommissionLine {
  /** `invoice:<invoiceId>` or `refund:<refundId>`. */
  readonly lineId: string;
  readonly kind: 'invoice' | 'refund';
  readonly agentId: string;
  readonly brand: string;
  /** Brand-local month, YYYY-MM: the invoice's tax point, or the refund's date. */
  readonly month: string;
  readonly invoiceId: string;
  readonly invoiceNumber: string | null;
  readonly subscriptionId: string;
  readonly accountId: string;
  readonly currency: string;
  /** Commissionable revenue of periods inside the first N months (negative on a refund line). */
  readonly initialBase: Decimal;
  /** Commissionable revenue of later periods. */
  readonly recurringBase: Decimal;
  readonly initialPercent: Decimal;
  readonly recurringPercent: Decimal;
  /** Unrounded, scale 6: rounded once, on the statement's total. */
  readonly commission: Decimal;
}

export interface StatementTotal {
  readonly currency: string;
  /** Sum of the lines' bases (initial + recurring), unrounded. */
  readonly base: Decimal;
  /** Sum of the lines' unrounded commissions. */
  readonly unroundedCommission: Decimal;
  /** The payable: `unroundedCommission` rounded once to the currency's minor unit. */
  readonly commission: Decimal;
}

export interface AgentStatement {
  readonly agentId: string;
  /** YYYY-MM. */
  readonly month: string;
  readonly roundingMode: RoundingMode;
  /** By brand, then line id. */
  readonly lines: readonly CommissionLine[];
  /** One per currency, by currency code. */
  readonly totals: readonly StatementTotal[];
}

export type CommissionErrorCode = 'invalid_commission_input';

export class CommissionError extends Error {
  override readonly name = 'CommissionError';
  readonly retryable = false;
  constructor(
    readonly code: CommissionErrorCode,
    message: string,
    readonly problems: readonly string[] = [message],
  ) {
    super(message);
  }
}
