import avro from 'avsc';
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { avroOptions } from './avro-decimal.ts';

const type = avro.Type.forSchema(
  { type: 'record', name: 'T', fields: [{ name: 'amount', type: { type: 'bytes', logicalType: 'decimal', precision: 18, scale: 6 } }] },
  avroOptions,
);

describe('Avro decimal (18,6)', () => {
  it.each([
    // value, unscaled integer = value × 10^6, its minimal two's-complement bytes
    ['0', '00'],
    ['0.000001', '01'],
    ['0.000128', '0080'], // 128 needs a leading zero byte to stay positive
    ['-0.000001', 'ff'],
    ['-0.000128', '80'],
    ['-0.000129', 'ff7f'],
    ['1.15', '118c30'], // 1,150,000 = 0x118C30
    ['-12.34', 'ff43b4e0'], // -12,340,000: 12,340,000 = 0xBC4B20; 2^32 - that = 0xFF43B4E0 (three bytes would read positive)
  ])('encodes %s as unscaled bytes %s and decodes it back exactly', (value, hex) => {
    const buf = type.toBuffer({ amount: new Decimal(value) });
    // A record of one bytes field: the zig-zag length, then the bytes.
    expect(buf.subarray(1).toString('hex')).toBe(hex);
    const back = type.fromBuffer(buf) as { amount: Decimal };
    expect(back.amount.equals(new Decimal(value))).toBe(true);
  });

  it('keeps the largest amount of the precision exactly', () => {
    const max = new Decimal('999999999999.999999');
    const back = type.fromBuffer(type.toBuffer({ amount: max })) as { amount: Decimal };
    expect(back.amount.toFixed(6)).toBe('999999999999.999999');
  });

  it('refuses more fractional digits than the scale instead of rounding', () => {
    expect(() => type.toBuffer({ amount: new Decimal('0.0000001') })).toThrow(/more than 6 fractional digits/);
  });

  it('refuses an amount beyond the precision', () => {
    expect(() => type.toBuffer({ amount: new Decimal('1000000000000') })).toThrow(/exceeds precision 18/);
  });

  it('refuses a JavaScript number', () => {
    expect(() => type.toBuffer({ amount: 1.15 })).toThrow(/never a JavaScript number/);
  });
});

describe('Avro decimal (18,6) from text, as the outbox relay reads its payloads back', () => {
  const bytesOf = (amount: unknown) => type.toBuffer({ amount }).subarray(1).toString('hex');

  it.each([
    // text, its unscaled integer's bytes (worked as in the table above)
    ['0', '00'],
    ['-0', '00'],
    ['0.000128', '0080'],
    ['-0.000129', 'ff7f'],
    ['1.15', '118c30'],
    ['1.150000000', '118c30'], // zeros past the scale are exact
    ['-12.34', 'ff43b4e0'],
    ['1.5e-5', '0f'], // decimal.js writes small amounts with an exponent: 15 millionths
    ['0.000255', '00ff'],
    ['-0.000256', 'ff00'],
    // Either side of 2^31 (the 32-bit path and the BigInt path): 2,147,483,647 = 0x7FFFFFFF
    ['2147.483647', '7fffffff'],
    ['2147.483648', '0080000000'],
    ['-2147.483648', '80000000'],
    ['-2147.483649', 'ff7fffffff'],
  ])('encodes the text %s as %s, the same bytes as the decimal', (text, hex) => {
    expect(bytesOf(text)).toBe(hex);
    expect(bytesOf(new Decimal(text))).toBe(hex);
  });

  it('refuses text with more fractional digits than the scale, a number beyond the precision, or not a number', () => {
    expect(() => bytesOf('0.0000001')).toThrow(/more than 6 fractional digits/);
    expect(() => bytesOf('1e-7')).toThrow(/more than 6 fractional digits/);
    expect(() => bytesOf('1000000000000')).toThrow(/exceeds precision 18/);
    expect(() => bytesOf('12,34')).toThrow();
  });

  it('checks validity without encoding, with the same verdicts, and names the field that does not fit', () => {
    expect(type.isValid({ amount: '999999999999.999999' })).toBe(true);
    expect(type.isValid({ amount: new Decimal('-0.000001') })).toBe(true);
    const bad: string[] = [];
    expect(type.isValid({ amount: '0.0000001' }, { errorHook: (path) => bad.push(path.join('.')) })).toBe(false);
    expect(type.isValid({ amount: 1.15 })).toBe(false);
    expect(type.isValid({ amount: new Decimal(Infinity) })).toBe(false);
    expect(bad).toEqual(['amount']);
  });
});
