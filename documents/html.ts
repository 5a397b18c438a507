import { Buffer } from 'node:buffer';
import { escapeHtml as e } from './format.ts';
import type { BrandView, CustomerView, Field, InvoiceView, ReceiptView } from './view.ts';
import type { BrandLogo } from './types.ts';

/** How a template draws its header: a rule under the brand, or a band in the primary colour. */
export type HeaderStyle = 'rule' | 'band';

/** `#rgb` → `#rrggbb` (colours are validated before they get here). */
export function fullHex(colour: string): string {
  return colour.length === 4 ? `#${[...colour.slice(1)].map((c) => c + c).join('')}` : colour.toLowerCase();
}

/** Black or white, whichever reads better on the colour (WCAG relative luminance). */
export function textColourOn(colour: string): '#000000' | '#ffffff' {
  const hex = fullHex(colour);
  const channel = (i: number): number => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const lum = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
  return lum > 0.179 ? '#000000' : '#ffffff';
}

/** A logo as an <img> with a data URI: an SVG shown this way cannot run script. */
export function logoImg(logo: BrandLogo | null, alt: string): string {
  if (!logo) return '';
  const src = logo.kind === 'svg'
    ? `data:image/svg+xml;base64,${Buffer.from(logo.svg, 'utf8').toString('base64')}`
    : `data:image/png;base64,${Buffer.from(logo.data).toString('base64')}`;
  return `<img class="logo" src="${src}" width="${logo.width}" height="${logo.height}" alt="${e(alt)}">`;
}

function css(brand: BrandView, header: HeaderStyle): string {
  const primary = fullHex(brand.primaryColour);
  const accent = fullHex(brand.accentColour);
  const onPrimary = textColourOn(primary);
  return `
  :root { --primary: ${primary}; --accent: ${accent}; --on-primary: ${onPrimary}; }
  * { box-sizing: border-box; }
  body { font-family: Helvetica, Arial, sans-serif; color: #1f2328; margin: 0; font-size: 14px; line-height: 1.45; }
  .page { max-width: 860px; margin: 0 auto; padding: 32px; }
  header.brand { display: flex; justify-content: space-between; align-items: flex-start; gap: 24px; padding: 20px 24px;
    ${header === 'band' ? 'background: var(--primary); color: var(--on-primary);' : 'border-bottom: 4px solid var(--primary);'} }
  header.brand .name { font-size: 22px; font-weight: bold; ${header === 'band' ? '' : 'color: var(--primary);'} }
  header.brand .addr { font-size: 12px; text-align: right; }
  .logo { display: block; margin-bottom: 6px; }
  h1 { font-size: 26px; margin: 24px 0 4px; color: var(--primary); }
  h2 { font-size: 16px; margin: 28px 0 8px; color: var(--primary); border-bottom: 1px solid var(--accent); padding-bottom: 4px; }
  h3 { font-size: 14px; margin: 18px 0 6px; }
  .parties { display: flex; justify-content: space-between; gap: 32px; margin-top: 16px; }
  .parties .label, dl.fields dt { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: #57606a; }
  dl.fields { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; margin: 0; }
  dl.fields dd { margin: 0; font-weight: bold; }
  table { width: 100%; border-collapse: collapse; margin-top: 4px; }
  th { text-align: left; font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: #57606a; border-bottom: 2px solid var(--accent); padding: 6px 8px; }
  td { padding: 6px 8px; border-bottom: 1px solid #d0d7de; vertical-align: top; }
  .num { text-align: right; white-space: nowrap; }
  .note { font-size: 12px; color: #57606a; }
  table.totals { width: auto; margin-left: auto; min-width: 320px; }
  table.totals td { border: none; padding: 3px 8px; }
  table.totals tr.total td { font-size: 18px; font-weight: bold; border-top: 2px solid var(--primary); color: var(--primary); }
  .due { margin-top: 20px; padding: 12px 16px; background: var(--accent); color: ${textColourOn(accent)}; }
  footer { margin-top: 32px; padding-top: 12px; border-top: 1px solid #d0d7de; font-size: 11px; color: #57606a; }
  .draft { color: #cf222e; }
  @media print { .page { padding: 0; } }
`;
}

function lines(values: readonly string[]): string {
  return values.map(e).join('<br>');
}

function brandHeader(brand: BrandView): string {
  return `<header class="brand">
  <div>${logoImg(brand.logo, brand.displayName)}<div class="name">${e(brand.displayName)}</div></div>
  <div class="addr">${e(brand.legalName)}<br>${lines(brand.addressLines)}${brand.registrations.length ? `<br>${lines(brand.registrations)}` : ''}</div>
</header>`;
}

function fieldList(fields: readonly Field[]): string {
  return `<dl class="fields">${fields.map((f) => `<dt>${e(f.label)}</dt><dd>${e(f.value)}</dd>`).join('')}</dl>`;
}

function customerBlock(label: string, c: CustomerView, taxIdLabel: string): string {
  return `<div><div class="label">${e(label)}</div><strong>${e(c.name)}</strong><br>${lines(c.addressLines)}${c.taxId ? `<br>${e(taxIdLabel)}: ${e(c.taxId)}` : ''}<br>${e(c.email)}</div>`;
}

function footer(brand: BrandView, extra: string): string {
  return `<footer>${extra}<p>${e(brand.footerText)}</p><p>${e(brand.legalName)} · ${brand.contactLines.map(e).join(' · ')}</p></footer>`;
}

function doc(lang: string, title: string, brand: BrandView, header: HeaderStyle, body: string): string {
  return `<!DOCTYPE html>
<html lang="${e(lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(title)}</title>
<style>${css(brand, header)}</style>
</head>
<body>
<div class="page">
${brandHeader(brand)}
${body}
</div>
</body>
</html>
`;
}

/** The whole invoice as one self-contained HTML page (styles inline, logo as a data URI). */
export function invoiceHtml(v: InvoiceView, header: HeaderStyle): string {
  const l = v.labels;
  const charges = v.lines.length === 0
    ? `<p>${e(l.noCharges)}</p>`
    : `<table class="lines">
<thead><tr><th>${e(l.description)}</th><th>${e(l.period)}</th><th class="num">${e(l.quantity)}</th><th class="num">${e(l.unitPrice)}</th><th class="num">${e(l.amount)}</th></tr></thead>
<tbody>
${v.lines.map((x) => `<tr><td>${e(x.description)}</td><td>${e(x.period)}</td><td class="num">${e(x.quantity)}</td><td class="num">${e(x.unitPrice)}</td><td class="num">${e(x.amount)}</td></tr>`).join('\n')}
</tbody>
</table>`;

  const usage = v.usage.length === 0 ? '' : `<h2>${e(l.usageSummary)}</h2>
<table class="usage">
<thead><tr><th>${e(l.usageType)}</th><th class="num">${e(l.calls)}</th><th class="num">${e(l.billable)}</th><th class="num">${e(l.included)}</th><th class="num">${e(l.overage)}</th><th class="num">${e(l.amount)}</th></tr></thead>
<tbody>
${v.usage.map((u) => `<tr><td>${e(u.usageType)}</td><td class="num">${e(u.calls)}</td><td class="num">${e(u.billable)}</td><td class="num">${e(u.included)}</td><td class="num">${e(u.overage)}</td><td class="num">${e(u.amount)}</td></tr>`).join('\n')}
</tbody>
</table>
${v.usage.filter((u) => u.tiers.length > 0).map((u) => `<h3>${e(u.tableTitle)}</h3>
<table class="tiers">
<thead><tr><th>${e(l.tier)}</th><th>${e(l.tierRange)}</th><th class="num">${e(l.unitPrice)}</th><th class="num">${e(l.unitsInTier)}</th><th class="num">${e(l.amount)}</th></tr></thead>
<tbody>
${u.tiers.map((t) => `<tr><td>${e(t.tier)}</td><td>${e(t.range)}</td><td class="num">${e(t.unitPrice)}</td><td class="num">${e(t.units)}</td><td class="num">${e(t.amount)}</td></tr>`).join('\n')}
<tr><td colspan="4"><strong>${e(u.usageType)} ${e(l.overage.toLowerCase())}</strong></td><td class="num"><strong>${e(u.amount)}</strong></td></tr>
</tbody>
</table>
${u.note ? `<p class="note">${e(u.note)}</p>` : ''}`).join('\n')}`;

  const taxes = v.taxes.length === 0 ? '' : `<h2>${e(l.taxes)}</h2>
<table class="taxes">
<thead><tr><th>${e(l.taxes)}</th><th>${e(l.jurisdiction)}</th><th class="num">${e(l.taxableAmount)}</th><th class="num">${e(l.rate)}</th><th class="num">${e(l.amount)}</th></tr></thead>
<tbody>
${v.taxes.map((t) => `<tr><td>${e(t.name)}${t.note ? `<div class="note">${e(t.note)}</div>` : ''}</td><td>${e(t.jurisdiction)}</td><td class="num">${e(t.taxable)}</td><td class="num">${e(t.rate)}</td><td class="num">${e(t.amount)}</td></tr>`).join('\n')}
</tbody>
</table>`;

  const body = `<h1${v.isDraft ? ' class="draft"' : ''}>${e(v.title)} ${e(v.number)}</h1>
<div class="parties">
${customerBlock(l.billTo, v.customer, l.customerTaxId)}
${fieldList(v.fields)}
</div>
<h2>${e(l.charges)}</h2>
${charges}${v.notes.map((n) => `\n<p class="note">${e(n)}</p>`).join('')}
${usage}
${taxes}
<table class="totals">
<tr><td>${e(l.subtotal)}</td><td class="num">${e(v.subtotal)}</td></tr>
<tr><td>${e(l.taxTotal)}</td><td class="num">${e(v.taxTotal)}</td></tr>
<tr class="total"><td>${e(l.total)}</td><td class="num">${e(v.total)}</td></tr>
${v.creditApplied ? `<tr><td>${e(l.creditApplied)}</td><td class="num">${e(v.creditApplied)}</td></tr>` : ''}
</table>
<div class="due"><strong>${e(l.amountDue)}: ${e(v.amountDue)}</strong> · ${e(l.dueDate)}: ${e(v.dueDate)}</div>
${v.creditNote ? `<p>${e(v.creditNote)}</p>` : ''}
<p>${e(v.paymentTerms)}</p>
${v.paymentInstructions ? `<p>${e(v.paymentInstructions)}</p>` : ''}
${v.brand.remitToLines ? `<p class="note">${lines(v.brand.remitToLines)}</p>` : ''}
${v.viewUrl ? `<p><a href="${e(v.viewUrl)}">${e(l.viewOnline)}</a></p>` : ''}
${footer(v.brand, `<p>${e(v.questions)}</p>`)}`;
  return doc(v.locale, `${v.brand.displayName} ${v.title} ${v.number}`, v.brand, header, body);
}

export function receiptHtml(v: ReceiptView, header: HeaderStyle): string {
  const l = v.labels;
  const body = `<h1>${e(v.title)} ${e(v.number)}</h1>
<p>${e(l.thanks)}</p>
<div class="parties">
${customerBlock(l.billTo, v.customer, l.customerTaxId)}
${fieldList(v.fields)}
</div>
<div class="due"><strong>${e(l.amountPaid)}: ${e(v.amount)}</strong> · ${e(l.paidOn)}: ${e(v.paidOn)}</div>
${footer(v.brand, `<p>${e(v.questions)}</p>`)}`;
  return doc(v.locale, `${v.brand.displayName} ${v.title} ${v.number}`, v.brand, header, body);
}
