import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { cdrBalance, changedCopies, chargesWithoutCdr, invoiceArithmetic, invoiceNumbering, paymentsWithoutInvoice, type CdrOutcomeFact, type InvoiceFact } from './index.ts';

const d = (v: string) => new Decimal(v);
const raw = (cdrId: string, day = '2026-03-01', source = 'pbx') => ({ source, cdrId, day });
const charged = (cdrId: string, eventId = `u-${cdrId}`, ratingVersion = 1): CdrOutcomeFact => ({ source: 'pbx', cdrId, kind: 'charged', eventId, ratingVersion });
const rejected = (cdrId: string, eventId = `r-${cdrId}`): CdrOutcomeFact => ({ source: 'pbx', cdrId, kind: 'rejected', eventId, ratingVersion: 0 });

describe('CDRs in = charged + rejected, per source and day', () => {
  it('a clean day: one charged, one rejected, one sent twice (charged, then rejected as a duplicate), one re-rated', () => {
    const found = cdrBalance(
      [raw('a'), raw('b'), raw('c'), raw('c'), raw('d')],
      [charged('a'), rejected('b'), charged('c'), rejected('c', 'r-c-dup'), charged('d'), charged('d', 'u-d', 2)],
    );
    expect(found).toEqual([]);
  });

  it('names the CDR with no outcome and the one charged twice in a version', () => {
    const found = cdrBalance([raw('a'), raw('b', '2026-03-02'), raw('e', '2026-03-02')], [charged('a'), charged('a', 'u-a-again'), charged('e')]);
    expect(found).toEqual([
      { check: 'cdr_double_charge', scope: 'pbx a', expected: 'one charge in rating version 1', found: '2 charges', ids: ['u-a', 'u-a-again'] },
      { check: 'cdr_balance', scope: 'pbx 2026-03-02', expected: '2 CDRs charged or rejected', found: '1 outcomes', ids: ['b'] },
    ]);
  });
});

const invoice = (over: Partial<InvoiceFact> = {}): InvoiceFact => ({
  invoiceId: 'inv-1', invoiceNumber: 'ANSR-000001', brand: 'ansr', currency: 'USD',
  // 30.00 fee + 1.50 usage = 31.50; 4 % tax 1.26; total 32.76; 10.00 of credit applied: 22.76 due.
  lines: [d('30.00'), d('1.50')], taxes: [d('1.26')], subtotal: d('31.50'), taxTotal: d('1.26'), total: d('32.76'), creditApplied: d('10.00'), amountDue: d('22.76'),
  ...over,
});

describe('invoice arithmetic', () => {
  it('a right invoice gives nothing; a negative one asks nothing', () => {
    expect(invoiceArithmetic([invoice(), invoice({ lines: [d('-14.50')], taxes: [], subtotal: d('-14.50'), taxTotal: d('0'), total: d('-14.50'), creditApplied: d('0'), amountDue: d('0') })])).toEqual([]);
  });

  it('finds a subtotal off the lines, a total off subtotal + tax, a wrong amount due, a sub-cent amount', () => {
    const found = invoiceArithmetic([invoice({ subtotal: d('31.40'), total: d('32.66'), amountDue: d('22.66') }), invoice({ invoiceId: 'inv-2', invoiceNumber: 'ANSR-000002', lines: [d('30.00'), d('1.505')], subtotal: d('31.505'), total: d('32.765'), amountDue: d('22.765') })]);
    expect(found.map((f) => [f.scope, f.expected, f.found])).toEqual([
      ['ansr ANSR-000001', 'subtotal 31.50 (the lines\u2019 sum)'.replace('\u2019', "'"), 'subtotal 31.40'],
      ['ansr ANSR-000002', 'amounts in minor units of USD', '1.505, 31.505, 32.765, 22.765'],
    ]);
  });
});

describe('invoice numbers run without gaps or repeats per brand', () => {
  it('finds the gap and the number given twice', () => {
    const found = invoiceNumbering([
      { invoiceId: 'a', invoiceNumber: 'X-000001', brand: 'x' },
      { invoiceId: 'b', invoiceNumber: 'X-000002', brand: 'x' },
      { invoiceId: 'c', invoiceNumber: 'X-000002', brand: 'x' },
      { invoiceId: 'd', invoiceNumber: 'X-000005', brand: 'x' },
      { invoiceId: 'e', invoiceNumber: 'Y-000007', brand: 'y' },
      { invoiceId: 'f', invoiceNumber: 'Y-000008', brand: 'y' },
    ]);
    expect(found).toEqual([
      { check: 'invoice_numbering', scope: 'x', expected: 'number 2 on one invoice', found: '2 invoices', ids: ['b', 'c'] },
      { check: 'invoice_numbering', scope: 'x', expected: 'numbers 1 to 5 without gaps', found: '2 missing: 3, 4', ids: [] },
    ]);
  });
});

describe('payments without an invoice', () => {
  it('lists payment events about invoices never published, except a credit refund part that names its request', () => {
    const found = paymentsWithoutInvoice(new Set(['inv-1']), [
      { eventId: 'p1', invoiceId: 'inv-1', brand: 'x', kind: 'charge' },
      { eventId: 'p2', invoiceId: 'inv-404', brand: 'x', kind: 'manual' },
      { eventId: 'p3', invoiceId: 'credit-refund-acct-USD-1', brand: 'x', kind: 'credit_refund' },
    ]);
    expect(found).toEqual([{ check: 'payment_without_invoice', scope: 'x', expected: 'every payment about a published invoice', found: '1 payment events about unknown invoices', ids: ['p2'] }]);
  });
});

describe('charges whose CDR never arrived', () => {
  it('names each charge of a CDR cdr.raw never had, per source', () => {
    const raw = new Set(['pbx/1', 'pbx/2']);
    const found = chargesWithoutCdr(raw, [
      { source: 'pbx', cdrId: '1', eventId: 'u1' },
      { source: 'pbx', cdrId: '1', eventId: 'u1' }, // a re-sent copy: the same charge
      { source: 'pbx', cdrId: '9', eventId: 'u9' },
      { source: 'sip', cdrId: '2', eventId: 'u-sip-2' }, // pbx/2 arrived, sip/2 did not
    ]);
    expect(found.map((d) => [d.check, d.scope, d.ids])).toEqual([['charge_without_cdr', 'pbx', ['u9']], ['charge_without_cdr', 'sip', ['u-sip-2']]]);
    expect(chargesWithoutCdr(raw, [{ source: 'pbx', cdrId: '2', eventId: 'u2' }])).toEqual([]);
  });
});

describe('an event published twice says the same both times', () => {
  const cases: { name: string; copies: { id: string; fingerprint: string }[]; ids: string[] }[] = [
    { name: 'identical re-sends', copies: [{ id: 'a', fingerprint: 'x' }, { id: 'a', fingerprint: 'x' }, { id: 'b', fingerprint: 'y' }], ids: [] },
    { name: 'one edited copy', copies: [{ id: 'a', fingerprint: 'x' }, { id: 'b', fingerprint: 'y' }, { id: 'a', fingerprint: 'x2' }, { id: 'a', fingerprint: 'x' }], ids: ['a'] },
  ];
  for (const c of cases) it(c.name, () => expect(changedCopies('invoice_changed', 'ansr', c.copies).flatMap((d) => d.ids)).toEqual(c.ids));
});
