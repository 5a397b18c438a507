import { describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import kafkajs from 'kafkajs';
import { runDemo } from '../cli/demo.ts';
import { applyTopics } from '../topics/apply.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { testConfig, testKafka, testTopic, uniqueSuffix } from './helpers.ts';

const { ConfigResourceTypes } = kafkajs;

describe('the local stack and the contracts', () => {
  it('produces an Avro cdr.raw record through the registry and consumes it back, decoded and equal', async () => {
    const lines: string[] = [];
    const { sent, received } = await runDemo(testConfig(), ['ansr-us'], (line) => lines.push(line));
    expect(received).toEqual(sent);
    expect(lines.join('\n')).toMatch(/produced CDR demo-/);
  });

  it('a reader with its own serde decodes money written by another as exact decimals', async () => {
    const subject = `test.money.${uniqueSuffix()}-value`;
    const schema = { type: 'record' as const, name: 'Money', namespace: 'dev.rateline.test', fields: [{ name: 'amount', type: { type: 'bytes' as const, logicalType: 'decimal', precision: 18, scale: 6 } }] };
    const writer = new AvroSerde(testConfig().registry.url);
    const bytes = writer.encoder<{ amount: Decimal }>(await writer.register(subject, schema))({ amount: new Decimal('0.174') });
    const reader = new AvroSerde(testConfig().registry.url); // knows nothing of the schema id yet
    await reader.prepare([bytes]);
    const value = reader.decode<{ amount: Decimal }>(bytes);
    expect(Decimal.isDecimal(value.amount)).toBe(true);
    expect(value.amount.toFixed(6)).toBe('0.174000');
  });

  it('the registry refuses an incompatible change under BACKWARD and accepts a compatible one', async () => {
    const serde = new AvroSerde(testConfig().registry.url);
    const subject = `test.compat.${uniqueSuffix()}-value`;
    const v1 = { type: 'record' as const, name: 'Probe', namespace: 'dev.rateline.test', fields: [{ name: 'id', type: 'string' }] };
    const v2Compatible = { ...v1, fields: [...v1.fields, { name: 'note', type: 'string', default: '' }] };
    // A new field without a default: a reader of v3 cannot read v1 data. BACKWARD forbids it.
    const v3Incompatible = { ...v1, fields: [...v1.fields, { name: 'amount', type: 'long' }] };
    const id1 = await serde.register(subject, v1);
    const id2 = await serde.register(subject, v2Compatible);
    expect(id2).not.toBe(id1);
    const registry = new SchemaRegistry({ host: testConfig().registry.url });
    const refusal = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v3Incompatible) }, { subject }).then(
      () => undefined,
      (err: { status?: number; message: string }) => err,
    );
    expect(refusal).toBeDefined();
    expect(refusal?.status).toBe(409);
  });

  it('topics apply is idempotent: the second run changes nothing, drift is corrected and reported', async () => {
    const kafka = testKafka();
    const serde = new AvroSerde(testConfig().registry.url);
    const compacted = testTopic('ref', { cleanupPolicy: 'compact', partitions: 1, schema: 'ref.brands' });
    const events = testTopic('events', { retentionMs: 86_400_000, schema: 'cdr.raw' });
    const first = await applyTopics(kafka, serde, [compacted, events]);
    expect(first).toEqual([
      `created topic ${compacted.name} (1 partitions, compact)`,
      `created topic ${events.name} (3 partitions, delete)`,
      expect.stringMatching(new RegExp(`^registered schema ref.brands under ${compacted.name.replace(/\./g, '\\.')}-value \\(id \\d+, BACKWARD\\)$`)),
      expect.stringMatching(new RegExp(`^registered schema cdr.raw under ${events.name.replace(/\./g, '\\.')}-value`)),
    ]);
    expect(await applyTopics(kafka, serde, [compacted, events])).toEqual([]);

    // Someone changes a managed config and the declared partitions grow: apply puts it right.
    const admin = kafka.admin();
    await admin.connect();
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: events.name, configEntries: [{ name: 'retention.ms', value: '1000' }] }] });
    await admin.disconnect();
    const third = await applyTopics(kafka, serde, [compacted, { ...events, partitions: 4 }]);
    expect(third).toEqual([`topic ${events.name}: partitions 3 -> 4`, `topic ${events.name}: retention.ms 1000 -> 86400000`]);
    expect(await applyTopics(kafka, serde, [compacted, { ...events, partitions: 4 }])).toEqual([]);
  });
});
