import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import knex from 'knex';
import { publishReference } from '../contracts/reference.ts';
import type { UsageChargedRecord } from '../contracts/records.ts';
import { BatchProducer } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { systemClock } from '../runtime/time.ts';
import { startNotify, type RunningNotify } from '../services/notify/index.ts';
import { startUsageAlerts, type RunningUsageAlerts, type UsageAlertRecord } from '../services/usage-alerts/index.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, brandTopics, topics } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, testTopic, uniqueSuffix } from './helpers.ts';
import { readAll } from './support/collect-fixtures.ts';
import { deadLettersOf, notifyBrand, notifyCustomer, notifyReference, publish } from './support/notify-fixtures.ts';
import { SmtpSink } from './support/smtp-sink.ts';

const suffix = uniqueSuffix();
const BRAND = `u${suffix}`;
const ACCOUNT = `acct_${suffix}_u1`;
const SUB = `sub_${suffix}_u1`;
const PLAN = `${BRAND}-plan`;
// The November period of a subscription anchored on the 2nd, New York.
const PERIOD_START = Date.UTC(2026, 10, 2, 5);
const PERIOD_END = Date.UTC(2026, 11, 2, 5);
const input = testTopic('usage-charged', { schema: 'usage.charged', key: 'accountId' });

const config = testConfig('usage-alerts-test');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const smtp = new SmtpSink();
const db = knex({ client: 'pg', connection: config.postgres.url, pool: { min: 0, max: 2 } });
let alerts: RunningUsageAlerts;
let notify: RunningNotify;

/** A charged call of the subscription: 600 seconds are included a period; overage at 0.12 a minute. */
function call(id: string, version: number, billableSeconds: number, overageAmount: string): UsageChargedRecord {
  const start = PERIOD_START + 86_400_000;
  return {
    eventId: `${BRAND}-${id}`, source: 'usage-alerts-test', cdrId: id, callingNumber: null, calledNumber: '+18005550100', usageType: 'LCA',
    startTime: start, endTime: start + billableSeconds * 1000, durationSeconds: billableSeconds, attributes: {},
    brand: BRAND, accountId: ACCOUNT, subscriptionId: SUB, assignmentId: 'a1', productId: `${BRAND}-lca`,
    ratingVersion: version, ruleId: 'r', ruleVersion: version, billableSeconds, ratedAt: start,
    periodStart: PERIOD_START, periodEnd: PERIOD_END, planId: PLAN, planVersion: 1, includedSeconds: 0, overageSeconds: 0, draws: [], currency: 'USD',
    amount: new Decimal(overageAmount), tiers: [], chargedAt: start, chargeSequence: 1,
  } as UsageChargedRecord;
}

beforeAll(async () => {
  await smtp.start();
  await applyTopics(kafka, serde, [...allTopics([BRAND]), input]);
  const producer = await BatchProducer.connect(kafka);
  await publishReference(
    notifyReference([notifyBrand(BRAND, { notifications: { usageThresholdPercents: [80, 100], usageOverageAmount: '1.00' } })], [notifyCustomer(ACCOUNT, BRAND)], {
      plans: [{ planId: PLAN, version: 1, owner: BRAND, name: 'Answering 10', currency: 'USD', monthlyFee: '30.00', grants: [{ bucketId: `${BRAND}-lca`, usageType: 'LCA', seconds: 600, priority: 1 }], priceModels: [{ usageType: 'LCA', kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice: '0.12' }] }] }],
      subscriptions: [{ subscriptionId: SUB, brand: BRAND, accountId: ACCOUNT, planId: PLAN, planVersion: 1, anchor: '2026-01-02T15:00:00Z', status: 'active' }],
    }),
    producer,
    serde,
  );
  await producer.stop();
  const deps = { kafka, serde, logger: silentLogger, clock: systemClock };
  alerts = await startUsageAlerts(config, deps, { groupId: `usage-alerts-test-${suffix}`, inputTopic: input.name });
  notify = await startNotify(config, deps, {
    topicPattern: new RegExp(`^brand\\.u${suffix}\\.(invoices|payments|usage-alerts)$`),
    groupId: `notify-usage-test-${suffix}`,
    env: { SMTP_URL: smtp.url, NOTIFY_POLL_MS: '50' },
  });
}, 120_000);

afterAll(async () => {
  await notify?.stop();
  await alerts?.stop();
  await smtp.close();
  await db.destroy();
});

describe('usage thresholds: alerts on the brand topic and their mails', () => {
  const id = (threshold: string) => `usage-alert:${SUB}:LCA:${PERIOD_START}:${threshold}`;

  it('a call crossing 80 % and 100 % gets both, once each; a redelivery and a re-rated period send nothing again; the overage amount once', { timeout: 120_000 }, async () => {
    // 300 s of 600 included: 50 %, nothing.
    await publish(kafka, serde, input.name, 'usage.charged', [call('c1', 1, 300, '0')]);
    // +400 s: 700 of 600, past 80 % (480 s) and 100 % (600 s) in one call; 100 s of overage at 0.12 a minute is 0.20.
    const c2 = call('c2', 1, 400, '0.20');
    await publish(kafka, serde, input.name, 'usage.charged', [c2, c2]);
    await eventually('the 80 % and 100 % mails', () => (smtp.of(`${id('pct80')}:usage_threshold`).length + smtp.of(`${id('pct100')}:usage_threshold`).length === 2 ? true : undefined), 90_000);

    // The period re-rated (version 2): 240 + 420 s, still past both; 60 s of overage is 0.12. Nothing new.
    await publish(kafka, serde, input.name, 'usage.charged', [call('c1', 2, 240, '0'), call('c2', 2, 420, '0.12')]);
    // A further call of 600 s, all overage: 1.20; 0.12 + 1.20 = 1.32 reaches the brand's 1.00 once.
    await publish(kafka, serde, input.name, 'usage.charged', [call('c3', 1, 600, '1.20')]);
    await eventually('the overage mail', () => (smtp.of(`${id('overage1')}:usage_threshold`).length === 1 ? true : undefined), 90_000);
    await alerts.flush();
    await notify.drain();

    const published = await readAll<UsageAlertRecord>(kafka, serde, [brandTopics(BRAND).usageAlerts.name]);
    expect(published.map((p) => p.value.eventId)).toEqual([id('pct80'), id('pct100'), id('overage1')]);
    const [p80, p100, over] = published.map((p) => p.value);
    expect(p80).toMatchObject({ thresholdKind: 'included_percent', thresholdPercent: 80, includedSeconds: 600, usedSeconds: 700, unitSeconds: 60, accountId: ACCOUNT, periodStart: PERIOD_START, periodEnd: PERIOD_END });
    expect(p80!.overageAmount.toFixed(2)).toBe('0.20');
    expect(p100).toMatchObject({ thresholdPercent: 100, usedSeconds: 700 });
    // The overage alert counts the re-rated figures: 240 + 420 + 600 s, 0.12 + 1.20.
    expect(over).toMatchObject({ thresholdKind: 'overage_amount', thresholdPercent: null, usedSeconds: 1260 });
    expect(over!.thresholdAmount!.toFixed(2)).toBe('1.00');
    expect(over!.overageAmount.toFixed(2)).toBe('1.32');

    // One mail per alert (sent side by side, so compared by notification, not by arrival).
    const mails = smtp.mails.filter((m) => m.parsed.headers.get('x-rateline-brand') === BRAND);
    expect(Object.fromEntries(mails.map((m) => [m.notificationId, m.parsed.subject]))).toEqual({
      [`${id('pct80')}:usage_threshold`]: `Answer ${BRAND}: you have used 80% of your included LCA minutes`,
      [`${id('pct100')}:usage_threshold`]: `Answer ${BRAND}: you have used 100% of your included LCA minutes`,
      [`${id('overage1')}:usage_threshold`]: `Answer ${BRAND}: your LCA overage has passed $1.00`,
    });
    expect(mails).toHaveLength(3);
    const at80 = smtp.of(`${id('pct80')}:usage_threshold`)[0]!.parsed.text;
    expect(at80).toContain('Used: 11.66 min');
    expect(at80).toContain('Included: 10 min');
    expect(at80).toContain('Period ends: Dec 2, 2026');
  });

  it('dead-letters garbage, a null value and an unknown schema id on its input, and processes the call behind them', { timeout: 120_000 }, async () => {
    const dead = await deadLettersOf(kafka, topics.deadLetter.name, 'usage-alerts', input.name);
    const unknownSchema = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0x02]), Buffer.from('body')]);
    await publish(kafka, serde, input.name, 'usage.charged', [{ raw: Buffer.from('garbage'), key: ACCOUNT }, { raw: null, key: ACCOUNT }, { raw: unknownSchema, key: ACCOUNT }, call('c4', 1, 60, '0.12')]);
    const records = await eventually('three dead letters', () => (dead.records.length >= 3 ? dead.records : undefined), 60_000);
    await dead.stop();
    expect(records.map((r) => r.headers['dlq-error-code']).sort()).toEqual(['not_confluent_avro', 'null_value', 'unknown_schema']);
    // The good call behind them is counted.
    await eventually('the call behind the poison recorded', async () => ((await db('usage_alerts.calls').where({ event_id: `${BRAND}-c4` }).first()) ? true : undefined));
  });
});
