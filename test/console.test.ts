import fs from 'node:fs';
import { Decimal } from 'decimal.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { chromium, selectors } from 'playwright-core';
import type { CdrRawRecord, CdrRejectedRecord } from '../contracts/records.ts';
import { buildRejection } from '../contracts/rejection.ts';
import { BatchProducer, standardHeaders } from '../runtime/kafka.ts';
import { createLogger } from '../runtime/log.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import { systemClock } from '../runtime/time.ts';
import type { RunningService } from '../runtime/service.ts';
import { startPipeline } from '../services/all.ts';
import { startBillRun, type RunningBillRun } from '../services/billrun/index.ts';
import { startCollect, type RunningCollect } from '../services/collect/index.ts';
import { startAgeing, type RunningAgeing } from '../services/ageing/index.ts';
import { startConsole } from '../services/console/index.ts';
import { startCatalog, type RunningCatalog } from '../services/catalog/index.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, topics, valueSubject } from '../topics/catalog.ts';
import { eventually, testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { withKey } from './support/api-keys.ts';

/**
 * The console in a real browser (Debian's chromium through playwright-core) against the real
 * stack: the pipeline, bill-run, collect and ageing in this process, reference data on ref.*,
 * keys on ref.api-keys. Two brands; a clerk of one sees only it, the parent's key sees both.
 */
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', process.env.CHROMIUM_PATH].find((p) => p && fs.existsSync(p));

const run = uniqueSuffix();
const brandA = `t${run}-ca`;
const brandB = `t${run}-cb`;
const config = testConfig('console');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const logger = createLogger({ service: 'console-test' }, 'warn', () => undefined);
const deps = { kafka, serde, logger, clock: systemClock };
// Anchored two days ago (UTC brands, billing at 00:00): period 0 is now, its fee in advance is due.
const anchor = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000 - 2 * 86_400_000 + 3_600_000);
const numberA = `+1800${String(2_000_000 + (parseInt(run, 16) % 7_000_000)).padStart(7, '0')}`;
const numberB = `+1888${String(2_000_000 + (parseInt(run, 16) % 7_000_000)).padStart(7, '0')}`;
const accountA = `${brandA}-acct`;
// A number no brand holds yet: its call is rejected until the catalogue assigns it.
const numberC = `+1877${String(2_000_000 + (parseInt(run, 16) % 7_000_000)).padStart(7, '0')}`;
const subscriptionA = `${brandA}-sub`;

const adminKey = `console-admin-${run}-0123456789abcdef`;
/** A key as the console's sign-in takes it, with the id the audit trails record. */
interface Key { key: string; keyId: string }
let catalog: RunningCatalog;

async function catalogCall(method: string, path: string, body?: unknown, key = adminKey): Promise<Record<string, unknown>> {
  const res = await fetch(`${catalog.apiUrl}${path}`, { method, headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Two brands, each with a plan, a rule, a customer, a subscription and a number, made through the catalogue's API. */
async function makeBrands(): Promise<void> {
  for (const code of [brandA, brandB]) {
    await catalogCall('PUT', `/brands/${code}`, {
      name: `Console ${code}`, country: 'US', currency: 'USD', timeZone: 'UTC', billingHour: 0, taxRegime: 'none', gateway: 'manual', roundingMode: 'half_up',
      usageProducts: { LCA: `${code}-lca` }, paymentTermsDays: 0, collectionRetryDays: [2], cancellationCredit: 'none', creditAtCancellation: 'pay_out',
    });
    await catalogCall('PUT', `/plans/${code}-plan`, {
      owner: code, name: 'Answering 100', currency: 'USD', monthlyFee: '30.00', trialDays: 0, numberAllotment: 5,
      grants: [{ bucketId: 'lca-included', usageType: 'LCA', seconds: 6000, priority: 1 }],
      priceModels: [{ usageType: 'LCA', kind: 'PER_UNIT', unitSeconds: 60, tiers: [{ upTo: null, unitPrice: '0.10' }] }],
    });
    await catalogCall('PUT', `/rating-rules/${code}-lca`, { companyId: code, usageType: 'LCA', effectiveFrom: '2026-01-01T00:00:00Z', freeSeconds: 0, freeMode: 'grace', minimumSeconds: 0, initialIncrement: { seconds: 60, rounding: 'up' }, mainIncrement: { seconds: 60, rounding: 'up' }, unit: 'second' });
  }
  await catalogCall('PUT', `/customers/${accountA}`, { brand: brandA, name: `Harbor Dental ${run}`, email: 'ap@harbor.example', country: 'US', region: 'NY', postalAddress: { line1: '1 River Rd', city: 'Albany', region: 'NY', postalCode: '12207', country: 'US' } });
  await catalogCall('PUT', `/customers/${brandB}-acct`, { brand: brandB, name: `Beacon Law ${run}`, email: 'ap@beacon.example', country: 'US', region: 'NY', postalAddress: { line1: '2 Main St', city: 'Albany', region: 'NY', postalCode: '12207', country: 'US' } });
  for (const [code, number] of [[brandA, numberA], [brandB, numberB]] as const) {
    await catalogCall('PUT', `/subscriptions/${code}-sub`, { accountId: `${code}-acct`, planId: `${code}-plan`, anchor: anchor.toISOString(), status: 'active' });
    await catalogCall('PUT', `/numbers/${encodeURIComponent(number)}`, { brand: code });
    await catalogCall('POST', `/numbers/${encodeURIComponent(number)}/assign`, { subscriptionId: `${code}-sub`, effectiveFrom: anchor.toISOString() });
  }
}

let pipeline: RunningService;
let billrun: RunningBillRun;
let collect: RunningCollect;
let ageing: RunningAgeing;
let consoleService: RunningService;
let browser: Browser;
let clerkKey: Key;
let parentKey: Key;
let invoiceId: string;

const source = `console-${run}`;
const call = (id: string, seconds: number, number = numberA): CdrRawRecord => {
  const start = Date.now() - 3_600_000;
  return { source, cdrId: id, callingNumber: '+12125550123', calledNumber: number, usageType: 'LCA', startTime: start, endTime: start + seconds * 1000, durationSeconds: seconds, attributes: {}, receivedAt: null };
};

beforeAll(async () => {
  if (!CHROMIUM) throw new Error('no chromium found at /usr/bin/chromium (or CHROMIUM_PATH): install Debian\'s chromium package (apt-get install -y chromium); .ci/run does it as root');
  await applyTopics(kafka, serde, allTopics([brandA, brandB]));
  catalog = await startCatalog(config, deps, { parentCompany: 'ansr-group', adminKey, outboxPollMs: 200, trialSweepMs: 0 });
  await makeBrands();
  const made = (await catalogCall('POST', '/api-keys', { brand: brandA, label: 'console clerk' })) as unknown as Key;
  clerkKey = { key: made.key, keyId: made.keyId };
  parentKey = { key: adminKey, keyId: 'admin' };
  await catalog.outbox.drain();
  pipeline = await startPipeline(config, deps);
  billrun = await startBillRun(config, deps, { intervalMs: 0, brands: [brandA, brandB], usageDrainMs: 20_000 });
  collect = await startCollect(config, deps, { intervalMs: 0, topicPattern: new RegExp(`^brand\\.t${run}-c[ab]\\.invoices$`), groupId: `collect-console-${run}` });
  ageing = await startAgeing(config, deps, { intervalMs: 0 });
  consoleService = await startConsole(config, deps, { services: { catalog: catalog.apiUrl!, billrun: billrun.apiUrl!, collect: collect.apiUrl!, ageing: ageing.apiUrl!, drawdown: stageUrl('drawdown'), ingest: stageUrl('ingest') } });
  selectors.setTestIdAttribute('data-test');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });

  // Three calls to A's number, per minute rounded up: 125 s -> 3 min, 60 s -> 1, 30 s -> 1: 5 of its 100 included minutes.
  const encode = serde.encoder<CdrRawRecord>(await serde.register(valueSubject(topics.cdrRaw.name), loadSchema('cdr.raw')));
  // And a 90 s call to a number nobody holds: rejected by resolve (unresolved_number).
  const cdrs = [call('c1', 125), call('c2', 60), call('c3', 30), call('c4', 90, numberC)];
  const sender = await BatchProducer.connect(kafka);
  await sender.send({ [topics.cdrRaw.name]: cdrs.map((c) => ({ key: `${c.source}/${c.cdrId}`, value: encode(c), headers: standardHeaders({ eventId: c.cdrId }) })) });
  await sender.stop();
  // Period 0's fee in advance (30.00): one invoice for A.
  const report = await billrun.runNow(brandA);
  expect(report.failed).toEqual([]);
  invoiceId = report.brands[0]!.invoiced[0]!.invoiceId;
  await eventually('collect has the invoice', async () => ((await fetch(`${collect.apiUrl}/invoices/${invoiceId}`, { headers: withKey(parentKey.key) })).ok ? true : undefined), 30_000);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await consoleService?.stop();
  await ageing?.stop();
  await collect?.stop();
  await billrun?.stop();
  await pipeline?.stop();
  await catalog?.stop();
});

/** The API address of one of the pipeline's stages. */
const stageUrl = (name: string) => (pipeline as unknown as { services: RunningService[] }).services.find((s) => s.name === name)!.apiUrl!;

/** Seconds left in A's included bucket, as drawdown holds them. */
async function remainingA(): Promise<number | undefined> {
  const res = await fetch(`${stageUrl('drawdown')}/subscriptions/${subscriptionA}/periods`, { headers: withKey(parentKey.key) });
  const body = (await res.json()) as { periods: { buckets: { remaining: number }[] }[] };
  return body.periods?.[0]?.buckets[0]?.remaining;
}

/** What the page said after an action: its notice, or the refusal (so a failure names the service's words). */
const outcome = (page: Page) => page.locator('[role="status"], [role="alert"]').first().textContent();

async function signIn(key: Key): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${consoleService.apiUrl}/`);
  expect(page.url()).toContain('/sign-in');
  await page.getByLabel('API key').fill(key.key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${consoleService.apiUrl}/`);
  return page;
}

describe('the billing operations console in a browser', () => {
  it('a brand clerk sees only that brand; the parent key sees every brand; sign-out ends the session', async () => {
    const clerk = await signIn(clerkKey);
    await expect(clerk.getByTestId('signed-in-as').textContent()).resolves.toContain(`brand ${brandA}`);
    expect(await clerk.locator(`tr[data-brand="${brandA}"]`).count()).toBe(1);
    expect(await clerk.locator(`tr[data-brand="${brandB}"]`).count()).toBe(0);
    // Another brand's customer is not found by its name, and its account page is a 404.
    await clerk.goto(`${consoleService.apiUrl}/customers?q=${encodeURIComponent(`Beacon Law ${run}`)}`);
    await expect(clerk.getByTestId('result-count').textContent()).resolves.toContain('0 accounts');
    const other = await clerk.goto(`${consoleService.apiUrl}/accounts/${brandB}-acct`);
    expect(other!.status()).toBe(404);
    await clerk.getByRole('button', { name: 'Sign out' }).click();
    await clerk.waitForURL(/\/sign-in$/);
    await clerk.goto(`${consoleService.apiUrl}/customers`);
    expect(clerk.url()).toContain('/sign-in');
    await clerk.close();

    const parent = await signIn(parentKey);
    // The shared stack holds every earlier suite's brands: Today narrowed to this run's two.
    await parent.getByLabel('Brands whose code or name has').fill(`t${run}-`);
    await parent.getByRole('button', { name: 'Show' }).click();
    await parent.waitForURL(/\?q=/);
    expect(await parent.locator('tr[data-brand]').count()).toBe(2);
    expect(await parent.locator(`tr[data-brand="${brandA}"]`).count()).toBe(1);
    expect(await parent.locator(`tr[data-brand="${brandB}"]`).count()).toBe(1);
    // Every service answered (a refused or failed call shows as an alert on the page), and A's invoice counts since yesterday.
    expect(await parent.getByRole('alert').allTextContents()).toEqual([]);
    await expect(parent.locator(`tr[data-brand="${brandA}"] td`).nth(2).textContent()).resolves.toBe('1');
    await parent.close();
  });

  it('finds a customer by toll-free number and shows the minutes left that drawdown holds', async () => {
    const drawn = await eventually('drawdown drew 5 minutes', async () => {
      const remaining = await remainingA();
      return remaining === 6000 - 300 ? remaining : undefined;
    }, 90_000);
    // 100 included minutes less 3 + 1 + 1 = 95 minutes left, 5700 s in drawdown's bucket.
    expect(drawn).toBe(5700);
    const page = await signIn(clerkKey);
    await page.getByRole('link', { name: 'Customers' }).click();
    // By keyboard alone: from the top of the page, Tab through the header to the search field, type, Enter.
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    let tabs = 0;
    while ((await page.evaluate(() => document.activeElement?.id)) !== 'q') {
      expect(++tabs, 'Tab reaches the search field within the header').toBeLessThan(20);
      await page.keyboard.press('Tab');
    }
    // As a person types it: spaces and dashes in a North American number.
    const typed = `${numberA.slice(2, 5)} ${numberA.slice(5, 8)}-${numberA.slice(8)}`;
    await page.keyboard.type(typed);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/customers\?q=/);
    await expect(page.getByTestId('result-count').textContent()).resolves.toContain(`1 account found by number ${numberA}`);
    await page.getByRole('link', { name: `Harbor Dental ${run}` }).click();
    await expect(page.locator('tr[data-bucket="lca-included"] [data-test="minutes-left"]').textContent()).resolves.toBe('95');
    await page.close();
  });

  it('opens the invoice PDF, records a cheque and issues a credit note with confirmation; the credit balance and audit trail show it', async () => {
    const page = await signIn(clerkKey);
    await page.goto(`${consoleService.apiUrl}/accounts/${accountA}`);
    await expect(page.getByTestId('credit-balance').textContent()).resolves.toBe('0.00');
    await page.locator(`a[href="/invoices/${encodeURIComponent(invoiceId)}"]`).click();
    const pdf = await page.request.get(`${consoleService.apiUrl}/invoices/${encodeURIComponent(invoiceId)}/document.pdf`);
    expect(pdf.status()).toBe(200);
    expect(pdf.headers()['content-type']).toBe('application/pdf');
    expect((await pdf.body()).subarray(0, 5).toString()).toBe('%PDF-');

    // A cheque for the whole 30.00, confirmed on the second page.
    const cheque = page.getByRole('form', { name: 'Record a cheque or wire' });
    await cheque.getByLabel('Amount').fill('30.00');
    await cheque.getByLabel('Cheque number or bank reference').fill("100234");
    await cheque.getByRole('button').click();
    await expect(page.getByTestId('confirm-text').textContent()).resolves.toContain('cheque of 30.00');
    await page.getByRole('button', { name: /^Confirm/ }).click();
    await expect(outcome(page)).resolves.toContain('done');
    await expect(page.getByTestId('payment-status').textContent()).resolves.toBe('paid');

    // An invalid amount comes back beside its field, nothing sent.
    const note = page.getByRole('form', { name: 'Issue a credit note' });
    await note.getByLabel('Amount').fill('ten');
    await note.getByLabel('Reason').fill('goodwill');
    await note.getByRole('button').click();
    await page.getByRole('button', { name: /^Confirm/ }).click();
    await expect(page.getByRole('alert').first().textContent()).resolves.toContain('collect refused');

    // A 10.00 credit note on the paid invoice, kept as credit: the balance goes from 0.00 to 10.00.
    const again = page.getByRole('form', { name: 'Issue a credit note' });
    await again.getByLabel('Amount').fill('10.00');
    await again.getByLabel('Reason').fill('goodwill');
    await again.getByLabel('What was already paid goes').selectOption('credit_balance');
    await again.getByRole('button').click();
    await page.getByRole('button', { name: /^Confirm/ }).click();
    await expect(outcome(page)).resolves.toContain('done');
    expect(await page.getByTestId('credit-note').count()).toBe(1);
    await eventually('credit balance 10.00 on the account page', async () => {
      await page.goto(`${consoleService.apiUrl}/accounts/${accountA}`);
      return (await page.getByTestId('credit-balance').textContent()) === '10.00 USD' ? true : undefined;
    }, 30_000);

    await page.goto(`${consoleService.apiUrl}/audit`);
    const rows = await page.locator('table[aria-label="collect audit events"] tr[data-test="audit-event"]').allTextContents();
    expect(rows.some((r) => r.includes(clerkKey.keyId) && r.includes('/credit-notes'))).toBe(true);
    expect(rows.some((r) => r.includes(clerkKey.keyId) && r.includes('/payments/manual'))).toBe(true);
    await page.close();
  });

  it('redrives a CDR rejected for an unknown number once the catalogue assigns it, after confirmation; drawdown charges it and ingest records who did it', async () => {
    await eventually('A has 95 minutes left', async () => ((await remainingA()) === 5700 ? true : undefined), 90_000);
    const page = await signIn(parentKey);
    const rejected = page.locator('tr[data-record]', { hasText: `${source}/c4` });
    await eventually('the rejection listed', async () => {
      await page.goto(`${consoleService.apiUrl}/rejections?reason=unresolved_number`);
      return (await rejected.count()) > 0 ? true : undefined;
    }, 60_000);
    await expect(rejected.first().locator('td').nth(4).textContent()).resolves.toBe('unresolved_number');
    const record = (await rejected.first().getAttribute('data-record'))!;

    await catalogCall('PUT', `/numbers/${encodeURIComponent(numberC)}`, { brand: brandA });
    await catalogCall('POST', `/numbers/${encodeURIComponent(numberC)}/assign`, { subscriptionId: subscriptionA, effectiveFrom: anchor.toISOString() });
    await catalog.outbox.drain();
    // The console follows ref.numbers as resolve does: once its search finds the number's holder, the assignment is on the topic.
    await eventually('the assignment on ref.numbers', async () => {
      await page.goto(`${consoleService.apiUrl}/customers?q=${encodeURIComponent(numberC)}`);
      return (await page.getByTestId('result-count').textContent())?.includes(`found by number ${numberC}`) ? true : undefined;
    }, 30_000);

    const redrive = async (at: string) => {
      await page.goto(`${consoleService.apiUrl}/rejections?reason=unresolved_number`);
      await page.getByRole('button', { name: `Redrive ${at}` }).click();
      await expect(page.getByTestId('confirm-text').textContent()).resolves.toContain(`CDR ${source}/c4`);
      await page.getByRole('button', { name: 'Confirm: redrive' }).click();
      await expect(outcome(page)).resolves.toContain(`Redriven: ${at} sent back to ${topics.cdrAccepted.name}`);
    };
    await redrive(record);
    // 90 s rounded up per minute: 2 more minutes drawn, 95 - 2 = 93 left (5580 s). Resolve reads
    // ref.numbers on its own; should the record beat the assignment there, it is rejected again
    // and sent back once more, as a person would (drawdown charges an event id once however often).
    const again = new Set([record]);
    const left = await eventually('the redriven call charged', async () => {
      const remaining = await remainingA();
      if (remaining === 5580) return remaining;
      await page.goto(`${consoleService.apiUrl}/rejections?reason=unresolved_number`);
      const newer = (await rejected.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-record')))).find((at) => at && !again.has(at));
      if (newer) {
        again.add(newer);
        await redrive(newer);
      }
      return undefined;
    }, 90_000);
    expect(left).toBe(5580);
    await page.goto(`${consoleService.apiUrl}/accounts/${accountA}`);
    await expect(page.locator('tr[data-bucket="lca-included"] [data-test="minutes-left"]').textContent()).resolves.toBe('93');

    // The usage view, by number: the one call, rated by A's rule (per minute, up): 90 s billable as 120, all from the included bucket.
    await page.getByRole('link', { name: 'Usage', exact: true }).click();
    await page.getByLabel('or number').fill(numberC);
    await page.getByLabel('or number').press('Enter');
    const c4 = page.locator('tr[data-event]');
    expect(await c4.count()).toBe(1);
    expect(await Promise.all(['duration', 'billable', 'draws', 'overage', 'rounding'].map((t) => c4.getByTestId(t).textContent()))).toEqual(['90', '120', 'lca-included: 120 s', '0', 'first 60 s up, then 60 s up']);
    // By account: all four calls, 3 + 1 + 1 + 2 = 7 minutes billable (420 s), none beyond the 100 included.
    await page.goto(`${consoleService.apiUrl}/usage?accountId=${accountA}`);
    expect(await page.locator('tr[data-event]').count()).toBe(4);
    await expect(page.getByTestId('usage-count').textContent()).resolves.toContain('420 billable s, 420 s from included buckets, 0 s overage');

    await page.goto(`${consoleService.apiUrl}/audit`);
    const rows = await page.locator('table[aria-label="ingest audit events"] tr[data-test="audit-event"]').allTextContents();
    expect(rows.some((r) => r.includes('POST /rejections/redrive') && r.includes('200'))).toBe(true);
    await page.close();
  });

  it("catalogue screens: a clerk sees its brand's settings, plans, rules and numbers; an invalid setting comes back with the catalogue's problem beside its field, a valid one is saved", async () => {
    const page = await signIn(clerkKey);
    await page.getByRole('link', { name: 'Catalogue' }).click();
    expect(await page.locator(`table[aria-label="Brands"] tr[data-brand="${brandA}"]`).count()).toBe(1);
    expect(await page.locator(`table[aria-label="Brands"] tr[data-brand="${brandB}"]`).count()).toBe(0);
    await expect(page.locator(`tr[data-plan="${brandA}-plan"]`).textContent()).resolves.toContain('30.00 USD');
    await expect(page.locator(`tr[data-rule="${brandA}-lca"]`).textContent()).resolves.toContain('first 60 s up, then 60 s up');
    await expect(page.locator('table[aria-label="Numbers"]').textContent()).resolves.toContain(numberA);
    await page.getByRole('link', { name: brandA, exact: true }).click();

    const form = page.getByRole('form', { name: 'Brand settings' });
    await form.getByLabel('Bill-run hour (local, 0-23)').fill('25');
    await form.getByRole('button', { name: 'Save settings' }).click();
    await expect(page.getByRole('alert').first().textContent()).resolves.toContain('catalog refused');
    // The catalogue's own words, beside the field they are about, and the typed value kept.
    await expect(page.getByTestId('error-billingHour').textContent()).resolves.toMatch(/23/);
    await expect(form.getByLabel('Bill-run hour (local, 0-23)').inputValue()).resolves.toBe('25');
    expect(await form.getByLabel('Bill-run hour (local, 0-23)').getAttribute('aria-invalid')).toBe('true');

    await form.getByLabel('Bill-run hour (local, 0-23)').fill('0');
    await form.getByLabel('Name').fill(`Console ${brandA} renamed`);
    await form.getByRole('button', { name: 'Save settings' }).click();
    await expect(outcome(page)).resolves.toContain('Settings saved');
    await expect(form.getByLabel('Name').inputValue()).resolves.toBe(`Console ${brandA} renamed`);
    await page.close();
  });

  it("plan and rating-rule forms make the next version through the catalogue: a refused value comes back beside its field, kept; a valid one is saved as version 2", async () => {
    // On B's plan and rule, which no call of this suite is rated by.
    const page = await signIn(parentKey);
    await page.goto(`${consoleService.apiUrl}/catalog`);
    await page.getByRole('link', { name: `${brandB}-plan`, exact: true }).click();
    const plan = page.getByRole('form', { name: 'Plan settings' });
    await expect(plan.getByLabel('Monthly fee').inputValue()).resolves.toBe('30.00');
    await plan.getByLabel('Monthly fee').fill('ten');
    await plan.getByRole('button', { name: 'Save as the next version' }).click();
    await expect(page.getByRole('alert').first().textContent()).resolves.toContain('catalog refused');
    await expect(page.getByTestId('error-monthlyFee').textContent()).resolves.toMatch(/decimal/i);
    await expect(plan.getByLabel('Monthly fee').inputValue()).resolves.toBe('ten');
    expect(await plan.getByLabel('Monthly fee').getAttribute('aria-invalid')).toBe('true');
    await plan.getByLabel('Monthly fee').fill('35.00');
    await plan.getByRole('button', { name: 'Save as the next version' }).click();
    await expect(outcome(page)).resolves.toBe('Saved by the catalogue as version 2.');
    expect(await page.locator('table[aria-label="Plan versions"] tbody tr').count()).toBe(2);
    // The grants and price models carried over from version 1.
    const v2 = await catalogCall('GET', `/plans/${brandB}-plan`);
    expect([v2.version, v2.monthlyFee, (v2.grants as { seconds: number }[])[0]!.seconds]).toEqual([2, '35.00', 6000]);

    await page.goto(`${consoleService.apiUrl}/catalog/rating-rules/${brandB}-lca`);
    const rule = page.getByRole('form', { name: 'Rating rule settings' });
    await rule.getByLabel('Then increments of (s)').fill('0');
    await rule.getByRole('button', { name: 'Save as the next version' }).click();
    await expect(page.getByTestId('error-mainIncrement.seconds').textContent()).resolves.toMatch(/1/);
    await expect(rule.getByLabel('Then increments of (s)').inputValue()).resolves.toBe('0');
    await rule.getByLabel('Then increments of (s)').fill('6');
    await rule.getByRole('button', { name: 'Save as the next version' }).click();
    await expect(outcome(page)).resolves.toBe('Saved by the catalogue as version 2.');
    await page.goto(`${consoleService.apiUrl}/catalog`);
    await expect(page.locator(`tr[data-rule="${brandB}-lca"]`).textContent()).resolves.toContain('first 60 s up, then 6 s up');
    await expect(page.locator(`tr[data-plan="${brandB}-plan"]`).textContent()).resolves.toContain('35.00 USD');
    await page.close();
  });

  it("re-rates A's account after a rule change: the dry run shows each call's difference and changes nothing; applying commits a new version and drawdown gives the minutes back", async () => {
    await eventually('A has 93 minutes left', async () => ((await remainingA()) === 5580 ? true : undefined), 60_000);
    // Version 2 of A's rule: the first 30 s, then 6 s steps, both rounded up.
    await catalogCall('PUT', `/rating-rules/${brandA}-lca`, { companyId: brandA, usageType: 'LCA', effectiveFrom: '2026-01-01T00:00:00Z', freeSeconds: 0, freeMode: 'grace', minimumSeconds: 0, initialIncrement: { seconds: 30, rounding: 'up' }, mainIncrement: { seconds: 6, rounding: 'up' }, unit: 'second' });
    await catalog.outbox.drain();
    const page = await signIn(clerkKey);
    await page.getByRole('link', { name: 'Re-rating' }).click();
    const form = page.getByRole('form', { name: 'Re-rate' });
    await form.getByLabel('Re-rate').selectOption('account');
    await form.getByLabel('Brand code, account id or subscription id').fill(accountA);
    await form.getByLabel('Periods overlapping from (first day)').fill(new Date(anchor.getTime() - 86_400_000).toISOString().slice(0, 10));
    await form.getByLabel('to (last day)').fill(new Date().toISOString().slice(0, 10));
    await form.getByRole('button', { name: 'Dry run' }).click();
    await expect(page.getByTestId('rerate-outcome').textContent()).resolves.toContain('Dry run');
    // Per minute up before, 30 s then 6 s up now: 125 s 180 -> 30 + 16 x 6 = 126 (-54); 60 s 60 -> 60 (no change);
    // 30 s 60 -> 30 (-30); 90 s 120 -> 30 + 10 x 6 = 90 (-30). 114 s fewer drawn, all within the included minutes: 0.00.
    const cells = (row: string) => page.getByTestId(row).evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)));
    const differences = await cells('difference');
    expect(differences.map((d) => [d[3], d[4], d[5], d[6]]).sort()).toEqual([['changed', '-30', '0', '0.000000 USD'], ['changed', '-30', '0', '0.000000 USD'], ['changed', '-54', '0', '0.000000 USD']]);
    expect((await cells('adjustment')).map((a) => a.slice(2))).toEqual([['3', '-114', '0', '0.000000 USD']]);
    expect(await remainingA()).toBe(5580);

    await page.getByRole('button', { name: /^Apply: commit rating version 2/ }).click();
    await expect(page.getByTestId('rerate-outcome').textContent()).resolves.toContain('Applied: rating version 2 committed; 3 calls changed');
    // 5580 + 114 = 5694 s left: 94.9 minutes.
    expect(await remainingA()).toBe(5694);
    await page.goto(`${consoleService.apiUrl}/accounts/${accountA}`);
    await expect(page.locator('tr[data-bucket="lca-included"] [data-test="minutes-left"]').textContent()).resolves.toBe('94.9');
    await page.goto(`${consoleService.apiUrl}/usage?accountId=${accountA}`);
    await expect(page.getByTestId('usage-count').textContent()).resolves.toContain('306 billable s');
    await page.close();
  });

  it("charts a clerk's brand: usage and revenue per day agree with drawdown and bill-run, the collection rate with collect", async () => {
    const page = await signIn(clerkKey);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Charts' }).click();
    const values = (chart: string) => page.locator(`[data-test="${chart}"] rect[data-value]`).evaluateAll((rects) => rects.map((r) => r.getAttribute('data-value')!));
    const sum = (list: string[]) => list.reduce((a, b) => a.plus(b), new Decimal(0)).toFixed(2);
    // 30 columns, one per day; the calls as re-rated: 126 + 60 + 30 + 90 = 306 billable seconds.
    expect(await values('usage-chart')).toHaveLength(30);
    expect(sum(await values('usage-chart'))).toBe('306.00');
    // One invoice, period 0's fee of 30.00.
    expect(sum(await values('revenue-chart'))).toBe('30.00');
    // Only A's bar: its one invoice paid by the cheque.
    expect(await page.locator('[data-test="collection-chart"] rect title').allTextContents()).toEqual([`${brandA}: 100% (1 of 1 invoices paid)`]);
    await page.close();
  });

  it('poison on cdr.rejected and ops.dead-letter (garbage bytes, a null value, an unknown schema id) does not stop the feed: each is listed as what it is, and a good record behind them shows', async () => {
    const encodeRejection = serde.encoder<CdrRejectedRecord>(await serde.register(valueSubject(topics.cdrRejected.name), loadSchema('cdr.rejected')));
    const good = buildRejection({ stage: 'resolve', reason: 'unresolved_number', detail: `poison-${run}`, source, cdrId: 'after-poison', payload: Buffer.from('not redrivable'), payloadFormat: 'bytes', origin: { topic: null, partition: null, offset: null, file: null, line: null }, subject: `poison-${run}`, now: Date.now() });
    const unknownSchemaId = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0]), Buffer.from('payload')]);
    const poison = [Buffer.from('not avro at all'), null, unknownSchemaId];
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    // One partition each, so the good record is behind the poison in the order the reader meets them.
    const sent = await producer.sendBatch({
      topicMessages: [
        { topic: topics.cdrRejected.name, messages: [...poison.map((value) => ({ partition: 0, key: `poison-${run}`, value })), { partition: 0, key: source, value: encodeRejection(good), headers: { brand: brandA } }] },
        { topic: topics.deadLetter.name, messages: [...poison.map((value) => ({ partition: 0, key: `poison-${run}`, value })), { partition: 0, key: `poison-${run}`, value: Buffer.from('x'), headers: { brand: brandA, 'dlq-service': 'resolve', 'dlq-topic': topics.cdrAccepted.name, 'dlq-error-code': `poison_good_${run}`, 'dlq-error-message': 'behind the poison', 'dlq-at': String(Date.now()) } }] },
      ],
    });
    await producer.disconnect();
    const base = (topic: string) => BigInt(sent.find((m) => m.topicName === topic)!.baseOffset!);
    const at = (topic: string, i: number) => `${topic}:0:${base(topic) + BigInt(i)}`;

    const page = await signIn(parentKey);
    await eventually('the good records behind the poison listed', async () => {
      await page.goto(`${consoleService.apiUrl}/rejections?brand=${brandA}`);
      const shown = await page.locator('tr[data-record]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-record')));
      return shown.includes(at(topics.cdrRejected.name, 3)) && shown.includes(at(topics.deadLetter.name, 3)) ? true : undefined;
    }, 30_000);
    await expect(page.locator(`tr[data-record="${at(topics.cdrRejected.name, 3)}"]`).textContent()).resolves.toContain(`${source}/after-poison`);
    await expect(page.locator(`tr[data-record="${at(topics.deadLetter.name, 3)}"]`).textContent()).resolves.toContain(`poison_good_${run}`);
    // The poison itself, brandless, as the parent sees it: each rejection as unreadable (with the decoder's reason), not redrivable.
    await page.goto(`${consoleService.apiUrl}/rejections?brand=none&kind=rejected&reason=unreadable_rejection`);
    for (const i of [0, 1, 2]) {
      const row = page.locator(`tr[data-record="${at(topics.cdrRejected.name, i)}"]`);
      await expect(row.locator('td').nth(4).textContent()).resolves.toBe('unreadable_rejection');
      expect((await row.locator('td').nth(5).textContent())!.length).toBeGreaterThan(0);
      await expect(row.locator('td').nth(8).textContent()).resolves.toBe('no');
    }
    // Dead letters without their dlq-* headers: listed with an unknown reason, and not offered for redrive.
    await page.goto(`${consoleService.apiUrl}/rejections?brand=none&kind=dead-letter`);
    for (const i of [0, 1, 2]) await expect(page.locator(`tr[data-record="${at(topics.deadLetter.name, i)}"] td`).nth(8).textContent()).resolves.toBe('no');
    // A brand's clerk sees its brand's records, never the brandless poison.
    const clerk = await signIn(clerkKey);
    await clerk.goto(`${consoleService.apiUrl}/rejections`);
    const seen = await clerk.locator('tr[data-record]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-record')));
    expect(seen).toContain(at(topics.cdrRejected.name, 3));
    expect(seen.filter((r) => [0, 1, 2].some((i) => r === at(topics.cdrRejected.name, i) || r === at(topics.deadLetter.name, i)))).toEqual([]);
    await clerk.close();
    await page.close();
  });
});
