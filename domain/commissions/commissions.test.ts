import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import type { Invoice, InvoiceLine, InvoiceLineKind } from '../invoicing/index.ts';
import { nthPeriod } from '../periods/index.ts';
import { CommissionError, agentStatement, commissionLines, monthlyStatements } from './index.ts';
import type { CommissionInput, CommissionLine, Refund } from './index.ts';

const NY = 'America/New_York';
const LDN = 'Europe/London';
const d = (v: string): Decimal => new Decimal(v);
const s = (x: Decimal): string => x.toFixed(6);

/** A hand-made invoice of `sub` for period n: lines as [kind, amount, period of the revenue]. */
function invoice(
  brand: string,
  zone: string,
  sub: string,
  anchor: string,
  n: number,
  lines: [kind: InvoiceLineKind, amount: string, period: number][],
  tax: string,
  currency = 'USD',
): Invoice {
  const period = nthPeriod(anchor, n, zone);
  const invoiceLines: InvoiceLine[] = lines.map(([kind, amount, p], i) => {
    const pp = nthPeriod(anchor, p, zone);
    return {
      lineId: `${kind}:${i}`,
      kind,
      description: kind,
      usageType: kind === 'usage' ? 'TOLLFREE' : null,
      quantity: d('1'),
      unitPrice: d(amount),
      amount: d(amount),
      unroundedAmount: d(amount),
      periodStart: pp.start,
      periodEnd: pp.end,
      taxable: true,
    };
  });
  const subtotal = invoiceLines.reduce((a, l) => a.plus(l.amount), d('0'));
  const taxPoint = period.start.toISOString().slice(0, 10);
  return {
    invoiceId: `inv:${brand}:${sub}:${n}`,
    invoiceNumber: `${brand.toUpperCase()}-${String(n + 1).padStart(6, '0')}`,
    brand,
    accountId: `acc-${sub}`,
    subscriptionId: sub,
    periodStart: period.start,
    periodEnd: period.end,
    usagePeriod: n > 0 ? nthPeriod(anchor, n - 1, zone) : null,
    issuedAt: period.start,
    dueAt: period.start,
    taxPoint,
    currency,
    lines: invoiceLines,
    usageSummaries: [],
    taxes: [],
    taxEngineId: 'builtin',
    subtotal,
    taxTotal: d(tax),
    total: subtotal.plus(tax),
  };
}

// ansr-us: 20% for the first 3 months (periods 0, 1, 2), 5% after. ansr-uk: 10% for 12, then 2%.
const base: Omit<CommissionInput, 'invoices' | 'refunds'> = {
  brands: [
    { code: 'ansr-us', timeZone: NY },
    { code: 'ansr-uk', timeZone: LDN },
  ],
  rules: [
    { brand: 'ansr-us', initialPercent: '20', initialMonths: 3, recurringPercent: '5' },
    { brand: 'ansr-uk', initialPercent: '10', initialMonths: 12, recurringPercent: '2' },
  ],
  subscriptions: [
    { subscriptionId: 's1', agentId: 'agent-a', anchor: '2026-01-15' },
    { subscriptionId: 's2', agentId: 'agent-a', anchor: '2026-01-20' },
    { subscriptionId: 's3', agentId: null, anchor: '2026-01-15' },
    { subscriptionId: 'u1', agentId: 'agent-a', anchor: '2026-04-02' },
    { subscriptionId: 's4', agentId: 'agent-b', anchor: '2026-01-15' },
  ],
};

const us = (sub: string, anchor: string, n: number, lines: [InvoiceLineKind, string, number][], tax: string) =>
  invoice('ansr-us', NY, sub, anchor, n, lines, tax);

describe('commission per invoice: hand-worked', () => {
  const cases: [name: string, inv: Invoice, initialBase: string, recurringBase: string, commission: string][] = [
    [
      'opening invoice: fee 49.00 at 20%; usage 12.34 and tax 3.00 earn nothing',
      us('s1', '2026-01-15', 0, [['subscription_fee', '49.00', 0], ['usage', '12.34', 0]], '3.00'),
      '49.00', '0', '9.800000',
    ],
    [
      'trial-end proration 24.50 (period 1) and fee 49.00 (period 2): both inside the first 3 months',
      us('s1', '2026-01-15', 2, [['proration', '24.50', 1], ['subscription_fee', '49.00', 2], ['usage', '7.00', 1]], '0'),
      '73.50', '0', '14.700000',
    ],
    [
      'period 3 fee 49.00 less a 10% commitment discount 4.90: recurring 5% of 44.10',
      us('s1', '2026-01-15', 3, [['subscription_fee', '49.00', 3], ['discount', '-4.90', 3], ['usage', '5.00', 2]], '0'),
      '0', '44.10', '2.205000',
    ],
    [
      'the month boundary: fee of period 3 recurring, an upgrade proration of period 2 at the initial rate',
      us('s1', '2026-01-15', 3, [['proration', '-10.00', 2], ['proration', '15.00', 2], ['subscription_fee', '59.00', 3]], '0'),
      '5.00', '59.00', '3.950000', // 5.00 × 20% + 59.00 × 5% = 1.00 + 2.95
    ],
    [
      'final invoice: a cancellation credit of 16.33 in period 4 reduces commission (recurring)',
      us('s1', '2026-01-15', 5, [['credit', '-16.33', 4], ['usage', '3.10', 4]], '0'),
      '0', '-16.33', '-0.816500',
    ],
  ];
  it.each(cases)('%s', (_name, inv, initialBase, recurringBase, commission) => {
    const [line, ...rest] = commissionLines({ ...base, invoices: [inv], refunds: [] });
    expect(rest).toEqual([]);
    expect(line?.agentId).toBe('agent-a');
    expect(s(line?.initialBase ?? d('99'))).toBe(s(d(initialBase)));
    expect(s(line?.recurringBase ?? d('99'))).toBe(s(d(recurringBase)));
    expect(line?.commission.toFixed(6)).toBe(commission);
  });

  it('no line for usage-only invoices, for subscriptions without an agent, for brands without a rule', () => {
    const lines = commissionLines({
      ...base,
      brands: [...base.brands, { code: 'lca-ca', timeZone: 'America/Toronto' }],
      subscriptions: [...base.subscriptions, { subscriptionId: 'c1', agentId: 'agent-a', anchor: '2026-01-15' }],
      invoices: [
        us('s1', '2026-01-15', 1, [['usage', '12.00', 0], ['adjustment', '1.00', 0]], '0'),
        us('s3', '2026-01-15', 1, [['subscription_fee', '49.00', 1]], '0'),
        invoice('lca-ca', 'America/Toronto', 'c1', '2026-01-15', 1, [['subscription_fee', '49.00', 1]], '0', 'CAD'),
      ],
      refunds: [],
    });
    expect(lines).toEqual([]);
  });
});

describe('refunds reverse the refunded share, in the month of the refund', () => {
  const opening = us('s1', '2026-01-15', 0, [['subscription_fee', '49.00', 0], ['usage', '1.90', 0]], '3.00');
  // total 53.90; commission 9.80. A refund of 26.95 is half the invoice: −4.90.
  const refund: Refund = { refundId: 'r1', invoiceId: opening.invoiceId, amount: '26.95', refundedAt: new Date('2026-03-01T03:00:00Z') };
  const lines = commissionLines({ ...base, invoices: [opening], refunds: [refund] });

  it('a half refund reverses half the commission', () => {
    expect(lines.map((l) => [l.lineId, l.month, l.commission.toFixed(6), l.initialBase.toFixed(6)])).toEqual([
      ['invoice:inv:ansr-us:s1:0', '2026-01', '9.800000', '49.000000'],
      // 2026-03-01 03:00Z is Feb 28 22:00 in New York: a February reversal.
      ['refund:r1', '2026-02', '-4.900000', '-24.500000'],
    ]);
  });

  it('refunds of more than the invoice, of unknown invoices, and negative amounts are refused together', () => {
    try {
      commissionLines({
        ...base,
        invoices: [opening],
        refunds: [
          { ...refund, refundId: 'r2', amount: '53.91' },
          { ...refund, refundId: 'r3', invoiceId: 'nope' },
          { ...refund, refundId: 'r4', amount: '-1' },
        ],
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(CommissionError);
      expect((error as CommissionError).problems).toHaveLength(3);
    }
  });
});

describe('monthly statement per agent: lines per invoice, totals per currency rounded once', () => {
  // April 2026 for agent-a: two s1/s2 invoices at 5% of 44.10 each (2.205 + 2.205), a UK
  // invoice in GBP, and a January refund of agent-a's that lands in March (not April).
  const april: Invoice[] = [
    us('s1', '2026-01-15', 3, [['subscription_fee', '49.00', 3], ['discount', '-4.90', 3]], '0'), // 2026-04-15
    us('s2', '2026-01-20', 3, [['subscription_fee', '49.00', 3], ['discount', '-4.90', 3]], '0'), // 2026-04-20
    invoice('ansr-uk', LDN, 'u1', '2026-04-02', 0, [['subscription_fee', '30.05', 0]], '6.01', 'GBP'), // 10% = 3.005
    us('s4', '2026-01-15', 0, [['subscription_fee', '10.00', 0]], '0'), // January: agent-b, not April
    us('s1', '2026-01-15', 2, [['subscription_fee', '49.00', 2]], '0'), // 2026-03-15
  ];
  const input: CommissionInput = { ...base, invoices: april, refunds: [] };

  it('half_up: 2.205 + 2.205 = 4.41 rounded once (not 2.21 + 2.21 = 4.42); GBP 3.005 → 3.01', () => {
    const st = agentStatement(commissionLines(input), 'agent-a', '2026-04', 'half_up');
    expect(st.lines.map((l: CommissionLine) => [l.brand, l.invoiceId, l.commission.toFixed(6)])).toEqual([
      ['ansr-uk', 'inv:ansr-uk:u1:0', '3.005000'],
      ['ansr-us', 'inv:ansr-us:s1:3', '2.205000'],
      ['ansr-us', 'inv:ansr-us:s2:3', '2.205000'],
    ]);
    expect(st.totals.map((t) => [t.currency, t.base.toFixed(2), t.unroundedCommission.toFixed(6), t.commission.toFixed(2)])).toEqual([
      ['GBP', '30.05', '3.005000', '3.01'],
      ['USD', '88.20', '4.410000', '4.41'],
    ]);
  });

  it('half_even rounds the GBP tie down: 3.005 → 3.00', () => {
    const st = agentStatement(commissionLines(input), 'agent-a', '2026-04', 'half_even');
    expect(st.totals.map((t) => t.commission.toFixed(2))).toEqual(['3.00', '4.41']);
  });

  it('all agents for a month; a refund in the month nets against its invoices', () => {
    const refund: Refund = {
      refundId: 'r9', invoiceId: 'inv:ansr-us:s1:3', amount: '44.10', refundedAt: new Date('2026-04-25T12:00:00Z'),
    };
    const statements = monthlyStatements({ ...input, refunds: [refund] }, '2026-04', 'half_up');
    expect(statements.map((st) => st.agentId)).toEqual(['agent-a']);
    const usd = statements[0]?.totals.find((t) => t.currency === 'USD');
    expect(usd?.unroundedCommission.toFixed(6)).toBe('2.205000'); // 2.205 + 2.205 − 2.205
    expect(usd?.commission.toFixed(2)).toBe('2.21');
    const jan = monthlyStatements(input, '2026-01', 'half_up');
    expect(jan.map((st) => [st.agentId, st.totals[0]?.commission.toFixed(2)])).toEqual([['agent-b', '2.00']]);
  });

  it('refuses a bad month and bad rules, listing every problem', () => {
    expect(() => agentStatement([], 'agent-a', '2026-13', 'half_up')).toThrow(CommissionError);
    try {
      commissionLines({
        ...base,
        rules: [
          { brand: 'ansr-us', initialPercent: '120', initialMonths: -1, recurringPercent: 'x' },
          { brand: 'ansr-us', initialPercent: '1', initialMonths: 1, recurringPercent: '1' },
        ],
        invoices: [],
        refunds: [],
      });
      expect.unreachable();
    } catch (error) {
      expect((error as CommissionError).problems).toHaveLength(4);
    }
  });
});
