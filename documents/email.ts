import { escapeHtml as e } from './format.ts';
import { fullHex, logoImg, textColourOn } from './html.ts';
import type { InvoiceView, ReceiptView, BrandView } from './view.ts';
import type { BrandBranding, CustomerBlock, EmailAddress, RenderedEmail } from './types.ts';

/**
 * Notification emails: a short summary (amount, due date, where to look), not the
 * document; the sender attaches the PDF. HTML bodies use inline styles and tables only,
 * which is what mail clients render reliably.
 */

/** Header values on one line: a CR or LF in a name or subject would let it inject headers. */
export function oneLine(text: string): string {
  return text.replace(/[\r\n\t]+/g, ' ').trim();
}

export function addresses(branding: BrandBranding, customer: CustomerBlock): { from: EmailAddress; to: EmailAddress; replyTo: EmailAddress } {
  return {
    from: { name: oneLine(branding.emailFrom.name), address: branding.emailFrom.address },
    to: { name: oneLine(customer.name), address: customer.email },
    replyTo: { name: oneLine(branding.displayName), address: branding.supportEmail },
  };
}

export function htmlShell(lang: string, brand: BrandView, inner: string): string {
  const primary = fullHex(brand.primaryColour);
  return `<!DOCTYPE html>
<html lang="${e(lang)}"><head><meta charset="utf-8"><title>${e(brand.displayName)}</title></head>
<body style="margin:0;padding:0;background:#f6f8fa;font-family:Helvetica,Arial,sans-serif;color:#1f2328;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center" style="padding:24px;">
<table role="presentation" width="560" cellpadding="0" cellspacing="0" style="background:#ffffff;">
<tr><td style="background:${primary};color:${textColourOn(primary)};padding:16px 24px;font-size:20px;font-weight:bold;">${logoImg(brand.logo, brand.displayName)}${e(brand.displayName)}</td></tr>
<tr><td style="padding:24px;font-size:14px;line-height:1.5;">${inner}</td></tr>
<tr><td style="padding:12px 24px;font-size:11px;color:#57606a;border-top:1px solid #d0d7de;">${e(brand.footerText)}<br>${e(brand.legalName)} · ${brand.contactLines.map(e).join(' · ')}</td></tr>
</table></td></tr></table>
</body></html>
`;
}

export function summaryTable(rows: readonly (readonly [string, string])[], accent: string): string {
  return `<table role="presentation" cellpadding="0" cellspacing="0" style="margin:16px 0;border-left:4px solid ${fullHex(accent)};">
${rows.map(([k, v]) => `<tr><td style="padding:4px 12px;color:#57606a;">${e(k)}</td><td style="padding:4px 12px;font-weight:bold;text-align:right;">${e(v)}</td></tr>`).join('\n')}
</table>`;
}

export function invoiceEmail(v: InvoiceView, branding: BrandBranding, customer: CustomerBlock): RenderedEmail {
  const l = v.labels;
  const name = customer.contactName ?? customer.name;
  const rows: [string, string][] = [
    [l.invoiceNumber, v.number],
    [l.issueDate, v.issueDate],
    [l.dueDate, v.dueDate],
    [l.amountDue, v.amountDue],
  ];
  const text = [
    l.greeting(name),
    '',
    l.invoiceEmailIntro(branding.displayName, v.number),
    '',
    ...rows.map(([k, val]) => `${k}: ${val}`),
    '',
    v.paymentTerms,
    ...(v.viewUrl ? ['', `${l.viewOnline}: ${v.viewUrl}`] : []),
    '',
    l.attached,
    v.questions,
    '',
    '--',
    branding.legalName,
    branding.footerText,
  ].join('\n');
  const inner = `<p>${e(l.greeting(name))}</p>
<p>${e(l.invoiceEmailIntro(branding.displayName, v.number))}</p>
${summaryTable(rows, branding.accentColour)}
<p>${e(v.paymentTerms)}</p>
${v.viewUrl ? `<p><a href="${e(v.viewUrl)}" style="color:${fullHex(branding.primaryColour)};font-weight:bold;">${e(l.viewOnline)}</a></p>` : ''}
<p>${e(l.attached)}<br>${e(v.questions)}</p>`;
  return {
    ...addresses(branding, customer),
    subject: oneLine(l.invoiceEmailSubject(branding.displayName, v.number, v.amountDue, v.dueDate)),
    text,
    html: htmlShell(v.locale, v.brand, inner),
  };
}

export function receiptEmail(v: ReceiptView, branding: BrandBranding, customer: CustomerBlock): RenderedEmail {
  const l = v.labels;
  const name = customer.contactName ?? customer.name;
  const rows = v.fields.map((f) => [f.label, f.value] as [string, string]);
  const text = [
    l.greeting(name),
    '',
    l.receiptEmailIntro(v.amount, v.invoiceNumber),
    '',
    ...rows.map(([k, val]) => `${k}: ${val}`),
    '',
    l.thanks,
    v.questions,
    '',
    '--',
    branding.legalName,
    branding.footerText,
  ].join('\n');
  const inner = `<p>${e(l.greeting(name))}</p>
<p>${e(l.receiptEmailIntro(v.amount, v.invoiceNumber))}</p>
${summaryTable(rows, branding.accentColour)}
<p>${e(l.thanks)}<br>${e(v.questions)}</p>`;
  return {
    ...addresses(branding, customer),
    subject: oneLine(l.receiptEmailSubject(branding.displayName, v.amount, v.invoiceNumber)),
    text,
    html: htmlShell(v.locale, v.brand, inner),
  };
}
