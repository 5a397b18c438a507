import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportedMetricNames, metricNamesIn } from '../metric-names.ts';

const here = path.dirname(new URL(import.meta.url).pathname);

describe('Prometheus alert rules (infra/prometheus/alerts.yml)', () => {
  it('pass promtool test rules', () => {
    const promtool = spawnSync('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: here, encoding: 'utf8' });
    if (promtool.error) {
      throw new Error(`promtool is not installed (${promtool.error.message}): install Debian's prometheus package (apt-get install prometheus), which .ci/run does when it can`);
    }
    expect({ status: promtool.status, out: `${promtool.stdout}${promtool.stderr}`.trim() }).toEqual({ status: 0, out: expect.stringContaining('SUCCESS') });
  });

  it('name only metrics the services export', async () => {
    const exported = await exportedMetricNames();
    const rules = fs.readFileSync(path.join(here, 'alerts.yml'), 'utf8');
    const used = metricNamesIn(rules);
    expect(used.sort()).toEqual([
      'rateline_assurance_discrepancies', 'rateline_assurance_last_run_timestamp_seconds', 'rateline_assurance_runs_total', 'rateline_billings_held',
      'rateline_collect_outcomes_total', 'rateline_consumer_lag', 'rateline_degraded', 'rateline_records_dead_lettered_total',
    ]);
    expect(used.filter((n) => !exported.has(n))).toEqual([]);
    // The inventory is not everything: a name nobody exports is caught.
    expect(exported.has('rateline_invoices_paid_total')).toBe(false);
    expect(exported.has('rateline_process_cpu_seconds_total')).toBe(true);
  });
});
