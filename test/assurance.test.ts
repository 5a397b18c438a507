import { describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import { spawnSync } from 'node:child_process';
import { consistencyRun, publishDiscrepancies } from '../cli/assurance.ts';
import type { InvoiceEvent } from '../contracts/invoice.ts';
import type { PaymentRecord } from '../contracts/payment.ts';
import type { CdrRawRecord, CdrRejectedRecord, UsageChargedRecord } from '../contracts/records.ts';
import { buildRejection } from '../contracts/rejection.ts';
import { kafkaOrigin } from '../contracts/records.ts';
import { BatchProducer, standardHeaders, type OutgoingMessage } from '../runtime/kafka.ts';
import { AvroSerde, loadSchema } from '../runtime/serde.ts';
import { applyTopics } from '../topics/apply.ts';
import { allTopics, brandTopics, topics, valueSubject } from '../topics/catalog.ts';
import { testConfig, testKafka, uniqueSuffix } from './helpers.ts';
import { invoiceEvent, readAll } from './support/collect-fixtures.ts';

/**
 * The consistency run over what the topics hold, with faults planted by writing the records a
 * faulty stage would have written: each is found exactly, with its ids, and nothing else is.
 */
const run = uniqueSuffix();
const config = testConfig('assurance');
const kafka = testKafka();
const serde = new AvroSerde(config.registry.url);
const clean = `assure-clean-${run}`;
const faulty = `assure-faulty-${run}`;
const brand = `t${run}-as`;
const cleanBrand = `t${run}-ac`;
const START = Date.UTC(2026, 2, 1, 15);

function cdr(source: string, cdrId: string): CdrRawRecord {
  return { source, cdrId, callingNumber: '+12125550123', calledNumber: '+18005550100', usageType: 'LCA', startTime: START, endTime: START + 60_000, durationSeconds: 60, attributes: {}, receivedAt: START };
}

function charge(source: string, cdrId: string, eventId = `u-${source}-${cdrId}`): UsageChargedRecord {
  const amount = new Decimal('0.10');
  return {
    eventId, source, cdrId, callingNumber: null, calledNumber: '+18005550100', usageType: 'LCA', startTime: START, endTime: START + 60_000, durationSeconds: 60, attributes: {},
    brand, accountId: `acct-${run}`, subscriptionId: `sub-${run}`, assignmentId: 'a1', productId: 'lca', ratingVersion: 1, ruleId: 'r', ruleVersion: 1, billableSeconds: 60, ratedAt: START,
    periodStart: START, periodEnd: START + 30 * 86_400_000, planId: 'p', planVersion: 1, includedSeconds: 0, overageSeconds: 60, draws: [], currency: 'USD', amount,
    tiers: [{ tier: 1, units: new Decimal(1), unitPrice: amount, amount, seconds: 60, flatFee: new Decimal(0) }], chargedAt: START, chargeSequence: 1,
  };
}

function rejection(source: string, cdrId: string): CdrRejectedRecord {
  return buildRejection({ stage: 'resolve', reason: 'unresolved_number', detail: 'not assigned', source, cdrId, payload: Buffer.from('x'), payloadFormat: 'avro-confluent', origin: kafkaOrigin(topics.cdrAccepted.name, 0, '1'), subject: `${source}/${cdrId}`, now: START });
}

function payment(invoiceId: string, eventId: string): PaymentRecord {
  return {
    paymentId: eventId, invoiceId, brand, accountId: `acct-${run}`, attempt: 1, gateway: 'stripe', gatewayReference: 'pi_1', status: 'SUCCEEDED', failureKind: null, failureMessage: null,
    currency: 'USD', amount: new Decimal('10.00'), occurredAt: START, kind: 'charge', eventId, methodLabel: 'Visa ending 4242', creditBalanceChange: null, creditNoteId: null,
  };
}

async function send(byTopic: Record<string, { schema: string; records: { key: string; value: unknown; eventId: string }[] }>): Promise<void> {
  const producer = await BatchProducer.connect(kafka);
  try {
    const out: Record<string, OutgoingMessage[]> = {};
    for (const [topic, { schema, records }] of Object.entries(byTopic)) {
      const encode = serde.encoder<unknown>(await serde.register(valueSubject(topic), loadSchema(schema)));
      out[topic] = records.map((r) => ({ key: r.key, value: encode(r.value), headers: standardHeaders({ eventId: r.eventId }) }));
    }
    await producer.send(out);
  } finally {
    await producer.stop();
  }
}

describe('the consistency run (rateline assurance run)', () => {
  it('reports a clean chain in one line, and finds each planted fault exactly, with its ids and nothing else', { timeout: 120_000 }, async () => {
    await applyTopics(kafka, serde, allTopics([brand, cleanBrand]));
    const today = new Date().toISOString().slice(0, 10); // the UTC day the planted CDRs arrive on cdr.raw
    const good = (n: number) => invoiceEvent({ invoiceId: `inv-${run}-${n}`, brand, accountId: `acct-${run}`, currency: 'USD', total: '10.00', issuedAt: START, dueAt: START });
    const numbered = (e: InvoiceEvent, n: number): InvoiceEvent => ({ ...e, invoiceNumber: `${brand.toUpperCase()}-${String(n).padStart(6, '0')}` });
    // Invoice 2's lines say 10.00 and its subtotal 12.00; invoice 3 was never published (4 follows 2).
    const wrong: InvoiceEvent = { ...numbered(good(2), 2), subtotal: new Decimal('12.00'), total: new Decimal('12.00') };
    const cleanInvoice = { ...invoiceEvent({ invoiceId: `inv-${run}-c1`, brand: cleanBrand, accountId: `acct-${run}`, currency: 'USD', total: '10.00', issuedAt: START, dueAt: START }), invoiceNumber: `${cleanBrand.toUpperCase()}-000001` };
    await send({
      // Clean source: a charged, b rejected, c sent twice (charged once, then rejected as a duplicate).
      // Faulty source: d arrived and never came out; e charged under two event ids in one version.
      [topics.cdrRaw.name]: { schema: 'cdr.raw', records: [[clean, 'a'], [clean, 'b'], [clean, 'c'], [clean, 'c'], [faulty, 'd'], [faulty, 'e']].map(([s, id]) => ({ key: `${s}/${id}`, value: cdr(s!, id!), eventId: `${s}/${id}` })) },
      [topics.usageCharged.name]: { schema: 'usage.charged', records: [charge(clean, 'a'), charge(clean, 'c'), charge(faulty, 'e'), charge(faulty, 'e', `u-${faulty}-e-again`)].map((u) => ({ key: u.accountId, value: u, eventId: u.eventId })) },
      [topics.cdrRejected.name]: { schema: 'cdr.rejected', records: [rejection(clean, 'b'), { ...rejection(clean, 'c'), eventId: `dup-${run}` }].map((r) => ({ key: r.source!, value: r, eventId: r.eventId })) },
      [brandTopics(brand).invoices.name]: { schema: 'invoice', records: [numbered(good(1), 1), wrong, numbered(good(4), 4)].map((i) => ({ key: i.accountId, value: i, eventId: i.invoiceId })) },
      [brandTopics(cleanBrand).invoices.name]: { schema: 'invoice', records: [{ key: cleanInvoice.accountId, value: cleanInvoice, eventId: cleanInvoice.invoiceId }] },
      // A payment for invoice 1, and one for an invoice nobody issued.
      [brandTopics(brand).payments.name]: { schema: 'payment', records: [payment(`inv-${run}-1`, `pay-${run}-1`), payment(`inv-${run}-404`, `pay-${run}-404`)].map((p) => ({ key: p.accountId, value: p, eventId: p.eventId! })) },
    });

    const cleanReport = await consistencyRun(kafka, serde, { sources: [clean], brands: [cleanBrand] });
    expect(cleanReport.verdict).toBe('clean: 4 CDRs, 0 control totals, 0 charges, 1 invoices, 0 payment events agree');
    expect(cleanReport.discrepancies).toEqual([]);

    const report = await consistencyRun(kafka, serde, { sources: [faulty], brands: [brand] });
    expect(report.discrepancies.map((d) => [d.check, d.scope, d.ids])).toEqual([
      ['cdr_double_charge', `${faulty} e`, [`u-${faulty}-e`, `u-${faulty}-e-again`]],
      ['cdr_balance', `${faulty} ${today}`, ['d']],
      ['invoice_arithmetic', `${brand} ${brand.toUpperCase()}-000002`, [`inv-${run}-2`]],
      ['invoice_numbering', brand, []],
      // The four planted charges are on usage.charged, and no drawdown control total counts them.
      ['charged_vs_control', `${brand} 2026-03-01`, []],
      ['payment_without_invoice', brand, [`pay-${run}-404`]],
    ]);
    // Invoice 2: its one line says 10.00 against a 12.00 subtotal (12.00 + no tax is its total, which it asks).
    expect(report.discrepancies.filter((d) => d.check === 'invoice_arithmetic').map((d) => [d.expected, d.found])).toEqual([['subtotal 10.00 (the lines\' sum)', 'subtotal 12.00']]);
    expect(report.discrepancies.find((d) => d.check === 'invoice_numbering')!.found).toBe('1 missing: 3');
    // 4 × 0.10 = 0.40 for 4 × 60 s.
    expect(report.discrepancies.find((d) => d.check === 'charged_vs_control')!.found).toBe('4 calls, 240 s, 0.40 USD on usage.charged');
    expect(report.verdict).toBe('6 discrepancies in 2 CDRs, 0 control totals, 4 charges, 3 invoices, 2 payment events');

    // Each finding is an event on ops.discrepancies, and the CLI exits 1 and prints them.
    await publishDiscrepancies(kafka, serde, report);
    const published = (await readAll<{ runId: string; check: string }>(kafka, serde, [topics.discrepancies.name])).filter((r) => r.value.runId === report.runId);
    expect(published.map((r) => r.value.check).sort()).toEqual(['cdr_balance', 'cdr_double_charge', 'charged_vs_control', 'invoice_arithmetic', 'invoice_numbering', 'payment_without_invoice']);
    const cli = spawnSync(process.execPath, ['--import', 'tsx', 'cli/rateline.ts', 'assurance', 'run', '--source', clean, '--brand', cleanBrand], { env: { ...process.env, KAFKA_BROKERS: config.kafka.brokers.join(','), SCHEMA_REGISTRY_URL: config.registry.url }, encoding: 'utf8' });
    expect({ status: cli.status, out: cli.stdout.trim().replace(/consistency-[0-9a-f-]+/, 'ID') }).toEqual({ status: 0, out: 'consistency run ID: clean: 4 CDRs, 0 control totals, 0 charges, 1 invoices, 0 payment events agree' });
  });
});
