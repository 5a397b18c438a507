import { createHash } from 'node:crypto';

/**
 * Who is calling: the parent company's key (sees every brand) or one brand's key (sees its
 * brand only). Every service gets it from the same key table: keys are made and revoked in the
 * catalogue, which publishes each key's id, scope, hash, expiry and revocation on the compacted
 * ref.api-keys topic; every service reads that topic into memory (runtime/compacted.ts) and
 * verifies a presented key by its sha-256 without reading the catalogue's tables.
 */
export type Principal = { readonly kind: 'parent'; readonly keyId: string } | { readonly kind: 'brand'; readonly brand: string; readonly keyId: string };

/** The sha-256 of a whole key, hex: the only form a key is stored or published in. */
export const hashKey = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');

/** One key as published on ref.api-keys (key: keyId). */
export interface ApiKeyRecord {
  keyId: string;
  /** null: the parent company's key. */
  brand: string | null;
  keyHash: string;
  /** Epoch ms, or null: never expires. */
  expiresAt: number | null;
  /** Epoch ms of the revocation (informative: a revoked key is refused at once), or null. */
  revokedAt: number | null;
}

export type Verification = { ok: true; principal: Principal } | { ok: false; reason: 'unknown' | 'revoked' | 'expired' };

/** Verifies a presented key (the whole `rlk_…` string). */
export interface KeyVerifier {
  verify(presented: string, now: number): Verification | Promise<Verification>;
}

/** Checks one stored key against the time of the request. */
export function verifyRecord(record: ApiKeyRecord | undefined, now: number): Verification {
  if (!record) return { ok: false, reason: 'unknown' };
  // A revocation counts from the moment a service reads it, whatever its clock says (its instant is for the record).
  if (record.revokedAt !== null) return { ok: false, reason: 'revoked' };
  if (record.expiresAt !== null && record.expiresAt <= now) return { ok: false, reason: 'expired' };
  return { ok: true, principal: record.brand === null ? { kind: 'parent', keyId: record.keyId } : { kind: 'brand', brand: record.brand, keyId: record.keyId } };
}

/**
 * The keys in memory, by hash, as read from ref.api-keys: a later record of a key id replaces
 * the earlier one (a revocation is the same key with revokedAt), a tombstone removes it.
 */
export class KeyTable implements KeyVerifier {
  private readonly byId = new Map<string, ApiKeyRecord>();
  private readonly byHash = new Map<string, ApiKeyRecord>();

  apply(keyId: string, record: ApiKeyRecord | null): void {
    const old = this.byId.get(keyId);
    if (old) this.byHash.delete(old.keyHash);
    if (record === null) {
      this.byId.delete(keyId);
      return;
    }
    this.byId.set(keyId, record);
    this.byHash.set(record.keyHash, record);
  }

  get size(): number {
    return this.byId.size;
  }

  verify(presented: string, now: number): Verification {
    return verifyRecord(this.byHash.get(hashKey(presented)), now);
  }
}

/** May this principal see or act on a brand's data? A brand key answers "not found" for other brands. */
export function seesBrand(principal: Principal, brand: string): boolean {
  return principal.kind === 'parent' || principal.brand === brand;
}

/** The brand a list is narrowed to: the parent's choice, a brand key's own brand (another brand asked for: nothing). */
export function brandFilter(principal: Principal, requested: string | undefined): { brand: string | undefined } | 'none' {
  if (principal.kind === 'parent') return { brand: requested };
  if (requested !== undefined && requested !== principal.brand) return 'none';
  return { brand: principal.brand };
}
