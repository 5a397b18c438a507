import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Principal } from './scope.ts';
import { t } from './schema.ts';

/**
 * API keys: `rlk_<keyId>_<secret>`. Only the sha-256 of the whole key is stored; the key is
 * shown once, when it is made. A key is the parent's (brand null: sees all) or one brand's.
 */
export const hashKey = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');

export interface CreatedKey {
  keyId: string;
  key: string;
  brand: string | null;
  label: string;
}

/** Makes a key (for the CLI, the bootstrap and `POST /api-keys`). */
export async function createApiKey(db: Knex, options: { brand: string | null; label: string; key?: string }): Promise<CreatedKey> {
  const keyId = randomBytes(6).toString('hex');
  const key = options.key ?? `rlk_${keyId}_${randomBytes(24).toString('base64url')}`;
  await db(t('api_keys')).insert({ key_id: keyId, key_hash: hashKey(key), brand: options.brand, label: options.label });
  return { keyId, key, brand: options.brand, label: options.label };
}

/** The principal of a presented key, or undefined for an unknown or revoked one. */
export async function principalOf(db: Knex, key: string): Promise<Principal | undefined> {
  const row = (await db(t('api_keys')).where({ key_hash: hashKey(key) }).whereNull('revoked_at').first()) as { key_id: string; brand: string | null } | undefined;
  if (!row) return undefined;
  return row.brand === null ? { kind: 'parent', keyId: row.key_id } : { kind: 'brand', brand: row.brand, keyId: row.key_id };
}

/**
 * The first parent key: the configured one (CATALOG_ADMIN_KEY) is registered if its hash is
 * not known yet; with none configured and no parent key at all, one is made and returned so
 * that start can print it once.
 */
export async function bootstrapAdminKey(db: Knex, adminKey: string | undefined): Promise<CreatedKey | undefined> {
  if (adminKey) {
    const known = await db(t('api_keys')).where({ key_hash: hashKey(adminKey) }).first();
    if (!known) await db(t('api_keys')).insert({ key_id: `admin-${hashKey(adminKey).slice(0, 12)}`, key_hash: hashKey(adminKey), brand: null, label: 'CATALOG_ADMIN_KEY' }).onConflict().ignore();
    return undefined;
  }
  const anyParent = await db(t('api_keys')).whereNull('brand').whereNull('revoked_at').first();
  if (anyParent) return undefined;
  return createApiKey(db, { brand: null, label: 'first parent key (printed on first start)' });
}
