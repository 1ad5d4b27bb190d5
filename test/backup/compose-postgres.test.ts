// The compose stack's PostgreSQL for real: postgres/Dockerfile built (FROM a stand-in of the official
// image here, test/fixtures/postgres-official; FROM the real postgres:15.10-bookworm where Docker
// answers), run with the `postgres` service of compose/compose.yaml translated into `run` arguments,
// on a free loopback port. It proves the first start goes through the official entrypoint's initdb
// path into WAL archiving, that WAL reaches the repository on the pgbackrest volume, and that
// make backup / backup-status / restore run in that container when the local stack's recorded
// state says compose (database kind local + state.json `postgres`), with no secret in the
// container's definition or in the scripts' output.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { ensureBaseImage } from '../../scripts/lib/base-image.js';
import {
  engineRun,
  podmanConf,
  findContainerEngine,
  noEngineReason,
  type ContainerEngine,
} from '../../scripts/lib/container-engine.js';
import type { DatabaseConfig } from '../../scripts/lib/environments.js';
import { Exec } from '../../scripts/lib/exec.js';
import { renderComposePgbackrest, writeComposePgbackrest } from '../../scripts/lib/local-stack/compose-postgres.js';
import { readState, writeState } from '../../scripts/lib/local-stack/state.js';
import { Output } from '../../scripts/lib/output.js';
import { fromRoot } from '../../scripts/lib/paths.js';
import { findTool } from '../../scripts/lib/tools.js';
import { freePort } from '../../scripts/lib/services/ports.js';
import { waitFor } from '../../scripts/lib/wait.js';
import { composeRunArgs, composeService, ensureHashedImage } from './compose-postgres-support.js';
import { runner, writeDbEnvironment } from './support.js';

describe('backup: the compose PostgreSQL (postgres/Dockerfile, run as compose.yaml describes it)', function () {
  this.timeout(300_000);
  const out = new Output(false);
  const exec = new Exec({ dryRun: false, verbose: false, out });
  const name = `mytv-test-pg-${process.pid}`;
  const volumes = ['pgdata', 'pgbackrest'].map((v) => `${name}-${v}`);
  const cipherPass = randomBytes(18).toString('base64url');
  const dbPassword = randomBytes(18).toString('base64url');
  let engine: ContainerEngine;
  let tmp: string;
  let runDir: string;
  let port: number;
  let db: DatabaseConfig;
  let run: ReturnType<typeof runner>;
  let started = false;

  /** `<engine> exec` as postgres in the container; never throws (check exitCode). */
  const inContainer = (argv: string[], timeoutMs = 120_000) =>
    engineRun(exec, engine, ['exec', '-i', '--user', 'postgres', name, ...argv], { nothrow: true, timeoutMs });
  const psql = async (query: string, at = { port: 0, socketDir: '/var/run/postgresql' }): Promise<string> => {
    const p = String(at.port || port);
    const r = await inContainer([
      'psql',
      '-X',
      '-qtA',
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      at.socketDir,
      '-p',
      p,
      '-U',
      'mytv',
      '-d',
      'mytv',
      '-c',
      query,
    ]);
    if (r.exitCode !== 0) throw new Error(`psql ${query}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const logs = async (): Promise<string> => {
    const r = await engineRun(exec, engine, ['logs', name], { nothrow: true, readOnly: true });
    return r.stdout + r.stderr;
  };
  /** Accepting TCP connections: the real server, not the entrypoint's socket-only init server. */
  const ready = () =>
    waitFor(
      async () => (await inContainer(['pg_isready', '-q', '-h', '127.0.0.1', '-p', String(port)])).exitCode === 0,
      {
        timeoutMs: 180_000,
        intervalMs: 500,
      },
    );

  before(async function () {
    // Cold: debootstrap base (if missing), the stand-in's apt-get of PostgreSQL 15, pgBackRest; warm: seconds.
    this.timeout(1_800_000);
    const lookup = await findContainerEngine();
    if (!lookup.engine) throw new Error(`${noEngineReason(lookup)} (make setup installs podman)`);
    engine = lookup.engine;
    const buildArgs: Record<string, string> = {};
    if (engine.name === 'podman') {
      const base = (await ensureBaseImage(exec, out, engine)).image;
      buildArgs.POSTGRES_IMAGE = await ensureHashedImage(exec, engine, {
        repo: 'localhost/mytv-postgres-official-standin',
        context: fromRoot('test', 'fixtures', 'postgres-official'),
        buildArgs: { BASE_IMAGE: base },
      });
    }
    const image = await ensureHashedImage(exec, engine, {
      repo: 'localhost/mytv-postgres-test',
      context: fromRoot('postgres'),
      buildArgs,
    });

    tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-compose-pg-'));
    chmodSync(tmp, 0o755);
    runDir = path.join(tmp, 'run');
    mkdirSync(runDir);
    const envDir = path.join(tmp, 'environments');
    db = writeDbEnvironment(envDir, 'ctest', {
      kind: 'local',
      stanza: 'mytv',
      repository: { type: 'posix', path: 'pgbackrest/repo', cipher: 'aes-256-cbc' },
      verifyTables: ['marker'],
    });
    port = await freePort();
    const confDir = path.join(tmp, 'pgbackrest');
    // What make up's compose mode writes (scripts/lib/local-stack/compose-mode.ts).
    writeComposePgbackrest(
      confDir,
      renderComposePgbackrest(db, { BACKUP_CIPHER_PASSWORD: cipherPass }, 'ctest', { port }),
    );

    const envFile = path.join(tmp, 'postgres.env');
    const { args, env } = composeRunArgs(composeService('postgres'), {
      vars: { POSTGRES_PASSWORD: dbPassword, MYTV_PGBACKREST_CONF_DIR: confDir, MYTV_PGBACKREST_STANZA: db.stanza },
      volumeName: (v) => `${name}-${v}`,
      envFile,
    });
    // PGPORT: a free port, as the container shares the host's loopback here (podman --network host).
    const lines = Object.entries({ ...env, PGPORT: String(port) }).map(([k, v]) => `${k}=${v}`);
    writeFileSync(envFile, lines.join('\n') + '\n', { mode: 0o600 });
    for (const v of volumes) await engineRun(exec, engine, ['volume', 'create', v]);
    started = true;
    await engineRun(exec, engine, [
      'run',
      '-d',
      '--name',
      name,
      ...engine.networkArgs,
      // What compose sets on a service's container: how the scheduler finds it.
      '--label',
      `com.docker.compose.project=${name}`,
      '--label',
      'com.docker.compose.service=postgres',
      ...args,
      image,
      'postgres',
      '-c',
      'listen_addresses=127.0.0.1',
    ]);
    if (!(await ready()))
      throw new Error(`the compose PostgreSQL did not become ready:\n${(await logs()).slice(-3000)}`);

    writeState(runDir, {
      mode: 'docker',
      profile: 'dev',
      environment: 'ctest',
      startedAt: new Date().toISOString(),
      postgres: { engine: engine.name, name, port },
    });
    run = runner({ MYTV_ENVIRONMENTS_DIR: envDir, MYTV_RUN_DIR: runDir });
  });

  after(async function () {
    this.timeout(120_000);
    if (started && engine) {
      // podman's rm takes a stop timeout; Docker's does not (it kills).
      const rm = engine.name === 'podman' ? ['rm', '-f', '-t', '10', name] : ['rm', '-f', name];
      await engineRun(exec, engine, rm, { nothrow: true, timeoutMs: 90_000 });
      for (const v of volumes) await engineRun(exec, engine, ['volume', 'rm', '-f', v], { nothrow: true });
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('starts through the official initdb path: archiving.conf included, the stanza created, secrets only in a mode-600 file', async () => {
    const log = await logs();
    expect(log).to.contain('running /docker-entrypoint-initdb.d/10-archiving.sh');
    expect(log).to.match(/stanza-create command end: completed successfully/);
    expect(await psql('SHOW archive_mode')).to.equal('on');
    expect(await psql('SHOW archive_command')).to.equal('pgbackrest archive-push %p');
    expect(await psql('SHOW archive_timeout')).to.equal('1min');
    expect(await psql('SHOW wal_level')).to.equal('replica');
    const conf = await inContainer([
      'grep',
      '-c',
      "^include '/etc/postgresql/archiving.conf'$",
      '/var/lib/postgresql/data/postgresql.conf',
    ]);
    expect(conf.stdout.trim(), 'included exactly once').to.equal('1');
    const secrets = await inContainer(['stat', '-c', '%a %U', '/run/pgbackrest/conf.d/secrets.conf']);
    expect(secrets.stdout.trim()).to.equal('600 postgres');
    const inspected = await engineRun(exec, engine, ['inspect', name], { readOnly: true });
    expect(inspected.stdout).to.not.contain(cipherPass);
    expect(log).to.not.contain(cipherPass);
  });

  it('archives WAL into the repository on the pgbackrest volume (pgbackrest check, pg_stat_archiver)', async () => {
    const check = await inContainer(['pgbackrest', 'check']);
    expect(check.exitCode, check.stderr).to.equal(0);
    const archived = await waitFor(async () => Number(await psql('SELECT archived_count FROM pg_stat_archiver')) > 0, {
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    expect(archived, 'pg_stat_archiver.archived_count > 0').to.equal(true);
    expect(await psql('SELECT failed_count FROM pg_stat_archiver')).to.equal('0');
    const files = await inContainer(['find', '/var/lib/pgbackrest/repo/archive/mytv', '-name', '0000*']);
    expect(files.stdout.split('\n').filter(Boolean).length).to.be.greaterThan(0);
  });

  it('make backup and make backup-status run in the container, chosen by the recorded compose state', async () => {
    await psql('CREATE TABLE marker (id int PRIMARY KEY); INSERT INTO marker SELECT generate_series(1, 50)');
    const backup = await run('backup', ['--env=ctest', '--type=full', '--json']);
    expect(backup.code, backup.stderr).to.equal(0);
    const made = JSON.parse(backup.stdout) as { backup: { label: string; type: string } };
    expect(made.backup.type).to.equal('full');
    const status = await run('backup-status', ['--env=ctest', '--json']);
    expect(status.code, status.stderr).to.equal(0);
    const report = JSON.parse(status.stdout) as { backups: { label: string; type: string }[] };
    expect(report.backups.map((b) => b.label)).to.include(made.backup.label);
    const info = await inContainer(['pgbackrest', 'info', '--output=json']);
    expect(info.stdout).to.contain(made.backup.label);
    for (const r of [backup, status]) expect(r.stdout + r.stderr).to.not.contain(cipherPass);
  });

  it('make restore (latest) brings back into a scratch instance in the container every row archived before it', async () => {
    await psql('INSERT INTO marker SELECT generate_series(51, 80)');
    const segment = await psql('SELECT pg_walfile_name(pg_switch_wal())');
    const archived = await waitFor(
      async () => (await psql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")) >= segment,
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    expect(archived, `segment ${segment} archived`).to.equal(true);
    const restore = await run('restore', ['--env=ctest', '--target-time=latest', '--json']);
    expect(restore.code, restore.stderr).to.equal(0);
    const result = JSON.parse(restore.stdout) as {
      instance: { port: number; socketDir: string; dataDir: string };
      kept: boolean;
    };
    expect(result.instance.dataDir).to.match(/^\/var\/lib\/pgbackrest\/restore\//);
    try {
      expect(await psql('SELECT count(*) FROM marker', result.instance)).to.equal('80');
      expect(await psql('SHOW archive_mode', result.instance)).to.equal('off');
    } finally {
      // What the script printed to do when done with the copy.
      await inContainer(['pg_ctl', '-D', result.instance.dataDir, '-m', 'fast', '-w', 'stop']);
      await inContainer(['rm', '-rf', path.dirname(result.instance.dataDir)]);
    }
    expect(restore.stdout + restore.stderr).to.not.contain(cipherPass);
  });

  it('make dr-drill runs in the container: RPO and RTO (to database ready) reported, the live cluster untouched, nothing left', async function () {
    this.timeout(600_000);
    const reportDir = path.join(tmp, 'drills');
    const r = await run('dr-drill', ['--env=ctest', '--write-seconds=3', `--report-dir=${reportDir}`, '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const report = JSON.parse(r.stdout) as {
      rpoSeconds: number;
      rtoSeconds: number;
      rtoUntil: string;
      markers: { lastRecoveredId: number };
    };
    expect(report.rtoUntil).to.equal('database ready');
    expect(report.rpoSeconds).to.be.a('number').and.at.least(0);
    expect(report.rtoSeconds).to.be.a('number').and.greaterThan(0);
    expect(report.markers.lastRecoveredId).to.be.greaterThan(0);
    expect(readFileSync(path.join(runDir, 'metrics', 'dr-drill.prom'), 'utf8')).to.match(
      /^mytv_dr_drill_rto_seconds\{environment="ctest"\} [\d.]+$/m,
    );
    expect(await psql('SELECT count(*) FROM marker')).to.equal('80');
    const left = await inContainer(['ls', '-A', '/var/lib/pgbackrest/restore']);
    expect(left.stdout.trim()).to.equal('');
    // No drill instance still running in the container (their data directories live under restore/).
    // The killed primary's children notice their postmaster's death on their own: poll for it.
    const drillProcesses = async (): Promise<string[]> => {
      const r = await inContainer([
        'sh',
        '-c',
        'for p in /proc/[0-9]*; do tr "\\0" " " < "$p/cmdline" 2>/dev/null; echo; done',
      ]);
      return r.stdout.split('\n').filter((l) => l.includes('/var/lib/pgbackrest/restore'));
    };
    const gone = await waitFor(async () => (await drillProcesses()).length === 0, {
      timeoutMs: 60_000,
      intervalMs: 1000,
    });
    expect(gone, `drill processes left: ${(await drillProcesses()).join(' | ')}`).to.equal(true);
    expect(r.stdout + r.stderr).to.not.contain(cipherPass);
  });

  describe('the backup scheduler (the compose service backup-scheduler) through the Docker Engine API', function () {
    let service: ChildProcess | undefined;
    let socket = '/var/run/docker.sock';

    before(async function () {
      this.timeout(60_000);
      if (engine.name !== 'podman') return; // Docker's own socket
      // podman serves the Docker Engine API on a socket of our own for as long as the test runs.
      socket = path.join(tmp, 'engine.sock');
      service = spawn(findTool('podman') ?? 'podman', ['system', 'service', '--time=0', `unix://${socket}`], {
        env: { ...process.env, CONTAINERS_CONF: podmanConf },
        stdio: 'ignore',
      });
      const up = await waitFor(() => existsSync(socket), { timeoutMs: 30_000, intervalMs: 200 });
      if (!up) throw new Error(`podman system service did not create ${socket}`);
    });

    after(() => {
      service?.kill('SIGTERM');
    });

    it('lists the environment’s schedule with the next runs (--list --json)', async () => {
      const r = await run('backup-scheduler', ['--env=ctest', '--list', '--json']);
      expect(r.code, r.stderr).to.equal(0);
      const plan = JSON.parse(r.stdout) as { jobs: { job: string; schedule: string; next: string }[] };
      expect(plan.jobs.map((j) => j.job)).to.deep.equal([
        'backup-full',
        'backup-diff',
        'backup-incr',
        'backup-status',
        'dr-drill',
        'dump',
      ]);
      const status = plan.jobs.find((j) => j.job === 'backup-status')!;
      expect(status.schedule).to.equal(db.schedule.status);
      expect(Date.parse(status.next)).to.be.greaterThan(Date.now() - 1000);
    });

    it('runs a job at its time in the compose postgres container found by its labels (backup-status --publish)', async function () {
      this.timeout(300_000);
      const schedRun = path.join(tmp, 'scheduler-run');
      const r = await run(
        'backup-scheduler',
        [
          '--env=ctest',
          '--only=backup-status',
          '--runs=1',
          `--compose-project=${name}`,
          `--docker-socket=${socket}`,
          `--run-dir=${schedRun}`,
        ],
        {},
        240_000,
      );
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      expect(r.stdout, r.stdout + r.stderr).to.match(/backup-status: finished \(exit 0/);
      expect(readState(schedRun)?.postgres).to.deep.equal({ engine: 'docker-api', socket, name, port });
      expect(readFileSync(path.join(schedRun, 'metrics', 'pgbackrest-status.prom'), 'utf8')).to.match(
        /^pgbackrest_wal_archive_age_seconds\{[^}]*environment="ctest"[^}]*\} [\d.]+$/m,
      );
      expect(r.stdout + r.stderr).to.not.contain(cipherPass);
    });
  });

  it('an existing cluster without the include (a data volume from before archiving) gets it at its next start', async () => {
    const strip = await inContainer([
      'sed',
      '-i',
      "/^include '\\/etc\\/postgresql\\/archiving.conf'$/d",
      '/var/lib/postgresql/data/postgresql.conf',
    ]);
    expect(strip.exitCode, strip.stderr).to.equal(0);
    await engineRun(exec, engine, ['restart', '-t', '30', name], { timeoutMs: 120_000 });
    expect(await ready(), 'ready after the restart').to.equal(true);
    expect(await logs()).to.contain('adding WAL archiving');
    expect(await psql('SHOW archive_mode')).to.equal('on');
  });

  it('a compose run directory without a recorded container is refused with the fix, nothing run', async () => {
    const other = path.join(tmp, 'run-unrecorded');
    mkdirSync(other);
    writeState(other, { mode: 'docker', profile: 'dev', environment: 'ctest', startedAt: new Date().toISOString() });
    const r = await run('backup-status', ['--env=ctest'], { MYTV_RUN_DIR: other });
    expect(r.code).to.equal(1);
    expect(r.stderr)
      .to.match(/PostgreSQL container is not recorded/)
      .and.match(/make up/);
  });
});
