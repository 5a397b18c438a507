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

  it('hands the batches given in one turn to one call, each partition in order, and settles every caller with it', async () => {
    const calls: string[][] = [];
    const gathered = gatherBatches<string>(async (records) => {
      calls.push(records.map((r) => `${r.partition}:${r.offset}`));
    });
    await Promise.all([gathered([record(0, 5), record(0, 6)], 'a'), gathered([record(3, 1)], 'b'), gathered([record(1, 9), record(1, 10)], 'c')]);
    expect(calls).toEqual([['0:5', '0:6', '3:1', '1:9', '1:10']]);
    // A later turn is a call of its own.
    await gathered([record(2, 0)], 'd');
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual(['2:0']);
  });

  it('fails every caller of a failed call, so no partition of it resolves an offset', async () => {
    const gathered = gatherBatches<string>(async () => {
      throw new Error('database away');
    });
    const outcomes = await Promise.allSettled([gathered([record(0, 1)], 'a'), gathered([record(1, 1)], 'b')]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
  });
});
