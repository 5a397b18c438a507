import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import knex from 'knex';
import { publishReference } from '../contracts/reference.ts';
import { BatchProducer } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { systemClock } from '../runtime/time.ts';
import { startNotify, type RunningNotify } from '../services/notify/index.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, brandTopics } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { invoiceEvent } from './support/collect-fixtures.ts';
import { notifyBrand, notifyCustomer, notifyReference, publish } from './support/notify-fixtures.ts';
import { SmtpSink } from './support/smtp-sink.ts';

const suffix = uniqueSuffix();
const BRAND = `o${suffix}`;
const ACCOUNT = `acct_${suffix}_o1`;
const config = testConfig('notify-outage');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const db = knex({ client: 'pg', connection: config.postgres.url, pool: { min: 0, max: 2 } });
const smtp = new SmtpSink();
let port = 0;
let service: RunningNotify;

/** A port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port: p } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return p;
}

beforeAll(async () => {
  port = await freePort();
  await applyTopics(kafka, serde, allTopics([BRAND]));
  const producer = await BatchProducer.connect(kafka);
  await publishReference(notifyReference([notifyBrand(BRAND)], [notifyCustomer(ACCOUNT, BRAND)]), producer, serde);
  await producer.stop();
  service = await startNotify(config, { kafka, serde, logger: silentLogger, clock: systemClock }, {
    topicPattern: new RegExp(`^brand\\.o${suffix}\\.(invoices|payments)$`),
    groupId: `notify-outage-${suffix}`,
    env: { SMTP_URL: `smtp://127.0.0.1:${port}`, NOTIFY_RETRY_INITIAL_MS: '300', NOTIFY_RETRY_MAX_MS: '300', NOTIFY_MAX_ATTEMPTS: '1000', NOTIFY_POLL_MS: '50' },
  });
}, 120_000);

afterAll(async () => {
  await service?.stop();
  await smtp.close().catch(() => undefined);
  await db.destroy();
});

describe('notify while the SMTP server is away', () => {
  it('keeps the notification pending with the reason, reports degraded, and sends it once the server is back', { timeout: 90_000 }, async () => {
    const invoice = invoiceEvent({ invoiceId: `inv_${suffix}_o1`, brand: BRAND, accountId: ACCOUNT, currency: 'USD', total: '12.00', issuedAt: Date.UTC(2026, 10, 2), dueAt: Date.UTC(2026, 10, 16) });
    await publish(kafka, serde, brandTopics(BRAND).invoices.name, 'invoice', [invoice]);
    const id = `${invoice.invoiceId}:invoice_issued`;
    const waiting = await eventually('a failed attempt recorded', async () => {
      const r = await db('notify.notifications').where({ notification_id: id }).first();
      return r && r.status === 'pending' && r.attempts >= 2 ? r : undefined;
    });
    expect(waiting.reason).toMatch(/^smtp: ESOCKET: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
    const health = (await (await fetch(`${service.url}/healthz`)).json()) as { status: string; checks: { sender: { detail: string } } };
    expect(health.status).toBe('degraded');
    expect(health.checks.sender.detail).toMatch(/^smtp: ESOCKET: connect ECONNREFUSED/);

    await smtp.start(port);
    await eventually('the mail once the server is back', () => (smtp.of(id).length === 1 ? true : undefined), 60_000);
    expect(await db('notify.notifications').where({ notification_id: id }).first()).toMatchObject({ status: 'sent' });
    await eventually('healthy again', async () => ((await fetch(`${service.url}/healthz`)).status === 200 ? true : undefined));
    expect(smtp.of(id)).toHaveLength(1);
  });
});
