import { describe, expect, it } from 'vitest';
import { errorCode, InvalidInputError, isRetryable, TransientError } from './errors.ts';

describe('error classification', () => {
  it.each([
    ['a transient error', new TransientError('broker_unavailable', 'down'), true, 'broker_unavailable'],
    ['invalid input', new InvalidInputError('bad_record', 'bad'), false, 'bad_record'],
    ['a unique violation (23505)', Object.assign(new Error('duplicate key'), { code: '23505' }), false, 'sqlstate_23505'],
    ['a numeric overflow (22003)', Object.assign(new Error('overflow'), { code: '22003' }), false, 'sqlstate_22003'],
    ['a deadlock (40P01)', Object.assign(new Error('deadlock'), { code: '40P01' }), true, 'sqlstate_40P01'],
    ['a refused connection', Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }), true, 'unexpected_error'],
    ['anything else', new Error('?'), true, 'unexpected_error'],
  ])('%s', (_name, err, retryable, code) => {
    expect(isRetryable(err)).toBe(retryable);
    expect(errorCode(err)).toBe(code);
  });
});
