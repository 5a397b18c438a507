/**
 * Reference data as it travels on the compacted `ref.*` topics: field names and shapes are
 * those of the Avro schemas in `schemas/ref.*.avsc`, so a service adapter hands a decoded
 * record to `ReferenceTables.apply` as it is.
 *
 * Instants are epoch milliseconds (Avro `timestamp-millis`). Decimals are a `Decimal` when
 * decoded from Avro and a decimal string when read from a reference file: both are taken.
 */
import type { Decimal } from 'decimal.js';

/** An exact decimal: decimal.js from Avro, a string such as "0.95" from a file. Never a JS number. */
export type DecimalValue = Decimal | string;

/** `ref.brands`, keyed by `code`. */
export interface Brand {
  readonly code: string;
  readonly parentCompany: string;
  readonly name: string;
  /** ISO 3166-1 alpha-2. */
  readonly country: string;
  /** ISO 4217; every plan a brand's customers subscribe to is in this currency. */
  readonly currency: string;
  /** IANA zone of billing days and anniversaries. */
  readonly timeZone: string;
  /** Local hour (0-23) of the daily bill run. */
  readonly billingHour: number;
  readonly taxRegime: string;
  /** Payment gateway plugin id. */
  readonly gateway: string;
  /** half_up, half_even, down, up (domain/money). */
  readonly roundingMode: string;
  /** Usage type → the brand's product id for it. */
  readonly usageProducts: Readonly<Record<string, string>>;
  /** Days from issue to due date, brand-local calendar days. */
  readonly paymentTermsDays: number;
  /** prorated or none: what a cancellation within a period gives back of the fee paid. */
  readonly cancellationCredit: string;
  /** pay_out or refund (domain/credit CreditAtCancellation): credit left once an account has no active subscription. */
  readonly creditAtCancellation: string;
  /** Days after the due date on which a failed collection is retried. */
  readonly collectionRetryDays: readonly number[];
  /** Ordered by afterDays. */
  readonly dunningSteps: readonly DunningStep[];
  readonly branding: Branding | null;
  readonly commission: CommissionRule | null;
  /** The brand's notification emails (services/notify); absent or null: every kind on, default sender. */
  readonly notifications?: NotificationSettings | null;
  /** Plan recommendations and swaps (domain/planswap); absent or null: the defaults. */
  readonly planSwap?: PlanSwapSettings | null;
}

/** How a brand recommends plans and settles a swap's fee difference. */
export interface PlanSwapSettings {
  /** full or prorated. */
  readonly feePolicy: string;
  readonly lookBackPeriods: number;
  readonly minSavingAmount: DecimalValue | null;
  readonly minSavingPercent: DecimalValue | null;
  /** 0-100. */
  readonly minConfidencePercent: number;
  /** Brand-local hour of the daily recommendation run. */
  readonly recommendationHour: number;
}

/** One kind of notification: on or off, and to whom (`all`: email and billing contacts; `primary`: email only). */
export interface NotificationKindSetting {
  readonly enabled: boolean;
  readonly recipients: string;
}

/** How a brand's customers are told of invoices, payments, dunning steps and usage. */
export interface NotificationSettings {
  readonly senderName: string | null;
  readonly senderAddress: string | null;
  readonly replyTo: string | null;
  /** The document renderer id of the mails and PDFs; null: standard. */
  readonly template: string | null;
  /** By kind; a kind not listed is on, to all. */
  readonly kinds: Readonly<Record<string, NotificationKindSetting>>;
  /** Percents of a bucket's included units whose crossing emits a usage alert, increasing. */
  readonly usageThresholdPercents: readonly number[];
  /** An overage amount in a period whose crossing emits a usage alert; null: none. */
  readonly usageOverageAmount: DecimalValue | null;
}

/** An action when an invoice is `afterDays` brand-local days overdue. */
export interface DunningStep {
  readonly afterDays: number;
  /** reminder, suspend, cancel, write_off. */
  readonly action: string;
}

export interface PostalAddress {
  readonly line1: string;
  readonly line2: string | null;
  readonly city: string;
  /** State, province or county code; null where not used. */
  readonly region: string | null;
  readonly postalCode: string;
  /** ISO 3166-1 alpha-2. */
  readonly country: string;
}

/** How a brand's documents and emails look. */
export interface Branding {
  readonly displayName: string;
  readonly legalName: string;
  readonly logoSvg: string | null;
  readonly primaryColor: string;
  readonly accentColor: string;
  readonly address: PostalAddress;
  readonly supportEmail: string;
  readonly footer: string;
  /** BCP 47, e.g. en-US, en-GB, fr-CA. */
  readonly locale: string;
}

/** Agent commission on fee revenue: initialPercent for the first initialPeriods periods, then recurringPercent. */
export interface CommissionRule {
  readonly initialPercent: DecimalValue;
  readonly initialPeriods: number;
  readonly recurringPercent: DecimalValue;
}

/** A tax registration of a customer (domain/tax TaxId). */
export interface CustomerTaxId {
  readonly type: string;
  readonly value: string;
}

/** An exemption certificate (domain/tax TaxExemption): local dates YYYY-MM-DD, `effectiveTo` exclusive. */
export interface CustomerExemption {
  readonly taxCode: string;
  readonly certificateId: string;
  readonly effectiveFrom: string;
  readonly effectiveTo: string | null;
  readonly reason: string;
}

/** A stored payment method: the gateway's tokens, never card data. */
export interface PaymentMethodRef {
  readonly gateway: string;
  readonly customerRef: string;
  readonly methodRef: string;
  /** e.g. "Visa ending 4242". */
  readonly label: string;
}

/** `ref.customers`, keyed by `accountId`. */
export interface Customer {
  readonly accountId: string;
  readonly brand: string;
  readonly externalId: string | null;
  readonly name: string;
  readonly email: string;
  /** Printed on invoices; null when not given (country and region still say where tax applies). */
  readonly postalAddress: PostalAddress | null;
  /** ISO 3166-1 alpha-2 of the billing address: where the customer is taxed. */
  readonly country: string;
  /** State or province (NY, ON, QC); null where the regime needs none. */
  readonly region: string | null;
  readonly taxIds: readonly CustomerTaxId[];
  readonly exemptions: readonly CustomerExemption[];
  readonly agentId: string | null;
  readonly defaultPaymentMethod: PaymentMethodRef | null;
  /** Further addresses that receive the account's invoices, receipts and notices (absent: none). */
  readonly billingContacts?: readonly string[];
}

/** One interval of ownership of a number: [effectiveFrom, effectiveTo). */
export interface NumberAssignment {
  readonly assignmentId: string;
  readonly brand: string;
  readonly accountId: string;
  readonly subscriptionId: string;
  /** Inclusive, epoch ms. */
  readonly effectiveFrom: number;
  /** Exclusive, epoch ms; null while assigned. */
  readonly effectiveTo: number | null;
}

/** `ref.numbers`, keyed by `number`: the whole history, so compaction keeps it whole. */
export interface NumberHistory {
  /** E.164. */
  readonly number: string;
  readonly assignments: readonly NumberAssignment[];
}

/** Included seconds per period, of a plan or an add-on (Avro `IncludedGrant`). */
export interface IncludedGrant {
  readonly bucketId: string;
  readonly usageType: string;
  readonly seconds: number;
  /** Lower draws first. */
  readonly priority: number;
}

export interface PriceTierRecord {
  /** Inclusive upper bound in price units; null on the last tier. */
  readonly upTo: number | null;
  readonly unitPrice: DecimalValue;
  /** Charged when usage enters the tier; zero for none. */
  readonly flatFee: DecimalValue;
}

export type PriceModelKind = 'PER_UNIT' | 'GRADUATED' | 'VOLUME';

export interface PriceModelRecord {
  readonly usageType: string;
  readonly kind: PriceModelKind;
  /** Seconds per price unit: 60 for per-minute prices. */
  readonly unitSeconds: number;
  /** PER_UNIT has exactly one tier, with upTo null. */
  readonly tiers: readonly PriceTierRecord[];
}

/** `ref.plans`, keyed by `planId:version`. */
export interface Plan {
  readonly planId: string;
  readonly version: number;
  /** A brand code, or the parent company for the shared catalogue. */
  readonly owner: string;
  readonly name: string;
  readonly currency: string;
  readonly monthlyFee: DecimalValue;
  readonly trialDays: number;
  readonly grants: readonly IncludedGrant[];
  readonly priceModels: readonly PriceModelRecord[];
  readonly numberAllotment: number;
  readonly commitmentDiscount: PlanCommitmentDiscount | null;
}

/** Percent off the monthly fee for a commitment of `months`. */
export interface PlanCommitmentDiscount {
  readonly months: number;
  readonly percent: DecimalValue;
}

export type SubscriptionStatus = 'trial' | 'active' | 'suspended' | 'cancelled';

/** `ref.subscriptions`, keyed by `subscriptionId`. */
export interface Subscription {
  readonly subscriptionId: string;
  readonly brand: string;
  readonly accountId: string;
  readonly planId: string;
  readonly planVersion: number;
  /** Extra buckets from add-on bundles; bucket ids distinct from the plan's. */
  readonly addOnGrants: readonly IncludedGrant[];
  /** Epoch ms; its local date in the brand's zone sets the monthly anniversary. */
  readonly anchor: number;
  /** trial, active, suspended, cancelled (a string on the wire). */
  readonly status: string;
  readonly trialEndsAt: number | null;
  readonly cancelledAt: number | null;
  /** The commitment signed (earns the plan's commitment discount), or null. */
  readonly commitment: SubscriptionCommitment | null;
  /** Oldest first; the last change's plan is planId/planVersion. */
  readonly planChanges: readonly SubscriptionPlanChange[];
  /** Epoch ms since when fees are paused (a suspension that pauses billing); null when billed normally. */
  readonly billingPausedAt: number | null;
}

/** Epoch ms; [startsAt, endsAt). */
export interface SubscriptionCommitment {
  readonly months: number;
  readonly startsAt: number;
  readonly endsAt: number;
}

export interface SubscriptionPlanChange {
  /** Epoch ms. */
  readonly at: number;
  readonly fromPlanId: string;
  readonly fromPlanVersion: number;
  readonly toPlanId: string;
  readonly toPlanVersion: number;
}

/** Avro `Increment`: the rounding is a string and the tie a separate field. */
export interface IncrementRecord {
  readonly seconds: number;
  /** up, down or nearest. */
  readonly rounding: string;
  /** For nearest only: up, down or even. */
  readonly tie: string | null;
}

/** `ref.rating-rules`, keyed by `ruleId:version`. domain/rating's RatingRule in wire form. */
export interface RatingRuleRecord {
  readonly ruleId: string;
  readonly version: number;
  readonly companyId: string;
  readonly usageType: string;
  /** Inclusive, epoch ms, by the call's start. */
  readonly effectiveFrom: number;
  /** Exclusive, epoch ms; null for open-ended. */
  readonly effectiveTo: number | null;
  readonly freeSeconds: number;
  /** grace or deduct. */
  readonly freeMode: string;
  readonly minimumSeconds: number;
  readonly initialIncrement: IncrementRecord;
  readonly mainIncrement: IncrementRecord;
  /** second or minute. */
  readonly unit: string;
}

/** The five compacted reference topics, by the kind of record they hold. */
export type ReferenceKind = 'brand' | 'number' | 'plan' | 'subscription' | 'ratingRule' | 'customer';

export interface ReferenceRecords {
  brand: Brand;
  number: NumberHistory;
  plan: Plan;
  subscription: Subscription;
  ratingRule: RatingRuleRecord;
  customer: Customer;
}

/** A whole reference set in record form: what a parsed file or a snapshot of the tables holds. */
export interface ReferenceData {
  readonly parentCompany: string;
  readonly brands: readonly Brand[];
  readonly numbers: readonly NumberHistory[];
  readonly plans: readonly Plan[];
  readonly subscriptions: readonly Subscription[];
  readonly ratingRules: readonly RatingRuleRecord[];
  readonly customers: readonly Customer[];
}

/** One problem in reference data: where (a dotted/indexed path) and what. */
export interface ReferenceIssue {
  /** e.g. `numbers[3].assignments[1].effectiveFrom`; '' for the whole input. */
  readonly path: string;
  readonly message: string;
}

export type Result<T, E> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

// ---------------------------------------------------------------------------------------
// The reference file: the same records with instants as ISO 8601 strings (with an offset)
// and decimals as strings. Fields with an Avro default may be left out.
// ---------------------------------------------------------------------------------------

/** Notification settings in the file: every field may be left out (its Avro default). */
export type NotificationSettingsEntry = Partial<Omit<NotificationSettings, 'usageOverageAmount' | 'kinds'>> & {
  readonly kinds?: Readonly<Record<string, Partial<NotificationKindSetting>>>;
  readonly usageOverageAmount?: string | null;
};

export interface BrandEntry extends Omit<Brand, 'usageProducts' | 'paymentTermsDays' | 'cancellationCredit' | 'creditAtCancellation' | 'collectionRetryDays' | 'dunningSteps' | 'branding' | 'commission' | 'notifications' | 'planSwap'> {
  readonly planSwap?: (Partial<Omit<PlanSwapSettings, 'minSavingAmount' | 'minSavingPercent'>> & { readonly minSavingAmount?: string | null; readonly minSavingPercent?: string | null }) | null;
  readonly usageProducts?: Readonly<Record<string, string>>;
  readonly paymentTermsDays?: number;
  readonly cancellationCredit?: string;
  readonly creditAtCancellation?: string;
  readonly collectionRetryDays?: readonly number[];
  readonly dunningSteps?: readonly DunningStep[];
  readonly branding?: Branding | null;
  readonly commission?: { readonly initialPercent: string; readonly initialPeriods: number; readonly recurringPercent: string } | null;
  readonly notifications?: NotificationSettingsEntry | null;
}

export interface NumberAssignmentEntry extends Omit<NumberAssignment, 'effectiveFrom' | 'effectiveTo'> {
  readonly effectiveFrom: string;
  readonly effectiveTo?: string | null;
}

export interface NumberEntry {
  readonly number: string;
  readonly assignments: readonly NumberAssignmentEntry[];
}

export interface PriceTierEntry {
  readonly upTo?: number | null;
  readonly unitPrice: string;
  readonly flatFee?: string;
}

export interface PriceModelEntry extends Omit<PriceModelRecord, 'tiers'> {
  readonly tiers: readonly PriceTierEntry[];
}

export interface PlanEntry extends Omit<Plan, 'monthlyFee' | 'trialDays' | 'priceModels' | 'numberAllotment' | 'commitmentDiscount'> {
  readonly monthlyFee: string;
  readonly commitmentDiscount?: { readonly months: number; readonly percent: string } | null;
  readonly trialDays?: number;
  readonly priceModels: readonly PriceModelEntry[];
  readonly numberAllotment?: number;
}

export interface SubscriptionEntry
  extends Omit<Subscription, 'addOnGrants' | 'anchor' | 'trialEndsAt' | 'cancelledAt' | 'commitment' | 'planChanges' | 'billingPausedAt'> {
  readonly billingPausedAt?: string | null;
  readonly addOnGrants?: readonly IncludedGrant[];
  readonly commitment?: { readonly months: number; readonly startsAt: string; readonly endsAt: string } | null;
  readonly planChanges?: readonly (Omit<SubscriptionPlanChange, 'at'> & { readonly at: string })[];
  readonly anchor: string;
  readonly trialEndsAt?: string | null;
  readonly cancelledAt?: string | null;
}

/**
 * An increment in the file: the wire form `{seconds, rounding: 'nearest', tie: 'even'}` or
 * domain/rating's form `{seconds, rounding: {mode: 'nearest', tie: 'even'}}`.
 */
export interface IncrementEntry {
  readonly seconds: number;
  readonly rounding: string | { readonly mode: string; readonly tie?: string };
  readonly tie?: string | null;
}

export interface RatingRuleEntry
  extends Omit<RatingRuleRecord, 'effectiveFrom' | 'effectiveTo' | 'initialIncrement' | 'mainIncrement' | 'unit'> {
  readonly effectiveFrom: string;
  readonly effectiveTo?: string | null;
  readonly initialIncrement: IncrementEntry;
  readonly mainIncrement: IncrementEntry;
  readonly unit?: string;
}

export interface CustomerEntry
  extends Omit<Customer, 'externalId' | 'postalAddress' | 'region' | 'taxIds' | 'exemptions' | 'agentId' | 'defaultPaymentMethod'> {
  readonly externalId?: string | null;
  readonly postalAddress?: PostalAddress | null;
  readonly region?: string | null;
  readonly taxIds?: readonly CustomerTaxId[];
  readonly exemptions?: readonly (Omit<CustomerExemption, 'effectiveTo'> & { readonly effectiveTo?: string | null })[];
  readonly agentId?: string | null;
  readonly defaultPaymentMethod?: PaymentMethodRef | null;
  readonly billingContacts?: readonly string[];
}

/** The JSON reference file ops edit and tests load. */
export interface ReferenceFile {
  readonly parentCompany: string;
  readonly brands: readonly BrandEntry[];
  readonly numbers: readonly NumberEntry[];
  readonly plans: readonly PlanEntry[];
  readonly subscriptions: readonly SubscriptionEntry[];
  readonly ratingRules: readonly RatingRuleEntry[];
  /** Optional: mediation needs none; billing needs one per account it invoices. */
  readonly customers?: readonly CustomerEntry[];
}
