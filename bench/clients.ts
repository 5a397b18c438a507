/**
 * `npm run bench:clients`: is the Kafka client what holds a stage back? The raw one-stage pipe
 * (consume a batch from a group, produce it idempotently with acks=all, commit the batch's
 * offsets), run on the same topic and broker with kafkajs through the runtime (runBatchConsumer
 * and BatchProducer, what every stage uses) and with @platformatic/kafka (a maintained pure-JS
 * client), alternating rounds. Each round's output topic is then read back and checked: every
 * record exactly once, its bytes unchanged. Prints figures; asserts nothing.
 *
 *   npm run bench:clients -- --n 200000 --bytes 250 --rounds 2
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Consumer, MessagesStreamModes, ProduceAcks, Producer, type Message } from '@platformatic/kafka';
import type { Kafka } from 'kafkajs';
import { BatchProducer, runBatchConsumer, type ConsumedRecord, type OutgoingMessage } from '../runtime/kafka.ts';
import { applyTopics } from '../topics/apply.ts';
import { benchTopic, connectBench, fmt, say } from './stack.ts';


const { values } = parseArgs({ options: { n: { type: 'string', default: '200000' }, bytes: { type: 'string', default: '250' }, rounds: { type: 'string', default: '2' }, timeout: { type: 'string', default: '600' } } });
const n = Number(values.n);
const recordBytes = Number(values.bytes);
const rounds = Number(values.rounds);
const deadline = Date.now() + Number(values.timeout) * 1000;
for (const [name, value, min] of [['n', n, 1], ['bytes', recordBytes, 16], ['rounds', rounds, 1]] as const) {
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer >= ${min}`);
}

async function until(what: string, done: () => boolean): Promise<void> {
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface PipeResult {
  client: string;
  perSecond: number;
  cpuMicros: number;
}

/** Times a pipe from its group's join (or first batch, if earlier) to its last record; CPU of this process per record. */
async function timed(client: string, run: (onRecords: (count: number) => void) => Promise<() => Promise<void>>): Promise<PipeResult> {
  let count = 0;
  let first = Infinity;
  let last = 0;
  const cpu0 = process.cpuUsage();
  const stop = await run((batch) => {
    first = Math.min(first, Date.now());
    count += batch;
    last = Date.now();
  });
  const joinedAt = Date.now();
  try {
    await until(`${client} to pipe ${n} records`, () => count >= n);
  } finally {
    await stop();
  }
  const used = process.cpuUsage(cpu0);
  return { client, perSecond: (count * 1000) / Math.max(1, last - Math.min(first, joinedAt)), cpuMicros: (used.user + used.system) / n };
}

/** kafkajs, as every stage runs it. */
function kafkajsPipe(kafka: Kafka, from: string, to: string, groupId: string) {
  return timed('kafkajs 2.2.4 (runtime)', async (onRecords) => {
    const producer = await BatchProducer.connect(kafka);
    const consumer = await runBatchConsumer(kafka, {
      groupId,
      topics: [from],
      fromBeginning: true,
      handle: async (records: ConsumedRecord[]) => {
        await producer.send({ [to]: records.map((r): OutgoingMessage => ({ key: r.key?.toString('utf8') ?? null, value: r.value })) });
        onRecords(records.length);
      },
    });
    return async () => {
      await consumer.stop();
      await producer.stop();
    };
  });
}

/**
 * @platformatic/kafka: its consumer is a stream of messages; a batch is what the stream holds when
 * it is read (what one fetch brought), produced in one send and committed per partition after it.
 */
function platformaticPipe(brokers: string[], from: string, to: string, groupId: string) {
  return timed('@platformatic/kafka 1.35.0', async (onRecords) => {
    const producer = new Producer({ clientId: `${groupId}-producer`, bootstrapBrokers: brokers, idempotent: true, acks: ProduceAcks.ALL });
    const consumer = new Consumer({ clientId: `${groupId}-consumer`, groupId, bootstrapBrokers: brokers, maxWaitTime: 500 });
    const stream = await consumer.consume({ topics: [from], mode: MessagesStreamModes.COMMITTED, fallbackMode: 'earliest', autocommit: false });
    let stopping = false;
    const loop = (async () => {
      let batch: Message[] = [];
      for await (const message of stream as AsyncIterable<Message>) {
        batch.push(message);
        if (stream.readableLength > 0 && batch.length < 10_000) continue;
        // It sends each partition's share of a send as one record batch (no splitting), so a send
        // stays well under the topic's max.message.bytes.
        for (let i = 0; i < batch.length; i += 2_000) {
          await producer.send({ messages: batch.slice(i, i + 2_000).map((m) => ({ topic: to, key: m.key, value: m.value })) });
        }
        const lastOfPartition = new Map<number, Message>();
        for (const m of batch) lastOfPartition.set(m.partition, m);
        await Promise.all([...lastOfPartition.values()].map((m) => m.commit()));
        onRecords(batch.length);
        batch = [];
        if (stopping) break;
      }
    })();
    return async () => {
      stopping = true;
      await stream.close();
      await loop;
      await consumer.close(true);
      await producer.close();
    };
  });
}

/** Reads a pipe's output back: every input record exactly once, bytes unchanged. */
async function verify(kafka: Kafka, topic: string, groupId: string, expected: Map<number, string>): Promise<string> {
  const seen = new Map<number, number>();
  let altered = 0;
  let read = 0;
  const consumer = await runBatchConsumer(kafka, {
    groupId,
    topics: [topic],
    fromBeginning: true,
    handle: async (records) => {
      for (const r of records) {
        const sequence = r.value!.readUInt32BE(0);
        seen.set(sequence, (seen.get(sequence) ?? 0) + 1);
        if (createHash('sha1').update(r.value!).digest('hex') !== expected.get(sequence)) altered++;
      }
      read += records.length;
    },
  });
  try {
    await until(`the check of ${topic}`, () => read >= n);
    await new Promise((r) => setTimeout(r, 1_000)); // anything past n would be a duplicate
  } finally {
    await consumer.stop();
  }
  const missing = [...expected.keys()].filter((s) => !seen.has(s)).length;
  const duplicates = [...seen.values()].reduce((sum, c) => sum + c - 1, 0);
  return missing === 0 && duplicates === 0 && altered === 0 ? `exactly once (${fmt(read)} read back)` : `WRONG: ${missing} missing, ${duplicates} duplicates, ${altered} altered`;
}

async function main(): Promise<void> {
  const { config, kafka } = await connectBench('bench-clients', say);
  const brokers = config.kafka.brokers;
  const id = randomUUID().slice(0, 8);
  const input = `bench.clients-in.${id}`;
  const outputs: string[] = [];
  const groups: string[] = [];
  const admin = kafka.admin();
  await admin.connect();
  try {
    await applyTopics(kafka, undefined, [benchTopic(input)]);
    const producer = await BatchProducer.connect(kafka);
    const expected = new Map<number, string>();
    const padding = randomBytes(recordBytes);
    for (let from = 0; from < n; from += 5_000) {
      const messages: OutgoingMessage[] = [];
      for (let i = from; i < Math.min(n, from + 5_000); i++) {
        const value = Buffer.from(padding);
        value.writeUInt32BE(i, 0);
        expected.set(i, createHash('sha1').update(value).digest('hex'));
        messages.push({ key: `acct-${i % 5_000}`, value });
      }
      await producer.send({ [input]: messages });
    }
    await producer.stop();
    say(`${fmt(n)} records of ${recordBytes} bytes on ${input} (6 partitions, 5,000 keys); brokers ${brokers.join(',')}`);

    const results: (PipeResult & { round: number; check: string })[] = [];
    for (let round = 1; round <= rounds; round++) {
      for (const client of ['kafkajs', 'platformatic'] as const) {
        const output = `bench.clients-out.${id}.${client}.${round}`;
        outputs.push(output);
        await applyTopics(kafka, undefined, [benchTopic(output)]);
        const groupId = `bench-clients-${client}-${id}-${round}`;
        groups.push(groupId);
        const result = client === 'kafkajs' ? await kafkajsPipe(kafka, input, output, groupId) : await platformaticPipe(brokers, input, output, groupId);
        groups.push(`${groupId}-check`);
        const check = await verify(kafka, output, `${groupId}-check`, expected);
        say(`  round ${round} ${result.client}: ${fmt(result.perSecond)} records/s, ${fmt(result.cpuMicros, 1)} µs CPU a record; ${check}`);
        results.push({ ...result, round, check });
      }
    }
    say('\n| client | records/s (one stage: consume → produce → commit) | µs CPU a record (this process) | output |');
    say('|---|---|---|---|');
    for (const r of results) say(`| ${r.client}, round ${r.round} | ${fmt(r.perSecond)} | ${fmt(r.cpuMicros, 1)} | ${r.check} |`);
  } finally {
    await admin.deleteTopics({ topics: [input, ...outputs] }).catch(() => undefined);
    await admin.deleteGroups(groups).catch(() => undefined);
    await admin.disconnect();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
