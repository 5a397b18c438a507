import { Decimal } from 'decimal.js';
import { localDateOf, periodFor } from '../periods/index.ts';
import { roundToMinor } from '../money/index.ts';
import type { RoundingMode } from '../money/index.ts';
import type { Invoice, InvoiceLineKind } from '../invoicing/index.ts';
import { CommissionError } from './types.ts';
import type {
  AgentStatement,
  CommissionBrand,
  CommissionInput,
  CommissionLine,
  CommissionRule,
  CommissionSubscription,
  StatementTotal,
} from './types.ts';

/**
 * Subscription revenue: the fee, its commitment discount, prorations (trial end, plan
 * changes) and cancellation credits. Not usage, not re-rating adjustments, not taxes.
 */
export const COMMISSIONABLE_KINDS: ReadonlySet<InvoiceLineKind> = new Set<InvoiceLineKind>([
  'subscription_fee',
  'discount',
  'proration',
  'credit',
]);

const SCALE = 6;
const scale6 = (d: Decimal): Decimal => d.toDecimalPlaces(SCALE, Decimal.ROUND_HALF_EVEN);
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function decimal(value: Decimal | string, what: string, problems: string[]): Decimal | null {
  try {
    const d = new Decimal(value);
    if (!d.isFinite()) throw new Error('not finite');
    return d;
  } catch {
    problems.push(`${what} "${String(value)}" is not a decimal`);
    return null;
  }
}

interface Checked {
  readonly brands: Map<string, CommissionBrand>;
  readonly rules: Map<string, { rule: CommissionRule; initial: Decimal; recurring: Decimal }>;
  readonly subscriptions: Map<string, CommissionSubscription>;
  readonly invoices: Map<string, Invoice>;
}

function check(input: CommissionInput): Checked {
  const problems: string[] = [];
  const brands = new Map<string, CommissionBrand>();
  for (const b of input.brands) {
    if (brands.has(b.code)) problems.push(`brand ${b.code} given twice`);
    brands.set(b.code, b);
  }
  const rules: Checked['rules'] = new Map();
  const ruleBrands = new Set<string>();
  input.rules.forEach((rule, i) => {
    const at = `rules[${i}] (${rule.brand})`;
    if (ruleBrands.has(rule.brand)) problems.push(`${at}: a second rule for the brand`);
    ruleBrands.add(rule.brand);
    if (!brands.has(rule.brand)) problems.push(`${at}: unknown brand`);
    if (!Number.isSafeInteger(rule.initialMonths) || rule.initialMonths < 0) {
      problems.push(`${at}.initialMonths ${rule.initialMonths} is not an integer ≥ 0`);
    }
    const initial = decimal(rule.initialPercent, `${at}.initialPercent`, problems);
    const recurring = decimal(rule.recurringPercent, `${at}.recurringPercent`, problems);
    for (const [name, p] of [['initialPercent', initial], ['recurringPercent', recurring]] as const) {
      if (p && (p.isNegative() || p.greaterThan(100))) problems.push(`${at}.${name} ${p.toString()} is not within 0-100`);
    }
    if (initial && recurring) rules.set(rule.brand, { rule, initial, recurring });
  });
  const subscriptions = new Map<string, CommissionSubscription>();
  for (const s of input.subscriptions) {
    if (subscriptions.has(s.subscriptionId)) problems.push(`subscription ${s.subscriptionId} given twice`);
    subscriptions.set(s.subscriptionId, s);
  }
  const invoices = new Map<string, Invoice>();
  for (const inv of input.invoices) {
    if (invoices.has(inv.invoiceId)) problems.push(`invoice ${inv.invoiceId} given twice`);
    invoices.set(inv.invoiceId, inv);
    if (!brands.has(inv.brand)) problems.push(`invoice ${inv.invoiceId}: unknown brand ${inv.brand}`);
    if (!subscriptions.has(inv.subscriptionId)) {
      problems.push(`invoice ${inv.invoiceId}: unknown subscription ${inv.subscriptionId} (its agent is needed)`);
    }
  }
  const refundIds = new Set<string>();
  for (const r of input.refunds) {
    const at = `refund ${r.refundId}`;
    if (refundIds.has(r.refundId)) problems.push(`${at} given twice`);
    refundIds.add(r.refundId);
    const inv = invoices.get(r.invoiceId);
    const amount = decimal(r.amount, `${at}.amount`, problems);
    if (!inv) problems.push(`${at}: invoice ${r.invoiceId} is not among the invoices`);
    if (!(r.refundedAt instanceof Date) || Number.isNaN(r.refundedAt.getTime())) problems.push(`${at}.refundedAt is not an instant`);
    if (amount && !amount.isPositive()) problems.push(`${at}.amount must be positive`);
    if (amount && inv && (!inv.total.isPositive() || amount.greaterThan(inv.total))) {
      problems.push(`${at}: ${amount.toString()} is more than invoice ${inv.invoiceId}'s total ${inv.total.toString()}`);
    }
  }
  if (problems.length > 0) {
    throw new CommissionError('invalid_commission_input', `invalid commission input: ${problems.join('; ')}`, problems);
  }
  return { brands, rules, subscriptions, invoices };
}

function invoiceLine(inv: Invoice, c: Checked): CommissionLine | null {
  const rule = c.rules.get(inv.brand);
  const sub = c.subscriptions.get(inv.subscriptionId);
  const brand = c.brands.get(inv.brand);
  if (!rule || !sub || sub.agentId === null || !brand) return null;
  const lines = inv.lines.filter((l) => COMMISSIONABLE_KINDS.has(l.kind));
  if (lines.length === 0) return null;
  let initialBase = new Decimal(0);
  let recurringBase = new Decimal(0);
  for (const l of lines) {
    // The revenue's own period decides the rate: a proration billed in arrears belongs to
    // the period just ended, not to the period the invoice opens.
    const index = periodFor(sub.anchor, l.periodStart, brand.timeZone).index;
    if (index < rule.rule.initialMonths) initialBase = initialBase.plus(l.amount);
    else recurringBase = recurringBase.plus(l.amount);
  }
  const commission = scale6(
    initialBase.times(rule.initial).dividedBy(100).plus(recurringBase.times(rule.recurring).dividedBy(100)),
  );
  return {
    lineId: `invoice:${inv.invoiceId}`,
    kind: 'invoice',
    agentId: sub.agentId,
    brand: inv.brand,
    month: inv.taxPoint.slice(0, 7),
    invoiceId: inv.invoiceId,
    invoiceNumber: inv.invoiceNumber,
    subscriptionId: inv.subscriptionId,
    accountId: inv.accountId,
    currency: inv.currency,
    initialBase,
    recurringBase,
    initialPercent: rule.initial,
    recurringPercent: rule.recurring,
    commission,
  };
}

/**
 * Every commission line the input gives: one per invoice that carries subscription revenue
 * of an agent-sold subscription in a brand with a rule, and one per refund of such an
 * invoice, reversing the refunded share of its commission in the refund's month.
 */
export function commissionLines(input: CommissionInput): CommissionLine[] {
  const checked = check(input);
  const byInvoice = new Map<string, CommissionLine>();
  const out: CommissionLine[] = [];
  for (const inv of input.invoices) {
    const line = invoiceLine(inv, checked);
    if (line) {
      byInvoice.set(inv.invoiceId, line);
      out.push(line);
    }
  }
  for (const r of input.refunds) {
    const original = byInvoice.get(r.invoiceId);
    const inv = checked.invoices.get(r.invoiceId);
    const brand = inv ? checked.brands.get(inv.brand) : undefined;
    if (!original || !inv || !brand) continue; // the invoice earned nothing: nothing to reverse
    // A refund gives back its share of the whole invoice (tax and usage included), so it
    // reverses that share of the invoice's commission.
    const share = new Decimal(r.amount).dividedBy(inv.total);
    out.push({
      ...original,
      lineId: `refund:${r.refundId}`,
      kind: 'refund',
      month: localDateOf(r.refundedAt, brand.timeZone).slice(0, 7),
      initialBase: scale6(original.initialBase.times(share).negated()),
      recurringBase: scale6(original.recurringBase.times(share).negated()),
      commission: scale6(original.commission.times(share).negated()),
    });
  }
  return out;
}

/**
 * An agent's statement for a month: its lines (by brand, then line id), and per currency
 * the sum of the unrounded commissions, rounded once to minor units with `roundingMode`.
 */
export function agentStatement(
  lines: readonly CommissionLine[],
  agentId: string,
  month: string,
  roundingMode: RoundingMode,
): AgentStatement {
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) {
    throw new CommissionError('invalid_commission_input', `month "${month}" is not YYYY-MM`);
  }
  const mine = lines
    .filter((l) => l.agentId === agentId && l.month === month)
    .sort((a, b) => cmp(a.brand, b.brand) || cmp(a.lineId, b.lineId));
  const sums = new Map<string, { base: Decimal; commission: Decimal }>();
  for (const l of mine) {
    const s = sums.get(l.currency) ?? { base: new Decimal(0), commission: new Decimal(0) };
    sums.set(l.currency, {
      base: s.base.plus(l.initialBase).plus(l.recurringBase),
      commission: s.commission.plus(l.commission),
    });
  }
  const totals: StatementTotal[] = [...sums.entries()]
    .sort(([a], [b]) => cmp(a, b))
    .map(([currency, s]) => ({
      currency,
      base: s.base,
      unroundedCommission: s.commission,
      commission: roundToMinor(s.commission, currency, roundingMode),
    }));
  return { agentId, month, roundingMode, lines: mine, totals };
}

/** Every agent's statement for a month, by agent id. */
export function monthlyStatements(input: CommissionInput, month: string, roundingMode: RoundingMode): AgentStatement[] {
  const lines = commissionLines(input);
  const agents = [...new Set(lines.filter((l) => l.month === month).map((l) => l.agentId))].sort(cmp);
  return agents.map((agentId) => agentStatement(lines, agentId, month, roundingMode));
}
