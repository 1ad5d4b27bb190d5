// make rotate-secret against a running local stack (make up, native mode, free ports, its own run
// directory): real PostgreSQL, Redis, two API replicas behind Nginx. While each rotation runs, a
// load of public reads and admin-authenticated requests goes through Nginx; not one may fail.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildAppIfStaleSync } from '../../scripts/lib/app-build.js';
import { signAdminToken, tokenAccepted, PROBE_PATH } from '../../scripts/lib/jwt-probe.js';
import { ConstantRateLoad } from '../../scripts/lib/load.js';
import { readRotationRecords } from '../../scripts/lib/rotation.js';
import { trackedProcesses } from '../../scripts/lib/services/index.js';
import { requireTool } from '../../scripts/lib/tools.js';
import { environmentsWith, freeLocalPorts } from '../support/local-stack-env.js';
import { runEntryScript, type ScriptResult } from '../support/run-script.js';

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface LoadResult {
  requests: number;
  failures: string[];
}

/**
 * Requests through Nginx until stopped: GET /v2/channels at 20/s (must be 200), with the shared
 * constant-rate load (scripts/lib/load.ts: keep-alive connections, a GET whose kept-alive
 * connection the server closed as it went out is sent again once on a new one, RFC 9112 §9.3.1, as
 * browsers do; Nginx's old workers close their idle connections on a reload) and, when a token is
 * given, an admin PATCH probe every 2.5 s (must not be 401/5xx) on a connection of its own (a write
 * is never resent). Paced below the dev environment's Nginx rate limits (50 r/s; admin writes
 * 30/min), so a 429 is a real failure. Network errors count as failures.
 */
function startLoad(base: string, token: () => string | undefined): { stop: () => Promise<LoadResult> } {
  let running = true;
  const probes: string[] = [];
  let probeCount = 0;
  const reads = new ConstantRateLoad(
    base,
    [{ name: 'GET /v2/channels', kind: 'cached', path: () => '/v2/channels?limit=5' }],
    { rate: 20, timeoutMs: 10_000 },
  );
  reads.start();
  const patch = (t: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = http.request(
        `${base}${PROBE_PATH}`,
        {
          method: 'PATCH',
          agent: false,
          headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end('{}');
    });
  const prober = (async () => {
    while (running) {
      await sleep(2500);
      const t = token();
      if (!running || t === undefined) continue;
      probeCount++;
      try {
        const status = await patch(t);
        if (status === 401 || status >= 500) probes.push(`PATCH probe -> ${status}`);
      } catch (err) {
        probes.push(`PATCH probe: ${(err as Error).message}`);
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      const records = await reads.stop();
      await prober;
      const failures = [
        ...records.filter((r) => r.status !== 200).map((r) => `GET /v2/channels -> ${r.status}`),
        ...probes,
      ];
      return { requests: records.length + probeCount, failures };
    },
  };
}

describe('make rotate-secret: zero-downtime rotation on a running local stack', function () {
  this.timeout(180_000);
  let tmp: string;
  let runDir: string;
  let envDir: string;
  let record: string;
  let nginx: string;
  let apiUrls: string[];

  const script = (name: string, args: string[] = []): Promise<ScriptResult> =>
    runEntryScript(`scripts/${name}.ts`, ['--run-dir', runDir, ...args], {
      env: {
        MYTV_ENVIRONMENTS_DIR: envDir,
        MYTV_DOCKER: '0',
        ENV: 'dev',
        PROFILE: undefined,
        MODE: undefined,
        NAME: undefined,
      },
      timeoutMs: 300_000,
    });
  const rotate = (args: string[]): Promise<ScriptResult> => script('rotate-secret', ['--record', record, ...args]);
  /** The failures, with what Nginx said about them: 5xx access-log lines and the error log's tail. */
  const evidence = (failures: string[]): string => {
    const read = (rel: string): string[] => {
      try {
        return readFileSync(path.join(runDir, 'nginx', rel), 'utf8')
          .split('\n')
          .filter(Boolean);
      } catch {
        return [];
      }
    };
    const fivexx = read('access.log').filter((l) => /"status":5\d\d/.test(l));
    return [
      ...failures.slice(0, 5),
      '-- Nginx 5xx:',
      ...fivexx.slice(-5),
      '-- error.log:',
      ...read('error.log').slice(-8),
    ].join('\n');
  };
  const file = (rel: string): string => readFileSync(path.join(runDir, rel), 'utf8').trim();

  before(async function () {
    this.timeout(600_000);
    buildAppIfStaleSync(); // up would build it too; here its time is not taken from up's budget
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-rotate-'));
    chmodSync(tmp, 0o755); // PostgreSQL runs as its own user and must reach the run directory
    runDir = path.join(tmp, 'run');
    record = path.join(tmp, 'rotations.jsonl');
    const ports = await freeLocalPorts();
    envDir = environmentsWith(path.join(tmp, 'environments'), ports);
    const up = await script('up', ['--mode', 'native']);
    expect(up.code, up.stderr + up.stdout).to.equal(0);
    nginx = `http://127.0.0.1:${ports.nginx}`;
    apiUrls = [`http://127.0.0.1:${ports.api}`, `http://127.0.0.1:${ports.api + 1}`];
  });

  after(async function () {
    this.timeout(60_000);
    await script('down').catch(() => undefined);
    for (const t of trackedProcesses(runDir)) if (t.alive && t.record) process.kill(-t.record.pid, 'SIGKILL');
    if (process.env.KEEP_TMP) console.log('kept', tmp);
    else rmSync(tmp, { recursive: true, force: true });
  });

  it('refuses an unknown secret and a secret rotated by hand, changing nothing (exit 2)', async () => {
    const before = file('api-jwt-secret');
    const unknown = await rotate(['--name', 'NOPE_SECRET']);
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.match(/^error: unknown secret NOPE_SECRET/m);
    const manual = await rotate(['--name', 'REDIS_URL']);
    expect(manual.code).to.equal(2);
    expect(file('api-jwt-secret')).to.equal(before);
    expect(existsSync(record)).to.equal(false);
  });

  it('--dry-run prints the plan and changes nothing', async () => {
    const before = file('api-jwt-secret');
    const r = await rotate(['--name', 'JWT_SECRET', '--dry-run']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('Plan: JWT key of dev');
    expect(file('api-jwt-secret')).to.equal(before);
    expect(existsSync(path.join(runDir, 'api-jwt-secret-previous'))).to.equal(false);
    expect(existsSync(record)).to.equal(false);
  });

  it('JWT: new key current, old key previous, no failed request; --finish drops the old key after the token lifetime', async () => {
    const oldKey = file('api-jwt-secret');
    const oldToken = await signAdminToken(oldKey, 600);
    const load = startLoad(nginx, () => oldToken);
    const r = await rotate(['--name', 'JWT_SECRET', '--token-lifetime', '3600']);
    const result = await load.stop();
    expect(r.code, r.stderr + r.stdout).to.equal(0);
    expect(result.failures, evidence(result.failures)).to.deep.equal([]);
    expect(result.requests).to.be.greaterThan(10);

    const newKey = file('api-jwt-secret');
    expect(newKey).not.to.equal(oldKey);
    expect(file('api-jwt-secret-previous')).to.equal(oldKey);
    const newToken = await signAdminToken(newKey, 600);
    for (const url of apiUrls) {
      expect(await tokenAccepted(url, newToken), `${url} new token`).to.equal(true);
      expect(await tokenAccepted(url, oldToken), `${url} old token before expiry`).to.equal(true);
    }

    const early = await rotate(['--name', 'JWT_SECRET', '--finish', '--token-lifetime', '3600']);
    expect(early.code).to.equal(1);
    expect(early.stderr).to.match(/previous key may still sign valid tokens/);
    expect(file('api-jwt-secret-previous')).to.equal(oldKey);

    const load2 = startLoad(nginx, () => newToken);
    const finish = await rotate(['--name', 'JWT_SECRET', '--finish', '--token-lifetime', '1']);
    const result2 = await load2.stop();
    expect(finish.code, finish.stderr + finish.stdout).to.equal(0);
    expect(result2.failures, evidence(result2.failures)).to.deep.equal([]);
    expect(existsSync(path.join(runDir, 'api-jwt-secret-previous'))).to.equal(false);
    for (const url of apiUrls) {
      expect(await tokenAccepted(url, oldToken), `${url} old token after finish`).to.equal(false);
      expect(await tokenAccepted(url, newToken), `${url} new token after finish`).to.equal(true);
    }

    const records = readRotationRecords(record);
    expect(records.map((x) => [x.secret, x.outcome])).to.deep.equal([
      ['JWT_SECRET', 'rotated'],
      ['JWT_SECRET', 'finished'],
    ]);
    const text = readFileSync(record, 'utf8');
    expect(text).not.to.contain(oldKey);
    expect(text).not.to.contain(newKey);
    expect(r.stdout + r.stderr + finish.stdout + finish.stderr).not.to.contain(newKey);
  });

  it('PostgreSQL: new password set, secret updated, replicas rolled with no failed request; the old password no longer logs in', async () => {
    const oldPassword = file('postgres/password');
    const pg = JSON.parse(readFileSync(path.join(runDir, 'stack.json'), 'utf8')) as {
      instances: { name: string; port: number }[];
    };
    const pgPort = pg.instances.find((i) => i.name === 'postgres')!.port;
    const login = async (password: string): Promise<boolean> => {
      try {
        const { stdout } = await run(
          requireTool('psql'),
          ['-X', '-tAc', 'SELECT 1', '-h', '127.0.0.1', '-p', String(pgPort), '-U', 'postgres', '-d', 'mytv'],
          {
            env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '5' },
          },
        );
        return stdout.trim() === '1';
      } catch {
        return false;
      }
    };
    expect(await login(oldPassword)).to.equal(true);

    const load = startLoad(nginx, () => undefined);
    const r = await rotate(['--name', 'DATABASE_URL']);
    const result = await load.stop();
    expect(r.code, r.stderr + r.stdout).to.equal(0);
    expect(result.failures, evidence(result.failures)).to.deep.equal([]);
    expect(result.requests).to.be.greaterThan(10);

    const newPassword = file('postgres/password');
    expect(newPassword).not.to.equal(oldPassword);
    expect(await login(newPassword)).to.equal(true);
    expect(await login(oldPassword)).to.equal(false);
    for (const url of apiUrls) expect((await fetch(`${url}/health/ready`)).status, url).to.equal(200);
    expect(readFileSync(record, 'utf8')).not.to.contain(newPassword);
    expect(r.stdout + r.stderr).not.to.contain(newPassword);
    expect(readRotationRecords(record).pop()).to.include({ secret: 'DATABASE_URL', outcome: 'rotated' });
  });
});
