// make rotate-secret NAME=DATABASE_URL on a Kubernetes environment: kubectl is the stand-in on
// PATH (test/fixtures/kube-standin.cjs keeps the app Secret and records every argv), the database
// host is real: an sshd on loopback in front of a real PostgreSQL 15 started by the service runner,
// commands run there as the postgres OS user (database.kind ssh, runAs runuser), exactly as on a
// database host. Real clusters and hosts: GitHub Actions / operators only.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { parse } from 'pg-connection-string';
import { parseDocument } from 'yaml';
import { Stack, type PostgresInfo } from '../../scripts/lib/services/index.js';
import type { SshdInfo } from '../../scripts/lib/services/sshd.js';
import { requireTool } from '../../scripts/lib/tools.js';
import { sql } from '../backup/support.js';
import { changingCalls, KubeWorld, words, type RunResult } from '../support/kube-world.js';

const b64 = (v: string) => Buffer.from(v, 'utf8').toString('base64');
const unb64 = (v: string) => Buffer.from(v, 'base64').toString('utf8');
const fresh = () => `t-${randomBytes(12).toString('hex')}`;

describe('make rotate-secret NAME=DATABASE_URL on Kubernetes (real sshd + PostgreSQL, kubectl stand-in)', function () {
  this.timeout(300_000);
  const world = new KubeWorld();
  let tmp = '';
  let stack: Stack;
  let pg: PostgresInfo;
  let recordFile = '';
  let database: Record<string, unknown> = {};
  const oldPassword = fresh();
  const jwtKey = fresh();
  const redisUrl = `redis://:${fresh()}@redis.internal:6379/0`;
  let oldUrl = '';
  let scenario: { currentContext: string; secretData: Record<string, string> };

  /** A new TCP connection as `user` (what an API pod does). */
  const logsIn = (user: string, password: string): boolean => {
    const r = spawnSync(
      requireTool('psql'),
      ['-X', '-w', '-tA', '-h', pg.host, '-p', String(pg.port), '-U', user, '-d', pg.database, '-c', 'SELECT 1'],
      { env: { ...process.env, PGPASSWORD: password }, encoding: 'utf8' },
    );
    return r.status === 0 && r.stdout.trim() === '1';
  };
  const canLoginAttr = async (role: string) => sql(pg, `SELECT rolcanlogin FROM pg_roles WHERE rolname = '${role}'`);
  /** Rewrites the staging/prod database block (kind ssh to the test sshd); appLoginRoles optional. */
  const writeDatabase = (alternating: boolean) => {
    const block = { ...database };
    if (!alternating) delete block.appLoginRoles;
    for (const name of ['staging', 'prod']) {
      const file = path.join(world.envDir, `${name}.yaml`);
      const doc = parseDocument(readFileSync(file, 'utf8'));
      doc.setIn(['database'], doc.createNode(block));
      writeFileSync(file, doc.toString());
    }
  };
  /** SQL on psql's stdin as the superuser: psql sends each statement on its own, so the SET applies to the next. */
  const sqlOnStdin = (text: string) => {
    const r = spawnSync(
      requireTool('psql'),
      ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', pg.database],
      { env: { ...process.env, PGPASSWORD: pg.password }, input: text, encoding: 'utf8' },
    );
    expect(r.status, r.stderr).to.equal(0);
  };
  const rotate = (args: string[], s: object = scenario) =>
    world.run('rotate-secret', [`--record=${recordFile}`, '--name=DATABASE_URL', ...args], s);
  /** No password in any kubectl argv, the output, the record or PostgreSQL's log. */
  const expectNoValue = (r: RunResult, values: string[]) => {
    const argv = JSON.stringify(r.calls);
    const record = readFileSync(recordFile, { encoding: 'utf8', flag: 'a+' });
    const pgLog = readFileSync(stack.logFile('postgres'), 'utf8');
    for (const v of values) {
      expect(argv, 'a password in a kubectl argv').to.not.include(v);
      expect(r.stdout + r.stderr, 'a password in the output').to.not.include(v);
      expect(record, 'a password in the record').to.not.include(v);
      expect(pgLog, "a password in PostgreSQL's log").to.not.include(v);
    }
  };
  const secretUrl = (r: RunResult) => unb64((r.state.secretData as Record<string, string>).DATABASE_URL);
  const sequence = (r: RunResult) => r.calls.map((c) => words(c).join(' ')).filter((w) => !/^(config|get) /.test(w));

  before(async function () {
    this.timeout(180_000);
    await world.start();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-dbrot-'));
    chmodSync(tmp, 0o755);
    stack = new Stack({ runDir: path.join(tmp, 'run') });
    const clientKey = path.join(tmp, 'client_ed25519');
    spawnSync(requireTool('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', '', '-C', 'rotation-test', '-f', clientKey]);
    writeFileSync(path.join(tmp, 'authorized_keys'), readFileSync(`${clientKey}.pub`));
    const [sshd, postgres] = await Promise.all([
      stack.start('sshd', { options: { authorizedKeysFile: path.join(tmp, 'authorized_keys') } }) as Promise<SshdInfo>,
      stack.start('postgres') as Promise<PostgresInfo>,
    ]);
    pg = postgres;
    writeFileSync(path.join(tmp, 'known_hosts'), `${sshd.knownHostsLine}\n`);
    // Every statement logged: only the rotation's own SET log_statement keeps its password out.
    await sql(pg, "ALTER SYSTEM SET log_statement = 'all'");
    await sql(pg, 'SELECT pg_reload_conf()');
    await sql(pg, 'CREATE ROLE mytv_app NOLOGIN');
    await sql(pg, `GRANT CONNECT ON DATABASE ${pg.database} TO mytv_app`);
    await sql(pg, 'CREATE ROLE mytv_app_a LOGIN IN ROLE mytv_app');
    await sql(pg, 'CREATE ROLE mytv_app_b NOLOGIN IN ROLE mytv_app');
    database = {
      kind: 'ssh',
      name: pg.database,
      appLoginRoles: ['mytv_app_a', 'mytv_app_b'],
      ssh: {
        host: '127.0.0.1',
        port: sshd.port,
        user: sshd.user,
        keyFile: clientKey,
        knownHostsFile: path.join(tmp, 'known_hosts'),
      },
      host: { runAs: 'runuser -u postgres --', port: pg.port, socketDir: pg.socketDir },
      repository: { type: 'posix', path: path.join(tmp, 'repo') },
    };
    oldUrl = `postgres://mytv_app_a:${oldPassword}@db.internal:5432/${pg.database}?sslmode=disable`;
    scenario = {
      currentContext: 'mytv-staging',
      secretData: { DATABASE_URL: b64(oldUrl), JWT_SECRET: b64(jwtKey), REDIS_URL: b64(redisUrl) },
    };
  });
  beforeEach(async () => {
    recordFile = path.join(mkdtempSync(path.join(tmp, 'r-')), 'rotations.jsonl');
    writeDatabase(true);
    // Role a active with the Secret's password, b retired.
    sqlOnStdin(
      `SET log_statement = 'none';\nALTER ROLE mytv_app_a LOGIN PASSWORD '${oldPassword}';\nALTER ROLE mytv_app_b NOLOGIN PASSWORD NULL;\n`,
    );
  });
  after(async function () {
    this.timeout(60_000);
    await stack?.stopAll();
    await world.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('moves the API to the other login role with a new password, rolls, retires the old role; and back again', async () => {
    const r = await rotate(['--env=staging', '--timeout=120']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('Plan: PostgreSQL login of staging moves from role mytv_app_a');
    const url = secretUrl(r);
    const now = parse(url);
    expect(now.user).to.equal('mytv_app_b');
    expect(now.password).to.be.a('string').and.not.equal(oldPassword);
    expect([now.host, now.port, now.database, url.endsWith('?sslmode=disable')]).to.deep.equal([
      'db.internal',
      '5432',
      pg.database,
      true,
    ]);
    const data = r.state.secretData as Record<string, string>;
    expect([data.JWT_SECRET, data.REDIS_URL], 'other keys kept').to.deep.equal([b64(jwtKey), b64(redisUrl)]);
    expect(sequence(r)).to.deep.equal([
      'apply -f -',
      'rollout restart deployment/mytv-api',
      'rollout status deployment/mytv-api --timeout=120s',
    ]);
    expect(
      (r.state.restartedWith as Record<string, string>[])[0].DATABASE_URL,
      'restarted onto the new Secret',
    ).to.equal(b64(url));
    expect(logsIn('mytv_app_b', now.password!), 'new credentials log in').to.equal(true);
    expect(logsIn('mytv_app_a', oldPassword), 'old credentials refused').to.equal(false);
    expect(await canLoginAttr('mytv_app_a')).to.equal('f');
    expect(readFileSync(recordFile, 'utf8')).to.include('"outcome":"rotated"');
    expectNoValue(r, [oldPassword, now.password!, b64(now.password!), b64(oldPassword)]);

    // The next rotation goes back to role a, from the Secret as it is now.
    const back = await rotate(['--env=staging'], { currentContext: 'mytv-staging', secretData: r.state.secretData });
    expect(back.code, back.stderr).to.equal(0);
    const again = parse(secretUrl(back));
    expect(again.user).to.equal('mytv_app_a');
    expect(logsIn('mytv_app_a', again.password!)).to.equal(true);
    expect(logsIn('mytv_app_a', oldPassword)).to.equal(false);
    expect(logsIn('mytv_app_b', now.password!)).to.equal(false);
    expect(await canLoginAttr('mytv_app_b')).to.equal('f');
    expectNoValue(back, [now.password!, again.password!]);
  });

  it('a failing rollout puts the old role, password and Secret back, rolls again and says so', async () => {
    const r = await rotate(['--env=staging'], { ...scenario, restartRollout: 'fail-first' });
    expect(r.code).to.equal(1);
    expect(r.stderr.split('\n')[0]).to.equal(
      'error: PostgreSQL rotation failed: deployment/mytv-api did not become ready: error: deployment "mytv-api" exceeded its progress deadline; ' +
        'PostgreSQL: mytv_app_a logs in with its old password again; ' +
        'DATABASE_URL in Secret mytv-api in mytv-staging/mytv-staging is the old one again; ' +
        'every replica was rolled onto it; mytv_app_b is NOLOGIN again',
    );
    expect(r.state.secretData).to.deep.equal(scenario.secretData);
    expect(r.state.restarts).to.equal(2);
    const tried = parse(unb64((r.state.restartedWith as Record<string, string>[])[0].DATABASE_URL));
    expect(tried.user).to.equal('mytv_app_b');
    expect(logsIn('mytv_app_a', oldPassword), 'old credentials work again').to.equal(true);
    expect(logsIn('mytv_app_b', tried.password!), 'the new credentials no longer work').to.equal(false);
    expect(await canLoginAttr('mytv_app_b')).to.equal('f');
    expect(readFileSync(recordFile, 'utf8')).to.include('"outcome":"rolled-back"');
    expectNoValue(r, [oldPassword, tried.password!]);
  });

  it('--dry-run, prod without --yes, a relation owned by the login role and a missing second role change nothing', async () => {
    const dry = await rotate(['--env=staging', '--dry-run']);
    expect(dry.code, dry.stderr).to.equal(0);
    expect(dry.stdout).to.include('ALTER ROLE mytv_app_b LOGIN PASSWORD').and.include('rollout restart');
    expect(changingCalls(dry.calls)).to.deep.equal([]);

    const prod = await rotate(['--env=prod'], { ...scenario, currentContext: 'mytv-prod' });
    expect(prod.code).to.not.equal(0);
    expect(prod.stderr).to.match(/--yes|YES=1|confirm/);
    expect(changingCalls(prod.calls)).to.deep.equal([]);

    // A table owned by the active login role itself: the other role could not use it.
    await sql(pg, 'CREATE TABLE owned_by_a (id int)');
    await sql(pg, 'ALTER TABLE owned_by_a OWNER TO mytv_app_a');
    try {
      const owned = await rotate(['--env=staging']);
      expect(owned.code).to.equal(1);
      expect(owned.stderr.split('\n')[0]).to.equal(
        `error: role mytv_app_a itself owns 1 relation(s) of database ${pg.database}, which mytv_app_b could not use`,
      );
      expect(owned.stderr).to.include('REASSIGN OWNED BY mytv_app_a TO mytv_app');
      expect(changingCalls(owned.calls)).to.deep.equal([]);
    } finally {
      await sql(pg, 'DROP TABLE owned_by_a');
    }

    await sql(pg, 'DROP ROLE mytv_app_b');
    try {
      const missing = await rotate(['--env=staging']);
      expect(missing.code).to.equal(1);
      expect(missing.stderr.split('\n')[0]).to.match(/^error: the second login role mytv_app_b does not exist yet on /);
      expect(missing.stderr).to.include('CREATE ROLE "mytv_app_b" NOLOGIN IN ROLE "mytv_app";');
      expect(changingCalls(missing.calls)).to.deep.equal([]);
    } finally {
      await sql(pg, 'CREATE ROLE mytv_app_b NOLOGIN IN ROLE mytv_app');
    }
    expect(logsIn('mytv_app_a', oldPassword), 'nothing changed in PostgreSQL').to.equal(true);
    expect(await canLoginAttr('mytv_app_b')).to.equal('f');
    expectNoValue(dry, [oldPassword]);
  });

  it('without appLoginRoles: the DATABASE_URL role gets a new password in place (gap said in the plan); a failed roll puts it back', async () => {
    writeDatabase(false);
    const r = await rotate(['--env=staging']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('gap: a replica not yet rolled');
    const now = parse(secretUrl(r));
    expect(now.user).to.equal('mytv_app_a');
    expect(logsIn('mytv_app_a', now.password!)).to.equal(true);
    expect(logsIn('mytv_app_a', oldPassword)).to.equal(false);
    expect(sequence(r)).to.deep.equal([
      'apply -f -',
      'rollout restart deployment/mytv-api',
      'rollout status deployment/mytv-api --timeout=600s',
    ]);
    expectNoValue(r, [oldPassword, now.password!]);

    // A failing rollout in this mode: the password set back in place, the Secret as it was, rolled again.
    const failed = await rotate(['--env=staging'], {
      currentContext: 'mytv-staging',
      secretData: r.state.secretData,
      restartRollout: 'fail-first',
    });
    expect(failed.code).to.equal(1);
    expect(failed.stderr.split('\n')[0]).to.equal(
      'error: PostgreSQL password rotation failed: deployment/mytv-api did not become ready: error: deployment "mytv-api" exceeded its progress deadline; ' +
        'PostgreSQL: role mytv_app_a has its old password again; ' +
        'Secret mytv-api in mytv-staging/mytv-staging holds the old password again; every replica was rolled onto it',
    );
    expect(failed.state.secretData).to.deep.equal(r.state.secretData);
    expect(logsIn('mytv_app_a', now.password!), 'the password before the failed rotation works').to.equal(true);
    const tried = parse(unb64((failed.state.restartedWith as Record<string, string>[])[0].DATABASE_URL)).password!;
    expect(tried).to.not.equal(now.password);
    expect(logsIn('mytv_app_a', tried), 'the tried password no longer works').to.equal(false);
    expectNoValue(failed, [now.password!, tried]);
  });
});
