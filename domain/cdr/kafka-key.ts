// The same test validateCdr applies to ids: a control character never comes from a platform.
const CONTROL = /[\u0000-\u001f\u007f]/;

/** cdr.raw's (and cdr.accepted's) message key: one CDR's redeliveries land on one partition. */
export const cdrKey = (source: string, cdrId: string): string => `${source}/${cdrId}`;

/**
 * Source and CDR id read back from a `source/cdrId` key, for a record whose value cannot be
 * decoded: its rejection can still say whose CDR it was. The key splits at its first '/', so a
 * CDR id may hold slashes and a source may not. Undefined when the key has no such shape.
 */
export function parseCdrKey(key: string | null | undefined): { source: string; cdrId: string } | undefined {
  if (!key) return undefined;
  const slash = key.indexOf('/');
  const source = key.slice(0, slash);
  const cdrId = key.slice(slash + 1);
  if (slash <= 0 || cdrId === '' || CONTROL.test(key)) return undefined;
  return { source, cdrId };
}
