import type { Brand, ReferenceTables } from '../../../domain/reference/index.ts';
import type { ServiceClient } from '../services.ts';
import type { Session } from '../sessions.ts';
import type { TroubleFeed } from '../feeds.ts';
import { seesBrand } from '../../../runtime/auth.ts';

/** What a screen gets: who is signed in, the services with their key, the reference data the console follows. */
export interface PageContext {
  session: Session;
  client: ServiceClient;
  tables: ReferenceTables;
  feed: TroubleFeed;
  now: number;
  lag(): Promise<{ group: string; lag: number; topics: string[] }[]>;
}

/** The brands the signed-in key may see, by code. */
export const visibleBrands = (ctx: PageContext): Brand[] => ctx.tables.brands().filter((b) => seesBrand(ctx.session.principal, b.code)).sort((a, b) => a.code.localeCompare(b.code));

export const PAGE_SIZE = 25;

/** `?page=` as a whole number from 1. */
export const pageNumber = (value: unknown) => {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 ? n : 1;
};
