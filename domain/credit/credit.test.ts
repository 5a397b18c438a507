import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { amountDue, balanceOf, creditFromInvoice, creditToApply, entryProblems, excessToMove, payoutProblems, planCreditRefund } from './index.ts';

const d = (v: string) => new Decimal(v);

describe('a credit balance is the sum of its entries', () => {
  it('adds and takes away exactly', () => {
    // 16.66 from a negative invoice, 7.25 overpaid, 16.66 applied, 5.00 paid out: 2.25 left.
    expect(balanceOf([{ amount: d('16.66') }, { amount: d('7.25') }, { amount: d('-16.66') }, { amount: d('-5.00') }]).toFixed(2)).toBe('2.25');
    expect(balanceOf([]).toFixed(2)).toBe('0.00');
  });

  it('refuses entries whose sign does not match their source, zero entries and sub-cent amounts', () => {
    expect(entryProblems('overpayment', d('7.25'), 'USD')).toEqual([]);
    expect(entryProblems('applied', d('-16.66'), 'USD')).toEqual([]);
    expect(entryProblems('applied', d('16.66'), 'USD')).toEqual(['a applied entry must be negative, got 16.66']);
    expect(entryProblems('negative_invoice', d('-1'), 'USD')).toEqual(['a negative_invoice entry must be positive, got -1']);
    expect(entryProblems('paid_out', d('0'), 'USD')).toEqual(['a paid_out entry of zero changes nothing and is not recorded']);
    expect(entryProblems('credit_note', d('1.005'), 'USD')).toEqual(['1.005 has more decimals than USD has minor units']);
    expect(entryProblems('credit_note', d('100'), 'JPY')).toEqual([]);
  });
});

describe('the next invoice consumes the balance up to its total', () => {
  it.each([
    // balance, invoice total, applied, amount due
    ['16.66', '32.76', '16.66', '16.10'],
    ['50.00', '32.76', '32.76', '0.00'],
    ['0.00', '32.76', '0.00', '32.76'],
    ['16.66', '0.00', '0.00', '0.00'],
    ['16.66', '-4.00', '0.00', '0.00'],
    ['-3.00', '10.00', '0.00', '10.00'],
  ])('balance %s on an invoice of %s: %s applied, %s due', (balance, total, applied, due) => {
    const use = creditToApply(d(balance), d(total));
    expect(use.toFixed(2)).toBe(applied);
    expect(amountDue(d(total), use).toFixed(2)).toBe(due);
  });

  it('a negative invoice adds its total, turned positive; others add nothing', () => {
    expect(creditFromInvoice(d('-16.66')).toFixed(2)).toBe('16.66');
    expect(creditFromInvoice(d('0')).toFixed(2)).toBe('0.00');
    expect(creditFromInvoice(d('12.00')).toFixed(2)).toBe('0.00');
  });
});

describe('collect moves what an invoice holds beyond its amount due to the credit balance', () => {
  it.each([
    // paid, refunded, amount due, moved before, to move now
    ['32.76', '0', '32.76', '0', '0'], // paid exactly
    ['40.01', '0', '32.76', '0', '7.25'], // a cheque larger than the invoice
    ['72.77', '0', '32.76', '7.25', '32.76'], // a card charge came in after the cheque: all of it is excess now
    ['40.01', '0', '0', '0', '40.01'], // a credit note lowered what is owed to zero, kept as credit
    ['40.01', '10.00', '32.76', '7.25', '0'], // a refund of the invoice's own money reopens it; moved credit stays moved
    ['80.01', '0', '32.76', '7.25', '40'], // a second cheque of 40.00 after the first overpayment
    ['20.00', '0', '32.76', '0', '0'], // partly paid: nothing beyond
  ])('paid %s, refunded %s, due %s, moved %s: move %s', (paid, refunded, due, moved, move) => {
    expect(excessToMove({ paid: d(paid), refunded: d(refunded), amountDue: d(due), alreadyMoved: d(moved) }).toFixed()).toBe(move);
  });
});

describe('a payout of credit', () => {
  it('may take the balance or less, never more, never zero', () => {
    expect(payoutProblems(d('9.25'), d('9.25'), 'USD')).toEqual([]);
    expect(payoutProblems(d('9.25'), d('9.26'), 'USD')).toEqual(['the credit balance is 9.25 USD: 9.26 cannot be paid out']);
    expect(payoutProblems(d('9.25'), d('0'), 'USD')).toEqual(['the payout must be greater than zero, got 0']);
    expect(payoutProblems(d('9.25'), d('1.001'), 'USD')).toEqual(['1.001 has more decimals than USD has minor units']);
  });
});

describe('a credit refund goes back to the newest charges first', () => {
  const charge = (reference: string, left: string, at: number) => ({ reference, invoiceId: `inv-${reference}`, gateway: 'stripe', left: d(left), at });
  const parts = (r: ReturnType<typeof planCreditRefund>) => r.parts.map((p) => [p.reference, p.amount.toFixed(2)]);

  it('takes the last charge, then the one before, each up to what is left on it', () => {
    // 41.00 of credit; May's charge has 15.50 left, April's 31.00, March's 5.00 (the rest refunded).
    const plan = planCreditRefund([charge('mar', '5.00', 3), charge('may', '15.50', 5), charge('apr', '31.00', 4)], d('41.00'));
    expect(parts(plan)).toEqual([['may', '15.50'], ['apr', '25.50']]);
    expect(plan.unrefundable.toFixed(2)).toBe('0.00');
  });

  it('leaves what no charge can take as unrefundable, and skips charges with nothing left', () => {
    const plan = planCreditRefund([charge('a', '0', 9), charge('b', '10.00', 8)], d('14.50'));
    expect(parts(plan)).toEqual([['b', '10.00']]);
    expect(plan.unrefundable.toFixed(2)).toBe('4.50');
    expect(planCreditRefund([], d('3.00')).unrefundable.toFixed(2)).toBe('3.00');
  });
});
