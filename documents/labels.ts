/**
 * The fixed words of the documents, by the language of the brand's locale. Line
 * descriptions come from domain/invoicing (English) and are shown as they are.
 */
export interface Labels {
  readonly invoice: string;
  readonly draft: string;
  readonly invoiceNumber: string;
  readonly accountId: string;
  readonly issueDate: string;
  readonly dueDate: string;
  readonly servicePeriod: string;
  readonly usagePeriod: string;
  readonly billTo: string;
  readonly from: string;
  readonly customerTaxId: string;
  readonly description: string;
  readonly period: string;
  readonly quantity: string;
  readonly unitPrice: string;
  readonly amount: string;
  readonly charges: string;
  readonly usageSummary: string;
  readonly usageType: string;
  readonly calls: string;
  readonly billable: string;
  readonly included: string;
  readonly overage: string;
  readonly pricingTable: (usageType: string, unit: string) => string;
  readonly tier: string;
  readonly tierRange: string;
  readonly unitsInTier: string;
  readonly tierN: (n: number) => string;
  readonly upTo: (hi: string, unit: string) => string;
  readonly between: (lo: string, hi: string, unit: string) => string;
  readonly over: (lo: string, unit: string) => string;
  readonly allUnits: string;
  readonly volumeNote: string;
  readonly graduatedNote: string;
  readonly taxes: string;
  readonly jurisdiction: string;
  readonly taxableAmount: string;
  readonly rate: string;
  readonly exempt: (reason: string, reference: string) => string;
  readonly reverseCharge: (reference: string) => string;
  readonly subtotal: string;
  readonly taxTotal: string;
  readonly total: string;
  readonly amountDue: string;
  readonly creditApplied: string;
  readonly creditAdded: (amount: string) => string;
  readonly paymentTerms: (due: string) => string;
  readonly questions: (email: string) => string;
  readonly page: (n: number, of: number) => string;
  readonly noCharges: string;
  readonly receipt: string;
  readonly receiptNumber: string;
  readonly paymentFor: string;
  readonly amountPaid: string;
  readonly paidOn: string;
  readonly paymentMethod: string;
  readonly reference: string;
  readonly balanceAfter: string;
  readonly thanks: string;
  readonly viewOnline: string;
  readonly unitName: (unitSeconds: number) => string;
  readonly invoiceEmailSubject: (brand: string, number: string, total: string, due: string) => string;
  readonly invoiceEmailIntro: (brand: string, number: string) => string;
  readonly receiptEmailSubject: (brand: string, amount: string, number: string) => string;
  readonly receiptEmailIntro: (amount: string, number: string) => string;
  readonly greeting: (name: string) => string;
  readonly attached: string;
}

const en: Labels = {
  invoice: 'Invoice',
  draft: 'DRAFT',
  invoiceNumber: 'Invoice number',
  accountId: 'Account',
  issueDate: 'Issue date',
  dueDate: 'Due date',
  servicePeriod: 'Service period',
  usagePeriod: 'Usage period',
  billTo: 'Bill to',
  from: 'From',
  customerTaxId: 'Tax id',
  description: 'Description',
  period: 'Period',
  quantity: 'Qty',
  unitPrice: 'Unit price',
  amount: 'Amount',
  charges: 'Charges',
  usageSummary: 'Usage summary',
  usageType: 'Usage type',
  calls: 'Calls',
  billable: 'Billable',
  included: 'Included',
  overage: 'Overage',
  pricingTable: (t, unit) => `${t}: overage pricing (${unit} beyond the included allowance)`,
  tier: 'Tier',
  tierRange: 'Range',
  unitsInTier: 'Units in tier',
  tierN: (n) => `Tier ${n}`,
  upTo: (hi, unit) => `first ${hi} ${unit}`,
  between: (lo, hi, unit) => `over ${lo} up to ${hi} ${unit}`,
  over: (lo, unit) => `over ${lo} ${unit}`,
  allUnits: 'all overage',
  volumeNote: 'Volume pricing: all overage units are charged at the price of the tier the period’s total reaches.',
  graduatedNote: 'Graduated pricing: each tier’s units are charged at that tier’s price.',
  taxes: 'Taxes',
  jurisdiction: 'Jurisdiction',
  taxableAmount: 'Taxable amount',
  rate: 'Rate',
  exempt: (reason, reference) => `Exempt (${reason}, certificate ${reference})`,
  reverseCharge: (reference) => `Reverse charge: customer to account for the tax (${reference})`,
  subtotal: 'Subtotal',
  taxTotal: 'Tax',
  total: 'Total',
  amountDue: 'Amount due',
  creditApplied: 'Credit applied from your balance',
  creditAdded: (amount) => `${amount} is added to your credit balance and taken off your next invoices.`,
  paymentTerms: (due) => `Payment is due by ${due}. Your payment method on file will be charged automatically.`,
  questions: (email) => `Questions about this bill? Write to ${email}.`,
  page: (n, of) => `Page ${n} of ${of}`,
  noCharges: 'No charges this period.',
  receipt: 'Receipt',
  receiptNumber: 'Receipt number',
  paymentFor: 'Payment for invoice',
  amountPaid: 'Amount paid',
  paidOn: 'Paid on',
  paymentMethod: 'Payment method',
  reference: 'Reference',
  balanceAfter: 'Balance remaining',
  thanks: 'Thank you for your payment.',
  viewOnline: 'View online',
  unitName: (s) => (s === 60 ? 'min' : s === 3600 ? 'h' : s === 1 ? 'units' : `× ${s} s`),
  invoiceEmailSubject: (brand, number, total, due) => `${brand} invoice ${number}: ${total} due ${due}`,
  invoiceEmailIntro: (brand, number) => `Your ${brand} invoice ${number} is ready.`,
  receiptEmailSubject: (brand, amount, number) => `${brand} receipt: ${amount} received for invoice ${number}`,
  receiptEmailIntro: (amount, number) => `We received your payment of ${amount} for invoice ${number}.`,
  greeting: (name) => `Hello ${name},`,
  attached: 'The full invoice is attached as a PDF.',
};

const fr: Labels = {
  invoice: 'Facture',
  draft: 'BROUILLON',
  invoiceNumber: 'Numéro de facture',
  accountId: 'Compte',
  issueDate: 'Date d’émission',
  dueDate: 'Date d’échéance',
  servicePeriod: 'Période de service',
  usagePeriod: 'Période d’utilisation',
  billTo: 'Facturer à',
  from: 'De',
  customerTaxId: 'Numéro de taxe',
  description: 'Description',
  period: 'Période',
  quantity: 'Qté',
  unitPrice: 'Prix unitaire',
  amount: 'Montant',
  charges: 'Frais',
  usageSummary: 'Résumé de l’utilisation',
  usageType: 'Type d’utilisation',
  calls: 'Appels',
  billable: 'Facturable',
  included: 'Inclus',
  overage: 'Dépassement',
  pricingTable: (t, unit) => `${t} : tarif de dépassement (${unit} au-delà du forfait inclus)`,
  tier: 'Palier',
  tierRange: 'Tranche',
  unitsInTier: 'Unités du palier',
  tierN: (n) => `Palier ${n}`,
  upTo: (hi, unit) => `premières ${hi} ${unit}`,
  between: (lo, hi, unit) => `de ${lo} à ${hi} ${unit}`,
  over: (lo, unit) => `au-delà de ${lo} ${unit}`,
  allUnits: 'tout le dépassement',
  volumeNote: 'Tarif par volume : toutes les unités de dépassement au prix du palier atteint par le total de la période.',
  graduatedNote: 'Tarif progressif : les unités de chaque palier au prix de ce palier.',
  taxes: 'Taxes',
  jurisdiction: 'Juridiction',
  taxableAmount: 'Montant taxable',
  rate: 'Taux',
  exempt: (reason, reference) => `Exonéré (${reason}, certificat ${reference})`,
  reverseCharge: (reference) => `Autoliquidation par le client (${reference})`,
  subtotal: 'Sous-total',
  taxTotal: 'Taxes',
  total: 'Total',
  amountDue: 'Montant dû',
  creditApplied: 'Crédit de votre solde appliqué',
  creditAdded: (amount) => `${amount} est ajouté à votre solde créditeur et déduit de vos prochaines factures.`,
  paymentTerms: (due) => `Paiement exigible au plus tard le ${due}. Votre mode de paiement enregistré sera débité automatiquement.`,
  questions: (email) => `Des questions sur cette facture? Écrivez à ${email}.`,
  page: (n, of) => `Page ${n} de ${of}`,
  noCharges: 'Aucun frais pour cette période.',
  receipt: 'Reçu',
  receiptNumber: 'Numéro de reçu',
  paymentFor: 'Paiement de la facture',
  amountPaid: 'Montant payé',
  paidOn: 'Payé le',
  paymentMethod: 'Mode de paiement',
  reference: 'Référence',
  balanceAfter: 'Solde restant',
  thanks: 'Merci de votre paiement.',
  viewOnline: 'Voir en ligne',
  unitName: (s) => (s === 60 ? 'min' : s === 3600 ? 'h' : s === 1 ? 'unités' : `× ${s} s`),
  invoiceEmailSubject: (brand, number, total, due) => `Facture ${brand} ${number} : ${total} payable le ${due}`,
  invoiceEmailIntro: (brand, number) => `Votre facture ${brand} ${number} est prête.`,
  receiptEmailSubject: (brand, amount, number) => `Reçu ${brand} : ${amount} reçu pour la facture ${number}`,
  receiptEmailIntro: (amount, number) => `Nous avons reçu votre paiement de ${amount} pour la facture ${number}.`,
  greeting: (name) => `Bonjour ${name},`,
  attached: 'La facture complète est jointe en PDF.',
};

/** Labels for a locale: French for `fr-*`, English otherwise. */
export function labelsFor(locale: string): Labels {
  return locale.toLowerCase().startsWith('fr') ? fr : en;
}
