import { describe, expect, it } from 'vitest';
import {
  MoneyError,
  addMoney,
  compareMoney,
  fromMinorUnits,
  minorUnits,
  money,
  multiplyMoney,
  parseMoney,
  roundMoney,
  roundToMinor,
  sumMoney,
  toMinorUnits,
} from './index.ts';
import type { RoundingMode } from './index.ts';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof MoneyError ? error.code : 'not_a_money_error';
  }
  return undefined;
}

describe('parseMoney', () => {
  it.each([
    ['12.5', '12.5'],
    ['0.000001', '0.000001'],
    ['-3', '-3'],
    [' 7.10 ', '7.1'],
    ['-0', '0'],
  ])('parses %j', (text, expected) => {
    expect(parseMoney(text, 'USD').amount.toFixed()).toBe(expected);
  });

  it.each([
    ['abc', 'invalid_amount'],
    ['1e3', 'invalid_amount'],
    ['1,000.00', 'invalid_amount'],
    ['', 'invalid_amount'],
    ['0.0000001', 'amount_scale_exceeded'],
  ])('refuses %j with %s', (text, expected) => {
    expect(code(() => parseMoney(text, 'USD'))).toBe(expected);
  });

  it('refuses an unknown currency', () => {
    expect(code(() => parseMoney('1', 'XYZ'))).toBe('unknown_currency');
  });

  it('refuses a fractional JS number', () => {
    expect(code(() => money(0.1, 'USD'))).toBe('invalid_amount');
    expect(money(3, 'USD').amount.toFixed()).toBe('3');
  });
});

describe('arithmetic', () => {
  it('adds without binary floating point error', () => {
    const a = parseMoney('0.1', 'USD');
    const b = parseMoney('0.2', 'USD');
    expect(addMoney(a, b).amount.toFixed()).toBe('0.3');
  });

  it('sums a connect fee and per-minute charges exactly (CGRateS #260)', () => {
    const parts = ['0.15', '0.01', '0.01', '0.01'].map((p) => parseMoney(p, 'USD'));
    expect(sumMoney('USD', parts).amount.toFixed()).toBe('0.18');
  });

  it('multiplies by a quantity, back to scale 6 with half-even', () => {
    expect(multiplyMoney(parseMoney('0.10', 'USD'), '1.5').amount.toFixed()).toBe('0.15');
    expect(multiplyMoney(parseMoney('0.123457', 'USD'), '0.5').amount.toFixed()).toBe('0.061728');
    expect(multiplyMoney(parseMoney('0.123455', 'USD'), '0.5').amount.toFixed()).toBe('0.061728');
  });

  it('refuses to combine currencies', () => {
    expect(code(() => addMoney(parseMoney('1', 'USD'), parseMoney('1', 'EUR')))).toBe(
      'currency_mismatch',
    );
    expect(code(() => compareMoney(parseMoney('1', 'USD'), parseMoney('1', 'EUR')))).toBe(
      'currency_mismatch',
    );
  });

  it('compares', () => {
    expect(compareMoney(parseMoney('1.000001', 'USD'), parseMoney('1', 'USD'))).toBe(1);
    expect(compareMoney(parseMoney('1', 'USD'), parseMoney('1.00', 'USD'))).toBe(0);
    expect(compareMoney(parseMoney('-1', 'USD'), parseMoney('0', 'USD'))).toBe(-1);
  });
});

describe('roundToMinor', () => {
  it('knows the exponents', () => {
    expect([minorUnits('USD'), minorUnits('JPY'), minorUnits('KWD'), minorUnits('BHD')]).toEqual([
      2, 0, 3, 3,
    ]);
  });

  const table: Array<[string, string, RoundingMode, string]> = [
    // amount, currency, mode, expected
    ['1.005', 'USD', 'half_up', '1.01'],
    ['1.005', 'USD', 'half_even', '1'],
    ['1.015', 'USD', 'half_even', '1.02'],
    ['1.009999', 'USD', 'down', '1'],
    ['1.000001', 'USD', 'up', '1.01'],
    ['-1.005', 'USD', 'half_up', '-1.01'],
    ['-1.005', 'USD', 'half_even', '-1'],
    ['-1.009', 'USD', 'down', '-1'],
    ['-1.001', 'USD', 'up', '-1.01'],
    ['-0.001', 'USD', 'half_up', '0'],
    ['152.5', 'JPY', 'half_up', '153'],
    ['152.5', 'JPY', 'half_even', '152'],
    ['153.5', 'JPY', 'half_even', '154'],
    ['0.0005', 'KWD', 'half_up', '0.001'],
    ['1.2345', 'BHD', 'half_even', '1.234'],
    ['1.2345', 'BHD', 'up', '1.235'],
    ['19.999999', 'EUR', 'half_up', '20'],
    ['0.125', 'GBP', 'half_even', '0.12'],
  ];
  it.each(table)('%s %s %s -> %s', (amount, currency, mode, expected) => {
    expect(roundToMinor(amount, currency, mode).toFixed()).toBe(expected);
  });

  it('refuses an unknown currency instead of guessing its exponent', () => {
    expect(code(() => roundToMinor('1', 'ABC', 'half_up'))).toBe('unknown_currency');
  });
});

describe('minor units as integers', () => {
  it('converts rounded amounts to cents and back', () => {
    const rounded = roundMoney(parseMoney('12.345', 'USD'), 'half_up');
    expect(toMinorUnits(rounded)).toBe(1235n);
    expect(toMinorUnits(parseMoney('500', 'JPY'))).toBe(500n);
    expect(toMinorUnits(parseMoney('1.234', 'KWD'))).toBe(1234n);
    expect(fromMinorUnits(1235n, 'USD').amount.toFixed()).toBe('12.35');
  });

  it('refuses an unrounded amount rather than rounding twice', () => {
    expect(code(() => toMinorUnits(parseMoney('12.345', 'USD')))).toBe('amount_scale_exceeded');
  });
});
