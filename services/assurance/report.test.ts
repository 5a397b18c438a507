import { describe, expect, it } from 'vitest';
import { pageCount, pdfTextOf } from '../../documents/test-helpers.ts';
import { reportHtml, reportPdf } from './report.ts';
import type { ConsistencyReport } from './run.ts';

const report = (discrepancies: ConsistencyReport['discrepancies'], notes: string[] = []): ConsistencyReport => ({
  runId: 'consistency-1', at: '2026-04-02T07:00:00.000Z', scope: { sources: [], brands: ['ansr-us'], from: '2026-04-01', to: '2026-04-01' },
  checked: { cdrs: 0, outcomes: 0, controlTotals: 3, charges: 5, rerated: 5, invoices: 1, payments: 2, gatewayCharges: 2 }, notes,
  cash: [{ brand: 'ansr-us', currency: 'USD', invoiced: '10.36', paid: '10.36', credited: '0.00', toCreditBalance: '0.00', open: '0.00' }],
  discrepancies, verdict: discrepancies.length === 0 ? 'clean: 0 CDRs, 3 control totals, 5 charges, 1 invoices, 2 payment events agree' : `${discrepancies.length} discrepancies in 0 CDRs, 3 control totals, 5 charges, 1 invoices, 2 payment events`,
});
const finding = { check: 'gateway_charge_unrecorded', scope: 'ansr-us stripe 2026-04-01', expected: 'every charge the gateway took recorded by collect', found: '1 of 3 not recorded: pi_9 10.36 USD for inv-2', ids: ['inv-2', 'pi_9'] };

describe('the consistency report for people', () => {
  it('as PDF: the verdict, notes, each finding with its ids, the cash line; the same bytes for the same report', async () => {
    const r = report([finding], ['ansr-uk: gateway charges not compared (paypal cannot list its charges)']);
    const pdf = await reportPdf(r, { compress: false });
    const text = pdfTextOf(pdf).join('\n');
    for (const line of [
      'Consistency run ansr-us 2026-04-01 to 2026-04-01', '1 discrepancies in 0 CDRs, 3 control totals, 5 charges, 1 invoices, 2 payment events',
      'Note: ansr-uk: gateway charges not compared (paypal cannot list its charges)', 'gateway_charge_unrecorded: ansr-us stripe 2026-04-01', 'Ids: inv-2, pi_9',
      'ansr-us USD: invoiced 10.36, paid 10.36, credited 0.00, to credit balance 0.00, open 0.00',
    ]) expect(text).toContain(line);
    expect(pageCount(pdf)).toBe(1);
    expect(Buffer.compare(await reportPdf(r), await reportPdf(r))).toBe(0);
  });

  it('as HTML: a clean day is its verdict line and no table', () => {
    const html = reportHtml(report([]));
    expect(html).toContain('<strong>clean: 0 CDRs, 3 control totals, 5 charges, 1 invoices, 2 payment events agree</strong>');
    expect(html).not.toContain('<th>check</th>');
    expect(reportHtml(report([finding]))).toContain('<td>gateway_charge_unrecorded</td>');
  });
});
