/**
 * Who may see and change what. Pure rules over a principal (the API key's scope) and the
 * owner of an object. A brand's key sees its own objects and the parent's shared catalogue
 * (plans, rating rules), changes only its own, and learns nothing of other brands: another
 * brand's object is "not found", not "forbidden".
 */
import type { Principal } from '../../runtime/auth.ts';

export type { Principal };

export type Access = 'ok' | 'not_found' | 'forbidden';

/** May the principal see an object owned by `owner` (a brand code, or the parent company)? */
export function canRead(principal: Principal, owner: string, parentCompany: string): boolean {
  return principal.kind === 'parent' || owner === principal.brand || owner === parentCompany;
}

/** Access to an existing object: unseen objects are 404, seen but not owned are 403. */
export function accessExisting(principal: Principal, owner: string, parentCompany: string, mode: 'read' | 'write'): Access {
  if (!canRead(principal, owner, parentCompany)) return 'not_found';
  if (mode === 'read' || principal.kind === 'parent' || owner === principal.brand) return 'ok';
  return 'forbidden';
}

/** Creating an object for `owner`: a brand's key only for its own brand. */
export function accessCreate(principal: Principal, owner: string): Access {
  return principal.kind === 'parent' || owner === principal.brand ? 'ok' : 'forbidden';
}

/**
 * Which owners a list shows: all (null) for the parent, else the brand (and the parent's
 * shared objects when `shared`). Asking a brand key for another brand's list is forbidden.
 */
export function listScope(principal: Principal, requestedBrand: string | undefined, parentCompany: string, shared: boolean): { ok: true; owners: string[] | null } | { ok: false } {
  if (principal.kind === 'parent') return { ok: true, owners: requestedBrand ? [requestedBrand] : null };
  if (requestedBrand && requestedBrand !== principal.brand && !(shared && requestedBrand === parentCompany)) return { ok: false };
  if (requestedBrand) return { ok: true, owners: [requestedBrand] };
  return { ok: true, owners: shared ? [principal.brand, parentCompany] : [principal.brand] };
}
