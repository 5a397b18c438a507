export {
  StandardDocumentRenderer,
  DocumentRendererRegistry,
  builtinDocumentRenderers,
  renderInvoiceDocuments,
  renderReceiptDocuments,
} from './renderer.ts';
export type { DocumentRenderer } from './renderer.ts';
export { formatAmount, formatUnitPrice, formatQuantity, formatRate, formatDate, formatDateTime, formatPeriod, formatAddress, escapeHtml } from './format.ts';
export { validateInvoiceDocument, validateReceiptDocument } from './validate.ts';
export { pdfText } from './pdf.ts';
export { labelsFor } from './labels.ts';
export type { Labels } from './labels.ts';
export { DocumentError } from './types.ts';
export type {
  BrandBranding,
  BrandLogo,
  CustomerBlock,
  DocumentErrorCode,
  EmailAddress,
  InvoiceDocumentInput,
  PdfOptions,
  PostalAddress,
  Receipt,
  ReceiptDocumentInput,
  RenderedEmail,
  TaxRegistration,
} from './types.ts';
export { brandingFromReference, customerBlockFromReference, invoiceFromEvent, priceModelsOf, reviveInvoice } from './from-reference.ts';
export { noticeEmail } from './notices.ts';
export type { Notice } from './notices.ts';
