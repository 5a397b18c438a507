import { describe, expect, it } from 'vitest';
import { money } from '../money/index.ts';
import { applyPaymentEvent, applyPaymentEvents, isSettled, openPaymentState, outstanding, planCreditNote, planRefund, reduceAmountDue } from './index.ts';
import type { PaymentEvent } from './index.ts';

const usd = (a: string) => money(a, 'USD');
const ev = (eventId: string, type: PaymentEvent['type'], amount: string, extra: Partial<PaymentEvent> = {}): PaymentEvent => ({
  eventId,
  type,
  invoiceId: 'INV-1',
  chargeReference: 'pi_1',
  amount: usd(amount),
  occurredAt: 0,
  ...extra,
});

describe('applyPaymentEvent', () => {
  const open = openPaymentState('INV-1', usd('100.00'));

  it('moves open → pending → paid', () => {
    const a = applyPaymentEvent(open, ev('e1', 'charge.pending', '100.00'));
    expect(a.changed).toBe(true);
    expect(a.state.status).toBe('pending');
    const b = applyPaymentEvent(a.state, ev('e2', 'charge.succeeded', '100.00'));
    expect(b.changed).toBe(true);
    expect(b.state.status).toBe('paid');
    expect(b.state.paid.amount.toFixed(2)).toBe('100.00');
    expect(isSettled(b.state)).toBe(true);
    expect(isSettled(a.state)).toBe(false);
  });

  it('a succeeded event delivered 5 times, with an older pending one after it, changes the state once', () => {
    const succeeded = ev('evt_ok', 'charge.succeeded', '100.00');
    const pending = ev('evt_pending', 'charge.pending', '100.00');
    const { state, changes } = applyPaymentEvents(open, [succeeded, succeeded, pending, succeeded, succeeded, succeeded]);
    expect(changes).toBe(1);
    expect(state.status).toBe('paid');
    expect(state.charges['pi_1']?.status).toBe('succeeded');
  });

  it('never goes back from succeeded to failed, and says why', () => {
    const paid = applyPaymentEvent(open, ev('e2', 'charge.succeeded', '100.00')).state;
    const late = applyPaymentEvent(paid, ev('e1', 'charge.failed', '100.00', { code: 'card_declined' }));
    expect(late).toMatchObject({ changed: false, ignored: 'stale_transition' });
    expect(late.state.status).toBe('paid');
    expect(applyPaymentEvent(paid, ev('e2', 'charge.succeeded', '100.00'))).toMatchObject({ changed: false, ignored: 'duplicate_event' });
  });

  it('lets a failed charge succeed later (the gateway retried it)', () => {
    const failed = applyPaymentEvent(open, ev('e1', 'charge.failed', '100.00'));
    expect(failed.state.status).toBe('open');
    const ok = applyPaymentEvent(failed.state, ev('e2', 'charge.succeeded', '100.00'));
    expect(ok.changed).toBe(true);
    expect(ok.state.status).toBe('paid');
  });

  it('ignores another invoice and another currency', () => {
    expect(applyPaymentEvent(open, ev('x', 'charge.succeeded', '100.00', { invoiceId: 'INV-2' }))).toMatchObject({ changed: false, ignored: 'other_invoice' });
    expect(applyPaymentEvent(open, ev('y', 'charge.succeeded', '100.00', { amount: money('100.00', 'EUR') }))).toMatchObject({
      changed: false,
      ignored: 'currency_mismatch',
    });
  });

  it('adds partial payments and refunds: 60 + 40 paid, 25 refunded, then 75 more', () => {
    const { state, changes } = applyPaymentEvents(open, [
      ev('c1', 'charge.succeeded', '60.00', { chargeReference: 'pi_a' }),
      ev('c2', 'charge.succeeded', '40.00', { chargeReference: 'pi_b' }),
      ev('r1', 'refund.succeeded', '25.00', { chargeReference: 'pi_a', refundReference: 're_1' }),
      ev('r1', 'refund.succeeded', '25.00', { chargeReference: 'pi_a', refundReference: 're_1' }),
    ]);
    expect(changes).toBe(3);
    expect(state.status).toBe('partially_refunded');
    expect(state.paid.amount.toFixed(2)).toBe('100.00');
    expect(state.refunded.amount.toFixed(2)).toBe('25.00');
    const all = applyPaymentEvent(state, ev('r2', 'refund.succeeded', '75.00', { chargeReference: 'pi_b', refundReference: 're_2' }));
    expect(all.state.status).toBe('refunded');
    const partial = applyPaymentEvent(open, ev('c3', 'charge.succeeded', '60.00', { chargeReference: 'pi_c' }));
    expect(partial.state.status).toBe('partially_paid');
  });
});

describe('planRefund', () => {
  const basis = { paid: usd('100.00'), refunded: usd('30.00') };
  it('allows up to paid minus earlier refunds', () => {
    expect(planRefund(basis, usd('70.00'))).toMatchObject({ ok: true });
    const r = planRefund(basis, usd('20.00'));
    expect(r.ok && r.value.remainingRefundable.amount.toFixed(2)).toBe('50.00');
  });
  it('refuses one cent more', () => {
    const r = planRefund(basis, usd('70.01'));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problems[0]).toMatch(/exceeds the refundable 70 USD/);
  });
  it('lists every problem of a bad amount', () => {
    const r = planRefund(basis, money('0', 'EUR'));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problems).toHaveLength(2);
    const unrounded = planRefund(basis, usd('10.005'));
    expect(!unrounded.ok && unrounded.problems[0]).toMatch(/more than 2 decimals/);
  });
});

describe('planCreditNote', () => {
  const base = { invoiceTotal: usd('100.00'), credited: usd('0'), paid: usd('0'), refunded: usd('0') };
  it('lowers the balance of an unpaid invoice; nothing refunded', () => {
    const r = planCreditNote(base, usd('40.00'));
    expect(r.ok && [r.value.reducesBalance.amount.toFixed(2), r.value.refund.amount.toFixed(2)]).toEqual(['40.00', '0.00']);
  });
  it('refunds all of it on a paid invoice', () => {
    const r = planCreditNote({ ...base, paid: usd('100.00') }, usd('40.00'));
    expect(r.ok && [r.value.reducesBalance.amount.toFixed(2), r.value.refund.amount.toFixed(2)]).toEqual(['0.00', '40.00']);
  });
  it('splits on a partly paid invoice: 60 paid, credit 50 → 40 off the balance, 10 refunded', () => {
    const r = planCreditNote({ ...base, paid: usd('60.00') }, usd('50.00'));
    expect(r.ok && [r.value.reducesBalance.amount.toFixed(2), r.value.refund.amount.toFixed(2)]).toEqual(['40.00', '10.00']);
  });
  it('refuses more than the total minus earlier credit notes', () => {
    expect(planCreditNote(base, usd('100.01')).ok).toBe(false);
    expect(planCreditNote({ ...base, credited: usd('30.00') }, usd('70.00')).ok).toBe(true);
    const r = planCreditNote({ ...base, credited: usd('30.00') }, usd('71.00'));
    expect(!r.ok && r.problems[0]).toMatch(/exceeds the creditable 70 USD/);
  });
});

describe('reduceAmountDue and outstanding', () => {
  const usd = (a: string) => money(a, 'USD');
  const paid60: PaymentEvent = { eventId: 'e1', type: 'charge.succeeded', invoiceId: 'INV-C', chargeReference: 'pi_1', amount: usd('60.00'), occurredAt: 1 };

  it('a credit note covering the rest of a partly paid invoice makes it paid: 100 due, 60 paid, 40 credited', () => {
    const partly = applyPaymentEvent(openPaymentState('INV-C', usd('100.00')), paid60).state;
    expect(partly.status).toBe('partially_paid');
    expect(outstanding(partly).amount.toFixed(2)).toBe('40.00');
    const credited = reduceAmountDue(partly, usd('40.00'));
    expect(credited.status).toBe('paid');
    expect(isSettled(credited)).toBe(true);
    expect(outstanding(credited).amount.toFixed(2)).toBe('0.00');
  });

  it('never lowers below zero, and refuses another currency', () => {
    const open = openPaymentState('INV-C', usd('10.00'));
    expect(reduceAmountDue(open, usd('25.00')).amountDue.amount.toFixed(2)).toBe('0.00');
    expect(() => reduceAmountDue(open, money('5.00', 'EUR'))).toThrow(/EUR/);
  });
});
