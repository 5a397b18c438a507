import { Decimal } from 'decimal.js';
import type { Knex } from 'knex';
import type { CreditRefundRecord, PaymentRecord } from '../../contracts/payment.ts';
import { planCreditRefund, type RefundableCharge } from '../../domain/credit/index.ts';
import { money } from '../../domain/money/index.ts';
import { refundKey, type RefundResult } from '../../domain/payments/index.ts';
import { inTransaction } from '../../runtime/db.ts';
import { lockInvoice, writeOutbox, type CollectorDeps, type InvoiceRow, type RefundRow } from './collector.ts';
import { SCHEMA } from './schema.ts';

/**
 * Credit balances bill-run asks collect to give back through the gateway (the brand's
 * creditAtCancellation is refund). Bill-run took the amount off its ledger when it asked; collect
 * splits it over the account's card charges, newest first (domain/credit planCreditRefund), as
 * refund rows that carry the request's id and go through the same claim, send and settle path
 * as any refund (idempotency key saved before the call, unknown outcomes re-sent with it). A
 * credit refund never changes its invoice's payment state (the invoice's own money is not what
 * goes back), but it uses up what its charge has left, and what it took counts against the
 * invoice's refunds. Each outcome is a `credit_refund` payment event; what no charge could take,
 * and a refund the gateway declined, go back to the credit balance (creditBalanceChange).
 */
const T = (name: string) => `${SCHEMA}.${name}`;
const IN_FLIGHT = ['pending', 'indeterminate', 'network_error'];

/** Stores requests (idempotent on the request id); returns the ids that were new. */
export async function storeCreditRefunds(trx: Knex.Transaction, requests: CreditRefundRecord[], now: number): Promise<string[]> {
  if (requests.length === 0) return [];
  const inserted: { request_id: string }[] = await trx(T('credit_refunds'))
    .insert(
      requests.map((r) => ({
        request_id: r.requestId,
        brand: r.brand,
        account_id: r.accountId,
        currency: r.currency,
        amount: r.amount.toFixed(),
        reason: r.reason.slice(0, 200),
        requested_at: new Date(r.requestedAt),
        status: 'open',
        received_at: new Date(now),
      })),
    )
    .onConflict('request_id')
    .ignore()
    .returning('request_id');
  return inserted.map((r) => r.request_id);
}

/** Requests not yet split over charges (a crash between storing and splitting leaves them here). */
export async function openCreditRefunds(db: Knex, brand?: string): Promise<string[]> {
  const query = db(T('credit_refunds')).where({ status: 'open' }).orderBy('request_id').pluck('request_id');
  if (brand) void query.where({ brand });
  return query;
}

interface ClaimedParts {
  rows: { row: RefundRow; invoice: InvoiceRow }[];
}

/** Splits one request over the account's charges and claims the refund rows, under the invoices' locks; then sends each. */
export async function refundCredit(
  deps: CollectorDeps,
  send: (invoice: InvoiceRow, row: RefundRow) => Promise<RefundResult>,
  requestId: string,
): Promise<void> {
  const now = deps.clock.now();
  const claimed = await inTransaction(deps.db, async (trx): Promise<ClaimedParts | undefined> => {
    const request: { request_id: string; brand: string; account_id: string; currency: string; amount: string; reason: string; status: string } | undefined = await trx(T('credit_refunds'))
      .where({ request_id: requestId })
      .forUpdate()
      .first();
    if (!request || request.status !== 'open') return undefined;
    const charges: { invoice_id: string; gateway: string; reference: string; amount: string; paid_at: Date }[] = await trx(T('payments'))
      .where({ account_id: request.account_id, currency: request.currency })
      .whereNot({ gateway: 'manual' })
      .select('invoice_id', 'gateway', 'reference', 'amount', 'paid_at');
    // Every invoice whose charge may be refunded, locked in id order (refunds of it are claimed under its lock).
    const invoices = new Map<string, InvoiceRow>();
    for (const id of [...new Set(charges.map((c) => c.invoice_id))].sort()) {
      const row = await lockInvoice(trx, id);
      if (row) invoices.set(id, row);
    }
    const refunds: (RefundRow & { n: number })[] = invoices.size === 0 ? [] : await trx(T('refunds')).whereIn('invoice_id', [...invoices.keys()]);
    const taken = (reference: string) =>
      refunds.filter((r) => r.charge_reference === reference && (r.status === null || r.status === 'succeeded' || IN_FLIGHT.includes(r.status))).reduce((sum, r) => sum.plus(r.amount), new Decimal(0));
    const refundable: RefundableCharge[] = charges
      .filter((c) => invoices.has(c.invoice_id))
      .map((c) => ({ reference: c.reference, invoiceId: c.invoice_id, gateway: c.gateway, left: new Decimal(c.amount).minus(taken(c.reference)), at: c.paid_at.getTime() }));
    const plan = planCreditRefund(refundable, new Decimal(request.amount));
    const rows: ClaimedParts['rows'] = [];
    for (const part of plan.parts) {
      const invoice = invoices.get(part.invoiceId)!;
      const n = refunds.filter((r) => r.invoice_id === part.invoiceId).reduce((max, r) => Math.max(max, r.n), 0) + 1;
      const row: RefundRow & { n: number } = {
        refund_id: `refund-${part.invoiceId}-${n}`,
        invoice_id: part.invoiceId,
        n,
        idempotency_key: refundKey(part.invoiceId, n),
        gateway: part.gateway,
        charge_reference: part.reference,
        amount: part.amount.toFixed(),
        currency: request.currency,
        reason: request.reason,
        status: null,
        reference: null,
        credit_refund_id: request.request_id,
      };
      await trx(T('refunds')).insert({ ...row, created_at: new Date(now) });
      refunds.push(row);
      rows.push({ row, invoice });
    }
    if (plan.unrefundable.gt(0)) {
      await writeOutbox(trx, creditRefundEvent({ paymentId: `${request.request_id}-unrefundable`, invoiceId: request.request_id, brand: request.brand, accountId: request.account_id, currency: request.currency }, 'FAILED', plan.unrefundable, now, 'no card charge left to refund'));
      deps.logger.warn('credit refund: part of the credit has no card charge to go back to; it stays the customer\'s credit', { requestId, unrefundable: plan.unrefundable.toFixed() });
    }
    await trx(T('credit_refunds')).where({ request_id: request.request_id }).update({ status: 'claimed', unrefundable: plan.unrefundable.toFixed() });
    return { rows };
  });
  for (const { row, invoice } of claimed?.rows ?? []) await send(invoice, row);
}

/**
 * A credit refund's answer, in the transaction that records it: the part refunded, or, when the
 * gateway gave a final no, the part back to the customer's credit. Unknown outcomes wait for
 * the settle run's re-send.
 */
export async function recordCreditRefundAnswer(trx: Knex.Transaction, row: RefundRow, result: RefundResult, now: number): Promise<void> {
  const invoice = await lockInvoice(trx, row.invoice_id);
  if (!invoice) return;
  const whose = { paymentId: row.refund_id, invoiceId: row.invoice_id, brand: invoice.brand, accountId: invoice.account_id, currency: row.currency };
  const amount = money(row.amount, row.currency).amount;
  if (result.status === 'succeeded') await writeOutbox(trx, { ...creditRefundEvent(whose, 'REFUNDED', amount, now, null), gatewayReference: result.reference, creditBalanceChange: null });
  else if (result.status === 'failed' || (result.status === 'gateway_error' && !result.retryable)) {
    await writeOutbox(trx, creditRefundEvent(whose, 'FAILED', amount, now, result.message));
  }
}

function creditRefundEvent(
  whose: { paymentId: string; invoiceId: string; brand: string; accountId: string; currency: string },
  status: 'REFUNDED' | 'FAILED',
  amount: Decimal,
  now: number,
  failure: string | null,
): PaymentRecord {
  return {
    ...whose,
    attempt: 0,
    gateway: 'credit_refund',
    gatewayReference: null,
    status,
    failureKind: status === 'FAILED' ? 'credit_refund_failed' : null,
    failureMessage: failure?.slice(0, 200) ?? null,
    amount,
    occurredAt: now,
    kind: 'credit_refund',
    eventId: `${whose.paymentId}:${status}`,
    methodLabel: null,
    // A failed part is the customer's credit again; a refunded one left the ledger when bill-run asked.
    creditBalanceChange: status === 'FAILED' ? amount : null,
    creditNoteId: null,
  };
}
