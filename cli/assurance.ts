import { parseArgs } from 'node:util';
import type { RuntimeConfig } from '../runtime/config.ts';
import { InvalidInputError } from '../runtime/errors.ts';
import { createKafka } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { writeReport } from '../services/assurance/report.ts';
import { gatewaysFromEnv } from '../services/assurance/gateways.ts';
import { consistencyRun, publishDiscrepancies, type ConsistencyScope } from '../services/assurance/run.ts';

export { consistencyRun, publishDiscrepancies } from '../services/assurance/run.ts';

export const assuranceUsage = `rateline assurance run [--source s]... [--brand b]... [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--json] [--out dir]
  the consistency run on demand (services/assurance runs it after each brand's bill run):
  CDRs in = charged + rejected, record by record and along the stages' control totals; no CDR
  charged twice; invoices add up, are numbered without gaps and match the bill run's figures;
  charged usage = invoiced usage per subscription and period; a sample re-rated offline gives
  the live figures; drawn + overage = billable; no invoice holds more than it asks; no payment
  without an invoice. Publishes each finding on ops.discrepancies; --out writes the report as
  JSON and HTML; exit 0 when clean, 1 when something disagrees`;

export async function assuranceCommand(args: string[], config: RuntimeConfig, out: (line: string) => void): Promise<number> {
  const [command, ...rest] = args;
  if (command !== 'run') throw new InvalidInputError('invalid_parameters', assuranceUsage);
  const { values } = parseArgs({
    args: rest,
    options: { source: { type: 'string', multiple: true }, brand: { type: 'string', multiple: true }, from: { type: 'string' }, to: { type: 'string' }, json: { type: 'boolean' }, out: { type: 'string' } },
    strict: true,
  });
  for (const [name, v] of [['from', values.from], ['to', values.to]] as const) {
    if (v !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(v)) throw new InvalidInputError('invalid_parameters', `--${name} "${v}" is not YYYY-MM-DD`);
  }
  const scope: ConsistencyScope = { sources: values.source ?? [], brands: values.brand ?? [], ...(values.from ? { from: values.from } : {}), ...(values.to ? { to: values.to } : {}) };
  if (scope.sources.length === 0 && scope.brands.length === 0) throw new InvalidInputError('invalid_parameters', `name at least one --source or --brand\n\n${assuranceUsage}`);
  const kafka = createKafka(config.kafka, silentLogger);
  const serde = new AvroSerde(config.registry.url);
  const report = await consistencyRun(kafka, serde, scope, Date.now(), { gatewayFor: gatewaysFromEnv() });
  await publishDiscrepancies(kafka, serde, report);
  if (values.out) await writeReport(values.out, `${[...scope.brands, ...scope.sources].join('+')}-${scope.from ?? 'start'}-${scope.to ?? 'now'}`, report);
  if (values.json) out(JSON.stringify(report, null, 2));
  else {
    out(`consistency run ${report.runId}: ${report.verdict}`);
    for (const note of report.notes) out(`  note: ${note}`);
    for (const d of report.discrepancies) out(`  ${d.check} ${d.scope}: expected ${d.expected}, found ${d.found}${d.ids.length > 0 ? ` (${d.ids.slice(0, 10).join(', ')}${d.ids.length > 10 ? ', …' : ''})` : ''}`);
  }
  return report.discrepancies.length === 0 ? 0 : 1;
}
