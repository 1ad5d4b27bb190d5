// make bench-backup — pgBackRest on a ~1 GB pgbench database against the plain baseline, in the
// same run: full backup vs pg_dump -Fc, point-in-time restore vs pg_restore, and a full DR drill
// (RPO, RTO). The data set lives in <run dir>/bench-backup and is reused while its content hash
// (scale, PostgreSQL version, migrations) is unchanged. Not part of make test.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { runMigrations } from '../app/src/db/migrator.js';
import { seedDatabase } from '../app/src/db/seed.js';
import {
  archiveStatus,
  formatBytes,
  hostSql,
  recordVerification,
  restoreIntoScratchInstance,
  runBackup,
  stopScratch,
  verificationAnnotations,
} from './lib/backup.js';
import { intOption } from './lib/cli.js';
import { connectDbHost } from './lib/db-host.js';
import { loadEnvironment } from './lib/environments.js';
import { runScript } from './lib/main.js';
import { fromRoot } from './lib/paths.js';
import { runDirFrom } from './lib/local-stack/state.js';
import { stanzaInfo } from './lib/pgbackrest.js';
import { Stack, type PostgresInfo } from './lib/services/index.js';
import { runOnce } from './lib/services/process.js';
import { requireTool } from './lib/tools.js';
import { runEntryScript } from './lib/child-script.js';

const seconds = (from: number): number => Number(((Date.now() - from) / 1000).toFixed(2));

await runScript(
  {
    summary: 'Benchmark pgBackRest backup, PITR restore and a DR drill on a pgbench database vs pg_dump/pg_restore.',
    usage: 'make bench-backup [BENCH_ARGS="--scale=67 --json"]',
    options: { scale: { type: 'string' }, 'run-dir': { type: 'string' }, 'write-seconds': { type: 'string' } },
    optionsHelp: [
      'Options:',
      '  --scale=N          pgbench scale (default 67: about 1 GB)',
      '  --write-seconds=S  drill markers after its backup (default 10)',
    ].join('\n'),
  },
  async (ctx) => {
    const { out, flags, values } = ctx;
    const scale = intOption(values.scale, 'scale', { default: 67, min: 1, max: 2000 });
    const writeSeconds = intOption(values['write-seconds'], 'write-seconds', { default: 10, min: 1, max: 600 });
    const dir = path.join(runDirFrom(values), 'bench-backup');
    requireTool('pgbench');
    const pgVersion = (await runOnce(requireTool('postgres'), ['--version'])).stdout.trim();
    const migrations = readdirSync(fromRoot('app', 'migrations'))
      .sort()
      .map((f) => readFileSync(fromRoot('app', 'migrations', f), 'utf8'));
    const hash = createHash('sha256')
      .update(JSON.stringify({ scale, pgVersion, migrations, v: 1 }))
      .digest('hex')
      .slice(0, 16);
    const stampFile = path.join(dir, 'dataset.json');
    const reuse =
      existsSync(stampFile) && (JSON.parse(readFileSync(stampFile, 'utf8')) as { hash: string }).hash === hash;
    out.table(
      [
        {
          what: 'data set',
          value: `pgbench scale ${scale} + the app schema (${reuse ? `reused, hash ${hash}` : `new, hash ${hash}`})`,
        },
        { what: 'directory', value: dir },
        { what: 'measured', value: 'pgBackRest full backup, PITR restore, DR drill; pg_dump -Fc, pg_restore' },
      ],
      ['what', 'value'],
    );
    if (flags.dryRun) return;
    if (!reuse) rmSync(dir, { recursive: true, force: true });
    mkdirSync(path.join(dir, 'environments'), { recursive: true });
    chmodSync(dir, 0o755);
    writeFileSync(
      path.join(dir, 'environments', 'bench.yaml'),
      stringify({
        name: 'bench',
        description: 'make bench-backup',
        production: false,
        api: { publicUrl: 'http://127.0.0.1:3000', port: 3000, replicas: 1 },
        database: {
          kind: 'local',
          repository: { type: 'posix', path: 'pgbackrest/repo' },
          verifyTables: ['pgbench_branches', 'pgbench_tellers', 'channels'],
        },
        slo: { availabilityPercent: 99.9, latencyP95Ms: 500, errorRatePercent: 0.1, rtoMinutes: 60, rpoMinutes: 15 },
      }),
    );
    const env = loadEnvironment('bench', { dir: path.join(dir, 'environments') });
    const runDir = path.join(dir, 'run');
    const stack = new Stack({ runDir });
    const results: Record<string, number> = {};
    try {
      const pg = (await stack.start('postgres', {
        options: { pgbackrest: { database: env.database } },
      })) as PostgresInfo;
      const pgEnv = { PGPASSWORD: pg.password };
      if (!reuse) {
        await out.task(`pgbench -i -s ${scale} (about ${Math.round(scale * 15)} MB)`, async () => {
          await runOnce(
            requireTool('pgbench'),
            ['-i', '-q', '-s', String(scale), '-h', pg.host, '-p', String(pg.port), '-U', pg.user, pg.database],
            {
              env: pgEnv,
              timeoutMs: 3_600_000,
            },
          );
          await runMigrations(pg.url, { log: () => undefined });
          await seedDatabase(pg.url, { channels: 50 });
        });
        writeFileSync(stampFile, JSON.stringify({ hash, scale, pgVersion }) + '\n');
      }
      const host = await connectDbHost(env, { runDir });
      const db = env.database!;
      try {
        const [[size]] = await hostSql(host, `SELECT pg_database_size('${db.name}')`);
        results.databaseBytes = Number(size);
        out.line(`database size: ${formatBytes(results.databaseBytes)}`);

        let t = Date.now();
        const record = await recordVerification(host, db);
        await out.task('pgBackRest full backup', (u) =>
          runBackup(host, db, 'full', verificationAnnotations(record), u),
        );
        results.backupSeconds = seconds(t);

        // PITR: a target after the backup, its WAL archived, restored into a new instance.
        await hostSql(host, 'CREATE TABLE IF NOT EXISTS bench_pitr (at timestamptz DEFAULT now())', {
          database: db.name,
        });
        await hostSql(host, 'INSERT INTO bench_pitr DEFAULT VALUES', { database: db.name });
        await new Promise((r) => setTimeout(r, 1100));
        const target = new Date();
        await new Promise((r) => setTimeout(r, 1100));
        await hostSql(host, 'INSERT INTO bench_pitr DEFAULT VALUES', { database: db.name });
        const current = (await hostSql(host, 'SELECT pg_walfile_name(pg_current_wal_lsn())'))[0][0];
        await hostSql(host, 'SELECT pg_switch_wal()');
        while (((await archiveStatus(host)).lastArchivedWal ?? '').slice(0, 24) < current)
          await new Promise((r) => setTimeout(r, 250));
        const info = await stanzaInfo(host, db.stanza);
        t = Date.now();
        const inst = await out.task('pgBackRest point-in-time restore (new instance, until promoted)', (u) =>
          restoreIntoScratchInstance(host, db, { kind: 'time', time: target }, info.backups.at(-1)!, { onProgress: u }),
        );
        results.pitrRestoreSeconds = seconds(t);
        await stopScratch(host, inst, { remove: true });

        // Baseline: pg_dump -Fc and pg_restore of the same database.
        const dump = path.join(dir, 'baseline.dump');
        t = Date.now();
        await out.task('baseline: pg_dump -Fc', () =>
          runOnce(
            requireTool('pg_dump'),
            ['-Fc', '-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', pg.database, '-f', dump],
            { env: pgEnv, timeoutMs: 3_600_000 },
          ),
        );
        results.pgDumpSeconds = seconds(t);
        results.dumpBytes = readFileSync(dump).length;
        await hostSql(host, 'DROP DATABASE IF EXISTS bench_restore');
        await hostSql(host, 'CREATE DATABASE bench_restore');
        t = Date.now();
        await out.task('baseline: pg_restore', () =>
          runOnce(
            requireTool('pg_restore'),
            ['--no-owner', '-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', 'bench_restore', dump],
            {
              env: pgEnv,
              timeoutMs: 3_600_000,
            },
          ),
        );
        results.pgRestoreSeconds = seconds(t);
        await hostSql(host, 'DROP DATABASE bench_restore');
        rmSync(dump, { force: true });
      } finally {
        host.dispose();
      }

      // The drill, exactly as make dr-drill runs it.
      const drill = await out.task('make dr-drill on the same database', () =>
        runEntryScript('scripts/dr-drill.ts', ['--env=bench', '--json', `--write-seconds=${writeSeconds}`], {
          timeoutMs: 3_600_000,
          env: {
            MYTV_ENVIRONMENTS_DIR: path.join(dir, 'environments'),
            MYTV_RUN_DIR: runDir,
          },
        }),
      );
      if (drill.code !== 0)
        throw new Error(`dr-drill failed: ${drill.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      const report = JSON.parse(drill.stdout) as {
        rpoSeconds: number;
        rtoSeconds: number;
        databaseReadySeconds: number;
      };
      results.drillRpoSeconds = report.rpoSeconds;
      results.drillRtoSeconds = report.rtoSeconds;
      results.drillDatabaseReadySeconds = report.databaseReadySeconds;
    } finally {
      await stack.stopAll();
    }

    const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
    const rows = [
      {
        measure: 'pgBackRest full backup',
        seconds: results.backupSeconds,
        baseline: `pg_dump -Fc ${results.pgDumpSeconds}s`,
        ratio: ratio(results.backupSeconds, results.pgDumpSeconds),
      },
      {
        measure: 'pgBackRest PITR restore (until promoted)',
        seconds: results.pitrRestoreSeconds,
        baseline: `pg_restore ${results.pgRestoreSeconds}s`,
        ratio: ratio(results.pitrRestoreSeconds, results.pgRestoreSeconds),
      },
      {
        measure: 'drill RTO (loss → API ready)',
        seconds: results.drillRtoSeconds,
        baseline: 'aim < 120s',
        ratio: ratio(results.drillRtoSeconds, 120),
      },
      {
        measure: 'drill RPO (last marker written → recovered)',
        seconds: results.drillRpoSeconds,
        baseline: 'aim < 60s',
        ratio: ratio(results.drillRpoSeconds, 60),
      },
    ];
    if (flags.json)
      out.data({ scale, databaseBytes: results.databaseBytes, dumpBytes: results.dumpBytes, results, reused: reuse });
    else {
      out.line(
        `database ${formatBytes(results.databaseBytes)}, pg_dump file ${formatBytes(results.dumpBytes)}; ratio < 1 = faster than the baseline`,
      );
      out.table(rows, ['measure', 'seconds', 'baseline', 'ratio']);
    }
  },
);
