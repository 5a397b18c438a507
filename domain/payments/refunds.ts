import { Decimal } from 'decimal.js';
import { compareMoney, dec, minorUnits, subtractMoney, zero } from '../money/index.ts';
import type { Money } from '../money/index.ts';

/** The money already moved on an invoice, as the collect service stores it. */
export interface RefundBasis {
  /** Sum of succeeded charges. */
  readonly paid: Money;
  /** Sum of refunds succeeded **or in flight** (requested, no final answer yet). */
  readonly refunded: Money;
}

export type PlanResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problems: readonly string[] };

function amountProblems(amount: Money, currency: string, what: string): string[] {
  const problems: string[] = [];
  if (amount.currency !== currency) problems.push(`${what} is in ${amount.currency}, the invoice in ${currency}`);
  if (!amount.amount.isFinite() || amount.amount.lte(0)) problems.push(`${what} must be greater than zero, got ${amount.amount.toFixed()}`);
  else {
    try {
      const exponent = minorUnits(amount.currency);
      if (amount.amount.decimalPlaces() > exponent) {
        problems.push(`${what} ${amount.amount.toFixed()} has more than ${exponent} decimals for ${amount.currency}`);
      }
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return problems;
}

/**
 * A refund may not exceed what was paid minus earlier refunds (in flight ones included,
 * so two concurrent requests cannot together refund more than was paid). Every problem
 * is listed.
 */
export function planRefund(basis: RefundBasis, amount: Money): PlanResult<{ amount: Money; remainingRefundable: Money }> {
  const currency = basis.paid.currency;
  const problems = amountProblems(amount, currency, 'refund');
  if (basis.refunded.currency !== currency) problems.push(`refunded total is in ${basis.refunded.currency}, paid in ${currency}`);
  if (problems.length > 0) return { ok: false, problems };
  const refundable = subtractMoney(basis.paid, basis.refunded);
  if (compareMoney(amount, refundable) > 0) {
    return {
      ok: false,
      problems: [`refund ${amount.amount.toFixed()} ${currency} exceeds the refundable ${refundable.amount.toFixed()} ${currency} (paid ${basis.paid.amount.toFixed()}, refunded ${basis.refunded.amount.toFixed()})`],
    };
  }
  return { ok: true, value: { amount, remainingRefundable: subtractMoney(refundable, amount) } };
}

export interface CreditNoteBasis extends RefundBasis {
  /** The invoice's total. */
  readonly invoiceTotal: Money;
  /** Sum of earlier credit notes on this invoice. */
  readonly credited: Money;
}

export interface CreditNotePlan {
  readonly amount: Money;
  /** The part that lowers what is still owed (nothing moves at the gateway). */
  readonly reducesBalance: Money;
  /** The part already paid that goes back to the customer as a refund. */
  readonly refund: Money;
}

/**
 * A credit note lowers the invoice: first what is still owed, then, if the invoice was
 * (over)paid, the rest is refunded. It may not credit more than the invoice's total minus
 * earlier credit notes; the refund part can then never exceed paid minus refunded.
 */
export function planCreditNote(basis: CreditNoteBasis, amount: Money): PlanResult<CreditNotePlan> {
  const currency = basis.invoiceTotal.currency;
  const problems = amountProblems(amount, currency, 'credit note');
  for (const [name, m] of [['paid', basis.paid], ['refunded', basis.refunded], ['credited', basis.credited]] as const) {
    if (m.currency !== currency) problems.push(`${name} is in ${m.currency}, the invoice in ${currency}`);
  }
  if (problems.length > 0) return { ok: false, problems };

  const creditable = subtractMoney(basis.invoiceTotal, basis.credited);
  if (compareMoney(amount, creditable) > 0) {
    return {
      ok: false,
      problems: [`credit note ${amount.amount.toFixed()} ${currency} exceeds the creditable ${creditable.amount.toFixed()} ${currency} (total ${basis.invoiceTotal.amount.toFixed()}, credited ${basis.credited.amount.toFixed()})`],
    };
  }
  const netPaid = subtractMoney(basis.paid, basis.refunded);
  const owed = subtractMoney(creditable, netPaid);
  const owedPositive = owed.amount.gt(0) ? owed : zero(currency);
  const reduces = Decimal.min(amount.amount, owedPositive.amount);
  const reducesBalance: Money = { amount: dec(reduces), currency };
  const refund = subtractMoney(amount, reducesBalance);
  return { ok: true, value: { amount, reducesBalance, refund } };
}
