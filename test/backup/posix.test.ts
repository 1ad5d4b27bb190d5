// make backup / backup-status / restore / dr-drill on the local-stack path (database.kind local):
// a real PostgreSQL 15 archiving with pgBackRest 2.45 into an encrypted POSIX repository. The
// scripts run exactly as make runs them; only MYTV_ENVIRONMENTS_DIR and MYTV_RUN_DIR point them here.
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { runMigrations } from '../../app/src/db/migrator.js';
import { seedDatabase } from '../../app/src/db/seed.js';
import { Stack, type PostgresInfo } from '../../scripts/lib/services/index.js';
import { runOnce } from '../../scripts/lib/services/process.js';
import type { ScriptResult } from '../support/run-script.js';
import { runner, sql, startArchivingPostgres, waitArchived, writeDbEnvironment, writeLocalSecrets } from './support.js';

const CIPHER = 'posix-test-cipher-Zq7!wL9';

describe('backup: pgBackRest on the local stack (POSIX repository, encrypted)', function () {
  this.timeout(300_000);
  let tmp: string;
  let runDir: string;
  let stack: Stack;
  let pg: PostgresInfo;
  let run: ReturnType<typeof runner>;
  const outputs: string[] = [];
  const script = async (name: string, args: string[], extra: Record<string, string> = {}): Promise<ScriptResult> => {
    const r = await run(name, ['--env=local', ...args], extra);
    outputs.push(r.stdout, r.stderr);
    return r;
  };

  before(async function () {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-backup-posix-'));
    chmodSync(tmp, 0o755);
    runDir = path.join(tmp, 'run');
    const envDir = path.join(tmp, 'environments');
    const db = writeDbEnvironment(envDir, 'local', {
      kind: 'local',
      repository: { type: 'posix', path: 'pgbackrest/repo', cipher: 'aes-256-cbc' },
    });
    stack = new Stack({ runDir });
    await writeLocalSecrets(runDir, db, { BACKUP_CIPHER_PASSWORD: CIPHER });
    pg = await startArchivingPostgres(stack, db);
    await runMigrations(pg.url, { log: () => undefined });
    await seedDatabase(pg.url, { channels: 12 });
    run = runner({ MYTV_ENVIRONMENTS_DIR: envDir, MYTV_RUN_DIR: runDir, BACKUP_CIPHER_PASSWORD: CIPHER });
  });

  after(async function () {
    this.timeout(60_000);
    // Scratch instances a failed test may have left (pg_ctl-started, outside the runner).
    const scratch = path.join(runDir, 'pgbackrest', 'restore');
    for (const d of existsSync(scratch) ? readdirSync(scratch) : [])
      await runOnce('runuser', [
        '-u',
        'postgres',
        '--',
        '/usr/lib/postgresql/15/bin/pg_ctl',
        '-D',
        path.join(scratch, d, 'data'),
        '-m',
        'immediate',
        'stop',
      ]).catch(() => undefined);
    await Stack.restore({ runDir })
      .stopAll()
      .catch(() => undefined);
    await stack?.stopAll();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('takes a full then an incremental backup, lists them and writes the metrics', async () => {
    const full = await script('backup', ['--type=full']);
    expect(full.code, full.stderr).to.equal(0);
    expect(full.stdout).to.match(/backup \d{8}-\d{6}F of local done \(full\)/);
    await sql(pg, `UPDATE channels SET name = name || ' HD' WHERE id = (SELECT min(id) FROM channels)`);
    const incr = await script('backup', ['--type=incr']);
    expect(incr.code, incr.stderr).to.equal(0);
    expect(incr.stdout).to.match(/\d{8}-\d{6}F_\d{8}-\d{6}I of local done \(incr\)/);

    const status = await script('backup-status', ['--json']);
    expect(status.code, status.stderr).to.equal(0);
    const report = JSON.parse(status.stdout) as {
      status: string;
      backups: { type: string }[];
      repositorySizeBytes: number;
    };
    expect(report.status).to.equal('ok');
    expect(report.backups.map((b) => b.type)).to.deep.equal(['full', 'incr']);
    expect(report.repositorySizeBytes).to.be.greaterThan(0);

    const prom = readFileSync(path.join(runDir, 'metrics', 'pgbackrest.prom'), 'utf8');
    expect(prom).to.match(
      /^pgbackrest_backup_last_success_timestamp_seconds\{environment="local",stanza="mytv",type="full"\} \d+/m,
    );
    expect(prom).to.match(/^pgbackrest_backup_last_success_timestamp_seconds\{.*type="incr"\} \d+/m);
    expect(prom).to.match(/^pgbackrest_wal_archive_age_seconds\{.*\} \d/m);
    expect(prom).to.match(/^pgbackrest_backup_last_run_success\{.*\} 1$/m);
  });

  it('restores to a timestamp exactly the rows committed before it, into a new instance with archiving off', async () => {
    await sql(pg, `CREATE TABLE IF NOT EXISTS pitr (n int)`);
    await sql(pg, `INSERT INTO pitr SELECT generate_series(1, 5)`);
    await new Promise((r) => setTimeout(r, 1100));
    const target = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1100));
    await sql(pg, `INSERT INTO pitr SELECT generate_series(6, 9)`);
    await waitArchived(pg);

    const r = await script('restore', [`--target-time=${target}`, '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const res = JSON.parse(r.stdout) as {
      instance: { port: number; dataDir: string; dir: string };
      verification: { missing: string[] };
    };
    expect(res.verification.missing).to.deep.equal([]);
    const restored = { ...pg, port: res.instance.port };
    try {
      expect(await sql(restored, "SELECT string_agg(n::text, ',' ORDER BY n) FROM pitr")).to.equal('1,2,3,4,5');
      expect(await sql(restored, 'SHOW archive_mode')).to.equal('off');
      expect(await sql(restored, 'SELECT pg_is_in_recovery()')).to.equal('f');
      // The live cluster is untouched.
      expect(await sql(pg, 'SELECT count(*) FROM pitr')).to.equal('9');
    } finally {
      await runOnce('runuser', [
        '-u',
        'postgres',
        '--',
        '/usr/lib/postgresql/15/bin/pg_ctl',
        '-D',
        res.instance.dataDir,
        '-m',
        'fast',
        'stop',
      ]);
      rmSync(res.instance.dir, { recursive: true, force: true });
    }
  });

  it('rejects an unknown backup label and a time outside the window, naming the valid ones', async () => {
    const label = await script('restore', ['--set=20990101-000000F']);
    expect(label.code).to.equal(2);
    expect(label.stderr)
      .to.match(/unknown backup label 20990101-000000F/)
      .and.to.match(/the backups are: \d{8}-\d{6}F/);
    const early = await script('restore', ['--target-time=2001-01-01T00:00:00Z']);
    expect(early.code).to.equal(2);
    expect(early.stderr).to.match(/outside the recoverable window \d{4}-\d\d-\d\dT.* \.\. \d{4}-/);
    const bad = await script('restore', ['--target-time=yesterday']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/not an ISO 8601 time with a time zone/);
    expect(readdirSync(path.join(runDir, 'pgbackrest', 'restore'))).to.have.length(0);
  });

  it('refuses to restore over the live database without --yes, and while a client is connected', async () => {
    const noYes = await script('restore', ['--in-place']);
    expect(noYes.code).to.equal(1);
    expect(noYes.stderr).to.match(/refusing to restore over the live local database without --yes/);
    // psql holding a session = the app still running.
    const holder = runOnce(
      'psql',
      ['-h', pg.host, '-p', String(pg.port), '-U', 'postgres', '-d', pg.database, '-c', 'SELECT pg_sleep(900)'],
      { env: { PGPASSWORD: pg.password }, timeoutMs: 900_000 },
    ).catch(() => undefined);
    try {
      for (;;) {
        if (Number(await sql(pg, `SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(900)%'`)) > 0)
          break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const busy = await script('restore', ['--in-place', '--yes']);
      expect(busy.code).to.equal(1);
      expect(busy.stderr).to.match(
        /clients other than the local stack's API are connected to mytv: psql as postgres from 127\.0\.0\.1 \(1\)/,
      );
      expect(await sql(pg, 'SELECT count(*) FROM pitr')).to.equal('9');
    } finally {
      await sql(pg, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(900)%'`);
      await holder;
    }
  });

  it('refuses a second backup while one holds the lock, naming the holder, and leaves its lock alone', async () => {
    const lockDir = path.join(runDir, 'pgbackrest', 'backup.lock');
    mkdirSync(lockDir);
    writeFileSync(path.join(lockDir, 'owner'), 'backup local full by ops@db1 pid 4242\n');
    try {
      const r = await script('backup', ['--type=full']);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/another backup or restore holds the lock .*ops@db1 pid 4242/);
      expect(existsSync(path.join(lockDir, 'owner'))).to.equal(true);
    } finally {
      rmSync(lockDir, { recursive: true, force: true });
    }
  });

  it('detects a corrupted file in the repository (verify) instead of passing it', async () => {
    const clean = await script('backup-status', ['--verify']);
    expect(clean.code, clean.stderr + clean.stdout).to.equal(0);
    // Flip bytes in the largest file of the newest full backup.
    const backupRoot = path.join(runDir, 'pgbackrest', 'repo', 'backup', 'mytv');
    const full = readdirSync(backupRoot)
      .filter((d) => /F$/.test(d))
      .sort()
      .pop()!;
    const files: { f: string; size: number }[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else files.push({ f: p, size: readFileSync(p).length });
      }
    };
    walk(path.join(backupRoot, full, 'pg_data'));
    const victim = files.sort((a, b) => b.size - a.size)[0].f;
    const bytes = readFileSync(victim);
    for (let i = 64; i < 96 && i < bytes.length; i++) bytes[i] ^= 0xff;
    writeFileSync(victim, bytes);
    const r = await script('backup-status', ['--verify']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/pgbackrest verify found problems/);
  });

  it('drill: markers, loss of the primary, restore, API on an empty Redis; report with RPO and RTO', async function () {
    this.timeout(900_000);
    const reportDir = path.join(tmp, 'drills');
    // The corrupted full above is still the newest: take a good one for the drill to start from.
    expect((await script('backup', ['--type=full'])).code).to.equal(0);
    const r = await script('dr-drill', ['--write-seconds=3', `--report-dir=${reportDir}`, '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const report = JSON.parse(r.stdout) as {
      rpoSeconds: number;
      rtoSeconds: number;
      markers: { written: number; lastRecoveredId: number };
      cacheRefilledFromEmptyRedis: boolean;
      report: { markdown: string; json: string };
    };
    expect(report.rpoSeconds).to.be.a('number').and.at.least(0);
    expect(report.rtoSeconds).to.be.a('number').and.greaterThan(0);
    expect(report.markers.lastRecoveredId).to.be.greaterThan(0);
    expect(report.cacheRefilledFromEmptyRedis).to.equal(true);
    const md = readFileSync(report.report.markdown, 'utf8');
    expect(md).to.match(/\| RPO \(last marker written → last recovered\) \| [\d.]+ s \|/);
    expect(md).to.match(/\| RTO \(loss → API ready\) \| [\d.]+ s/);
    expect(readFileSync(path.join(runDir, 'metrics', 'dr-drill.prom'), 'utf8')).to.match(
      /^mytv_dr_drill_rto_seconds\{environment="local"\} [\d.]+$/m,
    );
    // The drill never touched the live cluster, and left no instance behind.
    expect(await sql(pg, 'SELECT count(*) FROM pitr')).to.equal('9');
    expect(readdirSync(path.join(runDir, 'pgbackrest', 'restore'))).to.have.length(0);
  });

  it('never prints the repository passphrase', () => {
    expect(outputs.join('\n')).to.not.include(CIPHER);
    expect(outputs.join('\n')).to.not.include(pg.password);
  });
});
