import { describe, expect, it } from 'vitest';
import { applyTransition, checkLifecycleConfig, DEFAULT_LIFECYCLE, lifecyclePolicy, type Action, type Status } from './lifecycle.ts';

const at = Date.parse('2026-05-10T12:00:00Z');
const state = (status: Status, trialEndsAt: number | null = null, cancelledAt: number | null = null) => ({ status, trialEndsAt, cancelledAt });

describe('the default lifecycle', () => {
  const allowed: [Status, Action, Status | null][] = [
    ['trial', 'activate', 'active'],
    ['trial', 'suspend', 'suspended'],
    ['trial', 'cancel', 'cancelled'],
    ['trial', 'reactivate', null],
    ['active', 'activate', null],
    ['active', 'suspend', 'suspended'],
    ['active', 'cancel', 'cancelled'],
    ['active', 'reactivate', null],
    ['suspended', 'activate', null],
    ['suspended', 'suspend', null],
    ['suspended', 'cancel', 'cancelled'],
    ['suspended', 'reactivate', 'active'],
    ['cancelled', 'activate', null],
    ['cancelled', 'suspend', null],
    ['cancelled', 'cancel', null],
    ['cancelled', 'reactivate', null],
  ];
  it.each(allowed)('%s + %s → %s', (from, action, to) => {
    const outcome = applyTransition(DEFAULT_LIFECYCLE, state(from), action, at);
    if (to === null) expect(outcome).toMatchObject({ ok: false, code: 'transition_not_allowed' });
    else expect(outcome).toMatchObject({ ok: true, next: { status: to } });
  });

  it('cancels releasing the numbers and stopping billing; suspends pausing it and keeping them', () => {
    expect(applyTransition(DEFAULT_LIFECYCLE, state('active'), 'cancel', at)).toMatchObject({ ok: true, next: { cancelledAt: at }, policy: { numbers: 'release', billing: 'stop', event: 'cancelled' } });
    expect(applyTransition(DEFAULT_LIFECYCLE, state('active'), 'suspend', at)).toMatchObject({ ok: true, policy: { numbers: 'keep', billing: 'pause', event: 'suspended' } });
  });

  it('pauses fees from the suspension and lifts the pause on reactivation, unless the brand keeps billing', () => {
    const suspended = applyTransition(DEFAULT_LIFECYCLE, state('active'), 'suspend', at);
    expect(suspended).toMatchObject({ ok: true, next: { status: 'suspended', billingPausedAt: at } });
    const later = at + 86_400_000;
    const back = applyTransition(DEFAULT_LIFECYCLE, { ...state('suspended'), billingPausedAt: at }, 'reactivate', later);
    expect(back).toMatchObject({ ok: true, next: { status: 'active', billingPausedAt: null } });
    const keepsBilling = lifecyclePolicy({ suspend: { billing: 'continue' } });
    expect(applyTransition(keepsBilling, state('active'), 'suspend', at)).toMatchObject({ ok: true, next: { billingPausedAt: null } });
  });

  it('ends a trial early when it is activated, not when it is cancelled', () => {
    const trialEnd = Date.parse('2026-05-20T12:00:00Z');
    expect(applyTransition(DEFAULT_LIFECYCLE, state('trial', trialEnd), 'activate', at)).toMatchObject({ ok: true, next: { status: 'active', trialEndsAt: at } });
    expect(applyTransition(DEFAULT_LIFECYCLE, state('trial', trialEnd), 'cancel', at)).toMatchObject({ ok: true, next: { trialEndsAt: trialEnd } });
  });
});

describe("a brand's lifecycle", () => {
  const policy = lifecyclePolicy({ suspend: { from: [] }, reactivate: { from: ['suspended', 'cancelled'] } });

  it('can disable an action', () => {
    expect(applyTransition(policy, state('active'), 'suspend', at)).toEqual({ ok: false, code: 'transition_not_allowed', message: 'this brand does not allow suspend' });
  });

  it('can allow reactivating a cancelled subscription, which clears the cancellation', () => {
    const cancelled = state('cancelled', null, Date.parse('2026-05-01T00:00:00Z'));
    expect(applyTransition(policy, cancelled, 'reactivate', at)).toMatchObject({ ok: true, next: { status: 'active', cancelledAt: null }, policy: { event: 'reactivated' } });
  });

  it('keeps the defaults of the actions it does not override', () => {
    expect(policy.cancel).toEqual(DEFAULT_LIFECYCLE.cancel);
  });

  it('refuses overrides that make no sense', () => {
    expect(checkLifecycleConfig({ reactivate: { from: ['active'] }, cancel: { numbers: 'keep' } })).toEqual([
      { path: 'lifecycle.reactivate.from', message: 'cannot include active: it is the status reactivate leads to' },
      { path: 'lifecycle.cancel.numbers', message: 'must be release: a cancelled subscription cannot keep numbers' },
    ]);
    expect(checkLifecycleConfig({ suspend: { from: [], billing: 'pause' } })).toEqual([]);
  });
});
