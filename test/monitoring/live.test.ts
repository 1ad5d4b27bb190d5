// Monitoring against the real thing, on loopback: PostgreSQL, Redis, two API replicas, Nginx, the
// PostgreSQL/Redis/Nginx exporters, the blackbox exporter, the Pushgateway, Alertmanager (receivers
// pointed at a webhook server this test runs) and Prometheus running the repository's
// prometheus.yml and rules (only the scrape/evaluation intervals and Alertmanager's group waits are
// shortened). Started once for the file. After real traffic: `promtool check metrics` accepts the
// app's output, every PromQL panel query of every dashboard returns data, `make slo-report` reports
// it, `make alerts` lists the Watchdog, which reaches the dead man's switch. Then errors injected
// into the app (PostgreSQL stopped under uncached reads) page through the pager route with the
// expected labels, and the resolved notification follows once the errors are diluted.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { runMigrations } from '../../app/src/db/migrator.js';
import { seedDatabase } from '../../app/src/db/seed.js';
import { backupMetrics, drDrillMetrics, publishMetrics, renderMetrics } from '../../scripts/lib/backup.js';
import { dashboardQueries } from '../../scripts/lib/monitoring/checks.js';
import { PrometheusClient, AlertmanagerClient } from '../../scripts/lib/monitoring/api.js';
import { fromRoot } from '../../scripts/lib/paths.js';
import { Stack } from '../../scripts/lib/services/index.js';
import { requireTool } from '../../scripts/lib/tools.js';
import { ensureAppBuilt } from '../app/support.js';
import { runEntryScript } from '../support/run-script.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `fn` returns a value (not undefined/false) or the deadline passes; returns the last value. */
async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: Error | undefined;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err as Error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(1000);
  }
}

interface Notification {
  path: string;
  status: 'firing' | 'resolved';
  receiver: string;
  alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string> }[];
}

/** A webhook receiver on loopback recording every Alertmanager notification with its path. */
async function startWebhook(): Promise<{ url: string; received: Notification[]; close: () => Promise<void> }> {
  const received: Notification[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      try {
        received.push({ path: req.url ?? '', ...(JSON.parse(body) as Omit<Notification, 'path'>) });
      } catch {
        /* not JSON: not from Alertmanager */
      }
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** `amount` GET requests over 10 connections; every one must answer (any status). */
async function load(url: string, amount: number): Promise<void> {
  let left = amount;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (left-- > 0) await (await fetch(url)).arrayBuffer();
    }),
  );
}

describe('monitoring: live Prometheus and Alertmanager over the running app', function () {
  this.timeout(240_000);
  let stack: Stack;
  let webhook: Awaited<ReturnType<typeof startWebhook>>;
  let prom: PrometheusClient;
  let am: AlertmanagerClient;
  const apis: string[] = [];
  /** Each replica's separate /metrics listener (METRICS_PORT). */
  const metricsUrls: string[] = [];
  let edge: string;
  let envDir: string;

  before(async function () {
    this.timeout(240_000);
    ensureAppBuilt();
    webhook = await startWebhook();
    stack = new Stack();
    const pg = (await stack.start('postgres')) as { url: string };
    await stack.start('redis');
    await runMigrations(pg.url);
    await seedDatabase(pg.url, { channels: 5, anchor: new Date(), hoursBefore: 2, hoursAfter: 2 });
    for (const name of ['api-1', 'api-2']) {
      const info = (await stack.start(name, { kind: 'api', options: { logLevel: 'warn' } })) as {
        url: string;
        metricsUrl: string;
      };
      apis.push(info.url);
      metricsUrls.push(info.metricsUrl);
    }
    const upstreams = apis.map((u) => new URL(u).host);
    const nginx = (await stack.start('nginx', { options: { environment: 'dev', upstreams } })) as { url: string };
    edge = nginx.url;
    await Promise.all(['postgres-exporter', 'redis-exporter', 'nginx-exporter'].map((n) => stack.start(n)));
    const blackbox = (await stack.start('blackbox-exporter')) as { address: string };
    await stack.start('pushgateway');
    am = new AlertmanagerClient(
      (
        (await stack.start('alertmanager', {
          options: {
            receiverUrls: {
              'secrets/pager-url': `${webhook.url}/pager`,
              'secrets/chat-url': `${webhook.url}/chat`,
              'secrets/deadmans-switch-url': `${webhook.url}/heartbeat`,
            },
            timings: { group_wait: '1s', group_interval: '2s', repeat_interval: '1m' },
          },
        })) as { url: string }
      ).url,
    );
    prom = new PrometheusClient(
      (
        (await stack.start('prometheus', {
          options: {
            intervals: { scrape: '1s', evaluation: '1s' },
            jobs: {
              api: ['api-1', 'api-2'],
              alertmanager: ['alertmanager'],
              'postgres-exporter': ['postgres-exporter'],
              'redis-exporter': ['redis-exporter'],
              'nginx-exporter': ['nginx-exporter'],
              pushgateway: ['pushgateway'],
            },
            probes: {
              'blackbox-edge': {
                exporter: 'blackbox-exporter',
                targets: [{ url: `${edge}/health/ready`, service: 'nginx' }],
              },
              'api-readiness': {
                exporter: 'blackbox-exporter',
                targets: apis.map((u, i) => ({ url: `${u}/health/ready`, service: `api-${i + 1}` })),
              },
            },
          },
        })) as { url: string }
      ).url,
    );
    void blackbox;
    envDir = environmentsFor(prom.baseUrl, am.baseUrl);
    // What make backup and make dr-drill push, rendered by issue 11's own functions (the names
    // cannot drift), to the same Pushgateway groups (job, environment).
    const now = Math.floor(Date.now() / 1000);
    const backupInfo = {
      name: 'mytv',
      status: { code: 0, message: 'ok', backupRunning: false },
      backups: [
        {
          label: 'F',
          type: 'full' as const,
          start: now - 660,
          stop: now - 600,
          size: 123456789,
          repoSize: 2345678,
          error: false,
          annotation: {},
        },
      ],
    };
    const backupText = renderMetrics(
      [
        ...backupMetrics(backupInfo, { lastArchivedAt: now - 30, pending: 0, ageSeconds: 0 }),
        { name: 'pgbackrest_backup_last_run_success', help: 'last run', value: 1 },
      ],
      { environment: 'dev', stanza: 'mytv' },
    );
    const drillText = renderMetrics(drDrillMetrics({ rpoSeconds: 12, rtoSeconds: 95, markersLost: 0, met: true }), {
      environment: 'dev',
    });
    const gw = stack.info<{ url: string }>('pushgateway').url;
    for (const [job, text] of [
      ['pgbackrest_backup', backupText],
      ['dr_drill', drillText],
    ] as const) {
      const pushed = await publishMetrics(text, { job, environment: 'dev', pushgatewayUrl: gw });
      expect(pushed.pushError, `push ${job}`).to.equal(undefined);
    }

    // Real traffic: cached reads, a route per channel, a 404, through Nginx and direct. Each route
    // is asked once first and scraped before the load: a counter's first sample has no baseline,
    // so requests before it would not count in increase()/rate().
    for (const base of apis) for (const p of ['/v2/channels', '/v2/now-next']) await fetch(`${base}${p}`);
    await until('the API routes scraped', async () => {
      const s = await prom.query('http_request_duration_seconds_count{job="api",route=~"/v2/channels|/v2/now-next"}');
      return s.length >= 4 || undefined;
    });
    for (const base of apis) {
      await load(`${base}/v2/channels`, 300);
      await load(`${base}/v2/now-next`, 100);
      for (const slug of ['does-not-exist', 'x']) await fetch(`${base}/v2/channels/${slug}`);
    }
    await load(`${edge}/v2/channels`, 100);
    await until('every scrape target up', async () => {
      const down = await prom.query('up == 0');
      const all = await prom.query('up');
      return all.length >= 9 && down.length === 0 ? true : undefined;
    });
  });

  after(async function () {
    this.timeout(60_000);
    await stack?.stopAll();
    await webhook?.close();
    if (envDir) rmSync(envDir, { recursive: true, force: true });
  });

  it('promtool check metrics accepts what the API serves on /metrics', async () => {
    const body = await (await fetch(metricsUrls[0])).text();
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      const child = spawn(requireTool('promtool'), ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', (code) => resolve({ code: code ?? 1, out }));
      child.stdin.end(body);
    });
    expect(r.code, r.out).to.equal(0);
    expect(body).to.contain('http_request_duration_seconds_bucket');
    expect(body).to.match(/le="0\.5"/);
  });

  it('every scrape target carries job/instance/pod, never the local service label', async () => {
    const up = await prom.query('up');
    const jobs = new Set(up.map((s) => s.labels.job));
    expect([...jobs].sort()).to.deep.equal([
      'alertmanager',
      'api',
      'api-readiness',
      'blackbox-edge',
      'nginx',
      'postgres',
      'prometheus',
      'pushgateway',
      'redis',
    ]);
    for (const s of up) {
      expect(s.labels, JSON.stringify(s.labels)).to.not.have.property('service');
      expect(s.labels.pod, JSON.stringify(s.labels)).to.be.a('string').and.not.equal('');
    }
    const ready = await prom.query('probe_success{job="api-readiness"}');
    expect(ready.map((s) => s.labels.pod).sort()).to.deep.equal(['api-1', 'api-2']);
    expect(ready.every((s) => s.value === 1)).to.equal(true);
  });

  it('every PromQL panel query of every dashboard returns data', async () => {
    const queries = dashboardQueries().filter((q) => q.language === 'promql');
    expect(queries.length).to.be.greaterThan(40);
    const empty = await until(
      'every dashboard query to return data',
      async () => {
        const missing: string[] = [];
        for (const q of queries) {
          const r = await prom.query(q.expr);
          if (r.length === 0 || r.every((s) => Number.isNaN(s.value)))
            missing.push(`${q.file} / ${q.panel}: ${q.expr}`);
        }
        return missing.length === 0 ? missing : undefined;
      },
      150_000,
    ).catch(async (err: Error) => {
      const missing: string[] = [];
      for (const q of queries) if ((await prom.query(q.expr)).length === 0) missing.push(`${q.panel}: ${q.expr}`);
      throw new Error(`${err.message}\n${missing.join('\n')}`);
    });
    expect(empty).to.deep.equal([]);
  });

  it('the SLO recording rules hold the SLIs over every window, and the objective from environments/dev.yaml', async () => {
    for (const w of ['5m', '30m', '1h', '2h', '6h', '1d', '3d', '30d']) {
      const r = await until(`job:slo_sli:ratio_rate${w}`, async () => {
        const s = await prom.query(`job:slo_sli:ratio_rate${w}`);
        return s.length === 2 ? s : undefined;
      });
      expect(r.map((s) => s.labels.slo).sort()).to.deep.equal(['availability', 'latency']);
      for (const s of r) expect(s.value).to.be.within(0, 1);
    }
    const objective = await prom.query('job:slo_objective:ratio{slo="availability"}');
    expect(objective[0].value).to.equal(0.999);
  });

  it('make slo-report prints the SLIs from the live Prometheus (table and --json)', async () => {
    const env = { MYTV_ENVIRONMENTS_DIR: envDir };
    const json = await runEntryScript('scripts/slo-report.ts', ['--env=dev', '--window=1h', '--json'], { env });
    expect(json.code, json.stderr).to.equal(0);
    const report = JSON.parse(json.stdout) as {
      requests: number;
      rows: { indicator: string; value: number; status: string }[];
    };
    expect(report.requests).to.be.greaterThan(500);
    const by = Object.fromEntries(report.rows.map((r) => [r.indicator, r]));
    expect(by.availability.value).to.equal(1);
    expect(by['error rate'].value).to.equal(0);
    expect(by['latency P95'].value).to.be.greaterThan(0);
    expect(by['error budget left'].value).to.equal(1);
    expect(report.rows.map((r) => r.status)).to.not.include('no data');
    const table = await runEntryScript('scripts/slo-report.ts', ['--env=dev', '--window=1h'], { env });
    expect(table.code, table.stderr).to.equal(0);
    expect(table.stdout).to.match(/availability\s+100\.000 %\s+≥ 99\.9 %\s+ok/);
    expect(table.stdout).to.match(/latency P95\s+[\d.]+ ms\s+< 500 ms\s+ok/);
    const bad = await runEntryScript('scripts/slo-report.ts', ['--env=dev', '--window=soon'], { env });
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.contain("WINDOW 'soon' is not a duration");
  });

  it("the Watchdog reaches the dead man's switch, and make alerts lists it", async () => {
    const beat = await until('a Watchdog heartbeat', () =>
      Promise.resolve(webhook.received.find((n) => n.path === '/heartbeat')),
    );
    expect(beat.receiver).to.equal('deadmans-switch');
    expect(beat.alerts.map((a) => a.labels.alertname)).to.deep.equal(['Watchdog']);
    expect(beat.alerts[0].labels.env).to.equal('dev');
    expect(
      webhook.received.filter((n) => n.path !== '/heartbeat').flatMap((n) => n.alerts.map((a) => a.labels.alertname)),
    ).to.not.include('Watchdog');
    const env = { MYTV_ENVIRONMENTS_DIR: envDir };
    const r = await runEntryScript('scripts/alerts.ts', ['--env=dev', '--json'], { env });
    expect(r.code, r.stderr).to.equal(0);
    const rows = JSON.parse(r.stdout) as { alertname: string; receivers: string; state: string }[];
    expect(rows.find((x) => x.alertname === 'Watchdog')).to.include({ receivers: 'deadmans-switch', state: 'active' });
  });

  it('make silence adds a silence with author, comment and expiry (--dry-run adds none)', async () => {
    const env = { MYTV_ENVIRONMENTS_DIR: envDir };
    const args = [
      '--env=dev',
      '--matcher',
      'alertname=TargetDown',
      '--matcher',
      'service=redis',
      '--duration',
      '30m',
      '--comment',
      'redis maintenance',
      '--author',
      'ops-test',
    ];
    const before = (await am.silences()).length;
    const dry = await runEntryScript('scripts/silence.ts', [...args, '--dry-run'], { env });
    expect(dry.code, dry.stderr).to.equal(0);
    expect(dry.stdout).to.contain('would create the silence');
    expect((await am.silences()).length).to.equal(before);
    const r = await runEntryScript('scripts/silence.ts', [...args, '--json'], { env });
    expect(r.code, r.stderr).to.equal(0);
    const { id } = JSON.parse(r.stdout) as { id: string };
    const created = (await am.silences()).find((s) => s.id === id)!;
    expect(created).to.include({ createdBy: 'ops-test', comment: 'redis maintenance' });
    expect(created.status.state).to.equal('active');
    const minutes = (Date.parse(created.endsAt) - Date.now()) / 60_000;
    expect(minutes).to.be.within(25, 30.5);
  });

  it('errors injected into the app page through the pager route, then resolve', async function () {
    this.timeout(300_000);
    // PostgreSQL down under reads that miss every cache: each one is a 5xx (503 since issue 16).
    await stack.stop('postgres');
    // A counter's first sample has no baseline: the 5xx series must exist in Prometheus before the
    // burst, or rate() sees none of it when the (fast-failing) burst ends between two scrapes.
    for (const base of apis) await fetch(`${base}/v2/channels/missing-first`);
    await until('the 5xx series of both replicas scraped', async () => {
      const s = await prom.query(
        'http_request_duration_seconds_count{job="api",status_code=~"5..",route!~"/health.*"}',
      );
      return new Set(s.map((x) => x.labels.pod)).size >= 2 || undefined;
    });
    const statuses = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => (await fetch(`${apis[i % 2]}/v2/channels/missing-${i}`)).status),
    );
    expect(
      statuses.filter((s) => s >= 500).length,
      `uncached reads with PostgreSQL down: ${statuses.join(',')}`,
    ).to.equal(40);
    const page = await until('the availability page at the webhook', () =>
      Promise.resolve(
        webhook.received.find(
          (n) =>
            n.status === 'firing' &&
            n.alerts.some(
              (a) => a.labels.alertname === 'ApiAvailabilityBudgetBurn' && a.labels.severity === 'critical',
            ),
        ),
      ),
    );
    expect(page.path).to.equal('/pager');
    expect(page.receiver).to.equal('pager');
    const alert = page.alerts.find((a) => a.labels.alertname === 'ApiAvailabilityBudgetBurn')!;
    expect(alert.labels).to.include({
      service: 'api',
      slo: 'availability',
      severity: 'critical',
      job: 'api',
      env: 'dev',
    });
    expect(alert.annotations.runbook_url).to.match(/\/docs\/runbooks\/ApiAvailabilityBudgetBurn\.md$/);
    expect(alert.annotations.dashboard_url).to.match(/\/d\/mytv-slo$/);
    expect(alert.annotations.description).to.match(/Burn rate is [\d.]+x over (1h|6h)/);
    // Never in chat: the ticket of the same alert is inhibited by the page.
    expect(
      webhook.received
        .filter((n) => n.path === '/chat')
        .flatMap((n) => n.alerts.map((a) => `${a.labels.alertname}/${a.labels.severity}`)),
    ).to.not.include('ApiAvailabilityBudgetBurn/critical');

    // Recovery: PostgreSQL back, then enough good requests to bring the 5-minute error ratio
    // under the page threshold (14.4 x 0.1 %).
    await stack.start('postgres');
    await until('the API ready again', async () => (await fetch(`${apis[0]}/health/ready`)).ok || undefined);
    for (const base of apis) await load(`${base}/v2/channels`, 3000);
    const resolved = await until('the resolved notification', () =>
      Promise.resolve(
        webhook.received.find(
          (n) =>
            n.path === '/pager' &&
            n.alerts.some(
              (a) =>
                a.labels.alertname === 'ApiAvailabilityBudgetBurn' &&
                a.labels.long_window === '1h' &&
                a.status === 'resolved',
            ),
        ),
      ),
    );
    expect(resolved.receiver).to.equal('pager');
  });
});

// --- helpers

/** A copy of environments/ whose dev.yaml points make slo-report/alerts/silence at this test's servers. */
function environmentsFor(prometheusUrl: string, alertmanagerUrl: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mytv-mon-envs-'));
  for (const f of readdirSync(fromRoot('environments'))) {
    let text = readFileSync(fromRoot('environments', f), 'utf8');
    if (f === 'dev.yaml')
      text += `monitoring:\n  prometheusUrl: ${prometheusUrl}\n  alertmanagerUrl: ${alertmanagerUrl}\n`;
    writeFileSync(path.join(dir, f), text);
  }
  return dir;
}
