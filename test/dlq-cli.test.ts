import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type avro from 'avsc';
import { dlqCommand, listDeadLetters, payloadJson, redriveDeadLetters, showDeadLetter } from '../cli/dlq.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { scanTopic, type RawRecord } from '../runtime/topic-scan.ts';
import { applyTopics } from '../topics/apply.ts';
import { topics } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, testTopic, uniqueSuffix } from './helpers.ts';

const suffix = uniqueSuffix();
const config = testConfig('dlq-cli');
const kafka = testKafka('dlq-cli');
const serde = new AvroSerde(config.registry.url);
const serviceA = `dlq-a-${suffix}`;
const serviceB = `dlq-b-${suffix}`;
const targetA = testTopic('dlq-target-a');
const targetB = testTopic('dlq-target-b');
const chargeSchema: avro.Schema = {
  type: 'record',
  name: 'DlqTestCharge',
  fields: [
    { name: 'chargeId', type: 'string' },
    { name: 'amount', type: { type: 'bytes', logicalType: 'decimal', precision: 18, scale: 6 } },
    { name: 'currency', type: 'string' },
  ],
};
const garbage = Buffer.concat([Buffer.from([0xff, 0xfe, 0x01, 0x02]), Buffer.from('not avro\n')]);
// Confluent framing with a schema id no registry hands out.
const unknownSchema = Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 1, 2, 3]);
const t0 = Date.now() - 600_000;

interface Sent {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
  ref?: string;
}
const sent: Record<'garbageA' | 'avroA' | 'oldA' | 'avroB' | 'unknownB', Sent> = {} as never;
let out: string[] = [];
const run = async (...args: string[]) => {
  out = [];
  expect(await dlqCommand(args, config, (line) => out.push(...line.split('\n')))).toBe(0);
  return out;
};
const dlqHeaders = (service: string, topic: string, code: string, message: string, at?: number) => ({
  'dlq-service': service,
  'dlq-topic': topic,
  'dlq-partition': '2',
  'dlq-offset': '41',
  'dlq-error-code': code,
  'dlq-error-message': message,
  ...(at === undefined ? {} : { 'dlq-at': String(at) }),
});

async function readAll(topic: string): Promise<RawRecord[]> {
  const records: RawRecord[] = [];
  await scanTopic(kafka, topic, (batch) => void records.push(...batch));
  return records;
}

/** A transaction's records show once the broker has written its markers, a moment after the commit. */
const awaitRecords = (topic: string, n: number) => eventually(`${n} records on ${topic}`, async () => ((await readAll(topic)).length >= n ? readAll(topic) : undefined), 10_000);

beforeAll(async () => {
  await applyTopics(kafka, undefined, [topics.deadLetter, topics.deadLetterRedriven, targetA, targetB]);
  const encode = serde.encoder<Record<string, unknown>>(await serde.register(`test.dlq-${suffix}-value`, chargeSchema));
  const avroValue = (chargeId: string, amount: string) => encode({ chargeId, amount, currency: 'USD' });
  const original = (eventId: string) => ({ 'event-id': eventId, brand: `brand-${suffix}` });
  sent.oldA = { key: 'acct-old', value: avroValue('c-old', '0.000001'), headers: { ...original('e-old'), ...dlqHeaders(serviceA, targetA.name, 'unknown_plan', 'plan p:1 unknown', t0 - 86_400_000) } };
  sent.garbageA = { key: 'src/1', value: garbage, headers: { ...original('e-garbage'), ...dlqHeaders(serviceA, targetA.name, 'not_confluent_avro', 'the message does not start\nwith the magic byte', t0) } };
  sent.avroA = { key: 'acct-2', value: avroValue('c-2', '1234.567891'), headers: { ...original('e-2'), ...dlqHeaders(serviceA, targetA.name, 'unknown_plan', 'plan p:2 unknown', t0 + 1000) } };
  sent.avroB = { key: 'acct-3', value: avroValue('c-3', '-7.5'), headers: { ...original('e-3'), ...dlqHeaders(serviceB, targetB.name, 'unknown_plan', 'plan p:3 unknown', t0 + 2000) } };
  // No dlq-at (dead-lettered before the header existed): its Kafka timestamp counts.
  sent.unknownB = { key: 'src/4', value: unknownSchema, headers: { ...original('e-4'), ...dlqHeaders(serviceB, targetB.name, 'undecodable_avro', 'schema gone') } };
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  for (const s of Object.values(sent)) {
    const timestamp = s === sent.unknownB ? String(t0 + 3000) : undefined;
    const [meta] = await producer.send({ topic: topics.deadLetter.name, acks: -1, messages: [{ key: s.key, value: s.value, headers: s.headers, timestamp }] });
    s.ref = `${meta!.partition}:${meta!.baseOffset}`;
  }
  await producer.disconnect();
});

afterAll(async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [targetA.name, targetB.name] }).catch(() => undefined);
  await admin.disconnect();
});

describe('rateline dlq', () => {
  it('lists dead-letter records oldest first with filters, and counts them by service and code', async () => {
    const a = await listDeadLetters(kafka, { service: serviceA });
    expect(a.records.map((d) => d.ref)).toEqual([sent.oldA.ref, sent.garbageA.ref, sent.avroA.ref]);
    expect(a.counts).toEqual({ [serviceA]: { unknown_plan: 2, not_confluent_avro: 1 } });
    expect(a.records[1]).toMatchObject({ at: t0, atFrom: 'dlq-at', topic: targetA.name, sourcePartition: '2', sourceOffset: '41', code: 'not_confluent_avro', redriven: false });

    const b = await listDeadLetters(kafka, { topic: targetB.name });
    expect(b.records.map((d) => [d.ref, d.at, d.atFrom])).toEqual([
      [sent.avroB.ref, t0 + 2000, 'dlq-at'],
      [sent.unknownB.ref, t0 + 3000, 'timestamp'],
    ]);
    expect(b.counts).toEqual({ [serviceB]: { unknown_plan: 1, undecodable_avro: 1 } });

    expect((await listDeadLetters(kafka, { service: serviceA, code: 'unknown_plan', since: t0 })).records.map((d) => d.ref)).toEqual([sent.avroA.ref]);
    expect((await listDeadLetters(kafka, { service: serviceA, until: t0 })).records.map((d) => d.ref)).toEqual([sent.oldA.ref]);
    const limited = await listDeadLetters(kafka, { service: serviceA, limit: 2 });
    expect({ shown: limited.records.map((d) => d.ref), matched: limited.matched }).toEqual({ shown: [sent.oldA.ref, sent.garbageA.ref], matched: 3 });

    const lines = await run('list', '--service', serviceA, '--since', new Date(t0).toISOString());
    const iso = (ms: number) => new Date(ms).toISOString();
    expect(lines.slice(0, 2).map((l) => l.split(/\s{2,}/))).toEqual([
      [sent.garbageA.ref, iso(t0), serviceA, `${targetA.name}:2:41`, 'not_confluent_avro', 'the message does not start with the magic byte'],
      [sent.avroA.ref, iso(t0 + 1000), serviceA, `${targetA.name}:2:41`, 'unknown_plan', 'plan p:2 unknown'],
    ]);
    expect(lines[2]).toMatch(/^2 of \d+ dead-letter records matched$/);
    expect(lines.slice(3).map((l) => l.trim().split(/\s+/))).toEqual([['by', 'service', 'and', 'code:'], [serviceA, 'not_confluent_avro', '1'], [serviceA, 'unknown_plan', '1']]);

    const json = JSON.parse((await run('list', '--service', serviceB, '--json')).join('\n')) as { matched: number; records: { key: string; at: string }[] };
    expect({ matched: json.matched, records: json.records.map((r) => [r.key, r.at]) }).toEqual({ matched: 2, records: [['acct-3', iso(t0 + 2000)], ['src/4', iso(t0 + 3000)]] });
  });

  it('shows a record: its headers, the Avro value decoded with exact decimals, or why it could not be', async () => {
    const avro = await showDeadLetter(kafka, serde, sent.avroA.ref!);
    expect(avro.deadLetter.record.headers).toEqual(sent.avroA.headers);
    expect(avro.value?.decoded).toBe(true);
    if (!avro.value?.decoded) return;
    expect(JSON.parse(payloadJson(avro.value.value))).toEqual({ chargeId: 'c-2', amount: '1234.567891', currency: 'USD' });
    // 10^-6 would print as 1e-6 through a JavaScript number.
    const tiny = await showDeadLetter(kafka, serde, sent.oldA.ref!);
    expect(tiny.value?.decoded && JSON.parse(payloadJson(tiny.value.value)).amount).toBe('0.000001');

    const lines = await run('show', sent.avroA.ref!);
    expect(lines[0]).toBe(`ops.dead-letter ${sent.avroA.ref}`);
    expect(lines[1]).toBe(`dead-lettered at ${new Date(t0 + 1000).toISOString()} (dlq-at header)`);
    expect(lines).toContain(`  dlq-service: ${serviceA}`);
    expect(lines).toContain('  event-id: e-2');
    expect(lines).toContain('  utf8: "acct-2"');
    expect(lines).toContain('  "amount": "1234.567891",');

    const garbageLines = await run('show', sent.garbageA.ref!);
    expect(garbageLines).toContain(`value: ${garbage.length} bytes, not decoded: not Confluent Avro: it does not start with the magic byte 0 and a 4-byte schema id`);
    // 0xff and 0xfe are never UTF-8, 0x01, 0x02 and the newline are control characters: dots.
    expect(garbageLines).toContain('  utf8: "....not avro."');
    expect(garbageLines).toContain('  hex:  ff fe 01 02 6e 6f 74 20 61 76 72 6f 0a');

    const unknown = await showDeadLetter(kafka, serde, sent.unknownB.ref!);
    expect(unknown.value).toMatchObject({ decoded: false, reason: expect.stringMatching(/^the registry does not know schema id 2147483632 /) });
    expect(unknown.deadLetter.atFrom).toBe('timestamp');

    const [partition] = sent.avroA.ref!.split(':');
    await expect(showDeadLetter(kafka, serde, `${partition}:999999999`)).rejects.toThrow(/has no record at \d+:999999999: partition \d+ holds offsets 0 to \d+/);
    await expect(showDeadLetter(kafka, serde, 'x')).rejects.toThrow(/<partition>:<offset>/);
  });

  it('redrives matching records once, with their original key, value and headers; dry runs send nothing', async () => {
    const filter = { service: serviceA, code: 'unknown_plan' };
    const dry = await redriveDeadLetters(kafka, { ...filter, dryRun: true });
    expect(dry).toMatchObject({ sent: { [targetA.name]: 2 }, alreadyRedriven: 0, unredrivable: {}, leftByLimit: 0 });
    expect(await readAll(targetA.name)).toEqual([]);

    const first = await redriveDeadLetters(kafka, filter);
    expect(first).toMatchObject({ sent: { [targetA.name]: 2 }, alreadyRedriven: 0, skippedByFilter: first.scanned - 2 });
    const redriven = await awaitRecords(targetA.name, 2);
    const asSent = (s: Sent) => ({ key: s.key, value: s.value.toString('hex'), headers: { 'event-id': s.headers['event-id'], brand: s.headers.brand, 'redriven-from': `ops.dead-letter:${s.ref}` } });
    expect(redriven.map((r) => ({ key: r.key?.toString(), value: r.value?.toString('hex'), headers: r.headers })).sort((x, y) => x.key!.localeCompare(y.key!))).toEqual([asSent(sent.avroA), asSent(sent.oldA)]);

    const second = await redriveDeadLetters(kafka, filter);
    expect(second).toMatchObject({ sent: {}, alreadyRedriven: 2 });
    expect(await redriveDeadLetters(kafka, { ...filter, dryRun: true })).toMatchObject({ sent: {}, alreadyRedriven: 2 });
    expect((await listDeadLetters(kafka, { service: serviceA })).records.map((d) => [d.ref, d.redriven])).toEqual([
      [sent.oldA.ref, true],
      [sent.garbageA.ref, false],
      [sent.avroA.ref, true],
    ]);

    // Two at once (two operators): however they interleave, the one record goes back once; the
    // later one to start fences the other, whose transaction is aborted.
    const garbageOnly = { service: serviceA, code: 'not_confluent_avro' };
    const both = await Promise.allSettled([redriveDeadLetters(kafka, garbageOnly), redriveDeadLetters(kafka, garbageOnly)]);
    expect(both.reduce((n, r) => n + (r.status === 'fulfilled' ? (r.value.sent[targetA.name] ?? 0) : 0), 0)).toBe(1);
    expect((await awaitRecords(targetA.name, 3)).map((r) => r.key?.toString()).sort()).toEqual(['acct-2', 'acct-old', 'src/1']);

    // The real command, once, as ops run it: the wiring from argv to Kafka.
    const endpoints = inject('endpoints');
    const env = { ...process.env, KAFKA_BROKERS: endpoints.kafkaBrokers, SCHEMA_REGISTRY_URL: endpoints.schemaRegistryUrl, DATABASE_URL: endpoints.databaseUrl };
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'cli/rateline.ts', 'dlq', 'redrive', '--topic', targetB.name], { cwd: process.cwd(), env });
    expect(stdout.split('\n')[0]).toBe(`sent 2: 2 to ${targetB.name}`);
    expect((await awaitRecords(targetB.name, 2)).map((r) => r.key?.toString()).sort()).toEqual(['acct-3', 'src/4']);

    const again = await run('redrive', '--topic', targetB.name);
    expect(again.slice(0, 2)).toEqual(['sent 0', 'nothing to send: every matching record was already redriven']);
    expect(again[2]).toMatch(new RegExp(`^skipped 2 already redriven, \\d+ by filter \\(of \\d+ dead-letter records\\)$`));
    // Seconds after the repeated redrives: anything they had sent would show by now.
    expect(await readAll(targetA.name)).toHaveLength(3);
    expect(await readAll(targetB.name)).toHaveLength(2);
  });
});
