import { describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import { kafkaErrorType } from './kafka.ts';

describe('kafkaErrorType', () => {
  it('finds the protocol error type on the error, through causes, or from the message kafkajs keeps when it gives up', () => {
    const protocol = Object.assign(new Error('The broker received an out of order sequence number'), { type: 'OUT_OF_ORDER_SEQUENCE_NUMBER' });
    expect(kafkaErrorType(protocol)).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(kafkaErrorType(new kafkajs.KafkaJSNonRetriableError(protocol))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(kafkaErrorType(new Error('send', { cause: new Error('The request included a message larger than the max message size the server will accept') }))).toBe('MESSAGE_TOO_LARGE');
    expect(kafkaErrorType(new Error('Connection error: connect ECONNREFUSED'))).toBeUndefined();
  });
});
