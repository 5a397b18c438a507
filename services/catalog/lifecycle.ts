/**
 * The subscription lifecycle, configurable per brand. Pure: given a brand's policy, the
 * subscription's state and an action, what the state becomes and what the change does to
 * billing and to the numbers. The status an action leads to is fixed; a brand chooses
 * which statuses each action may start from (none disables it) and its effects.
 */
import type { LIFECYCLE_ACTIONS, SUBSCRIPTION_STATUSES } from './api-schemas.ts';
import type { Problem } from './validation.ts';

export type Status = (typeof SUBSCRIPTION_STATUSES)[number];
export type Action = (typeof LIFECYCLE_ACTIONS)[number];
export type NumbersEffect = 'keep' | 'release';
/** What the bill-run does: pause skips fees while suspended, stop bills the final period. */
export type BillingEffect = 'continue' | 'pause' | 'stop' | 'resume';

export interface TransitionPolicy {
  readonly from: readonly Status[];
  readonly to: Status;
  readonly numbers: NumbersEffect;
  readonly billing: BillingEffect;
  /** The action written on `account.lifecycle`. */
  readonly event: string;
}

export type LifecyclePolicy = Readonly<Record<Action, TransitionPolicy>>;

/** A brand's overrides, as stored on the brand (`lifecycle` of BrandInput). */
export type LifecycleConfig = Partial<Record<Action, { from?: Status[]; numbers?: NumbersEffect; billing?: BillingEffect }>>;

export const DEFAULT_LIFECYCLE: LifecyclePolicy = {
  activate: { from: ['trial'], to: 'active', numbers: 'keep', billing: 'continue', event: 'activated' },
  suspend: { from: ['trial', 'active'], to: 'suspended', numbers: 'keep', billing: 'pause', event: 'suspended' },
  cancel: { from: ['trial', 'active', 'suspended'], to: 'cancelled', numbers: 'release', billing: 'stop', event: 'cancelled' },
  reactivate: { from: ['suspended'], to: 'active', numbers: 'keep', billing: 'resume', event: 'reactivated' },
};

/** The brand's policy: the defaults with its overrides applied. */
export function lifecyclePolicy(config: LifecycleConfig | undefined | null): LifecyclePolicy {
  const out = { ...DEFAULT_LIFECYCLE } as Record<Action, TransitionPolicy>;
  for (const [action, override] of Object.entries(config ?? {}) as [Action, LifecycleConfig[Action]][]) {
    if (!override || !(action in out)) continue;
    out[action] = { ...out[action], ...override };
  }
  return out;
}

/** Problems with a brand's overrides that the schema cannot see. */
export function checkLifecycleConfig(config: LifecycleConfig | undefined | null, path = 'lifecycle'): Problem[] {
  const problems: Problem[] = [];
  for (const [action, override] of Object.entries(config ?? {}) as [Action, LifecycleConfig[Action]][]) {
    const policy = DEFAULT_LIFECYCLE[action];
    if (!policy || !override) continue;
    if (override.from?.includes(policy.to)) {
      problems.push({ path: `${path}.${action}.from`, message: `cannot include ${policy.to}: it is the status ${action} leads to` });
    }
    if (action === 'cancel' && override.numbers === 'keep') {
      // Kept numbers of a cancelled subscription would resolve calls to an account that is no longer billed.
      problems.push({ path: `${path}.cancel.numbers`, message: 'must be release: a cancelled subscription cannot keep numbers' });
    }
  }
  return problems;
}

export interface LifecycleState {
  readonly status: Status;
  readonly trialEndsAt: number | null;
  readonly cancelledAt: number | null;
  /** Since when fees are paused; absent or null when billed normally. */
  readonly billingPausedAt?: number | null;
}

export type TransitionOutcome =
  | { ok: true; next: LifecycleState; policy: TransitionPolicy }
  | { ok: false; code: 'transition_not_allowed'; message: string };

/** Applies an action at `at` (epoch ms), or says why the brand does not allow it now. */
export function applyTransition(policy: LifecyclePolicy, state: LifecycleState, action: Action, at: number): TransitionOutcome {
  const t = policy[action];
  if (t.from.length === 0) return { ok: false, code: 'transition_not_allowed', message: `this brand does not allow ${action}` };
  if (!t.from.includes(state.status)) {
    return { ok: false, code: 'transition_not_allowed', message: `${action} is allowed from ${t.from.join(', ')}; the subscription is ${state.status}` };
  }
  let { trialEndsAt, cancelledAt } = state;
  if (t.to === 'cancelled') cancelledAt = at;
  else if (state.status === 'cancelled') cancelledAt = null;
  // Converting a trial early ends it now: no free days after the customer started paying.
  if (state.status === 'trial' && t.to === 'active' && (trialEndsAt === null || trialEndsAt > at)) trialEndsAt = at;
  // What the brand says the action does to billing: pause withholds fees from here on (the
  // bill run bills no fee for a period starting while paused), resume lifts it.
  let billingPausedAt = state.billingPausedAt ?? null;
  if (t.billing === 'pause') billingPausedAt ??= at;
  else if (t.billing === 'resume' || t.billing === 'stop') billingPausedAt = null;
  return { ok: true, next: { status: t.to, trialEndsAt, cancelledAt, billingPausedAt }, policy: t };
}
