/**
 * The JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of the catalogue's requests and
 * responses. One definition, two uses: ajv validates requests against these very objects,
 * and openapi.ts puts them in the document's `components.schemas`. References are written
 * as `#/components/schemas/X`, which resolve the same way in both.
 */
type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const nullable = (schema: Schema): Schema => ({ oneOf: [schema, { type: 'null' }] });
const text = (description?: string, extra: Schema = {}): Schema => ({ type: 'string', minLength: 1, ...(description ? { description } : {}), ...extra });
const int = (minimum: number, maximum?: number, description?: string): Schema => ({
  type: 'integer',
  minimum,
  ...(maximum === undefined ? {} : { maximum }),
  ...(description ? { description } : {}),
});
const object = (properties: Record<string, Schema>, required: string[], description?: string): Schema => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
  ...(description ? { description } : {}),
});

/** Statuses a subscription can be in; transitions are per brand (see lifecycle.ts). */
export const SUBSCRIPTION_STATUSES = ['trial', 'active', 'suspended', 'cancelled'] as const;
export const LIFECYCLE_ACTIONS = ['activate', 'suspend', 'cancel', 'reactivate'] as const;
export const DUNNING_ACTIONS = ['reminder', 'suspend', 'cancel', 'write_off'] as const;

export const componentSchemas: Record<string, Schema> = {
  Problem: object({ path: { type: 'string', description: 'Where, e.g. `priceModels[0].tiers[1].unitPrice`; empty for the whole request.' }, message: { type: 'string' } }, ['path', 'message']),
  Error: {
    type: 'object',
    description: 'RFC 9457 problem details (application/problem+json), the same in every service.',
    properties: {
      type: { type: 'string' },
      title: { type: 'string' },
      status: { type: 'integer' },
      error: { type: 'string', description: 'A stable snake_case code, e.g. invalid_request, not_found, forbidden_brand.' },
      detail: { type: 'string' },
      problems: { type: 'array', items: ref('Problem') },
    },
    required: ['type', 'title', 'status', 'error'],
  },
  Money: {
    title: 'Money',
    type: 'string',
    pattern: '^\\d{1,12}(\\.\\d{1,6})?$',
    description: 'a non-negative decimal string with at most 6 decimal places, e.g. "19.99" (never a JSON number)',
    examples: ['19.99'],
  },
  Percent: {
    title: 'Percent',
    type: 'string',
    pattern: '^(100(\\.0{1,6})?|\\d{1,2}(\\.\\d{1,6})?)$',
    description: 'a percentage from 0 to 100 as a decimal string, e.g. "12.5" (never a JSON number)',
  },
  Instant: { type: 'string', format: 'date-time', description: 'ISO 8601 instant with an offset, e.g. 2026-01-15T17:00:00Z.' },
  LocalDate: { type: 'string', format: 'date', description: 'A calendar date, YYYY-MM-DD.' },
  BrandCode: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,39}$', description: '1-40 lowercase letters, digits or dashes (a brand code becomes part of topic names)' },
  Currency: { type: 'string', pattern: '^[A-Z]{3}$', description: 'an ISO 4217 code such as USD' },
  Country: { type: 'string', pattern: '^[A-Z]{2}$', description: 'an ISO 3166-1 alpha-2 code such as US' },
  E164: { type: 'string', pattern: '^\\+[1-9]\\d{7,14}$', description: 'an E.164 number: + then 8 to 15 digits, the first not 0' },
  Id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$', description: 'a natural id: letters, digits, dot, dash, underscore or colon; at most 128' },

  IncludedGrant: object({ bucketId: text(), usageType: text(), seconds: int(0), priority: int(-2147483648, 2147483647) }, ['bucketId', 'usageType', 'seconds', 'priority'], 'Included seconds per period.'),
  PriceTier: object({ upTo: nullable(int(1)), unitPrice: ref('Money'), flatFee: ref('Money') }, ['unitPrice']),
  PriceModel: object(
    { usageType: text(), kind: { enum: ['PER_UNIT', 'GRADUATED', 'VOLUME'] }, unitSeconds: int(1), tiers: { type: 'array', minItems: 1, items: ref('PriceTier') } },
    ['usageType', 'kind', 'unitSeconds', 'tiers'],
  ),
  Increment: object({ seconds: int(1), rounding: { enum: ['up', 'down', 'nearest'] }, tie: nullable({ enum: ['up', 'down', 'even'] }) }, ['seconds', 'rounding']),

  PostalAddress: object(
    { line1: text('Street and number.'), line2: nullable(text()), city: text(), region: nullable(text('State, province or county code.')), postalCode: text(), country: ref('Country') },
    ['line1', 'city', 'postalCode', 'country'],
  ),
  Branding: object(
    {
      displayName: text(),
      legalName: text(),
      logoSvg: nullable({ type: 'string' }),
      primaryColor: { type: 'string', pattern: '^#[0-9A-Fa-f]{6}$' },
      accentColor: { type: 'string', pattern: '^#[0-9A-Fa-f]{6}$' },
      address: ref('PostalAddress'),
      supportEmail: { type: 'string', format: 'email' },
      footer: { type: 'string' },
      locale: { type: 'string', pattern: '^[a-z]{2,3}(-[A-Z]{2})?$', description: 'a BCP 47 locale such as en-US' },
    },
    ['displayName', 'legalName', 'primaryColor', 'accentColor', 'address', 'supportEmail', 'footer', 'locale'],
  ),
  NotificationSettings: object(
    {
      senderName: nullable(text('The From name; null: the branding display name.')),
      senderAddress: nullable({ type: 'string', format: 'email', description: 'The From address; null: the branding support email.' }),
      replyTo: nullable({ type: 'string', format: 'email', description: 'The Reply-To address; null: the branding support email.' }),
      template: nullable(text('The document template id of the mails and PDFs (standard, banner); null: standard.')),
      kinds: {
        type: 'object',
        description: 'Per kind (invoice_issued, payment_received, payment_failed, dunning_reminder, dunning_suspended, dunning_cancelled, usage_threshold, plan_recommendation): on or off and to whom; a kind not listed is on, to all.',
        additionalProperties: object({ enabled: { type: 'boolean' }, recipients: { enum: ['all', 'primary'], description: "all: the customer's email and billing contacts; primary: the email only." } }, []),
      },
      usageThresholdPercents: { type: 'array', items: int(1, 1000), description: "Percents of a bucket's included minutes whose crossing is told, increasing (e.g. [80, 100])." },
      usageOverageAmount: nullable(ref('Money')),
    },
    [],
    "The brand's notification emails (services/notify) and usage alerts (services/usage-alerts).",
  ),
  PlanSwapSettings: object(
    {
      feePolicy: { enum: ['full', 'prorated'], description: "A swapped period's fee difference: full (the new plan's whole fee, the old one's credited) or prorated from the swap's instant." },
      lookBackPeriods: int(1, 24, 'Closed periods a recommendation is based on.'),
      minSavingAmount: nullable(ref('Money')),
      minSavingPercent: nullable(ref('Percent')),
      minConfidencePercent: int(0, 100, 'Recommend only at this confidence or more.'),
      recommendationHour: int(0, 23, 'Brand-local hour of the daily recommendation run.'),
    },
    [],
    'Plan recommendations (services/advisor) and swaps (POST /subscriptions/{id}/plan-swap).',
  ),
  Commission: object({ initialPercent: ref('Percent'), initialPeriods: int(0, 1200), recurringPercent: ref('Percent') }, ['initialPercent', 'initialPeriods', 'recurringPercent'], 'Selling-agent commission.'),
  DunningStep: object({ afterDays: int(0), action: { enum: [...DUNNING_ACTIONS] } }, ['afterDays', 'action']),
  LifecycleTransition: object(
    {
      from: { type: 'array', items: { enum: [...SUBSCRIPTION_STATUSES] }, uniqueItems: true, description: 'Statuses this action may start from; empty disables it.' },
      numbers: { enum: ['keep', 'release'], description: "What happens to the subscription's numbers." },
      billing: { enum: ['continue', 'pause', 'stop', 'resume'], description: 'What the bill-run does: pause skips fees while suspended, stop bills a final period.' },
    },
    [],
  ),
  LifecycleConfig: {
    type: 'object',
    description: 'Per action, overrides of the default lifecycle (see the README).',
    properties: Object.fromEntries(LIFECYCLE_ACTIONS.map((a) => [a, ref('LifecycleTransition')])),
    additionalProperties: false,
  },

  BrandInput: object(
    {
      code: ref('BrandCode'),
      name: text(),
      country: ref('Country'),
      currency: ref('Currency'),
      timeZone: text('IANA time zone.'),
      billingHour: int(0, 23, 'Local hour of the daily bill run.'),
      taxRegime: text('us_sales_tax, ca_gst_hst_pst_qst, uk_vat, ...'),
      gateway: text('Payment gateway plugin id, e.g. stripe.'),
      roundingMode: { enum: ['half_up', 'half_even', 'down', 'up'] },
      usageProducts: { type: 'object', additionalProperties: text(), description: "Usage type to the brand's product id." },
      paymentTermsDays: int(0, 365),
      cancellationCredit: { enum: ['prorated', 'none'] },
      creditAtCancellation: { enum: ['pay_out', 'refund'], description: 'Credit left once an account has no active subscription: kept owed until ops pay it out, or refunded through the gateway to its latest card charges.' },
      collectionRetryDays: { type: 'array', items: int(0, 3650), description: 'Days after the due date on which a failed collection is retried, increasing.' },
      dunningSteps: { type: 'array', items: ref('DunningStep') },
      branding: nullable(ref('Branding')),
      commission: nullable(ref('Commission')),
      notifications: nullable(ref('NotificationSettings')),
      planSwap: nullable(ref('PlanSwapSettings')),
      lifecycle: ref('LifecycleConfig'),
    },
    ['name', 'country', 'currency', 'timeZone', 'billingHour', 'taxRegime', 'gateway', 'roundingMode'],
  ),
  PlanInput: object(
    {
      planId: ref('Id'),
      version: { ...int(1), description: 'Only for imports: the exact version to create; omitted, a change makes the next version.' },
      owner: text('A brand code, or the parent company for the shared catalogue.'),
      name: text(),
      currency: ref('Currency'),
      monthlyFee: ref('Money'),
      trialDays: int(0, 366),
      grants: { type: 'array', items: ref('IncludedGrant') },
      priceModels: { type: 'array', items: ref('PriceModel') },
      numberAllotment: int(0, 100000),
      commitmentDiscount: nullable(object({ months: int(1, 120), percent: ref('Percent') }, ['months', 'percent'])),
    },
    ['owner', 'name', 'currency', 'monthlyFee', 'grants', 'priceModels'],
  ),
  CustomerInput: object(
    {
      accountId: ref('Id'),
      brand: ref('BrandCode'),
      externalId: nullable(text('The id in the system the customer was imported from.')),
      name: text(),
      email: { type: 'string', format: 'email', description: 'Billing contact.' },
      postalAddress: nullable(ref('PostalAddress')),
      country: ref('Country'),
      region: nullable(text('State or province code, e.g. ON, QC, TX.')),
      taxIds: { type: 'array', items: object({ type: text(), value: text() }, ['type', 'value']) },
      exemptions: {
        type: 'array',
        items: object(
          { taxCode: text(), certificateId: text(), effectiveFrom: ref('LocalDate'), effectiveTo: nullable(ref('LocalDate')), reason: text() },
          ['taxCode', 'certificateId', 'effectiveFrom', 'reason'],
        ),
      },
      agentId: nullable(text('The selling agent.')),
      defaultPaymentMethod: nullable(object({ gateway: text(), customerRef: text(), methodRef: text(), label: text() }, ['gateway', 'customerRef', 'methodRef', 'label'])),
      billingContacts: { type: 'array', items: { type: 'string', format: 'email' }, description: "Further addresses that receive the account's invoices, receipts and notices." },
    },
    ['brand', 'name', 'email', 'country'],
  ),
  SubscriptionInput: object(
    {
      subscriptionId: ref('Id'),
      accountId: ref('Id'),
      brand: ref('BrandCode'),
      planId: ref('Id'),
      planVersion: { ...int(1), description: 'Defaults to the latest version.' },
      anchor: ref('Instant'),
      status: { enum: ['trial', 'active'], description: 'Initial status; defaults to trial when the plan has trial days.' },
      addOnGrants: { type: 'array', items: ref('IncludedGrant') },
      commitmentMonths: { ...int(1, 120), description: "A commitment from the anchor, for the plan's commitment discount." },
    },
    ['accountId', 'planId', 'anchor'],
  ),
  TransitionRequest: object(
    { action: { enum: [...LIFECYCLE_ACTIONS] }, reason: text('Why, e.g. customer_request.'), effectiveAt: ref('Instant') },
    ['action', 'reason'],
  ),
  PlanChangeRequest: object({ planId: ref('Id'), planVersion: int(1), at: ref('Instant') }, ['planId']),
  PlanSwapRequest: object(
    {
      planId: ref('Id'),
      planVersion: { ...int(1), description: 'Omitted: the latest version.' },
      periodStart: { ...ref('Instant'), description: "The period the customer was shown (a recommendation's): refused with swap_after_cutoff once its bill run is near or past." },
      recommendationId: text('The recommendation accepted, if any (recorded on the swap event).'),
    },
    ['planId'],
  ),
  PlanSwapResult: { type: 'object', description: 'The subscription after the swap, and the swap (period, fee policy, change instant, when the closing bill run is due); swap is null when the subscription was already on the plan.' },
  NumberStockRequest: object({ brand: ref('BrandCode') }, ['brand']),
  NumberAssignRequest: object({ subscriptionId: ref('Id'), effectiveFrom: ref('Instant') }, ['subscriptionId']),
  NumberReleaseRequest: object({ effectiveAt: ref('Instant') }, []),
  RatingRuleInput: object(
    {
      ruleId: ref('Id'),
      version: { ...int(1), description: 'Only for imports; omitted, a change makes the next version.' },
      companyId: text('A brand code, or the parent company for the default.'),
      usageType: text(),
      effectiveFrom: ref('Instant'),
      effectiveTo: nullable(ref('Instant')),
      freeSeconds: int(0),
      freeMode: { enum: ['grace', 'deduct'] },
      minimumSeconds: int(0),
      initialIncrement: ref('Increment'),
      mainIncrement: ref('Increment'),
      unit: { enum: ['second', 'minute'] },
    },
    ['companyId', 'usageType', 'effectiveFrom', 'freeSeconds', 'freeMode', 'minimumSeconds', 'initialIncrement', 'mainIncrement'],
  ),
  ApiKeyRequest: object({ brand: nullable(ref('BrandCode')), label: text(), expiresAt: nullable(ref('Instant')) }, ['label'], 'brand null makes a parent key; expiresAt null: never expires.'),

  // Responses: the stored representation (the input plus what the catalogue adds).
  Brand: { type: 'object', description: 'A brand: the BrandInput fields with parentCompany, revision and updatedAt.' },
  Plan: { type: 'object', description: 'A plan version.' },
  Customer: { type: 'object', description: 'A customer account.' },
  Subscription: { type: 'object', description: 'A subscription with status, trialEndsAt, cancelledAt, commitment, planChanges and numbers.' },
  Number: { type: 'object', description: 'A number: brand, state (stock or assigned), and its assignment history.' },
  RatingRule: { type: 'object', description: 'A rating rule version.' },
  ApiKeyCreated: object({ keyId: { type: 'string' }, key: { type: 'string', description: 'Shown once; only its sha-256 is kept.' }, brand: nullable({ type: 'string' }), label: { type: 'string' }, expiresAt: nullable({ type: 'string' }) }, ['keyId', 'key', 'brand', 'label', 'expiresAt']),
  ApiKeyRevoked: object({ keyId: { type: 'string' }, brand: nullable({ type: 'string' }), label: { type: 'string' }, revokedAt: { type: 'string' } }, ['keyId', 'brand', 'label', 'revokedAt']),
};
