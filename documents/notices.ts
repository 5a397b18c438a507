import type { Decimal } from 'decimal.js';
import { addresses, htmlShell, oneLine, summaryTable } from './email.ts';
import { escapeHtml as e, formatAmount, formatDate } from './format.ts';
import type { BrandBranding, CustomerBlock, RenderedEmail } from './types.ts';
import { validateNoticeInput } from './validate.ts';
import { brandView } from './view.ts';

/**
 * Notices that carry no document: a failed payment (and what to do), each dunning step, a
 * usage threshold. The same shell as the invoice and receipt emails (brand colours, logo,
 * footer); English, or French for `fr-*` brands. Nothing from the gateway's own message goes
 * in (it is not ours to word, and never card data): the advice follows the failure's kind.
 */
export type Notice =
  | { readonly kind: 'payment_failed'; readonly invoiceNumber: string; readonly amount: Decimal; readonly currency: string; readonly failureKind: string | null; readonly at: Date }
  | { readonly kind: 'dunning_reminder' | 'dunning_suspended' | 'dunning_cancelled'; readonly invoiceNumber: string; readonly daysOverdue: number | null; readonly at: Date }
  | {
      readonly kind: 'usage_threshold';
      readonly usageType: string;
      /** The percent of the included units crossed, or null for an overage-amount alert. */
      readonly percent: number | null;
      readonly usedMinutes: Decimal;
      readonly includedMinutes: Decimal;
      /** The period's overage charges so far and the brand's alert amount, for an overage alert. */
      readonly overage: { readonly amount: Decimal; readonly threshold: Decimal; readonly currency: string } | null;
      readonly periodEnd: Date;
    };

interface Words {
  subject(n: Notice, brand: string, amount: string): string;
  lines(n: Notice, brand: string, amount: string, date: string, support: string): string[];
  rows(n: Notice, amount: string, date: string): [string, string][];
  greeting(name: string): string;
}

const en: Words = {
  greeting: (name) => `Hello ${name},`,
  subject(n, brand, amount) {
    switch (n.kind) {
      case 'payment_failed': return `${brand}: we could not collect ${amount} for invoice ${n.invoiceNumber}`;
      case 'dunning_reminder': return `${brand}: invoice ${n.invoiceNumber} is overdue`;
      case 'dunning_suspended': return `${brand}: your service is suspended (invoice ${n.invoiceNumber} unpaid)`;
      case 'dunning_cancelled': return `${brand}: your service is cancelled (invoice ${n.invoiceNumber} unpaid)`;
      case 'usage_threshold':
        return n.percent === null ? `${brand}: your ${n.usageType} overage has passed ${amount}` : `${brand}: you have used ${n.percent}% of your included ${n.usageType} minutes`;
    }
  },
  lines(n, brand, amount, date, support) {
    switch (n.kind) {
      case 'payment_failed': {
        const advice =
          n.failureKind === 'hard_decline'
            ? 'Your bank declined the charge. Please update your payment method in your account, or pay the invoice another way.'
            : 'We will try again in the next days. If your payment method has changed or expired, please update it in your account.';
        return [`We could not collect ${amount} for invoice ${n.invoiceNumber} on ${date}.`, advice, `Questions? Write to ${support}.`];
      }
      case 'dunning_reminder':
        return [`Invoice ${n.invoiceNumber} is ${n.daysOverdue === null ? '' : `${n.daysOverdue} days `}overdue.`, 'Please pay it or update your payment method to keep your service running.', `Questions? Write to ${support}.`];
      case 'dunning_suspended':
        return [`Invoice ${n.invoiceNumber} is still unpaid, so your ${brand} service was suspended on ${date}.`, 'It is restored as soon as the invoice is paid.', `Questions? Write to ${support}.`];
      case 'dunning_cancelled':
        return [`Invoice ${n.invoiceNumber} is still unpaid, so your ${brand} service was cancelled on ${date}.`, `To settle the balance or come back, write to ${support}.`];
      case 'usage_threshold':
        return n.percent === null
          ? [`Your ${n.usageType} usage beyond the included minutes has reached ${amount} this period, which ends on ${date}.`, 'A plan with more included minutes may cost you less.']
          : [`You have used ${n.percent}% of the ${n.usageType} minutes your plan includes this period, which ends on ${date}.`, n.percent >= 100 ? 'Further minutes are charged at your plan’s overage rates.' : 'Minutes beyond the included ones are charged at your plan’s overage rates.'];
    }
  },
  rows(n, amount, date) {
    switch (n.kind) {
      case 'payment_failed': return [['Invoice', n.invoiceNumber], ['Amount', amount], ['Attempted on', date]];
      case 'usage_threshold': return [['Used', `${n.usedMinutes.toFixed()} min`], ['Included', `${n.includedMinutes.toFixed()} min`], ['Period ends', date]];
      default: return [['Invoice', n.invoiceNumber], ['Date', date]];
    }
  },
};

const fr: Words = {
  greeting: (name) => `Bonjour ${name},`,
  subject(n, brand, amount) {
    switch (n.kind) {
      case 'payment_failed': return `${brand} : le prélèvement de ${amount} pour la facture ${n.invoiceNumber} a échoué`;
      case 'dunning_reminder': return `${brand} : la facture ${n.invoiceNumber} est en retard`;
      case 'dunning_suspended': return `${brand} : votre service est suspendu (facture ${n.invoiceNumber} impayée)`;
      case 'dunning_cancelled': return `${brand} : votre service est résilié (facture ${n.invoiceNumber} impayée)`;
      case 'usage_threshold':
        return n.percent === null ? `${brand} : votre dépassement ${n.usageType} a atteint ${amount}` : `${brand} : vous avez utilisé ${n.percent} % de vos minutes ${n.usageType} incluses`;
    }
  },
  lines(n, brand, amount, date, support) {
    switch (n.kind) {
      case 'payment_failed':
        return [`Le prélèvement de ${amount} pour la facture ${n.invoiceNumber} a échoué le ${date}.`, 'Veuillez mettre à jour votre moyen de paiement ou régler la facture autrement.', `Des questions ? Écrivez à ${support}.`];
      case 'dunning_reminder':
        return [`La facture ${n.invoiceNumber} est en retard${n.daysOverdue === null ? '' : ` de ${n.daysOverdue} jours`}.`, 'Veuillez la régler pour garder votre service.', `Des questions ? Écrivez à ${support}.`];
      case 'dunning_suspended':
        return [`La facture ${n.invoiceNumber} reste impayée : votre service ${brand} est suspendu depuis le ${date}.`, 'Il est rétabli dès le paiement de la facture.', `Des questions ? Écrivez à ${support}.`];
      case 'dunning_cancelled':
        return [`La facture ${n.invoiceNumber} reste impayée : votre service ${brand} est résilié depuis le ${date}.`, `Pour régler le solde, écrivez à ${support}.`];
      case 'usage_threshold':
        return n.percent === null
          ? [`Votre usage ${n.usageType} au-delà des minutes incluses a atteint ${amount} pour la période qui se termine le ${date}.`]
          : [`Vous avez utilisé ${n.percent} % des minutes ${n.usageType} incluses pour la période qui se termine le ${date}.`];
    }
  },
  rows(n, amount, date) {
    switch (n.kind) {
      case 'payment_failed': return [['Facture', n.invoiceNumber], ['Montant', amount], ['Tentative du', date]];
      case 'usage_threshold': return [['Utilisé', `${n.usedMinutes.toFixed()} min`], ['Inclus', `${n.includedMinutes.toFixed()} min`], ['Fin de période', date]];
      default: return [['Facture', n.invoiceNumber], ['Date', date]];
    }
  },
};

export function noticeEmail(notice: Notice, branding: BrandBranding, customer: CustomerBlock): RenderedEmail {
  validateNoticeInput(branding, customer);
  const words = branding.locale.toLowerCase().startsWith('fr') ? fr : en;
  const amount =
    notice.kind === 'payment_failed'
      ? formatAmount(notice.amount, notice.currency, branding.locale)
      : notice.kind === 'usage_threshold' && notice.overage
        ? formatAmount(notice.overage.threshold, notice.overage.currency, branding.locale)
        : '';
  const date = formatDate(notice.kind === 'usage_threshold' ? notice.periodEnd : notice.at, branding.timeZone, branding.locale);
  const name = customer.contactName ?? customer.name;
  const lines = words.lines(notice, branding.displayName, amount, date, branding.supportEmail);
  const rows = words.rows(notice, amount, date);
  const text = [words.greeting(name), '', ...lines.flatMap((l) => [l, '']), ...rows.map(([k, v]) => `${k}: ${v}`), '', '--', branding.legalName, branding.footerText].join('\n');
  const inner = `<p>${e(words.greeting(name))}</p>
${lines.map((l) => `<p>${e(l)}</p>`).join('\n')}
${summaryTable(rows, branding.accentColour)}`;
  return { ...addresses(branding, customer), subject: oneLine(words.subject(notice, branding.displayName, amount)), text, html: htmlShell(branding.locale, brandView(branding), inner) };
}
