import { describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import { gatherBatches, kafkaErrorType, type ConsumedRecord } from './kafka.ts';

describe('kafkaErrorType', () => {
  it('finds the protocol error type on the error, through causes, or from the message kafkajs keeps when it gives up', () => {
    const protocol = Object.assign(new Error('The broker received an out of order sequence number'), { type: 'OUT_OF_ORDER_SEQUENCE_NUMBER' });
    expect(kafkaErrorType(protocol)).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(kafkaErrorType(new kafkajs.KafkaJSNonRetriableError(protocol))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(kafkaErrorType(new Error('send', { cause: new Error('The request included a message larger than the max message size the server will accept') }))).toBe('MESSAGE_TOO_LARGE');
    expect(kafkaErrorType(new Error('Connection error: connect ECONNREFUSED'))).toBeUndefined();
  });
});

describe('gatherBatches', () => {
  const record = (partition: number, offset: number): ConsumedRecord => ({ topic: 't', partition, offset: String(offset), key: null, value: null, headers: {}, timestamp: 0 });
  const batch = (partition: number, from: number, count: number) => Array.from({ length: count }, (_, i) => record(partition, from + i));
  const context = (name: string, beats: string[] = []) => ({ name, heartbeat: async () => void beats.push(name) });

  it('hands the batches given in one turn to one call, each partition in order, and settles every caller with it', async () => {
    const calls: string[][] = [];
    const gathered = gatherBatches(async (records: ConsumedRecord[]) => {
      calls.push(records.map((r) => `${r.partition}:${r.offset}`));
    });
    await Promise.all([gathered(batch(0, 5, 2), context('a')), gathered(batch(3, 1, 1), context('b')), gathered(batch(1, 9, 2), context('c'))]);
    expect(calls).toEqual([['0:5', '0:6', '3:1', '1:9', '1:10']]);
    // A later turn is a call of its own.
    await gathered([record(2, 0)], context('d'));
    expect(calls).toEqual([['0:5', '0:6', '3:1', '1:9', '1:10'], ['2:0']]);
  });

  it('makes calls of at most the cap, one after another with a heartbeat between, never splitting a partition\'s batch', async () => {
    const sizes: number[][] = [];
    const beats: string[] = [];
    const gathered = gatherBatches(async (records: ConsumedRecord[]) => {
      sizes.push([...new Set(records.map((r) => r.partition))].map((p) => records.filter((r) => r.partition === p).length));
    }, 5_000);
    await Promise.all([gathered(batch(0, 0, 3_000), context('a', beats)), gathered(batch(1, 0, 1_500), context('b', beats)), gathered(batch(2, 0, 6_000), context('c', beats)), gathered(batch(3, 0, 10), context('d', beats))]);
    expect(sizes).toEqual([[3_000, 1_500], [6_000], [10]]);
    expect(beats).toEqual(['c', 'd']);
  });

  it('fails the callers of a failed call and of every call after it, so none of them resolves an offset', async () => {
    let calls = 0;
    const gathered = gatherBatches(async () => {
      calls++;
      throw new Error('database away');
    }, 2);
    const outcomes = await Promise.allSettled([gathered(batch(0, 0, 2), context('a')), gathered(batch(1, 0, 2), context('b')), gathered(batch(2, 0, 2), context('c'))]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(calls).toBe(1);
  });
});
