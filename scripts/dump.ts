// make dump ENV=… — a pg_dump custom-format (-Fc) export of the environment's database, for
// portability (another PostgreSQL version, another platform) next to the pgBackRest backups; the
// schedule runs it weekly (database.schedule.dump). Written on the database host, as postgres.
//   preflight: connect, the database answers; plan printed (--dry-run stops)
//   act:       pg_dump -Fc into <dumps>/<db>-<time>.dump (a .partial file renamed when complete)
//   verify:    pg_restore --list reads the archive back
import path from 'node:path';
import { dumpDir, dumpFileName } from './lib/dump.js';
import { clusterArgs, formatBytes, hostSql } from './lib/backup.js';
import { connectDbHost, databaseConfig, localRunDir, must } from './lib/db-host.js';
import { loadEnvironment } from './lib/environments.js';
import { runScript } from './lib/main.js';

await runScript(
  {
    summary: 'Export the environment’s database with pg_dump -Fc (portable; restorable with make restore-dump).',
    usage: 'make dump ENV=… [DRY_RUN=1] [JSON=1]',
    options: { 'run-dir': { type: 'string' } },
  },
  async (ctx) => {
    const { out, flags, values } = ctx;
    const env = loadEnvironment(flags.env);
    const db = databaseConfig(env);
    const host = await connectDbHost(env, { runDir: localRunDir(values) });
    try {
      const [[size]] = await hostSql(host, `SELECT pg_database_size('${db.name}')`);
      const dir = dumpDir(host);
      const file = path.join(dir, dumpFileName(db.name, new Date()));
      out.table(
        [
          { what: 'database', value: `${db.name} on ${host.label} (${formatBytes(Number(size))})` },
          { what: 'into', value: file },
        ],
        ['what', 'value'],
      );
      if (flags.dryRun) {
        out.line('dry run: nothing was changed');
        return;
      }
      await must(host, ['mkdir', '-p', '-m', '700', dir], `creating ${dir}`);
      const started = Date.now();
      await out.task('pg_dump -Fc', () =>
        must(
          host,
          [
            path.join(host.paths.binDir, 'pg_dump'),
            '-Fc',
            ...clusterArgs(host, { database: db.name }),
            '-f',
            `${file}.partial`,
          ],
          'pg_dump',
        ),
      );
      await must(host, ['mv', `${file}.partial`, file], 'moving the dump into place');
      const list = await must(host, [path.join(host.paths.binDir, 'pg_restore'), '--list', file], 'pg_restore --list');
      const entries = list.split('\n').filter((l) => /^\d+;/.test(l)).length;
      const bytes = Number((await must(host, ['stat', '-c', '%s', file], 'stat')).trim());
      const seconds = (Date.now() - started) / 1000;
      if (flags.json) out.data({ environment: env.name, file, bytes, entries, seconds });
      out.ok(
        `dump ${file} (${formatBytes(bytes)}, ${entries} archive entries, ${seconds.toFixed(1)}s); restore it with: make restore-dump ENV=${env.name} ARGS=--file=${file}`,
      );
    } finally {
      host.dispose();
    }
  },
);
