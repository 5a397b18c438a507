import { Decimal } from 'decimal.js';
import type { Invoice } from '../domain/invoicing/index.ts';
import type { PriceModel } from '../domain/pricing/index.ts';
import { toPriceModel, type Brand, type Customer, type Plan } from '../domain/reference/index.ts';
import type { BrandBranding, CustomerBlock } from './types.ts';
import type { InvoiceEvent } from '../contracts/invoice.ts';

/** The SVG logo's box on the page when the catalogue gives no size. */
const LOGO_BOX = { width: 160, height: 40 };

/**
 * A brand's document branding from its `ref.brands` record. A brand without branding gets a
 * plain layout under its own name, so an invoice can always be rendered.
 */
export function brandingFromReference(brand: Brand, template = 'standard'): BrandBranding {
  const b = brand.branding;
  const displayName = b?.displayName ?? brand.name;
  const address = b?.address ?? { line1: brand.name, line2: null, city: brand.country, region: null, postalCode: '', country: brand.country };
  return {
    brandCode: brand.code,
    template,
    displayName,
    legalName: b?.legalName ?? brand.name,
    logo: b?.logoSvg ? { kind: 'svg', svg: b.logoSvg, ...LOGO_BOX } : null,
    primaryColour: b?.primaryColor ?? '#333333',
    accentColour: b?.accentColor ?? '#999999',
    address,
    taxRegistrations: [],
    supportEmail: b?.supportEmail ?? `billing@${brand.code}.invalid`,
    emailFrom: { name: displayName, address: b?.supportEmail ?? `billing@${brand.code}.invalid` },
    footerText: b?.footer ?? '',
    locale: b?.locale ?? 'en-US',
    timeZone: brand.timeZone,
  };
}

/** The "bill to" block from a `ref.customers` record; without a postal address, the place of taxation. */
export function customerBlockFromReference(c: Customer): CustomerBlock {
  return {
    name: c.name,
    accountId: c.accountId,
    billingAddress: c.postalAddress ?? { line1: c.name, line2: null, city: c.region ?? c.country, region: c.region, postalCode: '', country: c.country },
    taxId: c.taxIds[0]?.value ?? null,
    email: c.email,
  };
}

/** The plan's price models by usage type: the tier ranges of the pricing table. */
export function priceModelsOf(plan: Plan): Record<string, PriceModel> {
  return Object.fromEntries(plan.priceModels.map((m) => [m.usageType, toPriceModel(m, plan.currency)]));
}

/**
 * An `Invoice` back from its JSON (as JSON.stringify wrote it: Decimals as strings, Dates as
 * ISO strings), for rendering an invoice stored by the bill run.
 */
export function reviveInvoice(json: unknown): Invoice & { kind?: string; periodIndex?: number } {
  const o = (typeof json === 'string' ? JSON.parse(json) : json) as Record<string, unknown> & { [k: string]: any };
  const d = (v: unknown) => new Decimal(v as string);
  const t = (v: unknown) => new Date(v as string);
  return {
    ...o,
    periodStart: t(o.periodStart),
    periodEnd: t(o.periodEnd),
    issuedAt: t(o.issuedAt),
    dueAt: t(o.dueAt),
    usagePeriod: o.usagePeriod ? { ...o.usagePeriod, start: t(o.usagePeriod.start), end: t(o.usagePeriod.end) } : null,
    lines: o.lines.map((l: any) => ({ ...l, quantity: d(l.quantity), unitPrice: d(l.unitPrice), amount: d(l.amount), unroundedAmount: d(l.unroundedAmount), periodStart: t(l.periodStart), periodEnd: t(l.periodEnd) })),
    taxes: o.taxes.map((x: any) => ({ ...x, rate: d(x.rate), statutoryRate: d(x.statutoryRate), taxableAmount: d(x.taxableAmount), unroundedAmount: d(x.unroundedAmount), amount: d(x.amount) })),
    usageSummaries: o.usageSummaries.map((u: any) => ({ ...u, billableUnits: d(u.billableUnits), includedUnits: d(u.includedUnits), overageUnits: d(u.overageUnits), amount: d(u.amount) })),
    subtotal: d(o.subtotal),
    taxTotal: d(o.taxTotal),
    total: d(o.total),
  } as Invoice & { kind?: string; periodIndex?: number };
}

type Wire<T> = { [K in keyof T]: T[K] extends Decimal ? Decimal | string : T[K] extends readonly (infer U)[] ? Wire<U>[] : T[K] };

/**
 * The `Invoice` a brand.<code>.invoices event describes (contracts/invoice.ts), for rendering it
 * where the bill run's audit copy is not at hand (the notification service). The event carries
 * the rounded amounts only: the unrounded ones read as the rounded, statutory rates as the rates
 * charged. Decimals may be decimal.js (just decoded) or strings (stored as JSON).
 */
export function invoiceFromEvent(e: Wire<InvoiceEvent>): Invoice {
  const d = (v: Decimal | string) => new Decimal(v);
  const lines = e.lines.map((l) => ({
    lineId: l.lineId,
    kind: l.kind as Invoice['lines'][number]['kind'],
    description: l.description,
    usageType: l.usageType,
    quantity: d(l.quantity),
    unitPrice: d(l.unitPrice),
    amount: d(l.amount),
    unroundedAmount: d(l.amount),
    periodStart: new Date(l.periodStart),
    periodEnd: new Date(l.periodEnd),
    taxable: e.taxes.length > 0,
  }));
  return {
    invoiceId: e.invoiceId,
    invoiceNumber: e.invoiceNumber,
    brand: e.brand,
    accountId: e.accountId,
    subscriptionId: e.subscriptionId,
    periodStart: new Date(e.periodStart),
    periodEnd: new Date(e.periodEnd),
    usagePeriod: e.usagePeriodStart !== null && e.usagePeriodEnd !== null ? { index: 0, start: new Date(e.usagePeriodStart), end: new Date(e.usagePeriodEnd) } : null,
    issuedAt: new Date(e.issuedAt),
    dueAt: new Date(e.dueAt),
    taxPoint: e.taxPoint,
    currency: e.currency,
    lines,
    usageSummaries: e.usageSummaries.map((u) => ({
      usageType: u.usageType,
      calls: u.calls,
      unitSeconds: u.unitSeconds,
      billableUnits: d(u.billableUnits),
      includedUnits: d(u.includedUnits),
      overageUnits: d(u.overageUnits),
      amount: d(u.amount),
      lineIds: lines.filter((l) => l.usageType === u.usageType && l.kind === 'usage').map((l) => l.lineId),
    })),
    notes: [...(e.notes ?? [])],
    taxes: e.taxes.map((t) => ({
      taxCode: t.taxCode,
      jurisdiction: t.jurisdiction,
      name: t.name,
      rate: d(t.rate),
      statutoryRate: d(t.rate),
      taxableAmount: d(t.taxableAmount),
      unroundedAmount: d(t.amount),
      amount: d(t.amount),
      exemption: t.exemptionReference ? { kind: 'certificate' as const, reference: t.exemptionReference, reason: 'exemption' } : null,
    })),
    taxEngineId: 'event',
    subtotal: d(e.subtotal),
    taxTotal: d(e.taxTotal),
    total: d(e.total),
  };
}
