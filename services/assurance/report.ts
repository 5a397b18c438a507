import fs from 'node:fs/promises';
import path from 'node:path';
import PDFDocument from 'pdfkit';
import { pdfText } from '../../documents/index.ts';
import type { ConsistencyReport } from './run.ts';

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The report for people: the verdict first, a clean run in one line, else one row a finding with the ids to look at. */
export function reportHtml(report: ConsistencyReport): string {
  const title = reportTitle(report);
  const clean = report.discrepancies.length === 0;
  const rows = report.discrepancies
    .map((d) => `<tr><td>${escape(d.check)}</td><td>${escape(d.scope)}</td><td>${escape(d.expected)}</td><td>${escape(d.found)}</td><td>${d.ids.slice(0, 50).map(escape).join('<br>')}${d.ids.length > 50 ? `<br>… ${d.ids.length - 50} more` : ''}</td></tr>`)
    .join('\n');
  const cash = report.cash.map((c) => `<tr><td>${escape(c.brand)}</td><td>${c.currency}</td><td>${c.invoiced}</td><td>${c.paid}</td><td>${c.credited}</td><td>${c.toCreditBalance}</td><td>${c.open}</td></tr>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}.clean{color:#176f2c}.bad{color:#a4161a}</style></head>
<body><h1>${escape(title)}</h1>
<p class="${clean ? 'clean' : 'bad'}"><strong>${escape(report.verdict)}</strong></p>
<p>Run ${escape(report.runId)} at ${escape(report.at)}.</p>
${report.notes.length === 0 ? '' : `<ul>${report.notes.map((n) => `<li>${escape(n)}</li>`).join('')}</ul>`}
${clean ? '' : `<table><thead><tr><th>check</th><th>where</th><th>expected</th><th>found</th><th>ids</th></tr></thead><tbody>\n${rows}\n</tbody></table>`}
${report.cash.length === 0 ? '' : `<h2>Cash</h2><table><thead><tr><th>brand</th><th>currency</th><th>invoiced (due)</th><th>paid</th><th>credited</th><th>to credit balance</th><th>open</th></tr></thead><tbody>\n${cash}\n</tbody></table>`}
</body></html>
`;
}

const reportTitle = (report: ConsistencyReport) => `Consistency run ${[...report.scope.brands, ...report.scope.sources].join(', ')} ${report.scope.from ?? '…'} to ${report.scope.to ?? '…'}`;

/**
 * The report for people as PDF (pdfkit's standard fonts, as documents/ uses): the verdict, notes,
 * then each finding with the ids to look at (the first 50), and the cash summary. Deterministic
 * for one report: its dates are the run's.
 */
export function reportPdf(report: ConsistencyReport, options: { compress?: boolean } = {}): Promise<Buffer> {
  const at = new Date(report.at);
  const doc = new PDFDocument({ size: 'A4', margins: { top: 50, bottom: 50, left: 50, right: 50 }, compress: options.compress ?? true, info: { Title: pdfText(reportTitle(report)), Creator: 'rateline assurance', Producer: 'rateline assurance (pdfkit)', CreationDate: at, ModDate: at } });
  const done = new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  const clean = report.discrepancies.length === 0;
  doc.font('Helvetica-Bold').fontSize(15).text(pdfText(reportTitle(report)));
  doc.font('Helvetica').fontSize(9).fillColor('#57606a').text(pdfText(`Run ${report.runId} at ${report.at}`)).moveDown(0.5);
  doc.font('Helvetica-Bold').fontSize(11).fillColor(clean ? '#176f2c' : '#a4161a').text(pdfText(report.verdict)).fillColor('black').moveDown(0.5);
  for (const note of report.notes) doc.font('Helvetica').fontSize(9).text(pdfText(`Note: ${note}`));
  for (const d of report.discrepancies) {
    doc.moveDown(0.5).font('Helvetica-Bold').fontSize(10).text(pdfText(`${d.check}: ${d.scope}`));
    doc.font('Helvetica').fontSize(9).text(pdfText(`Expected ${d.expected}; found ${d.found}`));
    if (d.ids.length > 0) doc.fillColor('#57606a').text(pdfText(`Ids: ${d.ids.slice(0, 50).join(', ')}${d.ids.length > 50 ? `, … ${d.ids.length - 50} more` : ''}`)).fillColor('black');
  }
  if (report.cash.length > 0) {
    doc.moveDown().font('Helvetica-Bold').fontSize(11).text('Cash');
    for (const c of report.cash) doc.font('Helvetica').fontSize(9).text(pdfText(`${c.brand} ${c.currency}: invoiced ${c.invoiced}, paid ${c.paid}, credited ${c.credited}, to credit balance ${c.toCreditBalance}, open ${c.open}`));
  }
  doc.end();
  return done;
}

/** Writes `<name>.json`, `<name>.html` and `<name>.pdf` under the directory; returns their paths. */
export async function writeReport(dir: string, name: string, report: ConsistencyReport): Promise<{ json: string; html: string; pdf: string }> {
  await fs.mkdir(dir, { recursive: true });
  const safe = name.replace(/[^A-Za-z0-9_.-]/g, '_');
  const json = path.join(dir, `${safe}.json`);
  const html = path.join(dir, `${safe}.html`);
  const pdf = path.join(dir, `${safe}.pdf`);
  await fs.writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await fs.writeFile(html, reportHtml(report));
  await fs.writeFile(pdf, await reportPdf(report));
  return { json, html, pdf };
}
