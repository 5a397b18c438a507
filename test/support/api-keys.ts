import type { Kafka } from 'kafkajs';
import type { AvroSerde } from '../../runtime/serde.ts';
import { issueKeys, type IssuedKey } from '../../topics/api-keys.ts';

export type TestKey = IssuedKey;

/** Keys on ref.api-keys as the catalogue publishes them, for suites that run a service without the catalogue. */
export const publishTestKeys = (kafka: Kafka, serde: AvroSerde, specs: { brand: string | null; expiresAt?: number | null; revokedAt?: number | null }[]): Promise<TestKey[]> => issueKeys(kafka, serde, specs);

/** Headers that present a key. */
export const withKey = (key: TestKey | string, headers: Record<string, string> = {}) => ({ 'x-api-key': typeof key === 'string' ? key : key.key, ...headers });
