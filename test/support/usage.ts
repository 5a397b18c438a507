import type { Kafka } from 'kafkajs';
import { Decimal } from 'decimal.js';
import type { UsageCharged } from '../../domain/mediation/index.ts';
import { BatchProducer, standardHeaders } from '../../runtime/kafka.ts';
import { loadSchema, type AvroSerde } from '../../runtime/serde.ts';
import { topics, valueSubject } from '../../topics/catalog.ts';

/**
 * A charged call as drawdown publishes it, for bill-run suites that feed usage directly: `seconds`
 * of LCA overage at 0.10 a minute (no included minutes), started a day into its period.
 */
export function chargedCall(f: { brand: string; accountId: string; subscriptionId: string; planId: string; id: string; seconds: number; periodStart: number; periodEnd: number; source: string }): UsageCharged {
  const start = f.periodStart + 86_400_000;
  const minutes = new Decimal(f.seconds).dividedBy(60);
  const amount = minutes.times('0.10');
  return {
    eventId: `${f.brand}-${f.id}`, source: f.source, cdrId: f.id, callingNumber: null, calledNumber: '+18005550100', usageType: 'LCA',
    startTime: start, endTime: start + f.seconds * 1000, durationSeconds: f.seconds, attributes: {},
    brand: f.brand, accountId: f.accountId, subscriptionId: f.subscriptionId, assignmentId: 'a1', productId: `${f.brand}-lca`,
    ratingVersion: 1, ruleId: 'r', ruleVersion: 1, billableSeconds: f.seconds, ratedAt: start,
    periodStart: f.periodStart, periodEnd: f.periodEnd, planId: f.planId, planVersion: 1, includedSeconds: 0, overageSeconds: f.seconds, draws: [], currency: 'USD',
    amount, tiers: [{ tier: 1, units: minutes, unitPrice: new Decimal('0.10'), amount, seconds: f.seconds, flatFee: new Decimal(0) }], chargedAt: start,
    chargeSequence: 1,
  };
}

/** Publishes charged calls and re-rating differences through the registered contracts, each with its brand's headers. */
export async function publishUsage(kafka: Kafka, serde: AvroSerde, charged: UsageCharged[], rerated: Record<string, unknown>[] = []): Promise<void> {
  const producer = await BatchProducer.connect(kafka);
  try {
    const encodeCharged = serde.encoder<UsageCharged>(await serde.register(valueSubject(topics.usageCharged.name), loadSchema('usage.charged')));
    const encodeRerated = serde.encoder<Record<string, unknown>>(await serde.register(valueSubject(topics.usageRerated.name), loadSchema('usage.rerated')));
    await producer.send({
      [topics.usageCharged.name]: charged.map((c) => ({ key: c.accountId, value: encodeCharged(c), headers: standardHeaders({ eventId: c.eventId, brand: c.brand }) })),
      [topics.usageRerated.name]: rerated.map((r) => ({ key: r['accountId'] as string, value: encodeRerated(r), headers: standardHeaders({ eventId: r['eventId'] as string, brand: r['brand'] as string }) })),
    });
  } finally {
    await producer.stop();
  }
}
