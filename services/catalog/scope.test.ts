import { describe, expect, it } from 'vitest';
import { accessCreate, accessExisting, listScope, type Principal } from './scope.ts';

const parent: Principal = { kind: 'parent', keyId: 'p' };
const us: Principal = { kind: 'brand', brand: 'ansr-us', keyId: 'u' };
const PARENT = 'ansr-group';

describe('scoping rules', () => {
  it.each([
    // principal, owner, mode, access
    [parent, 'ansr-uk', 'read', 'ok'],
    [parent, 'ansr-uk', 'write', 'ok'],
    [us, 'ansr-us', 'read', 'ok'],
    [us, 'ansr-us', 'write', 'ok'],
    [us, 'ansr-uk', 'read', 'not_found'],
    [us, 'ansr-uk', 'write', 'not_found'],
    // The shared catalogue: a brand reads it but cannot change it.
    [us, PARENT, 'read', 'ok'],
    [us, PARENT, 'write', 'forbidden'],
  ] as const)('%o on an object of %s (%s) → %s', (principal, owner, mode, access) => {
    expect(accessExisting(principal, owner, PARENT, mode)).toBe(access);
  });

  it("forbids creating for another brand or for the parent's catalogue with a brand key", () => {
    expect(accessCreate(us, 'ansr-us')).toBe('ok');
    expect(accessCreate(us, 'ansr-uk')).toBe('forbidden');
    expect(accessCreate(us, PARENT)).toBe('forbidden');
    expect(accessCreate(parent, 'ansr-uk')).toBe('ok');
  });

  it("lists only the brand's own objects, plus the shared ones where there are such", () => {
    expect(listScope(parent, undefined, PARENT, false)).toEqual({ ok: true, owners: null });
    expect(listScope(parent, 'ansr-uk', PARENT, false)).toEqual({ ok: true, owners: ['ansr-uk'] });
    expect(listScope(us, undefined, PARENT, false)).toEqual({ ok: true, owners: ['ansr-us'] });
    expect(listScope(us, undefined, PARENT, true)).toEqual({ ok: true, owners: ['ansr-us', PARENT] });
    expect(listScope(us, PARENT, PARENT, true)).toEqual({ ok: true, owners: [PARENT] });
    expect(listScope(us, 'ansr-uk', PARENT, false)).toEqual({ ok: false });
    expect(listScope(us, PARENT, PARENT, false)).toEqual({ ok: false });
  });
});
