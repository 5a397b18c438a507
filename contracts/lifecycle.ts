/** `account.lifecycle` (schemas/account.lifecycle.avsc) as avsc reads and writes it. */
export interface LifecycleRecord {
  eventId: string;
  brand: string;
  accountId: string;
  subscriptionId: string | null;
  action: string;
  reason: string;
  invoiceId: string | null;
  effectiveAt: number;
}
