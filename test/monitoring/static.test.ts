// The monitoring configs checked without a running stack: promtool (config of every environment,
// rules, unit tests), amtool (config and routing cases), every alert's labels, annotations, runbook
// and dashboard links and unit tests, the dashboards (uids, datasources, PromQL/LogQL grammar), the
// SLO rules generated from the environments' slo blocks, and the operator commands' bad input.
// Each check is also shown able to fail on a broken input.
import { expect } from 'chai';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { loadEnvironment } from '../../scripts/lib/environments.js';
import { formatLikeRepo } from '../../scripts/lib/generated/index.js';
import {
  alertRules,
  checkAlertMetadata,
  checkAlertmanager,
  checkDashboards,
  checkPrometheus,
  dashboardQueries,
  queryError,
  routeCases,
  runTool,
} from '../../scripts/lib/monitoring/checks.js';
import { renderAlertmanagerConfig } from '../../scripts/lib/monitoring/alertmanager-config.js';
import { parseDuration, parseMatcher } from '../../scripts/lib/monitoring/api.js';
import { renderSloRules, sloRulesPath } from '../../scripts/lib/monitoring/slo.js';
import { fromRoot } from '../../scripts/lib/paths.js';
import { runEntryScript } from '../support/run-script.js';

const made: string[] = [];
const tmp = (): string => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mytv-mon-'));
  made.push(dir);
  return dir;
};
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

describe('monitoring configs: static checks (make check-monitoring)', function () {
  this.timeout(120_000);

  it("promtool accepts every environment's prometheus.yml, every rule file, and every unit test passes", async () => {
    const results = await checkPrometheus();
    const failed = results.filter((r) => !r.ok);
    expect(failed, JSON.stringify(failed, null, 2)).to.deep.equal([]);
    const configs = results.filter((r) => r.check === 'promtool check config').map((r) => r.target);
    expect(configs).to.deep.equal([
      'prometheus/prometheus-prod.yml',
      'prometheus/prometheus-staging.yml',
      'prometheus/prometheus.yml',
    ]);
    expect(results.filter((r) => r.check === 'promtool test rules').length).to.be.at.least(4);
  });

  it('a promtool unit test with a wrong expectation fails (the unit tests can fail)', async () => {
    const dir = tmp();
    try {
      cpSync(fromRoot('prometheus', 'rules'), path.join(dir, 'rules'), { recursive: true });
      mkdirTests(dir);
      const text = readFileSync(fromRoot('prometheus', 'tests', 'api.test.yml'), 'utf8').replace(
        'summary: No API replica can be scraped',
        'summary: Something else',
      );
      writeFileSync(path.join(dir, 'tests', 'api.test.yml'), text);
      const r = await runTool('promtool', ['test', 'rules', 'api.test.yml'], path.join(dir, 'tests'));
      expect(r.code).to.not.equal(0);
      expect(r.stdout + r.stderr).to.contain('ApiDown');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every alert has severity, service, summary, description, a runbook file, a dashboard and unit tests', () => {
    const results = checkAlertMetadata();
    const failed = results.filter((r) => !r.ok);
    expect(failed, JSON.stringify(failed, null, 2)).to.deep.equal([]);
    const names = new Set(alertRules().map((r) => r.alert));
    for (const expected of [
      'ApiAvailabilityBudgetBurn',
      'ApiLatencyBudgetBurn',
      'ApiDown',
      'TargetDown',
      'ApiEventLoopLagHigh',
      'PostgresDown',
      'PostgresConnectionsNearLimit',
      'PostgresWalArchivingStale',
      'BackupTooOld',
      'BackupFailed',
      'BackupMetricsAbsent',
      'DrDrillOutsideObjective',
      'ApiDependencyUnavailable',
      'RedisDown',
      'RedisMemoryNearLimit',
      'Nginx5xxRatioHigh',
      'CertificateExpiringSoon',
      'EndpointProbeFailing',
      'ApiReplicaNotReady',
      'Watchdog',
    ]) {
      expect(names.has(expected), expected).to.equal(true);
    }
    // One runbook per alert (named like it, PascalCase), none orphaned; kebab-case files there are
    // procedures (backup-restore.md), not alert runbooks.
    const runbooks = readdirSync(fromRoot('docs', 'runbooks'))
      .map((f) => f.replace(/\.md$/, ''))
      .filter((f) => /^[A-Z]/.test(f));
    expect(runbooks.sort()).to.deep.equal([...names].sort());
  });

  it('backup and DR alerts and panels read only metrics the backup scripts publish (issue 11)', () => {
    // The names make backup, backup-status --publish and make dr-drill publish: every `name: '…'`
    // of a metric in their sources. A renamed metric there, or a typo here, fails this test.
    const sources = ['scripts/lib/backup.ts', 'scripts/backup.ts', 'scripts/dr-drill.ts']
      .map((f) => readFileSync(fromRoot(f), 'utf8'))
      .join('\n');
    const published = new Set([...sources.matchAll(/name: '((?:pgbackrest|mytv_dr_drill)_\w+)'/g)].map((m) => m[1]));
    expect(published.size, 'metrics found in the backup scripts').to.be.greaterThan(10);
    const pattern = /\b(?:pgbackrest|mytv_dr_drill|dr_drill)_\w+/g;
    const used = [
      ...alertRules().flatMap((r) => [...r.expr.matchAll(pattern)].map((m) => `${m[0]} (alert ${r.alert})`)),
      ...dashboardQueries().flatMap((q) => [...q.expr.matchAll(pattern)].map((m) => `${m[0]} (${q.file}: ${q.panel})`)),
    ];
    expect(used.length, 'backup metrics used by alerts and dashboards').to.be.greaterThan(10);
    const unknown = used.filter((u) => !published.has(u.split(' ')[0]));
    expect(unknown, 'metrics nobody publishes').to.deep.equal([]);
  });

  it('rules speak of job/instance/pod, never of the local file_sd service label', () => {
    for (const r of alertRules()) {
      expect(r.expr, r.alert).to.not.match(/\bservice\s*[=!]~?"/);
      for (const v of Object.values(r.annotations)) expect(v, r.alert).to.not.contain('$labels.service');
    }
  });

  it('amtool accepts the config and every routing case reaches its receiver', async () => {
    const results = await checkAlertmanager();
    const failed = results.filter((r) => !r.ok);
    expect(failed, JSON.stringify(failed, null, 2)).to.deep.equal([]);
    expect(results.length).to.equal(1 + routeCases().length);
  });

  it('a routing case expecting the wrong receiver fails, and a receiver secret nobody reads is refused', async () => {
    const dir = tmp();
    try {
      const { configFile } = renderAlertmanagerConfig(dir, { inlineUrls: true });
      const r = await runTool('amtool', [
        'config',
        'routes',
        'test',
        `--config.file=${configFile}`,
        '--verify.receivers=chat',
        'alertname=ApiDown',
        'severity=critical',
      ]);
      expect(r.code).to.not.equal(0);
      expect(() =>
        renderAlertmanagerConfig(dir, { inlineUrls: true, urls: { 'secrets/pagr-url': 'http://x' } }),
      ).to.throw(/no Alertmanager receiver reads secrets\/pagr-url/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the committed config keeps receiver URLs out of git: url_file only, no url', () => {
    const doc = parse(readFileSync(fromRoot('alertmanager', 'alertmanager.yml'), 'utf8')) as {
      receivers: { name: string; webhook_configs?: Record<string, unknown>[] }[];
    };
    for (const r of doc.receivers) {
      for (const w of r.webhook_configs ?? []) {
        expect(w, r.name).to.have.property('url_file');
        expect(w, r.name).to.not.have.property('url');
      }
    }
    expect(doc.receivers.map((r) => r.name).sort()).to.deep.equal(['chat', 'deadmans-switch', 'pager']);
  });

  it('dashboards: unique uids, provisioned datasources, no ${DS_} placeholder, every query parses', () => {
    const results = checkDashboards();
    const failed = results.filter((r) => !r.ok);
    expect(failed, JSON.stringify(failed, null, 2)).to.deep.equal([]);
    expect(results.filter((r) => r.check === 'dashboard').length).to.equal(8);
    expect(results.filter((r) => r.check === 'logql grammar').length).to.be.at.least(2);
  });

  it('a duplicate uid, a ${DS_} placeholder, an unknown datasource and a broken query are each reported', () => {
    const dir = tmp();
    try {
      const good = JSON.parse(readFileSync(fromRoot('grafana', 'dashboards', 'mytv-redis.json'), 'utf8')) as {
        panels: { targets: { expr: string; datasource: { uid: string } }[] }[];
      };
      writeFileSync(path.join(dir, 'a.json'), JSON.stringify(good));
      const bad = structuredClone(good);
      bad.panels[0].targets[0].expr = 'sum(rate(redis_up[5m]) by';
      bad.panels[1].targets[0].datasource.uid = '${DS_PROMETHEUS}';
      writeFileSync(path.join(dir, 'b.json'), JSON.stringify(bad));
      const failed = checkDashboards(dir).filter((r) => !r.ok);
      const text = failed.map((f) => `${f.target}: ${f.detail}`).join('\n');
      expect(text).to.contain('also used by a.json');
      expect(text).to.contain('${DS_');
      expect(text).to.contain('is not provisioned');
      expect(text).to.match(/b\.json: .*syntax error at offset/);
      expect(failed.some((f) => f.target.startsWith('a.json'))).to.equal(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(queryError('logql', '{service="api" | json')).to.be.a('number');
    expect(queryError('logql', '{service="api"} | json | status >= 500')).to.equal(undefined);
  });

  it("SLO rules come from each environment's slo block: another objective renders other rules", async () => {
    const dev = loadEnvironment('dev');
    const committed = readFileSync(fromRoot(sloRulesPath('dev')), 'utf8');
    expect(await formatLikeRepo(sloRulesPath('dev'), renderSloRules(dev))).to.equal(committed);
    const stricter = renderSloRules({ name: 'dev', slo: { ...dev.slo, availabilityPercent: 99.95 } });
    expect(stricter).to.not.equal(committed);
    expect(stricter).to.contain('vector(0.9995)');
    expect(() => renderSloRules({ name: 'dev', slo: { ...dev.slo, latencyP95Ms: 300 } })).to.throw(
      /latencyP95Ms=300 is not a bucket/,
    );
  });

  it('no SLO number is typed by hand outside the generated rules', () => {
    for (const f of readdirSync(fromRoot('prometheus', 'rules')).filter((x) => x.endsWith('.yml'))) {
      const text = readFileSync(fromRoot('prometheus', 'rules', f), 'utf8');
      expect(text, f).to.not.match(/0\.999|99\.9|14\.4/);
    }
  });

  it('make check-monitoring passes and reports every check as JSON', async () => {
    const r = await runEntryScript('scripts/check-monitoring.ts', ['--json'], { timeoutMs: 110_000 });
    expect(r.code, r.stderr).to.equal(0);
    const rows = JSON.parse(r.stdout) as { check: string; ok: boolean }[];
    expect(rows.length).to.be.greaterThan(50);
    expect(rows.every((x) => x.ok)).to.equal(true);
    expect(rows.filter((x) => x.check === 'loki recording rule').length, 'Loki rules checked').to.be.at.least(1);
  });
});

describe('monitoring commands: bad input is one line, exit code, nothing sent', function () {
  this.timeout(60_000);

  it('matchers and durations are parsed strictly', () => {
    expect(parseMatcher('alertname=ApiDown')).to.deep.equal({
      name: 'alertname',
      value: 'ApiDown',
      isRegex: false,
      isEqual: true,
    });
    expect(parseMatcher('service!~"api|nginx"')).to.deep.equal({
      name: 'service',
      value: 'api|nginx',
      isRegex: true,
      isEqual: false,
    });
    expect(() => parseMatcher('alertname')).to.throw(/not a matcher/);
    expect(() => parseMatcher('job=~(')).to.throw(/does not compile/);
    expect(parseDuration('1h30m')).to.equal(5400);
    expect(() => parseDuration('2 hours')).to.throw(/not a duration/);
  });

  it('make silence refuses a missing comment, a catch-all matcher and a duration over a week', async () => {
    // Port 9 on loopback: nothing listens; every refusal must come before any request.
    const env = { MYTV_ENVIRONMENTS_DIR: envDirWith('http://127.0.0.1:9') };
    const cases: [string[], RegExp][] = [
      [['--matcher', 'alertname=ApiDown', '--duration', '1h'], /no --comment given/],
      [['--matcher', 'alertname=~.*', '--duration', '1h', '--comment', 'x'], /would silence everything/],
      [['--matcher', 'alertname=ApiDown', '--duration', '8d', '--comment', 'x'], /over 7d/],
      [['--matcher', 'alertname', '--duration', '1h', '--comment', 'x'], /'alertname' is not a matcher/],
    ];
    for (const [args, msg] of cases) {
      const r = await runEntryScript('scripts/silence.ts', ['--env=dev', ...args], { env });
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.match(msg);
      expect(r.stderr.trim().split('\n').length, r.stderr).to.be.at.most(2);
    }
  });

  it('an unreachable Alertmanager or Prometheus is one line naming it', async () => {
    const env = { MYTV_ENVIRONMENTS_DIR: envDirWith('http://127.0.0.1:9') };
    const a = await runEntryScript('scripts/alerts.ts', ['--env=dev'], { env });
    expect(a.code).to.equal(1);
    expect(a.stderr).to.contain('cannot reach Alertmanager at http://127.0.0.1:9');
    const s = await runEntryScript('scripts/slo-report.ts', ['--env=dev'], { env });
    expect(s.code).to.equal(1);
    expect(s.stderr).to.contain('cannot reach Prometheus at http://127.0.0.1:9');
    const u = await runEntryScript('scripts/alerts.ts', ['--env=nope']);
    expect(u.code).to.equal(2);
  });
});

function mkdirTests(dir: string): void {
  cpSync(fromRoot('prometheus', 'tests'), path.join(dir, 'tests'), { recursive: true });
}

/** environments/ copy whose dev.yaml points Prometheus and Alertmanager at `url`. */
function envDirWith(url: string): string {
  const dir = tmp();
  for (const f of readdirSync(fromRoot('environments'))) {
    let text = readFileSync(fromRoot('environments', f), 'utf8');
    if (f === 'dev.yaml') text += `monitoring:\n  prometheusUrl: ${url}\n  alertmanagerUrl: ${url}\n`;
    writeFileSync(path.join(dir, f), text);
  }
  return dir;
}
