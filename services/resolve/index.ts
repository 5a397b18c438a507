import { resolveUsage, type AcceptedCdr, type UsageResolved } from '../../domain/mediation/index.ts';
import { startStepStage } from '../../contracts/step-stage.ts';
import type { RuntimeConfig } from '../../runtime/config.ts';
import type { RunningService, ServiceDeps } from '../../runtime/service.ts';
import { topics } from '../../topics/catalog.ts';

export const GROUP_ID = 'rateline-resolve';

export interface ResolveOptions {
  /** Whose default catalogue applies to brands the tables do not know yet. */
  parentCompany?: string;
}

/**
 * resolve: finds whose call it was. The number inventory (effective-dated), brands and
 * subscriptions are held in memory from the ref.* topics; no database query per record.
 * Output is keyed by account, so one account's usage stays in order from here on. Unknown or
 * unassigned numbers go to cdr.rejected (unresolved_number), to be redriven once fixed.
 */
export function startResolve(config: RuntimeConfig, deps: ServiceDeps, options: ResolveOptions = {}): Promise<RunningService> {
  return startStepStage<AcceptedCdr, UsageResolved>(config, deps, {
    name: 'resolve',
    groupId: GROUP_ID,
    input: topics.cdrAccepted,
    output: topics.usageResolved,
    ...options,
    step: (cdr, tables) => {
      const outcome = resolveUsage(cdr, tables);
      return outcome.ok ? { ok: true, value: outcome.value, key: outcome.value.accountId, brand: outcome.value.brand } : { ok: false, ...outcome.rejection };
    },
  });
}
