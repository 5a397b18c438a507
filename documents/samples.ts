/**
 * Writes sample invoices and receipts of two brands (HTML and PDF) built by the real
 * domain code:
 *
 *   npx tsx documents/samples.ts [outDir]     (default docs/samples/)
 *
 * The output is deterministic: running it again gives the same bytes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ukInvoice, usInvoice, receiptFor } from './fixtures.ts';
import { builtinDocumentRenderers, renderInvoiceDocuments, renderReceiptDocuments } from './renderer.ts';

export async function writeSamples(outDir: string): Promise<string[]> {
  mkdirSync(outDir, { recursive: true });
  const registry = builtinDocumentRenderers();
  const written: string[] = [];
  const write = (name: string, data: string | Uint8Array): void => {
    const path = join(outDir, name);
    writeFileSync(path, data);
    written.push(path);
  };
  const samples = [
    { slug: 'answerline-us', built: usInvoice(), method: 'Visa •••• 4242', ref: 'pi_3Qx7ANSR0412sample' },
    { slug: 'qrs-uk', built: ukInvoice(), method: 'PayPal (p•••@hartleyrowe.example)', ref: '8MC58520QRS087SMP' },
  ];
  for (const { slug, built, method, ref } of samples) {
    const invoice = await renderInvoiceDocuments(registry, built.input);
    write(`${slug}-invoice.html`, invoice.html);
    write(`${slug}-invoice.pdf`, invoice.pdf);
    write(`${slug}-invoice-email.html`, invoice.email.html);
    write(`${slug}-invoice-email.txt`, `Subject: ${invoice.email.subject}\nFrom: ${invoice.email.from.name} <${invoice.email.from.address}>\nTo: ${invoice.email.to.name} <${invoice.email.to.address}>\n\n${invoice.email.text}\n`);
    const receipt = await renderReceiptDocuments(registry, receiptFor(built.input, method, ref));
    write(`${slug}-receipt.html`, receipt.html);
    write(`${slug}-receipt.pdf`, receipt.pdf);
  }
  return written;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = process.argv[2] ?? 'docs/samples';
  writeSamples(outDir).then(
    (files) => {
      for (const f of files) console.log(`wrote ${f}`);
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
