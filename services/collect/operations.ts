import { createHash } from 'node:crypto';
import { Decimal } from 'decimal.js';
import type { Knex } from 'knex';
import { addMoney, compareMoney, minorUnits, money, subtractMoney, zero } from '../../domain/money/index.ts';
import type { Money } from '../../domain/money/index.ts';
import { methodKey, outstanding, planCreditNote, planRefund, reduceAmountDue, refundKey, isSettled } from '../../domain/payments/index.ts';
import type { PaymentEvent, RefundResult } from '../../domain/payments/index.ts';
import type { ManualGateway } from '../../gateways/manual/manual-gateway.ts';
import type { PaymentGateway } from '../../gateways/types.ts';
import { inTransaction } from '../../runtime/db.ts';
import type { RatelineError } from '../../runtime/errors.ts';
import { applyEventInTransaction, attemptInFlight, lockInvoice, moveExcessToCredit, writeOutbox, type CollectorDeps, type InvoiceRow, type RefundRow } from './collector.ts';
import { stateFromJson, stateToJson } from './records.ts';
import { recordCreditRefundAnswer } from './credit-refunds.ts';
import { SCHEMA } from './schema.ts';
import type { CreditNoteInput, ManualPaymentInput, PaymentMethodInput, RefundInput } from './validate.ts';

const T = (name: string) => `${SCHEMA}.${name}`;

/** An HTTP-shaped answer: the routes only serialise it. */
export interface OpResult {
  status: number;
  body: Record<string, unknown>;
}

const invalid = (problems: string[]): OpResult => ({ status: 422, body: { error: 'invalid_request', problems } });

/** An ops request's currency and amount against its invoice. */
function requestProblems(input: { amount: string; currency?: string }, invoice: InvoiceRow): string[] {
  const problems: string[] = [];
  if (input.currency && input.currency !== invoice.currency) problems.push(`currency ${input.currency} is not the invoice's (${invoice.currency})`);
  const decimals = new Decimal(input.amount).decimalPlaces();
  try {
    if (decimals > minorUnits(invoice.currency)) problems.push(`amount ${input.amount} has more decimals than ${invoice.currency} allows (${minorUnits(invoice.currency)})`);
  } catch (error) {
    problems.push((error as Error).message);
  }
  return problems;
}

/**
 * While a charge is in flight on the invoice (claimed, no final answer yet), nothing that
 * depends on what was paid is decided on it: the request is refused, not queued. The clerk
 * keeps the cheque or the refund in hand and asks again once the answer is in (seconds; an
 * unknown outcome is settled by the next collection run), and then sees the invoice as it
 * ended: paid by card (a cheque then is recorded as an overpayment), or still owed.
 */
async function refuseWhileCharging(trx: Knex.Transaction, invoice: InvoiceRow, what: string): Promise<OpResult | undefined> {
  const attempt = await attemptInFlight(trx, invoice);
  if (!attempt) return undefined;
  const amount = money(attempt.amount, attempt.currency).amount.toFixed(minorUnits(attempt.currency));
  return {
    status: 409,
    body: {
      error: 'charge_in_flight',
      attempt: attempt.attempt,
      message: `a charge of ${amount} ${attempt.currency} on ${invoice.invoice_id} (attempt ${attempt.attempt}, since ${attempt.at.toISOString()}) has no final answer yet: ${what} again once it has (GET /invoices/${invoice.invoice_id}); an unknown outcome is settled by the next collection run`,
    },
  };
}

// ------------------------------------------------------------------ manual payments

/**
 * A cheque or wire recorded by ops, decided under the invoice's lock. Its key comes from the
 * invoice, the method and the cheque number / bank reference, so recording the same cheque
 * twice is one payment; the same key with another amount is refused. Validated through the
 * manual gateway (card data refused). Money received beyond what is owed (the invoice was
 * paid by card meanwhile, or the cheque is larger) is recorded, never refused: the cheque is
 * the customer's money either way. The answer says `overpayment`; the invoice's payment
 * state keeps paid above its amount due until it is refunded (or, with credit balances,
 * becomes the customer's credit).
 */
export async function recordManualPayment(deps: CollectorDeps, manual: ManualGateway, input: ManualPaymentInput): Promise<OpResult> {
  const canonicalMeta = JSON.stringify(Object.keys(input.meta).sort().map((k) => [k, input.meta[k]]));
  const key = `rl.man.${createHash('sha256').update(`${input.invoiceId}|${input.methodType}|${canonicalMeta}`).digest('base64url').slice(0, 32)}`;
  const paymentId = `pay-${input.invoiceId}-m${key.slice(-8)}`;
  const now = deps.clock.now();
  return inTransaction(deps.db, async (trx) => {
    const invoice = await lockInvoice(trx, input.invoiceId);
    if (!invoice) return invalid([`invoice ${input.invoiceId} is not known to collect`]);
    const problems = requestProblems(input, invoice);
    const amount = money(input.amount, invoice.currency);
    const earlier: { amount: string; payment_id: string } | undefined = await trx(T('manual_payments')).where({ idempotency_key: key }).first();
    if (earlier) {
      if (new Decimal(earlier.amount).eq(amount.amount)) return { status: 200, body: { paymentId: earlier.payment_id, duplicate: true } };
      return { status: 409, body: { error: 'idempotency_conflict', problems: [`this ${input.methodType} was already recorded for ${input.invoiceId} with amount ${new Decimal(earlier.amount).toFixed()}`] } };
    }
    if (problems.length > 0) return invalid(problems);
    const busy = await refuseWhileCharging(trx, invoice, 'record the payment');
    if (busy) return busy;
    let event: PaymentEvent;
    try {
      event = manual.recordPayment({
        idempotencyKey: key,
        invoiceId: input.invoiceId,
        amount,
        methodType: input.methodType,
        meta: input.meta,
        receivedAt: input.receivedAt ?? now,
        recordedBy: input.recordedBy,
      });
    } catch (error) {
      const listed = (error as RatelineError).details?.['problems'];
      return invalid(Array.isArray(listed) ? (listed as string[]) : [(error as Error).message]);
    }
    const beyond = subtractMoney(amount, outstanding(stateFromJson(invoice.state)));
    const label = input.methodType === 'cheque' ? `Cheque ${String(input.meta['cheque_number'])}` : `Wire ${String(input.meta['bank_reference'])}`;
    await trx(T('manual_payments')).insert({
      idempotency_key: key,
      invoice_id: input.invoiceId,
      amount: amount.amount.toFixed(),
      currency: amount.currency,
      method_type: input.methodType,
      meta: JSON.stringify(input.meta),
      received_at: new Date(event.occurredAt),
      recorded_by: input.recordedBy,
      payment_id: paymentId,
    });
    const applied = await applyEventInTransaction(trx, event, { source: 'manual', paymentId, attempt: 0, gateway: 'manual', methodLabel: label, now, kind: 'manual' });
    const overpayment = beyond.amount.gt(0) ? beyond.amount.toFixed() : undefined;
    if (overpayment) deps.logger.warn('manual payment beyond what is owed, recorded as an overpayment', { invoiceId: input.invoiceId, paymentId, overpayment, currency: amount.currency });
    return { status: 201, body: { paymentId, changed: applied.changed, paymentStatus: applied.state?.status ?? null, ...(overpayment ? { overpayment } : {}) } };
  });
}

// ------------------------------------------------------------------ refunds

const IN_FLIGHT = ['pending', 'indeterminate', 'network_error'];

/** What credit refunds gave back through this invoice's charges (in flight ones are counted with every refund in flight). */
const creditRefunded = (refunds: RefundRow[], currency: string): Money =>
  refunds.filter((r) => r.credit_refund_id && r.status === 'succeeded').reduce((sum, r) => addMoney(sum, money(r.amount, r.currency)), zero(currency));

/** Gateway for a charge's refund: the manual one for cheques and wires, else the brand's. */
export type RefundGatewayFor = (invoice: InvoiceRow, chargeGateway: string) => PaymentGateway;

interface ClaimedRefund {
  row: RefundRow;
  invoice: InvoiceRow;
}

/**
 * A refund of (part of) a succeeded charge, decided under the invoice's lock: checked against
 * what was paid minus refunds, refunds still in flight included, so two concurrent requests
 * cannot together refund more than was paid. The refund row and its key are committed before
 * the gateway call; an unknown outcome is re-sent with the same key by the next run.
 */
export async function requestRefund(deps: CollectorDeps, gatewayFor: RefundGatewayFor, input: RefundInput): Promise<OpResult> {
  const now = deps.clock.now();
  const claimed = await inTransaction(deps.db, async (trx): Promise<OpResult | ClaimedRefund> => {
    const invoice = await lockInvoice(trx, input.invoiceId);
    if (!invoice) return invalid([`invoice ${input.invoiceId} is not known to collect`]);
    const problems = requestProblems(input, invoice);
    if (problems.length > 0) return invalid(problems);
    return (await refuseWhileCharging(trx, invoice, 'ask for the refund')) ?? claimRefund(trx, invoice, money(input.amount, invoice.currency), input.reason, null, now);
  });
  if ('status' in claimed) return claimed;
  const answer = refundAnswer(claimed.row, await sendRefund(deps, gatewayFor, claimed.invoice, claimed.row));
  // A declined refund is a refusal (a problem body), with the refund's id to look it up by.
  if (answer.body.status === 'failed') {
    const { refundId, code, message } = answer.body as { refundId: string; code?: string; message?: string };
    return { status: 422, body: { error: 'refund_declined', message: message ?? 'the gateway declined the refund', refundId, gatewayCode: code ?? null } };
  }
  return answer;
}

/** Plans a refund on the locked invoice and saves its row and key, or says why not. */
async function claimRefund(trx: Knex.Transaction, invoice: InvoiceRow, amount: Money, reason: string, creditNoteId: string | null, now: number): Promise<OpResult | ClaimedRefund> {
  const state = stateFromJson(invoice.state);
  const refunds: RefundRow[] = await trx(T('refunds')).where({ invoice_id: invoice.invoice_id });
  const inFlight = refunds.filter((r) => r.status === null || IN_FLIGHT.includes(r.status));
  // Money moved to the customer's credit balance is no longer the invoice's to refund, nor what
  // a credit refund gave back through its charges.
  const gone = addMoney(addMoney(state.refunded, money(invoice.moved_to_credit, invoice.currency)), creditRefunded(refunds, invoice.currency));
  const refundedOrInFlight = inFlight.reduce((sum, r) => addMoney(sum, money(r.amount, r.currency)), gone);
  const plan = planRefund({ paid: state.paid, refunded: refundedOrInFlight }, amount);
  if (!plan.ok) return invalid([...plan.problems]);
  // The charge to refund: one with enough left once its own refunds (done or in flight) are counted.
  const counted = refunds.filter((r) => r.status === 'succeeded' || r.status === null || IN_FLIGHT.includes(r.status));
  const charge = Object.entries(state.charges)
    .filter(([, c]) => c.status === 'succeeded')
    .map(([reference, c]) => ({ reference, left: counted.filter((r) => r.charge_reference === reference).reduce((m, r) => subtractMoney(m, money(r.amount, r.currency)), c.amount) }))
    .find((c) => compareMoney(c.left, amount) >= 0);
  if (!charge) return invalid([`no single charge on ${invoice.invoice_id} has ${amount.amount.toFixed()} ${amount.currency} left to refund: split the refund`]);
  const payment: { gateway: string } | undefined = await trx(T('payments')).where({ invoice_id: invoice.invoice_id, reference: charge.reference }).first('gateway');
  const n = refunds.reduce((max, r) => Math.max(max, r.n), 0) + 1;
  const row: RefundRow = {
    refund_id: `refund-${invoice.invoice_id}-${n}`,
    invoice_id: invoice.invoice_id,
    n,
    idempotency_key: refundKey(invoice.invoice_id, n),
    gateway: payment?.gateway ?? 'unknown',
    charge_reference: charge.reference,
    amount: amount.amount.toFixed(),
    currency: amount.currency,
    reason,
    status: null,
    reference: null,
    credit_note_id: creditNoteId,
  };
  await trx(T('refunds')).insert({ ...row, created_at: new Date(now) });
  return { row, invoice };
}

function refundAnswer(row: RefundRow, result: RefundResult): OpResult {
  const status = result.status === 'succeeded' ? 201 : result.status === 'failed' ? 422 : 202;
  return { status, body: { refundId: row.refund_id, status: result.status, ...('code' in result ? { code: result.code, message: result.message } : {}) } };
}

/**
 * Sends (or re-sends, with the same key) one refund and records the answer under the
 * invoice's lock. A final answer recorded meanwhile (the run re-sent it) is not overwritten.
 */
export async function sendRefund(deps: CollectorDeps, gatewayFor: RefundGatewayFor, invoice: InvoiceRow, row: RefundRow): Promise<RefundResult> {
  let result: RefundResult;
  try {
    const gateway = gatewayFor(invoice, row.gateway);
    result = await gateway.refund({ idempotencyKey: row.idempotency_key, invoiceId: row.invoice_id, chargeReference: row.charge_reference, amount: money(row.amount, row.currency), reason: row.reason });
  } catch (error) {
    result = { status: 'gateway_error', code: (error as RatelineError).code ?? 'refund_failed', message: (error as Error).message, retryable: true };
  }
  const now = deps.clock.now();
  await inTransaction(deps.db, async (trx) => {
    await lockInvoice(trx, row.invoice_id);
    await trx(T('refunds'))
      .where({ refund_id: row.refund_id })
      .where((q) => void q.whereNull('status').orWhereIn('status', IN_FLIGHT))
      .update({
        status: result.status === 'gateway_error' && !result.retryable ? 'failed' : result.status === 'gateway_error' ? 'network_error' : result.status,
        reference: 'reference' in result ? result.reference : null,
        code: 'code' in result ? result.code : null,
        message: 'message' in result ? result.message.slice(0, 500) : null,
        answered_at: new Date(now),
      });
    if (row.credit_refund_id) await recordCreditRefundAnswer(trx, row, result, now);
    else if (result.status === 'succeeded') {
      await applyEventInTransaction(
        trx,
        { eventId: `refund:${row.idempotency_key}`, type: 'refund.succeeded', invoiceId: row.invoice_id, chargeReference: row.charge_reference, refundReference: result.reference, amount: result.amount, occurredAt: now },
        { source: 'refund', paymentId: null, attempt: 0, gateway: row.gateway, methodLabel: null, now, kind: 'refund', creditNoteId: row.credit_note_id ?? null },
      );
    }
  });
  return result;
}

/** Refunds whose outcome is unknown, re-sent with their own key. */
export async function settleRefunds(deps: CollectorDeps, gatewayFor: RefundGatewayFor, brand?: string): Promise<number> {
  const query = deps.db(`${T('refunds')} as r`)
    .join(`${T('invoices')} as i`, 'i.invoice_id', 'r.invoice_id')
    // One without any answer is another turn's while its claim is young (see claimLeaseMs).
    .where((q) => void q.where((n) => void n.whereNull('r.status').where('r.created_at', '<', new Date(deps.clock.now() - deps.claimLeaseMs))).orWhereIn('r.status', ['indeterminate', 'network_error']))
    .select('r.*');
  if (brand) void query.where('i.brand', brand);
  const rows: RefundRow[] = await query;
  for (const row of rows) {
    const invoice: InvoiceRow = await deps.db(T('invoices')).where({ invoice_id: row.invoice_id }).first();
    await sendRefund(deps, gatewayFor, invoice, row);
  }
  return rows.length;
}

// ------------------------------------------------------------------ credit notes

/**
 * A credit note lowers the invoice: first what is still owed (so collection stops asking for
 * it), the rest, on a paid invoice, goes back as a refund, claimed in the same transaction
 * under the invoice's lock (so no refund asked meanwhile can take the money it plans to give
 * back). Emitted as a `credit_note` payment event for the whole amount (ageing counts it
 * against what is owed).
 */
export async function issueCreditNote(deps: CollectorDeps, gatewayFor: RefundGatewayFor, input: CreditNoteInput): Promise<OpResult> {
  const now = deps.clock.now();
  const issued = await inTransaction(deps.db, async (trx): Promise<OpResult | { id: string; refund: Money; toCredit: Decimal; reduces: Money; amount: Money; claimed: ClaimedRefund | null }> => {
    const invoice = await lockInvoice(trx, input.invoiceId);
    if (!invoice) return invalid([`invoice ${input.invoiceId} is not known to collect`]);
    const problems = requestProblems(input, invoice);
    if (problems.length > 0) return invalid(problems);
    const busy = await refuseWhileCharging(trx, invoice, 'issue the credit note');
    if (busy) return busy;
    const amount = money(input.amount, invoice.currency);
    const state = stateFromJson(invoice.state);
    const notes: { n: number; amount: string }[] = await trx(T('credit_notes')).where({ invoice_id: invoice.invoice_id });
    const credited = notes.reduce((sum, c) => addMoney(sum, money(c.amount, invoice.currency)), zero(invoice.currency));
    const refunds: RefundRow[] = await trx(T('refunds')).where({ invoice_id: invoice.invoice_id });
    // What left the invoice: refunds (in flight too) and money moved to the credit balance.
    const gone = refunds
      .filter((r) => r.status === null || IN_FLIGHT.includes(r.status))
      .reduce((sum, r) => addMoney(sum, money(r.amount, r.currency)), addMoney(addMoney(state.refunded, money(invoice.moved_to_credit, invoice.currency)), creditRefunded(refunds, invoice.currency)));
    // Credit the invoice consumed paid for it as much as the gateway did.
    const creditApplied = money(invoice.credit_applied, invoice.currency);
    const plan = planCreditNote({ invoiceTotal: money(invoice.total, invoice.currency), credited, paid: addMoney(state.paid, creditApplied), refunded: gone }, amount);
    if (!plan.ok) return invalid([...plan.problems]);
    const n = notes.reduce((max, c) => Math.max(max, c.n), 0) + 1;
    const id = `cn-${invoice.invoice_id}-${n}`;
    // The part already paid goes back through the gateway up to what the gateway took (settle:
    // refund), or to the credit balance; the rest (consumed credit) always to the credit balance.
    const gatewayRefundable = subtractMoney(state.paid, gone);
    const toGateway = input.settle === 'refund' && gatewayRefundable.amount.gt(0) ? money(Decimal.min(plan.value.refund.amount, gatewayRefundable.amount), invoice.currency) : zero(invoice.currency);
    let claimed: ClaimedRefund | null = null;
    if (toGateway.amount.gt(0)) {
      const refund = await claimRefund(trx, invoice, toGateway, `credit note ${id}: ${input.reason}`.slice(0, 200), id, now);
      if ('status' in refund) return refund;
      claimed = refund;
    }
    await trx(T('credit_notes')).insert({
      credit_note_id: id,
      invoice_id: invoice.invoice_id,
      n,
      amount: amount.amount.toFixed(),
      reduces_balance: plan.value.reducesBalance.amount.toFixed(),
      refund_amount: toGateway.amount.toFixed(),
      currency: amount.currency,
      reason: input.reason,
      created_at: new Date(now),
    });
    const next = reduceAmountDue(state, plan.value.reducesBalance);
    await trx(T('invoices'))
      .where({ invoice_id: invoice.invoice_id })
      .update({ state: JSON.stringify(stateToJson(next)), payment_status: next.status, ...(isSettled(next) || compareMoney(outstanding(next), zero(next.amountDue.currency)) <= 0 ? { collection: 'paid', next_attempt_on: null } : {}), updated_at: new Date(now) });
    const toCredit = await moveExcessToCredit(trx, invoice, next);
    await writeOutbox(
      trx,
      {
        paymentId: id,
        invoiceId: invoice.invoice_id,
        brand: invoice.brand,
        accountId: invoice.account_id,
        attempt: 0,
        gateway: 'credit_note',
        gatewayReference: null,
        status: 'SUCCEEDED',
        failureKind: null,
        failureMessage: input.reason.slice(0, 200),
        currency: amount.currency,
        amount: amount.amount,
        occurredAt: now,
        kind: 'credit_note',
        eventId: `${id}:ISSUED`,
        methodLabel: null,
        creditBalanceChange: toCredit.isZero() ? null : toCredit,
        creditNoteId: id,
      },
    );
    return { id, refund: toGateway, toCredit, reduces: plan.value.reducesBalance, amount, claimed };
  });
  if ('status' in issued) return issued;
  const refund = issued.claimed && refundAnswer(issued.claimed.row, await sendRefund(deps, gatewayFor, issued.claimed.invoice, issued.claimed.row));
  return {
    status: 201,
    body: {
      creditNoteId: issued.id, amount: issued.amount.amount.toFixed(), reducesBalance: issued.reduces.amount.toFixed(), refund: issued.refund.amount.toFixed(), toCreditBalance: issued.toCredit.toFixed(),
      ...(refund ? { refundResult: refund.body } : {}),
    },
  };
}

// ------------------------------------------------------------------ payment methods

/**
 * The method-entry API: the portal sends the gateway's token (a Stripe pm_..., a PayPal setup
 * token), the brand's gateway stores it and rateline keeps the ids. The answer is the
 * reference the catalogue sets as the customer's default method. Card data never gets here:
 * the route refuses it before this runs, and the gateway's meta validation refuses it again.
 */
export async function storePaymentMethod(deps: CollectorDeps, input: PaymentMethodInput): Promise<OpResult> {
  const brand = deps.tables.brand(input.brand);
  if (!brand) return invalid([`brand ${input.brand} is not in ref.brands`]);
  let gateway: PaymentGateway;
  try {
    gateway = deps.gateways.forBrand(brand);
  } catch (error) {
    return { status: 503, body: { error: 'gateway_unavailable', message: (error as Error).message } };
  }
  const last = (await deps.db(T('payment_methods')).where({ account_id: input.accountId }).max('n as n').first()) as { n: number | null } | undefined;
  const n = (last?.n ?? 0) + 1;
  const result = await gateway.storePaymentMethod({
    idempotencyKey: methodKey(input.accountId, n),
    accountId: input.accountId,
    methodType: input.methodType,
    meta: input.meta,
    ...(input.customerId ? { customerId: input.customerId } : {}),
    ...(input.email ? { email: input.email } : {}),
  });
  if (!result.ok) {
    return { status: result.code === 'invalid_meta' ? 422 : 502, body: { error: result.code, problems: result.problems } };
  }
  const m = result.method;
  const label = m.display['last4'] ? `${capitalise(m.display['brand'] ?? 'Card')} ending ${m.display['last4']}` : m.display['wallet'] ? 'PayPal' : m.methodType;
  await deps.db(T('payment_methods')).insert({
    account_id: input.accountId,
    n,
    brand: brand.code,
    gateway: m.gateway,
    method_type: m.methodType,
    customer_ref: m.customerId,
    method_ref: m.token,
    label,
    created_at: new Date(deps.clock.now()),
  });
  return { status: 201, body: { paymentMethod: { gateway: m.gateway, customerRef: m.customerId, methodRef: m.token, label } } };
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

// ------------------------------------------------------------------ webhooks

/**
 * A webhook delivery: verified by the brand's gateway plugin over the raw bytes, then applied
 * through the state machine. A duplicate or an out-of-order delivery is acknowledged and
 * changes nothing; a delivery for another brand's invoice is ignored.
 */
export async function receiveWebhook(deps: CollectorDeps, gatewayId: string, brandCode: string, rawBody: Buffer, headers: Record<string, string | string[] | undefined>): Promise<OpResult> {
  const brand = deps.tables.brand(brandCode);
  if (!brand) return { status: 404, body: { error: 'unknown_brand', brand: brandCode } };
  let gateway: PaymentGateway;
  try {
    gateway = deps.gateways.forBrand(brand);
  } catch (error) {
    return { status: 503, body: { error: 'gateway_unavailable', message: (error as Error).message } };
  }
  if (gateway.id !== gatewayId) return { status: 404, body: { error: 'wrong_gateway', message: `brand ${brandCode} collects through ${gateway.id}` } };
  const verdict = await gateway.parseWebhook({ rawBody, headers });
  if (!verdict.ok) {
    deps.logger.warn('webhook refused', { gateway: gatewayId, brand: brandCode, reason: verdict.reason });
    return { status: verdict.reason === 'verification_unavailable' ? 503 : 400, body: { error: 'webhook_refused', reason: verdict.reason, message: verdict.message } };
  }
  const event = verdict.event;
  if (!event) return { status: 200, body: { acknowledged: true, ignored: 'not_a_payment_event', gatewayEventType: verdict.gatewayEventType } };
  const owner: { brand: string } | undefined = await deps.db(T('invoices')).where({ invoice_id: event.invoiceId }).first('brand');
  if (owner && owner.brand !== brandCode) {
    deps.logger.warn('webhook for another brand\'s invoice ignored', { gateway: gatewayId, brand: brandCode, invoiceId: event.invoiceId });
    return { status: 200, body: { acknowledged: true, changed: false, ignored: 'other_brand' } };
  }
  const now = deps.clock.now();
  const outcome = await inTransaction(deps.db, (trx) =>
    applyEventInTransaction(trx, event, { source: `webhook:${gatewayId}`, paymentId: null, attempt: 0, gateway: gatewayId, methodLabel: null, now }),
  );
  return { status: outcome.queued ? 202 : 200, body: { acknowledged: true, eventId: event.eventId, changed: outcome.changed, ...(outcome.ignored ? { ignored: outcome.ignored } : {}), ...(outcome.queued ? { queued: true } : {}), paymentStatus: outcome.state?.status ?? null } };
}


