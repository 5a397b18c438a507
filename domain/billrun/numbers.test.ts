import { describe, expect, it } from 'vitest';
import { BillRunError, allocateInvoiceNumbers, formatInvoiceNumber } from './index.ts';
import type { InvoiceRef } from './index.ts';
import { seededRandom as prng } from '../prng.ts';

const brand = { code: 'ansr-us' };

describe('invoice numbers', () => {
  it('format: brand code upper-cased, 6 digits zero-padded, longer numbers keep their digits', () => {
    expect(formatInvoiceNumber('ansr-us', 123)).toBe('ANSR-US-000123');
    expect(formatInvoiceNumber('lca-ca', 1)).toBe('LCA-CA-000001');
    expect(formatInvoiceNumber('ansr-us', 1_234_567)).toBe('ANSR-US-1234567');
  });

  it('numbers in a fixed order (subscription id, then period), whatever the input order', () => {
    const invoices: InvoiceRef[] = [
      { subscriptionId: 'sub-b', periodIndex: 2 },
      { subscriptionId: 'sub-a', periodIndex: 10 },
      { subscriptionId: 'sub-b', periodIndex: 1 },
      { subscriptionId: 'sub-a', periodIndex: 9 },
      { subscriptionId: 'Sub-c', periodIndex: 0 }, // 'S' (0x53) sorts before 's' (0x73)
    ];
    const r = allocateInvoiceNumbers(brand, 122, invoices);
    expect(r.numbered.map((n) => [n.invoice.subscriptionId, n.invoice.periodIndex, n.invoiceNumber])).toEqual([
      ['Sub-c', 0, 'ANSR-US-000123'],
      ['sub-a', 9, 'ANSR-US-000124'],
      ['sub-a', 10, 'ANSR-US-000125'],
      ['sub-b', 1, 'ANSR-US-000126'],
      ['sub-b', 2, 'ANSR-US-000127'],
    ]);
    expect(r.lastNumber).toBe(127);
    const shuffled = allocateInvoiceNumbers(brand, 122, [...invoices].reverse());
    expect(shuffled.numbered.map((n) => n.invoiceNumber)).toEqual(r.numbered.map((n) => n.invoiceNumber));
    expect(shuffled.numbered.map((n) => n.invoice)).toEqual(r.numbered.map((n) => n.invoice));
  });

  it('two allocations in sequence neither skip nor repeat; an empty one changes nothing', () => {
    const first = allocateInvoiceNumbers(brand, 0, [
      { subscriptionId: 's1', periodIndex: 1 },
      { subscriptionId: 's2', periodIndex: 1 },
    ]);
    const empty = allocateInvoiceNumbers(brand, first.lastNumber, []);
    const second = allocateInvoiceNumbers(brand, empty.lastNumber, [
      { subscriptionId: 's1', periodIndex: 2 },
      { subscriptionId: 's3', periodIndex: 0 },
    ]);
    expect([...first.numbered, ...second.numbered].map((n) => n.sequence)).toEqual([1, 2, 3, 4]);
    expect(empty.lastNumber).toBe(2);
    expect(second.lastNumber).toBe(4);
  });

  it('property: 300 seeded batches in sequence give 1..N exactly once, each number unique', () => {
    const random = prng(20261125);
    let last = 0;
    let expected = 0;
    const seen = new Set<string>();
    for (let batch = 0; batch < 300; batch += 1) {
      const size = Math.floor(random() * 12);
      const invoices = Array.from({ length: size }, (_, i) => ({ subscriptionId: `s${batch}-${i}`, periodIndex: batch }));
      const r = allocateInvoiceNumbers(brand, last, invoices);
      for (const n of r.numbered) {
        expected += 1;
        expect(n.sequence).toBe(expected);
        expect(seen.has(n.invoiceNumber)).toBe(false);
        seen.add(n.invoiceNumber);
      }
      expect(r.lastNumber).toBe(expected);
      last = r.lastNumber;
    }
    expect(seen.size).toBe(last);
  });

  it('a second invoice for the same subscription and period fails loudly', () => {
    const call = () =>
      allocateInvoiceNumbers(brand, 5, [
        { subscriptionId: 's1', periodIndex: 1 },
        { subscriptionId: 's1', periodIndex: 1 },
      ]);
    expect(call).toThrow(BillRunError);
    try {
      call();
    } catch (error) {
      expect((error as BillRunError).code).toBe('duplicate_billing');
    }
  });

  it('refuses a negative or fractional last number', () => {
    expect(() => allocateInvoiceNumbers(brand, -1, [])).toThrow(/lastNumber -1/);
    expect(() => allocateInvoiceNumbers(brand, 1.5, [])).toThrow(/lastNumber 1.5/);
  });
});
