import { DateTime } from 'luxon';
import { addMoney, compareMoney, subtractMoney, zero } from '../money/index.ts';
import type { Money } from '../money/index.ts';

export type DunningAction = 'reminder' | 'suspend' | 'cancel' | 'write_off';

export interface DunningStep {
  /** Brand-local calendar days after the due date (day 0). */
  readonly afterDays: number;
  readonly action: DunningAction;
}

export interface DunningPolicy {
  /** IANA zone in which the brand's days are counted. */
  readonly zone: string;
  readonly steps: readonly DunningStep[];
}

export interface AgeingInvoice {
  readonly invoiceId: string;
  /** Epoch ms; its brand-local date is day 0. */
  readonly dueAt: number;
  /** What is owed (after credit notes). */
  readonly total: Money;
}

/** Money received for an invoice (payments, and credit notes that lower what is owed). */
export interface AgeingPayment {
  readonly invoiceId: string;
  readonly amount: Money;
  /** Epoch ms: a payment counts from this instant on. */
  readonly at: number;
}

export type LifecycleEventType =
  | 'dunning.reminder'
  | 'account.suspended'
  | 'account.cancelled'
  | 'invoice.written_off'
  | 'account.reactivated';

const TYPE_OF: Record<DunningAction | 'reactivate', LifecycleEventType> = {
  reminder: 'dunning.reminder',
  suspend: 'account.suspended',
  cancel: 'account.cancelled',
  write_off: 'invoice.written_off',
  reactivate: 'account.reactivated',
};

/** One `account.lifecycle` event. Its id is a function of account, invoice and step only. */
export interface LifecycleEvent {
  readonly eventId: string;
  readonly type: LifecycleEventType;
  readonly step: DunningAction | 'reactivate';
  readonly accountId: string;
  readonly invoiceId: string;
  /** Days overdue on the run's brand-local date (for reactivation: of the invoice paid). */
  readonly daysOverdue: number;
  /** The run's brand-local date, YYYY-MM-DD. */
  readonly localDate: string;
  /** The run's instant (not part of the identity: a re-run after a crash has another). */
  readonly at: number;
  /** What was still owed on the invoice when the step fired (null: invoice not in the input). */
  readonly outstanding: Money | null;
}

/** What the ageing service stores per account: the events already emitted, in order. */
export interface AgeingState {
  readonly emitted: readonly Pick<LifecycleEvent, 'eventId' | 'step' | 'invoiceId'>[];
}

export interface AgeAccountInput {
  readonly policy: DunningPolicy;
  readonly accountId: string;
  readonly invoices: readonly AgeingInvoice[];
  readonly payments: readonly AgeingPayment[];
  readonly state: AgeingState;
  readonly now: number;
}

export interface InvoiceAge {
  readonly invoiceId: string;
  readonly daysOverdue: number;
  readonly outstanding: Money;
  readonly paidInFull: boolean;
}

export interface AgeAccountResult {
  /** New events, in the order to publish them. Empty when the run changes nothing. */
  readonly events: readonly LifecycleEvent[];
  readonly state: AgeingState;
  readonly invoices: readonly InvoiceAge[];
  readonly status: 'active' | 'suspended' | 'cancelled';
}

export class AgeingError extends Error {
  override readonly name = 'AgeingError';
  readonly code = 'invalid_dunning_policy';
  readonly retryable = false;
}

export function lifecycleEventId(accountId: string, invoiceId: string, step: DunningAction | 'reactivate'): string {
  return `ageing:${accountId}:${invoiceId}:${step}`;
}

const ORDER: Record<DunningAction, number> = { reminder: 0, suspend: 1, cancel: 2, write_off: 3 };

export function validateDunningPolicy(policy: DunningPolicy): string[] {
  const problems: string[] = [];
  if (!DateTime.local().setZone(policy.zone).isValid) problems.push(`zone "${policy.zone}" is not an IANA time zone`);
  const seen = new Set<string>();
  policy.steps.forEach((s, i) => {
    if (!Number.isSafeInteger(s.afterDays) || s.afterDays < 0) problems.push(`steps[${i}].afterDays = ${s.afterDays} must be a whole number ≥ 0`);
    if (!(s.action in ORDER)) problems.push(`steps[${i}].action "${s.action}" is not one of reminder, suspend, cancel, write_off`);
    if (seen.has(s.action)) problems.push(`steps[${i}]: "${s.action}" appears twice`);
    seen.add(s.action);
  });
  const sorted = [...policy.steps].sort((a, b) => ORDER[a.action] - ORDER[b.action]);
  for (let i = 1; i < sorted.length; i += 1) {
    if (sorted[i]!.afterDays < sorted[i - 1]!.afterDays) {
      problems.push(`${sorted[i]!.action} (day ${sorted[i]!.afterDays}) comes before ${sorted[i - 1]!.action} (day ${sorted[i - 1]!.afterDays})`);
    }
  }
  return problems;
}

function localDate(ms: number, zone: string): DateTime {
  // The brand-local calendar date, re-read in UTC so differences are whole days across DST.
  return DateTime.fromISO(DateTime.fromMillis(ms, { zone }).toISODate()!, { zone: 'utc' });
}

/**
 * One account's dunning run. Pure: the answer depends only on the input. Every step whose
 * day has come for an unpaid invoice is emitted once (its id is in `state` afterwards), in
 * step order, so a run after days of downtime catches up in one go. Paying an invoice in
 * full stops its steps; if it leaves the account with no invoice at or past the suspend
 * day, a suspended (not cancelled) account is reactivated.
 */
export function ageAccount(input: AgeAccountInput): AgeAccountResult {
  const { policy, accountId, now } = input;
  const problems = validateDunningPolicy(policy);
  if (problems.length > 0) throw new AgeingError(problems.join('; '));
  const steps = [...policy.steps].sort((a, b) => a.afterDays - b.afterDays || ORDER[a.action] - ORDER[b.action]);
  const suspendDay = steps.find((s) => s.action === 'suspend')?.afterDays;
  const today = localDate(now, policy.zone);
  const todayIso = today.toISODate()!;

  const emittedIds = new Set(input.state.emitted.map((e) => e.eventId));
  const emitted = [...input.state.emitted];
  const events: LifecycleEvent[] = [];
  const emit = (invoiceId: string, step: DunningAction | 'reactivate', daysOverdue: number, outstanding: Money | null) => {
    const eventId = lifecycleEventId(accountId, invoiceId, step);
    if (emittedIds.has(eventId)) return;
    emittedIds.add(eventId);
    const event: LifecycleEvent = { eventId, type: TYPE_OF[step], step, accountId, invoiceId, daysOverdue, localDate: todayIso, at: now, outstanding };
    events.push(event);
    emitted.push({ eventId, step, invoiceId });
  };

  const ages: InvoiceAge[] = [];
  const invoices = [...input.invoices].sort((a, b) => a.dueAt - b.dueAt || (a.invoiceId < b.invoiceId ? -1 : 1));
  for (const invoice of invoices) {
    let paid = zero(invoice.total.currency);
    for (const p of input.payments) if (p.invoiceId === invoice.invoiceId && p.at <= now) paid = addMoney(paid, p.amount);
    const outstanding = subtractMoney(invoice.total, paid);
    const paidInFull = compareMoney(outstanding, zero(invoice.total.currency)) <= 0;
    const daysOverdue = Math.round(today.diff(localDate(invoice.dueAt, policy.zone), 'days').days);
    ages.push({ invoiceId: invoice.invoiceId, daysOverdue, outstanding, paidInFull });
    if (paidInFull) continue;
    for (const step of steps) if (daysOverdue >= step.afterDays) emit(invoice.invoiceId, step.action, daysOverdue, outstanding);
  }

  // Status from everything emitted, in order: cancel is final; a suspension lasts until a reactivation.
  let status: AgeAccountResult['status'] = 'active';
  let suspendedBy: string | null = null;
  for (const e of emitted) {
    if (e.step === 'cancel') status = 'cancelled';
    else if (status !== 'cancelled' && e.step === 'suspend') {
      status = 'suspended';
      suspendedBy = e.invoiceId;
    } else if (status !== 'cancelled' && e.step === 'reactivate') {
      status = 'active';
      suspendedBy = null;
    }
  }

  if (status === 'suspended' && suspendedBy !== null) {
    const stillSuspending = ages.some((a) => !a.paidInFull && suspendDay !== undefined && a.daysOverdue >= suspendDay);
    if (!stillSuspending) {
      const age = ages.find((a) => a.invoiceId === suspendedBy);
      emit(suspendedBy, 'reactivate', age?.daysOverdue ?? 0, age?.outstanding ?? null);
      status = 'active';
    }
  }

  return { events, state: { emitted }, invoices: ages, status };
}
