import { Decimal } from 'decimal.js';
import { minorUnits } from '../money/index.ts';
import { append, type Discrepancy } from './checks.ts';
import type { ControlTotal } from './control-totals.ts';

/**
 * Checks further down the chain, from charged usage to cash, over facts read from the topics
 * (see checks.ts for the CDR side). Pure: the service reads, these judge.
 */

/** A charge on usage.charged, the fields these checks need. */
export interface ChargeFact {
  readonly eventId: string;
  readonly ratingVersion: number;
  readonly brand: string;
  readonly accountId: string;
  readonly subscriptionId: string;
  readonly periodStart: number;
  readonly currency: string;
  readonly amount: Decimal;
  readonly billableSeconds: number;
  readonly includedSeconds: number;
  readonly overageSeconds: number;
  readonly draws: readonly { bucketId: string; seconds: number }[];
}

/** A CDR's charge in its latest rating version: what the customer owes for it now. */
export function currentCharges(charges: readonly ChargeFact[]): ChargeFact[] {
  const latest = new Map<string, ChargeFact>();
  for (const c of charges) {
    const had = latest.get(c.eventId);
    if (!had || c.ratingVersion > had.ratingVersion) latest.set(c.eventId, c);
  }
  return [...latest.values()];
}

/**
 * Included seconds drawn plus overage make the billable seconds of every charge, and its draws
 * add up to the included seconds it reports.
 */
export function drawdownArithmetic(charges: readonly ChargeFact[]): Discrepancy[] {
  const wrong = charges.filter((c) => c.includedSeconds + c.overageSeconds !== c.billableSeconds || c.draws.reduce((s, d) => s + d.seconds, 0) !== c.includedSeconds);
  const byBrand = new Map<string, string[]>();
  for (const c of wrong) append(byBrand, c.brand, c.eventId);
  return [...byBrand].map(([brand, ids]) => ({ check: 'drawdown_arithmetic', scope: brand, expected: 'included + overage = billable seconds, draws = included', found: `${ids.length} charges off`, ids: ids.sort() }));
}

/** A charge's draws, with the plan version it was charged under (whose grants bound them). */
export interface DrawFact {
  readonly eventId: string;
  readonly brand: string;
  readonly subscriptionId: string;
  readonly periodStart: number;
  readonly planId: string;
  readonly planVersion: number;
  readonly draws: readonly { bucketId: string; seconds: number }[];
}

/**
 * Included seconds drawn never exceed those granted, per subscription, period and bucket: the
 * current charges' draws summed against the grants of the plan version they were charged under
 * (`grantsOf`: the plan's grants and the subscription's add-ons; undefined when the catalogue no
 * longer publishes the plan, and then the bucket is not judged). A draw from a bucket the plan
 * does not grant counts against a grant of 0.
 */
export function includedWithinGrants(charges: readonly DrawFact[], grantsOf: (subscriptionId: string, planId: string, planVersion: number) => readonly { bucketId: string; seconds: number }[] | undefined): Discrepancy[] {
  const buckets = new Map<string, { brand: string; subscriptionId: string; periodStart: number; bucketId: string; drawn: number; granted: number | undefined; ids: string[] }>();
  for (const c of charges) {
    const grants = grantsOf(c.subscriptionId, c.planId, c.planVersion);
    for (const d of c.draws) {
      const key = `${c.subscriptionId}|${c.periodStart}|${d.bucketId}`;
      const e = buckets.get(key) ?? { brand: c.brand, subscriptionId: c.subscriptionId, periodStart: c.periodStart, bucketId: d.bucketId, drawn: 0, granted: 0, ids: [] };
      e.drawn += d.seconds;
      e.ids.push(c.eventId);
      // A period re-rated onto another plan version keeps the larger grant: a bucket is judged against what it could have held.
      const granted = grants === undefined ? undefined : (grants.find((g) => g.bucketId === d.bucketId)?.seconds ?? 0);
      e.granted = e.granted === undefined || granted === undefined ? undefined : Math.max(e.granted, granted);
      buckets.set(key, e);
    }
  }
  const out: Discrepancy[] = [];
  for (const [, b] of [...buckets].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
    if (b.granted === undefined || b.drawn <= b.granted) continue;
    out.push({
      check: 'included_over_grant', scope: `${b.brand} ${b.subscriptionId} ${new Date(b.periodStart).toISOString().slice(0, 10)} ${b.bucketId}`,
      expected: `at most ${b.granted} s drawn (granted)`, found: `${b.drawn} s drawn by ${b.ids.length} charges`, ids: [...new Set(b.ids)].sort(),
    });
  }
  return out;
}

/** What an invoice says about one subscription's usage period: its usage and adjustment lines and its calls. */
export interface InvoicedUsageFact {
  readonly invoiceId: string;
  readonly brand: string;
  readonly subscriptionId: string;
  readonly currency: string;
  /** Usage and adjustment lines by the start of the usage period they are about. */
  readonly lines: readonly { periodStart: number; amount: Decimal; kind: string }[];
  /** The usage summaries' calls, for the period billed in arrears (null: none billed). */
  readonly usagePeriodStart: number | null;
  readonly calls: number;
  /** The usage summaries' billable seconds for that period (absent: not compared). */
  readonly seconds?: number;
}

/**
 * Charged usage in its current rating version = usage on invoices, per subscription and usage
 * period, for the periods an invoice billed in arrears: in money (usage lines plus the
 * adjustments that later invoices carry for late usage and re-rating, each line rounded once, so
 * the sums may differ by half a minor unit a line) and in calls.
 */
export function chargedVersusInvoiced(charges: readonly ChargeFact[], invoices: readonly InvoicedUsageFact[]): Discrepancy[] {
  type Charged = { amount: Decimal; calls: number; seconds: number; currency: string; brand: string; charges: ChargeFact[] };
  const charged = new Map<string, Charged>();
  for (const c of charges) {
    const key = `${c.subscriptionId}|${c.periodStart}`;
    const e = charged.get(key) ?? { amount: new Decimal(0), calls: 0, seconds: 0, currency: c.currency, brand: c.brand, charges: [] };
    e.amount = e.amount.plus(c.amount);
    e.calls += 1;
    e.seconds += c.billableSeconds;
    e.charges.push(c);
    charged.set(key, e);
  }
  const invoiced = new Map<string, { amount: Decimal; lines: number; calls: number; seconds: number | undefined; billed: boolean; invoiceIds: Set<string>; currency: string; brand: string }>();
  const entry = (i: InvoicedUsageFact, periodStart: number) => {
    const key = `${i.subscriptionId}|${periodStart}`;
    let e = invoiced.get(key);
    if (!e) invoiced.set(key, (e = { amount: new Decimal(0), lines: 0, calls: 0, seconds: 0, billed: false, invoiceIds: new Set(), currency: i.currency, brand: i.brand }));
    return e;
  };
  for (const i of invoices) {
    if (i.usagePeriodStart !== null) {
      const e = entry(i, i.usagePeriodStart);
      e.billed = true;
      e.calls += i.calls;
      e.seconds = e.seconds === undefined || i.seconds === undefined ? undefined : e.seconds + i.seconds;
      e.invoiceIds.add(i.invoiceId);
    }
    for (const l of i.lines) {
      const e = entry(i, l.periodStart);
      e.amount = e.amount.plus(l.amount);
      e.lines += 1;
      e.invoiceIds.add(i.invoiceId);
    }
  }
  const out: Discrepancy[] = [];
  for (const [key, inv] of [...invoiced].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!inv.billed) continue; // adjustments for a period billed before this run's range
    const [subscriptionId, start] = key.split('|') as [string, string];
    const ch = charged.get(key) ?? { amount: new Decimal(0), calls: 0, seconds: 0, currency: inv.currency, brand: inv.brand, charges: [] };
    const halfMinor = new Decimal(10).pow(-minorUnits(inv.currency)).dividedBy(2);
    const tolerance = halfMinor.times(Math.max(1, inv.lines));
    const scope = `${inv.brand} ${subscriptionId} ${new Date(Number(start)).toISOString().slice(0, 10)}`;
    // One call more charged than invoiced: the charges whose money and seconds are exactly what the invoices lack are the ones to look at.
    const lacking = ch.calls - inv.calls !== 1 ? [] : ch.charges.filter((c) => c.amount.minus(ch.amount.minus(inv.amount)).abs().lte(tolerance) && (inv.seconds === undefined || c.billableSeconds === ch.seconds - inv.seconds));
    const ids = [...[...inv.invoiceIds].sort(), ...lacking.map((c) => c.eventId).sort()];
    if (ch.amount.minus(inv.amount).abs().gt(tolerance)) {
      out.push({ check: 'charged_vs_invoiced', scope, expected: `usage ${ch.amount.toFixed(minorUnits(inv.currency))} ${inv.currency} (charged, ${ch.calls} calls)`, found: `${inv.amount.toFixed(minorUnits(inv.currency))} on invoices`, ids });
    } else if (ch.calls !== inv.calls) {
      out.push({ check: 'charged_vs_invoiced', scope, expected: `${ch.calls} calls (charged)`, found: `${inv.calls} calls on invoices`, ids });
    }
  }
  return out;
}

/** What a charge's rating gave live, and what the pure rating code gives for it now. */
export interface RerateFact {
  readonly eventId: string;
  readonly brand: string;
  readonly live: { ruleId: string; ruleVersion: number; billableSeconds: number };
  /** null: the rules now reject the call. */
  readonly offline: { ruleId: string; ruleVersion: number; billableSeconds: number } | null;
}

/** The same rule version must give the same billable seconds offline: a rule edited in place drifts. */
export function ratingDrift(sample: readonly RerateFact[]): Discrepancy[] {
  const drifted = sample.filter((s) => s.offline === null || s.offline.billableSeconds !== s.live.billableSeconds || s.offline.ruleId !== s.live.ruleId || s.offline.ruleVersion !== s.live.ruleVersion);
  const byBrand = new Map<string, RerateFact[]>();
  for (const s of drifted) append(byBrand, s.brand, s);
  return [...byBrand].map(([brand, list]) => {
    const first = list[0]!;
    const offline = first.offline === null ? 'rejected' : `${first.offline.ruleId} v${first.offline.ruleVersion}: ${first.offline.billableSeconds} s`;
    return { check: 'rating_drift', scope: brand, expected: `offline re-rating gives the live figures (${first.live.ruleId} v${first.live.ruleVersion}: ${first.live.billableSeconds} s)`, found: `${list.length} of ${sample.filter((s) => s.brand === brand).length} sampled differ (first: ${offline})`, ids: list.map((s) => s.eventId).sort() };
  });
}

/**
 * Live charges (rating version 1, which only drawdown writes) per brand and local day of the call
 * against drawdown's control totals for that day: calls, billable seconds and money per currency.
 * A charge written to usage.charged by anything else, or a figure drawdown lost, shows here.
 */
export function chargedVersusControl(control: readonly ControlTotal[], charges: readonly { eventId: string; ratingVersion: number; brand: string; day: string; currency: string; amount: Decimal; billableSeconds: number }[]): Discrepancy[] {
  type Side = { calls: number; seconds: number; money: Map<string, Decimal> };
  const empty = (): Side => ({ calls: 0, seconds: 0, money: new Map() });
  const topic = new Map<string, Side>();
  const seen = new Set<string>();
  for (const c of charges) {
    if (c.ratingVersion !== 1 || seen.has(c.eventId)) continue;
    seen.add(c.eventId);
    const key = `${c.brand} ${c.day}`;
    const e = topic.get(key) ?? empty();
    e.calls += 1;
    e.seconds += c.billableSeconds;
    e.money.set(c.currency, (e.money.get(c.currency) ?? new Decimal(0)).plus(c.amount));
    topic.set(key, e);
  }
  const counted = new Map<string, Side>();
  for (const t of control) {
    if (t.stage !== 'drawdown' || t.scopeKind !== 'brand') continue;
    const money = new Map(Object.entries(t.figures.amounts).filter(([k]) => k.startsWith('charged ')).map(([k, v]) => [k.slice('charged '.length), v] as const));
    counted.set(`${t.scope} ${t.day}`, { calls: t.figures.counts['charged'] ?? 0, seconds: t.figures.seconds['billable'] ?? 0, money });
  }
  const out: Discrepancy[] = [];
  const describe = (s: Side) => `${s.calls} calls, ${s.seconds} s, ${[...s.money].sort().map(([c, v]) => `${v.toFixed(2)} ${c}`).join(', ') || 'no money'}`;
  for (const key of [...new Set([...topic.keys(), ...counted.keys()])].sort()) {
    const a = counted.get(key) ?? empty();
    const b = topic.get(key) ?? empty();
    const currencies = new Set([...a.money.keys(), ...b.money.keys()]);
    const moneyOff = [...currencies].some((c) => !(a.money.get(c) ?? new Decimal(0)).eq(b.money.get(c) ?? new Decimal(0)));
    if (a.calls !== b.calls || a.seconds !== b.seconds || moneyOff) {
      out.push({ check: 'charged_vs_control', scope: key, expected: `${describe(a)} (drawdown's control total)`, found: `${describe(b)} on usage.charged`, ids: [] });
    }
  }
  return out;
}

/** Invoice events per brand and local issue day, against the bill run's control totals for that day. */
export function invoicesVersusControl(control: readonly ControlTotal[], invoices: readonly { invoiceId: string; brand: string; day: string; currency: string; total: Decimal }[]): Discrepancy[] {
  const published = new Map<string, { count: number; totals: Map<string, Decimal> }>();
  for (const i of invoices) {
    const key = `${i.brand} ${i.day}`;
    const e = published.get(key) ?? { count: 0, totals: new Map<string, Decimal>() };
    e.count += 1;
    e.totals.set(i.currency, (e.totals.get(i.currency) ?? new Decimal(0)).plus(i.total));
    published.set(key, e);
  }
  const out: Discrepancy[] = [];
  for (const t of control) {
    if (t.stage !== 'bill-run' || t.scopeKind !== 'brand') continue;
    const key = `${t.scope} ${t.day}`;
    const p = published.get(key) ?? { count: 0, totals: new Map<string, Decimal>() };
    const count = t.figures.counts['invoices'] ?? 0;
    const money = Object.entries(t.figures.amounts).filter(([k]) => k.startsWith('invoiced ')).map(([k, v]) => [k.slice('invoiced '.length), v] as const);
    const off = money.filter(([c, v]) => !(p.totals.get(c) ?? new Decimal(0)).eq(v));
    if (count !== p.count || off.length > 0) {
      out.push({
        check: 'invoices_vs_control', scope: key,
        expected: `${count} invoices of ${money.map(([c, v]) => `${v.toFixed(2)} ${c}`).join(', ') || 'nothing'} (bill-run's control total)`,
        found: `${p.count} published${off.length > 0 ? `, ${off.map(([c]) => `${(p.totals.get(c) ?? new Decimal(0)).toFixed(2)} ${c}`).join(', ')}` : ''}`,
        ids: [],
      });
    }
  }
  return out;
}

/** A payment event as the cash checks read it. */
export interface PaymentFact {
  readonly eventId: string;
  readonly invoiceId: string;
  readonly brand: string;
  readonly kind: string;
  readonly status: string;
  readonly currency: string;
  readonly amount: Decimal;
  readonly creditBalanceChange: Decimal | null;
  readonly creditNoteId: string | null;
}

/** Per brand and currency: invoiced, and where the money asked for stands. */
export interface CashSummary {
  readonly brand: string;
  readonly currency: string;
  readonly invoiced: Decimal;
  readonly paid: Decimal;
  readonly credited: Decimal;
  readonly toCreditBalance: Decimal;
  readonly open: Decimal;
}

/**
 * invoiced (amount due) = paid (charges and manual payments less refunds) + credited (credit
 * notes) + open, where money beyond what an invoice asks moved to the customer's credit balance
 * (the payment event says how much). Per invoice, what it holds may never go above what it asks
 * or below zero: that is the finding; the brand's sums make the report's summary line.
 */
export function cashPosition(invoices: readonly { invoiceId: string; brand: string; currency: string; amountDue: Decimal }[], payments: readonly PaymentFact[]): { summaries: CashSummary[]; discrepancies: Discrepancy[] } {
  const held = new Map<string, { paid: Decimal; credited: Decimal; moved: Decimal; ids: string[] }>();
  for (const p of payments) {
    const e = held.get(p.invoiceId) ?? { paid: new Decimal(0), credited: new Decimal(0), moved: new Decimal(0), ids: [] };
    if ((p.kind === 'charge' || p.kind === 'manual') && p.status === 'SUCCEEDED') e.paid = e.paid.plus(p.amount);
    // A refund a credit note asked for is inside the credit note's own event: not counted twice.
    if (p.kind === 'refund' && p.status === 'REFUNDED' && p.creditNoteId === null) e.paid = e.paid.minus(p.amount);
    if (p.kind === 'credit_note' && p.status === 'SUCCEEDED') e.credited = e.credited.plus(p.amount);
    if (p.kind !== 'credit_refund' && p.creditBalanceChange !== null) e.moved = e.moved.plus(p.creditBalanceChange);
    e.ids.push(p.eventId);
    held.set(p.invoiceId, e);
  }
  const sums = new Map<string, { brand: string; currency: string; invoiced: Decimal; paid: Decimal; credited: Decimal; moved: Decimal }>();
  const discrepancies: Discrepancy[] = [];
  for (const i of invoices) {
    const h = held.get(i.invoiceId) ?? { paid: new Decimal(0), credited: new Decimal(0), moved: new Decimal(0), ids: [] };
    const settled = h.paid.plus(h.credited).minus(h.moved);
    if (settled.gt(i.amountDue) || settled.lt(0)) {
      discrepancies.push({ check: 'invoice_overpaid', scope: `${i.brand} ${i.invoiceId}`, expected: `between 0 and ${i.amountDue.toFixed(2)} ${i.currency} held against the invoice`, found: `${settled.toFixed(2)} (paid ${h.paid.toFixed(2)}, credited ${h.credited.toFixed(2)}, to credit balance ${h.moved.toFixed(2)})`, ids: [i.invoiceId, ...h.ids.sort()] });
    }
    const key = `${i.brand} ${i.currency}`;
    const s = sums.get(key) ?? { brand: i.brand, currency: i.currency, invoiced: new Decimal(0), paid: new Decimal(0), credited: new Decimal(0), moved: new Decimal(0) };
    s.invoiced = s.invoiced.plus(i.amountDue);
    s.paid = s.paid.plus(h.paid);
    s.credited = s.credited.plus(h.credited);
    s.moved = s.moved.plus(h.moved);
    sums.set(key, s);
  }
  const summaries = [...sums.values()].map((s) => ({ brand: s.brand, currency: s.currency, invoiced: s.invoiced, paid: s.paid, credited: s.credited, toCreditBalance: s.moved, open: s.invoiced.minus(s.paid).minus(s.credited).plus(s.moved) }));
  return { summaries, discrepancies };
}
