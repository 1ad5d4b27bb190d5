// make dump / make restore-dump on the local-stack path (database.kind local): a real PostgreSQL 15
// from the service runner, seeded with the app's schema; the scripts run exactly as make runs them.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { runMigrations } from '../../app/src/db/migrator.js';
import { seedDatabase } from '../../app/src/db/seed.js';
import { Stack, type PostgresInfo } from '../../scripts/lib/services/index.js';
import type { ScriptResult } from '../support/run-script.js';
import { runner, sql, startArchivingPostgres, writeDbEnvironment } from './support.js';

/** "table=count" of every public table, sorted: the whole content to compare, table by table. */
async function rowCounts(pg: PostgresInfo, database: string): Promise<Record<string, number>> {
  const tables = (await sql(pg, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`, database))
    .split('\n')
    .filter(Boolean);
  const counts: Record<string, number> = {};
  for (const t of tables) counts[t] = Number(await sql(pg, `SELECT count(*) FROM public."${t}"`, database));
  return counts;
}

describe('backup: make dump / make restore-dump (pg_dump custom format, scratch database)', function () {
  this.timeout(300_000);
  let tmp: string;
  let runDir: string;
  let stack: Stack;
  let pg: PostgresInfo;
  let run: ReturnType<typeof runner>;
  let dumpFile: string;
  const script = (name: string, args: string[]): Promise<ScriptResult> => run(name, ['--env=local', ...args]);

  before(async function () {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-backup-dump-'));
    chmodSync(tmp, 0o755);
    runDir = path.join(tmp, 'run');
    const envDir = path.join(tmp, 'environments');
    const db = writeDbEnvironment(envDir, 'local', {
      kind: 'local',
      repository: { type: 'posix', path: 'pgbackrest/repo' },
    });
    stack = new Stack({ runDir });
    pg = await startArchivingPostgres(stack, db);
    await runMigrations(pg.url, { log: () => undefined });
    await seedDatabase(pg.url, { channels: 12 });
    run = runner({ MYTV_ENVIRONMENTS_DIR: envDir, MYTV_RUN_DIR: runDir });
  });

  after(async function () {
    this.timeout(60_000);
    await stack?.stopAll();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('dumps the seeded database in custom format and restores it into a scratch database with the same row counts', async () => {
    const dump = await script('dump', ['--json']);
    expect(dump.code, dump.stderr).to.equal(0);
    const made = JSON.parse(dump.stdout) as { file: string; bytes: number; entries: number };
    expect(made.file).to.match(/\.dump$/);
    expect(made.entries).to.be.greaterThan(0);
    dumpFile = made.file;

    const restored = await script('restore-dump', [`--file=${dumpFile}`, '--into=mytv_dump_check', '--json']);
    expect(restored.code, restored.stderr).to.equal(0);
    const res = JSON.parse(restored.stdout) as { database: string; missing: string[] };
    expect(res.database).to.equal('mytv_dump_check');
    expect(res.missing).to.deep.equal([]);

    const live = await rowCounts(pg, pg.database);
    const copy = await rowCounts(pg, 'mytv_dump_check');
    expect(Object.keys(live)).to.include('channels');
    expect(live.channels).to.equal(12);
    expect(copy).to.deep.equal(live);
    // A custom-format archive (pg_dump -Fc files start with the magic "PGDMP"), not plain SQL.
    expect(readFileSync(dumpFile).subarray(0, 5).toString('latin1')).to.equal('PGDMP');
  });

  it('refuses the live database and any existing database as the target, changing nothing', async () => {
    const channelsBefore = await sql(pg, 'SELECT count(*) FROM channels');
    const live = await script('restore-dump', [`--file=${dumpFile}`, `--into=${pg.database}`]);
    expect(live.code).to.not.equal(0);
    expect(live.stderr).to.match(/refusing to restore into the live database/);

    const existing = await script('restore-dump', [`--file=${dumpFile}`, '--into=mytv_dump_check']);
    expect(existing.code).to.not.equal(0);
    expect(existing.stderr).to.match(/refusing to restore into the existing database mytv_dump_check/);

    expect(await sql(pg, 'SELECT count(*) FROM channels')).to.equal(channelsBefore);
    const dbs = (await sql(pg, `SELECT datname FROM pg_database WHERE datname LIKE '${pg.database}%' ORDER BY 1`))
      .split('\n')
      .filter(Boolean);
    expect(dbs).to.deep.equal([pg.database, 'mytv_dump_check'].sort());
  });
});
