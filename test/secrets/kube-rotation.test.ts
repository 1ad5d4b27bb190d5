// make rotate-secret on the Kubernetes environments, offline: kubectl is issue 10's stand-in on PATH
// (test/fixtures/kube-standin.cjs, records every argv and keeps the Secret in its state), the
// environment's public URL a loopback server that plays the pods: it accepts a token signed with
// a key of the Secret as it was at the latest `rollout restart`. Real clusters: GitHub Actions only.
import { expect } from 'chai';
import { jwtVerify } from 'jose';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROBE_PATH } from '../../scripts/lib/jwt-probe.js';
import { expectEvery } from '../support/assertions.js';
import { changingCalls, KubeWorld, words, type RunResult } from '../support/kube-world.js';

const b64 = (v: string) => Buffer.from(v, 'utf8').toString('base64');
const unb64 = (v: string | undefined) => (v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8'));
const OLD_KEY = 'old-jwt-key-3f9c2a71d85e4b60a1c7e2d49b8f0e36';
const DB_URL = 'postgres://mytv:db-password-7a1e9c@db.internal:5432/mytv';
const STAGING = {
  currentContext: 'mytv-staging',
  secretData: { JWT_SECRET: b64(OLD_KEY), DATABASE_URL: b64(DB_URL) },
} as const;

type Data = Record<string, string>;
const stateData = (r: RunResult) => r.state.secretData as Data;

/** Every value that must never show: in argv of any kubectl call, stdout or stderr. */
function expectNoValue(r: RunResult, values: (string | undefined)[]): void {
  const argv = JSON.stringify(r.calls);
  for (const v of values.filter((x): x is string => Boolean(x))) {
    expect(argv, 'a secret value in a kubectl argv').to.not.include(v);
    expect(argv).to.not.include(b64(v));
    expect(r.stdout + r.stderr, 'a secret value in the output').to.not.include(v);
  }
}

describe('make rotate-secret on Kubernetes (kubectl stand-in, Secret on stdin, rollout restart)', function () {
  this.timeout(180_000);
  const world = new KubeWorld();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-rot-'));
  let recordFile = '';
  before(async () => {
    await world.start();
    // The pods: the keys of the Secret at the latest restart sign acceptable tokens.
    world.handler = (req, res) => {
      if (req.url !== PROBE_PATH) return false;
      const state = JSON.parse(readFileSync(path.join(world.standinDir, 'state.json'), 'utf8')) as {
        restartedWith?: Data[];
      };
      const running = state.restartedWith?.at(-1) ?? {};
      const keys = [running.JWT_SECRET, running.JWT_SECRET_PREVIOUS].map(unb64).filter(Boolean) as string[];
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      void (async () => {
        for (const k of keys) {
          try {
            await jwtVerify(token, new TextEncoder().encode(k));
            return res.writeHead(404).end('{}');
          } catch {
            /* next key */
          }
        }
        res.writeHead(401).end('{}');
      })();
      return true;
    };
  });
  beforeEach(() => {
    recordFile = path.join(mkdtempSync(path.join(tmp, 'r-')), 'rotations.jsonl');
  });
  after(async () => world.stop());

  const rotate = (args: string[], scenario: Parameters<KubeWorld['run']>[2]) =>
    world.run('rotate-secret', [`--record=${recordFile}`, ...args], scenario);

  it('JWT on staging: new key current, old previous, one Secret apply on stdin, rollout restart + status, verified', async () => {
    const r = await rotate(['--env=staging', '--name=JWT_SECRET', '--timeout=120'], STAGING);
    expect(r.code, r.stderr).to.equal(0);
    const data = stateData(r);
    const next = unb64(data.JWT_SECRET)!;
    expect(next).to.be.a('string').and.not.equal(OLD_KEY);
    expect(unb64(data.JWT_SECRET_PREVIOUS)).to.equal(OLD_KEY);
    expect(unb64(data.DATABASE_URL), 'other keys are kept').to.equal(DB_URL);
    const sequence = r.calls.map((c) => words(c).join(' ')).filter((w) => !/^(config|get) /.test(w));
    expect(sequence).to.deep.equal([
      'apply -f -',
      'rollout restart deployment/mytv-api',
      'rollout status deployment/mytv-api --timeout=120s',
    ]);
    expectEvery(
      r.calls.filter((c) => words(c)[0] !== 'config'),
      (c) => c.args.slice(0, 4).join(' ') === '--context mytv-staging --namespace mytv-staging',
      'kubectl call in the environment context and namespace',
    );
    expectNoValue(r, [OLD_KEY, next, DB_URL]);
    const rec = readFileSync(recordFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { outcome: string });
    expect(rec.map((x) => x.outcome)).to.deep.equal(['rotated']);
    expect(readFileSync(recordFile, 'utf8')).to.not.include(next).and.not.include(OLD_KEY);
  });

  it('--finish drops the previous key after the token lifetime and verifies it is rejected', async () => {
    const next = 'new-jwt-key-81c4f0a9e27d4b5c9a63d0f1e5b7c2a8';
    writeFileSync(
      recordFile,
      JSON.stringify({
        secret: 'JWT_SECRET',
        environment: 'staging',
        outcome: 'rotated',
        at: new Date(Date.now() - 2 * 86_400_000).toISOString(),
        by: 't',
        detail: 'x',
      }) + '\n',
    );
    const scenario = {
      currentContext: 'mytv-staging',
      secretData: { JWT_SECRET: b64(next), JWT_SECRET_PREVIOUS: b64(OLD_KEY), DATABASE_URL: b64(DB_URL) },
    };
    const r = await rotate(['--env=staging', '--name=JWT_SECRET', '--finish'], scenario);
    expect(r.code, r.stderr).to.equal(0);
    expect(stateData(r)).to.deep.equal({ JWT_SECRET: b64(next), DATABASE_URL: b64(DB_URL) });
    expect(r.state.restarts).to.equal(1);
    expectNoValue(r, [OLD_KEY, next]);
  });

  it('a failing rollout puts the old Secret back, rolls again and says so; a second failure says the state', async () => {
    const r = await rotate(['--env=staging', '--name=JWT_SECRET'], { ...STAGING, restartRollout: 'fail-first' });
    expect(r.code).to.equal(1);
    expect(r.stderr.split('\n')[0]).to.match(
      /^error: JWT rotation failed: deployment\/mytv-api did not become ready: error: deployment "mytv-api" exceeded its progress deadline; rolled back: the old values are back in Secret mytv-api in mytv-staging\/mytv-staging and every replica was rolled onto them/,
    );
    expect(stateData(r)).to.deep.equal(STAGING.secretData);
    expect(r.state.restarts).to.equal(2);
    expect(readFileSync(recordFile, 'utf8')).to.include('"outcome":"rolled-back"');
    expectNoValue(r, [OLD_KEY, DB_URL]);

    const again = await rotate(['--env=staging', '--name=JWT_SECRET'], { ...STAGING, restartRollout: 'fail' });
    expect(again.code).to.equal(1);
    expect(again.stderr).to.include(
      'the old values are back in Secret mytv-api in mytv-staging/mytv-staging, but the roll back onto them failed',
    );
    expect(stateData(again)).to.deep.equal(STAGING.secretData);
  });

  it('a wrong kube context is refused before any call to the cluster', async () => {
    const r = await rotate(['--env=staging', '--name=JWT_SECRET'], {
      ...STAGING,
      currentContext: 'mytv-prod',
      contexts: ['mytv-staging'],
    });
    expect(r.code).to.equal(1);
    expect(r.stderr.split('\n')[0]).to.equal(
      "error: the current kube context is 'mytv-prod' but staging.yaml names 'mytv-staging': refusing to touch the wrong cluster",
    );
    expect(r.calls.map((c) => words(c).join(' '))).to.deep.equal(['config current-context']);
  });

  it('--dry-run prints the plan and changes nothing; prod without --yes and a DATABASE_URL outside the login roles change nothing', async () => {
    const dry = await rotate(['--env=staging', '--name=JWT_SECRET', '--dry-run'], STAGING);
    expect(dry.code, dry.stderr).to.equal(0);
    expect(dry.stdout).to.include('Plan: JWT key of staging').and.include('rollout restart deployment/mytv-api');
    expect(changingCalls(dry.calls)).to.deep.equal([]);
    expectNoValue(dry, [OLD_KEY]);

    const prod = await rotate(['--env=prod', '--name=JWT_SECRET'], { ...STAGING, currentContext: 'mytv-prod' });
    expect(prod.code).to.not.equal(0);
    expect(prod.stderr).to.match(/--yes|YES=1|confirm/);
    expect(changingCalls(prod.calls)).to.deep.equal([]);

    // DATABASE_URL logs in as a role outside staging's database.appLoginRoles: refused before any
    // change and before the database host is contacted (test/secrets/kube-db-rotation.test.ts rotates).
    const pg = await rotate(['--env=staging', '--name=DATABASE_URL'], STAGING);
    expect(pg.code).to.equal(1);
    expect(pg.stderr.split('\n')[0]).to.equal(
      'error: DATABASE_URL logs in as mytv, not as one of database.appLoginRoles (mytv_app_a, mytv_app_b) of staging',
    );
    expect(changingCalls(pg.calls)).to.deep.equal([]);
    expectNoValue(pg, [DB_URL]);
  });
});
