import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { escapeHtml, formatAddress, formatAmount, formatDate, formatDateTime, formatPeriod, formatQuantity, formatRate, formatUnitPrice } from './format.ts';
import { pdfText } from './pdf.ts';

const NBSP = '\u00a0';
const d = (v: string): Decimal => new Decimal(v);

describe('formatAmount: the decimal string, the currency\'s minor units, the locale', () => {
  it.each([
    ['1234.5', 'GBP', 'en-GB', '£1,234.50'],
    ['1234.5', 'USD', 'en-US', '$1,234.50'],
    ['-7.9', 'USD', 'en-US', '-$7.90'],
    ['1234.5', 'USD', 'en-CA', 'US$1,234.50'],
    ['1234.5', 'CAD', 'en-CA', '$1,234.50'],
    ['1234.5', 'EUR', 'en-GB', '€1,234.50'],
    ['1235', 'JPY', 'en-US', '¥1,235'],
    ['1235', 'JPY', 'en-GB', 'JP¥1,235'],
    ['1.5', 'KWD', 'en-US', `KWD${NBSP}1.500`],
    ['0', 'USD', 'en-US', '$0.00'],
    ['-0', 'USD', 'en-US', '$0.00'],
  ])('%s %s in %s is %s', (value, currency, locale, expected) => {
    expect(formatAmount(d(value), currency, locale)).toBe(expected);
  });

  it('French Canada: comma decimals, space groups, the symbol after', () => {
    // ICU versions differ on the group separator (no-break space or narrow no-break space).
    expect(formatAmount(d('1234.5'), 'CAD', 'fr-CA')).toMatch(/^1[\u00a0\u202f]234,50\u00a0\$$/);
  });

  it('keeps every digit of an amount a JS number cannot hold', () => {
    // As a number, 12345678901234567.89 is 12345678901234568.
    expect(formatAmount(d('12345678901234567.89'), 'USD', 'en-US')).toBe('$12,345,678,901,234,567.89');
  });

  it('refuses an amount not rounded to minor units instead of rounding it for display', () => {
    expect(() => formatAmount(d('1234.5'), 'JPY', 'en-US')).toThrow(/more than 0 decimals/);
    expect(() => formatAmount(d('0.005'), 'USD', 'en-US')).toThrow(/more than 2 decimals/);
  });
});

describe('other numbers', () => {
  it('unit prices keep their own decimals, at least the currency\'s', () => {
    expect(formatUnitPrice(d('0.0375'), 'USD', 'en-US')).toBe('$0.0375');
    expect(formatUnitPrice(d('0.05'), 'USD', 'en-US')).toBe('$0.05');
    expect(formatUnitPrice(d('1.2'), 'GBP', 'en-GB')).toBe('£1.20');
    expect(formatUnitPrice(d('-3.4125'), 'USD', 'en-US')).toBe('-$3.4125');
  });

  it('quantities round half-even for display, grouped by the locale', () => {
    expect(formatQuantity(d('1500'), 'en-US')).toBe('1,500');
    expect(formatQuantity(d('100.016667'), 'en-US')).toBe('100.02');
    expect(formatQuantity(d('0.125'), 'en-US')).toBe('0.12');
    expect(formatQuantity(d('150.5'), 'fr-CA')).toBe('150,5');
  });

  it('tax rates as percents', () => {
    expect(formatRate(d('0.09975'), 'en-CA')).toBe('9.975%');
    expect(formatRate(d('0.2'), 'en-GB')).toBe('20%');
    expect(formatRate(d('0.0625'), 'en-US')).toBe('6.25%');
    expect(formatRate(d('0.09975'), 'fr-CA')).toBe(`9,975${NBSP}%`);
  });
});

describe('dates in the brand\'s zone', () => {
  // 2026-03-01T04:30Z: New York is on EST (UTC−5) until 8 March, so it is 23:30 on 28 February there.
  const instant = new Date('2026-03-01T04:30:00Z');

  it('an instant just after midnight UTC is the previous day in New York', () => {
    expect(formatDate(instant, 'America/New_York', 'en-GB')).toBe('28 Feb 2026');
    expect(formatDate(instant, 'America/New_York', 'en-US')).toBe('Feb 28, 2026');
    expect(formatDate(instant, 'Europe/London', 'en-GB')).toBe('1 Mar 2026');
    expect(formatDate(instant, 'America/Toronto', 'fr-CA')).toBe('28 févr. 2026');
  });

  it('a payment moment shows the local time and zone', () => {
    expect(formatDateTime(instant, 'America/New_York', 'en-US')).toBe('Feb 28, 2026, 11:30 PM EST');
  });

  it('a period [start, end) shows its first and last local day', () => {
    // March 2026 in New York: 1 March 00:00 EST = 05:00Z to 1 April 00:00 EDT = 04:00Z.
    expect(formatPeriod(new Date('2026-03-01T05:00:00Z'), new Date('2026-04-01T04:00:00Z'), 'America/New_York', 'en-US')).toBe('Mar 1, 2026 – Mar 31, 2026');
  });
});

describe('text', () => {
  it('escapes HTML', () => {
    expect(escapeHtml(`Smith & Sons <b>"Plumbing"</b> O'Neil`)).toBe('Smith &amp; Sons &lt;b&gt;&quot;Plumbing&quot;&lt;/b&gt; O&#39;Neil');
  });

  it('addresses by country', () => {
    expect(formatAddress({ line1: '1 Main St', city: 'Albany', region: 'NY', postalCode: '12207', country: 'US' }, 'en-US')).toEqual(['1 Main St', 'Albany, NY 12207', 'United States']);
    expect(formatAddress({ line1: '3 Queen Square', city: 'Bristol', postalCode: 'BS1 4JQ', country: 'GB' }, 'en-GB')).toEqual(['3 Queen Square', 'Bristol', 'BS1 4JQ', 'United Kingdom']);
  });

  it('PDF text keeps WinAnsi characters and replaces the rest', () => {
    expect(pdfText('£1 € $ é • – 9\u202f975')).toBe('£1 € $ é • – 9\u00a0975');
    expect(pdfText('Жук 株式会社')).toBe('??? ????');
  });
});
