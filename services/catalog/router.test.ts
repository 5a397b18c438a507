import { describe, expect, it } from 'vitest';
import { Router } from './router.ts';

const router = new Router<string>([
  { method: 'GET', path: '/numbers', handler: 'list' },
  { method: 'GET', path: '/numbers/{number}', handler: 'get' },
  { method: 'PUT', path: '/numbers/{number}', handler: 'put' },
  { method: 'POST', path: '/numbers/{number}/assign', handler: 'assign' },
  { method: 'GET', path: '/plans/{planId}/versions/{version}', handler: 'version' },
  { method: 'GET', path: '/plans/{planId}/versions', handler: 'versions' },
  { method: 'GET', path: '/plans/latest/versions', handler: 'literal' },
]);

describe('the router', () => {
  it.each([
    ['GET', '/numbers', 'list', {}],
    ['GET', '/numbers/', 'list', {}],
    ['GET', '/numbers/%2B18005550100', 'get', { number: '+18005550100' }],
    ['GET', '/numbers/+18005550100', 'get', { number: '+18005550100' }],
    ['PUT', '/numbers/%2B18005550100', 'put', { number: '+18005550100' }],
    ['POST', '/numbers/%2B1800/assign', 'assign', { number: '+1800' }],
    ['GET', '/plans/p1/versions/3', 'version', { planId: 'p1', version: '3' }],
    ['GET', '/plans/p1/versions', 'versions', { planId: 'p1' }],
  ])('%s %s → %s', (method, path, handler, params) => {
    const r = router.resolve(method, path);
    expect(r.kind).toBe('match');
    if (r.kind === 'match') {
      expect(r.match.route.handler).toBe(handler);
      expect(r.match.params).toEqual(params);
    }
  });

  it('prefers literal segments over parameters', () => {
    const r = router.resolve('GET', '/plans/latest/versions');
    expect(r.kind === 'match' && r.match.route.handler).toBe('literal');
  });

  it('tells an unknown path from a known path with another method', () => {
    expect(router.resolve('GET', '/nothing')).toEqual({ kind: 'not_found' });
    expect(router.resolve('DELETE', '/numbers/x')).toEqual({ kind: 'method_not_allowed', allowed: ['GET', 'PUT'] });
    expect(router.resolve('GET', '/numbers/x/y/z')).toEqual({ kind: 'not_found' });
  });

  it('does not match a segment that is not valid percent-encoding', () => {
    expect(router.resolve('GET', '/numbers/%E0%A4%A')).toEqual({ kind: 'not_found' });
  });

  it('refuses two routes of one shape', () => {
    expect(() => router.add({ method: 'GET', path: '/numbers/{other}', handler: 'dup' })).toThrow(/clashes/);
  });
});
