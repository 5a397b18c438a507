import { answer, arrayOf, instant, integer, nullable, object, text } from '../../runtime/json-schema.ts';
import type { LifecycleRecord } from '../../contracts/lifecycle.ts';
import type { PaymentRecord } from '../../contracts/payment.ts';
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { Decimal } from 'decimal.js';
import client from 'prom-client';
import {
  brandingFromReference,
  builtinDocumentRenderers,
  customerBlockFromReference,
  invoiceFromEvent,
  noticeEmail,
  priceModelsOf,
  type BrandBranding,
  type DocumentRendererRegistry,
  type Notice,
  type RenderedEmail,
} from '../../documents/index.ts';
import {
  classifySmtpFailure,
  invoiceNotifications,
  kindEnabled,
  lifecycleNotifications,
  nextAttemptDelay,
  paymentNotifications,
  recipientsFor,
  senderFor,
  usageAlertNotifications,
  type NotificationIntent,
  type NotificationKind,
  type RetryPolicy,
} from '../../domain/notify/index.ts';
import { ReferenceTables } from '../../domain/reference/index.ts';
import { allReferenceTopics, applyReferenceRecords } from '../../contracts/reference.ts';
import type { InvoiceEvent } from '../../contracts/invoice.ts';
import { classifyFailure, ConfigError } from '../../runtime/errors.ts';
import { wholeNumberSetting, type RuntimeConfig } from '../../runtime/config.ts';
import { createDb, inTransaction, migrateService } from '../../runtime/db.ts';
import type { ConsumedRecord } from '../../runtime/kafka.ts';
import type { Logger } from '../../runtime/log.ts';
import type { RunningService, ServiceDeps } from '../../runtime/service.ts';
import { startStage, type StageApi } from '../../runtime/stage.ts';
import { brandFilter, seesBrand } from '../../runtime/auth.ts';
import { HttpError, notFound, principalOf, problemAnswer, problemResponses, send } from '../../runtime/http.ts';
import { topics } from '../../topics/catalog.ts';
import { mailerFromEnv, type Mailer, type OutgoingMail } from './mailer.ts';
import { migrations, offsets, SCHEMA } from './schema.ts';

export const GROUP_ID = 'rateline-notify';
/** Every brand's invoices, payments and usage alerts. */
export const DEFAULT_TOPIC_PATTERN = /^brand\.[a-z0-9-]+\.(invoices|payments|usage-alerts)$/;

export interface NotifyOptions {
  parentCompany?: string;
  /** Which brand topics to consume (default NOTIFY_TOPIC_PATTERN, or every brand's invoices, payments and usage alerts). */
  topicPattern?: RegExp;
  /** Consumer group and key of the stored offsets (default NOTIFY_GROUP_ID or rateline-notify). */
  groupId?: string;
  /** The mail transport (default: from SMTP_URL / SMTP_HOST / NOTIFY_MAIL_DIR). */
  mailer?: Mailer;
  env?: Readonly<Record<string, string | undefined>>;
}

export interface RunningNotify extends RunningService {
  /** Sends every notification due now and resolves when none is left due (tests and the demo). */
  drain(): Promise<void>;
}

type Status = 'pending' | 'sending' | 'sent' | 'failed' | 'skipped';

interface NotificationRow {
  notification_id: string;
  kind: NotificationKind;
  event_id: string;
  brand: string;
  account_id: string;
  source_topic: string;
  event: Record<string, any>;
  status: Status;
  attempts: number;
  resent_after_crash: number;
  reclaimed: boolean;
  resend: boolean;
}



/** A notification's end other than sent, with the reason: it is not retried. */
class NotificationRefused extends Error {
  constructor(
    readonly status: 'failed' | 'skipped',
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** A notification that cannot be sent yet (its customer not in the reference tables): retried like an SMTP failure. */
class NotReadyYet extends Error {}

interface NotifyMetrics {
  notifications: client.Counter<'kind' | 'outcome'>;
  attempts: client.Counter<'result'>;
  resentAfterCrash: client.Counter;
  bounced: client.Counter;
  backlog: client.Gauge<'status'>;
}

/**
 * notify: turns every brand's invoice, payment, dunning (account.lifecycle) and usage-alert
 * events into the brand's emails, sent over SMTP.
 *
 * Exactly once, in two steps. (1) The consumer writes one row per notification (id: event id +
 * kind) with the consumed offsets in one transaction: a redelivered batch adds nothing, a
 * crash before the commit redoes the batch. (2) The sender claims due rows (status `sending`,
 * a lease), renders and sends each, then marks it `sent`; failures retry with backoff and end
 * `failed` with the reason after NOTIFY_MAX_ATTEMPTS; a 5xx refusal of a recipient marks the
 * address bounced. SMTP has no idempotency key, so the one window left is a crash between the
 * server's acceptance and the mark: the row's lease runs out, it is sent again with the same
 * Message-ID (receivers that de-duplicate by it drop it) and counted as resent_after_crash.
 */
export async function startNotify(config: RuntimeConfig, deps: ServiceDeps, options: NotifyOptions = {}): Promise<RunningNotify> {
  const env = options.env ?? process.env;
  const logger = deps.logger.child({ stage: 'notify' });
  const groupId = options.groupId ?? env['NOTIFY_GROUP_ID'] ?? GROUP_ID;
  let pattern = options.topicPattern ?? DEFAULT_TOPIC_PATTERN;
  if (!options.topicPattern && env['NOTIFY_TOPIC_PATTERN']) {
    try {
      pattern = new RegExp(env['NOTIFY_TOPIC_PATTERN']);
    } catch (error) {
      throw new ConfigError([`NOTIFY_TOPIC_PATTERN is not a regular expression: ${(error as Error).message}`]);
    }
  }
  const concurrency = Math.max(1, wholeNumberSetting(env, 'NOTIFY_CONCURRENCY', 4));
  const policy: RetryPolicy = {
    maxAttempts: Math.max(1, wholeNumberSetting(env, 'NOTIFY_MAX_ATTEMPTS', 6)),
    initialDelayMs: wholeNumberSetting(env, 'NOTIFY_RETRY_INITIAL_MS', 60_000),
    maxDelayMs: wholeNumberSetting(env, 'NOTIFY_RETRY_MAX_MS', 3_600_000),
  };
  const leaseMs = wholeNumberSetting(env, 'NOTIFY_LEASE_MS', 120_000);
  const pollMs = Math.max(10, wholeNumberSetting(env, 'NOTIFY_POLL_MS', 1_000));
  const messageIdDomain = env['NOTIFY_MESSAGE_ID_DOMAIN'] ?? 'notify.rateline.invalid';
  const mailer = options.mailer ?? mailerFromEnv(env, concurrency);

  const db = createDb(config.postgres, { poolMax: concurrency + 3 });
  await migrateService(db, SCHEMA, migrations);
  const store = offsets.store(db);
  const tables = new ReferenceTables(options.parentCompany ?? env['RATELINE_PARENT_COMPANY'] ?? 'ansr-group');
  const documents = builtinDocumentRenderers();

  const handleBatch = async (records: ConsumedRecord[]) => {
    await deps.serde.prepare(records.map((r) => r.value));
    const last = records[records.length - 1]!;
    const topic = last.topic;
    const rows: Record<string, unknown>[] = [];
    const numbers: { invoice_id: string; invoice_number: string }[] = [];
    // Decoding every record first: a bad one fails the batch before anything is written, and the
    // consumer loop halves the batch until it is alone and dead-lettered.
    for (const r of records) {
      let intents: NotificationIntent[];
      let event: unknown;
      if (topic === topics.accountLifecycle.name) {
        const e = deps.serde.decode<LifecycleRecord>(r.value, 'account.lifecycle');
        intents = lifecycleNotifications(e);
        event = e;
      } else if (topic.endsWith('.invoices')) {
        const e = deps.serde.decode<InvoiceEvent>(r.value, 'invoice');
        intents = invoiceNotifications(e);
        numbers.push({ invoice_id: e.invoiceId, invoice_number: e.invoiceNumber });
        event = e;
      } else if (topic.endsWith('.payments')) {
        const e = deps.serde.decode<PaymentRecord>(r.value, 'payment');
        intents = paymentNotifications(e);
        event = e;
      } else {
        const e = deps.serde.decode<{ eventId: string; brand: string; accountId: string }>(r.value, 'usage-alert');
        intents = usageAlertNotifications(e);
        event = e;
      }
      for (const i of intents) {
        rows.push({ notification_id: i.notificationId, kind: i.kind, event_id: i.eventId, brand: i.brand, account_id: i.accountId, source_topic: topic, event: JSON.stringify(event), status: 'pending', next_attempt_at: new Date(deps.clock.now()) });
      }
    }
    await inTransaction(db, async (trx) => {
      for (let i = 0; i < numbers.length; i += 1000) await trx(`${SCHEMA}.invoice_numbers`).insert(numbers.slice(i, i + 1000)).onConflict('invoice_id').ignore();
      for (let i = 0; i < rows.length; i += 1000) await trx(`${SCHEMA}.notifications`).insert(rows.slice(i, i + 1000)).onConflict('notification_id').ignore();
      await store.saveAfter(trx, groupId, last);
    });
    if (rows.length > 0) sender?.wake();
  };

  let sender: Sender | undefined;
  const stage = await startStage(config, deps, {
    name: 'notify',
    groupId,
    inputTopics: [pattern, topics.accountLifecycle.name],
    deadLetterTopic: topics.deadLetter.name,
    referenceTopics: allReferenceTopics,
    onReference: (records) => applyReferenceRecords(tables, records, logger),
    handleBatch: (records) => handleBatch(records),
    storedOffsets: () => store.load(groupId),
    api: () => notifyApi(db),
    healthChecks: { sender: () => sender?.health() ?? { ok: true } },
    close: async () => {
      mailer.close();
      await db.destroy();
    },
  });
  const registers = [stage.metrics.registry];
  const metrics: NotifyMetrics = {
    notifications: new client.Counter({ name: 'rateline_notifications_total', help: 'Notifications that ended, by kind and outcome (sent, failed, skipped)', labelNames: ['kind', 'outcome'], registers }),
    attempts: new client.Counter({ name: 'rateline_notification_attempts_total', help: 'SMTP send attempts, by result (sent, retry, hard_bounce, failed)', labelNames: ['result'], registers }),
    resentAfterCrash: new client.Counter({ name: 'rateline_notifications_resent_after_crash_total', help: 'Notifications sent again after their sender died between starting the send and marking it (a possible second copy, same Message-ID)', registers }),
    bounced: new client.Counter({ name: 'rateline_notification_bounced_addresses_total', help: 'Addresses marked bounced after a 5xx refusal', registers }),
    backlog: new client.Gauge({
      name: 'rateline_notifications',
      help: 'Notifications by status now (pending and sending are the backlog; failed ones wait for a person)',
      labelNames: ['status'],
      registers,
      collect: async function (this: client.Gauge<'status'>) {
        // With the database away the last figures stay: /metrics must answer during an outage.
        const rows = (await db(`${SCHEMA}.notifications`).select('status').count({ n: '*' }).groupBy('status').catch(() => undefined)) as { status: string; n: string }[] | undefined;
        if (!rows) return;
        for (const s of ['pending', 'sending', 'sent', 'failed', 'skipped']) this.set({ status: s }, Number(rows.find((r) => r.status === s)?.n ?? 0));
      },
    }),
  };

  const compose = (row: NotificationRow) => composeMail(row, { db, tables, documents, messageIdDomain });
  sender = new Sender({ db, mailer, compose, policy, leaseMs, pollMs, concurrency, logger, metrics });
  sender.start();
  logger.info('notify sending', { transport: mailer.description, concurrency, maxAttempts: policy.maxAttempts });

  return {
    name: 'notify',
    url: stage.url,
    ...(stage.apiUrl ? { apiUrl: stage.apiUrl } : {}),
    drain: () => sender!.drain(),
    stop: async () => {
      // The sends in hand finish and are marked first (the database is still open), then the
      // consumer commits its batch and the stage closes the pool and the transport.
      await sender?.stop();
      await stage.stop();
    },
  };
}

interface ComposeDeps {
  db: Knex;
  tables: ReferenceTables;
  documents: DocumentRendererRegistry;
  messageIdDomain: string;
}

/**
 * A stable Message-ID from the notification id: a re-send after a crash is recognisably the same
 * mail. Letters only (the hex digest's digits mapped to g-p): a run of digits could pass for a
 * card number in a data-loss scanner.
 */
export const messageIdOf = (notificationId: string, domain: string): string =>
  `<${createHash('sha256').update(notificationId).digest('hex').slice(0, 40).replace(/[0-9]/g, (d) => 'ghijklmnop'[Number(d)]!)}@${domain}>`;

/** The mail of one notification, by its kind, with the brand's current settings; NotificationRefused when it must not be sent. */
async function composeMail(row: NotificationRow, deps: ComposeDeps): Promise<OutgoingMail> {
  const brand = deps.tables.brand(row.brand);
  const customer = deps.tables.customer(row.account_id);
  if (!brand) throw new NotReadyYet(`brand ${row.brand} is not in ref.brands`);
  if (!customer) throw new NotReadyYet(`customer ${row.account_id} is not in ref.customers`);
  const settings = brand.notifications ?? null;
  if (!kindEnabled(settings, row.kind)) throw new NotificationRefused('skipped', `kind_disabled: ${row.brand} has ${row.kind} turned off`);
  const candidates = [customer.email, ...(customer.billingContacts ?? [])].map((a) => a.toLowerCase());
  const bounced = new Set<string>(await deps.db(`${SCHEMA}.bounced_addresses`).whereIn('address', candidates).pluck('address'));
  const recipients = recipientsFor(settings, row.kind, customer, bounced);
  if (recipients.to.length === 0) throw new NotificationRefused('failed', `no_recipient: every address bounced (${recipients.bounced.join(', ')})`);

  let branding: BrandBranding;
  try {
    branding = brandingFromReference(brand, settings?.template ?? 'standard');
    deps.documents.forBrand(branding);
  } catch (error) {
    throw new NotificationRefused('failed', `render_failed: ${(error as Error).message}`);
  }
  const block = customerBlockFromReference(customer);
  const e = row.event;
  const attachments: OutgoingMail['attachments'] = [];
  let email: RenderedEmail;
  try {
    const renderer = deps.documents.forBrand(branding);
    switch (row.kind) {
      case 'invoice_issued': {
        const invoice = invoiceFromEvent(e as never);
        const subscription = deps.tables.subscription(invoice.subscriptionId);
        const plan = subscription ? deps.tables.plan(subscription.planId, subscription.planVersion) : undefined;
        const input = { invoice, branding, customer: block, ...(plan ? { priceModels: priceModelsOf(plan) } : {}) };
        email = renderer.renderInvoiceEmail(input);
        attachments.push({ filename: `invoice-${safeName(invoice.invoiceNumber ?? invoice.invoiceId)}.pdf`, content: await renderer.renderInvoicePdf(input), contentType: 'application/pdf' });
        break;
      }
      case 'payment_received': {
        const invoiceNumber = await invoiceNumberOf(deps.db, e.invoiceId as string);
        const input = {
          receipt: {
            paymentId: e.paymentId as string,
            invoiceNumber,
            amount: new Decimal(e.amount as string),
            currency: e.currency as string,
            methodLabel: (e.methodLabel as string | null) ?? (e.gateway as string),
            paidAt: new Date(e.occurredAt as number),
            gatewayReference: (e.gatewayReference as string | null) ?? (e.paymentId as string),
          },
          branding,
          customer: block,
        };
        email = renderer.renderReceiptEmail(input);
        attachments.push({ filename: `receipt-${safeName(invoiceNumber)}.pdf`, content: await renderer.renderReceiptPdf(input), contentType: 'application/pdf' });
        break;
      }
      case 'payment_failed':
        email = noticeEmail(
          { kind: 'payment_failed', invoiceNumber: await invoiceNumberOf(deps.db, e.invoiceId as string), amount: new Decimal(e.amount as string), currency: e.currency as string, failureKind: (e.failureKind as string | null) ?? null, at: new Date(e.occurredAt as number) },
          branding,
          block,
        );
        break;
      case 'dunning_reminder':
      case 'dunning_suspended':
      case 'dunning_cancelled': {
        const days = /^invoice_overdue_(\d+)_days$/.exec(e.reason as string);
        email = noticeEmail({ kind: row.kind, invoiceNumber: await invoiceNumberOf(deps.db, e.invoiceId as string), daysOverdue: days ? Number(days[1]) : null, at: new Date(e.effectiveAt as number) }, branding, block);
        break;
      }
      case 'usage_threshold':
        email = noticeEmail(usageNotice(e), branding, block);
        break;
      case 'plan_recommendation':
        throw new NotificationRefused('failed', 'render_failed: plan recommendations have no template yet');
    }
  } catch (error) {
    if (error instanceof NotificationRefused) throw error;
    throw new NotificationRefused('failed', `render_failed: ${(error as Error).message}`);
  }
  const sender = senderFor(settings, branding);
  return {
    from: sender.from,
    replyTo: sender.replyTo,
    to: recipients.to,
    subject: email.subject,
    text: email.text,
    html: email.html,
    messageId: messageIdOf(row.notification_id, deps.messageIdDomain),
    headers: { 'X-Rateline-Notification': row.notification_id, 'X-Rateline-Brand': row.brand, 'X-Rateline-Kind': row.kind },
    attachments,
  };
}

/** The usage alert event (schemas/usage-alert.avsc) as a notice. */
function usageNotice(e: Record<string, any>): Notice {
  const unit = Number(e.unitSeconds ?? 60);
  const minutes = (seconds: number) => new Decimal(seconds).div(unit).toDecimalPlaces(2, Decimal.ROUND_DOWN);
  return {
    kind: 'usage_threshold',
    usageType: e.usageType as string,
    percent: e.thresholdKind === 'overage_amount' ? null : Number(e.thresholdPercent),
    usedMinutes: minutes(Number(e.usedSeconds)),
    includedMinutes: minutes(Number(e.includedSeconds)),
    overage: e.thresholdKind === 'overage_amount' ? { amount: new Decimal(e.overageAmount as string), threshold: new Decimal(e.thresholdAmount as string), currency: e.currency as string } : null,
    periodEnd: new Date(e.periodEnd as number),
  };
}

const safeName = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');

async function invoiceNumberOf(db: Knex, invoiceId: string): Promise<string> {
  const row: { invoice_number: string } | undefined = await db(`${SCHEMA}.invoice_numbers`).where({ invoice_id: invoiceId }).first('invoice_number');
  return row?.invoice_number ?? invoiceId;
}

interface SenderDeps {
  db: Knex;
  mailer: Mailer;
  compose(row: NotificationRow): Promise<OutgoingMail>;
  policy: RetryPolicy;
  leaseMs: number;
  pollMs: number;
  concurrency: number;
  logger: Logger;
  metrics: NotifyMetrics;
}

/**
 * Claims due notifications and sends them, `concurrency` at a time. A claim is a row update
 * under FOR UPDATE SKIP LOCKED, so several instances share the work without sending one row
 * twice; a claim whose lease ran out (its sender died) is taken again.
 */
class Sender {
  private stopping = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private lastError: string | undefined;
  /** The last failure to reach the SMTP server, until a mail goes through. */
  private smtpDown: { reason: string; since: number } | undefined;
  private idle: (() => void)[] = [];

  constructor(private readonly deps: SenderDeps) {}

  start(): void {
    this.loop = this.run();
  }

  wake(): void {
    this.wakeUp?.();
  }

  /** Degraded (working, not sending) while the database or the SMTP server cannot be reached. */
  health(): { ok: boolean; degraded?: boolean; detail?: string; since?: string } {
    if (this.lastError !== undefined) return { ok: false, degraded: true, detail: `database: ${this.lastError}` };
    if (this.smtpDown) return { ok: false, degraded: true, detail: `smtp: ${this.smtpDown.reason}`, since: new Date(this.smtpDown.since).toISOString() };
    return { ok: true };
  }

  /** Resolves once a claim finds nothing due. */
  drain(): Promise<void> {
    const done = new Promise<void>((resolve) => this.idle.push(resolve));
    this.wake();
    return done;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let claimed: NotificationRow[] = [];
      try {
        claimed = await this.claim(this.deps.concurrency * 2);
        this.lastError = undefined;
      } catch (error) {
        this.lastError = (error as Error).message;
        this.deps.logger.warn('claiming notifications failed; retrying', { error });
      }
      if (claimed.length === 0) {
        for (const resolve of this.idle.splice(0)) resolve();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.deps.pollMs);
          this.wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeUp = undefined;
        continue;
      }
      let next = 0;
      const worker = async () => {
        while (next < claimed.length) {
          const row = claimed[next++]!;
          await this.sendOne(row).catch((error: unknown) => {
            // The row stays claimed; its lease runs out and it is tried again.
            this.lastError = (error as Error).message;
            this.deps.logger.error('recording a notification outcome failed', { notificationId: row.notification_id, error });
          });
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.deps.concurrency, claimed.length) }, worker));
    }
  }

  private async claim(limit: number): Promise<NotificationRow[]> {
    const { rows } = (await this.deps.db.raw(
      `with due as (
         select notification_id, status as was, (status = 'sending' and send_started_attempt = attempts) as resend from ${SCHEMA}.notifications
          where (status = 'pending' and next_attempt_at <= now()) or (status = 'sending' and lease_until < now())
          order by next_attempt_at
          limit ? for update skip locked)
       update ${SCHEMA}.notifications n
          set status = 'sending', attempts = n.attempts + 1, lease_until = now() + make_interval(secs => ?::double precision / 1000),
              resent_after_crash = n.resent_after_crash + (case when due.resend then 1 else 0 end), updated_at = now()
         from due
        where n.notification_id = due.notification_id
       returning n.notification_id, n.kind, n.event_id, n.brand, n.account_id, n.source_topic, n.event, n.status, n.attempts, n.resent_after_crash, due.was = 'sending' as reclaimed, due.resend`,
      [limit, this.deps.leaseMs],
    )) as { rows: NotificationRow[] };
    const reclaimed = rows.filter((r) => r.reclaimed).length;
    const resent = rows.filter((r) => r.resend).length;
    if (reclaimed > 0) {
      this.deps.metrics.resentAfterCrash.inc(resent);
      this.deps.logger.warn('notifications claimed again after their sender died; those whose send had begun go again with the same Message-ID', { reclaimed, resent });
    }
    return rows;
  }

  /** Sends one claimed notification and records how it ended, unless another instance took it over meanwhile. */
  private async sendOne(row: NotificationRow): Promise<void> {
    const { db, mailer, policy, logger, metrics } = this.deps;
    const mine = () => db(`${SCHEMA}.notifications`).where({ notification_id: row.notification_id, status: 'sending', attempts: row.attempts });
    const end = async (status: 'sent' | 'failed' | 'skipped', fields: Record<string, unknown>) => {
      const n = await mine().update({ status, lease_until: null, updated_at: db.fn.now(), ...fields });
      if (n === 1) metrics.notifications.inc({ kind: row.kind, outcome: status });
    };
    const retryOrFail = async (reason: string) => {
      const delay = nextAttemptDelay(policy, row.attempts);
      if (delay === null) {
        metrics.attempts.inc({ result: 'failed' });
        logger.warn('notification failed', { notificationId: row.notification_id, kind: row.kind, attempts: row.attempts, reason });
        await end('failed', { reason: `${reason} (after ${row.attempts} attempts)` });
        return;
      }
      metrics.attempts.inc({ result: 'retry' });
      await mine().update({ status: 'pending', lease_until: null, reason, next_attempt_at: new Date(Date.now() + delay), updated_at: db.fn.now() });
    };

    let mail: OutgoingMail;
    try {
      mail = await this.deps.compose(row);
    } catch (error) {
      if (error instanceof NotificationRefused) {
        logger.info('notification not sent', { notificationId: row.notification_id, kind: row.kind, status: error.status, reason: error.reason });
        await end(error.status, { reason: error.reason });
        return;
      }
      if (error instanceof NotReadyYet) return retryOrFail(`reference_missing: ${error.message}`);
      if (classifyFailure(error).retryable) throw error;
      await end('failed', { reason: `render_failed: ${(error as Error).message}` });
      return;
    }

    // From here the server may accept the mail before this process can say so.
    await mine().update({ send_started_attempt: row.attempts });
    try {
      const sent = await mailer.send(mail);
      this.smtpDown = undefined;
      const hard = sent.rejectedErrors.filter((r) => (r.responseCode ?? 0) >= 500 && r.recipient);
      if (hard.length > 0) await this.markBounced(hard.map((r) => r.recipient!), row.notification_id, hard[0]!.response ?? 'refused');
      const deferred = sent.rejectedErrors.filter((r) => (r.responseCode ?? 0) < 500);
      metrics.attempts.inc({ result: 'sent' });
      await end('sent', {
        sent_at: db.fn.now(),
        message_id: mail.messageId,
        recipients: mail.to.filter((a) => !sent.rejectedErrors.some((r) => r.recipient === a)),
        reason: sent.rejectedErrors.length > 0 ? `refused: ${[...hard, ...deferred].map((r) => `${r.recipient} (${r.responseCode})`).join(', ')}` : null,
      });
    } catch (error) {
      const failure = classifySmtpFailure(error as Parameters<typeof classifySmtpFailure>[0]);
      const code = (error as { code?: string }).code;
      if (code === 'ECONNECTION' || code === 'ETIMEDOUT' || code === 'ESOCKET' || code === 'EDNS' || code === 'EAUTH') this.smtpDown ??= { reason: failure.reason, since: Date.now() };
      if (failure.kind === 'hard_bounce') {
        metrics.attempts.inc({ result: 'hard_bounce' });
        await this.markBounced([...failure.addresses], row.notification_id, failure.reason);
        const left = mail.to.filter((a) => !failure.addresses.includes(a));
        if (left.length === 0) {
          logger.warn('notification bounced', { notificationId: row.notification_id, kind: row.kind, reason: failure.reason });
          await end('failed', { reason: `hard_bounce: ${failure.reason}` });
          return;
        }
      }
      logger.warn('notification send failed', { notificationId: row.notification_id, kind: row.kind, attempt: row.attempts, reason: failure.reason });
      await retryOrFail(`smtp: ${failure.reason}`);
    }
  }

  private async markBounced(addresses: string[], notificationId: string, reason: string): Promise<void> {
    const rows = addresses.map((a) => ({ address: a.toLowerCase(), reason: reason.slice(0, 500), notification_id: notificationId }));
    const inserted = await this.deps.db(`${SCHEMA}.bounced_addresses`).insert(rows).onConflict('address').ignore().returning('address');
    this.deps.metrics.bounced.inc(inserted.length);
  }
}

/** The API: notifications (the failed ones wait for a person) and bounced addresses. A brand's key sees its own brand's notifications. */
export function notifyApi(db: Knex): StageApi {
  const columns = ['notification_id', 'kind', 'brand', 'account_id', 'event_id', 'status', 'attempts', 'reason', 'recipients', 'message_id', 'resent_after_crash', 'created_at', 'sent_at', 'next_attempt_at'];
  const notification = object(
    {
      notification_id: text,
      kind: text,
      brand: text,
      account_id: text,
      event_id: text,
      status: { type: 'string', enum: ['pending', 'sending', 'sent', 'failed', 'skipped'] },
      attempts: integer,
      reason: nullable(text),
      recipients: nullable(arrayOf(text)),
      message_id: nullable(text),
      resent_after_crash: integer,
      created_at: instant,
      sent_at: nullable(instant),
      next_attempt_at: instant,
    },
    { description: 'A notification: what it is about, where it went (recipients, the Message-ID sent), or why not' },
  );
  const bounce = object({ address: text, reason: text, notification_id: text, bounced_at: instant });
  return {
    title: 'rateline notify',
    description: 'Notifications sent, pending, failed or skipped, by brand, kind and account, and the addresses that bounced.',
    routes: (app) => {
      app.get<{ Querystring: { status?: string; brand?: string; kind?: string; account?: string; limit?: number } }>(
        '/notifications',
        {
          schema: {
            operationId: 'listNotifications',
            summary: 'Notifications, newest first, by status, brand, kind or account',
            tags: ['notifications'],
            querystring: { type: 'object', properties: { status: { enum: ['pending', 'sending', 'sent', 'failed', 'skipped'] }, brand: { type: 'string' }, kind: { type: 'string' }, account: { type: 'string' }, limit: { type: 'integer', minimum: 1, maximum: 1000 } }, additionalProperties: false },
            response: { 200: answer('Notifications', object({ notifications: arrayOf(notification) })), ...problemResponses },
          },
        },
        async (request, reply) => {
          const scope = brandFilter(principalOf(request), request.query.brand);
          if (scope === 'none') return send(reply, { status: 200, body: { notifications: [] } });
          const query = db(`${SCHEMA}.notifications`).select(columns).orderBy('created_at', 'desc').limit(request.query.limit ?? 100);
          if (request.query.status) void query.where('status', request.query.status);
          if (scope.brand) void query.where('brand', scope.brand);
          if (request.query.kind) void query.where('kind', request.query.kind);
          if (request.query.account) void query.where('account_id', request.query.account);
          return send(reply, { status: 200, body: { notifications: await query } });
        },
      );
      app.get<{ Params: { notificationId: string } }>(
        '/notifications/:notificationId',
        { schema: { operationId: 'getNotification', summary: 'One notification: its status, attempts and the reason it failed', tags: ['notifications'], params: { type: 'object', properties: { notificationId: { type: 'string' } }, required: ['notificationId'] }, response: { 200: answer('The notification', notification), ...problemResponses } } },
        async (request, reply) => {
          const row: { brand: string } | undefined = await db(`${SCHEMA}.notifications`).where({ notification_id: request.params.notificationId }).first(columns);
          if (!row || !seesBrand(principalOf(request), row.brand)) throw notFound(`notification ${request.params.notificationId}`, 'notification_not_found');
          return send(reply, { status: 200, body: row });
        },
      );
      // Addresses are not a brand's own: the parent's key reads them.
      app.get(
        '/bounces',
        { schema: { operationId: 'listBounces', summary: "Addresses a server refused for good (5xx), newest first; the parent's key", tags: ['notifications'], response: { 200: answer('Bounced addresses', object({ bounces: arrayOf(bounce) })), 403: problemAnswer("A brand's key: addresses are the parent's to read"), ...problemResponses } } },
        async (request, reply) => {
          if (principalOf(request).kind !== 'parent') throw new HttpError(403, 'parent_key_required', "bounced addresses are read with the parent company's key");
          return send(reply, { status: 200, body: { bounces: await db(`${SCHEMA}.bounced_addresses`).orderBy('bounced_at', 'desc').limit(1000) } });
        },
      );
    },
  };
}
