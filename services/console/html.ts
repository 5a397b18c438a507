import escapeHtml from 'escape-html';
import { Decimal } from 'decimal.js';
import { minorUnits } from '../../domain/money/index.ts';

/** Markup that is already safe: what `html` returns, never escaped again. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Value = Html | string | number | bigint | boolean | null | undefined | readonly Value[];

function render(value: Value): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/**
 * Server-side markup: every interpolated value is HTML-escaped (escape-html) unless it is itself
 * `html` output, so data from the services (names, reasons, messages) can never become markup.
 */
export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** A query string from the set values (for links that keep filters and pages). */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

/**
 * An invoice-level amount as the customer reads it: the currency's minor units (the services
 * store money at six decimals), with its code. Anything that is not a decimal is shown as it came.
 */
export function money(amount: string | number, currency: string): string {
  try {
    return `${new Decimal(amount).toFixed(minorUnits(currency))} ${currency}`;
  } catch {
    return `${amount} ${currency}`;
  }
}
