import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControllableClock } from '../domain/billrun/index.ts';
import { stackHome } from '../infra/stack/index.ts';
import type { RuntimeConfig } from '../runtime/config.ts';
import { createKafka } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { startBillRun } from '../services/billrun/index.ts';
import { issueKeys } from '../topics/api-keys.ts';

/** The sample brands' bill run as of this instant: after the March anniversaries of the sample subscriptions. */
export const DEMO_BILLING_AT = '2026-04-02T12:00:00Z';

/**
 * The billing half of the main job: the bill-run service on a clock set to DEMO_BILLING_AT
 * invoices the demo run's subscriptions (fee in advance, the usage the pipeline just charged in
 * arrears), publishes the invoices on brand.<code>.invoices, and the PDFs are written under the
 * stack's home for a person to open.
 */
export async function runBillingDemo(config: RuntimeConfig, brands: string[], run: string, print: (line: string) => void): Promise<{ invoices: number; held: number; invoiceIds: string[] }> {
  const clock = new ControllableClock(Date.parse(DEMO_BILLING_AT));
  const kafka = createKafka(config.kafka, silentLogger);
  const serde = new AvroSerde(config.registry.url);
  // The demo reads the PDFs on the API like a brand platform would: with a parent key of its own,
  // published on ref.api-keys before the service starts (no catalogue here), expiring in an hour.
  const [key] = await issueKeys(kafka, serde, [{ brand: null, expiresAt: clock.now() + 3_600_000 }]);
  const billRun = await startBillRun(config, { kafka, serde, logger: silentLogger, clock }, {
    intervalMs: 0,
    brands,
    // The sample's anniversaries from 1 March on; 45 days of catch-up reach them from 2 April.
    settings: { since: new Date('2026-03-01T00:00:00Z'), maxCatchUpDays: 45 },
    // A first start reads all of usage.charged; the demo's usage must be stored before it bills.
    usageDrainMs: 600_000,
  });
  try {
    const report = await billRun.runNow();
    const mine = report.brands.flatMap((b) => b.invoiced.filter((i) => i.subscriptionId.endsWith(`-${run}`)));
    const held = report.brands.flatMap((b) => b.held.filter((h) => h.subscriptionId.endsWith(`-${run}`)));
    print(`bill run at ${DEMO_BILLING_AT}: ${mine.length} invoices for this run's subscriptions, published to ${brands.map((b) => `brand.${b}.invoices`).join(', ')}`);
    const folder = join(stackHome(), 'invoices', run);
    mkdirSync(folder, { recursive: true });
    print(`  ${'invoice'.padEnd(16)} ${'subscription'.padEnd(30)} period  total`);
    for (const invoice of mine) {
      print(`  ${invoice.invoiceNumber.padEnd(16)} ${invoice.subscriptionId.padEnd(30)} ${String(invoice.periodIndex).padStart(6)}  ${invoice.total} ${invoice.currency}`);
      const pdf = await fetch(`${billRun.apiUrl}/invoices/${encodeURIComponent(invoice.invoiceId)}.pdf`, { headers: { 'x-api-key': key!.key } });
      if (pdf.ok) writeFileSync(join(folder, `${invoice.invoiceNumber}.pdf`), Buffer.from(await pdf.arrayBuffer()));
      else print(`    (no PDF: ${await pdf.text()})`);
    }
    for (const h of held) print(`  held ${h.subscriptionId} period ${h.periodIndex}: ${h.code} ${h.message}`);
    print(`invoice PDFs written to ${folder}`);
    return { invoices: mine.length, held: held.length, invoiceIds: mine.map((i) => i.invoiceId) };
  } finally {
    await billRun.stop();
  }
}
