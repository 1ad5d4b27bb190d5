// The two checks the workflows run after the build and the deploy: make coverage-check (quality
// gate) on a c8 json-summary, and make smoke against a real HTTP server on loopback.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runEntryScript } from '../support/run-script.js';

describe('quality gate and smoke check scripts', function () {
  this.timeout(60_000);

  describe('make coverage-check', () => {
    let tmp: string;
    let summary: string;
    before(() => {
      tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-cov-'));
      summary = path.join(tmp, 'coverage-summary.json');
      const m = (pct: number) => ({ total: 100, covered: pct, skipped: 0, pct });
      writeFileSync(
        summary,
        JSON.stringify({ total: { lines: m(81.5), statements: m(81.5), functions: m(75), branches: m(64) } }),
      );
    });
    after(() => rmSync(tmp, { recursive: true, force: true }));

    it('passes at or above every minimum', async () => {
      const r = await runEntryScript('scripts/coverage-check.ts', [
        `--summary=${summary}`,
        '--min-lines=80',
        '--min-branches=64',
      ]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/lines\s+81\.5\s+80\s+ok/);
    });

    it('fails below a minimum, naming the metric', async () => {
      const r = await runEntryScript('scripts/coverage-check.ts', [
        `--summary=${summary}`,
        '--min-lines=80',
        '--min-functions=90',
      ]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.contain('functions 75 % < 90 %');
    });

    it('refuses no minimum, a bad percentage and a missing summary', async () => {
      expect((await runEntryScript('scripts/coverage-check.ts', [`--summary=${summary}`])).code).to.equal(2);
      expect((await runEntryScript('scripts/coverage-check.ts', ['--min-lines=120'])).code).to.equal(2);
      const missing = await runEntryScript('scripts/coverage-check.ts', [
        '--min-lines=1',
        `--summary=${tmp}/none.json`,
      ]);
      expect(missing.code).to.equal(1);
      expect(missing.stderr).to.contain('run `make test` first');
    });
  });

  describe('make smoke', () => {
    let server: http.Server;
    let base: string;
    let ready = 200;
    before(async () => {
      server = http.createServer((req, res) => {
        const status = req.url === '/health/ready' ? ready : req.url?.startsWith('/v2/channels') ? 200 : 404;
        res.writeHead(status, { 'content-type': 'application/json' }).end('{"data":[]}');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((r) => server.close(() => r())));

    it('passes when readiness and a read endpoint answer 200', async () => {
      ready = 200;
      const r = await runEntryScript('scripts/smoke.ts', ['--env=staging', `--url=${base}`, '--json']);
      expect(r.code, r.stderr).to.equal(0);
      expect((JSON.parse(r.stdout) as { status: string }[]).map((x) => x.status)).to.deep.equal([
        'HTTP 200',
        'HTTP 200',
      ]);
    });

    it('fails after its deadline when readiness stays 503, naming the rollback target', async () => {
      ready = 503;
      const r = await runEntryScript('scripts/smoke.ts', ['--env=staging', `--url=${base}`, '--timeout=1']);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.contain('answered HTTP 503');
      expect(r.stderr).to.contain('make rollback-staging');
    });
  });
});
