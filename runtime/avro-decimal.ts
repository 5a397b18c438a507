import avro from 'avsc';
import { Decimal } from 'decimal.js';

const TEN = 10n;

/**
 * Avro's `decimal` logical type (bytes; two's-complement big-endian unscaled integer) as decimal.js.
 * Encoding refuses a value with more fractional digits than the schema's scale or more digits than
 * its precision: rounding is a business step, never a side effect of serialisation.
 */
export class AvroDecimal extends avro.types.LogicalType {
  private readonly precision: number;
  private readonly scale: number;

  constructor(schema: avro.Schema & { precision?: number; scale?: number }, opts?: avro.ForSchemaOptions) {
    super(schema, opts);
    this.precision = schema.precision ?? 18;
    this.scale = schema.scale ?? 0;
  }

  override _fromValue(value: Buffer): Decimal {
    return new Decimal(bytesToBigInt(value).toString()).dividedBy(new Decimal(10).pow(this.scale));
  }

  override _toValue(value: unknown): Buffer {
    const decimal = toDecimal(value);
    const unscaled = decimal.times(new Decimal(10).pow(this.scale));
    if (!unscaled.isInteger()) throw new Error(`decimal ${decimal.toString()} has more than ${this.scale} fractional digits`);
    const big = BigInt(unscaled.toFixed(0));
    const limit = TEN ** BigInt(this.precision);
    if (big >= limit || big <= -limit) throw new Error(`decimal ${decimal.toString()} exceeds precision ${this.precision}`);
    return bigIntToBytes(big);
  }

  override _resolve(type: avro.Type): ((value: unknown) => unknown) | undefined {
    const other = type as unknown as { precision?: number; scale?: number; typeName?: string };
    if (type instanceof AvroDecimal && other.scale === this.scale) return (value) => value;
    return undefined;
  }
}

function toDecimal(value: unknown): Decimal {
  if (Decimal.isDecimal(value)) return value as Decimal;
  if (typeof value === 'string') return new Decimal(value);
  throw new Error(`expected a Decimal or a decimal string, got ${typeof value}: money is never a JavaScript number`);
}

function bytesToBigInt(buf: Buffer): bigint {
  if (buf.length === 0) return 0n;
  let result = 0n;
  for (const byte of buf) result = (result << 8n) | BigInt(byte);
  if ((buf[0]! & 0x80) !== 0) result -= 1n << BigInt(buf.length * 8);
  return result;
}

function bigIntToBytes(value: bigint): Buffer {
  const bytes: number[] = [];
  let v = value;
  // Emit bytes until the remaining value is pure sign extension of the last byte's top bit.
  do {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  } while (!((v === 0n && (bytes[0]! & 0x80) === 0) || (v === -1n && (bytes[0]! & 0x80) !== 0)));
  return Buffer.from(bytes);
}

/** The avsc options every rateline schema is parsed with. */
export const avroOptions: Partial<avro.ForSchemaOptions> = {
  logicalTypes: { decimal: AvroDecimal as unknown as new (schema: avro.Schema, opts?: avro.ForSchemaOptions) => avro.types.LogicalType },
};
