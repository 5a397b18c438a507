import client from 'prom-client';
import { describe, expect, it } from 'vitest';
import { hashKey, KeyTable } from './auth.ts';
import { InvalidInputError, TransientError } from './errors.ts';
import { buildApi, HttpError, principalOf, problemOf, send } from './http.ts';
import { silentLogger } from './log.ts';

describe('errors to HTTP, once for every service', () => {
  it.each([
    ['an HTTP error keeps its status, code and problems', new HttpError(404, 'invoice_not_found', 'invoice x was not found'), { status: 404, error: 'invoice_not_found', detail: 'invoice x was not found' }],
    ['a transient failure is 503 with its code', new TransientError('database_unavailable', 'pool'), { status: 503, error: 'database_unavailable' }],
    ['a unique violation is a concurrent change', Object.assign(new Error('dup'), { code: '23505' }), { status: 409, error: 'concurrent_change' }],
    ['a coded domain refusal is 422', new InvalidInputError('invalid_header', 'bad header', { problems: ['no cdrId column'] }), { status: 422, error: 'invalid_header', problems: [{ path: '', message: 'no cdrId column' }] }],
    ['anything else is 500 without its message', new Error('secret detail'), { status: 500, error: 'internal_error', detail: 'the request failed; see the service log' }],
  ])('%s', (_name, err, expected) => {
    const body = problemOf(err);
    expect(body).toMatchObject({ type: `urn:rateline:problem:${expected.error}`, ...expected });
    expect(JSON.stringify(body)).not.toContain('secret detail');
  });
});

async function app() {
  const keys = new KeyTable();
  keys.apply('p', { keyId: 'p', brand: null, keyHash: hashKey('rlk_p_parent'), expiresAt: null, revokedAt: null });
  keys.apply('u', { keyId: 'u', brand: 'ansr-us', keyHash: hashKey('rlk_u_brand'), expiresAt: 2_000, revokedAt: null });
  let now = 1_000;
  const api = await buildApi({
    title: 't',
    description: 'd',
    verifier: keys,
    logger: silentLogger,
    metrics: { registry: new client.Registry() },
    now: () => now,
    routes: (a) => {
      a.get('/who', { schema: { response: { 200: { type: 'object', additionalProperties: true } } } }, async (request, reply) => send(reply, { status: 200, body: principalOf(request) }));
      a.post('/things', { schema: { body: { type: 'object', properties: { n: { type: 'integer' }, s: { type: 'string' } }, required: ['n', 's'], additionalProperties: false }, response: { 201: { type: 'object', properties: { n: { type: 'integer' }, s: { type: 'string' } } } } } }, async (request, reply) => send(reply, { status: 201, body: request.body }));
      a.post('/public', { config: { public: true } }, async (_request, reply) => send(reply, { status: 409, body: { error: 'charge_in_flight', message: 'wait', attempt: 1 } }));
    },
  });
  return { api, setNow: (t: number) => (now = t) };
}

describe('the API layer', () => {
  it('needs a key on every route not marked public, and tells an expired key', async () => {
    const { api, setNow } = await app();
    expect((await api.inject({ url: '/who' })).json()).toMatchObject({ status: 401, error: 'unauthenticated' });
    expect((await api.inject({ url: '/who', headers: { 'x-api-key': 'rlk_x_nobody' } })).statusCode).toBe(401);
    expect((await api.inject({ url: '/who', headers: { authorization: 'Bearer rlk_u_brand' } })).json()).toEqual({ kind: 'brand', brand: 'ansr-us', keyId: 'u' });
    setNow(2_000);
    expect((await api.inject({ url: '/who', headers: { 'x-api-key': 'rlk_u_brand' } })).json()).toMatchObject({ status: 401, detail: 'the API key is expired' });
    expect((await api.inject({ method: 'POST', url: '/public' })).json()).toEqual({ type: 'urn:rateline:problem:charge_in_flight', title: 'Conflict', status: 409, error: 'charge_in_flight', detail: 'wait', attempt: 1 });
    await api.close();
  });

  it('validates bodies with ajv, reporting every problem; refuses malformed JSON and other media types', async () => {
    const { api } = await app();
    const headers = { 'x-api-key': 'rlk_p_parent', 'content-type': 'application/json' };
    const invalid = await api.inject({ method: 'POST', url: '/things', headers, payload: JSON.stringify({ n: 'x', extra: 1 }) });
    expect(invalid.statusCode).toBe(422);
    expect(invalid.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(invalid.json().problems.map((p: { path: string }) => p.path).sort()).toEqual(['extra', 'n', 's']);
    expect((await api.inject({ method: 'POST', url: '/things', headers, payload: '{"n":' })).json()).toMatchObject({ status: 400, error: 'malformed_json' });
    expect((await api.inject({ method: 'POST', url: '/things', headers: { ...headers, 'content-type': 'text/plain' }, payload: 'n=1' })).json()).toMatchObject({ status: 415, error: 'unsupported_media_type' });
    expect((await api.inject({ method: 'POST', url: '/things', headers, payload: JSON.stringify({ s: 'x'.repeat(1024 * 1024), n: 1 }) })).json()).toMatchObject({ status: 413, error: 'body_too_large' });
    expect((await api.inject({ method: 'POST', url: '/things', headers, payload: JSON.stringify({ n: 1, s: 'a' }) })).statusCode).toBe(201);
    expect((await api.inject({ url: '/nothing', headers })).json()).toMatchObject({ status: 404, error: 'not_found' });
    await api.close();
  });
});

describe('methods and contracts', () => {
  it('answers a path that exists with another method 405, naming the methods in Allow', async () => {
    const { api } = await app();
    const headers = { 'x-api-key': 'rlk_p_parent' };
    const wrong = await api.inject({ method: 'DELETE', url: '/who', headers });
    expect(wrong.statusCode).toBe(405);
    expect(wrong.headers.allow).toBe('GET');
    expect(wrong.json()).toMatchObject({ status: 405, error: 'method_not_allowed' });
    expect((await api.inject({ method: 'GET', url: '/things', headers })).headers.allow).toBe('POST');
    expect((await api.inject({ method: 'GET', url: '/things/1', headers })).statusCode).toBe(404);
    await api.close();
  });

  it('holds every JSON answer to its documented schema when asked to (the suites do): a drift is a 500 naming each problem', async () => {
    const documented = { 200: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'], additionalProperties: false } };
    const api = await buildApi({
      title: 't',
      description: 'd',
      verifier: { verify: () => ({ ok: true, principal: { kind: 'parent', keyId: 'p' } }) },
      logger: silentLogger,
      metrics: { registry: new client.Registry() },
      checkResponses: true,
      routes: (a) => {
        a.get('/good', { schema: { response: documented } }, async (_request, reply) => send(reply, { status: 200, body: { n: 1 } }));
        a.get('/extra', { schema: { response: documented } }, async (_request, reply) => send(reply, { status: 200, body: { n: 1, secret: 'x' } }));
        a.get('/wrong-type', { schema: { response: documented } }, async (_request, reply) => send(reply, { status: 200, body: { n: '1' } }));
        a.get('/undocumented', { schema: { response: documented } }, async (_request, reply) => send(reply, { status: 201, body: { n: 1 } }));
        a.get('/refusal', { schema: { response: documented } }, async (_request, reply) => send(reply, { status: 409, body: { error: 'busy', message: 'later' } }));
        a.get('/own-check', { config: { checkResponse: (_status, body) => ((body as { n?: unknown }).n === 2 ? [] : [{ path: 'n', message: 'must be 2' }]) } }, async (_request, reply) => send(reply, { status: 200, body: { n: 3 } }));
      },
    });
    const headers = { 'x-api-key': 'any' };
    expect((await api.inject({ url: '/good', headers })).json()).toEqual({ n: 1 });
    const problems = async (url: string) => {
      const answer = await api.inject({ url, headers });
      expect(answer.statusCode, url).toBe(500);
      expect(answer.json().error, url).toBe('response_contract_violation');
      return answer.json().problems as { path: string; message: string }[];
    };
    expect(await problems('/extra')).toEqual([{ path: '/secret', message: 'must NOT have additional properties' }]);
    expect(await problems('/wrong-type')).toEqual([{ path: '/n', message: 'must be integer' }]);
    expect((await problems('/undocumented'))[0]!.message).toMatch(/status 201 .* is not documented/);
    expect(await problems('/own-check')).toEqual([{ path: 'n', message: 'must be 2' }]);
    // A refusal in the one problem shape passes, documented or not.
    expect((await api.inject({ url: '/refusal', headers })).statusCode).toBe(409);
    await api.close();
  });
});
