import { Decimal } from 'decimal.js';
import { minorUnits } from '../money/index.ts';

/**
 * Revenue assurance: pure checks that the chain's records agree with each other, over plain
 * facts read from the topics. Each finding names what was expected, what was found and the ids
 * to look at; a clean input gives none.
 */
export interface Discrepancy {
  /** cdr_balance, cdr_double_charge, invoice_arithmetic, invoice_numbering, payment_without_invoice. */
  readonly check: string;
  /** Where: a source and day, a brand, an invoice. */
  readonly scope: string;
  readonly expected: string;
  readonly found: string;
  readonly ids: readonly string[];
}

/** Appends to the list under a key (a spread per record makes grouping a brand's records quadratic). */
export function append<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** One record on cdr.raw: its source and CDR id (the record key), and the UTC day it arrived. */
export interface RawCdrFact {
  readonly source: string;
  readonly cdrId: string;
  readonly day: string;
}

/** One outcome of a CDR: charged (usage.charged, any rating version) or rejected (cdr.rejected). */
export interface CdrOutcomeFact {
  readonly source: string;
  readonly cdrId: string;
  readonly kind: 'charged' | 'rejected';
  readonly eventId: string;
  readonly ratingVersion: number;
}

/**
 * Every CDR in ends in exactly one place (DESIGN invariant 1): per source and day, the records
 * in equal the outcomes (a CDR sent twice is charged once and rejected once as a duplicate), and
 * no CDR is charged under two event ids in one rating version. A re-rating's later version of
 * the same charge is the same outcome, not a second one.
 */
export function cdrBalance(raw: readonly RawCdrFact[], outcomes: readonly CdrOutcomeFact[]): Discrepancy[] {
  const out: Discrepancy[] = [];
  const byCdr = new Map<string, { charged: Map<number, Set<string>>; rejected: Set<string> }>();
  for (const o of outcomes) {
    const key = `${o.source}/${o.cdrId}`;
    const entry = byCdr.get(key) ?? { charged: new Map<number, Set<string>>(), rejected: new Set<string>() };
    if (o.kind === 'rejected') entry.rejected.add(o.eventId);
    else {
      const ids = entry.charged.get(o.ratingVersion) ?? new Set<string>();
      ids.add(o.eventId);
      entry.charged.set(o.ratingVersion, ids);
    }
    byCdr.set(key, entry);
  }
  const rawByCdr = new Map<string, RawCdrFact[]>();
  for (const r of raw) {
    const key = `${r.source}/${r.cdrId}`;
    append(rawByCdr, key, r);
  }
  const groups = new Map<string, { in: number; out: number; missing: string[]; extra: string[] }>();
  for (const [key, records] of rawByCdr) {
    const entry = byCdr.get(key);
    const charged = entry && entry.charged.size > 0 ? 1 : 0;
    const outcomesOfCdr = charged + (entry?.rejected.size ?? 0);
    const first = records[0]!;
    const scope = `${first.source} ${first.day}`;
    const g = groups.get(scope) ?? { in: 0, out: 0, missing: [], extra: [] };
    g.in += records.length;
    g.out += outcomesOfCdr;
    if (outcomesOfCdr < records.length) g.missing.push(first.cdrId);
    if (outcomesOfCdr > records.length) g.extra.push(first.cdrId);
    groups.set(scope, g);
    for (const [version, ids] of entry?.charged ?? []) {
      if (ids.size > 1) out.push({ check: 'cdr_double_charge', scope: `${first.source} ${first.cdrId}`, expected: `one charge in rating version ${version}`, found: `${ids.size} charges`, ids: [...ids].sort() });
    }
  }
  for (const [scope, g] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (g.in !== g.out) {
      out.push({ check: 'cdr_balance', scope, expected: `${g.in} CDRs charged or rejected`, found: `${g.out} outcomes`, ids: [...g.missing, ...g.extra].sort() });
    }
  }
  return out;
}

/** An invoice as published (brand.<code>.invoices), its amounts as decimals. */
export interface InvoiceFact {
  readonly invoiceId: string;
  readonly invoiceNumber: string;
  readonly brand: string;
  readonly currency: string;
  readonly lines: readonly Decimal[];
  readonly taxes: readonly Decimal[];
  readonly subtotal: Decimal;
  readonly taxTotal: Decimal;
  readonly total: Decimal;
  readonly creditApplied: Decimal;
  readonly amountDue: Decimal;
}

/** Lines + taxes = totals in minor units, and the amount due follows from the total and the credit applied. */
export function invoiceArithmetic(invoices: readonly InvoiceFact[]): Discrepancy[] {
  const out: Discrepancy[] = [];
  const sum = (xs: readonly Decimal[]) => xs.reduce((a, b) => a.plus(b), new Decimal(0));
  for (const inv of invoices) {
    const scope = `${inv.brand} ${inv.invoiceNumber}`;
    const found = (check: boolean, expected: string, got: string) => {
      if (!check) out.push({ check: 'invoice_arithmetic', scope, expected, found: got, ids: [inv.invoiceId] });
    };
    const digits = minorUnits(inv.currency);
    const notMinor = [...inv.lines, ...inv.taxes, inv.subtotal, inv.taxTotal, inv.total, inv.creditApplied, inv.amountDue].filter((a) => a.decimalPlaces() > digits);
    found(notMinor.length === 0, `amounts in minor units of ${inv.currency}`, notMinor.map((a) => a.toFixed()).join(', '));
    found(sum(inv.lines).eq(inv.subtotal), `subtotal ${sum(inv.lines).toFixed(digits)} (the lines' sum)`, `subtotal ${inv.subtotal.toFixed(digits)}`);
    found(sum(inv.taxes).eq(inv.taxTotal), `tax total ${sum(inv.taxes).toFixed(digits)} (the taxes' sum)`, `tax total ${inv.taxTotal.toFixed(digits)}`);
    found(inv.subtotal.plus(inv.taxTotal).eq(inv.total), `total ${inv.subtotal.plus(inv.taxTotal).toFixed(digits)} (subtotal + tax)`, `total ${inv.total.toFixed(digits)}`);
    const due = Decimal.max(0, inv.total.minus(inv.creditApplied));
    found(due.eq(inv.amountDue), `amount due ${due.toFixed(digits)} (total − credit applied, not below zero)`, `amount due ${inv.amountDue.toFixed(digits)}`);
  }
  return out;
}

/** Each brand's numbers run without gaps or repeats between its first and its last (the number's trailing digits). */
export function invoiceNumbering(invoices: readonly Pick<InvoiceFact, 'invoiceId' | 'invoiceNumber' | 'brand'>[]): Discrepancy[] {
  const out: Discrepancy[] = [];
  const byBrand = new Map<string, { n: number; invoiceId: string; number: string }[]>();
  for (const inv of invoices) {
    const digits = /(\d+)$/.exec(inv.invoiceNumber);
    if (!digits) {
      out.push({ check: 'invoice_numbering', scope: inv.brand, expected: 'a number ending in digits', found: inv.invoiceNumber, ids: [inv.invoiceId] });
      continue;
    }
    append(byBrand, inv.brand, { n: Number(digits[1]), invoiceId: inv.invoiceId, number: inv.invoiceNumber });
  }
  for (const [brand, list] of [...byBrand].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const seen = new Map<number, string[]>();
    for (const x of list) append(seen, x.n, x.invoiceId);
    for (const [n, ids] of seen) {
      const distinct = [...new Set(ids)];
      if (distinct.length > 1) out.push({ check: 'invoice_numbering', scope: brand, expected: `number ${n} on one invoice`, found: `${distinct.length} invoices`, ids: distinct.sort() });
    }
    const numbers = [...seen.keys()].sort((a, b) => a - b);
    const missing: number[] = [];
    for (let n = numbers[0]!; n <= numbers[numbers.length - 1]!; n++) if (!seen.has(n)) missing.push(n);
    if (missing.length > 0) {
      out.push({ check: 'invoice_numbering', scope: brand, expected: `numbers ${numbers[0]} to ${numbers[numbers.length - 1]} without gaps`, found: `${missing.length} missing: ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''}`, ids: [] });
    }
  }
  return out;
}

/** A payment event (brand.<code>.payments) about an invoice never published is money with no bill. */
export function paymentsWithoutInvoice(invoiceIds: ReadonlySet<string>, payments: readonly { eventId: string; invoiceId: string; brand: string; kind: string }[]): Discrepancy[] {
  // A credit refund's part no card could take names its request, not an invoice.
  const orphans = payments.filter((p) => !invoiceIds.has(p.invoiceId) && !(p.kind === 'credit_refund' && p.invoiceId.startsWith('credit-refund-')));
  const byBrand = new Map<string, string[]>();
  for (const p of orphans) append(byBrand, p.brand, p.eventId);
  return [...byBrand].map(([brand, ids]) => ({ check: 'payment_without_invoice', scope: brand, expected: 'every payment about a published invoice', found: `${ids.length} payment events about unknown invoices`, ids: ids.sort() }));
}

/**
 * Charges whose CDR never arrived on cdr.raw: written straight to usage.charged, or their CDR
 * lost upstream. Either way money no CDR proves.
 */
export function chargesWithoutCdr(rawKeys: ReadonlySet<string>, charges: readonly { source: string; cdrId: string; eventId: string }[]): Discrepancy[] {
  const bySource = new Map<string, Set<string>>();
  for (const c of charges) {
    if (rawKeys.has(`${c.source}/${c.cdrId}`)) continue;
    bySource.set(c.source, (bySource.get(c.source) ?? new Set<string>()).add(c.eventId));
  }
  return [...bySource]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([source, ids]) => ({ check: 'charge_without_cdr', scope: source, expected: 'every charge of a CDR that arrived on cdr.raw', found: `${ids.size} charges of CDRs never received`, ids: [...ids].sort() }));
}

/**
 * One event published twice (an outbox re-send, a producer retry) must say the same both times:
 * a later copy that differs was edited or written by something else. `fingerprint` is what must
 * not change (money, seconds, lines; not the time it was sent).
 */
export function changedCopies(check: string, scope: string, copies: readonly { id: string; fingerprint: string }[]): Discrepancy[] {
  const first = new Map<string, string>();
  const changed = new Set<string>();
  for (const c of copies) {
    const had = first.get(c.id);
    if (had === undefined) first.set(c.id, c.fingerprint);
    else if (had !== c.fingerprint) changed.add(c.id);
  }
  if (changed.size === 0) return [];
  return [{ check, scope, expected: 'every copy of an event the same', found: `${changed.size} published again with other content`, ids: [...changed].sort() }];
}
