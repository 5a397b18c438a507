import { runningStackEndpoints, startStack } from '../infra/stack/index.ts';
import { loadRuntimeConfig, type RuntimeConfig } from '../runtime/config.ts';

/** Config for a CLI command: the environment first, else the local stack `stack up` recorded. */
export function cliConfig(name: string): RuntimeConfig {
  return loadRuntimeConfig(name, process.env, runningStackEndpoints() ?? {});
}

/** Starts (or reuses) the local stack for the parts the environment does not provide, then loads config. */
export async function ensureStackConfig(name: string, log: (line: string) => void): Promise<RuntimeConfig> {
  const endpoints = await startStack({ log });
  return loadRuntimeConfig(name, { ...process.env, KAFKA_BROKERS: endpoints.kafkaBrokers, SCHEMA_REGISTRY_URL: endpoints.schemaRegistryUrl, DATABASE_URL: endpoints.databaseUrl });
}

/** Parses `--name value` and `--flag` options after the positional arguments. */
export function parseOptions(args: string[]): { positional: string[]; options: Record<string, string | true> } {
  const positional: string[] = [];
  const options: Record<string, string | true> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    const next = args[i + 1];
    if (inline !== undefined) options[name] = inline;
    else if (next !== undefined && !next.startsWith('--')) {
      options[name] = next;
      i++;
    } else options[name] = true;
  }
  return { positional, options };
}
