/**
 * What the notification service decides, as pure functions: which events become which
 * notifications (and their deterministic ids), who receives them, from whom, and what an
 * SMTP failure means. No I/O: services/notify does the sending.
 */

/** Every kind a brand can turn on or off. `plan_recommendation` has no source event yet. */
export const NOTIFICATION_KINDS = [
  'invoice_issued',
  'payment_received',
  'payment_failed',
  'dunning_reminder',
  'dunning_suspended',
  'dunning_cancelled',
  'usage_threshold',
  'plan_recommendation',
] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/** A notification an event asks for: its id is the event id and the kind, so a redelivered event finds it already recorded. */
export interface NotificationIntent {
  readonly notificationId: string;
  readonly kind: NotificationKind;
  readonly eventId: string;
  readonly brand: string;
  readonly accountId: string;
}

export const notificationId = (eventId: string, kind: NotificationKind): string => `${eventId}:${kind}`;

const intent = (eventId: string, kind: NotificationKind, brand: string, accountId: string): NotificationIntent => ({
  notificationId: notificationId(eventId, kind),
  kind,
  eventId,
  brand,
  accountId,
});

/** An invoice event: one invoice_issued (its id is the invoice id: bill-run publishes each invoice once, under that id). */
export function invoiceNotifications(e: { invoiceId: string; brand: string; accountId: string }): NotificationIntent[] {
  return [intent(e.invoiceId, 'invoice_issued', e.brand, e.accountId)];
}

/** A payment event: a receipt for money received, what to do for a failed charge; nothing for pending, refunds or credit notes. */
export function paymentNotifications(e: { paymentId: string; status: string; kind?: string | null; eventId: string | null; brand: string; accountId: string }): NotificationIntent[] {
  const kind = e.kind ?? 'charge';
  const eventId = e.eventId ?? `${e.paymentId}:${e.status}`;
  if (e.status === 'SUCCEEDED' && (kind === 'charge' || kind === 'manual')) return [intent(eventId, 'payment_received', e.brand, e.accountId)];
  if (e.status === 'FAILED' && kind === 'charge') return [intent(eventId, 'payment_failed', e.brand, e.accountId)];
  return [];
}

const DUNNING_KIND: Record<string, NotificationKind> = {
  reminder_sent: 'dunning_reminder',
  suspended: 'dunning_suspended',
  cancelled: 'dunning_cancelled',
};

/**
 * An account.lifecycle event: the dunning steps (those caused by an overdue invoice) that the
 * customer is told of. A suspension at the customer's request, a write-off (internal) or an
 * activation sends nothing.
 */
export function lifecycleNotifications(e: { eventId: string; brand: string; accountId: string; action: string; invoiceId: string | null }): NotificationIntent[] {
  const kind = DUNNING_KIND[e.action];
  if (!kind || e.invoiceId === null) return [];
  return [intent(e.eventId, kind, e.brand, e.accountId)];
}

/** A usage alert (brand.<code>.usage-alerts): one usage_threshold notification. */
export function usageAlertNotifications(e: { eventId: string; brand: string; accountId: string }): NotificationIntent[] {
  return [intent(e.eventId, 'usage_threshold', e.brand, e.accountId)];
}

/** The brand's settings as notify reads them (domain/reference NotificationSettings). */
export interface BrandNotificationSettings {
  readonly senderName: string | null;
  readonly senderAddress: string | null;
  readonly replyTo: string | null;
  readonly kinds: Readonly<Record<string, { readonly enabled: boolean; readonly recipients: string }>>;
}

export function kindEnabled(settings: BrandNotificationSettings | null | undefined, kind: NotificationKind): boolean {
  return settings?.kinds[kind]?.enabled ?? true;
}

/**
 * Who receives a notification: the customer's email, and with `all` (the default) every billing
 * contact; each address once (case-insensitive), in that order, less the hard-bounced ones.
 */
export function recipientsFor(
  settings: BrandNotificationSettings | null | undefined,
  kind: NotificationKind,
  customer: { email: string; billingContacts?: readonly string[] | undefined },
  bounced: ReadonlySet<string>,
): { to: string[]; bounced: string[] } {
  const all = (settings?.kinds[kind]?.recipients ?? 'all') === 'all';
  const seen = new Set<string>();
  const to: string[] = [];
  const skipped: string[] = [];
  for (const address of [customer.email, ...(all ? (customer.billingContacts ?? []) : [])]) {
    const key = address.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    (bounced.has(key) ? skipped : to).push(address);
  }
  return { to, bounced: skipped };
}

/** From and Reply-To: the brand's notification settings, else its branding (display name, support address). */
export function senderFor(
  settings: BrandNotificationSettings | null | undefined,
  branding: { displayName: string; supportEmail: string },
): { from: { name: string; address: string }; replyTo: { name: string; address: string } } {
  const name = settings?.senderName ?? branding.displayName;
  return {
    from: { name, address: settings?.senderAddress ?? branding.supportEmail },
    replyTo: { name: branding.displayName, address: settings?.replyTo ?? branding.supportEmail },
  };
}

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/** Delay before attempt `attempt + 1` after `attempt` failed (1-based): doubling from the initial, capped; null when no attempt is left. */
export function nextAttemptDelay(policy: RetryPolicy, attempt: number): number | null {
  if (attempt >= policy.maxAttempts) return null;
  return Math.min(policy.initialDelayMs * 2 ** (attempt - 1), policy.maxDelayMs);
}

/** What an SMTP failure means for the notification. */
export type SmtpFailure =
  | { readonly kind: 'hard_bounce'; readonly addresses: readonly string[]; readonly reason: string }
  | { readonly kind: 'transient'; readonly reason: string };

/**
 * The failure as nodemailer reports it: `responseCode` of the refusing reply, `rejected` (the
 * refused recipients) and `rejectedErrors` for an envelope refusal, `code` for a connection
 * failure. A 5xx refusal of recipients is a hard bounce of those addresses; everything else
 * (4xx, connection refused, timeouts, a 5xx of the whole message) may pass and is retried.
 */
export function classifySmtpFailure(error: { message?: string; code?: string; responseCode?: number; response?: string; rejected?: readonly string[]; rejectedErrors?: readonly { responseCode?: number; recipient?: string; response?: string }[] }): SmtpFailure {
  // The server's reply when there is one (it names the code and the cause), else the client's error.
  const reason = oneLine(error.response ?? (error.code ? `${error.code}: ${error.message ?? ''}` : (error.message ?? 'unknown SMTP failure')));
  const refused = error.rejectedErrors ?? [];
  const hard = refused.filter((r) => (r.responseCode ?? 0) >= 500 && r.recipient).map((r) => r.recipient!);
  if (hard.length > 0) return { kind: 'hard_bounce', addresses: hard, reason: oneLine(refused.find((r) => r.responseCode! >= 500)?.response ?? reason) };
  if (refused.length === 0 && error.code === 'EENVELOPE' && (error.responseCode ?? 0) >= 500 && (error.rejected?.length ?? 0) > 0) {
    return { kind: 'hard_bounce', addresses: [...error.rejected!], reason };
  }
  return { kind: 'transient', reason };
}

const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim().slice(0, 500);
