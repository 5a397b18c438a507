import { describe, expect, it } from 'vitest';
import { MoneyError } from '../domain/money/money.ts';
import { classifyFailure, InvalidInputError, RatelineError, TransientError } from './errors.ts';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });
const named = (name: string, message = name) => Object.assign(new Error(message), { name });

describe('failure classification', () => {
  it.each([
    // Infrastructure that comes back by itself: retried.
    ['a transient error', new TransientError('broker_unavailable', 'down'), true, 'broker_unavailable'],
    ['a deadlock (40P01)', withCode('deadlock', '40P01'), true, 'sqlstate_40P01'],
    ['a serialization failure (40001)', withCode('could not serialize', '40001'), true, 'sqlstate_40001'],
    ['PostgreSQL shutting down (57P01)', withCode('terminating connection due to administrator command', '57P01'), true, 'sqlstate_57P01'],
    ['PostgreSQL starting up (57P03)', withCode('the database system is starting up', '57P03'), true, 'sqlstate_57P03'],
    ['a connection exception (08006)', withCode('connection failure', '08006'), true, 'sqlstate_08006'],
    ['too many connections (53300)', withCode('too many clients', '53300'), true, 'sqlstate_53300'],
    ['a refused connection', withCode('connect ECONNREFUSED', 'ECONNREFUSED'), true, 'connection_failed'],
    ['a broken pipe', withCode('write EPIPE', 'EPIPE'), true, 'connection_failed'],
    ['node-postgres losing its connection', new Error('Connection terminated unexpectedly'), true, 'database_unavailable'],
    ['knex finding no free connection', named('KnexTimeoutError', 'Knex: Timeout acquiring a connection. The pool is probably full.'), true, 'database_unavailable'],
    ['a kafkajs error', named('KafkaJSConnectionError', 'Connection error'), true, 'kafka_unavailable'],
    ['a fetch timeout', named('TimeoutError', 'The operation was aborted due to timeout'), true, 'timeout'],
    ['a wrapped transient cause', new Error('store batch', { cause: withCode('connect ECONNREFUSED', 'ECONNREFUSED') }), true, 'connection_failed'],
    // Never passes by retrying: dead-lettered or rejected with the code.
    ['invalid input', new InvalidInputError('bad_record', 'bad'), false, 'bad_record'],
    ['a RatelineError without a flag', new RatelineError('no_customer', 'unknown account'), false, 'no_customer'],
    ['a domain error keeps its own flag', new MoneyError('currency_mismatch', 'USD and CAD'), false, 'currency_mismatch'],
    ['a domain-shaped error that says retry', Object.assign(new Error('later'), { code: 'gateway_busy', retryable: true }), true, 'gateway_busy'],
    ['a unique violation (23505)', withCode('duplicate key', '23505'), false, 'sqlstate_23505'],
    ['a numeric overflow (22003)', withCode('overflow', '22003'), false, 'sqlstate_22003'],
    ['an undefined table (42P01)', withCode('relation does not exist', '42P01'), false, 'sqlstate_42P01'],
    ['a TypeError from a null value', new TypeError("Cannot read properties of null (reading 'length')"), false, 'internal_error'],
    ['a RangeError', new RangeError('Invalid array length'), false, 'internal_error'],
    ['anything else', new Error('?'), false, 'internal_error'],
    ['a thrown string', 'boom', false, 'internal_error'],
    ['a permanent error wrapping a transient one keeps its own verdict', new InvalidInputError('bad_record', 'bad'), false, 'bad_record'],
  ])('%s', (_name, err, retryable, code) => {
    expect(classifyFailure(err)).toEqual({ retryable, code });
  });

  it('a cause chain that loops ends as internal_error', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(classifyFailure(a)).toEqual({ retryable: false, code: 'internal_error' });
  });
});
