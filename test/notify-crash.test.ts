import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import knex from 'knex';
import { publishReference } from '../contracts/reference.ts';
import type { InvoiceEvent } from '../contracts/invoice.ts';
import { BatchProducer } from '../runtime/kafka.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, brandTopics } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { invoiceEvent, scanForCardNumbers } from './support/collect-fixtures.ts';
import { notifyBrand, notifyCustomer, notifyReference, paymentEvent, publish } from './support/notify-fixtures.ts';
import { ServiceProcess } from '../infra/service-process.ts';
import { SmtpSink } from './support/smtp-sink.ts';

const EVENTS = 1_000;
const ACCOUNTS = 100;
/** Kill points: after this many mails arrived (the first one while the batch is still being recorded). */
const KILL_AT = [1, 300, 650];
const suffix = uniqueSuffix();
const BRANDS = [`k${suffix}-a`, `k${suffix}-b`];
const accounts = Array.from({ length: ACCOUNTS }, (_, i) => ({ accountId: `acct_${suffix}_k${i}`, brand: BRANDS[i % 2]! }));
const t0 = Date.UTC(2026, 10, 2, 14, 0, 0);

// 700 invoices (mail with a PDF) and 300 payments received (receipt with a PDF).
const invoices: InvoiceEvent[] = Array.from({ length: 700 }, (_, n) => {
  const a = accounts[n % ACCOUNTS]!;
  return invoiceEvent({ invoiceId: `inv_${suffix}_k${n}`, brand: a.brand, accountId: a.accountId, currency: 'USD', total: `${10 + (n % 90)}.${String(n % 100).padStart(2, '0')}`, issuedAt: t0, dueAt: t0 + 14 * 86_400_000 });
});
const payments = invoices.slice(0, EVENTS - invoices.length).map((i) => paymentEvent({ invoiceId: i.invoiceId, brand: i.brand, accountId: i.accountId, status: 'SUCCEEDED', amount: i.total.toFixed(2), currency: 'USD', at: t0 + 86_400_000 }));
const expected = [...invoices.map((i) => `${i.invoiceId}:invoice_issued`), ...payments.map((p) => `${p.eventId}:payment_received`)];

const config = testConfig('notify-crash');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const db = knex({ client: 'pg', connection: config.postgres.url, pool: { min: 0, max: 2 } });
// The relay asks for a password: it must never reach a log line or a mail.
const SMTP_PASSWORD = `pw-${suffix}-S3cret!`;
const smtp = new SmtpSink({ user: 'rateline-notify', pass: SMTP_PASSWORD });
let service: ServiceProcess;

beforeAll(async () => {
  await smtp.start();
  await applyTopics(kafka, serde, allTopics(BRANDS));
  const producer = await BatchProducer.connect(kafka);
  await publishReference(notifyReference(BRANDS.map((b) => notifyBrand(b)), accounts.map((a) => notifyCustomer(a.accountId, a.brand))), producer, serde);
  await producer.stop();
  service = new ServiceProcess('notify', {
    KAFKA_BROKERS: config.kafka.brokers.join(','),
    SCHEMA_REGISTRY_URL: config.registry.url,
    DATABASE_URL: config.postgres.url,
    SMTP_URL: smtp.url,
    NOTIFY_TOPIC_PATTERN: `^brand\\.k${suffix}-[a-z]+\\.(invoices|payments)$`,
    NOTIFY_GROUP_ID: `notify-crash-${suffix}`,
    NOTIFY_CONCURRENCY: '4',
    NOTIFY_POLL_MS: '100',
    // A claim left by a killed instance is taken again 2 s on (a local send takes milliseconds).
    NOTIFY_LEASE_MS: '2000',
    KAFKA_SESSION_TIMEOUT_MS: '10000',
  });
  service.start();
}, 120_000);

afterAll(async () => {
  await service?.stop();
  await smtp.close();
  await db.destroy();
});

describe(`notify under SIGKILL (${KILL_AT.length} kills while ${EVENTS} invoice and receipt mails are recorded and sent)`, () => {
  it('sends every notification, and a second copy only of one in flight at a kill, with the same Message-ID', { timeout: 300_000 }, async () => {
    const t = Date.now();
    await eventually('notify up', () => (service.startsLogged() >= 1 ? true : undefined), 90_000);
    await publish(kafka, serde, brandTopics(BRANDS[0]!).invoices.name, 'invoice', invoices.filter((i) => i.brand === BRANDS[0]));
    await publish(kafka, serde, brandTopics(BRANDS[1]!).invoices.name, 'invoice', invoices.filter((i) => i.brand === BRANDS[1]));
    await publish(kafka, serde, brandTopics(BRANDS[0]!).payments.name, 'payment', payments.filter((p) => p.brand === BRANDS[0]));
    await publish(kafka, serde, brandTopics(BRANDS[1]!).payments.name, 'payment', payments.filter((p) => p.brand === BRANDS[1]));
    const mine = new Set(expected);
    const received = () => smtp.mails.filter((m) => m.notificationId !== undefined && mine.has(m.notificationId));
    const progress: string[] = [];
    for (const at of KILL_AT) {
      await eventually(`${at} mails before a kill`, () => (received().length >= at ? true : undefined), 120_000);
      const [recorded] = await db('notify.notifications').whereIn('notification_id', expected).count({ n: '*' });
      progress.push(`${received().length} mails / ${Number(recorded!.n)} recorded`);
      service.kill();
      await new Promise((r) => setTimeout(r, 200));
      service.start();
      await eventually('notify up again', () => (service.startsLogged() > service.kills ? true : undefined), 90_000);
    }
    await eventually(`all ${EVENTS} notifications mailed`, () => (new Set(received().map((m) => m.notificationId)).size === EVENTS ? true : undefined), 180_000);
    const rows: { notification_id: string; status: string; message_id: string; resent_after_crash: number }[] = await eventually('every row sent', async () => {
      const r = await db('notify.notifications').whereIn('notification_id', expected).select('notification_id', 'status', 'message_id', 'resent_after_crash');
      return r.length === EVENTS && r.every((x: { status: string }) => x.status === 'sent') ? r : undefined;
    });
    const elapsed = (Date.now() - t) / 1000;
    expect(service.startsLogged()).toBe(KILL_AT.length + 1);

    // Nothing lost, nothing extra: every expected notification arrived, nothing else of this run did.
    const mails = received();
    expect(new Set(mails.map((m) => m.notificationId))).toEqual(mine);
    // Per notification, one Message-ID whatever the copies: the inbox that de-duplicates by it holds one mail per event.
    const byId = new Map<string, Set<string>>();
    for (const m of mails) byId.set(m.notificationId!, (byId.get(m.notificationId!) ?? new Set()).add(m.messageId!));
    expect([...byId.values()].filter((s) => s.size !== 1)).toEqual([]);
    const stored = new Map(rows.map((r) => [r.notification_id, r]));
    for (const [id, messageIds] of byId) expect(stored.get(id)!.message_id).toBe([...messageIds][0]);
    // A second copy only of a notification whose sender died with it claimed (the one window
    // SMTP leaves open: accepted by the server, not yet marked sent).
    const copies = new Map<string, number>();
    for (const m of mails) copies.set(m.notificationId!, (copies.get(m.notificationId!) ?? 0) + 1);
    const duplicated = [...copies].filter(([, n]) => n > 1).map(([id]) => id);
    expect(duplicated.filter((id) => stored.get(id)!.resent_after_crash === 0)).toEqual([]);
    expect([...copies.values()].every((n) => n <= 2)).toBe(true);
    const resent = rows.filter((r) => r.resent_after_crash > 0).length;
    expect(duplicated.length).toBeLessThanOrEqual(resent);
    expect(duplicated.length).toBeLessThanOrEqual(KILL_AT.length * 4);
    // No secret and no card data in the mails, the service's log across every restart, or its tables.
    const log = fs.readFileSync(service.logFile, 'utf8');
    expect(log).not.toContain(SMTP_PASSWORD);
    expect(log).not.toContain(encodeURIComponent(SMTP_PASSWORD));
    const bodies = mails.map((m) => `${m.parsed.text ?? ''}\n${m.parsed.html || ''}\n${m.parsed.subject ?? ''}`);
    expect(bodies.filter((b) => b.includes(SMTP_PASSWORD))).toEqual([]);
    const scan = await scanForCardNumbers({ db, schemas: ['notify'], logs: [log], records: bodies.map((b) => ({ topic: 'mail', value: b })) });
    expect(scan.findings).toEqual([]);
    console.log(
      `[notify-crash] ${EVENTS} notifications, ${KILL_AT.length} SIGKILLs (at ${progress.join('; ')}), ${elapsed.toFixed(1)} s: ` +
        `${mails.length} mails received, ${duplicated.length} second copies (same Message-ID), ${resent} sent again after a kill with their send begun`,
    );
  });
});
