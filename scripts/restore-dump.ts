// make restore-dump ENV=… [ARGS=--file=PATH] — restores a pg_dump archive (default: the newest
// from make dump) into a NEW scratch database on the same server; never into the live database
// nor any database that already exists (--into=NAME names the new one).
//   preflight: the file exists and pg_restore can read it; plan printed (--dry-run stops)
//   act:       CREATE DATABASE <db>_restore_<time>; pg_restore --no-owner --exit-on-error
//   verify:    the tables of the live database are present, key-table row counts shown
//   after:     how to drop it (or --drop does it after the check)
import path from 'node:path';
import { clusterArgs, hostSql } from './lib/backup.js';
import { connectDbHost, databaseConfig, localRunDir, must } from './lib/db-host.js';
import { dumpDir } from './lib/dump.js';
import { loadEnvironment } from './lib/environments.js';
import { UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';

await runScript(
  {
    summary: 'Restore a pg_dump archive into a new scratch database and check it (never the live one).',
    usage: 'make restore-dump ENV=… [ARGS="--file=PATH --drop"]',
    options: {
      file: { type: 'string' },
      into: { type: 'string' },
      drop: { type: 'boolean' },
      'run-dir': { type: 'string' },
    },
    optionsHelp: [
      'Options:',
      '  --file=PATH   the dump on the database host (default: the newest from make dump)',
      '  --into=NAME   name of the NEW scratch database (default: <db>_restore_<time>); refused if it exists',
      '  --drop        drop the scratch database after the check',
    ].join('\n'),
  },
  async (ctx) => {
    const { out, flags, values } = ctx;
    const env = loadEnvironment(flags.env);
    const db = databaseConfig(env);
    const host = await connectDbHost(env, { runDir: localRunDir(values) });
    try {
      let file = values.file as string | undefined;
      if (!file) {
        const dir = dumpDir(host);
        const r = await host.run(['ls', '-1', dir]);
        const newest = r.stdout
          .split('\n')
          .filter((f) => f.endsWith('.dump'))
          .sort()
          .pop();
        if (!newest)
          throw new UserError(`no dump in ${dir} on ${host.label}`, { hint: `take one: make dump ENV=${env.name}` });
        file = path.join(dir, newest);
      }
      const list = await host.run([path.join(host.paths.binDir, 'pg_restore'), '--list', file]);
      if (list.code !== 0)
        throw new UserError(
          `${file} is not a readable pg_dump archive on ${host.label}: ${list.stderr.trim().split('\n')[0]}`,
          {
            hint: 'pass --file=PATH of a file made by make dump (pg_dump -Fc)',
          },
        );
      const scratch =
        (values.into as string | undefined) ??
        `${db.name}_restore_${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}`;
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(scratch))
        throw new UserError(`--into=${scratch} is not a plain database name`, {
          hint: 'use lower-case letters, digits and _ (at most 63 characters), e.g. --into=mytv_restore_check',
        });
      if (scratch === db.name)
        throw new UserError(`refusing to restore into the live database ${db.name}`, {
          hint: 'restore-dump only fills a NEW scratch database: leave out --into or name a database that does not exist',
        });
      const [[exists]] = await hostSql(host, `SELECT count(*) FROM pg_database WHERE datname = '${scratch}'`);
      if (Number(exists) > 0)
        throw new UserError(`refusing to restore into the existing database ${scratch} on ${host.label}`, {
          hint: `restore-dump only fills a NEW scratch database: name another with --into, or drop it first (DROP DATABASE "${scratch}")`,
        });
      out.table(
        [
          { what: 'dump', value: `${file} on ${host.label}` },
          { what: 'into', value: `new database ${scratch} (the live ${db.name} is not touched)` },
        ],
        ['what', 'value'],
      );
      if (flags.dryRun) {
        out.line('dry run: nothing was changed');
        return;
      }
      await hostSql(host, `CREATE DATABASE "${scratch}"`);
      let keep = !values.drop;
      try {
        await out.task('pg_restore', () =>
          must(
            host,
            [
              path.join(host.paths.binDir, 'pg_restore'),
              '--no-owner',
              '--exit-on-error',
              ...clusterArgs(host, { database: scratch }),
              file,
            ],
            'pg_restore',
          ),
        );
        const tablesOf = async (name: string): Promise<string[]> =>
          (
            await hostSql(host, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`, {
              database: name,
            })
          ).map((r) => r[0]);
        const live = await tablesOf(db.name);
        const restored = await tablesOf(scratch);
        const missing = live.filter((t) => !restored.includes(t));
        const rows = [];
        for (const t of db.verifyTables.filter((x) => restored.includes(x))) {
          const [[n]] = await hostSql(host, `SELECT count(*) FROM public."${t}"`, { database: scratch });
          rows.push({ table: t, rows: Number(n) });
        }
        if (rows.length > 0 && !flags.json) out.table(rows);
        if (flags.json)
          out.data({ environment: env.name, file, database: scratch, tables: restored, missing, rows, kept: keep });
        if (missing.length > 0)
          out.warn(`tables of the live database not in the dump (created after it?): ${missing.join(', ')}`);
        out.ok(`restored ${path.basename(file)} into database ${scratch} (${restored.length} tables)`);
        if (keep) out.line(`drop it when done: DROP DATABASE "${scratch}"  (or run with --drop)`);
      } catch (err) {
        keep = false;
        throw err;
      } finally {
        if (!keep) await hostSql(host, `DROP DATABASE IF EXISTS "${scratch}"`).catch(() => undefined);
      }
    } finally {
      host.dispose();
    }
  },
);
