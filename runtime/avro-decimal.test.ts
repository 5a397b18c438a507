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
