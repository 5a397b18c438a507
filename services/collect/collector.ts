import type { Knex } from 'knex';
import { compareMoney, money, zero } from '../../domain/money/index.ts';
import type { Money } from '../../domain/money/index.ts';
import {
  applyPaymentEvent,
  chargeInFlight,
  isSettled,
  nextCollectionAttempt,
  openPaymentState,
  outstanding,
} from '../../domain/payments/index.ts';
import type { AttemptRecord, ChargeResult, ChargeStatus, CollectionDecision, InvoicePaymentState, PaymentEvent } from '../../domain/payments/index.ts';
import type { Brand, ReferenceTables } from '../../domain/reference/index.ts';
import { Decimal } from 'decimal.js';
import { amountDueOf, type InvoiceEvent } from '../../contracts/invoice.ts';
import { amountDue, excessToMove } from '../../domain/credit/index.ts';
import { brandTopics } from '../../topics/catalog.ts';
import type { PaymentGateway, ChargeRequest } from '../../gateways/types.ts';
import { inTransaction } from '../../runtime/db.ts';
import type { Logger } from '../../runtime/log.ts';
import { enqueue } from '../../runtime/outbox.ts';
import { ControlTally, localDay } from '../../domain/assurance/control-totals.ts';
import { recordControlTotals } from '../../runtime/control-totals.ts';
import type { Clock } from '../../runtime/time.ts';
import { attemptPaymentId, stateFromJson, stateToJson, type PaymentRecord } from './records.ts';
import { SCHEMA } from './schema.ts';

/** A brand's gateway, built once from ref.brands and the environment. */
export interface GatewayProvider {
  forBrand(brand: Brand): PaymentGateway;
}

export interface CollectorDeps {
  db: Knex;
  tables: ReferenceTables;
  clock: Clock;
  logger: Logger;
  gateways: GatewayProvider;
  /**
   * How long a claimed attempt (or refund) with no answer belongs to the turn that claimed it:
   * longer than any gateway call takes. Younger, another turn is calling the gateway now and a
   * second mover stops; older, its claimer died and the next run settles it with its key.
   */
  claimLeaseMs: number;
}

export interface InvoiceRow {
  invoice_id: string;
  invoice_number: string;
  brand: string;
  account_id: string;
  currency: string;
  total: string;
  credit_applied: string;
  moved_to_credit: string;
  due_at: Date;
  state: unknown;
  payment_status: string;
  collection: string;
  next_attempt_on: string | null;
  stop_reason: string | null;
}

export interface AttemptRow {
  invoice_id: string;
  attempt: number;
  idempotency_key: string;
  gateway: string;
  customer_ref: string;
  method_ref: string;
  method_label: string;
  amount: string;
  currency: string;
  status: ChargeStatus | null;
  retryable: boolean | null;
  reference: string | null;
  at: Date;
}

/** What one invoice's turn in a run did, for the run's report. */
export type CollectOutcome =
  | 'charged'
  | 'settled'
  | 'paid'
  | 'waiting'
  | 'awaiting_webhook'
  | 'stopped'
  | 'no_payment_method'
  | 'brand_unknown'
  | 'gateway_unavailable'
  | 'taken';

const T = (name: string) => `${SCHEMA}.${name}`;

/** Stores invoice events (idempotent on the invoice id); returns the ids that were new. */
export async function storeInvoices(trx: Knex.Transaction, invoices: InvoiceEvent[], now: number): Promise<string[]> {
  if (invoices.length === 0) return [];
  const rows = invoices.map((i) => {
    // Collect asks the amount due: the total less the credit it consumed; a negative invoice asks nothing.
    const total = money(amountDueOf(i), i.currency);
    return {
      invoice_id: i.invoiceId,
      invoice_number: i.invoiceNumber,
      brand: i.brand,
      account_id: i.accountId,
      subscription_id: i.subscriptionId,
      currency: i.currency,
      total: i.total.toFixed(),
      credit_applied: (i.creditApplied ?? new Decimal(0)).toFixed(),
      issued_at: new Date(i.issuedAt),
      due_at: new Date(i.dueAt),
      received_at: new Date(now),
      state: JSON.stringify(stateToJson(openPaymentState(i.invoiceId, total))),
      payment_status: 'open',
      collection: 'due',
      updated_at: new Date(now),
    };
  });
  const inserted: { invoice_id: string }[] = await trx(T('invoices')).insert(rows).onConflict('invoice_id').ignore().returning('invoice_id');
  const fresh = inserted.map((r) => r.invoice_id);
  // Webhooks that came before their invoice are applied now, in the order they came.
  if (fresh.length > 0) {
    const queued: PaymentEventRow[] = await trx(T('payment_events')).whereIn('invoice_id', fresh).where({ applied: false }).orderBy('received_at');
    for (const row of queued) await applyEventInTransaction(trx, eventFromRow(row), { source: row.source, paymentId: null, attempt: 0, gateway: '', methodLabel: null, now, alreadyStored: true });
  }
  return fresh;
}

interface PaymentEventRow {
  event_id: string;
  invoice_id: string;
  source: string;
  type: PaymentEvent['type'];
  charge_reference: string;
  refund_reference: string | null;
  amount: string;
  currency: string;
  occurred_at: Date;
  code: string | null;
}

function eventFromRow(r: PaymentEventRow): PaymentEvent {
  return {
    eventId: r.event_id,
    type: r.type,
    invoiceId: r.invoice_id,
    chargeReference: r.charge_reference,
    ...(r.refund_reference ? { refundReference: r.refund_reference } : {}),
    amount: money(r.amount, r.currency),
    occurredAt: r.occurred_at.getTime(),
    ...(r.code ? { code: r.code } : {}),
  };
}

export interface ApplyContext {
  source: string;
  /** The payment id when the caller knows it (a charge attempt, a manual record); else found by reference. */
  paymentId: string | null;
  attempt: number;
  gateway: string;
  methodLabel: string | null;
  now: number;
  /** For failures: hard_decline, soft_decline, gateway_error. */
  failureKind?: string;
  failureMessage?: string;
  kind?: PaymentRecord['kind'];
  /** The event row exists already (a queued webhook). */
  alreadyStored?: boolean;
  /** A refund a credit note asked for. */
  creditNoteId?: string | null;
}

export interface ApplyOutcome {
  changed: boolean;
  ignored?: string;
  queued?: boolean;
  state?: InvoicePaymentState;
}

const STATUS_OF: Record<PaymentEvent['type'], PaymentRecord['status']> = {
  'charge.pending': 'PENDING',
  'charge.succeeded': 'SUCCEEDED',
  'charge.failed': 'FAILED',
  'refund.succeeded': 'REFUNDED',
  'refund.failed': 'FAILED',
};

/**
 * Applies one payment fact to its invoice in the caller's transaction: the event id is stored
 * first (a duplicate stops there), the state machine decides whether anything moved, and only
 * a move writes the new state, an outbox event and, for money received, a receipt row.
 */
export async function applyEventInTransaction(trx: Knex.Transaction, event: PaymentEvent, ctx: ApplyContext): Promise<ApplyOutcome> {
  const invoice = await lockInvoice(trx, event.invoiceId);
  if (!ctx.alreadyStored) {
    const inserted = await trx(T('payment_events'))
      .insert({
        event_id: event.eventId,
        invoice_id: event.invoiceId,
        source: ctx.source,
        type: event.type,
        charge_reference: event.chargeReference,
        refund_reference: event.refundReference ?? null,
        amount: event.amount.amount.toFixed(),
        currency: event.amount.currency,
        occurred_at: new Date(event.occurredAt),
        code: event.code ?? null,
        applied: invoice !== undefined,
        received_at: new Date(ctx.now),
      })
      .onConflict(['invoice_id', 'event_id'])
      .ignore()
      .returning('event_id');
    if (inserted.length === 0) return { changed: false, ignored: 'duplicate_event' };
  }
  if (!invoice) return { changed: false, queued: true };

  const before = stateFromJson(invoice.state);
  const result = applyPaymentEvent(before, event);
  await trx(T('payment_events')).where({ invoice_id: event.invoiceId, event_id: event.eventId }).update({ applied: true, changed: result.changed, ignored: result.ignored ?? null });
  if (!result.changed) return { changed: false, ...(result.ignored ? { ignored: result.ignored } : {}), state: before };

  const state = result.state;
  await trx(T('invoices'))
    .where({ invoice_id: invoice.invoice_id })
    .update({ state: JSON.stringify(stateToJson(state)), payment_status: state.status, ...(isSettled(state) ? { collection: 'paid', next_attempt_on: null, stop_reason: null } : {}), updated_at: new Date(ctx.now) });
  const creditBalanceChange = await moveExcessToCredit(trx, invoice, state);

  // Which attempt this was: the caller knows, or the reference says (a webhook about our charge).
  let paymentId = ctx.paymentId;
  let attempt = ctx.attempt;
  let gateway = ctx.gateway;
  let methodLabel = ctx.methodLabel;
  if (!paymentId) {
    const byRef: AttemptRow | undefined = await trx(T('attempts')).where({ invoice_id: invoice.invoice_id, reference: event.chargeReference }).first();
    if (byRef) {
      paymentId = attemptPaymentId(invoice.invoice_id, byRef.attempt);
      attempt = byRef.attempt;
      gateway = byRef.gateway;
      methodLabel = byRef.method_label;
    } else paymentId = `pay-${invoice.invoice_id}-${safeRef(event.chargeReference)}`;
  }
  const isRefund = event.type.startsWith('refund.');
  if (isRefund) paymentId = `refund-${invoice.invoice_id}-${safeRef(event.refundReference ?? event.eventId)}`;
  const record: PaymentRecord = {
    paymentId,
    invoiceId: invoice.invoice_id,
    brand: invoice.brand,
    accountId: invoice.account_id,
    attempt,
    gateway: gateway || ctx.source,
    gatewayReference: isRefund ? (event.refundReference ?? null) : event.chargeReference,
    status: STATUS_OF[event.type],
    failureKind: event.type.endsWith('.failed') ? (ctx.failureKind ?? 'declined') : null,
    failureMessage: event.type.endsWith('.failed') ? (ctx.failureMessage ?? event.code ?? null) : null,
    currency: event.amount.currency,
    amount: event.amount.amount,
    occurredAt: event.occurredAt,
    kind: ctx.kind ?? (isRefund ? 'refund' : 'charge'),
    eventId: `${paymentId}:${STATUS_OF[event.type]}`,
    methodLabel,
    creditBalanceChange: creditBalanceChange.isZero() ? null : creditBalanceChange,
    creditNoteId: ctx.creditNoteId ?? null,
  };
  await writeOutbox(trx, record);
  if (event.type === 'charge.succeeded') {
    await trx(T('payments'))
      .insert({
        payment_id: paymentId,
        invoice_id: invoice.invoice_id,
        brand: invoice.brand,
        account_id: invoice.account_id,
        attempt,
        gateway: record.gateway,
        reference: event.chargeReference,
        amount: event.amount.amount.toFixed(),
        currency: event.amount.currency,
        paid_at: new Date(event.occurredAt),
        method_label: methodLabel ?? record.gateway,
        balance_after: outstanding(state).amount.toFixed(),
      })
      .onConflict('payment_id')
      .ignore();
  }
  return { changed: true, state };
}

const REFUND_IN_FLIGHT = ['pending', 'indeterminate', 'network_error'];

/**
 * Money the locked invoice holds beyond what it asks goes to the customer's credit balance
 * (domain/credit `excessToMove`); returns what moved now (published on the payment event, which
 * bill-run's ledger records). What the invoice holds counts refunds in flight as gone; what it
 * asks is its amount due (never below zero) less its credit notes, which may go below zero
 * when a credit note gives back credit the invoice had consumed.
 */
export async function moveExcessToCredit(trx: Knex.Transaction, invoice: InvoiceRow, state: InvoicePaymentState): Promise<Decimal> {
  // A credit refund gives back credit, not the invoice's own money: it never changes what the invoice holds.
  const refunds: { amount: string; status: string | null }[] = await trx(T('refunds')).where({ invoice_id: invoice.invoice_id }).whereNull('credit_refund_id').select('amount', 'status');
  const inFlight = refunds.filter((r) => r.status === null || REFUND_IN_FLIGHT.includes(r.status)).reduce((sum, r) => sum.plus(r.amount), new Decimal(0));
  const notes: { amount: string }[] = await trx(T('credit_notes')).where({ invoice_id: invoice.invoice_id }).select('amount');
  const credited = notes.reduce((sum, n) => sum.plus(n.amount), new Decimal(0));
  const moved = new Decimal(invoice.moved_to_credit);
  const asks = amountDue(new Decimal(invoice.total), new Decimal(invoice.credit_applied)).minus(credited);
  const move = excessToMove({ paid: state.paid.amount, refunded: state.refunded.amount.plus(inFlight), amountDue: asks, alreadyMoved: moved });
  if (move.gt(0)) await trx(T('invoices')).where({ invoice_id: invoice.invoice_id }).update({ moved_to_credit: moved.plus(move).toFixed() });
  return move;
}

/**
 * Each brand's time zone, for the local day of its payment figures. The zones come from ref.brands,
 * the same for every collect instance in a process, so one map serves them all.
 */
export const brandZones = new Map<string, string>();

/**
 * The payment event on the brand's payments topic, keyed by account, once per event id, and the
 * brand's control totals for the day (payments by kind and outcome) in the same transaction.
 */
export async function writeOutbox(trx: Knex.Transaction, record: PaymentRecord): Promise<void> {
  const eventId = record.eventId ?? `${record.paymentId}:${record.status}`;
  // A second enqueue of the same event adds nothing, and so must not count again.
  const fresh = await enqueue(trx, SCHEMA, [{ topic: brandTopics(record.brand).payments.name, schema: 'payment', key: record.accountId, eventId, brand: record.brand, payload: record }]);
  if (fresh === 0) return;
  const day = localDay(record.occurredAt, brandZones.get(record.brand));
  const measure = `payments:${record.kind}:${record.status.toLowerCase()}`;
  const tally = new ControlTally('collect').count('brand', record.brand, day, measure).amount('brand', record.brand, day, measure, record.currency, record.amount);
  await recordControlTotals(trx, SCHEMA, tally);
}

const safeRef = (ref: string) => ref.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 80);

function toAttemptRecord(row: AttemptRow): AttemptRecord {
  return { attempt: row.attempt, at: row.at.getTime(), status: row.status, reference: row.reference, ...(row.retryable !== null ? { retryable: row.retryable } : {}) };
}

/** The columns that say where collection stands, from the decision for today. */
function collectionColumns(decision: CollectionDecision): { collection: string; next_attempt_on: string | null; stop_reason: string | null } {
  switch (decision.action) {
    case 'charge':
      return { collection: 'due', next_attempt_on: null, stop_reason: null };
    case 'settle':
      return { collection: 'settling', next_attempt_on: null, stop_reason: null };
    case 'await_webhook':
      return { collection: 'awaiting_webhook', next_attempt_on: null, stop_reason: null };
    case 'wait':
      return { collection: 'retry_scheduled', next_attempt_on: decision.until, stop_reason: null };
    case 'stop':
      return decision.reason === 'already_paid' ? { collection: 'paid', next_attempt_on: null, stop_reason: null } : { collection: 'stopped', next_attempt_on: null, stop_reason: decision.reason };
  }
}

function decide(invoice: InvoiceRow, attempts: AttemptRow[], brand: Brand, now: number): { decision: CollectionDecision; state: InvoicePaymentState } {
  const state = stateFromJson(invoice.state);
  const nothingOwed = compareMoney(outstanding(state), zero(state.amountDue.currency)) <= 0;
  const decision = nextCollectionAttempt({
    invoiceId: invoice.invoice_id,
    dueAt: invoice.due_at.getTime(),
    paid: isSettled(state) || nothingOwed,
    attempts: attempts.map(toAttemptRecord),
    policy: { zone: brand.timeZone, retryDays: brand.collectionRetryDays },
    now,
  });
  return { decision, state };
}

const FAILURE_KIND: Partial<Record<ChargeStatus, string>> = { hard_decline: 'hard_decline', soft_decline: 'soft_decline', gateway_error: 'gateway_error' };

/**
 * The invoice's row, locked until the transaction ends. Every money movement on an invoice
 * (charge claim and answer, webhook, manual payment, refund, credit note) takes it first and
 * decides in the same transaction, so each decides from what the one before it committed.
 */
export function lockInvoice(trx: Knex.Transaction, invoiceId: string): Promise<InvoiceRow | undefined> {
  return trx(T('invoices')).where({ invoice_id: invoiceId }).forUpdate().first();
}

/** The invoice's charge attempt still in flight (domain/payments `chargeInFlight`), read under the caller's lock. */
export async function attemptInFlight(trx: Knex.Transaction, invoice: InvoiceRow): Promise<AttemptRow | undefined> {
  const rows: AttemptRow[] = await trx(T('attempts')).where({ invoice_id: invoice.invoice_id });
  const open = chargeInFlight(stateFromJson(invoice.state), rows.map(toAttemptRecord));
  return open && rows.find((r) => r.attempt === open.attempt);
}

/** A claimed attempt to send (or settle) with no transaction open, or what the turn ended with. */
type Turn = { outcome: CollectOutcome } | { call: 'charge' | 'settle'; invoice: InvoiceRow; attempt: AttemptRow; gateway: PaymentGateway; brand: Brand };

/**
 * Collects one invoice as of `now`: charges it, settles an attempt whose outcome is unknown
 * with the same key, or records why it waits. Paid first: a settled invoice is never charged.
 *
 * The lock and the gateway call: the decision and the claim of the attempt (its row and key)
 * are made under the invoice's lock and committed; then the gateway is called with no
 * transaction open (a call may take the gateway's whole timeout); then its answer is
 * recorded under the lock again. Whoever comes in between sees the claimed attempt: another
 * turn stops (`taken`) while the claim is younger than its lease, and settles it with the
 * same key once the claimer must have died; a manual
 * payment, refund or credit note is refused as `charge_in_flight` (operations.ts) until the
 * answer is in; a webhook is applied, and the answer it reported then changes nothing.
 */
export async function collectInvoice(deps: CollectorDeps, invoiceId: string): Promise<CollectOutcome> {
  const turn = await inTransaction(deps.db, (trx) => decideTurn(deps, trx, invoiceId));
  if ('outcome' in turn) return turn.outcome;
  const { invoice, attempt, gateway, brand } = turn;
  if (turn.call === 'charge') {
    const result = await gateway.charge(chargeRequest(invoice, attempt));
    await recordAnswer(deps, attempt, result, brand);
    return result.status === 'succeeded' ? 'paid' : 'charged';
  }
  const lookup = await gateway.findCharge({ idempotencyKey: attempt.idempotency_key, invoiceId, customerId: attempt.customer_ref, ...(attempt.reference ? { reference: attempt.reference } : {}) });
  // Not found, or the gateway cannot be asked: the same request with the same key, which the
  // gateway answers from its idempotency store if the first one reached it.
  const result = lookup.status === 'found' || lookup.status === 'error' ? lookup.result : await gateway.charge(chargeRequest(invoice, attempt));
  await recordAnswer(deps, attempt, result, brand);
  return 'settled';
}

async function decideTurn(deps: CollectorDeps, trx: Knex.Transaction, invoiceId: string): Promise<Turn> {
  const { tables, logger } = deps;
  const now = deps.clock.now();
  const invoice = await lockInvoice(trx, invoiceId);
  const brand = invoice && tables.brand(invoice.brand);
  if (!invoice || !brand) return { outcome: 'brand_unknown' };
  const attempts: AttemptRow[] = await trx(T('attempts')).where({ invoice_id: invoiceId }).orderBy('attempt');
  const { decision, state } = decide(invoice, attempts, brand, now);
  const setCollection = (columns: Record<string, unknown>) => trx(T('invoices')).where({ invoice_id: invoiceId }).update({ ...columns, updated_at: new Date(now) });

  if (decision.action === 'charge' || decision.action === 'settle') {
    let gateway: PaymentGateway;
    try {
      gateway = deps.gateways.forBrand(brand);
    } catch (error) {
      logger.error('brand gateway unavailable', { brand: brand.code, error });
      if (decision.action === 'charge') await setCollection({ collection: 'gateway_unavailable' });
      return { outcome: 'gateway_unavailable' };
    }
    if (decision.action === 'settle') {
      const attempt = attempts.find((a) => a.attempt === decision.attempt)!;
      if (attempt.status === null && now - attempt.at.getTime() < deps.claimLeaseMs) return { outcome: 'taken' };
      if (gateway.id !== attempt.gateway) {
        // The brand moved to another gateway while this attempt was open: only ops can settle it.
        logger.error('open attempt on a gateway the brand no longer uses', { invoiceId, attempt: attempt.attempt, gateway: attempt.gateway });
        return { outcome: 'gateway_unavailable' };
      }
      return { call: 'settle', invoice, attempt, gateway, brand };
    }
    const method = tables.customer(invoice.account_id)?.defaultPaymentMethod ?? null;
    if (!method || method.gateway !== gateway.id) {
      await setCollection({ collection: 'no_payment_method' });
      return { outcome: 'no_payment_method' };
    }
    const amount = outstanding(state);
    // The claim, committed BEFORE the call: a crash from here on leaves an attempt with no
    // answer, which the next run settles with this same key (never a new one).
    const saved: AttemptRow[] = await trx(T('attempts'))
      .insert({
        invoice_id: invoiceId,
        attempt: decision.attempt,
        idempotency_key: decision.idempotencyKey,
        gateway: gateway.id,
        customer_ref: method.customerRef,
        method_ref: method.methodRef,
        method_label: method.label,
        amount: amount.amount.toFixed(),
        currency: amount.currency,
        status: null,
        at: new Date(now),
      })
      .onConflict(['invoice_id', 'attempt'])
      .ignore()
      .returning('*');
    const attempt = saved[0];
    return attempt ? { call: 'charge', invoice, attempt, gateway, brand } : { outcome: 'taken' };
  }

  const columns = collectionColumns(decision);
  if (columns.collection !== invoice.collection || columns.next_attempt_on !== invoice.next_attempt_on || columns.stop_reason !== invoice.stop_reason) await setCollection(columns);
  if (decision.action === 'wait') return { outcome: 'waiting' };
  if (decision.action === 'await_webhook') return { outcome: 'awaiting_webhook' };
  return { outcome: decision.reason === 'already_paid' ? 'paid' : 'stopped' };
}

function chargeRequest(invoice: InvoiceRow, attempt: AttemptRow): ChargeRequest {
  return {
    idempotencyKey: attempt.idempotency_key,
    invoiceId: invoice.invoice_id,
    accountId: invoice.account_id,
    amount: money(attempt.amount, attempt.currency),
    customerId: attempt.customer_ref,
    token: attempt.method_ref,
    description: `Invoice ${invoice.invoice_number}`,
  };
}

const UNKNOWN: readonly (ChargeStatus | null)[] = [null, 'network_error', 'indeterminate'];

/**
 * Stores a gateway's answer to an attempt, applies it as a payment fact and sets where
 * collection stands, in one transaction under the invoice's lock. An unknown outcome never
 * overwrites a final answer another turn recorded meanwhile (same key, so same charge).
 */
async function recordAnswer(deps: CollectorDeps, attempt: AttemptRow, result: ChargeResult, brand: Brand): Promise<void> {
  const now = deps.clock.now();
  const reference = 'reference' in result ? result.reference : null;
  await inTransaction(deps.db, async (trx) => {
    await lockInvoice(trx, attempt.invoice_id);
    const where = { invoice_id: attempt.invoice_id, attempt: attempt.attempt };
    const stored: { status: ChargeStatus | null } = await trx(T('attempts')).where(where).first('status');
    if (!UNKNOWN.includes(result.status) || UNKNOWN.includes(stored.status)) {
      await trx(T('attempts'))
        .where(where)
        .update({
          status: result.status,
          retryable: result.status === 'gateway_error' ? result.retryable : null,
          code: 'code' in result ? result.code : null,
          message: 'message' in result ? result.message.slice(0, 500) : null,
          reference: reference ?? attempt.reference,
          calls: trx.raw('calls + 1'),
          at: new Date(now),
          answered_at: new Date(now),
        });
    }
    const event = chargeEvent(attempt, result, now);
    if (event) {
      await applyEventInTransaction(trx, event, {
        source: 'charge',
        paymentId: attemptPaymentId(attempt.invoice_id, attempt.attempt),
        attempt: attempt.attempt,
        gateway: attempt.gateway,
        methodLabel: attempt.method_label,
        now,
        ...(FAILURE_KIND[result.status] ? { failureKind: FAILURE_KIND[result.status]! } : {}),
        ...('message' in result ? { failureMessage: result.message.slice(0, 500) } : {}),
      });
    }
    const fresh: InvoiceRow = await trx(T('invoices')).where({ invoice_id: attempt.invoice_id }).first();
    const attempts: AttemptRow[] = await trx(T('attempts')).where({ invoice_id: attempt.invoice_id }).orderBy('attempt');
    const { decision } = decide(fresh, attempts, brand, now);
    await trx(T('invoices')).where({ invoice_id: attempt.invoice_id }).update({ ...collectionColumns(decision), updated_at: new Date(now) });
  });
  if (result.status !== 'succeeded') {
    deps.logger.info('charge answered', { invoiceId: attempt.invoice_id, attempt: attempt.attempt, status: result.status, code: 'code' in result ? result.code : undefined });
  }
}

/** A gateway's answer as a payment fact; none while the outcome is unknown. */
function chargeEvent(attempt: AttemptRow, result: ChargeResult, now: number): PaymentEvent | null {
  const key = attempt.idempotency_key;
  const attemptAmount: Money = money(attempt.amount, attempt.currency);
  switch (result.status) {
    case 'succeeded':
      return { eventId: `chg:${key}:succeeded`, type: 'charge.succeeded', invoiceId: attempt.invoice_id, chargeReference: result.reference, amount: result.amount, occurredAt: now };
    case 'pending':
      return { eventId: `chg:${key}:pending`, type: 'charge.pending', invoiceId: attempt.invoice_id, chargeReference: result.reference, amount: result.amount, occurredAt: now };
    case 'hard_decline':
    case 'soft_decline':
    case 'gateway_error':
      return { eventId: `chg:${key}:failed`, type: 'charge.failed', invoiceId: attempt.invoice_id, chargeReference: result.reference ?? key, amount: attemptAmount, occurredAt: now, code: result.code };
    case 'network_error':
    case 'indeterminate':
      return null;
  }
}

/** A refund's key and money, for re-sending an unsettled one with the same key. */
export interface RefundRow {
  refund_id: string;
  invoice_id: string;
  n: number;
  idempotency_key: string;
  gateway: string;
  charge_reference: string;
  amount: string;
  currency: string;
  reason: string;
  status: string | null;
  reference: string | null;
  credit_note_id?: string | null;
  /** A credit refund's request (credit-refunds.ts): it never changes the invoice's payment state. */
  credit_refund_id?: string | null;
}
