// Nginx5xxRatioHigh made real: Loki's ruler records nginx:http_responses:rate5m from Nginx's JSON
// access log (loki/rules/nginx.yaml) and remote-writes it to Prometheus, which runs the alert
// (prometheus/rules/edge.yml). Loki cannot run here: its ruler is played by test/support/loki-ruler.ts
// (the rule's LogQL evaluated per Loki's documented semantics, samples sent with the remote-write
// protocol). Everything else is real: Nginx from the service runner writes the access log from real
// requests (its upstream answers 200/404/500, and Nginx itself 502 once the upstream is gone), and a
// real Prometheus with the repository's config and rules receives the samples and evaluates the alert.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { parse } from 'yaml';
import {
  checkLokiRules,
  lokiRecordingRules,
  metricQueryError,
  promqlMetricNames,
} from '../../scripts/lib/monitoring/loki-rules.js';
import { alertRules } from '../../scripts/lib/monitoring/checks.js';
import { PrometheusClient } from '../../scripts/lib/monitoring/api.js';
import { environmentSchema, listEnvironments, loadEnvironment } from '../../scripts/lib/environments.js';
import { COMMITTED } from '../../scripts/lib/generated/index.js';
import { lokiEnvPath } from '../../scripts/lib/generated/loki-env.js';
import { fromRoot } from '../../scripts/lib/paths.js';
import type { NginxInfo } from '../../scripts/lib/services/nginx.js';
import { Stack } from '../../scripts/lib/services/index.js';
import { prometheusService } from '../../scripts/lib/services/prometheus.js';
import { waitFor } from '../../scripts/lib/wait.js';
import { expectEvery } from '../support/assertions.js';
import { evaluateLogQL, recordingSeries, remoteWrite, type LogEntry } from '../support/loki-ruler.js';

const RECORD = 'nginx:http_responses:rate5m';
const ALERT = 'Nginx5xxRatioHigh';

const nginxRule = () => {
  const rule = lokiRecordingRules().find((r) => r.record === RECORD);
  if (!rule) throw new Error(`loki/rules records no ${RECORD}`);
  return rule;
};

describe('monitoring: the Loki recording rule behind Nginx5xxRatioHigh (static)', function () {
  it('every Loki rule is a LogQL metric query, and its name is the one the alert reads (one name)', function () {
    const results = checkLokiRules();
    expectEvery(results, (r) => r.ok, 'Loki rule checks');
    expect(results.map((r) => r.target)).to.include(`loki/rules/nginx.yaml ${RECORD}`);
    const alert = alertRules().find((a) => a.alert === ALERT)!;
    expect(promqlMetricNames(alert.expr)).to.deep.equal([RECORD]);
    // What the alert selects and groups by must be labels the recording carries.
    expect(alert.expr).to.include('status_class="5xx"').and.include('sum by (job)');
    expect(nginxRule().labels).to.deep.equal({ job: 'nginx' });
    expect(nginxRule().expr).to.match(/sum by \(status_class\)/);
  });

  it('the check fails on a log query, on broken LogQL, and on an alert reading a name nobody records', function () {
    expect(metricQueryError('{service="nginx"} | json')).to.match(/log query/);
    expect(metricQueryError('sum by (status_class) (rate({service="nginx"} | json [5m])')).to.match(/syntax error/);
    expect(metricQueryError(nginxRule().expr)).to.equal(undefined);
    expect(promqlMetricNames('sum(nginx:http_response:rate5m) / sum(up)')).to.deep.equal([
      'nginx:http_response:rate5m',
      'up',
    ]);
  });

  it('the stand-in evaluates the rule as Loki documents: window (t-5m, t], status classes, bad lines left out', function () {
    const t = Date.parse('2026-11-29T12:00:00Z');
    const line = (status: number, ago: number, labels: Record<string, string> = {}): LogEntry => ({
      ts: t - ago,
      labels: { env: 'dev', service: 'nginx', log_type: 'access', level: 'info', ...labels },
      line: JSON.stringify({ status, msg: 'request' }),
    });
    const entries = [
      line(200, 1000),
      line(200, 299_000),
      line(204, 300_000), // on the left edge: outside (t-5m, t]
      line(503, 0), // at t: inside
      line(500, 10_000, { level: 'error' }),
      line(404, 5000),
      line(500, 1000, { service: 'api' }), // another service
      line(500, 1000, { log_type: 'app' }),
      { ts: t - 10, labels: { env: 'dev', service: 'nginx', log_type: 'access' }, line: 'not json' },
    ];
    const got = Object.fromEntries(
      evaluateLogQL(nginxRule().expr, entries, t).map((s) => [s.labels.status_class, s.value]),
    );
    expect(got).to.deep.equal({ '2xx': 2 / 300, '5xx': 2 / 300, '4xx': 1 / 300 });
    const series = recordingSeries(nginxRule(), entries, t);
    expect(series.map((s) => s.labels)).to.deep.include({ __name__: RECORD, job: 'nginx', status_class: '5xx' });
    expect(() => evaluateLogQL('sum(bytes_over_time({service="nginx"} [5m]))', entries, t)).to.throw(/not implemented/);
  });

  it('Loki ruler: local rules, remote write to Prometheus, which accepts it (compose and the native stack)', function () {
    const loki = parse(readFileSync(fromRoot('loki', 'loki.yaml'), 'utf8')) as {
      ruler: {
        storage: { type: string; local: { directory: string } };
        evaluation_interval: string;
        remote_write: { enabled: boolean; clients: Record<string, { url: string }> };
      };
    };
    expect(loki.ruler.storage.type).to.equal('local');
    expect(loki.ruler.remote_write.enabled).to.equal(true);
    const urls = Object.values(loki.ruler.remote_write.clients).map((c) => c.url);
    expect(urls).to.deep.equal(['${LOKI_RULER_REMOTE_WRITE_URL:-unset}']);
    // The URL is environment data (logs.rulerRemoteWriteUrl), generated into loki/env/<env>.env.
    for (const name of listEnvironments()) {
      const env = loadEnvironment(name, COMMITTED);
      const vars = readFileSync(fromRoot(lokiEnvPath(name)), 'utf8');
      const url = /^LOKI_RULER_REMOTE_WRITE_URL=(.*)$/m.exec(vars)?.[1];
      expect(url, `${lokiEnvPath(name)}`).to.equal(env.logs?.rulerRemoteWriteUrl);
      expect(new URL(url!).pathname, name).to.equal('/api/v1/write');
    }
    // dev is the compose stack: its Prometheus service on its container port.
    expect(loadEnvironment('dev', COMMITTED).logs?.rulerRemoteWriteUrl).to.equal('http://prometheus:9090/api/v1/write');
    const raw = parse(readFileSync(fromRoot('environments', 'dev.yaml'), 'utf8')) as { logs: object };
    expect(environmentSchema.safeParse(raw).success, 'dev.yaml as committed').to.equal(true);
    const notAUrl = { ...raw, logs: { ...raw.logs, rulerRemoteWriteUrl: 'prometheus:9090' } };
    expect(environmentSchema.safeParse(notAUrl).success, 'a URL without scheme').to.equal(false);
    // The rule group's interval and the ruler's agree with what the alert expects (1m evaluations).
    expect(loki.ruler.evaluation_interval).to.equal('1m');
    const compose = parse(readFileSync(fromRoot('compose', 'compose.yaml'), 'utf8')) as {
      services: Record<string, { command?: string[]; volumes?: string[] }>;
    };
    expect(compose.services.loki.volumes).to.include(`../loki/rules:${loki.ruler.storage.local.directory}/fake:ro`);
    expect(compose.services.prometheus.command).to.include('--web.enable-remote-write-receiver');
    const ctx = { name: 'prometheus', dir: '/tmp/x', host: '127.0.0.1', port: 9090, ports: {}, options: {}, peers: {} };
    expect(prometheusService.command({ ...ctx, logFile: '/tmp/x/log' }).args).to.include(
      '--web.enable-remote-write-receiver',
    );
  });
});

/** An upstream standing in for the API: 200 on /v2/ok, 500 on /v2/fail, 404 elsewhere. */
function startUpstream(): Promise<{ port: number; stop(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const status = req.url === '/v2/ok' ? 200 : req.url === '/v2/fail' ? 500 : 404;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status }));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        stop: () => {
          server.closeAllConnections();
          return new Promise((r) => server.close(() => r()));
        },
      }),
    ),
  );
}

/** Alloy's shipping of the access log (loki/alloy/pipeline.alloy): its drop expressions, labels, the line's time. */
function shipAccessLog(file: string): LogEntry[] {
  const pipeline = readFileSync(fromRoot('loki', 'alloy', 'pipeline.alloy'), 'utf8');
  const drops = [...pipeline.matchAll(/stage\.drop \{\s*expression\s*=\s*"((?:[^"\\]|\\.)*)"/g)].map(
    (m) => new RegExp(JSON.parse(`"${m[1]}"`) as string),
  );
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l && !drops.some((d) => d.test(l)))
    .map((line) => {
      const doc = JSON.parse(line) as { timestamp: string; level: string; log_type: string };
      return {
        ts: Date.parse(doc.timestamp),
        labels: { env: 'dev', service: 'nginx', log_type: doc.log_type, level: doc.level },
        line,
      };
    });
}

describe('monitoring: Nginx 5xx from the access log to a firing alert (real Nginx and Prometheus)', function () {
  this.timeout(120_000);
  const stack = new Stack();
  let upstream: { port: number; stop(): Promise<void> } | undefined;
  let nginx: NginxInfo;
  let prom: PrometheusClient;
  let promUrl: string;

  before(async function () {
    this.timeout(90_000);
    upstream = await startUpstream();
    nginx = (await stack.start('nginx', {
      options: {
        environment: 'dev',
        upstreams: [`127.0.0.1:${upstream.port}`],
        rateLimit: { perSecond: 1000, burst: 1000 },
      },
    })) as NginxInfo;
    promUrl = (
      (await stack.start('prometheus', { options: { intervals: { scrape: '1s', evaluation: '1s' } } })) as {
        url: string;
      }
    ).url;
    prom = new PrometheusClient(promUrl);
  });

  after(async function () {
    this.timeout(60_000);
    await upstream?.stop();
    await stack.stopAll();
  });

  const send = async (path: string, n: number): Promise<number[]> => {
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) statuses.push((await fetch(`${nginx.url}${path}`)).status);
    return statuses;
  };

  /** The ruler's evaluation now: the rule over the shipped log, remote-written; returns the evaluation time. */
  /** Evaluates the rule over the access log once it holds `lines` lines, and remote-writes the result. */
  const evaluateAndWrite = async (lines: number): Promise<number> => {
    // Nginx writes a request's line in its log phase, after the answer went out: the client can be
    // a line ahead of the file.
    await waitFor(() => shipAccessLog(nginx.accessLog).length >= lines, { timeoutMs: 10_000, intervalMs: 50 });
    const at = Date.now();
    const series = recordingSeries(nginxRule(), shipAccessLog(nginx.accessLog), at);
    expect(series.length, 'the recording produced series').to.be.greaterThan(0);
    await remoteWrite(`${promUrl}/api/v1/write`, series);
    return at;
  };

  const alertsNamed = async () => {
    const body = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as {
      data: { alerts: { labels: Record<string, string>; state: string }[] };
    };
    return body.data.alerts.filter((a) => a.labels.alertname === ALERT);
  };

  /** Until Prometheus has evaluated the alert rule after `at` (ms), healthy. */
  const evaluatedAfter = async (at: number): Promise<void> => {
    const done = await waitFor(
      async () => {
        const body = (await (await fetch(`${promUrl}/api/v1/rules?type=alert`)).json()) as {
          data: { groups: { rules: { name: string; health: string; lastError?: string; lastEvaluation: string }[] }[] };
        };
        const rule = body.data.groups.flatMap((g) => g.rules).find((r) => r.name === ALERT);
        if (rule?.health === 'err') throw new Error(`Prometheus cannot evaluate ${ALERT}: ${rule.lastError}`);
        return rule !== undefined && Date.parse(rule.lastEvaluation) > at + 1000;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    if (!done) throw new Error(`Prometheus did not evaluate ${ALERT} after the samples were written`);
  };

  it('with only 2xx and 4xx responses the recording arrives and the alert stays quiet', async function () {
    expect(await send('/v2/ok', 30)).to.satisfy((s: number[]) => s.every((x) => x === 200));
    expect(await send('/v2/missing', 3)).to.deep.equal([404, 404, 404]);
    const at = await evaluateAndWrite(33);
    const recorded = await waitFor(
      async () => {
        const r = await prom.query(`${RECORD}{job="nginx"}`);
        return r.length > 0 && r;
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    );
    expect(recorded, `${RECORD} in Prometheus`).to.not.equal(undefined);
    expect(recorded!.map((s) => s.labels.status_class).sort()).to.deep.equal(['2xx', '4xx']);
    await evaluatedAfter(at);
    expect(await alertsNamed()).to.deep.equal([]);
  });

  it('with upstream 500s and Nginx 502s the ratio crosses 1 % and the alert is pending, labelled as routed', async function () {
    expect(await send('/v2/fail', 8)).to.satisfy((s: number[]) => s.every((x) => x === 500));
    await upstream!.stop();
    upstream = undefined;
    expect(await send('/v2/ok', 4)).to.deep.equal([502, 502, 502, 502]);
    const at = await evaluateAndWrite(45);
    const ratio = await waitFor(
      async () => {
        const v = await prom.value(`sum by (job) (${RECORD}{status_class="5xx"}) / sum by (job) (${RECORD})`);
        return v !== undefined && v;
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    );
    // 12 of 45 lines are 5xx (30 + 3 + 8 + 4 requests).
    expect(ratio).to.be.closeTo(12 / 45, 1e-9);
    await evaluatedAfter(at);
    const alerts = await waitFor(
      async () => {
        const a = await alertsNamed();
        return a.length > 0 && a;
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    );
    expect(alerts, `${ALERT} pending or firing`).to.not.equal(undefined);
    expect(alerts).to.have.length(1);
    expect(['pending', 'firing']).to.include(alerts![0].state);
    expect(alerts![0].labels).to.include({ job: 'nginx', severity: 'warning', service: 'nginx' });
  });
});
