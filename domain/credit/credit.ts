import { Decimal } from 'decimal.js';
import { minorUnits } from '../money/index.ts';
import { CREDIT_SIGN, type CreditEntry, type CreditSource, type RefundableCharge } from './types.ts';

const ZERO = new Decimal(0);

/** The balance is the sum of its entries, nothing else: there is no stored figure to drift. */
export function balanceOf(entries: readonly Pick<CreditEntry, 'amount'>[]): Decimal {
  return entries.reduce((sum, e) => sum.plus(e.amount), ZERO);
}

/** Why an entry cannot be written, or nothing: the sign must match the source, the amount fit the currency. */
export function entryProblems(source: CreditSource, amount: Decimal, currency: string): string[] {
  const problems: string[] = [];
  if (amount.isZero()) problems.push(`a ${source} entry of zero changes nothing and is not recorded`);
  else if (amount.s !== CREDIT_SIGN[source]) problems.push(`a ${source} entry must be ${CREDIT_SIGN[source] > 0 ? 'positive' : 'negative'}, got ${amount.toFixed()}`);
  if (amount.decimalPlaces() > minorUnits(currency)) problems.push(`${amount.toFixed()} has more decimals than ${currency} has minor units`);
  return problems;
}

/**
 * How much of a balance the next invoice consumes: all of it, up to the invoice's total. A
 * negative or zero invoice consumes nothing (it adds credit instead), and a negative balance
 * (never written by this ledger, but read defensively) is not collected through an invoice.
 */
export function creditToApply(balance: Decimal, invoiceTotal: Decimal): Decimal {
  if (balance.lte(0) || invoiceTotal.lte(0)) return ZERO;
  return Decimal.min(balance, invoiceTotal);
}

/** What a negative invoice adds to the balance: its total, turned positive; nothing for others. */
export function creditFromInvoice(invoiceTotal: Decimal): Decimal {
  return invoiceTotal.lt(0) ? invoiceTotal.negated() : ZERO;
}

/** What the invoice asks the customer to pay: its total less the credit applied, never below zero. */
export function amountDue(invoiceTotal: Decimal, creditApplied: Decimal): Decimal {
  const due = invoiceTotal.minus(creditApplied);
  return due.lt(0) ? ZERO : due;
}

/**
 * Collect's side: money an invoice holds beyond what it asks (paid − refunded − amount due −
 * what was moved before) becomes the customer's credit now. Moved credit never comes back to
 * the invoice: collect refunds only the invoice's own money (paid − refunded − moved), so a
 * refund never gives back credit the next invoice may already have used; a refund reopens
 * the invoice instead.
 */
export function excessToMove(args: { paid: Decimal; refunded: Decimal; amountDue: Decimal; alreadyMoved: Decimal }): Decimal {
  const beyond = args.paid.minus(args.refunded).minus(args.amountDue).minus(args.alreadyMoved);
  return beyond.gt(0) ? beyond : ZERO;
}

/** A payout (cheque or transfer) of credit: refused when larger than the balance or not positive. */
export function payoutProblems(balance: Decimal, amount: Decimal, currency: string): string[] {
  if (!amount.isFinite() || amount.lte(0)) return [`the payout must be greater than zero, got ${amount.toFixed()}`];
  if (amount.decimalPlaces() > minorUnits(currency)) return [`${amount.toFixed()} has more decimals than ${currency} has minor units`];
  if (amount.gt(balance)) return [`the credit balance is ${balance.toFixed(minorUnits(currency))} ${currency}: ${amount.toFixed()} cannot be paid out`];
  return [];
}

/**
 * How a credit refund is split over the account's charges: the newest first, each up to what is
 * left on it, so the money goes back to the card the customer used last. What no charge can
 * take is `unrefundable` (it stays the customer's credit).
 */
export function planCreditRefund(charges: readonly RefundableCharge[], amount: Decimal): { parts: { reference: string; invoiceId: string; gateway: string; amount: Decimal }[]; unrefundable: Decimal } {
  const parts: { reference: string; invoiceId: string; gateway: string; amount: Decimal }[] = [];
  let remaining = amount;
  const newestFirst = [...charges].sort((a, b) => b.at - a.at || (a.reference < b.reference ? -1 : a.reference > b.reference ? 1 : 0));
  for (const c of newestFirst) {
    if (remaining.lte(0)) break;
    if (c.left.lte(0)) continue;
    const take = Decimal.min(c.left, remaining);
    parts.push({ reference: c.reference, invoiceId: c.invoiceId, gateway: c.gateway, amount: take });
    remaining = remaining.minus(take);
  }
  return { parts, unrefundable: remaining.gt(0) ? remaining : ZERO };
}
