import { describe, expect, it } from 'vitest';
import { cdrKey, parseCdrKey } from './kafka-key.ts';

describe('the cdr.raw key', () => {
  it.each([
    ['asterisk-us-east/1793646187.1', { source: 'asterisk-us-east', cdrId: '1793646187.1' }],
    ['pbx-1/jvm-7', { source: 'pbx-1', cdrId: 'jvm-7' }],
    // A CDR id may hold slashes; the source ends at the first one.
    ['sbc-eu/2026/11/02/call-9', { source: 'sbc-eu', cdrId: '2026/11/02/call-9' }],
    ['a/ ', { source: 'a', cdrId: ' ' }],
  ])('reads %j as source and CDR id', (key, expected) => {
    expect(parseCdrKey(key)).toEqual(expected);
  });

  it.each([
    ['no slash', '1793646187.1'],
    ['no source', '/1793646187.1'],
    ['no CDR id', 'asterisk-us-east/'],
    ['a lone slash', '/'],
    ['empty', ''],
    ['a control character', 'pbx\u0000/1'],
    ['a newline in the id', 'pbx/1\n2'],
  ])('has no source and CDR id when it has %s', (_, key) => {
    expect(parseCdrKey(key)).toBeUndefined();
  });

  it('has none without a key', () => {
    expect(parseCdrKey(null)).toBeUndefined();
    expect(parseCdrKey(undefined)).toBeUndefined();
  });

  it('reads back what cdrKey writes', () => {
    expect(cdrKey('freeswitch-ca', 'a3f1c2d4-5e6f')).toBe('freeswitch-ca/a3f1c2d4-5e6f');
    expect(parseCdrKey(cdrKey('freeswitch-ca', 'a3f1/c2d4'))).toEqual({ source: 'freeswitch-ca', cdrId: 'a3f1/c2d4' });
  });
});
