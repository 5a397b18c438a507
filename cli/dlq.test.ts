import { describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import { loadRuntimeConfig } from '../runtime/config.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { describePayload, dlqCommand, payloadJson } from './dlq.ts';

// Nothing listens here: these cases must fail on their arguments before any connection.
const offline = loadRuntimeConfig('dlq-test', { KAFKA_BROKERS: '127.0.0.1:9', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:9', DATABASE_URL: 'postgres://x@127.0.0.1:9/x' });
const lines: string[] = [];
const dlq = (...args: string[]) => dlqCommand(args, offline, (line) => lines.push(line));

describe('dlq command line', () => {
  it('reports every bad filter at once', async () => {
    await expect(dlq('list', '--since', 'yesterday', '--until', '2026-13-01', '--limit', '0')).rejects.toThrow(
      'dlq list:\n  - --since yesterday is not an ISO instant (e.g. 2026-03-10T15:00:00Z)\n  - --until 2026-13-01 is not an ISO instant (e.g. 2026-03-10T15:00:00Z)\n  - --limit 0 is not a positive whole number',
    );
  });

  it('refuses unknown options, a redrive of everything without --all, and a malformed record reference', async () => {
    await expect(dlq('list', '--servce', 'x')).rejects.toThrow(/^dlq list: Unknown option '--servce'/);
    await expect(dlq('redrive', '--dry-run')).rejects.toThrow(/give filters .* or --all/);
    await expect(dlq('show')).rejects.toThrow(/dlq show takes one <partition>:<offset>/);
    await expect(dlq('show', '1-42')).rejects.toThrow('dlq show takes <partition>:<offset> as dlq list prints it, e.g. 1:42 (got "1-42")');
  });

  it('prints its usage for help and an unknown subcommand', async () => {
    expect(await dlq('help')).toBe(0);
    expect(await dlq('purge')).toBe(2);
    expect(lines.filter((l) => l.startsWith('rateline dlq list|show|redrive'))).toHaveLength(2);
  });
});

describe('payload rendering', () => {
  it('prints decimals as exact strings and bytes as hex', () => {
    // As JavaScript numbers 0.1 + 0.2 and 1e-7 would print as 0.30000000000000004 and 1e-7.
    const value = { sum: new Decimal('0.1').plus('0.2'), tiny: new Decimal('0.0000001'), big: new Decimal('123456789012.345678'), raw: Buffer.from([0, 255]), n: 3 };
    expect(JSON.parse(payloadJson(value))).toEqual({ sum: '0.3', tiny: '0.0000001', big: '123456789012.345678', raw: '00ff', n: 3 });
  });

  it('explains bytes without Confluent framing and previews them, bounded', async () => {
    const serde = new AvroSerde(offline.registry.url);
    const text = Buffer.from('{"cdrId":"x"}');
    expect(await describePayload(serde, text)).toEqual({
      decoded: false,
      reason: 'not Confluent Avro: it does not start with the magic byte 0 and a 4-byte schema id',
      size: 13,
      utf8: '{"cdrId":"x"}',
      hex: '7b 22 63 64 72 49 64 22 3a 22 78 22 7d',
    });
    const long = await describePayload(serde, Buffer.alloc(1000, 0x41));
    expect(long).toMatchObject({ size: 1000, utf8: 'A'.repeat(256) });
    expect(long.decoded === false && long.hex.split(' ')).toHaveLength(256);
    // Too short to hold a schema id.
    expect(await describePayload(serde, Buffer.from([0, 0, 1]))).toMatchObject({ decoded: false, utf8: '...', hex: '00 00 01' });
  });
});
