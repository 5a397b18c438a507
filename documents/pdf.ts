import { Buffer } from 'node:buffer';
import PDFDocument from 'pdfkit';
import { fullHex, textColourOn } from './html.ts';
import type { HeaderStyle } from './html.ts';
import type { BrandView, CustomerView, Field, InvoiceView, ReceiptView } from './view.ts';
import type { PdfOptions } from './types.ts';

/**
 * PDF documents with pdfkit's standard fonts (Helvetica, WinAnsi encoding: £ € $ and the
 * Latin-1 letters of English and French are in it). Characters outside WinAnsi cannot be
 * drawn by a standard font: `pdfText` turns the narrow spaces Intl uses (fr-CA group
 * separator) into no-break spaces and anything else unknown into "?". A brand writing in
 * another script needs an embedded TrueType font (a later template).
 *
 * Output is byte-for-byte deterministic for the same input: the document dates are the
 * invoice's issue instant (or the payment's), and pdfkit's file id is a hash of the info.
 */

type Doc = PDFKit.PDFDocument;

/** pdfkit's WinAnsi map (code points above 0xFF that the standard fonts can draw). */
const WIN_ANSI_EXTRA = new Set([
  0x0192, 0x2013, 0x2014, 0x2018, 0x2019, 0x201a, 0x201c, 0x201d, 0x201e, 0x2020, 0x2021, 0x2022, 0x2026, 0x20ac, 0x2030,
  0x2039, 0x203a, 0x02c6, 0x2122, 0x0152, 0x0153, 0x02dc, 0x0160, 0x0161, 0x0178, 0x017d, 0x017e,
]);

/** Text a standard PDF font can draw (see the module note). */
export function pdfText(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0x202f || cp === 0x2009 || cp === 0x2007) out += '\u00a0';
    else if (cp === 0x2212) out += '-';
    else if (cp === 0x0a || (cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xff) || WIN_ANSI_EXTRA.has(cp)) out += ch;
    else out += '?';
  }
  return out;
}

const GREY = '#57606a';
const INK = '#1f2328';
const RULE = '#d0d7de';
const FONT = 'Helvetica';
const BOLD = 'Helvetica-Bold';

interface Column {
  readonly header: string;
  /** Fraction of the content width. */
  readonly share: number;
  readonly align: 'left' | 'right';
}

interface Layout {
  readonly doc: Doc;
  readonly left: number;
  readonly width: number;
  /** Lowest y the content may reach (the footer lives below it). */
  readonly bottom: number;
  readonly top: number;
  readonly brand: BrandView;
}

/** North American brands print on Letter, the others on A4. */
function pageSize(country: string): string {
  return country === 'US' || country === 'CA' ? 'LETTER' : 'A4';
}

function newDoc(title: string, brand: BrandView, at: Date, options: PdfOptions, size: string, lang: string): Doc {
  return new PDFDocument({
    size,
    margins: { top: 50, bottom: 60, left: 50, right: 50 },
    bufferPages: true,
    compress: options.compress ?? true,
    lang,
    displayTitle: true,
    info: {
      Title: pdfText(title),
      Author: pdfText(brand.legalName),
      Creator: 'rateline documents',
      Producer: 'rateline documents (pdfkit)',
      CreationDate: at,
      ModDate: at,
    },
  });
}

function collect(doc: Doc): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
}

function layout(doc: Doc, brand: BrandView): Layout {
  const m = doc.page.margins;
  return { doc, left: m.left, width: doc.page.width - m.left - m.right, top: m.top, bottom: doc.page.height - m.bottom, brand };
}

/** Starts a new page when `height` does not fit; returns true if it did. */
function ensureSpace(ly: Layout, height: number): boolean {
  if (ly.doc.y + height <= ly.bottom) return false;
  ly.doc.addPage();
  ly.doc.y = ly.top;
  return true;
}

function header(ly: Layout, style: HeaderStyle): void {
  const { doc, brand, left, width } = ly;
  const primary = fullHex(brand.primaryColour);
  const bandHeight = 84;
  const y0 = 30;
  let ink = INK;
  if (style === 'band') {
    doc.rect(0, 0, doc.page.width, y0 + bandHeight).fill(primary);
    ink = textColourOn(primary);
  }
  let nameY = y0 + 8;
  if (brand.logo?.kind === 'png') {
    const h = Math.min(40, brand.logo.height);
    doc.image(Buffer.from(brand.logo.data), left, y0, { height: h });
    nameY = y0 + 4 + h;
  }
  doc.font(BOLD).fontSize(20).fillColor(style === 'band' ? ink : primary).text(pdfText(brand.displayName), left, nameY, { width: width / 2, lineBreak: false });
  const right = [brand.legalName, ...brand.addressLines, ...brand.registrations].map(pdfText).join('\n');
  doc.font(FONT).fontSize(8.5).fillColor(style === 'band' ? ink : GREY).text(right, left + width / 2, y0 + 4, { width: width / 2, align: 'right' });
  doc.fillColor(INK);
  if (style === 'band') {
    doc.y = Math.max(doc.y + 20, y0 + bandHeight + 16);
  } else {
    const bottom = Math.max(doc.y, nameY + 26);
    doc.rect(left, bottom + 4, width, 3).fill(primary);
    doc.fillColor(INK);
    doc.y = bottom + 20;
  }
}

function title(ly: Layout, text: string, colour: string): void {
  ly.doc.font(BOLD).fontSize(18).fillColor(colour).text(pdfText(text), ly.left, ly.doc.y, { width: ly.width });
  ly.doc.moveDown(0.4);
}

function parties(ly: Layout, billTo: string, c: CustomerView, taxIdLabel: string, fields: readonly Field[]): void {
  const { doc, left, width } = ly;
  const y0 = doc.y;
  const half = width / 2 - 10;
  doc.font(FONT).fontSize(7.5).fillColor(GREY).text(pdfText(billTo.toUpperCase()), left, y0, { width: half });
  doc.font(BOLD).fontSize(10).fillColor(INK).text(pdfText(c.name), { width: half });
  const rest = [...c.addressLines, ...(c.taxId ? [`${taxIdLabel}: ${c.taxId}`] : []), c.email];
  doc.font(FONT).fontSize(9).text(rest.map(pdfText).join('\n'), { width: half });
  const leftBottom = doc.y;
  let y = y0;
  const labelW = half * 0.45;
  for (const f of fields) {
    doc.font(FONT).fontSize(7.5).fillColor(GREY).text(pdfText(f.label.toUpperCase()), left + width / 2 + 10, y + 1.5, { width: labelW });
    doc.font(BOLD).fontSize(9).fillColor(INK).text(pdfText(f.value), left + width / 2 + 10 + labelW, y, { width: half - labelW, align: 'right' });
    y = Math.max(doc.y, y + 13);
  }
  doc.y = Math.max(leftBottom, y) + 10;
}

function heading(ly: Layout, text: string): void {
  ensureSpace(ly, 60);
  const { doc, left, width, brand } = ly;
  doc.moveDown(0.4);
  doc.font(BOLD).fontSize(12).fillColor(fullHex(brand.primaryColour)).text(pdfText(text), left, doc.y, { width });
  const y = doc.y + 2;
  doc.moveTo(left, y).lineTo(left + width, y).lineWidth(0.75).strokeColor(fullHex(brand.accentColour)).stroke();
  doc.y = y + 6;
  doc.fillColor(INK);
}

/**
 * A table that continues on the next page with its header repeated. `strong` rows are
 * bold (sub-totals).
 */
function table(ly: Layout, columns: readonly Column[], rows: readonly (readonly string[])[], strong: ReadonlySet<number> = new Set()): void {
  const { doc, left, width } = ly;
  const pad = 3;
  const widths = columns.map((c) => c.share * width);
  const xs = widths.map((_, i) => left + widths.slice(0, i).reduce((a, b) => a + b, 0));
  const drawHeader = (): void => {
    const y = doc.y;
    doc.font(BOLD).fontSize(7.5).fillColor(GREY);
    columns.forEach((c, i) => doc.text(pdfText(c.header.toUpperCase()), xs[i]! + pad, y + pad, { width: widths[i]! - 2 * pad, align: c.align }));
    const h = Math.max(...columns.map((c, i) => doc.heightOfString(pdfText(c.header.toUpperCase()), { width: widths[i]! - 2 * pad }))) + 2 * pad;
    doc.moveTo(left, y + h).lineTo(left + width, y + h).lineWidth(1).strokeColor(fullHex(ly.brand.accentColour)).stroke();
    doc.y = y + h + 1;
  };
  ensureSpace(ly, 40);
  drawHeader();
  rows.forEach((row, r) => {
    const bold = strong.has(r);
    doc.font(bold ? BOLD : FONT).fontSize(8.5);
    const cells = row.map(pdfText);
    const h = Math.max(...cells.map((t, i) => doc.heightOfString(t, { width: widths[i]! - 2 * pad }))) + 2 * pad;
    if (ensureSpace(ly, h + 2)) {
      drawHeader();
      doc.font(bold ? BOLD : FONT).fontSize(8.5);
    }
    const y = doc.y;
    doc.fillColor(INK);
    cells.forEach((t, i) => doc.text(t, xs[i]! + pad, y + pad, { width: widths[i]! - 2 * pad, align: columns[i]!.align }));
    doc.moveTo(left, y + h).lineTo(left + width, y + h).lineWidth(0.5).strokeColor(RULE).stroke();
    doc.y = y + h;
  });
  doc.x = left;
}

function paragraph(ly: Layout, text: string, size = 9, colour = INK, font = FONT): void {
  const { doc, left, width } = ly;
  const t = pdfText(text);
  doc.font(font).fontSize(size);
  ensureSpace(ly, doc.heightOfString(t, { width }) + 4);
  doc.fillColor(colour).text(t, left, doc.y, { width });
  doc.moveDown(0.3);
}

function totals(ly: Layout, rows: readonly (readonly [string, string])[], primary: string): void {
  const { doc, left, width } = ly;
  ensureSpace(ly, 18 * rows.length + 12);
  doc.moveDown(0.5);
  const labelX = left + width * 0.5;
  rows.forEach(([label, value], i) => {
    const last = i === rows.length - 1;
    const y = doc.y;
    if (last) {
      doc.moveTo(labelX, y).lineTo(left + width, y).lineWidth(1.5).strokeColor(primary).stroke();
      doc.y = y + 4;
    }
    const size = last ? 13 : 9.5;
    doc.font(last ? BOLD : FONT).fontSize(size).fillColor(last ? primary : INK);
    const yy = doc.y;
    doc.text(pdfText(label), labelX, yy, { width: width * 0.25 });
    doc.text(pdfText(value), labelX + width * 0.25, yy, { width: width * 0.25, align: 'right' });
    doc.y = yy + size + 4;
  });
  doc.fillColor(INK);
}

function dueBox(ly: Layout, text: string): void {
  const { doc, left, width, brand } = ly;
  ensureSpace(ly, 36);
  doc.moveDown(0.3);
  const accent = fullHex(brand.accentColour);
  const y = doc.y;
  doc.rect(left, y, width, 26).fill(accent);
  doc.font(BOLD).fontSize(10.5).fillColor(textColourOn(accent)).text(pdfText(text), left + 10, y + 8, { width: width - 20 });
  doc.fillColor(INK);
  doc.y = y + 32;
}

/** Footer text and "Page n of N" on every page (the pages are buffered until now). */
function footers(ly: Layout, footerText: string, page: (n: number, of: number) => string): void {
  const { doc, left, width } = ly;
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i++) {
    doc.switchToPage(i);
    // Writing below the bottom margin would make pdfkit open a new page: lift it while drawing.
    const margin = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    const y = doc.page.height - 45;
    doc.moveTo(left, y - 4).lineTo(left + width, y - 4).lineWidth(0.5).strokeColor(RULE).stroke();
    doc.font(FONT).fontSize(7).fillColor(GREY);
    doc.text(pdfText(footerText), left, y, { width: width * 0.8, height: 30, ellipsis: true });
    doc.text(pdfText(page(i - range.start + 1, range.count)), left + width * 0.8, y, { width: width * 0.2, align: 'right', lineBreak: false });
    doc.page.margins.bottom = margin;
  }
}

export interface PdfContext {
  readonly header: HeaderStyle;
  readonly country: string;
}

export async function invoicePdf(v: InvoiceView, issuedAt: Date, ctx: PdfContext, options: PdfOptions = {}): Promise<Buffer> {
  const l = v.labels;
  const doc = newDoc(`${v.brand.displayName} ${v.title} ${v.number}`, v.brand, issuedAt, options, pageSize(ctx.country), v.locale);
  const done = collect(doc);
  const ly = layout(doc, v.brand);
  const primary = fullHex(v.brand.primaryColour);
  header(ly, ctx.header);
  title(ly, `${v.title} ${v.number}`, v.isDraft ? '#cf222e' : primary);
  parties(ly, l.billTo, v.customer, l.customerTaxId, v.fields);

  heading(ly, l.charges);
  if (v.lines.length === 0) paragraph(ly, l.noCharges);
  else {
    table(ly, [
      { header: l.description, share: 0.37, align: 'left' },
      { header: l.period, share: 0.25, align: 'left' },
      { header: l.quantity, share: 0.1, align: 'right' },
      { header: l.unitPrice, share: 0.13, align: 'right' },
      { header: l.amount, share: 0.15, align: 'right' },
    ], v.lines.map((x) => [x.description, x.period, x.quantity, x.unitPrice, x.amount]));
  }

  for (const note of v.notes) {
    doc.moveDown(0.3);
    paragraph(ly, note);
  }
  if (v.usage.length > 0) {
    heading(ly, l.usageSummary);
    table(ly, [
      { header: l.usageType, share: 0.22, align: 'left' },
      { header: l.calls, share: 0.12, align: 'right' },
      { header: l.billable, share: 0.16, align: 'right' },
      { header: l.included, share: 0.16, align: 'right' },
      { header: l.overage, share: 0.16, align: 'right' },
      { header: l.amount, share: 0.18, align: 'right' },
    ], v.usage.map((u) => [u.usageType, u.calls, u.billable, u.included, u.overage, u.amount]));
    for (const u of v.usage.filter((x) => x.tiers.length > 0)) {
      ensureSpace(ly, 70);
      doc.moveDown(0.4);
      paragraph(ly, u.tableTitle, 9.5, INK, BOLD);
      const rows = [...u.tiers.map((t) => [t.tier, t.range, t.unitPrice, t.units, t.amount]), ['', `${u.usageType} ${l.overage.toLowerCase()}`, '', '', u.amount]];
      table(ly, [
        { header: l.tier, share: 0.08, align: 'left' },
        { header: l.tierRange, share: 0.36, align: 'left' },
        { header: l.unitPrice, share: 0.16, align: 'right' },
        { header: l.unitsInTier, share: 0.2, align: 'right' },
        { header: l.amount, share: 0.2, align: 'right' },
      ], rows, new Set([rows.length - 1]));
      if (u.note) {
        doc.y += 3;
        paragraph(ly, u.note, 8, GREY);
      }
    }
  }

  if (v.taxes.length > 0) {
    heading(ly, l.taxes);
    table(ly, [
      { header: l.taxes, share: 0.36, align: 'left' },
      { header: l.jurisdiction, share: 0.14, align: 'left' },
      { header: l.taxableAmount, share: 0.18, align: 'right' },
      { header: l.rate, share: 0.14, align: 'right' },
      { header: l.amount, share: 0.18, align: 'right' },
    ], v.taxes.map((t) => [t.note ? `${t.name}\n${t.note}` : t.name, t.jurisdiction, t.taxable, t.rate, t.amount]));
  }

  const rows: [string, string][] = [[l.subtotal, v.subtotal], [l.taxTotal, v.taxTotal], [l.total, v.total]];
  if (v.creditApplied) rows.push([l.creditApplied, v.creditApplied]);
  totals(ly, rows, primary);
  // The closing block (amount due, terms, how to pay) stays together on one page.
  const closing: [string, number, string][] = [[v.paymentTerms, 9, INK]];
  if (v.creditNote) closing.unshift([v.creditNote, 9, INK]);
  if (v.paymentInstructions) closing.push([v.paymentInstructions, 9, INK]);
  if (v.brand.remitToLines) closing.push([v.brand.remitToLines.join(', '), 8.5, GREY]);
  if (v.viewUrl) closing.push([`${l.viewOnline}: ${v.viewUrl}`, 8.5, INK]);
  closing.push([v.questions, 8.5, GREY]);
  const closingHeight = closing.reduce((h, [t, size]) => h + doc.font(FONT).fontSize(size).heightOfString(pdfText(t), { width: ly.width }) + 4, 40);
  ensureSpace(ly, closingHeight);
  dueBox(ly, `${l.amountDue}: ${v.amountDue}  ·  ${l.dueDate}: ${v.dueDate}`);
  for (const [t, size, colour] of closing) paragraph(ly, t, size, colour);

  footers(ly, `${v.brand.footerText}  ·  ${v.brand.legalName}  ·  ${v.brand.contactLines.join('  ·  ')}`, l.page);
  doc.end();
  return done;
}

export async function receiptPdf(v: ReceiptView, paidAt: Date, ctx: PdfContext, options: PdfOptions = {}): Promise<Buffer> {
  const l = v.labels;
  const doc = newDoc(`${v.brand.displayName} ${v.title} ${v.number}`, v.brand, paidAt, options, pageSize(ctx.country), v.locale);
  const done = collect(doc);
  const ly = layout(doc, v.brand);
  header(ly, ctx.header);
  title(ly, `${v.title} ${v.number}`, fullHex(v.brand.primaryColour));
  paragraph(ly, l.thanks, 10);
  doc.moveDown(0.4);
  parties(ly, l.billTo, v.customer, l.customerTaxId, v.fields);
  dueBox(ly, `${l.amountPaid}: ${v.amount}  ·  ${l.paidOn}: ${v.paidOn}`);
  paragraph(ly, v.questions, 8.5, GREY);
  footers(ly, `${v.brand.footerText}  ·  ${v.brand.legalName}  ·  ${v.brand.contactLines.join('  ·  ')}`, l.page);
  doc.end();
  return done;
}
