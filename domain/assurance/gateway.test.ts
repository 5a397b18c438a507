import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { gatewayVersusRecorded, type GatewayChargeFact, type RecordedChargeFact } from './gateway.ts';

const DAY_FROM = Date.UTC(2026, 2, 2, 5); // 2 March in New York (EST), 05:00Z to 05:00Z
const DAY_TO = Date.UTC(2026, 2, 3, 5);
const at = (h: number, m = 0) => DAY_FROM + h * 3_600_000 + m * 60_000;

const listed = (reference: string, createdAt: number, amount = '10.00', status: GatewayChargeFact['status'] = 'succeeded', invoiceId: string | null = `inv-${reference}`): GatewayChargeFact => ({ reference, invoiceId, status, currency: 'USD', amount: new Decimal(amount), createdAt });
const recorded = (reference: string | null, occurredAt: number, amount = '10.00', over: Partial<RecordedChargeFact> = {}): RecordedChargeFact => ({
  eventId: `pay-${reference}`, invoiceId: `inv-${reference}`, gateway: 'stripe', reference, status: 'SUCCEEDED', currency: 'USD', amount: new Decimal(amount), occurredAt, ...over,
});
const compare = (g: GatewayChargeFact[], r: RecordedChargeFact[]) => gatewayVersusRecorded({ brand: 'ansr-us', gateway: 'stripe', from: DAY_FROM, to: DAY_TO, listed: g, recorded: r }).map((d) => [d.check, d.ids]);

describe('gateway charges against the charges collect recorded', () => {
  const cases: { name: string; listed: GatewayChargeFact[]; recorded: RecordedChargeFact[]; found: [string, string[]][] }[] = [
    { name: 'both sides agree', listed: [listed('pi_1', at(1)), listed('pi_2', at(20))], recorded: [recorded('pi_1', at(1)), recorded('pi_2', at(20, 1))], found: [] },
    {
      name: 'a charge at the gateway nobody recorded (taken by hand in its dashboard, or an event lost)',
      listed: [listed('pi_1', at(1)), listed('pi_x', at(3), '99.00', 'succeeded', null)], recorded: [recorded('pi_1', at(1))],
      found: [['gateway_charge_unrecorded', ['pi_x']]],
    },
    {
      name: 'a recorded charge the gateway never took, and one it declined',
      listed: [listed('pi_1', at(1)), listed('pi_2', at(2), '10.00', 'failed')], recorded: [recorded('pi_1', at(1)), recorded('pi_2', at(2)), recorded('pi_ghost', at(4))],
      found: [['charge_unknown_to_gateway', ['inv-pi_2', 'inv-pi_ghost', 'pay-pi_2', 'pay-pi_ghost']]],
    },
    {
      name: 'the gateway took 10.00, collect recorded 1.00',
      listed: [listed('pi_1', at(1))], recorded: [recorded('pi_1', at(1), '1.00')],
      found: [['gateway_charge_amount', ['pay-pi_1', 'pi_1']]],
    },
    {
      // Recorded at 23:59:59 local, the gateway's clock says 00:00:01 the next day: listed from the wider range, found.
      name: 'midnight between the two clocks',
      listed: [listed('pi_late', DAY_TO + 1000)], recorded: [recorded('pi_late', DAY_TO - 1000)], found: [],
    },
    {
      name: 'outside the range on both sides, failed and pending charges, another gateway\'s and manual payments: none judged',
      listed: [listed('pi_old', DAY_FROM - 1), listed('pi_f', at(2), '5.00', 'failed'), listed('pi_p', at(3), '5.00', 'pending')],
      recorded: [recorded('pi_old2', DAY_FROM - 1), recorded('PAYID-1', at(5), '10.00', { gateway: 'paypal' }), recorded(null, at(6), '10.00', { gateway: 'manual' }), recorded('pi_f', at(2), '5.00', { status: 'FAILED' })],
      found: [],
    },
  ];
  for (const c of cases) it(c.name, () => expect(compare(c.listed, c.recorded)).toEqual(c.found));

  it('says what it found, with the references and amounts', () => {
    const [d] = gatewayVersusRecorded({ brand: 'ansr-us', gateway: 'stripe', from: DAY_FROM, to: DAY_TO, listed: [listed('pi_x', at(3), '99.00')], recorded: [] });
    expect(d).toEqual({
      check: 'gateway_charge_unrecorded', scope: 'ansr-us stripe 2026-03-02T05:00:00.000Z to 2026-03-03T05:00:00.000Z', expected: 'every charge the gateway took recorded by collect',
      found: '1 of 1 not recorded: pi_x 99.00 USD for inv-pi_x', ids: ['inv-pi_x', 'pi_x'],
    });
  });
});
