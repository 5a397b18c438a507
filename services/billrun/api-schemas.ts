/**
 * The bodies of bill-run's API answers, one definition for OpenAPI and for the suites'
 * response check (runtime/json-schema.ts). Amounts are decimal strings.
 */
import { answer, arrayOf, boolean, currency, decimal, instant, integer, nullable, object, text } from '../../runtime/json-schema.ts';

const invoiced = object({ invoiceId: text, invoiceNumber: text, subscriptionId: text, periodIndex: integer, total: decimal, currency, creditApplied: decimal, amountDue: decimal });
const held = object({ subscriptionId: text, periodIndex: integer, code: text, message: text }, { description: 'A subscription not billed this run, with why; the others billed' });

export const billRunReportBody = answer(
  'The run report: per brand what was invoiced and held, and where the time went',
  object({
    at: instant,
    brands: arrayOf(object({ brand: text, invoiced: arrayOf(invoiced), held: arrayOf(held), warnings: arrayOf(text), creditRefunds: arrayOf(object({ accountId: text, currency, amount: decimal })), stopped: boolean }, { optional: ['creditRefunds'] })),
    invoices: integer,
    held: integer,
    published: integer,
    failed: arrayOf(object({ brand: text, error: text })),
    usageWait: object({ ms: integer, drained: boolean }),
    ms: object({ sync: integer, bill: integer, publish: integer }),
  }),
);

/** The stored copy of an invoice as issued (unrounded amounts kept for audit); lines, taxes and summaries as the invoice event has them. */
export const storedInvoiceBody = object(
  {
    invoiceId: text,
    invoiceNumber: text,
    brand: text,
    accountId: text,
    subscriptionId: text,
    kind: text,
    periodIndex: integer,
    periodStart: instant,
    periodEnd: instant,
    issuedAt: instant,
    dueAt: instant,
    taxPoint: text,
    currency,
    lines: arrayOf(object({ lineId: text, amount: decimal, unroundedAmount: decimal }, { open: true })),
    usageSummaries: arrayOf(object({ usageType: text, calls: integer, billableUnits: decimal, includedUnits: decimal, overageUnits: decimal, amount: decimal }, { open: true })),
    taxes: arrayOf(object({ taxCode: text, name: text, rate: decimal, taxableAmount: decimal, amount: decimal }, { open: true })),
    subtotal: decimal,
    taxTotal: decimal,
    total: decimal,
    creditApplied: decimal,
    notes: arrayOf(text),
  },
  { open: true, description: 'The stored invoice (.json)' },
);

export const commissionStatementsBody = answer(
  "Agents' statements of the month (amounts unrounded on lines, rounded once on the totals)",
  object({
    statements: arrayOf(
      object({
        agentId: text,
        month: text,
        roundingMode: text,
        lines: arrayOf(object({ lineId: text, kind: { type: 'string', enum: ['invoice', 'refund'] }, agentId: text, brand: text, month: text, invoiceId: text, invoiceNumber: nullable(text), subscriptionId: text, accountId: text, currency, initialBase: decimal, recurringBase: decimal, initialPercent: decimal, recurringPercent: decimal, commission: decimal })),
        totals: arrayOf(object({ currency, base: decimal, unroundedCommission: decimal, commission: decimal })),
      }),
    ),
  }),
);

export const creditStatementBody = answer(
  "An account's balances (the sums of its entries) and its ledger entries in order",
  object({
    accountId: text,
    brand: text,
    balances: arrayOf(object({ currency, balance: decimal })),
    entries: arrayOf(object({ entryId: text, currency, source: text, amount: decimal, invoiceId: nullable(text), reference: nullable(text), recordedBy: nullable(text), at: instant })),
  }),
);

export const payoutRecordedBody = answer('Recorded; the balance after it', object({ entryId: text, balance: decimal }));
export const payoutAlreadyRecordedBody = answer('This reference was recorded before; nothing changed', object({ entryId: text, duplicate: { const: true } }));

/** A row of GET /invoices (the bill-run's own columns, as stored). */
export const invoiceListingBody = answer(
  'Invoices issued, oldest number first',
  object({
    invoices: arrayOf(
      object({
        invoice_id: text,
        invoice_number: text,
        brand: text,
        account_id: text,
        subscription_id: text,
        period_index: integer,
        kind: text,
        issued_at: instant,
        due_at: instant,
        currency,
        total: decimal,
        published_at: nullable(instant),
      }),
    ),
  }),
);

export const billRunSummaryBody = answer(
  'One entry per brand with anything to show: billings due now, billings held (the latest 20 with their reasons), invoices issued since the instant',
  object({
    brands: arrayOf(
      object({
        brand: text,
        due: integer,
        held: integer,
        issuedSince: integer,
        holds: arrayOf(object({ subscriptionId: text, periodIndex: integer, code: text, message: text, firstSeen: instant, lastSeen: instant })),
      }),
    ),
  }),
);
