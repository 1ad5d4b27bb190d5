// make restore ARGS=--in-place YES=1 on a running native local stack (database.kind local): a real
// PostgreSQL 15 archiving with pgBackRest 2.45, a real API replica (its pool connected, application
// name mytv-api) and the postgres-exporter (connected, monitoring) — the incident path of the README.
// Also make down SERVICE=api (only the replicas stop). The scripts run exactly as make runs them.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { runMigrations } from '../../app/src/db/migrator.js';
import { seedDatabase } from '../../app/src/db/seed.js';
import { buildAppIfStaleSync } from '../../scripts/lib/app-build.js';
import { archiveLockHolders } from '../../scripts/lib/pgbackrest.js';
import { Stack, type PostgresInfo } from '../../scripts/lib/services/index.js';
import { runOnce } from '../../scripts/lib/services/process.js';
import { waitFor } from '../../scripts/lib/wait.js';
import type { ScriptResult } from '../support/run-script.js';
import { runner, sql, startArchivingPostgres, waitArchived, writeDbEnvironment, writeLocalSecrets } from './support.js';

describe('restore --in-place on the running local stack (API and exporter connected)', function () {
  this.timeout(600_000);
  let tmp: string;
  let runDir: string;
  let stack: Stack;
  let pg: PostgresInfo;
  let apiUrl: string;
  let exporterUrl: string;
  let run: ReturnType<typeof runner>;
  let fullLabel: string;
  const script = (name: string, args: string[]): Promise<ScriptResult> => run(name, ['--env=local', ...args]);
  /** Sessions on mytv by application_name. */
  const sessions = async (app: string): Promise<number> =>
    Number(
      await sql(pg, `SELECT count(*) FROM pg_stat_activity WHERE datname = 'mytv' AND application_name = '${app}'`),
    );
  /** State of one service as a fresh process sees the run directory (what make status shows). */
  const service = (name: string): { state: string; pid?: number } =>
    Stack.restore({ runDir, readOnly: true })
      .status()
      .find((s) => s.name === name)!;
  const bothConnected = async (): Promise<void> => {
    // The exporter connects on a scrape, the API's pool on a readiness probe.
    const ok = await waitFor(
      async () => {
        await fetch(exporterUrl).catch(() => undefined);
        await fetch(`${apiUrl}/health/ready`).catch(() => undefined);
        return (await sessions('postgres_exporter')) > 0 && (await sessions('mytv-api')) > 0;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(ok, 'the exporter and the API hold sessions on mytv').to.equal(true);
  };

  before(async function () {
    this.timeout(600_000);
    buildAppIfStaleSync();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-restore-in-place-'));
    chmodSync(tmp, 0o755);
    runDir = path.join(tmp, 'run');
    const envDir = path.join(tmp, 'environments');
    const db = writeDbEnvironment(envDir, 'local', {
      kind: 'local',
      repository: { type: 'posix', path: 'pgbackrest/repo' },
    });
    stack = new Stack({ runDir });
    await writeLocalSecrets(runDir, db, {});
    pg = await startArchivingPostgres(stack, db);
    await runMigrations(pg.url, { log: () => undefined });
    await seedDatabase(pg.url, { channels: 8 });
    await stack.start('redis', { kind: 'redis', options: {} });
    const api = (await stack.start('api-1', { kind: 'api', options: { logLevel: 'warn' } })) as { url: string };
    apiUrl = api.url;
    const exporter = (await stack.start('postgres-exporter', { kind: 'postgres-exporter', options: {} })) as {
      metricsUrl: string;
    };
    exporterUrl = exporter.metricsUrl;
    run = runner({ MYTV_ENVIRONMENTS_DIR: envDir, MYTV_RUN_DIR: runDir });
    const full = await script('backup', ['--type=full']);
    expect(full.code, full.stderr).to.equal(0);
    fullLabel = /backup (\d{8}-\d{6}F) of local done/.exec(full.stdout)![1];
  });

  after(async function () {
    this.timeout(120_000);
    await Stack.restore({ runDir })
      .stopAll()
      .catch(() => undefined);
    await stack?.stopAll().catch(() => undefined);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('refuses while another client is connected, naming it, and changes nothing', async () => {
    await bothConnected();
    const apiPid = service('api-1').pid;
    const holder = runOnce(
      'psql',
      ['-h', pg.host, '-p', String(pg.port), '-U', 'postgres', '-d', pg.database, '-c', 'SELECT pg_sleep(900)'],
      { env: { PGPASSWORD: pg.password, PGAPPNAME: 'ops-console' }, timeoutMs: 900_000 },
    ).catch(() => undefined);
    try {
      expect(await waitFor(async () => (await sessions('ops-console')) > 0, { timeoutMs: 30_000 })).to.equal(true);
      const r = await script('restore', ['--in-place', '--yes']);
      expect(r.code, r.stdout).to.equal(1);
      expect(r.stderr).to.match(
        /clients other than the local stack's API are connected to mytv: ops-console as postgres from 127\.0\.0\.1 \(1\); refusing/,
      );
      // Neither the API (stopped by the restore itself) nor monitoring is named.
      expect(r.stderr).to.not.match(/mytv-api|postgres_exporter/);
      expect(r.stderr).to.not.match(/\n\s+at /);
      expect(service('api-1')).to.deep.include({ state: 'running', pid: apiPid });
    } finally {
      await sql(pg, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ops-console'`);
      await holder;
    }
  });

  it('stops the API, restores over the live cluster, verifies against the record and starts the API again', async () => {
    await sql(pg, 'CREATE TABLE marks (n int)');
    await sql(pg, 'INSERT INTO marks SELECT generate_series(1, 5)');
    await new Promise((r) => setTimeout(r, 1100));
    const target = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1100));
    await sql(pg, 'INSERT INTO marks SELECT generate_series(6, 9)');
    await waitArchived(pg);
    const timelineBefore = Number(await sql(pg, 'SELECT timeline_id FROM pg_control_checkpoint()'));
    await bothConnected();
    const apiPid = service('api-1').pid;
    const exporterPid = service('postgres-exporter').pid;

    const r = await script('restore', ['--in-place', '--yes', `--target-time=${target}`]);
    if (process.env.MYTV_TEST_SHOW) console.log(r.stdout, r.stderr);
    expect(r.code, r.stderr + r.stdout).to.equal(0);
    expect(r.stderr).to.not.match(/\n\s+at /);
    // The plan names the replicas; the verification table is printed; the end says what runs.
    expect(r.stdout).to.match(/API replicas\s+│?\s*api-1: stopped first, started again once verified/);
    expect(r.stdout).to.match(/channels\s.*match/);
    expect(r.stdout).to.match(/the live local database is restored .* verified; API replicas api-1 running again/);

    // Data = the target: the rows written after it are gone; promoted on a new timeline.
    expect(await sql(pg, "SELECT string_agg(n::text, ',' ORDER BY n) FROM marks")).to.equal('1,2,3,4,5');
    expect(await sql(pg, 'SELECT pg_is_in_recovery()')).to.equal('f');
    expect(Number(await sql(pg, 'SELECT timeline_id FROM pg_control_checkpoint()'))).to.be.greaterThan(timelineBefore);
    // The API runs again (a new process) and reaches the restored database; monitoring was left running.
    const api = service('api-1');
    expect(api.state).to.equal('running');
    expect(api.pid).to.not.equal(apiPid);
    expect((await fetch(`${apiUrl}/health/ready`)).status).to.equal(200);
    expect(service('postgres-exporter')).to.deep.include({ state: 'running', pid: exporterPid });
    // Archiving and backups work on the restored primary (no lock left, not in recovery).
    await waitArchived(pg);
    const after = await script('backup', ['--type=incr']);
    expect(after.code, after.stderr).to.equal(0);
  });

  it("restores a backup (strict check) while pgBackRest's archive lock is held, once it is released", async () => {
    // Stands in for the async archive-push of the stopped cluster, and of the restored one after
    // its promotion: the holder of the stanza's archive lock ([050] before the fix).
    const lockDir = path.join(runDir, 'pgbackrest', 'lock');
    const holder = runOnce(
      'runuser',
      ['-u', 'postgres', '--', 'flock', path.join(lockDir, 'mytv-archive.lock'), 'sleep', '8'],
      {
        timeoutMs: 60_000,
      },
    ).catch(() => undefined);
    try {
      expect(await waitFor(() => archiveLockHolders(lockDir, 'mytv').length > 0, { timeoutMs: 30_000 })).to.equal(true);
      const r = await script('restore', ['--in-place', '--yes', `--set=${fullLabel}`]);
      expect(r.code, r.stderr + r.stdout).to.equal(0);
      expect(r.stdout).to.match(/programmes\s.*match/);
    } finally {
      await holder;
    }
    // The backup's consistent point: the table created after it is gone; the API is back.
    expect(await sql(pg, "SELECT count(*) FROM pg_tables WHERE tablename = 'marks'")).to.equal('0');
    expect(service('api-1').state).to.equal('running');
    expect((await fetch(`${apiUrl}/health/ready`)).status).to.equal(200);
  });

  it('make down SERVICE=api stops only the API replicas; an unknown service is named', async () => {
    const pgPid = service('postgres').pid;
    const r = await script('down', ['--service=api']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/stopped 1 service \(api-1; make up starts them again\)/);
    expect(service('api-1').state).to.equal('stopped');
    expect(service('postgres')).to.deep.include({ state: 'running', pid: pgPid });
    expect(service('redis').state).to.equal('running');
    expect(service('postgres-exporter').state).to.equal('running');

    const bad = await script('down', ['--service=apii']);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.match(/no service or kind 'apii' in the local stack .*\n\s+hint: use one of: .*api-1/);
    expect(service('postgres').state).to.equal('running');
  });
});
