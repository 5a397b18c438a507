import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { hashKey, verifyRecord, type ApiKeyRecord, type KeyVerifier, type Verification } from '../../runtime/auth.ts';
import { inTransaction } from '../../runtime/db.ts';
import { enqueue } from '../../runtime/outbox.ts';
import { topics } from '../../topics/catalog.ts';
import { SCHEMA, t } from './schema.ts';

export { hashKey };

/**
 * API keys: `rlk_<keyId>_<secret>`. Only the sha-256 of the whole key is stored; the key is
 * shown once, when it is made. A key is the parent's (brand null: sees all) or one brand's.
 * Every change of a key (made, revoked) is published on ref.api-keys through the outbox, in the
 * same transaction: the other services verify keys from that topic, never from these tables.
 */
export interface CreatedKey {
  keyId: string;
  key: string;
  brand: string | null;
  label: string;
  expiresAt: string | null;
}

interface KeyRow {
  key_id: string;
  key_hash: string;
  brand: string | null;
  label: string;
  expires_at: Date | null;
  revoked_at: Date | null;
}

const recordOf = (row: KeyRow): ApiKeyRecord => ({ keyId: row.key_id, brand: row.brand, keyHash: row.key_hash, expiresAt: row.expires_at?.getTime() ?? null, revokedAt: row.revoked_at?.getTime() ?? null });

/** Puts a key's current state in the outbox (ref.api-keys, key: keyId); the event id names the state. */
async function publishKey(trx: Knex.Transaction, row: KeyRow): Promise<void> {
  const record = recordOf(row);
  await enqueue(trx, SCHEMA, [
    { topic: topics.refApiKeys.name, schema: topics.refApiKeys.schema, key: row.key_id, eventId: `api-key:${row.key_id}:${record.revokedAt ?? 'live'}`, brand: row.brand, payload: record },
  ]);
}

/** Makes a key (for the CLI, the bootstrap and `POST /api-keys`). */
export async function createApiKey(db: Knex, options: { brand: string | null; label: string; key?: string; keyId?: string; expiresAt?: Date | null }): Promise<CreatedKey> {
  const keyId = options.keyId ?? randomBytes(6).toString('hex');
  const key = options.key ?? `rlk_${keyId}_${randomBytes(24).toString('base64url')}`;
  const row: KeyRow = { key_id: keyId, key_hash: hashKey(key), brand: options.brand, label: options.label, expires_at: options.expiresAt ?? null, revoked_at: null };
  await inTransaction(db, async (trx) => {
    await trx(t('api_keys')).insert(row);
    await publishKey(trx, row);
  });
  return { keyId, key, brand: options.brand, label: options.label, expiresAt: row.expires_at?.toISOString() ?? null };
}

/** Revokes a key from `at` on; undefined when there is no such key. Revoking twice keeps the first instant. */
export async function revokeApiKey(db: Knex, keyId: string, at: Date): Promise<{ keyId: string; brand: string | null; label: string; revokedAt: string } | undefined> {
  return inTransaction(db, async (trx) => {
    const row = (await trx(t('api_keys')).where({ key_id: keyId }).forUpdate().first()) as KeyRow | undefined;
    if (!row) return undefined;
    if (!row.revoked_at) {
      row.revoked_at = at;
      await trx(t('api_keys')).where({ key_id: keyId }).update({ revoked_at: at });
      await publishKey(trx, row);
    }
    return { keyId, brand: row.brand, label: row.label, revokedAt: row.revoked_at.toISOString() };
  });
}

/** The catalogue verifies from its own table (a key it just made or revoked counts at once). */
export function catalogKeyVerifier(db: Knex): KeyVerifier {
  return {
    verify: async (presented: string, now: number): Promise<Verification> => {
      const row = (await db(t('api_keys')).where({ key_hash: hashKey(presented) }).first()) as KeyRow | undefined;
      return verifyRecord(row ? recordOf(row) : undefined, now);
    },
  };
}

/**
 * Publishes every key whose state is not on ref.api-keys yet (keys made before the topic
 * existed): the event id of a state is stable, so a key already published is not sent again.
 */
export async function publishAllKeys(db: Knex): Promise<void> {
  const rows = (await db(t('api_keys')).select()) as KeyRow[];
  for (const row of rows) await inTransaction(db, (trx) => publishKey(trx, row));
}

/**
 * The first parent key: the configured one (CATALOG_ADMIN_KEY) is registered if its hash is
 * not known yet; with none configured and no parent key at all, one is made and returned so
 * that start can write it to a file only its owner reads.
 */
export async function bootstrapAdminKey(db: Knex, adminKey: string | undefined): Promise<CreatedKey | undefined> {
  if (adminKey) {
    const known = await db(t('api_keys')).where({ key_hash: hashKey(adminKey) }).first();
    if (!known) await createApiKey(db, { brand: null, label: 'CATALOG_ADMIN_KEY', key: adminKey, keyId: `admin-${hashKey(adminKey).slice(0, 12)}` });
    return undefined;
  }
  const anyParent = await db(t('api_keys')).whereNull('brand').whereNull('revoked_at').first();
  if (anyParent) return undefined;
  return createApiKey(db, { brand: null, label: 'first parent key (written to a file on first start)' });
}
