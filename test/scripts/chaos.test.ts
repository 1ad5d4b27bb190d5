// make chaos and make soak against a real native stack (make up MODE=native on free loopback
// ports in a temporary run directory, started once for this file): every chaos scenario runs with
// short durations and reports plausible figures (requests sent, the PIDs it really signalled,
// recovery), the stack is left with the same services running and healthy, a missed aim makes
// --check exit non-zero, and a short soak reads its figures from the stack's own Prometheus.
import { expect } from 'chai';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { isAlive, type ScenarioResult } from '../../scripts/lib/chaos.js';
import type { SoakReport } from '../../scripts/lib/soak.js';
import { Stack, trackedProcesses } from '../../scripts/lib/services/index.js';
import { waitForUrl } from '../../scripts/lib/wait.js';
import { expectEvery } from '../support/assertions.js';
import { environmentsWith, freeLocalPorts } from '../support/local-stack-env.js';
import { runEntryScript, type ScriptResult } from '../support/run-script.js';

const SHORT = ['--warmup=1s', '--settle=1s', '--redis-outage=1s', '--postgres-outage=2s', '--rate=20'];

describe('make chaos / make soak on a native stack', function () {
  this.timeout(240_000);
  let tmp: string;
  let runDir: string;
  let envDir: string;
  let ports: Record<string, number>;

  const script = (name: string, args: string[]): Promise<ScriptResult> =>
    runEntryScript(`scripts/${name}.ts`, ['--run-dir', runDir, ...args], {
      env: { MYTV_ENVIRONMENTS_DIR: envDir, MYTV_DOCKER: '0', ENV: 'dev', JSON: undefined, SCENARIO: undefined },
      timeoutMs: 200_000,
    });
  const running = (): string[] =>
    trackedProcesses(runDir)
      .filter((t) => t.alive)
      .map((t) => t.name)
      .sort();

  before(async function () {
    this.timeout(240_000);
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-chaos-'));
    chmodSync(tmp, 0o755); // PostgreSQL runs as its own user and must reach the run directory
    runDir = path.join(tmp, 'run');
    ports = await freeLocalPorts();
    envDir = environmentsWith(path.join(tmp, 'environments'), ports);
    const up = await script('up', ['--mode', 'native']);
    expect(up.code, up.stderr + up.stdout).to.equal(0);
    // Tests evaluate in seconds: Prometheus scrapes every second (the production file says 15 s).
    const config = path.join(runDir, 'prometheus', 'config', 'prometheus.yml');
    const doc = parseDocument(readFileSync(config, 'utf8'));
    doc.setIn(['global', 'scrape_interval'], '1s');
    doc.setIn(['global', 'scrape_timeout'], '1s');
    writeFileSync(config, doc.toString());
    const reload = await fetch(`http://127.0.0.1:${ports.prometheus}/-/reload`, { method: 'POST' });
    expect(reload.status).to.equal(200);
  });

  after(async function () {
    this.timeout(60_000);
    if (!runDir) return;
    await script('down', []).catch(() => undefined);
    for (const t of trackedProcesses(runDir)) {
      if (!t.alive || !t.record) continue;
      try {
        process.kill(-t.record.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  it('refuses an unknown scenario, naming the known ones', async () => {
    const unknown = await script('chaos', ['--scenario=meteor']);
    expect(unknown.code, 'a usage error').to.equal(2);
    expect(unknown.stderr).to.contain("unknown scenario 'meteor'").and.contain('nginx-reload');
  });

  it('runs every scenario under load and leaves the same services running and healthy', async () => {
    const before = running();
    const r = await script('chaos', [...SHORT, '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const report = JSON.parse(r.stdout) as { scenarios: ScenarioResult[] };
    const by = Object.fromEntries(report.scenarios.map((s) => [s.scenario, s]));
    expect(Object.keys(by)).to.deep.equal([
      'nginx-reload',
      'rolling-restart',
      'kill-replica',
      'redis-restart',
      'postgres-restart',
      'postgres-outage',
    ]);
    expectEvery(report.scenarios, (s) => s.requests.sent > 0 && s.requests.uncached.sent > 0, 'requests sent');
    expectEvery(report.scenarios, (s) => s.requests.sent === s.requests.served + s.requests.failed, 'counts add up');
    expectEvery(report.scenarios, (s) => s.recovered && typeof s.recoveryMs === 'number', 'recovered');
    expectEvery(report.scenarios, (s) => typeof s.p99DuringMs === 'number' && s.p99DuringMs > 0, 'p99 during');

    // The faults really happened.
    const reload = by['nginx-reload'].details as { workersBefore: number[]; workersAfter: number[] };
    expect(reload.workersBefore).to.not.be.empty;
    expect(reload.workersAfter.filter((p) => reload.workersBefore.includes(p))).to.deep.equal([]);
    const kill = by['kill-replica'].details as { killedPid: number; replacementPid: number; replica: string };
    expect(isAlive(kill.killedPid), `pid ${kill.killedPid} still exists`).to.equal(false);
    const roll = by['rolling-restart'].details as {
      replicas: string[];
      pidsBefore: Record<string, number>;
      pidsAfter: Record<string, number>;
    };
    expect(roll.replicas).to.have.length.greaterThan(1);
    expectEvery(roll.replicas, (n) => roll.pidsAfter[n] !== roll.pidsBefore[n], 'each replica restarted');
    for (const name of ['redis-restart', 'postgres-restart', 'postgres-outage']) {
      const d = by[name].details as { pidBefore: number; pidAfter: number };
      expect(d.pidAfter, name).to.not.equal(d.pidBefore);
      expect(isAlive(d.pidBefore), `${name}: old pid ${d.pidBefore}`).to.equal(false);
    }

    // Aims: no failed request where none is allowed.
    for (const name of ['nginx-reload', 'rolling-restart', 'kill-replica', 'redis-restart']) {
      expect(by[name].requests.failedByStatus, name).to.deep.equal({});
      expect(by[name].aimMet, `${name}: ${by[name].missed.join('; ')}`).to.equal(true);
    }
    // PostgreSQL loss: never a 500, never a hang; the API's 503s say when to retry.
    for (const name of ['postgres-restart', 'postgres-outage']) {
      const failed = by[name].requests.failedByStatus;
      expect(
        Object.keys(failed).filter((k) => k === '500' || k === 'timeout'),
        name,
      ).to.deep.equal([]);
      expect(by[name].unavailableWithoutRetryAfter, name).to.equal(0);
      // Only the API's own 503s: no 502 "no live upstreams" from Nginx (a dependency 503 must not
      // mark the replicas unavailable, nginx/snippets/proxy-api.conf).
      expect(
        Object.keys(failed).filter((k) => k !== '503'),
        `${name}: ${JSON.stringify(failed)}`,
      ).to.deep.equal([]);
      expect(by[name].aimMet, `${name}: ${by[name].missed.join('; ')}`).to.equal(true);
    }

    // The stack as it was: the same services, each healthy, the API answering through Nginx.
    expect(running()).to.deep.equal(before);
    const stack = Stack.restore({ runDir, readOnly: true });
    expectEvery(before, (n) => stack.pid(n) !== undefined, 'tracked and alive');
    for (const n of before) expect(await stack.healthy(n), `${n} healthy`).to.equal(true);
    expect(stack.pid(kill.replica)).to.equal(kill.replacementPid);
    const res = await waitForUrl(`http://127.0.0.1:${ports.nginx}/v2/channels`, { timeoutMs: 10_000 });
    expect(res?.status).to.equal(200);
  });

  it('--check exits non-zero when an aim is missed, and still leaves the stack as it was', async () => {
    const before = running();
    // p99 under 1 ms through Nginx, PostgreSQL reads included: an aim no run meets.
    const r = await script('chaos', ['--scenario=nginx-reload', ...SHORT, '--max-p99-ms=1', '--check']);
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    expect(r.stderr).to.contain('aim missed by nginx-reload');
    expect(r.stdout).to.match(/nginx-reload\s+\d+\s+.*MISSED/);
    expect(running()).to.deep.equal(before);
  });

  it('a short soak reads availability and P95 over its window from the stack’s Prometheus', async () => {
    const tooShort = await script('soak', ['--duration=1s', '--rps=5']);
    expect(tooShort.code).to.equal(1);
    expect(tooShort.stderr).to.contain('shorter than two scrapes');

    const r = await script('soak', ['--duration=4s', '--rps=10', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const report = JSON.parse(r.stdout) as SoakReport;
    expect(report.prometheus).to.equal(`http://127.0.0.1:${ports.prometheus}`);
    expect(report.client.sent).to.be.greaterThan(0);
    expect(report.apiRequests, 'requests counted by Prometheus').to.be.a('number').and.greaterThan(0);
    expect(report.sla.map((s) => s.indicator)).to.deep.equal(['availability', 'latency P95', 'error rate']);
    expectEvery(report.sla, (s) => typeof s.value === 'number' && s.status !== 'no data', 'SLIs read');
    const availability = report.sla[0].value!;
    expect(availability).to.be.within(0, 1);
    expect(report.slaMet).to.equal(report.sla.every((s) => s.status === 'ok'));
  });
});
