import type { LifecycleRecord } from '../../contracts/lifecycle.ts';
import type { Kafka } from 'kafkajs';
import type { Knex } from 'knex';
import { runBatchConsumer, type BatchProducer, type ConsumedRecord, type RunningConsumer } from '../../runtime/kafka.ts';
import { resilientHandler, type StageHealth } from '../../runtime/consumer-loop.ts';
import type { ServiceMetrics } from '../../runtime/metrics.ts';
import type { Logger } from '../../runtime/log.ts';
import type { AvroSerde } from '../../runtime/serde.ts';
import { topics } from '../../topics/catalog.ts';
import type { Catalog } from './catalog.ts';
import { ApiError } from './errors.ts';
import type { Action } from './lifecycle.ts';
import { t } from './schema.ts';

export const DUNNING_GROUP_ID = 'rateline-catalog-dunning';

/** The ageing service's steps that change a subscription, and the catalogue action each is. */
const ACTION_OF_STEP: Readonly<Record<string, Action>> = { suspended: 'suspend', cancelled: 'cancel', reactivated: 'reactivate' };


/**
 * Applies the ageing service's dunning steps (suspend, cancel, reactivate on `account.lifecycle`)
 * to the account's subscriptions through the same transitions as the API, so `ref.subscriptions`
 * agrees with dunning and the brand's lifecycle rules (and their billing and number effects)
 * apply. The catalogue's own lifecycle events on that topic are ignored. Each (event,
 * subscription) is applied once: `dunning_applied` remembers it; a step the brand does not allow
 * from the subscription's status is recorded as skipped with the reason, never retried forever.
 */
export async function startDunningListener(args: {
  kafka: Kafka;
  serde: AvroSerde;
  db: Knex;
  catalog: Catalog;
  logger: Logger;
  producer: BatchProducer;
  metrics: ServiceMetrics;
  health: StageHealth;
}): Promise<RunningConsumer> {
  const { db, catalog, logger, serde } = args;
  const handle = async (records: ConsumedRecord[]) => {
    await serde.prepare(records.map((r) => r.value));
    for (const r of records) {
      const event = serde.decode<LifecycleRecord>(r.value, topics.accountLifecycle.schema);
      const action = ACTION_OF_STEP[event.action];
      if (!event.eventId.startsWith('ageing:') || action === undefined) continue;
      const subscriptionIds: string[] = event.subscriptionId
        ? [event.subscriptionId]
        : (await db(t('subscriptions')).where({ account_id: event.accountId }).select('subscription_id')).map((row: { subscription_id: string }) => row.subscription_id);
      for (const subscriptionId of subscriptionIds) {
        const done = await db(t('dunning_applied')).where({ event_id: event.eventId, subscription_id: subscriptionId }).first();
        if (done) continue;
        let outcome = 'applied';
        try {
          await catalog.transitionSubscription({ kind: 'parent', keyId: 'dunning' }, subscriptionId, {
            action,
            reason: `dunning: ${event.reason}`,
            effectiveAt: new Date(event.effectiveAt).toISOString(),
          });
        } catch (error) {
          if (!(error instanceof ApiError) || error.status >= 500) throw error; // retried by the consumer loop
          outcome = `skipped: ${error.code}: ${error.message}`;
          logger.warn('dunning step not applied', { eventId: event.eventId, subscriptionId, action, reason: outcome });
        }
        await db(t('dunning_applied')).insert({ event_id: event.eventId, subscription_id: subscriptionId, outcome }).onConflict(['event_id', 'subscription_id']).ignore();
        }
    }
  };
  return runBatchConsumer(args.kafka, {
    groupId: DUNNING_GROUP_ID,
    topics: [topics.accountLifecycle.name],
    fromBeginning: true,
    logger,
    handle: resilientHandler(handle, { service: 'catalog', producer: args.producer, deadLetterTopic: topics.deadLetter.name, logger, metrics: args.metrics, health: args.health }),
  });
}
