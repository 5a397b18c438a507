import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { hashKey, type ApiKeyRecord } from '../../runtime/auth.ts';
import { BatchProducer, standardHeaders } from '../../runtime/kafka.ts';
import { loadSchema, type AvroSerde } from '../../runtime/serde.ts';
import { applyTopics } from '../../topics/apply.ts';
import { topics, valueSubject } from '../../topics/catalog.ts';

export interface TestKey {
  keyId: string;
  key: string;
  brand: string | null;
}

/**
 * Keys as the catalogue publishes them on ref.api-keys (id, scope, sha-256, expiry,
 * revocation), for suites that run a service without the catalogue. Published before the
 * service starts, they are in its key table when its reference data is ready.
 */
export async function publishTestKeys(kafka: Kafka, serde: AvroSerde, specs: { brand: string | null; expiresAt?: number | null; revokedAt?: number | null }[]): Promise<TestKey[]> {
  await applyTopics(kafka, serde, [topics.refApiKeys]);
  const encode = serde.encoder<ApiKeyRecord>(await serde.register(valueSubject(topics.refApiKeys.name), loadSchema(topics.refApiKeys.schema)));
  const keys = specs.map((s) => {
    const keyId = `t${randomBytes(6).toString('hex')}`;
    return { keyId, key: `rlk_${keyId}_${randomBytes(24).toString('base64url')}`, brand: s.brand, expiresAt: s.expiresAt ?? null, revokedAt: s.revokedAt ?? null };
  });
  const producer = await BatchProducer.connect(kafka);
  try {
    await producer.send({
      [topics.refApiKeys.name]: keys.map((k) => ({ key: k.keyId, value: encode({ keyId: k.keyId, brand: k.brand, keyHash: hashKey(k.key), expiresAt: k.expiresAt, revokedAt: k.revokedAt }), headers: standardHeaders({ eventId: `api-key:${k.keyId}:${k.revokedAt ?? 'live'}` }) })),
    });
  } finally {
    await producer.stop();
  }
  return keys.map(({ keyId, key, brand }) => ({ keyId, key, brand }));
}

/** Headers that present a key. */
export const withKey = (key: TestKey | string, headers: Record<string, string> = {}) => ({ 'x-api-key': typeof key === 'string' ? key : key.key, ...headers });
