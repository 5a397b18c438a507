import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { hashKey, type ApiKeyRecord } from '../runtime/auth.ts';
import { BatchProducer, standardHeaders } from '../runtime/kafka.ts';
import { loadSchema, type AvroSerde } from '../runtime/serde.ts';
import { applyTopics } from './apply.ts';
import { topics, valueSubject } from './catalog.ts';

export interface IssuedKey {
  keyId: string;
  key: string;
  brand: string | null;
}

/**
 * Publishes keys on ref.api-keys as the catalogue does (id, scope, sha-256, expiry; never the
 * key), for processes that run services without the catalogue: the demo and the test suites.
 * Published before a service starts, a key is in its key table once its reference data is ready.
 */
export async function issueKeys(kafka: Kafka, serde: AvroSerde, specs: { brand: string | null; expiresAt?: number | null; revokedAt?: number | null }[]): Promise<IssuedKey[]> {
  await applyTopics(kafka, serde, [topics.refApiKeys]);
  const encode = serde.encoder<ApiKeyRecord>(await serde.register(valueSubject(topics.refApiKeys.name), loadSchema(topics.refApiKeys.schema)));
  const keys = specs.map((s) => {
    const keyId = randomBytes(6).toString('hex');
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
