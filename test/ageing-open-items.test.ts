import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import knex from 'knex';
import { ControllableClock } from '../domain/billrun/index.ts';
import { publishReference } from '../contracts/reference.ts';
import type { PaymentRecord } from '../contracts/payment.ts';
import { BatchProducer, standardHeaders } from '../runtime/kafka.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import { silentLogger } from '../runtime/log.ts';
import { startAgeing, type RunningAgeing } from '../services/ageing/index.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, brandTopics, valueSubject } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { collectReference, invoiceEvent, publishInvoices, type BrandSpec } from './support/collect-fixtures.ts';

// Ageing reads only open items: an invoice is settled from the instant its counting payments
// reach what it owes (a later payment does not count before it happens), and a run ages only
// the accounts with an invoice open at its `now` or a suspension to lift. The steps are those
// of a run over everything.
const suffix = uniqueSuffix();
const config = testConfig('ageing-open');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const db = knex({ client: 'pg', connection: config.postgres.url, pool: { min: 0, max: 2 } });
const DAY = 86_400_000;
const DUE = Date.UTC(2026, 2, 1);
const clock = new ControllableClock(DUE);
const brand: BrandSpec = { code: `t${suffix}-ao`, gateway: 'stripe', currency: 'USD', timeZone: 'UTC', country: 'US', retryDays: [], steps: [{ afterDays: 5, action: 'reminder' }, { afterDays: 10, action: 'suspend' }] };
const acct = (x: string) => `${brand.code}-${x}`;
let ageing: RunningAgeing;

function payment(id: string, account: string, amount: string, at: number): PaymentRecord {
  return {
    paymentId: id, invoiceId: `inv-${acct(account)}`, brand: brand.code, accountId: acct(account), attempt: 1, gateway: 'stripe', gatewayReference: null, status: 'SUCCEEDED',
    failureKind: null, failureMessage: null, currency: 'USD', amount: new Decimal(amount), occurredAt: at, kind: 'charge', eventId: `${brand.code}-${id}`, methodLabel: null, creditBalanceChange: null, creditNoteId: null,
  };
}

beforeAll(async () => {
  await applyTopics(kafka, serde, allTopics([brand.code]));
  const producer = await BatchProducer.connect(kafka);
  await publishReference(collectReference([brand], []), producer, serde);
  // 100.00 each, due 1 March. A: 60.00 on day 1 and 40.00 on day 8. B: 100.00 on day 1. C: nothing. D: 100.00 on day 12.
  await publishInvoices(kafka, serde, ['a', 'b', 'c', 'd'].map((x) => invoiceEvent({ invoiceId: `inv-${acct(x)}`, brand: brand.code, accountId: acct(x), currency: 'USD', total: '100.00', issuedAt: DUE - 14 * DAY, dueAt: DUE })));
  const payments = [payment('p1', 'a', '60.00', DUE + DAY), payment('p2', 'a', '40.00', DUE + 8 * DAY), payment('p3', 'b', '100.00', DUE + DAY), payment('p4', 'd', '100.00', DUE + 12 * DAY)];
  const topic = brandTopics(brand.code).payments.name;
  const encode = serde.encoder<PaymentRecord>(await serde.register(valueSubject(topic), loadSchema('payment')));
  await producer.send({ [topic]: payments.map((p) => ({ key: p.accountId, value: encode(p), headers: standardHeaders({ eventId: p.eventId!, brand: brand.code }) })) });
  await producer.stop();
  ageing = await startAgeing(config, { kafka, serde, logger: silentLogger, clock }, { intervalMs: 0, topicPattern: new RegExp(`^brand\\.${brand.code}\\.(invoices|payments)$`), groupId: `ageing-open-${suffix}` });
  await eventually('ageing stored the invoices and payments', async () => {
    const [inv] = await db('ageing.invoices').where({ brand: brand.code }).count({ n: '*' });
    const [pay] = await db('ageing.payments').where({ brand: brand.code }).count({ n: '*' });
    return Number(inv!.n) === 4 && Number(pay!.n) === 4 ? true : undefined;
  });
}, 120_000);

afterAll(async () => {
  await ageing?.stop();
  await db.destroy();
});

describe('ageing reads only open items', () => {
  it('settles each invoice when its payments reach what it owes, ages only open or suspended accounts, and takes the same steps', { timeout: 120_000 }, async () => {
    const settled: { account_id: string; settled_at: Date | null }[] = await db('ageing.invoices').where({ brand: brand.code }).orderBy('account_id').select('account_id', 'settled_at');
    expect(settled.map((r) => [r.account_id, r.settled_at?.toISOString() ?? null])).toEqual([
      [acct('a'), new Date(DUE + 8 * DAY).toISOString()], // 60.00 + 40.00 reach 100.00 on day 8
      [acct('b'), new Date(DUE + DAY).toISOString()],
      [acct('c'), null],
      [acct('d'), new Date(DUE + 12 * DAY).toISOString()],
    ]);
    const runAt = async (day: number) => {
      clock.set(DUE + day * DAY + 3_600_000);
      const report = await ageing.runNow(brand.code);
      expect(report.failed).toEqual([]);
      return report.brands[0]!.accounts;
    };
    // Day 5: A (40.00 still owed: day 8's payment has not happened), C and D are open; B is settled and not read.
    expect(await runAt(5)).toBe(3);
    // Day 10: A settled; C and D suspended.
    expect(await runAt(10)).toBe(2);
    // Day 13: D paid on day 12, but suspended: read, and reactivated. C still open.
    expect(await runAt(13)).toBe(2);
    // Day 20: only C.
    expect(await runAt(20)).toBe(1);
    const events: { account_id: string; step: string }[] = await db('ageing.lifecycle_events').where({ brand: brand.code }).orderBy('seq').select('account_id', 'step');
    const steps = (x: string) => events.filter((e) => e.account_id === acct(x)).map((e) => e.step);
    expect({ a: steps('a'), b: steps('b'), c: steps('c'), d: steps('d') }).toEqual({
      a: ['reminder'],
      b: [],
      c: ['reminder', 'suspend'],
      d: ['reminder', 'suspend', 'reactivate'],
    });
  });
});
