import { chargedCall, publishUsage as publishUsageRecords } from './support/usage.ts';
import { publishTestKeys, withKey, type TestKey } from './support/api-keys.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import knex from 'knex';
import { ControllableClock } from '../domain/billrun/index.ts';
import { parseReferenceFile, type ReferenceData } from '../domain/reference/index.ts';
import type { UsageCharged } from '../domain/mediation/index.ts';
import { publishReference } from '../contracts/reference.ts';
import { BatchProducer } from '../runtime/kafka.ts';
import { createLogger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { startBillRun, type RunningBillRun } from '../services/billrun/index.ts';
import { startCollect, type RunningCollect } from '../services/collect/index.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { fakeGatewayEnv, type BrandSpec } from './support/collect-fixtures.ts';
import { startFakeGateway, type FakeGateway } from './support/fake-gateway/index.ts';

/**
 * One customer's credit balance walked through four months on the real stack, bill-run and
 * collect in this process on one simulated clock, Stripe through its SDK against the local
 * gateway. Every figure below is worked by hand in the comments; the ledger must hold exactly
 * these entries and its balance must be their sum at every step.
 */
const run = uniqueSuffix();
const brand = `t${run}-cr`;
const account = `${brand}-acct`;
const subscription = `${brand}-sub`;
const spec: BrandSpec = { code: brand, gateway: 'stripe', currency: 'USD', timeZone: 'America/New_York', country: 'US', retryDays: [2], steps: [] };
const clock = new ControllableClock(Date.UTC(2026, 1, 1));
const config = testConfig('credit-balances');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const logger = createLogger({ service: 'credit-balances' }, 'warn', () => undefined);
const db = knex({ client: 'pg', connection: config.postgres.url, pool: { min: 0, max: 2 } });
let fake: FakeGateway;
let billrun: RunningBillRun;
let collect: RunningCollect;

// Anchored 10 January 10:00 in New York: anniversaries on the 10th. Fee 30.00 a month, usage 0.10 a minute, no tax.
const JAN10 = Date.UTC(2026, 0, 10, 5);
const FEB10 = Date.UTC(2026, 1, 10, 5);
const MAR10 = Date.UTC(2026, 2, 10, 5);

// The second brand refunds credit left at cancellation through the gateway (creditAtCancellation: refund).
const brand2 = `t${run}-rf`;
const account2 = `${brand2}-acct`;
const subscription2 = `${brand2}-sub`;
const spec2: BrandSpec = { ...spec, code: brand2 };

function reference(code = brand, options: { policy?: string; cancelledAt?: string } = {}): ReferenceData {
  const parsed = parseReferenceFile({
    parentCompany: 'ansr-group',
    brands: [{
      code, parentCompany: 'ansr-group', name: 'Credit Test', country: 'US', currency: 'USD', timeZone: 'America/New_York', billingHour: 2,
      taxRegime: 'none', gateway: 'stripe', roundingMode: 'half_up', usageProducts: { LCA: `${code}-lca` }, paymentTermsDays: 0, collectionRetryDays: [2],
      commission: { initialPercent: '20', initialPeriods: 12, recurringPercent: '5' }, cancellationCredit: 'none', creditAtCancellation: options.policy ?? 'pay_out',
    }],
    plans: [{ planId: `${code}-plan`, version: 1, owner: code, name: 'Answering', currency: 'USD', monthlyFee: '30.00', grants: [],
      priceModels: [{ usageType: 'LCA', kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice: '0.10' }] }] }],
    subscriptions: [{
      subscriptionId: `${code}-sub`, brand: code, accountId: `${code}-acct`, planId: `${code}-plan`, planVersion: 1, anchor: '2026-01-10T15:00:00Z',
      ...(options.cancelledAt ? { status: 'cancelled', cancelledAt: options.cancelledAt } : { status: 'active' }),
    }],
    customers: [{ accountId: `${code}-acct`, brand: code, name: 'Harbor Dental', email: 'ap@harbor.example', country: 'US', region: 'NY', agentId: `${code}-agent`,
      postalAddress: { line1: '1 River Rd', city: 'Albany', region: 'NY', postalCode: '12207', country: 'US' },
      defaultPaymentMethod: { gateway: 'stripe', customerRef: `cus_${code}`, methodRef: `pm_${code}`, label: 'Visa ending 4242' } }],
    numbers: [],
    ratingRules: [],
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
  return parsed.value;
}

const usage = (id: string, seconds: number, periodStart: number, periodEnd: number, code = brand): UsageCharged =>
  chargedCall({ brand: code, accountId: `${code}-acct`, subscriptionId: `${code}-sub`, planId: `${code}-plan`, id, seconds, periodStart, periodEnd, source: 'credit-test' });

const publishUsage = (charged: UsageCharged[], rerated: Record<string, unknown>[] = []) => publishUsageRecords(kafka, serde, charged, rerated);

interface Statement {
  balances: { currency: string; balance: string }[];
  entries: { source: string; amount: string; invoiceId: string | null; reference: string | null }[];
}
const statement = async (of = account): Promise<Statement> => (await fetch(`${billrun.apiUrl}/credit-balances/${of}`, { headers: withKey(parentKey) })).json() as Promise<Statement>;
const balance = async (of = account) => (await statement(of)).balances.find((b) => b.currency === 'USD')?.balance;
const untilBalance = (expected: string, of = account) => eventually(`credit balance ${expected}`, async () => ((await balance(of)) === expected ? true : undefined), 30_000);
const post = async (base: string, path: string, body: unknown, key: TestKey = parentKey) => {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: withKey(key, { 'content-type': 'application/json' }), body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
};
/** Bills the brand at `iso` and waits until collect holds the new invoice; returns what the run invoiced. */
async function billAt(iso: string, code = brand) {
  clock.set(Date.parse(iso));
  const report = await billrun.runNow(code);
  expect(report.failed).toEqual([]);
  lastRun = report.brands[0]!;
  const invoiced = report.brands[0]!.invoiced;
  await eventually('collect has the invoices', async () => {
    const rows = await db('collect.invoices').whereIn('invoice_id', invoiced.map((i) => i.invoiceId)).count({ n: '*' });
    return Number(rows[0]!.n) === invoiced.length ? true : undefined;
  }, 30_000);
  return invoiced;
}
let lastRun: Awaited<ReturnType<RunningBillRun['runNow']>>['brands'][number] | undefined;
const stripeCharges = () => fake.requestsTo('POST', '/v1/payment_intents').map((r) => new URLSearchParams(r.body).get('amount'));
/**
 * A collection run once the invoice fell due (collect may also have charged it on arrival), then
 * waits until collect has nothing left to do for it: paid, or nothing was asked.
 */
async function collectAfterDue(invoiceId: string): Promise<void> {
  const row: { due_at: Date; brand: string } = await db('collect.invoices').where({ invoice_id: invoiceId }).first('due_at', 'brand');
  clock.set(Math.max(clock.now(), row.due_at.getTime() + 60_000));
  await collect.runNow(row.brand);
  await eventually(`${invoiceId} settled`, async () => {
    const r: { collection: string } = await db('collect.invoices').where({ invoice_id: invoiceId }).first('collection');
    return r.collection === 'paid' ? true : undefined;
  }, 30_000);
}

async function publish(...data: ReferenceData[]): Promise<void> {
  const producer = await BatchProducer.connect(kafka);
  for (const d of data) await publishReference(d, producer, serde);
  await producer.stop();
}
const startBillRunHere = () =>
  startBillRun(config, { kafka, serde, logger, clock }, { intervalMs: 0, brands: [brand, brand2], settings: { since: new Date('2026-02-01T00:00:00Z') }, usageDrainMs: 600_000 });

let parentKey: TestKey;
let otherBrandKey: TestKey;

beforeAll(async () => {
  [parentKey, otherBrandKey] = (await publishTestKeys(kafka, serde, [{ brand: null }, { brand: brand2 }])) as [TestKey, TestKey];
  fake = await startFakeGateway({ now: () => clock.now() });
  await applyTopics(kafka, serde, allTopics([brand, brand2]));
  await publish(reference(), reference(brand2, { policy: 'refund' }));
  billrun = await startBillRunHere();
  collect = await startCollect(config, { kafka, serde, logger, clock }, {
    intervalMs: 0,
    topicPattern: new RegExp(`^brand\\.t${run}-(cr|rf)\\.invoices$`),
    groupId: `collect-${run}`,
    env: fakeGatewayEnv(fake, [spec, spec2], 10_000),
    webhookNow: () => clock.now(),
  });
}, 180_000);

afterAll(async () => {
  await billrun?.stop();
  await collect?.stop();
  await fake?.close();
  await db.destroy();
});

describe('a customer credit balance, from a negative invoice to a payout', () => {
  it('is consumed by the next invoices as a line, takes overpayments and credit notes, refuses to refund moved credit, pays out, and always equals the sum of its entries', { timeout: 240_000 }, async () => {
    // February: 30.00 fee + January's 600 s at 0.10 a minute (1.00) = 31.00, charged by card.
    await publishUsage([usage('c1', 600, JAN10, FEB10)]);
    const [feb] = await billAt('2026-02-10T12:00:00Z');
    expect(feb).toMatchObject({ total: '31.00', creditApplied: '0.00', amountDue: '31.00' });
    await collectAfterDue(feb!.invoiceId);
    expect(stripeCharges()).toEqual(['3100']);

    // March: January re-rated 45.00 lower; 30.00 fee + February's 300 s (0.50) - 45.00 = -14.50.
    // The invoice asks nothing; its 14.50 becomes credit. Collect charges nothing.
    await publishUsage([usage('c2', 300, FEB10, MAR10)], [{
      eventId: `${brand}-rr-c1-2`, usageEventId: `${brand}-c1`, brand, accountId: account, subscriptionId: subscription, periodStart: JAN10,
      usageType: 'LCA', previousVersion: 1, ratingVersion: 2, kind: 'changed', includedSecondsDelta: 0, overageSecondsDelta: -600, currency: 'USD',
      amountDelta: new Decimal('-45.00'), reratedAt: FEB10 + 86_400_000,
    }]);
    const [mar] = await billAt('2026-03-10T12:00:00Z');
    expect(mar).toMatchObject({ total: '-14.50', creditApplied: '0.00', amountDue: '0.00' });
    expect(await balance()).toBe('14.50');
    await collectAfterDue(mar!.invoiceId);
    expect(stripeCharges()).toEqual(['3100']);
    const marHtml = await (await fetch(`${billrun.apiUrl}/invoices/${encodeURIComponent(mar!.invoiceId)}.html`, { headers: withKey(parentKey) })).text();
    expect(marHtml).toContain('Amount due: $0.00');
    expect(marHtml).toContain('$14.50 is added to your credit balance and taken off your next invoices.');

    // April: 30.00 fee; 14.50 of credit applied; 15.50 due and charged by card. Balance 0.00.
    const [apr] = await billAt('2026-04-10T12:00:00Z');
    expect(apr).toMatchObject({ total: '30.00', creditApplied: '14.50', amountDue: '15.50' });
    expect(await balance()).toBe('0.00');
    await collectAfterDue(apr!.invoiceId);
    expect(stripeCharges()).toEqual(['3100', '1550']);
    const aprHtml = await (await fetch(`${billrun.apiUrl}/invoices/${encodeURIComponent(apr!.invoiceId)}.html`, { headers: withKey(parentKey) })).text();
    expect(aprHtml).toContain('<td>Credit applied from your balance</td><td class="num">-$14.50</td>');
    expect(aprHtml).toContain('Amount due: $15.50');

    // A cheque of 30.00 for April's invoice arrives after the card paid it: all 30.00 is beyond
    // what the invoice asks, so it becomes credit. Balance 30.00.
    const cheque = await post(collect.apiUrl!, '/payments/manual', { invoiceId: apr!.invoiceId, amount: '30.00', methodType: 'cheque', meta: { cheque_number: '004417' }, recordedBy: 'ops@example' });
    expect(cheque).toMatchObject({ status: 201, json: { overpayment: '30' } });
    await untilBalance('30.00');

    // A credit note of 11.00 on February's invoice (paid 31.00 by card), kept as credit: the
    // invoice now asks 20.00 and holds 31.00, so 11.00 moves. Balance 41.00.
    const note = await post(collect.apiUrl!, '/credit-notes', { invoiceId: feb!.invoiceId, amount: '11.00', reason: 'service outage', settle: 'credit_balance' });
    expect(note).toMatchObject({ status: 201, json: { reducesBalance: '0', refund: '0', toCreditBalance: '11' } });
    await untilBalance('41.00');

    // February's invoice keeps 31.00 - 11.00 moved = 20.00 of its own to refund: 16.00 is refused
    // (the 11.00 is the customer's credit now, never refunded twice); 5.00 goes back by card.
    const tooMuch = await post(collect.apiUrl!, '/refunds', { invoiceId: feb!.invoiceId, amount: '21.00', reason: 'goodwill' });
    expect(tooMuch.status).toBe(422);
    expect(JSON.stringify(tooMuch.json)).toContain('exceeds the refundable 20');
    const refund = await post(collect.apiUrl!, '/refunds', { invoiceId: feb!.invoiceId, amount: '5.00', reason: 'goodwill' });
    expect(refund).toMatchObject({ status: 201, json: { status: 'succeeded' } });

    // May: 30.00 fee, all of it from the credit; nothing due, nothing charged. Balance 11.00.
    const [may] = await billAt('2026-05-10T12:00:00Z');
    expect(may).toMatchObject({ total: '30.00', creditApplied: '30.00', amountDue: '0.00' });
    await collectAfterDue(may!.invoiceId);
    expect(stripeCharges()).toEqual(['3100', '1550']);
    expect(await balance()).toBe('11.00');

    // The customer leaves; ops pay out the 11.00 by cheque. More than the balance is refused; the
    // same cheque recorded twice is one payout. Balance 0.00, and the brand owes no one.
    const over = await post(billrun.apiUrl!, `/credit-balances/${account}/payouts`, { currency: 'USD', amount: '11.01', reference: 'CHQ-7001', recordedBy: 'ops@example' });
    expect(over).toMatchObject({ status: 422, json: { error: 'invalid_payout', problems: [{ path: '', message: 'the credit balance is 11.00 USD: 11.01 cannot be paid out' }] } });
    // Another brand's key neither sees this account's credit nor pays it out; no key gets 401.
    expect((await fetch(`${billrun.apiUrl}/credit-balances/${account}`, { headers: withKey(otherBrandKey) })).status).toBe(404);
    expect((await post(billrun.apiUrl!, `/credit-balances/${account}/payouts`, { currency: 'USD', amount: '1.00', reference: 'CHQ-X', recordedBy: 'x' }, otherBrandKey)).status).toBe(404);
    expect(((await (await fetch(`${billrun.apiUrl}/credit-balances?brand=${brand}`, { headers: withKey(otherBrandKey) })).json()) as { balances: unknown[] }).balances).toEqual([]);
    expect((await fetch(`${billrun.apiUrl}/credit-balances/${account}`)).status).toBe(401);
    const payout = await post(billrun.apiUrl!, `/credit-balances/${account}/payouts`, { currency: 'USD', amount: '11.00', reference: 'CHQ-7001', recordedBy: 'ops@example' });
    expect(payout).toMatchObject({ status: 201, json: { balance: '0.00' } });
    const again = await post(billrun.apiUrl!, `/credit-balances/${account}/payouts`, { currency: 'USD', amount: '11.00', reference: 'CHQ-7001', recordedBy: 'ops@example' });
    expect(again).toMatchObject({ status: 200, json: { duplicate: true } });
    const owed = (await (await fetch(`${billrun.apiUrl}/credit-balances?brand=${brand}`, { headers: withKey(parentKey) })).json()) as { balances: unknown[] };
    expect(owed.balances).toEqual([]);

    // The ledger: exactly these entries, in this order, summing to the balance (0.00).
    const final = await statement();
    expect(final.entries.map((e) => [e.source, e.amount, e.invoiceId])).toEqual([
      ['negative_invoice', '14.50', mar!.invoiceId],
      ['applied', '-14.50', apr!.invoiceId],
      ['overpayment', '30.00', apr!.invoiceId],
      ['credit_note', '11.00', feb!.invoiceId],
      ['applied', '-30.00', may!.invoiceId],
      ['paid_out', '-11.00', null],
    ]);
    expect(final.entries.reduce((sum, e) => sum.plus(e.amount), new Decimal(0)).toFixed(2)).toBe(final.balances[0]!.balance);

    // Commission clawback in April: April's invoice earns 20% of its 30.00 fee = 6.00; February's
    // earned 6.00 on a 31.00 invoice, and April took back 11/31 of it for the credit note
    // (2.129032) and 5/31 for the refund (0.967742): 6 - 2.129032 - 0.967742 = 2.903226, 2.90.
    await eventually('the refund reached bill-run', async () => ((await db('billrun.invoice_reductions').where({ invoice_id: feb!.invoiceId })).length === 2 ? true : undefined), 30_000);
    const april = (await (await fetch(`${billrun.apiUrl}/commission-statements?month=2026-04&agent=${brand}-agent`, { headers: withKey(parentKey) })).json()) as { statements: { lines: { kind: string; commission: string }[]; totals: { currency: string; commission: string }[] }[] };
    expect(april.statements[0]!.lines.map((l) => [l.kind, new Decimal(l.commission).toFixed(6)]).sort()).toEqual([
      ['invoice', '6.000000'],
      ['refund', '-0.967742'],
      ['refund', '-2.129032'],
    ]);
    expect(april.statements[0]!.totals).toMatchObject([{ currency: 'USD', commission: '2.9' }]);
  });

  it('with the brand policy refund, credit left at cancellation goes back to the last card charges; what they cannot take stays owed', { timeout: 240_000 }, async () => {
    const refundsBefore = fake.requestsTo('POST', '/v1/refunds').length;
    // February: 31.00 (30.00 fee + 600 s at 0.10 a minute), paid by card.
    await publishUsage([usage('c1', 600, JAN10, FEB10, brand2)]);
    const [feb] = await billAt('2026-02-10T12:00:00Z', brand2);
    expect(feb).toMatchObject({ total: '31.00', amountDue: '31.00' });
    await collectAfterDue(feb!.invoiceId);
    // March: 30.00 fee + 0.50 - 45.00 re-rating = -14.50: credit 14.50.
    await publishUsage([usage('c2', 300, FEB10, MAR10, brand2)], [{
      eventId: `${brand2}-rr-c1-2`, usageEventId: `${brand2}-c1`, brand: brand2, accountId: account2, subscriptionId: subscription2, periodStart: JAN10,
      usageType: 'LCA', previousVersion: 1, ratingVersion: 2, kind: 'changed', includedSecondsDelta: 0, overageSecondsDelta: -600, currency: 'USD',
      amountDelta: new Decimal('-45.00'), reratedAt: FEB10 + 86_400_000,
    }]);
    const [mar] = await billAt('2026-03-10T12:00:00Z', brand2);
    expect(mar).toMatchObject({ total: '-14.50', amountDue: '0.00' });
    // A cheque of 20.00 for February's paid invoice: 20.00 more credit. Balance 34.50.
    const cheque = await post(collect.apiUrl!, '/payments/manual', { invoiceId: feb!.invoiceId, amount: '20.00', methodType: 'cheque', meta: { cheque_number: '009001' }, recordedBy: 'ops@example' });
    expect(cheque.status).toBe(201);
    await untilBalance('34.50', account2);

    // The customer cancels on 15 March (no cancellation credit at this brand); a fresh bill-run reads it.
    await publish(reference(brand2, { policy: 'refund', cancelledAt: '2026-03-15T15:00:00Z' }));
    await billrun.stop();
    billrun = await startBillRunHere();
    // 10 April: the final invoice carries the arrears of the last period served (no usage: 0.00),
    // then the account has no active subscription: its 34.50 is asked back through the gateway.
    const [final] = await billAt('2026-04-10T12:00:00Z', brand2);
    expect(final).toMatchObject({ total: '0.00', creditApplied: '0.00', amountDue: '0.00' });
    expect(lastRun!.creditRefunds).toEqual([{ accountId: account2, currency: 'USD', amount: '34.50' }]);
    // The only card charge is February's 31.00: refunded in full; the 3.50 left (the cheque's
    // money beyond it) has no card to go back to and returns to the credit. Balance 3.50.
    await untilBalance('3.50', account2);
    const refunds = () => fake.requestsTo('POST', '/v1/refunds').slice(refundsBefore).map((r) => new URLSearchParams(r.body).get('amount'));
    await eventually('the card refund', () => (refunds().length > 0 ? true : undefined), 30_000);
    expect(refunds()).toEqual(['3100']);
    expect((await statement(account2)).entries.map((e) => [e.source, e.amount])).toEqual([
      ['negative_invoice', '14.50'],
      ['overpayment', '20.00'],
      ['refund', '-34.50'],
      ['refund_reversed', '3.50'],
    ]);
    // February's invoice has nothing of its own left to refund: its card money went back as credit.
    const again = await post(collect.apiUrl!, '/refunds', { invoiceId: feb!.invoiceId, amount: '1.00', reason: 'goodwill' });
    expect(again.status).toBe(422);

    // The next run does not ask again (collect said the rest cannot go back by card): ops pay it out.
    await billAt('2026-05-10T12:00:00Z', brand2);
    expect(lastRun!.creditRefunds).toEqual([]);
    const payout = await post(billrun.apiUrl!, `/credit-balances/${account2}/payouts`, { currency: 'USD', amount: '3.50', reference: 'CHQ-9002', recordedBy: 'ops@example' });
    expect(payout).toMatchObject({ status: 201, json: { balance: '0.00' } });
  });
});
