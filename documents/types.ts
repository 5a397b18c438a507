import type { Decimal } from 'decimal.js';
import type { Invoice } from '../domain/invoicing/index.ts';
import type { PriceModel } from '../domain/pricing/index.ts';

/** A postal address; formatted per country on the documents (US/CA: "City, ST 12345"; GB: town, then postcode). */
export interface PostalAddress {
  readonly line1: string;
  readonly line2?: string | null;
  readonly city: string;
  /** State, province or county; optional where the country does not use one on mail. */
  readonly region?: string | null;
  readonly postalCode: string;
  /** ISO 3166-1 alpha-2. */
  readonly country: string;
}

/**
 * A brand's logo. Small: it is embedded in every HTML document and email.
 * - `svg`: shown in HTML as an `<img>` with a data URI (never inlined, so a script in the
 *   SVG cannot run); PDF has no SVG renderer, so the PDF shows the display name as a
 *   word-mark in the primary colour instead.
 * - `png`: shown in both HTML and PDF.
 */
export type BrandLogo =
  | { readonly kind: 'svg'; readonly svg: string; readonly width: number; readonly height: number }
  | { readonly kind: 'png'; readonly data: Uint8Array; readonly width: number; readonly height: number };

/** A registration the brand must print on its invoices (VAT number, GST/HST number, EIN). */
export interface TaxRegistration {
  /** e.g. "VAT reg. no.", "GST/HST no.". */
  readonly label: string;
  readonly value: string;
}

/** How a brand looks and speaks on its documents (the catalogue's brand branding, typed). */
export interface BrandBranding {
  readonly brandCode: string;
  /** The renderer plugin that draws this brand's documents (`standard`, `banner`, ...). */
  readonly template: string;
  readonly displayName: string;
  /** The legal entity that issues the invoice. */
  readonly legalName: string;
  readonly logo: BrandLogo | null;
  /** `#rgb` or `#rrggbb` (checked: they go into CSS and PDF colour operators). */
  readonly primaryColour: string;
  readonly accentColour: string;
  /** The issuer's address printed in the header. */
  readonly address: PostalAddress;
  /** Where cheques go, if not the issuer's address. */
  readonly remitToAddress?: PostalAddress | null;
  readonly taxRegistrations: readonly TaxRegistration[];
  readonly supportEmail: string;
  readonly supportPhone?: string | null;
  readonly website?: string | null;
  /** The sender of the notification emails. */
  readonly emailFrom: { readonly name: string; readonly address: string };
  readonly footerText: string;
  /** BCP 47: en-US, en-GB, en-CA, fr-CA. Labels are English or French by its language. */
  readonly locale: string;
  /** IANA zone in which the documents' dates are shown (the brand's billing zone). */
  readonly timeZone: string;
  /** Extra words under the payment terms (bank details, "Pay online at ..."). */
  readonly paymentInstructions?: string | null;
}

/** Who the document is addressed to. */
export interface CustomerBlock {
  readonly name: string;
  readonly accountId: string;
  readonly billingAddress: PostalAddress;
  /** The customer's own tax id (a VAT number for reverse charge), printed when present. */
  readonly taxId?: string | null;
  readonly email: string;
  /** The person the email greets; the customer name when absent. */
  readonly contactName?: string | null;
}

/** Everything an invoice document needs. */
export interface InvoiceDocumentInput {
  /** A rounded invoice from domain/invoicing `buildInvoice` / `roundInvoice`. */
  readonly invoice: Invoice;
  readonly branding: BrandBranding;
  readonly customer: CustomerBlock;
  /**
   * The overage price model of each usage type, for the tier ranges of the pricing table
   * (the invoice carries each tier's index, units, price and amount, not its bounds).
   * A usage type without one shows "Tier n" instead of a range.
   */
  readonly priceModels?: Readonly<Record<string, PriceModel>>;
  /** A link to view and pay the invoice online (emails and HTML). */
  readonly viewUrl?: string | null;
  /** The customer's credit balance the invoice consumed (shown after the total); none when absent. */
  readonly creditApplied?: Decimal;
}

/** A successful payment, as the collect service records it. No card data: `methodLabel` is token-free. */
export interface Receipt {
  readonly paymentId: string;
  /** Receipt number shown to the customer; the payment id when absent. */
  readonly receiptNumber?: string | null;
  readonly invoiceNumber: string;
  /** Rounded to the currency's minor units. */
  readonly amount: Decimal;
  readonly currency: string;
  /** "Visa •••• 4242", "PayPal (j•••@example.com)", "Cheque 001234". */
  readonly methodLabel: string;
  readonly paidAt: Date;
  /** The gateway's reference (PaymentIntent id, capture id). */
  readonly gatewayReference: string;
  /** What is left to pay on the invoice after this payment, if known. */
  readonly balanceAfter?: Decimal | null;
}

export interface ReceiptDocumentInput {
  readonly receipt: Receipt;
  readonly branding: BrandBranding;
  readonly customer: CustomerBlock;
}

export interface EmailAddress {
  readonly name: string;
  readonly address: string;
}

/** An email ready for a mail adapter; attachments (the PDF) are the sender's to add. */
export interface RenderedEmail {
  readonly from: EmailAddress;
  readonly to: EmailAddress;
  readonly replyTo: EmailAddress;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

export interface PdfOptions {
  /**
   * Deflate the content streams (default true). Tests pass false to read the text
   * operators; the drawing is the same either way.
   */
  readonly compress?: boolean;
}

export type DocumentErrorCode = 'invalid_document_input' | 'unknown_document_renderer' | 'duplicate_document_renderer';

export class DocumentError extends Error {
  override readonly name = 'DocumentError';
  readonly retryable = false;
  constructor(
    readonly code: DocumentErrorCode,
    message: string,
    readonly problems: readonly string[] = [message],
  ) {
    super(message);
  }
}
