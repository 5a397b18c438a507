import type { Buffer } from 'node:buffer';
import { invoiceEmail, receiptEmail } from './email.ts';
import { invoiceHtml, receiptHtml } from './html.ts';
import type { HeaderStyle } from './html.ts';
import { invoicePdf, receiptPdf } from './pdf.ts';
import { DocumentError } from './types.ts';
import type { InvoiceDocumentInput, PdfOptions, ReceiptDocumentInput, RenderedEmail } from './types.ts';
import { validateInvoiceDocument, validateReceiptDocument } from './validate.ts';
import { invoiceView, receiptView } from './view.ts';

/**
 * A document template: draws a brand's invoices, receipts and their emails. Registered by
 * id; a brand's branding names the id (`template`). Every method is pure over its input
 * (no I/O, no clock: dates come from the invoice or payment) and throws a DocumentError
 * `invalid_document_input` listing every problem of a bad input.
 */
export interface DocumentRenderer {
  readonly id: string;
  /** A self-contained HTML page (inline styles, logo as data URI), UTF-8. */
  renderInvoiceHtml(input: InvoiceDocumentInput): string;
  /** A PDF; the same bytes for the same input. */
  renderInvoicePdf(input: InvoiceDocumentInput, options?: PdfOptions): Promise<Buffer>;
  /** The invoice notification: subject, text and HTML summary; the sender attaches the PDF. */
  renderInvoiceEmail(input: InvoiceDocumentInput): RenderedEmail;
  renderReceiptHtml(input: ReceiptDocumentInput): string;
  renderReceiptPdf(input: ReceiptDocumentInput, options?: PdfOptions): Promise<Buffer>;
  renderReceiptEmail(input: ReceiptDocumentInput): RenderedEmail;
}

/**
 * The built-in template: brand colours, logo and addresses on a clean page. `header`
 * chooses a rule under the brand name (`standard`) or a band in the primary colour
 * (`banner`); further templates are further classes (or instances) registered by id.
 */
export class StandardDocumentRenderer implements DocumentRenderer {
  constructor(
    readonly id: string = 'standard',
    private readonly header: HeaderStyle = 'rule',
  ) {}

  renderInvoiceHtml(input: InvoiceDocumentInput): string {
    validateInvoiceDocument(input);
    return invoiceHtml(invoiceView(input), this.header);
  }

  renderInvoicePdf(input: InvoiceDocumentInput, options: PdfOptions = {}): Promise<Buffer> {
    validateInvoiceDocument(input);
    return invoicePdf(invoiceView(input), input.invoice.issuedAt, { header: this.header, country: input.branding.address.country }, options);
  }

  renderInvoiceEmail(input: InvoiceDocumentInput): RenderedEmail {
    validateInvoiceDocument(input);
    return invoiceEmail(invoiceView(input), input.branding, input.customer);
  }

  renderReceiptHtml(input: ReceiptDocumentInput): string {
    validateReceiptDocument(input);
    return receiptHtml(receiptView(input), this.header);
  }

  renderReceiptPdf(input: ReceiptDocumentInput, options: PdfOptions = {}): Promise<Buffer> {
    validateReceiptDocument(input);
    return receiptPdf(receiptView(input), input.receipt.paidAt, { header: this.header, country: input.branding.address.country }, options);
  }

  renderReceiptEmail(input: ReceiptDocumentInput): RenderedEmail {
    validateReceiptDocument(input);
    return receiptEmail(receiptView(input), input.branding, input.customer);
  }
}

/** Document templates by id; the services look a brand's `template` up here and never switch on it. */
export class DocumentRendererRegistry {
  private readonly renderers = new Map<string, DocumentRenderer>();

  constructor(renderers: readonly DocumentRenderer[] = []) {
    for (const r of renderers) this.register(r);
  }

  register(renderer: DocumentRenderer): this {
    if (this.renderers.has(renderer.id)) {
      throw new DocumentError('duplicate_document_renderer', `a document renderer "${renderer.id}" is already registered`);
    }
    this.renderers.set(renderer.id, renderer);
    return this;
  }

  get(id: string): DocumentRenderer {
    const r = this.renderers.get(id);
    if (r === undefined) {
      throw new DocumentError('unknown_document_renderer', `no document renderer "${id}" (registered: ${[...this.renderers.keys()].join(', ') || 'none'})`);
    }
    return r;
  }

  /** The renderer a brand's branding names. */
  forBrand(branding: { readonly template: string }): DocumentRenderer {
    return this.get(branding.template);
  }

  ids(): string[] {
    return [...this.renderers.keys()];
  }
}

/** The built-in templates: `standard` (rule header) and `banner` (primary-colour band). */
export function builtinDocumentRenderers(): DocumentRendererRegistry {
  return new DocumentRendererRegistry([new StandardDocumentRenderer('standard', 'rule'), new StandardDocumentRenderer('banner', 'band')]);
}

/** Everything the bill run sends for one invoice: HTML, PDF and the notification email, by the brand's template. */
export async function renderInvoiceDocuments(
  registry: DocumentRendererRegistry,
  input: InvoiceDocumentInput,
  options: PdfOptions = {},
): Promise<{ html: string; pdf: Buffer; email: RenderedEmail }> {
  const r = registry.forBrand(input.branding);
  return { html: r.renderInvoiceHtml(input), pdf: await r.renderInvoicePdf(input, options), email: r.renderInvoiceEmail(input) };
}

/** Everything collect sends for one payment: receipt HTML, PDF and email, by the brand's template. */
export async function renderReceiptDocuments(
  registry: DocumentRendererRegistry,
  input: ReceiptDocumentInput,
  options: PdfOptions = {},
): Promise<{ html: string; pdf: Buffer; email: RenderedEmail }> {
  const r = registry.forBrand(input.branding);
  return { html: r.renderReceiptHtml(input), pdf: await r.renderReceiptPdf(input, options), email: r.renderReceiptEmail(input) };
}
