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
  // Per schema, not per value: every money field of every record goes through these.
  private readonly factor: Decimal;
  private readonly limit: bigint;

  constructor(schema: avro.Schema & { precision?: number; scale?: number }, opts?: avro.ForSchemaOptions) {
    super(schema, opts);
    this.precision = schema.precision ?? 18;
    this.scale = schema.scale ?? 0;
    this.factor = new Decimal(10).pow(this.scale);
    this.limit = TEN ** BigInt(this.precision);
  }

  override _fromValue(value: Buffer): Decimal {
    return new Decimal(bytesToBigInt(value).toString()).dividedBy(this.factor);
  }

  override _toValue(value: unknown): Buffer {
    return bigIntToBytes(this.unscaled(value));
  }

  // avsc's check converts to the underlying bytes; the unscaled integer is enough to know the value fits.
  _check(value: unknown, _flags?: unknown, hook?: (value: unknown, type: avro.Type) => void): boolean {
    try {
      this.unscaled(value);
      return true;
    } catch {
      hook?.(value, this as unknown as avro.Type);
      return false;
    }
  }

  /** The value × 10^scale as an integer, refused when it has more fractional digits than the scale or more digits than the precision. */
  private unscaled(value: unknown): bigint {
    const big = typeof value === 'string' && PLAIN.test(value) ? this.unscaledText(value) : this.unscaledDecimal(toDecimal(value));
    if (big >= this.limit || big <= -this.limit) throw new Error(`decimal ${String(value)} exceeds precision ${this.precision}`);
    return big;
  }

  // Plain decimal text (as read back from JSON): the digits moved, no decimal.js arithmetic.
  private unscaledText(text: string): bigint {
    const [, sign, whole, fraction = ''] = PLAIN.exec(text)!;
    if (fraction.length > this.scale && !/^0*$/.test(fraction.slice(this.scale))) throw new Error(`decimal ${text} has more than ${this.scale} fractional digits`);
    const digits = fraction.length <= this.scale ? fraction.padEnd(this.scale, '0') : fraction.slice(0, this.scale);
    return BigInt(`${sign}${whole}${digits}`);
  }

  private unscaledDecimal(decimal: Decimal): bigint {
    const unscaled = decimal.times(this.factor);
    if (!unscaled.isInteger()) throw new Error(`decimal ${decimal.toString()} has more than ${this.scale} fractional digits`);
    return BigInt(unscaled.toFixed(0));
  }

  override _resolve(type: avro.Type): ((value: unknown) => unknown) | undefined {
    const other = type as unknown as { precision?: number; scale?: number; typeName?: string };
    if (type instanceof AvroDecimal && other.scale === this.scale) return (value) => value;
    return undefined;
  }
}

const PLAIN = /^(-?)(\d+)(?:\.(\d+))?$/;

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

const INT32 = 1n << 31n;

/** The minimal two's-complement big-endian bytes of `value` (one byte at least). */
function bigIntToBytes(value: bigint): Buffer {
  if (value >= -INT32 && value < INT32) return int32Bytes(Number(value));
  // Larger: as many bytes as the magnitude's bits and a sign bit need (-2^k fits in k+1 bits).
  const magnitude = value < 0n ? -value - 1n : value;
  const size = Math.floor(magnitude.toString(2).length / 8) + 1;
  const unsigned = value < 0n ? (1n << BigInt(size * 8)) + value : value;
  return Buffer.from(unsigned.toString(16).padStart(size * 2, '0'), 'hex');
}

// Most unscaled amounts (below 2,147 at scale 6) fit 32 bits: worked with integer operations, no BigInt.
const scratch = [0, 0, 0, 0];
function int32Bytes(value: number): Buffer {
  let v = value;
  let n = 0;
  // Emit low bytes until what remains is the sign extension of the last byte's top bit.
  do {
    scratch[n++] = v & 0xff;
    v >>= 8;
  } while (!((v === 0 && (scratch[n - 1]! & 0x80) === 0) || (v === -1 && (scratch[n - 1]! & 0x80) !== 0)));
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = scratch[n - 1 - i]!;
  return out;
}

/** The avsc options every rateline schema is parsed with. */
export const avroOptions: Partial<avro.ForSchemaOptions> = {
  logicalTypes: { decimal: AvroDecimal as unknown as new (schema: avro.Schema, opts?: avro.ForSchemaOptions) => avro.types.LogicalType },
};
