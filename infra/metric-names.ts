import fs from 'node:fs';
import path from 'node:path';
import { createServiceMetrics } from '../runtime/metrics.ts';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/**
 * Every metric a rateline service exports: what the shared registry holds (runtime/metrics.ts and
 * prom-client's defaults under the rateline_ prefix), and each metric a service creates itself,
 * found in the source by prom-client's `name: 'rateline_…'` option. The alert rules' and the
 * dashboards' tests check what they query against it.
 */
export async function exportedMetricNames(): Promise<Set<string>> {
  const names = new Set((await createServiceMetrics('inventory').registry.getMetricsAsJSON()).map((m) => m.name));
  const walk = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path.join(dir, e.name)] : []));
  for (const file of [...walk(path.join(root, 'services')), ...walk(path.join(root, 'runtime'))]) {
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/name: '(rateline_[a-z0-9_]+)'/g)) names.add(m[1]!);
  }
  return names;
}

/** Metric names a PromQL expression refers to (histograms by their _bucket, _sum and _count series). */
export function metricNamesIn(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b(rateline_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, '')))];
}
