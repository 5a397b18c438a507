import { rateResolvedUsage, type UsageRated, type UsageResolved } from '../../domain/mediation/index.ts';
import { startStepStage } from '../../contracts/step-stage.ts';
import type { RuntimeConfig } from '../../runtime/config.ts';
import type { RunningService, ServiceDeps } from '../../runtime/service.ts';
import { topics } from '../../topics/catalog.ts';

export const GROUP_ID = 'rateline-rate';
/** Live rating is version 1; re-rating runs write higher versions. */
export const LIVE_RATING_VERSION = 1;

export interface RateOptions {
  parentCompany?: string;
}

/**
 * rate: applies the brand's increment and rounding rule in force at the call's start. A pure
 * function of the record and the rules; the output's times come from the input, so a replay
 * gives identical records.
 */
export function startRate(config: RuntimeConfig, deps: ServiceDeps, options: RateOptions = {}): Promise<RunningService> {
  return startStepStage<UsageResolved, UsageRated>(config, deps, {
    name: 'rate',
    groupId: GROUP_ID,
    input: topics.usageResolved,
    output: topics.usageRated,
    ...options,
    step: (usage, tables) => {
      const outcome = rateResolvedUsage(usage, tables, LIVE_RATING_VERSION, usage.resolvedAt);
      return outcome.ok ? { ok: true, value: outcome.value, key: usage.accountId, brand: usage.brand } : { ok: false, ...outcome.rejection };
    },
  });
}
