import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { money } from '../money/index.ts';
import { CollectionError, applyPaymentEvent, chargeInFlight, chargeKey, classifyCharge, methodKey, nextCollectionAttempt, openPaymentState, refundKey } from './index.ts';
import type { AttemptRecord, CollectionInput, PaymentEvent } from './index.ts';

const policy = { zone: 'America/New_York', retryDays: [1, 3, 5, 7] };
// 09:00 EST on Friday 2026-03-06: day 0. New York springs forward on Sunday 2026-03-08.
const dueAt = Date.parse('2026-03-06T14:00:00Z');
const at = (iso: string) => Date.parse(iso);

function decide(now: string, attempts: AttemptRecord[] = [], paid = false) {
  const input: CollectionInput = { invoiceId: 'INV-1', dueAt, paid, attempts, policy, now: at(now) };
  return nextCollectionAttempt(input);
}
const soft = (attempt: number, when: string): AttemptRecord => ({ attempt, at: at(when), status: 'soft_decline' });

describe('idempotency keys', () => {
  it('are deterministic per invoice and attempt and differ between attempts', () => {
    expect(chargeKey('INV-1', 1)).toBe('rl.chg.INV-1.1');
    expect(chargeKey('INV-1', 1)).toBe(chargeKey('INV-1', 1));
    expect(chargeKey('INV-1', 2)).toBe('rl.chg.INV-1.2');
    expect(refundKey('INV-1', 1)).toBe('rl.ref.INV-1.1');
    expect(methodKey('acct_7', 1)).toBe('rl.pm.acct_7.1');
  });
  it('hash ids with characters gateways may refuse, keeping the attempt readable', () => {
    const hash = createHash('sha256').update('inv/2026 01.x', 'utf8').digest('hex').slice(0, 40);
    expect(chargeKey('inv/2026 01.x', 2)).toBe(`rl.chg.h${hash}.2`);
    expect(chargeKey('inv/2026 01.x', 2).length).toBeLessThanOrEqual(100);
  });
  it('refuse an attempt below 1 and an empty id', () => {
    expect(() => chargeKey('INV-1', 0)).toThrow(/attempt/);
    expect(() => chargeKey('INV-1', 1.5)).toThrow(/attempt/);
    expect(() => chargeKey('', 1)).toThrow(/invoice id/);
  });
});

describe('classifyCharge', () => {
  it.each([
    ['succeeded', undefined, 'paid'],
    ['pending', undefined, 'await_webhook'],
    ['soft_decline', undefined, 'retry_new_attempt'],
    ['gateway_error', true, 'retry_new_attempt'],
    ['gateway_error', false, 'final_failure'],
    ['network_error', undefined, 'settle_same_attempt'],
    ['indeterminate', undefined, 'settle_same_attempt'],
    ['hard_decline', undefined, 'final_failure'],
  ] as const)('%s (retryable %s) → %s', (status, retryable, kind) => {
    expect(classifyCharge({ status, retryable }).kind).toBe(kind);
  });
  it('says why a failure is final', () => {
    expect(classifyCharge({ status: 'hard_decline' })).toEqual({ kind: 'final_failure', reason: 'hard_declined' });
    expect(classifyCharge({ status: 'gateway_error', retryable: false })).toEqual({ kind: 'final_failure', reason: 'needs_ops' });
  });
});

describe('nextCollectionAttempt', () => {
  it('waits for the brand-local due date, then charges attempt 1', () => {
    // 15:00 EST on the 5th: the day before.
    expect(decide('2026-03-05T20:00:00Z')).toEqual({ action: 'wait', until: '2026-03-06', nextAttempt: 1 });
    expect(decide('2026-03-06T15:00:00Z')).toEqual({ action: 'charge', attempt: 1, idempotencyKey: 'rl.chg.INV-1.1', scheduledDay: 0 });
  });

  it('never charges a paid invoice, whatever the attempts say', () => {
    expect(decide('2026-03-06T15:00:00Z', [], true)).toEqual({ action: 'stop', reason: 'already_paid' });
    expect(decide('2026-03-20T15:00:00Z', [soft(1, '2026-03-06T15:00:00Z')], true)).toEqual({ action: 'stop', reason: 'already_paid' });
  });

  it('retries a soft decline on day 1 counted in the brand zone, not UTC', () => {
    const attempts = [soft(1, '2026-03-06T15:00:00Z')];
    // 04:30Z on the 7th is still 23:30 on the 6th in New York.
    expect(decide('2026-03-07T04:30:00Z', attempts)).toEqual({ action: 'wait', until: '2026-03-07', nextAttempt: 2 });
    expect(decide('2026-03-07T05:30:00Z', attempts)).toEqual({ action: 'charge', attempt: 2, idempotencyKey: 'rl.chg.INV-1.2', scheduledDay: 1 });
  });

  it('counts whole calendar days across the spring-forward day', () => {
    const attempts = [soft(1, '2026-03-06T15:00:00Z'), soft(2, '2026-03-07T15:00:00Z')];
    // Sunday 08:00 EDT = day 2: next slot is day 3, Monday the 9th.
    expect(decide('2026-03-08T12:00:00Z', attempts)).toEqual({ action: 'wait', until: '2026-03-09', nextAttempt: 3 });
    // 00:30 EDT Monday = 04:30Z.
    expect(decide('2026-03-09T04:30:00Z', attempts)).toEqual({ action: 'charge', attempt: 3, idempotencyKey: 'rl.chg.INV-1.3', scheduledDay: 3 });
  });

  it('catches up after missed runs with one attempt, not a burst', () => {
    // Down from day 1 to day 5; on day 6 the first slot after day 0 (day 1) is overdue.
    const first = [soft(1, '2026-03-06T15:00:00Z')];
    expect(decide('2026-03-12T15:00:00Z', first)).toEqual({ action: 'charge', attempt: 2, idempotencyKey: 'rl.chg.INV-1.2', scheduledDay: 1 });
    // That attempt made on day 6: the next slot after day 6 is day 7.
    const second = [...first, soft(2, '2026-03-12T15:00:00Z')];
    expect(decide('2026-03-12T20:00:00Z', second)).toEqual({ action: 'wait', until: '2026-03-13', nextAttempt: 3 });
  });

  it('stops after the last scheduled day', () => {
    const attempts = [
      soft(1, '2026-03-06T15:00:00Z'),
      soft(2, '2026-03-07T15:00:00Z'),
      soft(3, '2026-03-09T15:00:00Z'),
      soft(4, '2026-03-11T15:00:00Z'),
      soft(5, '2026-03-13T15:00:00Z'),
    ];
    expect(decide('2026-03-26T15:00:00Z', attempts)).toEqual({ action: 'stop', reason: 'retries_exhausted' });
  });

  it('stops on a hard decline and on a non-retryable gateway error', () => {
    expect(decide('2026-03-20T15:00:00Z', [{ attempt: 1, at: at('2026-03-06T15:00:00Z'), status: 'hard_decline' }])).toEqual({
      action: 'stop',
      reason: 'hard_declined',
    });
    expect(
      decide('2026-03-20T15:00:00Z', [{ attempt: 1, at: at('2026-03-06T15:00:00Z'), status: 'gateway_error', retryable: false }]),
    ).toEqual({ action: 'stop', reason: 'needs_ops' });
    expect(
      decide('2026-03-07T15:00:00Z', [{ attempt: 1, at: at('2026-03-06T15:00:00Z'), status: 'gateway_error', retryable: true }]),
    ).toEqual({ action: 'charge', attempt: 2, idempotencyKey: 'rl.chg.INV-1.2', scheduledDay: 1 });
  });

  it('settles an unknown outcome with the same attempt and key, never a new one', () => {
    const first = soft(1, '2026-03-06T15:00:00Z');
    for (const status of ['indeterminate', 'network_error', null] as const) {
      expect(decide('2026-03-07T15:00:00Z', [first, { attempt: 2, at: at('2026-03-07T15:00:00Z'), status }])).toEqual({
        action: 'settle',
        attempt: 2,
        idempotencyKey: 'rl.chg.INV-1.2',
      });
    }
  });

  it('waits for the webhook of a pending charge that day, asks the gateway the next day', () => {
    const pending: AttemptRecord = { attempt: 1, at: at('2026-03-06T15:00:00Z'), status: 'pending' };
    expect(decide('2026-03-06T22:00:00Z', [pending])).toEqual({ action: 'await_webhook', attempt: 1 });
    expect(decide('2026-03-07T15:00:00Z', [pending])).toEqual({ action: 'settle', attempt: 1, idempotencyKey: 'rl.chg.INV-1.1' });
  });

  it('takes the highest attempt as the last, whatever the order given', () => {
    const attempts = [soft(2, '2026-03-07T15:00:00Z'), soft(1, '2026-03-06T15:00:00Z')];
    expect(decide('2026-03-09T15:00:00Z', attempts)).toMatchObject({ action: 'charge', attempt: 3 });
  });

  it('refuses a bad schedule, listing every problem', () => {
    const bad = { invoiceId: 'INV-1', dueAt, paid: false, attempts: [], now: dueAt, policy: { zone: 'UTC', retryDays: [0, 3, 1] } };
    expect(() => nextCollectionAttempt(bad)).toThrow(CollectionError);
    expect(() => nextCollectionAttempt(bad)).toThrow(/retryDays\[0\] = 0.*must increase \(3 then 1\)/);
  });
});

describe('chargeInFlight', () => {
  const open = openPaymentState('INV-1', money('107.25', 'USD'));
  const event = (type: PaymentEvent['type'], chargeReference: string, amount = '107.25'): PaymentEvent => ({ eventId: `e-${type}-${chargeReference}`, type, invoiceId: 'INV-1', chargeReference, amount: money(amount, 'USD'), occurredAt: dueAt });
  const attempt = (n: number, status: AttemptRecord['status'], reference: string | null = null): AttemptRecord => ({ attempt: n, at: dueAt, status, reference });

  it('is the last attempt while its answer is missing or unknown', () => {
    expect(chargeInFlight(open, [attempt(1, null)])).toMatchObject({ attempt: 1 });
    expect(chargeInFlight(open, [attempt(1, 'indeterminate')])).toMatchObject({ attempt: 1 });
    expect(chargeInFlight(open, [attempt(1, 'network_error')])).toMatchObject({ attempt: 1 });
    // An earlier attempt's final answer does not hide a later one in flight, whatever the order given.
    expect(chargeInFlight(open, [attempt(2, null), attempt(1, 'soft_decline')])).toMatchObject({ attempt: 2 });
  });

  it('is none once the gateway gave a final answer, or before any attempt', () => {
    expect(chargeInFlight(open, [])).toBeUndefined();
    for (const status of ['soft_decline', 'hard_decline', 'gateway_error'] as const) expect(chargeInFlight(open, [attempt(1, status)])).toBeUndefined();
    expect(chargeInFlight(open, [attempt(1, null), attempt(2, 'soft_decline')])).toBeUndefined();
  });

  it('is a pending charge until a webhook ends it', () => {
    const pending = applyPaymentEvent(open, event('charge.pending', 'pi_1')).state;
    expect(chargeInFlight(pending, [attempt(1, 'pending', 'pi_1')])).toMatchObject({ attempt: 1 });
    const failed = applyPaymentEvent(pending, event('charge.failed', 'pi_1')).state;
    expect(chargeInFlight(failed, [attempt(1, 'pending', 'pi_1')])).toBeUndefined();
  });

  it('is none on a settled invoice, even with an attempt still unanswered (its webhook came first)', () => {
    const paid = applyPaymentEvent(open, event('charge.succeeded', 'pi_1')).state;
    expect(chargeInFlight(paid, [attempt(1, null)])).toBeUndefined();
    // Partly paid by cheque, the rest in flight by card: still in flight.
    const part = applyPaymentEvent(open, event('charge.succeeded', 'man_1', '50.00')).state;
    expect(chargeInFlight(part, [attempt(1, null)])).toMatchObject({ attempt: 1 });
  });
});
