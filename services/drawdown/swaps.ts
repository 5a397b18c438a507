import type { RuntimeConfig } from '../../runtime/config.ts';
import type { ConsumedRecord } from '../../runtime/kafka.ts';
import type { RunningService, ServiceDeps } from '../../runtime/service.ts';
import { startStage } from '../../runtime/stage.ts';
import { topics } from '../../topics/catalog.ts';
import { rerateScope, type RerateReport } from './rerate.ts';

export const SWAPS_GROUP_ID = 'rateline-drawdown-plan-swaps';

/** subscription.plan-swaps (schemas/plan-swap.avsc) as avsc reads it. */
export interface PlanSwapRecord {
  eventId: string;
  brand: string;
  accountId: string;
  subscriptionId: string;
  fromPlanId: string;
  fromPlanVersion: number;
  toPlanId: string;
  toPlanVersion: number;
  periodStart: number;
  periodEnd: number;
  rerateFrom: number;
  changeAt: number;
  feePolicy: string;
  billRunAt: number;
  recommendationId: string | null;
  requestedAt: number;
}

export interface PlanSwapOptions {
  groupId?: string;
  parentCompany?: string;
  /** Called with each swap's re-rating report (tests, logs). */
  onRerated?: (swap: PlanSwapRecord, report: RerateReport) => void;
}

// Kafka timestamps of usage.resolved are when calls were resolved, not when they started; a
// call of the period resolved before its start does not exist, so a day of slack is plenty.
const REPLAY_SLACK_MS = 86_400_000;

/**
 * The re-rating of plan swaps: for each swap the catalogue publishes, re-rates the subscription's
 * usage from the swapped period's start on its new plan as a new rating version, through the
 * same path as `rateline rerate` (differences on usage.rerated, the bill run's adjustments), with
 * two swap rules: only calls already charged are re-rated (one still on its way is charged live
 * on the re-rated state, once), and a period whose new plan charges the same still gets its state
 * on the new plan. A call charged live meanwhile makes the run retry (rerate_raced, retryable);
 * a swap whose plan change the reference data does not show yet waits the same way. A swap
 * delivered again finds nothing to change.
 */
export async function startPlanSwapRerating(config: RuntimeConfig, deps: ServiceDeps, options: PlanSwapOptions = {}): Promise<RunningService> {
  const logger = deps.logger.child({ stage: 'plan-swaps' });
  const handleBatch = async (records: ConsumedRecord[]) => {
    await deps.serde.prepare(records.map((r) => r.value));
    for (const record of records) {
      const swap = deps.serde.decode<PlanSwapRecord>(record.value, 'plan-swap');
      const report = await rerateScope(
        config,
        { ...deps, logger },
        { subscriptionId: swap.subscriptionId, from: swap.rerateFrom, to: Number.MAX_SAFE_INTEGER },
        {
          onlyCharged: true,
          replayFrom: swap.rerateFrom - REPLAY_SLACK_MS,
          // usage.resolved is keyed by account: one partition of the topic, not all of it.
          replayKey: swap.accountId,
          expectPlanChange: { subscriptionId: swap.subscriptionId, toPlanId: swap.toPlanId, toPlanVersion: swap.toPlanVersion, at: swap.changeAt },
          ...(options.parentCompany ? { parentCompany: options.parentCompany } : {}),
        },
      );
      logger.info('plan swap re-rated', { swap: swap.eventId, ratingVersion: report.ratingVersion, periods: report.periods.length, differences: report.differences.length, committed: report.committed });
      options.onRerated?.(swap, report);
    }
  };
  return startStage(config, deps, {
    name: 'plan-swaps',
    groupId: options.groupId ?? SWAPS_GROUP_ID,
    inputTopics: [topics.planSwaps.name],
    deadLetterTopic: topics.deadLetter.name,
    handleBatch,
  });
}
