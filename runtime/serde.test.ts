import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type avro from 'avsc';
import { AvroSerde } from './serde.ts';

const schema: avro.Schema = { type: 'record', name: 'Ping', fields: [{ name: 'n', type: 'int' }] };

/** A registry stand-in whose answers to POST /subjects/<s>/versions are given in order; the subject's compatibility is BACKWARD. */
async function registryAnswering(answers: ('stall' | { status: number; body: unknown })[]) {
  const registrations: string[] = [];
  const stalled: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST' && /\/subjects\/[^/]+\/versions$/.test(req.url ?? '')) {
        registrations.push(req.url!);
        const answer = answers.shift() ?? { status: 500, body: { message: 'no answer left' } };
        if (answer === 'stall') return void stalled.push(res);
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ compatibilityLevel: 'BACKWARD' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    registrations,
    close: () => {
      for (const res of stalled) res.destroy();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

describe('AvroSerde.register against a registry that stalls or fails', () => {
  it('gives up on a stalled registration after the call bound and registers on the next try', async () => {
    const registry = await registryAnswering(['stall', { status: 200, body: { id: 42 } }]);
    close = registry.close;
    const serde = new AvroSerde(registry.url, { callTimeoutMs: 300, registerAttempts: 3 });
    const started = Date.now();
    await expect(serde.register('ping-value', schema)).resolves.toBe(42);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(registry.registrations).toEqual(['/subjects/ping-value/versions', '/subjects/ping-value/versions']);
    // The registered id is bound to its writer type: encoding needs no other call.
    expect(serde.encoder<{ n: number }>(42)({ n: 1 }).readInt32BE(1)).toBe(42);
  });

  it('tries a server error again, but never an incompatible schema (409)', async () => {
    const failing = await registryAnswering([
      { status: 500, body: { message: 'duplicate key value violates unique constraint' } },
      { status: 500, body: { message: 'again' } },
      { status: 200, body: { id: 7 } },
    ]);
    close = failing.close;
    await expect(new AvroSerde(failing.url, { callTimeoutMs: 1_000, registerAttempts: 3 }).register('ping-value', schema)).resolves.toBe(7);
    await failing.close();

    const incompatible = await registryAnswering([{ status: 409, body: { error_code: 409, message: 'incompatible' } }, { status: 200, body: { id: 8 } }]);
    close = incompatible.close;
    await expect(new AvroSerde(incompatible.url, { callTimeoutMs: 1_000, registerAttempts: 3 }).register('ping-value', schema)).rejects.toThrow(/register schema under ping-value \(1 attempts\)/);
    expect(incompatible.registrations).toHaveLength(1);
  });

  it('fails with the subject named once every try stalled', async () => {
    const registry = await registryAnswering(['stall', 'stall']);
    close = registry.close;
    await expect(new AvroSerde(registry.url, { callTimeoutMs: 200, registerAttempts: 2 }).register('ping-value', schema)).rejects.toThrow(/register schema under ping-value \(2 attempts\)/);
    expect(registry.registrations).toHaveLength(2);
  });
});
