// The static checks of prometheus/, alertmanager/ and grafana/ (make check-monitoring and
// test/monitoring run the same functions): promtool check config / check rules / test rules,
// amtool check-config and route cases, dashboards (unique uids, no ${DS_…} placeholders, datasource
// uids that are provisioned, every query accepted by the PromQL or LogQL grammar), and every
// alert's labels, annotations and links (runbook file present, dashboard uid present, unit-tested).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parser as logqlParser } from '@grafana/lezer-logql';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { parse } from 'yaml';
import { fromRoot } from '../paths.js';
import { requireTool } from '../tools.js';
import { needsInlineUrls, installedAlertmanagerVersion, renderAlertmanagerConfig } from './alertmanager-config.js';
import { GRAFANA_BASE_URL, RUNBOOK_BASE_URL, RUNBOOK_DIR } from './links.js';

export interface CheckResult {
  check: string;
  target: string;
  ok: boolean;
  detail: string;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A read-only tool run; never throws on a non-zero exit. */
export function runTool(bin: string, args: string[], cwd?: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(requireTool(bin), args, { cwd, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const lastLine = (r: Run): string =>
  (r.stderr.trim() || r.stdout.trim()).split('\n').filter(Boolean).slice(-1)[0] ?? '';

// --- query grammars

/**
 * Offset of the first syntax error in a query, or undefined when the grammar accepts it.
 * Grammars: @prometheus-io/lezer-promql (what Prometheus' UI uses), @grafana/lezer-logql (Grafana's).
 */
export function queryError(language: 'promql' | 'logql', expr: string): number | undefined {
  const tree = (language === 'promql' ? promqlParser : logqlParser).parse(expr);
  let at: number | undefined;
  tree.iterate({
    enter(node) {
      if (at === undefined && node.type.isError) at = node.from;
    },
  });
  return at;
}

// --- dashboards

export interface DashboardQuery {
  file: string;
  uid: string;
  panel: string;
  language: 'promql' | 'logql';
  expr: string;
}

export const dashboardsDir = fromRoot('grafana', 'dashboards');
export const datasourcesFile = fromRoot('grafana', 'provisioning', 'datasources', 'datasources.yaml');

interface DashboardJson {
  uid?: string;
  title?: string;
  panels?: {
    title?: string;
    datasource?: { type?: string; uid?: string };
    targets?: { expr?: string; datasource?: { type?: string; uid?: string } }[];
  }[];
}

export function readDashboards(dir = dashboardsDir): { file: string; json: DashboardJson; text: string }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const text = readFileSync(path.join(dir, f), 'utf8');
      return { file: f, json: JSON.parse(text) as DashboardJson, text };
    });
}

/** Every panel query with the language its datasource speaks. */
export function dashboardQueries(dir = dashboardsDir): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const { file, json } of readDashboards(dir)) {
    for (const p of json.panels ?? []) {
      for (const t of p.targets ?? []) {
        if (!t.expr) continue;
        const type = t.datasource?.type ?? p.datasource?.type;
        out.push({
          file,
          uid: json.uid ?? '',
          panel: p.title ?? '',
          language: type === 'loki' ? 'logql' : 'promql',
          expr: t.expr,
        });
      }
    }
  }
  return out;
}

export function provisionedDatasourceUids(file = datasourcesFile): string[] {
  const doc = parse(readFileSync(file, 'utf8')) as { datasources: { uid: string }[] };
  return doc.datasources.map((d) => d.uid);
}

export function checkDashboards(dir = dashboardsDir): CheckResult[] {
  const results: CheckResult[] = [];
  const known = new Set(provisionedDatasourceUids());
  const seen = new Map<string, string>();
  for (const { file, json, text } of readDashboards(dir)) {
    const problems: string[] = [];
    if (!json.uid) problems.push('no uid');
    else if (seen.has(json.uid)) problems.push(`uid ${json.uid} also used by ${seen.get(json.uid)}`);
    else seen.set(json.uid, file);
    if (text.includes('${DS_'))
      problems.push('has a ${DS_…} import placeholder (refer to a provisioned datasource uid)');
    for (const p of json.panels ?? []) {
      for (const ds of [p.datasource, ...(p.targets ?? []).map((t) => t.datasource)]) {
        if (ds?.uid && !known.has(ds.uid))
          problems.push(`panel "${p.title}": datasource uid ${ds.uid} is not provisioned`);
      }
    }
    results.push({
      check: 'dashboard',
      target: file,
      ok: problems.length === 0,
      detail: problems.join('; ') || `uid ${json.uid}`,
    });
  }
  for (const q of dashboardQueries(dir)) {
    const at = queryError(q.language, q.expr);
    results.push({
      check: `${q.language} grammar`,
      target: `${q.file}: ${q.panel}`,
      ok: at === undefined,
      detail:
        at === undefined ? 'parses' : `syntax error at offset ${at}: ${q.expr.slice(Math.max(0, at - 20), at + 20)}`,
    });
  }
  return results;
}

// --- alert rules

export interface AlertRule {
  file: string;
  alert: string;
  expr: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export const rulesDir = fromRoot('prometheus', 'rules');
export const ruleTestsDir = fromRoot('prometheus', 'tests');

/** Rule files: prometheus/rules/*.yml and the generated rules/slo/*.yml, repository-relative. */
export function ruleFiles(): string[] {
  const top = readdirSync(rulesDir)
    .filter((f) => f.endsWith('.yml'))
    .map((f) => `prometheus/rules/${f}`);
  const sloDir = path.join(rulesDir, 'slo');
  const slo = existsSync(sloDir)
    ? readdirSync(sloDir)
        .filter((f) => f.endsWith('.yml'))
        .map((f) => `prometheus/rules/slo/${f}`)
    : [];
  return [...top.sort(), ...slo.sort()];
}

export function alertRules(files = ruleFiles()): AlertRule[] {
  const out: AlertRule[] = [];
  for (const file of files) {
    const doc = parse(readFileSync(fromRoot(file), 'utf8')) as {
      groups: {
        rules: {
          alert?: string;
          expr: string;
          labels?: Record<string, string>;
          annotations?: Record<string, string>;
        }[];
      }[];
    };
    for (const g of doc.groups) {
      for (const r of g.rules) {
        if (r.alert)
          out.push({ file, alert: r.alert, expr: r.expr, labels: r.labels ?? {}, annotations: r.annotations ?? {} });
      }
    }
  }
  return out;
}

const SEVERITIES = ['critical', 'warning', 'none'];

/** Alert names (alertname → has a firing case, has a quiet case) found in prometheus/tests. */
export function unitTestedAlerts(dir = ruleTestsDir): Map<string, { fires: Set<string>; quiet: boolean }> {
  const seen = new Map<string, { fires: Set<string>; quiet: boolean }>();
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.yml'))) {
    const doc = parse(readFileSync(path.join(dir, f), 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: { exp_labels?: Record<string, string> }[] }[] }[];
    };
    for (const t of doc.tests ?? []) {
      for (const a of t.alert_rule_test ?? []) {
        const entry = seen.get(a.alertname) ?? { fires: new Set<string>(), quiet: false };
        if (!a.exp_alerts?.length) entry.quiet = true;
        for (const e of a.exp_alerts ?? []) entry.fires.add(e.exp_labels?.severity ?? '');
        seen.set(a.alertname, entry);
      }
    }
  }
  return seen;
}

export function checkAlertMetadata(): CheckResult[] {
  const uids = new Set(readDashboards().map((d) => d.json.uid));
  const tested = unitTestedAlerts();
  return alertRules().map((r) => {
    const problems: string[] = [];
    if (!SEVERITIES.includes(r.labels.severity))
      problems.push(`severity '${r.labels.severity ?? ''}' is not one of ${SEVERITIES.join('/')}`);
    if (!r.labels.service) problems.push('no service label (grouping and inhibition use it)');
    for (const a of ['summary', 'description', 'runbook_url', 'dashboard_url']) {
      if (!r.annotations[a]) problems.push(`no ${a}`);
    }
    const runbook = r.annotations.runbook_url ?? '';
    if (runbook && !runbook.startsWith(`${RUNBOOK_BASE_URL}/`))
      problems.push(`runbook_url is not under ${RUNBOOK_BASE_URL}`);
    else if (runbook && !existsSync(fromRoot(RUNBOOK_DIR, runbook.slice(RUNBOOK_BASE_URL.length + 1)))) {
      problems.push(`runbook ${RUNBOOK_DIR}/${runbook.slice(RUNBOOK_BASE_URL.length + 1)} does not exist`);
    }
    const dash = /^(.*)\/d\/([^/?#]+)/.exec(r.annotations.dashboard_url ?? '');
    if (r.annotations.dashboard_url && (!dash || dash[1] !== GRAFANA_BASE_URL))
      problems.push(`dashboard_url is not ${GRAFANA_BASE_URL}/d/<uid>`);
    else if (dash && !uids.has(dash[2]))
      problems.push(`dashboard_url names uid ${dash[2]}, which no dashboard in grafana/dashboards has`);
    const t = tested.get(r.alert);
    if (!t?.fires.has(r.labels.severity))
      problems.push(`no promtool test in prometheus/tests expects it to fire with severity ${r.labels.severity}`);
    if (r.alert !== 'Watchdog' && !t?.quiet) problems.push('no promtool test expects it to stay quiet');
    return {
      check: 'alert',
      target: `${r.alert} (${r.labels.severity ?? '?'}) ${r.file}`,
      ok: problems.length === 0,
      detail: problems.join('; ') || 'labels, annotations, runbook, dashboard, unit tests',
    };
  });
}

// --- promtool

export function prometheusConfigFiles(): string[] {
  return readdirSync(fromRoot('prometheus'))
    .filter((f) => /^prometheus(-[a-z0-9-]+)?\.yml$/.test(f))
    .sort()
    .map((f) => `prometheus/${f}`);
}

export async function checkPrometheus(): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const f of prometheusConfigFiles()) {
    let r = await runTool('promtool', ['check', 'config', fromRoot(f)]);
    let detail = lastLine(r);
    if (r.code !== 0 && /field kubernetes_sd_configs not found/.test(r.stdout + r.stderr)) {
      r = await checkWithoutKubernetesSd(f);
      detail = `${lastLine(r)} (Kubernetes discovery replaced: Debian's promtool is built without it; the upstream promtool in CI checks it as is)`;
    }
    results.push({ check: 'promtool check config', target: f, ok: r.code === 0, detail });
  }
  const rules = ruleFiles();
  const r = await runTool('promtool', ['check', 'rules', ...rules.map((f) => fromRoot(f))]);
  results.push({
    check: 'promtool check rules',
    target: `${rules.length} files`,
    ok: r.code === 0,
    detail: lastLine(r),
  });
  const tests = readdirSync(ruleTestsDir)
    .filter((f) => f.endsWith('.yml'))
    .sort();
  for (const t of tests) {
    const u = await runTool('promtool', ['test', 'rules', t], ruleTestsDir);
    results.push({
      check: 'promtool test rules',
      target: `prometheus/tests/${t}`,
      ok: u.code === 0,
      detail: u.code === 0 ? 'SUCCESS' : (u.stdout + u.stderr).trim().split('\n').slice(0, 6).join(' | '),
    });
  }
  return results;
}

/**
 * Debian builds Prometheus without Kubernetes service discovery: check a copy whose
 * kubernetes_sd_configs are static targets, so everything else in the file is still checked.
 */
async function checkWithoutKubernetesSd(file: string): Promise<Run> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mytv-promcheck-'));
  try {
    const config = parse(readFileSync(fromRoot(file), 'utf8')) as { scrape_configs: Record<string, unknown>[] };
    for (const job of config.scrape_configs) {
      if (job.kubernetes_sd_configs) {
        delete job.kubernetes_sd_configs;
        job.static_configs = [{ targets: ['kubernetes-sd.invalid:80'] }];
      }
    }
    symlinkSync(rulesDir, path.join(dir, 'rules'));
    writeFileSync(path.join(dir, 'prometheus.yml'), JSON.stringify(config));
    return await runTool('promtool', ['check', 'config', path.join(dir, 'prometheus.yml')]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- amtool

export const routeCasesFile = fromRoot('alertmanager', 'tests', 'routes.yml');

export interface RouteCase {
  name: string;
  labels: Record<string, string>;
  receivers: string[];
}

export function routeCases(file = routeCasesFile): RouteCase[] {
  return (parse(readFileSync(file, 'utf8')) as { cases: RouteCase[] }).cases;
}

/**
 * amtool check-config, then every route case with `amtool config routes test --verify.receivers`,
 * on the config as the installed Alertmanager loads it (alertmanager-config.ts), with placeholder
 * receiver URLs.
 */
export async function checkAlertmanager(): Promise<CheckResult[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mytv-am-check-'));
  try {
    const { configFile } = renderAlertmanagerConfig(dir, {
      urls: {
        'secrets/pager-url': 'http://127.0.0.1:9/pager',
        'secrets/chat-url': 'http://127.0.0.1:9/chat',
        'secrets/deadmans-switch-url': 'http://127.0.0.1:9/heartbeat',
      },
      inlineUrls: needsInlineUrls(installedAlertmanagerVersion()),
    });
    const results: CheckResult[] = [];
    const c = await runTool('amtool', ['check-config', configFile]);
    results.push({
      check: 'amtool check-config',
      target: 'alertmanager/alertmanager.yml',
      ok: c.code === 0,
      detail: lastLine(c),
    });
    for (const rc of routeCases()) {
      const labels = Object.entries(rc.labels).map(([k, v]) => `${k}=${v}`);
      const r = await runTool('amtool', [
        'config',
        'routes',
        'test',
        `--config.file=${configFile}`,
        `--verify.receivers=${rc.receivers.join(',')}`,
        ...labels,
      ]);
      results.push({
        check: 'amtool config routes test',
        target: rc.name,
        ok: r.code === 0,
        detail: `${labels.join(' ')} → ${r.stdout.trim() || lastLine(r)}`,
      });
    }
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every static check, in the order an operator reads them. */
export async function allMonitoringChecks(): Promise<CheckResult[]> {
  return [...(await checkPrometheus()), ...checkAlertMetadata(), ...(await checkAlertmanager()), ...checkDashboards()];
}
