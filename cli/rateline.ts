#!/usr/bin/env node
// Each command loads what it needs when it runs (dynamic imports below): `stack status` or a
// usage line should not wait for every service, SDK and renderer to load.
import { basename } from 'node:path';
import { InvalidInputError, RatelineError } from '../runtime/errors.ts';
import { parseOptions } from './context.ts';

const DEMO_BRANDS = ['ansr-us', 'ansr-uk', 'lca-ca'];

const usage = `rateline <command>

  demo                      start the local stack if needed, apply topics and schemas,
                            produce a sample CDR and read it back, run the pipeline, a bill
                            run and the notifications on the sample data, then keep the
                            operations console running on it until Ctrl-C (npm start)
  stack up|down|status      start, stop or show the local Kafka, schema registry and PostgreSQL
  redrive --reason r [--stage s] [--source src] [--since ISO] [--dry-run]
                            send rejected records back to the stage that rejected them, once the
                            cause is fixed (e.g. --reason unresolved_number after a number is assigned)
  dlq list [--service s] [--code c] [--topic t] [--since ISO] [--until ISO] [--limit n] [--json]
                            the records on ops.dead-letter, one a line, and counts by service and code
  dlq show <partition>:<offset>
                            one dead-letter record: headers, key, value decoded (Avro) or previewed
  dlq redrive (same filters | --all) [--dry-run]
                            send matching dead-letter records back to the topic they came from,
                            with their original key, value and headers, each once
  assurance run [--source s]... [--brand b]... [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--json]
                            the consistency run: CDRs in = charged + rejected, nothing charged twice,
                            invoices add up and are numbered without gaps, no payment without an
                            invoice; findings on ops.discrepancies; exit 1 when something disagrees
  run [--services a,b|all]  run services in this process until Ctrl-C (default: ingest, resolve,
                            rate, drawdown; all: also catalog, billrun, collect, ageing,
                            notify, usage-alerts, advisor, plan-swaps)
  documents samples [dir]   write sample invoice and receipt documents (HTML, PDF, email) of two
                            brands (default docs/samples/)
  rerate (--brand b | --account a | --subscription s) --from ISO --to ISO [--replay-from ISO] [--dry-run]
                            re-rate the billing periods overlapping [from, to) under the current
                            rules and plans, replaying usage.resolved; prints per-CDR differences
  reference load [file]     validate a reference file (brands, numbers, plans, subscriptions,
                            rating rules) and publish it to the ref.* topics (default: the sample)
  topics apply [--brands a,b] [--dry-run]
                            create or update topics and register schemas; prints what changed
  cdr-file <path> --mapping asterisk|freeswitch|rateline [--zone America/New_York]
           [--usage-type LCA] [--source asterisk-nyc-1]
                            publish a CDR CSV file to cdr.raw (bad lines to cdr.rejected with
                            file and line) and print the job summary; the same file twice
                            publishes nothing new. --zone: the platform's time zone (default
                            UTC); --source: the platform the file came from (default: the
                            mapping name; give each server its own, CDR ids are unique per server)
  rate-file --reference <reference.json> --cdrs <file.csv> --mapping asterisk|freeswitch|rateline
           [--zone UTC] [--usage-type LCA] [--source <platform>] [--plan <planId>:<version>]
                            rate a CDR file offline (no Kafka, no database): charged usage as JSON
                            lines on stdout, rejections and a closing summary as JSON lines on
                            stderr; --plan puts every subscription on that plan (what-if)

Environment: KAFKA_BROKERS, SCHEMA_REGISTRY_URL, DATABASE_URL point at existing servers instead
of the local stack; RATELINE_HOME moves the local stack's folder (default .rateline/).`;

const print = (line: string) => process.stdout.write(`${line}\n`);

function brandsOption(options: Record<string, string | true>): string[] {
  const raw = options.brands ?? process.env.RATELINE_BRANDS;
  return typeof raw === 'string' ? raw.split(',').map((b) => b.trim()).filter(Boolean) : DEMO_BRANDS;
}

async function main(argv: string[]): Promise<number> {
  const { positional, options } = parseOptions(argv);
  const [command, sub] = positional;
  switch (command) {
    case 'stack': {
      const { startStack, stopStack, runningStackEndpoints, stackHome } = await import('../infra/stack/index.ts');
      if (sub === 'up') {
        const t0 = Date.now();
        const endpoints = await startStack({ log: print });
        for (const line of endpoints.started) print(line);
        print(`stack up in ${((Date.now() - t0) / 1000).toFixed(1)} s (logs and data in ${stackHome()})`);
        print(`  KAFKA_BROKERS=${endpoints.kafkaBrokers}\n  SCHEMA_REGISTRY_URL=${endpoints.schemaRegistryUrl}\n  DATABASE_URL=${endpoints.databaseUrl}`);
        return 0;
      }
      if (sub === 'down') {
        const stopped = await stopStack();
        print(stopped.length ? `stopped ${stopped.join(', ')}` : 'nothing was running');
        return 0;
      }
      if (sub === 'status') {
        const endpoints = runningStackEndpoints();
        print(endpoints ? `running:\n  KAFKA_BROKERS=${endpoints.kafkaBrokers}\n  SCHEMA_REGISTRY_URL=${endpoints.schemaRegistryUrl}\n  DATABASE_URL=${endpoints.databaseUrl}` : 'not running (start it with: npm run stack -- up)');
        return endpoints ? 0 : 3;
      }
      break;
    }
    case 'topics': {
      if (sub !== 'apply') break;
      const [{ cliConfig }, { createKafka }, { AvroSerde }, { silentLogger }, { allTopics }, { applyTopics }] = await Promise.all([import('./context.ts'), import('../runtime/kafka.ts'), import('../runtime/serde.ts'), import('../runtime/log.ts'), import('../topics/catalog.ts'), import('../topics/apply.ts')]);
      const config = cliConfig('topics');
      const changes = await applyTopics(createKafka(config.kafka, silentLogger), new AvroSerde(config.registry.url), allTopics(brandsOption(options)), { dryRun: options['dry-run'] === true });
      print(changes.length === 0 ? 'no changes: every topic and schema already matches' : changes.join('\n'));
      return 0;
    }
    case 'cdr-file': {
      if (sub === undefined) break;
      const [{ cliConfig }, { checkFileJobParams, formatSummary, runFileJobWithConfig }] = await Promise.all([import('./context.ts'), import('../services/ingest/file-job.ts')]);
      const text = (name: string) => (typeof options[name] === 'string' ? (options[name] as string) : options[name] === true ? '' : undefined);
      const mapping = text('mapping');
      const checked = checkFileJobParams({ mapping, zone: text('zone'), usageType: text('usage-type'), source: text('source') ?? mapping, fileName: basename(sub) });
      if (!checked.ok) throw new InvalidInputError('invalid_parameters', `cdr-file:\n  - ${checked.problems.join('\n  - ')}`);
      const summary = await runFileJobWithConfig(cliConfig('cdr-file'), { ...checked.value, path: sub });
      print(formatSummary(summary));
      return 0;
    }
    case 'rate-file': {
      const { rateFileCommand } = await import('./rate-file.ts');
      return rateFileCommand(options, { out: print, err: (line) => process.stderr.write(`${line}\n`) });
    }
    case 'demo': {
      const [{ ensureStackConfig }, { runDemo }, { runPipelineDemo }, { runBillingDemo }, { runNotifyDemo }, { startConsoleDemo }] = await Promise.all([import('./context.ts'), import('./demo.ts'), import('./pipeline-demo.ts'), import('./billing-demo.ts'), import('./notify-demo.ts'), import('./console-demo.ts')]);
      const t0 = Date.now();
      print('starting the local stack (Kafka, schema registry, PostgreSQL) where the environment does not name one...');
      const config = await ensureStackConfig('demo', print);
      print(`stack ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: Kafka ${config.kafka.brokers.join(',')}, registry ${config.registry.url}`);
      const { sent, received } = await runDemo(config, brandsOption(options), print);
      const same = JSON.stringify(sent) === JSON.stringify(received);
      print(same ? 'OK: the CDR read back equals the one sent.' : 'MISMATCH: the CDR read back differs from the one sent.');
      print('\nthe mediation pipeline (ingest -> resolve -> rate -> drawdown) on the sample reference data:');
      const result = await runPipelineDemo(config, print);
      print('\nthe bill run (bill-run service, on a clock set to the sample brands\' next anniversaries):');
      const billing = await runBillingDemo(config, DEMO_BRANDS, result.run, print);
      print('\nthe notifications (notify service: each invoice as the brand\'s email with its PDF, written as .eml files):');
      const mails = await runNotifyDemo(config, DEMO_BRANDS, billing.invoiceIds, result.run, print);
      const ok = same && result.charged + result.rejected === result.sent && billing.invoices > 0 && billing.held === 0 && mails.sent === billing.invoices;
      print('\nThe stack keeps running for the next command; stop it with: npm run stack -- down');
      print(`demo done in ${((Date.now() - t0) / 1000).toFixed(1)} s${ok ? '' : ' (with the problems above)'}; the console on its data:\n`);
      const consoleDemo = await startConsoleDemo(config, print);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      print('stopping the console and its services...');
      await consoleDemo.stop();
      return ok ? 0 : 1;
    }
    case 'run': {
      // Services in this process, until SIGTERM or SIGINT: the mediation four by default, or --services a,b / all.
      const [{ cliConfig }, { allServices, startPipeline }, { defaultDeps }] = await Promise.all([import('./context.ts'), import('../services/all.ts'), import('../runtime/service.ts')]);
      const config = { ...cliConfig('pipeline'), http: { host: '127.0.0.1', port: 0 } };
      const requested = typeof options.services === 'string' ? options.services : 'ingest,resolve,rate,drawdown';
      const names = (requested === 'all' ? Object.keys(allServices) : requested.split(',').map((n) => n.trim())) as (keyof typeof allServices)[];
      const unknown = names.filter((n) => !(n in allServices));
      if (unknown.length > 0) throw new InvalidInputError('invalid_parameters', `run: unknown services ${unknown.join(', ')} (known: ${Object.keys(allServices).join(', ')})`);
      const pipeline = await startPipeline(config, defaultDeps('pipeline', config), names);
      print(`${names.join(', ')} running (ops endpoints: ${pipeline.url}); Ctrl-C stops them`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await pipeline.stop();
      return 0;
    }
    case 'redrive': {
      const reason = options.reason;
      if (typeof reason !== 'string') throw new InvalidInputError('invalid_parameters', 'redrive: --reason <code> is required, e.g. --reason unresolved_number');
      const since = typeof options.since === 'string' ? Date.parse(options.since) : undefined;
      const [{ cliConfig }, { redrive }] = await Promise.all([import('./context.ts'), import('./redrive.ts')]);
      if (since !== undefined && Number.isNaN(since)) throw new InvalidInputError('invalid_parameters', `redrive: --since ${String(options.since)} is not an ISO instant`);
      const report = await redrive(cliConfig('redrive'), {
        reason,
        ...(typeof options.stage === 'string' ? { stage: options.stage } : {}),
        ...(typeof options.source === 'string' ? { source: options.source } : {}),
        ...(since !== undefined ? { since } : {}),
        dryRun: options['dry-run'] === true,
      });
      print(`scanned ${report.scanned} rejections, ${report.matched} matched ${reason}`);
      if (report.notRedrivable > 0) print(`  ${report.notRedrivable} matching rejections are file lines (CSV), not records: fix the file and upload it again`);
      for (const [topic, n] of Object.entries(report.republished)) print(`  ${options['dry-run'] === true ? 'would republish' : 'republished'} ${n} to ${topic}`);
      return 0;
    }
    case 'dlq': {
      const [{ cliConfig }, { dlqCommand }] = await Promise.all([import('./context.ts'), import('./dlq.ts')]);
      return dlqCommand(argv.slice(1), cliConfig('dlq'), print);
    }
    case 'assurance': {
      const [{ cliConfig }, { assuranceCommand }] = await Promise.all([import('./context.ts'), import('./assurance.ts')]);
      return assuranceCommand(argv.slice(1), cliConfig('assurance'), print);
    }
    case 'rerate': {
      const [{ cliConfig }, { runRerate }] = await Promise.all([import('./context.ts'), import('./rerate.ts')]);
      await runRerate(cliConfig('rerate'), options, print);
      return 0;
    }
    case 'documents': {
      if (sub !== 'samples') break;
      const { writeSamples } = await import('../documents/samples.ts');
      const written = await writeSamples(positional[2] ?? 'docs/samples');
      print(`wrote ${written.length} files:\n  ${written.join('\n  ')}`);
      return 0;
    }
    case 'reference': {
      if (sub !== 'load') break;
      const [{ cliConfig }, { publishReferenceFile, SAMPLE_REFERENCE }] = await Promise.all([import('./context.ts'), import('./pipeline-demo.ts')]);
      const file = positional[2] ?? SAMPLE_REFERENCE;
      const counts = await publishReferenceFile(cliConfig('reference'), file);
      print(`published ${file}: ${Object.entries(counts).map(([t, n]) => `${n} to ${t}`).join(', ')}`);
      return 0;
    }
  }
  print(usage);
  return command === undefined || command === 'help' ? 0 : 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const message = err instanceof RatelineError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    process.stderr.write(`rateline: ${message}\n`);
    if (process.env.DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  },
);
