import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { cashPosition, chargedVersusControl, chargedVersusInvoiced, currentCharges, drawdownArithmetic, includedWithinGrants, invoicesVersusControl, ratingDrift, type ChargeFact, type PaymentFact } from './chain.ts';
import type { ControlTotal } from './control-totals.ts';

const d = (v: string) => new Decimal(v);
const P1 = Date.UTC(2026, 2, 1);
const charge = (eventId: string, amount: string, over: Partial<ChargeFact> = {}): ChargeFact => ({
  eventId, ratingVersion: 1, brand: 'ansr', accountId: 'a1', subscriptionId: 's1', periodStart: P1, currency: 'USD', amount: d(amount),
  billableSeconds: 120, includedSeconds: 60, overageSeconds: 60, draws: [{ bucketId: 'b', seconds: 60 }], ...over,
});

describe('charged usage = invoiced usage per subscription and period', () => {
  const invoice = (lines: { amount: string; kind?: string; periodStart?: number }[], calls: number, invoiceId = 'inv-1', usagePeriodStart: number | null = P1) => ({
    invoiceId, brand: 'ansr', subscriptionId: 's1', currency: 'USD', usagePeriodStart, calls,
    lines: lines.map((l) => ({ amount: d(l.amount), kind: l.kind ?? 'usage', periodStart: l.periodStart ?? P1 })),
  });

  it('agrees within half a cent a line, a re-rated version replacing the first, an adjustment on a later invoice counting', () => {
    // Calls: c1 0.333333, re-rated to 0.50; c2 0.333333: current 0.833333. The period's invoice billed
    // 0.67 (first versions), a later one carries +0.17 of re-rating for the same period: 0.84;
    // |0.833333 − 0.84| = 0.006667 ≤ 2 lines × 0.005.
    const charges = currentCharges([charge('c1', '0.333333'), charge('c1', '0.50', { ratingVersion: 2 }), charge('c2', '0.333333')]);
    expect(chargedVersusInvoiced(charges, [invoice([{ amount: '0.67' }], 2), invoice([{ amount: '0.17', kind: 'adjustment' }], 0, 'inv-2', null)])).toEqual([]);
  });

  it('finds a charge missing from the invoice, and calls off with the money right', () => {
    // 0.50 + 0.25 charged = 0.75; invoiced 0.50.
    const found = chargedVersusInvoiced([charge('c1', '0.50'), charge('c2', '0.25')], [invoice([{ amount: '0.50' }], 1)]);
    expect(found).toEqual([{ check: 'charged_vs_invoiced', scope: 'ansr s1 2026-03-01', expected: 'usage 0.75 USD (charged, 2 calls)', found: '0.50 on invoices', ids: ['inv-1', 'c2'] }]);
    expect(chargedVersusInvoiced([charge('c1', '0.50'), charge('c2', '0')], [invoice([{ amount: '0.50' }], 1)]).map((x) => [x.expected, x.found])).toEqual([['2 calls (charged)', '1 calls on invoices']]);
  });

  it('names the one charge the invoices lack: its money and seconds are exactly the difference', () => {
    // c1 0.50/120 s, c2 0.25/60 s, c3 0.25/120 s charged: 1.00, 300 s, 3 calls. Invoiced 0.75, 180 s, 2 calls:
    // 0.25 and 120 s are missing; c2 has the money but 60 s, c3 both.
    const charges = [charge('c1', '0.50'), charge('c2', '0.25', { billableSeconds: 60, includedSeconds: 0 }), charge('c3', '0.25')];
    const found = chargedVersusInvoiced(charges, [{ ...invoice([{ amount: '0.75' }], 2), seconds: 180 }]);
    expect(found.map((x) => [x.expected, x.found, x.ids])).toEqual([['usage 1.00 USD (charged, 3 calls)', '0.75 on invoices', ['inv-1', 'c3']]]);
    // A charge drawn wholly from included minutes (0.00, 60 s) missing: the money agrees, the calls and seconds name it.
    const free = chargedVersusInvoiced([charge('c1', '0.50'), charge('c4', '0', { billableSeconds: 60 })], [{ ...invoice([{ amount: '0.50' }], 1), seconds: 120 }]);
    expect(free.map((x) => [x.expected, x.found, x.ids])).toEqual([['2 calls (charged)', '1 calls on invoices', ['inv-1', 'c4']]]);
  });

  it('leaves periods no invoice billed yet alone', () => {
    // The only invoice bills a fee in advance, no usage period: the charged period waits for its bill.
    expect(chargedVersusInvoiced([charge('c1', '0.50', { periodStart: P1 + 1 })], [invoice([], 0, 'inv-1', null)])).toEqual([]);
  });
});

describe('drawn + overage = billable', () => {
  it('names the charges whose seconds do not add up', () => {
    expect(drawdownArithmetic([charge('ok', '0'), charge('off', '0', { overageSeconds: 50 }), charge('draws', '0', { draws: [] })])).toEqual([
      { check: 'drawdown_arithmetic', scope: 'ansr', expected: 'included + overage = billable seconds, draws = included', found: '2 charges off', ids: ['draws', 'off'] },
    ]);
  });
});

describe('included seconds drawn never exceed those granted, per bucket and period', () => {
  const P2 = Date.UTC(2026, 3, 1);
  // Plan p v1 grants lca 120 s and tf 60 s; v2 (a swap) grants lca 300 s.
  const grants: Record<string, { bucketId: string; seconds: number }[]> = { 'p@1': [{ bucketId: 'lca', seconds: 120 }, { bucketId: 'tf', seconds: 60 }], 'p@2': [{ bucketId: 'lca', seconds: 300 }] };
  const grantsOf = (_s: string, planId: string, version: number) => grants[`${planId}@${version}`];
  const draw = (eventId: string, periodStart: number, draws: { bucketId: string; seconds: number }[], planVersion = 1, planId = 'p') => ({ eventId, brand: 'ansr', subscriptionId: 's1', periodStart, planId, planVersion, draws });

  it('agrees up to the grant exactly, and judges a period re-rated onto another version by the larger grant', () => {
    // March: lca 60 + 60 = 120 of 120, tf 30 of 60. April: lca 120 + 180 = 300, one charge under v1 (120) and one under v2 (300).
    const charges = [draw('c1', P1, [{ bucketId: 'lca', seconds: 60 }]), draw('c2', P1, [{ bucketId: 'lca', seconds: 60 }, { bucketId: 'tf', seconds: 30 }]), draw('c3', P2, [{ bucketId: 'lca', seconds: 120 }]), draw('c4', P2, [{ bucketId: 'lca', seconds: 180 }], 2)];
    expect(includedWithinGrants(charges, grantsOf)).toEqual([]);
  });

  it('finds a bucket drawn past its grant and a bucket the plan never granted, and leaves a plan the catalogue lacks alone', () => {
    // March lca: 60 + 60 + 30 = 150 > 120. March ghost: 10 > 0. c9's plan q is unknown: not judged.
    const charges = [
      draw('c1', P1, [{ bucketId: 'lca', seconds: 60 }]), draw('c2', P1, [{ bucketId: 'lca', seconds: 60 }, { bucketId: 'tf', seconds: 30 }]), draw('c3', P1, [{ bucketId: 'lca', seconds: 30 }]),
      draw('c5', P1, [{ bucketId: 'ghost', seconds: 10 }]), draw('c9', P2, [{ bucketId: 'lca', seconds: 999 }], 1, 'q'),
    ];
    expect(includedWithinGrants(charges, grantsOf)).toEqual([
      { check: 'included_over_grant', scope: 'ansr s1 2026-03-01 ghost', expected: 'at most 0 s drawn (granted)', found: '10 s drawn by 1 charges', ids: ['c5'] },
      { check: 'included_over_grant', scope: 'ansr s1 2026-03-01 lca', expected: 'at most 120 s drawn (granted)', found: '150 s drawn by 3 charges', ids: ['c1', 'c2', 'c3'] },
    ]);
  });
});

describe('rating drift', () => {
  it('finds the sampled charges the rules now rate otherwise', () => {
    const live = { ruleId: 'r', ruleVersion: 1, billableSeconds: 60 };
    const found = ratingDrift([
      { eventId: 'same', brand: 'ansr', live, offline: live },
      { eventId: 'drift', brand: 'ansr', live, offline: { ...live, billableSeconds: 66 } },
      { eventId: 'gone', brand: 'ansr', live, offline: null },
    ]);
    expect(found.map((x) => [x.check, x.found, x.ids])).toEqual([['rating_drift', '2 of 3 sampled differ (first: r v1: 66 s)', ['drift', 'gone']]]);
  });
});

describe('invoices against the bill run\'s control totals', () => {
  const control = (invoices: number, amount: string): ControlTotal => ({ stage: 'bill-run', scopeKind: 'brand', scope: 'ansr', day: '2026-03-01', slice: null, figures: { counts: { invoices }, seconds: {}, amounts: { 'invoiced USD': d(amount) } }, version: 1, updatedAt: 0 });
  const inv = (invoiceId: string, total: string) => ({ invoiceId, brand: 'ansr', day: '2026-03-01', currency: 'USD', total: d(total) });

  it('agrees when every invoice the run made was published, and says what is missing when one was not', () => {
    // 10.00 + 22.50 = 32.50.
    expect(invoicesVersusControl([control(2, '32.50')], [inv('a', '10.00'), inv('b', '22.50')])).toEqual([]);
    expect(invoicesVersusControl([control(2, '32.50')], [inv('a', '10.00')]).map((x) => [x.scope, x.expected, x.found])).toEqual([['ansr 2026-03-01', '2 invoices of 32.50 USD (bill-run\'s control total)', '1 published, 10.00 USD']]);
  });
});

describe('cash: invoiced = paid + credited + open, nothing holding more than it asks', () => {
  const pay = (eventId: string, invoiceId: string, kind: string, status: string, amount: string, over: Partial<PaymentFact> = {}): PaymentFact => ({ eventId, invoiceId, brand: 'ansr', kind, status, currency: 'USD', amount: d(amount), creditBalanceChange: null, creditNoteId: null, ...over });
  const invoices = [{ invoiceId: 'i1', brand: 'ansr', currency: 'USD', amountDue: d('30.00') }, { invoiceId: 'i2', brand: 'ansr', currency: 'USD', amountDue: d('20.00') }];

  it('sums a brand: i1 paid 30.00 then a 5.00 credit note refunded (inside the note), i2 paid 25.00 with 5.00 to the credit balance', () => {
    const { summaries, discrepancies } = cashPosition(invoices, [
      pay('p1', 'i1', 'charge', 'SUCCEEDED', '30.00'),
      pay('n1', 'i1', 'credit_note', 'SUCCEEDED', '5.00', { creditBalanceChange: d('5.00') }),
      pay('r1', 'i1', 'refund', 'REFUNDED', '5.00', { creditNoteId: 'n1' }),
      pay('p2', 'i2', 'charge', 'SUCCEEDED', '25.00', { creditBalanceChange: d('5.00') }),
    ]);
    expect(discrepancies).toEqual([]);
    // invoiced 50.00; paid 30 + 25 = 55.00; credited 5.00; to credit 5 + 5 = 10.00; open 50 − 55 − 5 + 10 = 0.00.
    expect(summaries.map((s) => [s.invoiced.toFixed(2), s.paid.toFixed(2), s.credited.toFixed(2), s.toCreditBalance.toFixed(2), s.open.toFixed(2)])).toEqual([['50.00', '55.00', '5.00', '10.00', '0.00']]);
  });

  it('finds an invoice paid twice with nothing moved to credit', () => {
    const { discrepancies } = cashPosition(invoices, [pay('p1', 'i2', 'charge', 'SUCCEEDED', '20.00'), pay('p2', 'i2', 'manual', 'SUCCEEDED', '20.00')]);
    expect(discrepancies.map((x) => [x.check, x.ids])).toEqual([['invoice_overpaid', ['i2', 'p1', 'p2']]]);
  });
});

describe('live charges against drawdown\'s control totals, per brand and local day', () => {
  const control = (day: string, calls: number, seconds: number, usd: string): ControlTotal => ({
    stage: 'drawdown', scopeKind: 'brand', scope: 'ansr', day, slice: null, version: 3, updatedAt: 0,
    figures: { counts: { charged: calls }, seconds: { billable: seconds, included: 0, overage: seconds }, amounts: { 'charged USD': new Decimal(usd) } },
  });
  const charge = (eventId: string, day: string, amount: string, seconds = 60, ratingVersion = 1) => ({ eventId, ratingVersion, brand: 'ansr', day, currency: 'USD', amount: new Decimal(amount), billableSeconds: seconds });

  it('agrees when usage.charged holds what drawdown counted (a re-sent copy and a re-rating version count once)', () => {
    // 1 March: 0.06 + 0.12 = 0.18 for 60 + 120 s.
    expect(chargedVersusControl([control('2026-03-01', 2, 180, '0.18')], [charge('u1', '2026-03-01', '0.06'), charge('u1', '2026-03-01', '0.06'), charge('u2', '2026-03-01', '0.12', 120), charge('u2', '2026-03-01', '0.30', 300, 2)])).toEqual([]);
  });

  it('finds a charge no control total counts, and a day drawdown counted that the topic lacks', () => {
    const found = chargedVersusControl([control('2026-03-01', 1, 60, '0.06'), control('2026-03-02', 1, 60, '0.06')], [charge('u1', '2026-03-01', '0.06'), charge('planted', '2026-03-01', '1.00')]);
    expect(found.map((d) => [d.check, d.scope, d.expected, d.found])).toEqual([
      // 0.06 + 1.00 = 1.06 on the topic for 1 March.
      ['charged_vs_control', 'ansr 2026-03-01', "1 calls, 60 s, 0.06 USD (drawdown's control total)", '2 calls, 120 s, 1.06 USD on usage.charged'],
      ['charged_vs_control', 'ansr 2026-03-02', "1 calls, 60 s, 0.06 USD (drawdown's control total)", '0 calls, 0 s, no money on usage.charged'],
    ]);
  });
});
