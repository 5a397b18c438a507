import type { Decimal } from 'decimal.js';
import type { Discrepancy } from './checks.ts';

/** A charge as the brand's gateway lists it (gateways/ listCharges). */
export interface GatewayChargeFact {
  readonly reference: string;
  readonly invoiceId: string | null;
  readonly status: 'succeeded' | 'pending' | 'failed';
  readonly currency: string;
  readonly amount: Decimal;
  readonly createdAt: number;
}

/** A charge collect recorded: a payment event of kind `charge` with the gateway's reference. */
export interface RecordedChargeFact {
  readonly eventId: string;
  readonly invoiceId: string;
  readonly gateway: string;
  readonly reference: string | null;
  readonly status: string;
  readonly currency: string;
  readonly amount: Decimal;
  readonly occurredAt: number;
}

export interface GatewayComparison {
  readonly brand: string;
  /** The gateway's registry id: only charges collect recorded through it are compared. */
  readonly gateway: string;
  /** The days judged, [from, to) epoch ms. */
  readonly from: number;
  readonly to: number;
  /**
   * What the gateway listed for a wider range than [from, to): a charge recorded just before
   * midnight may carry the gateway's time of just after, and must still be found.
   */
  readonly listed: readonly GatewayChargeFact[];
  /** Every charge event the brand's payments topic holds (any day: a late event still counts). */
  readonly recorded: readonly RecordedChargeFact[];
}

const SUCCEEDED = 'SUCCEEDED';

/**
 * Every charge the gateway took in the range is recorded by collect, with the same amount, and
 * every successful charge collect recorded in the range is one the gateway took. Ids are the
 * gateway's references (and the invoices they name), so ops can look them up on both sides.
 */
export function gatewayVersusRecorded(c: GatewayComparison): Discrepancy[] {
  const inRange = (ms: number) => ms >= c.from && ms < c.to;
  const recordedByReference = new Map<string, RecordedChargeFact>();
  for (const r of c.recorded) if (r.gateway === c.gateway && r.status === SUCCEEDED && r.reference !== null) recordedByReference.set(r.reference, r);
  const listedByReference = new Map(c.listed.map((g) => [g.reference, g]));
  const scope = `${c.brand} ${c.gateway} ${new Date(c.from).toISOString()} to ${new Date(c.to).toISOString()}`;
  const out: Discrepancy[] = [];

  const taken = c.listed.filter((g) => g.status === 'succeeded' && inRange(g.createdAt));
  const unrecorded = taken.filter((g) => !recordedByReference.has(g.reference));
  if (unrecorded.length > 0) {
    out.push({
      check: 'gateway_charge_unrecorded', scope, expected: 'every charge the gateway took recorded by collect',
      found: `${unrecorded.length} of ${taken.length} not recorded: ${unrecorded.slice(0, 5).map((g) => `${g.reference} ${g.amount.toFixed(2)} ${g.currency}${g.invoiceId ? ` for ${g.invoiceId}` : ''}`).join(', ')}`,
      ids: unrecorded.flatMap((g) => [g.reference, ...(g.invoiceId ? [g.invoiceId] : [])]).sort(),
    });
  }
  const differ = taken.filter((g) => {
    const r = recordedByReference.get(g.reference);
    return r !== undefined && (r.currency !== g.currency || !r.amount.eq(g.amount));
  });
  if (differ.length > 0) {
    out.push({
      check: 'gateway_charge_amount', scope, expected: 'the amount the gateway took is the amount collect recorded',
      found: differ.slice(0, 5).map((g) => { const r = recordedByReference.get(g.reference)!; return `${g.reference}: gateway ${g.amount.toFixed(2)} ${g.currency}, recorded ${r.amount.toFixed(2)} ${r.currency}`; }).join('; '),
      ids: differ.flatMap((g) => [g.reference, recordedByReference.get(g.reference)!.eventId]).sort(),
    });
  }
  const ours = [...recordedByReference.values()].filter((r) => inRange(r.occurredAt));
  const unknown = ours.filter((r) => listedByReference.get(r.reference!)?.status !== 'succeeded');
  if (unknown.length > 0) {
    out.push({
      check: 'charge_unknown_to_gateway', scope, expected: 'every successful charge collect recorded taken by the gateway',
      found: `${unknown.length} of ${ours.length} not taken: ${unknown.slice(0, 5).map((r) => `${r.reference} (${listedByReference.get(r.reference!)?.status ?? 'not listed'})`).join(', ')}`,
      ids: unknown.flatMap((r) => [r.eventId, r.invoiceId]).sort(),
    });
  }
  return out;
}
