import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportedMetricNames, metricNamesIn } from '../metric-names.ts';

const here = path.dirname(new URL(import.meta.url).pathname);
const dashboardsDir = path.join(here, 'dashboards');

interface Target { refId: string; expr: string; datasource?: { uid?: string } }
interface Panel { id: number; title: string; type: string; datasource?: { uid?: string }; targets?: Target[]; panels?: Panel[] }
interface Dashboard { uid: string; title: string; panels: Panel[]; templating: { list: { name: string; query: { query: string } | string; datasource?: { uid?: string } }[] } }

const dashboards = fs.readdirSync(dashboardsDir).filter((f) => f.endsWith('.json')).sort().map((f) => ({ file: f, json: JSON.parse(fs.readFileSync(path.join(dashboardsDir, f), 'utf8')) as Dashboard }));
const panelsOf = (panels: Panel[]): Panel[] => panels.flatMap((p) => (p.type === 'row' ? panelsOf(p.panels ?? []) : [p]));
const queriesOf = (d: Dashboard) => [
  ...panelsOf(d.panels).flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${d.uid} panel "${p.title}" ${t.refId}`, expr: t.expr, uid: t.datasource?.uid ?? p.datasource?.uid }))),
  ...d.templating.list.map((v) => ({ where: `${d.uid} variable ${v.name}`, expr: typeof v.query === 'string' ? v.query : v.query.query, uid: v.datasource?.uid })),
];
/** The uid the provisioned datasource gets (one line of a small YAML file: no parser needed). */
const provisionedUid = /^\s*uid:\s*(\S+)\s*$/m.exec(fs.readFileSync(path.join(here, 'provisioning/datasources/prometheus.yaml'), 'utf8'))?.[1];

describe('Grafana dashboards (infra/grafana/dashboards)', () => {
  it('cover the pipeline, rejections, bill runs, collections and assurance, with unique uids', () => {
    expect(dashboards.map((d) => d.json.uid)).toEqual(['rateline-assurance', 'rateline-billing', 'rateline-pipeline']);
    const used = new Set(dashboards.flatMap((d) => queriesOf(d.json).flatMap((q) => metricNamesIn(q.expr))));
    for (const metric of ['rateline_records_in_total', 'rateline_consumer_lag', 'rateline_records_rejected_total', 'rateline_invoices_issued_total', 'rateline_billings_held', 'rateline_collect_outcomes_total', 'rateline_assurance_runs_total', 'rateline_assurance_discrepancies']) {
      expect(used.has(metric), metric).toBe(true);
    }
    for (const { json } of dashboards) {
      const ids = panelsOf(json.panels).map((p) => p.id);
      expect(new Set(ids).size, `${json.uid} panel ids`).toBe(ids.length);
      expect(panelsOf(json.panels).filter((p) => (p.targets ?? []).length === 0).map((p) => p.title), `${json.uid} panels without a query`).toEqual([]);
    }
  });

  it('query only metrics some service exports, through the provisioned datasource', async () => {
    const exported = await exportedMetricNames();
    const queries = dashboards.flatMap((d) => queriesOf(d.json));
    expect(queries.length).toBeGreaterThan(20);
    expect(queries.filter((q) => metricNamesIn(q.expr).length === 0).map((q) => q.where), 'queries naming no rateline metric').toEqual([]);
    expect(queries.flatMap((q) => metricNamesIn(q.expr).filter((n) => !exported.has(n)).map((n) => `${q.where}: ${n}`))).toEqual([]);
    expect(provisionedUid).toBe('rateline-prometheus');
    expect(queries.filter((q) => q.uid !== provisionedUid).map((q) => q.where)).toEqual([]);
    // The check bites: a misspelt name is not in the inventory.
    expect(metricNamesIn('rate(rateline_records_rejectd_total[5m])').filter((n) => !exported.has(n))).toEqual(['rateline_records_rejectd_total']);
  });

  it('parse as PromQL (promtool check rules, each panel query as a recording rule)', () => {
    const exprs = dashboards.flatMap((d) => panelsOf(d.json.panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr)));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rateline-dashboards-'));
    const file = path.join(dir, 'queries.yml');
    // JSON is YAML: promtool reads the rules file as is.
    fs.writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboards', rules: exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) }] }));
    const promtool = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    fs.rmSync(dir, { recursive: true, force: true });
    if (promtool.error) throw new Error(`promtool is not installed (${promtool.error.message}): install Debian's prometheus package (apt-get install prometheus), which .ci/run does when it can`);
    expect({ status: promtool.status, out: `${promtool.stdout}${promtool.stderr}`.trim() }).toEqual({ status: 0, out: expect.stringContaining(`SUCCESS: ${exprs.length} rules found`) });
  });

  it('are provisioned by the compose file: datasource, dashboard provider and the JSON mounted where the provider looks', () => {
    const compose = fs.readFileSync(path.join(here, '../compose.yaml'), 'utf8');
    const provider = fs.readFileSync(path.join(here, 'provisioning/dashboards/rateline.yaml'), 'utf8');
    const providerPath = /^\s*path:\s*(\S+)\s*$/m.exec(provider)?.[1];
    expect(compose).toContain(`./grafana/dashboards:${providerPath}:ro`);
    expect(compose).toContain('./grafana/provisioning/datasources:/etc/grafana/provisioning/datasources:ro');
    expect(compose).toContain('./grafana/provisioning/dashboards:/etc/grafana/provisioning/dashboards:ro');
    expect(fs.readFileSync(path.join(here, 'provisioning/datasources/prometheus.yaml'), 'utf8')).toContain('url: http://prometheus:9090');
    expect(compose).toMatch(/^ {2}prometheus:$/m);
  });
});
