import { describe, expect, it } from 'vitest';
import { brandFilter, hashKey, KeyTable, seesBrand, verifyRecord, type ApiKeyRecord } from './auth.ts';

const record = (over: Partial<ApiKeyRecord> = {}): ApiKeyRecord => ({ keyId: 'k1', brand: 'ansr-us', keyHash: hashKey('rlk_k1_secret'), expiresAt: null, revokedAt: null, ...over });

describe('key verification', () => {
  it.each([
    ['a live brand key', record(), 1_000, { ok: true, principal: { kind: 'brand', brand: 'ansr-us', keyId: 'k1' } }],
    ['a live parent key', record({ brand: null }), 1_000, { ok: true, principal: { kind: 'parent', keyId: 'k1' } }],
    ['no such key', undefined, 1_000, { ok: false, reason: 'unknown' }],
    ['a key expiring later', record({ expiresAt: 1_001 }), 1_000, { ok: true, principal: { kind: 'brand', brand: 'ansr-us', keyId: 'k1' } }],
    ['a key expiring at that instant', record({ expiresAt: 1_000 }), 1_000, { ok: false, reason: 'expired' }],
    ['a revoked key, even revoked "in the future" of a simulated clock', record({ revokedAt: 5_000 }), 1_000, { ok: false, reason: 'revoked' }],
  ])('%s', (_name, stored, now, expected) => {
    expect(verifyRecord(stored, now)).toEqual(expected);
  });

  it('holds the latest state of each key: a revocation replaces the key, a tombstone removes it', () => {
    const table = new KeyTable();
    table.apply('k1', record());
    table.apply('k2', record({ keyId: 'k2', brand: null, keyHash: hashKey('rlk_k2_other') }));
    expect(table.verify('rlk_k1_secret', 0)).toMatchObject({ ok: true });
    expect(table.verify('rlk_k1_wrong', 0)).toEqual({ ok: false, reason: 'unknown' });
    table.apply('k1', record({ revokedAt: 10 }));
    expect(table.verify('rlk_k1_secret', 0)).toEqual({ ok: false, reason: 'revoked' });
    table.apply('k2', null);
    expect(table.verify('rlk_k2_other', 0)).toEqual({ ok: false, reason: 'unknown' });
    expect(table.size).toBe(1);
  });
});

describe('brand scope', () => {
  const parent = { kind: 'parent', keyId: 'p' } as const;
  const us = { kind: 'brand', brand: 'ansr-us', keyId: 'u' } as const;
  it('lets the parent see every brand and a brand only its own', () => {
    expect(seesBrand(parent, 'ansr-uk')).toBe(true);
    expect(seesBrand(us, 'ansr-us')).toBe(true);
    expect(seesBrand(us, 'ansr-uk')).toBe(false);
  });
  it.each([
    [parent, undefined, { brand: undefined }],
    [parent, 'ansr-uk', { brand: 'ansr-uk' }],
    [us, undefined, { brand: 'ansr-us' }],
    [us, 'ansr-us', { brand: 'ansr-us' }],
    [us, 'ansr-uk', 'none'],
  ] as const)('narrows a list: %o asking for %s', (principal, requested, expected) => {
    expect(brandFilter(principal, requested)).toEqual(expected);
  });
});
