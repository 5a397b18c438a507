import { rerateScope, type RerateReport, type RerateScope } from '../services/drawdown/rerate.ts';
import type { RuntimeConfig } from '../runtime/config.ts';
import { InvalidInputError } from '../runtime/errors.ts';
import { defaultDeps } from '../runtime/service.ts';
import { silentLogger } from '../runtime/log.ts';

/** Parses the rerate command's options, reporting every problem at once. */
export function rerateScopeFrom(options: Record<string, string | true>): { scope: RerateScope; dryRun: boolean; replayFrom?: number } {
  const problems: string[] = [];
  const text = (name: string) => (typeof options[name] === 'string' ? (options[name] as string) : undefined);
  const instant = (name: string, required: boolean) => {
    const raw = text(name);
    if (raw === undefined) {
      if (required) problems.push(`--${name} <ISO instant> is required`);
      return undefined;
    }
    const ms = Date.parse(raw);
    if (Number.isNaN(ms) || !/[zZ]|[+-]\d\d:?\d\d$/.test(raw)) problems.push(`--${name} ${raw} must be an ISO instant with an offset, e.g. 2026-03-01T00:00:00Z`);
    return ms;
  };
  const scope = { brand: text('brand'), accountId: text('account'), subscriptionId: text('subscription'), from: instant('from', true) ?? 0, to: instant('to', true) ?? 0 };
  if (!scope.brand && !scope.accountId && !scope.subscriptionId) problems.push('name what to re-rate: --brand, --account or --subscription');
  if (scope.to <= scope.from && problems.length === 0) problems.push('--to must be after --from');
  const replayFrom = instant('replay-from', false);
  if (problems.length > 0) throw new InvalidInputError('invalid_parameters', `rerate:\n  - ${problems.join('\n  - ')}`);
  return { scope: { ...scope } as RerateScope, dryRun: options['dry-run'] === true, ...(replayFrom !== undefined ? { replayFrom } : {}) };
}

export async function runRerate(config: RuntimeConfig, options: Record<string, string | true>, print: (line: string) => void): Promise<RerateReport> {
  const { scope, dryRun, replayFrom } = rerateScopeFrom(options);
  const deps = { ...defaultDeps('rerate', config), logger: silentLogger };
  const report = await rerateScope(config, deps, scope, { dryRun, ...(replayFrom !== undefined ? { replayFrom } : {}) });
  print(`re-rating ${report.periods.length} period(s), ${report.usages} usage(s), as rating version ${report.ratingVersion}`);
  for (const d of report.differences.slice(0, 50)) {
    print(`  ${d.eventId} ${d.subscriptionId} ${d.usageType} ${d.kind}: included ${d.includedSeconds >= 0 ? '+' : ''}${d.includedSeconds} s, overage ${d.overageSeconds >= 0 ? '+' : ''}${d.overageSeconds} s, ${d.amount.toFixed(6)} ${d.currency}`);
  }
  if (report.differences.length > 50) print(`  ... and ${report.differences.length - 50} more`);
  for (const a of report.adjustments) {
    print(`adjustment ${a.subscriptionId} period from ${new Date(a.periodStart).toISOString()}: ${a.amount.toFixed(6)} ${a.currency} (${a.differences.length} usages)`);
  }
  if (report.rejections > 0) print(`${report.rejections} usage(s) could not be re-rated (see cdr.rejected reasons with the rate-file command)`);
  print(report.committed ? `committed rating version ${report.ratingVersion}; new charges on usage.charged, differences on usage.rerated` : (report.note ?? 'nothing committed'));
  return report;
}
