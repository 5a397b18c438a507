import { describe, expect, it } from 'vitest';
import { cdrEventId, fileLineOrigin, rejectionId } from './dedupe-key.ts';

// Expected values computed independently with Python:
// 'cdr_' + base64.b32encode(hashlib.sha256('\0'.join(parts).encode()).digest()).decode().lower()[:26]
describe('cdrEventId', () => {
  it.each([
    ['asterisk-us-east', '1793646187.1', 'cdr_77lplmkkphnstfml247qlv7oja'],
    ['ab', 'c', 'cdr_nqbs4yy5hgqu3bnp67rrsvdk64'],
    ['a', 'bc', 'cdr_ic5vi7mtno6tcmmo4n5mq6m6p3'], // the separator keeps these apart
    ['fs-eu', 'é', 'cdr_j4kzpkcsgkpmgrfsfei2rgvob6'], // UTF-8
  ])('(%s, %s) -> %s', (source, cdrId, id) => {
    expect(cdrEventId(source, cdrId)).toBe(id);
  });

  it('is 30 characters of a-z2-7 after the prefix', () => {
    expect(cdrEventId('x', 'y')).toMatch(/^cdr_[a-z2-7]{26}$/);
  });
});

describe('rejectionId', () => {
  it('hashes stage, origin and reason', () => {
    expect(
      rejectionId({ stage: 'ingest', origin: 'cdr_77lplmkkphnstfml247qlv7oja', reason: 'invalid_number' }),
    ).toBe('rej_tfevgce32aenz65cgo6rzhbffb');
    expect(fileLineOrigin('job-42', 6)).toBe('file:job-42:6');
    expect(rejectionId({ stage: 'file', origin: fileLineOrigin('job-42', 6), reason: 'malformed_line' })).toBe(
      'rej_ql5344pvutvldzqvpsrhneoyne',
    );
  });

  it('differs by reason', () => {
    const origin = 'cdr_77lplmkkphnstfml247qlv7oja';
    expect(rejectionId({ stage: 'ingest', origin, reason: 'a' })).not.toBe(rejectionId({ stage: 'ingest', origin, reason: 'b' }));
  });
});
