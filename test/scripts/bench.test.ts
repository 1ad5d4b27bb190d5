// make bench's scenario runner with short durations: every scenario runs against the real built
// API, PostgreSQL and Redis, direct and through the real Nginx (micro-cache off and on), the report (markdown + JSON) has the right shape, the answers had the
// expected statuses (the 304 scenario really gets 304s), and no process it started is left.
// No figure is asserted: the benchmark is not a test.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { expectEvery } from '../support/assertions.js';
import { runEntryScript } from '../support/run-script.js';

interface Report {
  results: {
    target: string;
    path: string;
    mode: string;
    rps: number;
    p95: number;
    errors: number;
    non2xx: number;
    vsDirect?: number;
  }[];
  nginx: { scenario: string }[];
  aims: { aim: string; value: string; ok: boolean }[];
  load: number[];
}

const ownProcesses = (marker: string) =>
  execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(marker) && !l.startsWith('ps '));

describe('make bench: the scenario runner (short durations)', function () {
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'mytv-bench-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every scenario, writes report.md and report.json, and stops what it started', async function () {
    this.timeout(600_000);
    const result = await runEntryScript(
      'scripts/bench.ts',
      [
        '--rounds',
        '1',
        '--duration',
        '1',
        '--connections',
        '2',
        '--channels',
        '5',
        '--json',
        '--out',
        dir,
        '--cpu-prof',
        path.join(dir, 'prof'),
      ],
      { timeoutMs: 580_000 },
    );
    if (result.code !== 0) {
      // Which scenario failed: the report's rows with errors (the run's stdout is JSON only with --json).
      const failed = (JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8')) as Report).results.filter(
        (r) => r.errors + r.non2xx > 0,
      );
      expect.fail(`bench exited ${result.code}: ${result.stderr}\n${JSON.stringify(failed, null, 2)}`);
    }
    const report = JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8')) as Report;
    const max = report.results.filter((r) => r.mode === 'max').map((r) => r.path);
    const scenarios = [
      '/v2/channels',
      '/v2/now-next',
      '/v2/channels 304',
      '/v2/channels/:slug/programmes',
      'PATCH /v2/admin/channels/:slug',
    ];
    // Each scenario direct, through Nginx and through Nginx with the micro-cache, side by side.
    expect(max).to.deep.equal([
      '/',
      'same-body',
      ...scenarios.flatMap((s) => [s, `nginx ${s}`, `nginx+micro-cache ${s}`]),
    ]);
    expect(report.nginx.map((r) => r.scenario)).to.deep.equal(scenarios);
    expectEvery(
      report.results.filter((r) => r.path.startsWith('nginx')),
      (r) => typeof r.vsDirect === 'number' && r.vsDirect > 0,
      'every Nginx figure has its ratio to direct',
    );
    expect(report.results.filter((r) => r.mode === 'at-70%').map((r) => r.path)).to.deep.equal([
      '/v2/channels',
      '/v2/now-next',
    ]);
    expectEvery(report.results, (r) => r.rps > 0 && r.errors === 0 && r.non2xx === 0, 'scenario answered, as expected');
    expect(report.aims.map((a) => a.aim)).to.include.members([
      '/v2/channels: >= 45 % of baseline',
      '/v2/now-next: p95 < 25 ms at 70 % of max',
      'nginx /v2/channels: >= 85 % of direct',
      'nginx+micro-cache PATCH /v2/admin/channels/:slug: >= 85 % of direct',
    ]);
    expect(report.load).to.have.length(3);
    const markdown = readFileSync(path.join(dir, 'report.md'), 'utf8');
    expect(markdown).to.contain('| api channels 304 (If-None-Match) | max |');
    expect(markdown).to.contain('| nginx+micro-cache channels 304 (If-None-Match) | max |');
    expect(markdown).to.contain('## Through Nginx');
    // The API ran with --cpu-prof under dir: its profile exists only if it exited (SIGTERM, drained).
    expect(readdirSync(path.join(dir, 'prof')).filter((f) => f.endsWith('.cpuprofile'))).to.have.length(1);
    expect(ownProcesses(dir), 'no API process of the run is left').to.deep.equal([]);
  });

  it('refuses a bad option with a one-line error and changes nothing', async function () {
    this.timeout(60_000);
    const result = await runEntryScript('scripts/bench.ts', ['--rounds', 'many', '--out', path.join(dir, 'bad')]);
    expect(result.code).to.not.equal(0);
    expect(result.stderr).to.match(/rounds/);
    expect(() => readFileSync(path.join(dir, 'bad', 'report.json'))).to.throw();
  });
});
