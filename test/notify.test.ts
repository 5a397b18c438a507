import { publishTestKeys, withKey, type TestKey } from './support/api-keys.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import knex from 'knex';
import { publishReference } from '../contracts/reference.ts';
import zlib from 'node:zlib';
import { pdfTextOf } from '../documents/test-helpers.ts';
import { BatchProducer } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { systemClock } from '../runtime/time.ts';
import { startNotify, type RunningNotify } from '../services/notify/index.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, brandTopics, topics } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { invoiceEvent } from './support/collect-fixtures.ts';
import { deadLettersOf, lifecycleEvent, notifyBrand, notifyCustomer, notifyReference, paymentEvent, publish } from './support/notify-fixtures.ts';
import { SmtpSink } from './support/smtp-sink.ts';

const suffix = uniqueSuffix();
const A = `n${suffix}-a`;
const B = `n${suffix}-b`;
const A1 = `acct_${suffix}_a1`;
const A2 = `acct_${suffix}_a2`;
const A3 = `acct_${suffix}_a3`;
const B1 = `acct_${suffix}_b1`;
const DEFERRED = `deferred-${suffix}@customers.example`;
const GONE = `gone-${suffix}@customers.example`;

const config = testConfig('notify-test');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const db = knex({ client: 'pg', connection: config.postgres.url, pool: { min: 0, max: 2 } });
const smtp = new SmtpSink();
let service: RunningNotify;
const t0 = Date.UTC(2026, 10, 2, 14, 0, 0);

/** The words a (compressed) PDF draws: its Flate streams inflated, then read as documents/ tests read them. */
function pdfWords(pdf: Buffer): string {
  let content = '';
  for (const m of pdf.toString('latin1').matchAll(/stream\r?\n([\s\S]*?)\nendstream/g)) {
    // The deflated bytes may themselves end in \r: try them whole first, then without a CR line end.
    const raw = m[1]!;
    for (const candidate of raw.endsWith('\r') ? [raw, raw.slice(0, -1)] : [raw]) {
      try {
        content += zlib.inflateSync(Buffer.from(candidate, 'latin1')).toString('latin1');
        break;
      } catch {
        // not a deflated stream (an image, or already plain), or not with this ending
      }
    }
  }
  return pdfTextOf(Buffer.from(content, 'latin1')).join('\n');
}

const row = (id: string) => db('notify.notifications').where({ notification_id: id }).first();

let parentKey: TestKey;
let brandBKey: TestKey;

beforeAll(async () => {
  await smtp.start();
  smtp.refuse(DEFERRED, 450);
  smtp.refuse(GONE, 550);
  await applyTopics(kafka, serde, allTopics([A, B]));
  const producer = await BatchProducer.connect(kafka);
  await publishReference(
    notifyReference(
      [
        notifyBrand(A, { notifications: { senderName: `Answer ${A} Billing`, senderAddress: `invoices@${A}.example`, replyTo: `help@${A}.example`, kinds: {} } }),
        notifyBrand(B, { locale: 'fr-CA', country: 'CA', currency: 'CAD', timeZone: 'America/Toronto', notifications: { kinds: { payment_received: { enabled: false, recipients: 'all' }, payment_failed: { enabled: true, recipients: 'primary' } } } }),
      ],
      [
        notifyCustomer(A1, A, { billingContacts: [`ap-${suffix}@customers.example`, `${A1}@CUSTOMERS.example`] }),
        notifyCustomer(A2, A, { email: DEFERRED }),
        notifyCustomer(A3, A, { email: GONE }),
        notifyCustomer(B1, B, { country: 'CA', billingContacts: [`cfo-${suffix}@customers.example`] }),
      ],
    ),
    producer,
    serde,
  );
  await producer.stop();
  [parentKey, brandBKey] = (await publishTestKeys(kafka, serde, [{ brand: null }, { brand: B }])) as [TestKey, TestKey];
  service = await startNotify(config, { kafka, serde, logger: silentLogger, clock: systemClock }, {
    topicPattern: new RegExp(`^brand\\.n${suffix}-[a-z]+\\.(invoices|payments|usage-alerts)$`),
    groupId: `notify-test-${suffix}`,
    env: { SMTP_URL: smtp.url, NOTIFY_RETRY_INITIAL_MS: '100', NOTIFY_RETRY_MAX_MS: '200', NOTIFY_MAX_ATTEMPTS: '3', NOTIFY_POLL_MS: '50', NOTIFY_CONCURRENCY: '2' },
  });
}, 120_000);

afterAll(async () => {
  await service?.stop();
  await smtp.close();
  await db.destroy();
});

describe('notify: the brand emails of invoices, payments and dunning steps, over SMTP', () => {
  const invoiceA = invoiceEvent({ invoiceId: `inv_${suffix}_a1`, brand: A, accountId: A1, currency: 'USD', total: '42.50', issuedAt: t0, dueAt: t0 + 14 * 86_400_000 });
  const invoiceB = invoiceEvent({ invoiceId: `inv_${suffix}_b1`, brand: B, accountId: B1, currency: 'CAD', total: '19.99', issuedAt: t0, dueAt: t0 + 14 * 86_400_000 });

  it('sends each kind once with the brand sender, subject, body and PDF; a brand with a kind turned off gets none', { timeout: 120_000 }, async () => {
    // The invoice twice (a redelivery): one mail.
    await publish(kafka, serde, brandTopics(A).invoices.name, 'invoice', [invoiceA, invoiceA]);
    await publish(kafka, serde, brandTopics(B).invoices.name, 'invoice', [invoiceB]);
    const paidA = paymentEvent({ invoiceId: invoiceA.invoiceId, brand: A, accountId: A1, status: 'SUCCEEDED', amount: '42.50', currency: 'USD', at: t0 + 86_400_000 });
    const failedA = paymentEvent({ invoiceId: invoiceA.invoiceId, brand: A, accountId: A1, status: 'FAILED', amount: '42.50', currency: 'USD', attempt: 2, failureKind: 'hard_decline', at: t0 + 3_600_000 });
    const paidB = paymentEvent({ invoiceId: invoiceB.invoiceId, brand: B, accountId: B1, status: 'SUCCEEDED', amount: '19.99', currency: 'CAD', at: t0 + 86_400_000 });
    const failedB = paymentEvent({ invoiceId: invoiceB.invoiceId, brand: B, accountId: B1, status: 'FAILED', amount: '19.99', currency: 'CAD', failureKind: 'soft_decline', at: t0 + 3_600_000 });
    await publish(kafka, serde, brandTopics(A).payments.name, 'payment', [failedA, paidA]);
    await publish(kafka, serde, brandTopics(B).payments.name, 'payment', [failedB, paidB]);
    const steps = (['reminder_sent', 'suspended', 'cancelled'] as const).map((action, i) => lifecycleEvent({ brand: A, accountId: A1, invoiceId: invoiceA.invoiceId, action, days: [3, 10, 30][i]!, at: t0 + (17 + 10 * i) * 86_400_000 }));
    await publish(kafka, serde, topics.accountLifecycle.name, 'account.lifecycle', steps);

    const ids = {
      invoiceA: `${invoiceA.invoiceId}:invoice_issued`,
      receiptA: `${paidA.eventId}:payment_received`,
      failedA: `${failedA.eventId}:payment_failed`,
      reminder: `${steps[0]!.eventId}:dunning_reminder`,
      suspended: `${steps[1]!.eventId}:dunning_suspended`,
      cancelled: `${steps[2]!.eventId}:dunning_cancelled`,
      invoiceB: `${invoiceB.invoiceId}:invoice_issued`,
      failedB: `${failedB.eventId}:payment_failed`,
      receiptB: `${paidB.eventId}:payment_received`,
    };
    const sentIds = [ids.invoiceA, ids.receiptA, ids.failedA, ids.reminder, ids.suspended, ids.cancelled, ids.invoiceB, ids.failedB];
    await eventually('every notification sent', () => (sentIds.every((id) => smtp.of(id).length > 0) ? true : undefined), 90_000);
    await eventually('the turned-off receipt recorded as skipped', async () => ((await row(ids.receiptB))?.status === 'skipped' ? true : undefined));
    await service.drain();

    // One mail per notification, none for the brand's turned-off kind.
    for (const id of sentIds) expect({ id, mails: smtp.of(id).length }).toEqual({ id, mails: 1 });
    expect(smtp.of(ids.receiptB)).toEqual([]);
    expect(await row(ids.receiptB)).toMatchObject({ status: 'skipped', reason: `kind_disabled: ${B} has payment_received turned off` });
    expect(smtp.mails.filter((m) => m.parsed.headers.get('x-rateline-brand') === B).map((m) => m.notificationId).sort()).toEqual([ids.failedB, ids.invoiceB].sort());

    // Brand A: its own sender and reply-to; the customer's email and billing contacts, each once.
    const inv = smtp.of(ids.invoiceA)[0]!;
    expect(inv.parsed.from?.value).toEqual([{ name: `Answer ${A} Billing`, address: `invoices@${A}.example` }]);
    expect((inv.parsed.replyTo?.value ?? []).map((v) => v.address)).toEqual([`help@${A}.example`]);
    expect(inv.envelopeTo).toEqual([`${A1}@customers.example`, `ap-${suffix}@customers.example`]);
    expect(inv.parsed.subject).toBe(`Answer ${A} invoice N-${invoiceA.invoiceId}: $42.50 due Nov 16, 2026`);
    expect(inv.parsed.text).toContain(`Your Answer ${A} invoice N-${invoiceA.invoiceId} is ready.`);
    expect(inv.parsed.html).toContain('#0b5394');
    expect(inv.parsed.attachments.map((a) => [a.filename, a.contentType])).toEqual([[`invoice-N-${invoiceA.invoiceId}.pdf`, 'application/pdf']]);
    const invoicePdf = inv.parsed.attachments[0]!.content;
    expect(invoicePdf.subarray(0, 5).toString()).toBe('%PDF-');
    const words = pdfWords(invoicePdf);
    expect(words).toContain(`N-${invoiceA.invoiceId}`);
    expect(words).toContain('$42.50');
    expect(words).toContain(`Answer ${A} Ltd`);

    const receipt = smtp.of(ids.receiptA)[0]!;
    expect(receipt.parsed.subject).toBe(`Answer ${A} receipt: $42.50 received for invoice N-${invoiceA.invoiceId}`);
    expect(receipt.parsed.attachments.map((a) => a.filename)).toEqual([`receipt-N-${invoiceA.invoiceId}.pdf`]);
    expect(pdfWords(receipt.parsed.attachments[0]!.content)).toContain('Visa ending 4242');

    const failed = smtp.of(ids.failedA)[0]!;
    expect(failed.parsed.subject).toBe(`Answer ${A}: we could not collect $42.50 for invoice N-${invoiceA.invoiceId}`);
    expect(failed.parsed.text).toContain('Your bank declined the charge. Please update your payment method');
    // The gateway's own words (and anything card-like) never reach the customer.
    expect(failed.parsed.text).not.toContain('Your card was declined');
    expect(failed.parsed.attachments).toEqual([]);

    expect(smtp.of(ids.reminder)[0]!.parsed.subject).toBe(`Answer ${A}: invoice N-${invoiceA.invoiceId} is overdue`);
    expect(smtp.of(ids.reminder)[0]!.parsed.text).toContain(`Invoice N-${invoiceA.invoiceId} is 3 days overdue.`);
    expect(smtp.of(ids.suspended)[0]!.parsed.subject).toBe(`Answer ${A}: your service is suspended (invoice N-${invoiceA.invoiceId} unpaid)`);
    expect(smtp.of(ids.cancelled)[0]!.parsed.subject).toBe(`Answer ${A}: your service is cancelled (invoice N-${invoiceA.invoiceId} unpaid)`);

    // Brand B (fr-CA, no sender set): its branding's name and support address; French words;
    // payment_failed to the primary address only, the invoice to every billing contact.
    const invB = smtp.of(ids.invoiceB)[0]!;
    expect(invB.parsed.from?.value).toEqual([{ name: `Answer ${B}`, address: `billing@${B}.example` }]);
    expect(invB.envelopeTo).toEqual([`${B1}@customers.example`, `cfo-${suffix}@customers.example`]);
    const failedBMail = smtp.of(ids.failedB)[0]!;
    expect(failedBMail.envelopeTo).toEqual([`${B1}@customers.example`]);
    expect(failedBMail.parsed.subject).toBe(`Answer ${B} : le prélèvement de 19,99\u00a0$ pour la facture N-${invoiceB.invoiceId} a échoué`);

    // Stored as sent, with the Message-ID the mail carried.
    const stored = await row(ids.invoiceA);
    expect(stored).toMatchObject({ status: 'sent', attempts: 1, message_id: inv.messageId, resent_after_crash: 0 });
  });

  it('dead-letters garbage, a null value and an unknown schema id with their reasons, and sends the good invoice behind them', { timeout: 120_000 }, async () => {
    const topic = brandTopics(A).invoices.name;
    const dead = await deadLettersOf(kafka, topics.deadLetter.name, 'notify', topic);
    const good = invoiceEvent({ invoiceId: `inv_${suffix}_after_poison`, brand: A, accountId: A1, currency: 'USD', total: '7.00', issuedAt: t0, dueAt: t0 + 14 * 86_400_000 });
    const unknownSchema = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0x01]), Buffer.from('body')]);
    await publish(kafka, serde, topic, 'invoice', [
      { raw: Buffer.from('not avro at all'), key: A1 },
      { raw: null, key: A1 },
      { raw: unknownSchema, key: A1 },
      good,
    ]);
    await eventually('the good invoice mailed', () => (smtp.of(`${good.invoiceId}:invoice_issued`).length === 1 ? true : undefined), 60_000);
    const records = await eventually('three dead letters', () => (dead.records.length >= 3 ? dead.records : undefined), 60_000);
    await dead.stop();
    expect(records.map((r) => r.headers['dlq-error-code']).sort()).toEqual(['not_confluent_avro', 'null_value', 'unknown_schema']);
    expect(records.find((r) => r.headers['dlq-error-code'] === 'unknown_schema')!.value).toEqual(unknownSchema);
  });

  it('retries a recipient the server defers (450) with backoff, then marks the notification failed with the reason, by API and metric', { timeout: 60_000 }, async () => {
    const invoice = invoiceEvent({ invoiceId: `inv_${suffix}_a2`, brand: A, accountId: A2, currency: 'USD', total: '10.00', issuedAt: t0, dueAt: t0 + 14 * 86_400_000 });
    await publish(kafka, serde, brandTopics(A).invoices.name, 'invoice', [invoice]);
    const id = `${invoice.invoiceId}:invoice_issued`;
    const failed = await eventually('the deferred notification failed', async () => {
      const r = await row(id);
      return r?.status === 'failed' ? r : undefined;
    });
    expect(failed.attempts).toBe(3);
    expect(failed.reason).toMatch(new RegExp(`^smtp: 450 .*${DEFERRED}: mailbox busy, try later \\(after 3 attempts\\)$`));
    expect(smtp.rcptAttempts.get(DEFERRED)).toBe(3);
    expect(smtp.of(id)).toEqual([]);

    const listed = (await (await fetch(`${service.apiUrl}/notifications?status=failed&brand=${A}`, { headers: withKey(parentKey) })).json()) as { notifications: { notification_id: string; reason: string }[] };
    // Another brand's key sees none of them, and no key gets 401.
    expect(((await (await fetch(`${service.apiUrl}/notifications?brand=${A}`, { headers: withKey(brandBKey) })).json()) as { notifications: unknown[] }).notifications).toEqual([]);
    expect((await fetch(`${service.apiUrl}/notifications/${encodeURIComponent(listed.notifications[0]!.notification_id)}`, { headers: withKey(brandBKey) })).status).toBe(404);
    expect((await fetch(`${service.apiUrl}/notifications`)).status).toBe(401);
    expect(listed.notifications.map((n) => n.notification_id)).toContain(id);
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toMatch(/rateline_notifications_total\{kind="invoice_issued",outcome="failed",service="notify"\} [1-9]/);
    expect(metrics).toMatch(/rateline_notification_attempts_total\{result="retry",service="notify"\} [2-9]/);
  });

  it('marks a hard-bounced address (550) at once, and sends nothing more to it', { timeout: 60_000 }, async () => {
    const first = invoiceEvent({ invoiceId: `inv_${suffix}_a3_1`, brand: A, accountId: A3, currency: 'USD', total: '10.00', issuedAt: t0, dueAt: t0 + 14 * 86_400_000 });
    await publish(kafka, serde, brandTopics(A).invoices.name, 'invoice', [first]);
    const bounced = await eventually('the bounced notification failed', async () => {
      const r = await row(`${first.invoiceId}:invoice_issued`);
      return r?.status === 'failed' ? r : undefined;
    });
    expect(bounced.attempts).toBe(1);
    expect(bounced.reason).toMatch(/^hard_bounce: 550 .*no such mailbox$/);
    const bounces = (await (await fetch(`${service.apiUrl}/bounces`, { headers: withKey(parentKey) })).json()) as { bounces: { address: string; notification_id: string }[] };
    expect((await fetch(`${service.apiUrl}/bounces`, { headers: withKey(brandBKey) })).status).toBe(403);
    expect(bounces.bounces.find((b) => b.address === GONE)).toMatchObject({ notification_id: `${first.invoiceId}:invoice_issued` });

    const second = invoiceEvent({ invoiceId: `inv_${suffix}_a3_2`, brand: A, accountId: A3, currency: 'USD', total: '11.00', issuedAt: t0, dueAt: t0 + 14 * 86_400_000 });
    await publish(kafka, serde, brandTopics(A).invoices.name, 'invoice', [second]);
    const none = await eventually('the second notification failed without a send', async () => {
      const r = await row(`${second.invoiceId}:invoice_issued`);
      return r?.status === 'failed' ? r : undefined;
    });
    expect(none.reason).toBe(`no_recipient: every address bounced (${GONE})`);
    expect(smtp.rcptAttempts.get(GONE)).toBe(1);
  });
});
