import { Decimal } from 'decimal.js';
import { DateTime } from 'luxon';
import { minorUnits } from '../domain/money/index.ts';
import type { PostalAddress } from './types.ts';

/**
 * Money on documents: a decimal.js value goes to Intl.NumberFormat as its decimal STRING
 * (ECMA-402 NumberFormat v3 reads a string as an exact decimal, so 12345678901234567.89
 * prints as such; a JS number would not hold it). The number of decimals is the
 * currency's minor units from domain/money, set explicitly as both minimum and maximum,
 * so the document agrees with the rounding step (JPY 0, GBP 2, KWD 3) even where Intl's
 * own currency data differ. An amount with more decimals than that was not rounded by
 * roundInvoice: it is refused rather than silently rounded for display.
 */

const cache = new Map<string, Intl.NumberFormat>();

function numberFormat(locale: string, options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = `${locale}|${JSON.stringify(options)}`;
  let f = cache.get(key);
  if (f === undefined) {
    f = new Intl.NumberFormat(locale, options);
    cache.set(key, f);
  }
  return f;
}

/** The exact decimal string of a value, with `-0` made `0`. */
function plain(value: Decimal, places: number): string {
  return (value.isZero() ? new Decimal(0) : value).toFixed(places);
}

// Intl's format() takes a decimal string at runtime (NumberFormat v3); TypeScript's lib
// for ES2022 only declares number | bigint.
type StringFormat = (value: string) => string;
const formatString = (f: Intl.NumberFormat, value: string): string => (f.format as unknown as StringFormat)(value);

/** An amount already rounded to the currency's minor units: "£1,234.50", "¥1,235", "1 234,50 $". */
export function formatAmount(value: Decimal, currency: string, locale: string): string {
  const digits = minorUnits(currency);
  if (value.decimalPlaces() > digits) {
    throw new RangeError(`amount ${value.toFixed()} ${currency} has more than ${digits} decimals: round it (roundInvoice) before rendering`);
  }
  const f = numberFormat(locale, { style: 'currency', currency, minimumFractionDigits: digits, maximumFractionDigits: digits });
  return formatString(f, plain(value, digits));
}

/**
 * A unit price, which may carry more decimals than the currency (0.0375 per minute): at
 * least the currency's minor units, at most its own decimals (up to 6), never rounded.
 */
export function formatUnitPrice(value: Decimal, currency: string, locale: string): string {
  const digits = minorUnits(currency);
  const places = Math.min(6, Math.max(digits, value.decimalPlaces()));
  const f = numberFormat(locale, { style: 'currency', currency, minimumFractionDigits: digits, maximumFractionDigits: places });
  return formatString(f, plain(value.toDecimalPlaces(places, Decimal.ROUND_HALF_EVEN), places));
}

/**
 * A quantity (minutes, calls) for display: rounded half-even to `maxDecimals` (the money is
 * exact elsewhere; 100.016667 minutes reads as 100.02).
 */
export function formatQuantity(value: Decimal | number, locale: string, maxDecimals = 2): string {
  const d = new Decimal(value).toDecimalPlaces(maxDecimals, Decimal.ROUND_HALF_EVEN);
  const f = numberFormat(locale, { minimumFractionDigits: 0, maximumFractionDigits: maxDecimals });
  return formatString(f, plain(d, d.decimalPlaces()));
}

/** A tax rate given as a fraction (0.09975) as a percent in the locale: "9.975%", "9,975 %". */
export function formatRate(rate: Decimal, locale: string): string {
  const f = numberFormat(locale, { style: 'percent', minimumFractionDigits: 0, maximumFractionDigits: 4 });
  return formatString(f, plain(rate, rate.decimalPlaces()));
}

function zoned(instant: Date, zone: string, locale: string): DateTime {
  const dt = DateTime.fromJSDate(instant, { zone }).setLocale(locale);
  if (!dt.isValid) throw new RangeError(`cannot show ${String(instant)} in zone ${zone}: ${dt.invalidExplanation ?? dt.invalidReason ?? ''}`);
  return dt;
}

/** The brand-local calendar date of an instant: "Feb 28, 2026" (en-US), "28 Feb 2026" (en-GB). */
export function formatDate(instant: Date, zone: string, locale: string): string {
  return zoned(instant, zone, locale).toLocaleString(DateTime.DATE_MED);
}

/** Date, time and zone abbreviation, for a payment's moment: "Feb 28, 2026, 11:30 PM EST". */
export function formatDateTime(instant: Date, zone: string, locale: string): string {
  const dt = zoned(instant, zone, locale);
  return `${dt.toLocaleString(DateTime.DATETIME_MED)} ${dt.toFormat('ZZZZ')}`;
}

/**
 * A period [start, end) as the first and LAST local day it covers: a period ending at
 * 2026-04-01T00:00 local reads "Mar 1, 2026 – Mar 31, 2026".
 */
export function formatPeriod(start: Date, end: Date, zone: string, locale: string): string {
  const last = zoned(end, zone, locale).minus({ days: 1 });
  return `${formatDate(start, zone, locale)} – ${last.toLocaleString(DateTime.DATE_MED)}`;
}

const COUNTRY_NAMES = new Map<string, Intl.DisplayNames>();

function countryName(country: string, locale: string): string {
  let names = COUNTRY_NAMES.get(locale);
  if (names === undefined) {
    names = new Intl.DisplayNames([locale], { type: 'region' });
    COUNTRY_NAMES.set(locale, names);
  }
  return names.of(country) ?? country;
}

/**
 * An address as printed lines. North America: "City, ST 12345" on one line; the UK and
 * others: town, then postcode. The country is named in the document's language.
 */
export function formatAddress(address: PostalAddress, locale: string): string[] {
  const lines = [address.line1];
  if (address.line2) lines.push(address.line2);
  if (address.country === 'US' || address.country === 'CA') {
    lines.push(`${address.city}${address.region ? `, ${address.region}` : ''} ${address.postalCode}`.trim());
  } else {
    lines.push(address.region ? `${address.city}, ${address.region}` : address.city);
    lines.push(address.postalCode);
  }
  lines.push(countryName(address.country, locale));
  return lines;
}

const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}
