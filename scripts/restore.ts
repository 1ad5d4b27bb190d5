// make restore ENV=… [TARGET_TIME=…|latest] — point-in-time restore with pgBackRest.
// By default into a NEW scratch instance on the database host (own directory and port, started
// with archive_mode=off so it never writes into the repository); the live cluster is not touched.
// Over the live cluster only with --in-place --yes, and only when no client is connected.
//   preflight: target checked against the repository (unknown label / time outside the window ->
//              the valid range), lock free
//   act:       restore, start, wait for recovery to end
//   verify:    tables present, row counts and checksums of the key tables against the backup's record
//   after:     how to point the app at it, and how to drop it
import {
  archiveStatus,
  formatAge,
  hostSql,
  parseRestoreTarget,
  pgbackrestRestoreArgs,
  resolveRestoreTarget,
  restoreIntoScratchInstance,
  stopScratch,
  verificationFromAnnotation,
  verifyRestored,
  type ScratchInstance,
} from './lib/backup.js';
import type { BackupInfo } from './lib/pgbackrest.js';
import { connectDbHost, databaseConfig, localRunDir, must } from './lib/db-host.js';
import { loadEnvironment } from './lib/environments.js';
import { UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import { pgbackrestArgv, releaseBackupLock, stanzaInfo, takeBackupLock } from './lib/pgbackrest.js';
import { lockOwner } from './lib/ssh.js';
import { Stack, type PostgresInfo } from './lib/services/index.js';

await runScript(
  {
    summary: 'Restore the environment’s database (point in time) into a new scratch instance, verified.',
    usage: 'make restore ENV=… [TARGET_TIME=ISO-8601|latest] [ARGS="--set=LABEL --drop --in-place"] [YES=1]',
    options: {
      'target-time': { type: 'string' },
      set: { type: 'string' },
      'in-place': { type: 'boolean' },
      drop: { type: 'boolean' },
      'run-dir': { type: 'string' },
    },
    optionsHelp: [
      'Options:',
      '  --target-time=T  ISO 8601 time with zone, or latest (default) (TARGET_TIME=…)',
      '  --set=LABEL      restore this backup to its consistent point instead',
      '  --drop           stop and delete the scratch instance after verifying it (a restore test)',
      '  --in-place       restore over the live cluster (needs --yes; the app must be stopped; kind local)',
      '  --run-dir DIR    the local stack’s run directory (kind local)',
    ].join('\n'),
  },
  async (ctx) => {
    const { out, flags, values } = ctx;
    const target = parseRestoreTarget(values['target-time'] as string | undefined, values.set as string | undefined);
    const env = loadEnvironment(flags.env);
    const db = databaseConfig(env);
    const runDir = localRunDir(values);
    const inPlace = Boolean(values['in-place']);
    if (inPlace && !flags.yes)
      throw new UserError(`refusing to restore over the live ${env.name} database without --yes`, {
        hint: 'restore into a scratch instance (the default), or stop the app and pass --in-place --yes (YES=1)',
      });

    const host = await connectDbHost(env, { runDir });
    try {
      const info = await stanzaInfo(host, db.stanza);
      // The primary may be the thing that is lost: then the window ends "now" and pgBackRest decides.
      const archived = await archiveStatus(host).catch(() => undefined);
      const base = resolveRestoreTarget(info, target, archived?.lastArchivedAt);
      const record = verificationFromAnnotation(base.annotation);
      const what =
        target.kind === 'latest'
          ? 'latest (end of the archived WAL)'
          : target.kind === 'time'
            ? target.time!.toISOString()
            : `backup ${base.label} (consistent point)`;
      out.table(
        [
          { what: 'database', value: `${db.name} on ${host.label}` },
          { what: 'target', value: what },
          {
            what: 'from backup',
            value: `${base.label} (${base.type}, ${formatAge(Date.now() / 1000 - base.stop)} ago)`,
          },
          {
            what: 'into',
            value: inPlace
              ? `the LIVE cluster ${host.paths.dataDir}`
              : `a new instance under ${host.paths.scratchDir} (archive_mode=off)`,
          },
          {
            what: 'verify',
            value: record
              ? `${record.tables.length} tables, key tables ${record.stats.map((s) => s.table).join(', ') || '(none)'}`
              : 'tables only (the backup has no record)',
          },
        ],
        ['what', 'value'],
      );
      if (flags.dryRun) {
        out.line('dry run: nothing was changed');
        return;
      }
      if (inPlace) {
        await restoreInPlace(base, what);
        return;
      }

      const inst = await out.task('restore into a scratch instance', (update) =>
        restoreIntoScratchInstance(host, db, target, base, { onProgress: update }),
      );
      let keep = !values.drop;
      try {
        const verdict = record
          ? await verifyRestored(host, db, record, { port: inst.port, socketDir: inst.socketDir })
          : { rows: [], missing: [], differs: [] };
        if (!flags.json && verdict.rows.length > 0) out.table(verdict.rows as unknown as Record<string, unknown>[]);
        const strict = target.kind === 'backup';
        if (verdict.missing.length > 0 || (strict && verdict.differs.length > 0)) {
          keep = true;
          throw new UserError(
            `the restored instance does not match the backup's record: ${[
              ...verdict.missing.map((t) => `table ${t} missing`),
              ...(strict ? verdict.differs.map((t) => `${t} differs`) : []),
            ].join(', ')}`,
            { hint: `inspect it on port ${inst.port} (kept: ${inst.dataDir}); try an earlier backup with --set` },
          );
        }
        if (verdict.differs.length > 0)
          out.line(`note: ${verdict.differs.join(', ')} changed after the backup (expected for a later target)`);
        const result = {
          environment: env.name,
          instance: inst,
          target: what,
          backup: base.label,
          verification: verdict,
          kept: keep,
        };
        if (flags.json) out.data(result);
        out.ok(`restored ${env.name} (${what}) into ${inst.dataDir}, port ${inst.port}; verified`);
        if (keep) pointTheApp(inst);
      } finally {
        if (!keep) await stopScratch(host, inst, { remove: true });
      }
    } finally {
      host.dispose();
    }

    function pointTheApp(inst: ScratchInstance): void {
      out.line(
        `point the app at it: DATABASE_URL=postgres://USER:PASSWORD@127.0.0.1:${inst.port}/${db.name}` +
          (host.kind === 'ssh'
            ? ` (on ${host.label}; from here: ssh -L ${inst.port}:127.0.0.1:${inst.port} …)`
            : host.kind === 'container'
              ? ` (inside ${host.label}: its loopback; same users and passwords as the source)`
              : ' (same users and passwords as the source)'),
      );
      // pg_ctl refuses to run as root: as root here, the command runs it as postgres.
      const asPostgres = process.getuid?.() === 0 ? 'runuser -u postgres -- ' : '';
      const where = {
        local: asPostgres,
        ssh: 'on the host, as postgres: ',
        container: `in ${host.label}, as postgres: `,
      }[host.kind];
      out.line(
        `drop it when done: ${where}pg_ctl -D ${inst.dataDir} -m fast stop && rm -rf ${inst.dir}` +
          (host.kind === 'local' ? ' (make down stops it too, with the stack)' : ''),
      );
    }

    async function restoreInPlace(base: BackupInfo, what: string): Promise<void> {
      if (host.kind !== 'local')
        throw new UserError('--in-place is implemented for the native local stack only', {
          hint: 'on a database host or the compose stack: restore into a scratch instance, verify it, then follow docs/runbooks/backup-restore.md (promote the scratch copy)',
        });
      const sessions = await hostSql(
        host,
        `SELECT count(*) FROM pg_stat_activity WHERE datname = '${db.name}' AND pid <> pg_backend_pid()`,
      );
      if (Number(sessions[0][0]) > 0)
        throw new UserError(
          `the app is still connected to ${db.name} (${sessions[0][0]} session(s)); refusing to restore over it`,
          {
            hint: 'stop the API first (make down SERVICE=api, or scale it to 0), then run this again',
          },
        );
      await ctx.confirm(`restore OVER the live ${env.name} database (${what})?`);
      await takeBackupLock(host, lockOwner(`restore --in-place ${env.name}`));
      const stack = Stack.restore({ runDir });
      try {
        out.step('stop the live PostgreSQL');
        await stack.stop('postgres');
        out.step('pgbackrest restore --delta over its data directory (archiving preserved: it stays the primary)');
        const args = pgbackrestRestoreArgs(target, base, host.paths.dataDir, false);
        await must(
          host,
          pgbackrestArgv(host, db.stanza, 'restore', ['--delta', ...args]),
          'pgbackrest restore --delta',
        );
        out.step('start it again and wait for recovery to end');
        const pg = (await stack.start('postgres')) as PostgresInfo;
        for (;;) {
          const rows = await hostSql(host, 'SELECT pg_is_in_recovery()').catch(() => [['t']]);
          if (rows[0][0] === 'f') break;
          await new Promise((r) => setTimeout(r, 300));
        }
        out.ok(`the live ${env.name} database is restored (${what}) on port ${pg.port}; start the API again`);
      } finally {
        await releaseBackupLock(host);
      }
    }
  },
);
