// make restore ENV=… [TARGET_TIME=…|latest] — point-in-time restore with pgBackRest.
// By default into a NEW scratch instance on the database host (own directory and port, started
// with archive_mode=off so it never writes into the repository); the live cluster is not touched.
// Over the live cluster only with --in-place --yes (native local stack), and only when no client
// but the stack's API replicas and monitoring is connected.
//   preflight: target checked against the repository (unknown label / time outside the window ->
//              the valid range), lock free; --in-place: who is connected (named when refused)
//   act:       restore, start, wait for recovery to end; --in-place: stop the API replicas, stop
//              PostgreSQL, wait for its async archive-push to release pgBackRest's archive lock,
//              restore --delta, start (waits for the promotion)
//   verify:    tables present, row counts and checksums of the key tables against the backup's record
//   after:     how to point the app at it, and how to drop it; --in-place: the API replicas started again
import path from 'node:path';
import {
  archiveStatus,
  clientSessions,
  describeSessions,
  formatAge,
  parseRestoreTarget,
  pgbackrestRestoreArgs,
  resolveRestoreTarget,
  restoreIntoScratchInstance,
  stopScratch,
  verificationFromAnnotation,
  verifyRestored,
  type ClientSessions,
  type ScratchInstance,
  type VerificationRecord,
} from './lib/backup.js';
import type { BackupInfo } from './lib/pgbackrest.js';
import { connectDbHost, databaseConfig, localRunDir, must } from './lib/db-host.js';
import { loadEnvironment } from './lib/environments.js';
import { UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import {
  archiveLockHolders,
  localPgbackrestDirs,
  pgbackrestArgv,
  releaseBackupLock,
  stanzaInfo,
  takeBackupLock,
} from './lib/pgbackrest.js';
import { lockOwner } from './lib/ssh.js';
import { Stack, type PostgresInfo } from './lib/services/index.js';
import { waitFor } from './lib/wait.js';

/** application_name the API sets on its pool (app/src/db/database.service.ts). */
const API_APPLICATION_NAME = 'mytv-api';
/** How long the sessions of the stopped API replicas may take to end (ms). */
const SESSIONS_DRAIN_MS = 20_000;
/** How long the stopped cluster's async archive-push may hold the archive lock (ms). */
const ARCHIVE_LOCK_WAIT_MS = 120_000;

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
      '  --in-place       restore over the live cluster (needs --yes; kind local): stops the stack’s API replicas, starts them after the verification',
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
        hint: 'restore into a scratch instance (the default), or pass --in-place --yes (YES=1)',
      });

    const host = await connectDbHost(env, { runDir });
    try {
      const info = await stanzaInfo(host, db.stanza);
      // The primary may be the thing that is lost: then the window ends "now" and pgBackRest decides.
      const archived = await archiveStatus(host).catch(() => undefined);
      const base = resolveRestoreTarget(info, target, archived?.lastArchivedAt);
      const record = verificationFromAnnotation(base.annotation);
      const apis = inPlace ? await preflightInPlace() : [];
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
          ...(inPlace
            ? [
                {
                  what: 'API replicas',
                  value:
                    apis.length > 0 ? `${apis.join(', ')}: stopped first, started again once verified` : 'none running',
                },
              ]
            : []),
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
        await restoreInPlace(base, what, record, apis);
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

    /**
     * --in-place preflight (nothing changed): kind local, and no client connected but the local
     * stack's API replicas (stopped by the restore itself) and monitoring. Returns the running replicas.
     */
    async function preflightInPlace(): Promise<string[]> {
      if (host.kind !== 'local')
        throw new UserError('--in-place is implemented for the native local stack only', {
          hint: 'on a database host or the compose stack: restore into a scratch instance, verify it, then follow docs/runbooks/backup-restore.md (promote the scratch copy)',
        });
      const stack = Stack.restore({ runDir, readOnly: true });
      const apis = stack
        .status()
        .filter((s) => s.kind === 'api' && s.state === 'running')
        .map((s) => s.name);
      const others = (await clientSessions(host, db.name)).filter(
        (s) => !(apis.length > 0 && s.applicationName === API_APPLICATION_NAME),
      );
      // A postgres-exporter started before it set application_name connects without one.
      const oldExporter =
        others.some((s) => s.applicationName === '(no application_name)') &&
        stack.status().some((s) => s.kind === 'postgres-exporter' && s.state === 'running');
      if (others.length > 0)
        throw new UserError(
          `clients other than the local stack's API are connected to ${db.name}: ${describeSessions(others)}; refusing to restore over them`,
          {
            hint:
              'stop them (the API replicas of this stack are stopped and started again by the restore itself; make down SERVICE=api stops only them), then run this again' +
              (oldExporter
                ? '; a postgres-exporter started by an older make up connects without application_name: make down SERVICE=postgres-exporter && make up restarts it with one'
                : ''),
          },
        );
      return apis;
    }

    async function restoreInPlace(
      base: BackupInfo,
      what: string,
      record: VerificationRecord | undefined,
      apis: string[],
    ): Promise<void> {
      await ctx.confirm(`restore OVER the live ${env.name} database (${what})?`);
      await takeBackupLock(host, lockOwner(`restore --in-place ${env.name}`));
      const stack = Stack.restore({ runDir });
      // What is true at each point, for the one-line error when a step fails.
      let state = 'nothing was changed';
      let restartApis = false;
      let pgStopped = false;
      try {
        if (apis.length > 0) {
          out.step(`stop the API replicas (${apis.join(', ')})`);
          restartApis = true;
          await stack.stopSome(apis);
          state = `nothing was restored; the API replicas ${apis.join(', ')} were stopped and are started again`;
        }
        // Their sessions end with their processes; anything else connected now is not ours to cut.
        let left: ClientSessions[] = [];
        const drained = await waitFor(async () => (left = await clientSessions(host, db.name)).length === 0, {
          timeoutMs: SESSIONS_DRAIN_MS,
          intervalMs: 250,
        });
        if (!drained)
          throw new UserError(
            `still connected to ${db.name} after the API replicas stopped: ${describeSessions(left)}; refusing to restore over them (${state})`,
            { hint: 'stop those clients, then run this again' },
          );

        out.step('stop the live PostgreSQL');
        await stack.stop('postgres');
        restartApis = false;
        pgStopped = true;
        state = `nothing was restored (the data directory is unchanged); the API replicas are stopped`;
        // pgBackRest's async archive-push of the stopped cluster may still push its last WAL and
        // holds the stanza's archive lock meanwhile: wait, so that WAL reaches the repository.
        out.step('wait for the archive-push of the stopped cluster to finish');
        const lockDir = localPgbackrestDirs(path.dirname(host.paths.pgbackrestConfig)).lock;
        let holders: number[] = [];
        const free = await waitFor(() => (holders = archiveLockHolders(lockDir, db.stanza)).length === 0, {
          timeoutMs: ARCHIVE_LOCK_WAIT_MS,
          intervalMs: 250,
        });
        if (!free)
          throw new UserError(
            `pgBackRest's archive lock of ${db.stanza} is still held (pid ${holders.join(', ')}) after ${ARCHIVE_LOCK_WAIT_MS / 1000}s`,
            { hint: `see ${path.join(path.dirname(lockDir), 'log')}; when that process has ended, run this again` },
          );

        out.step('pgbackrest restore --delta over its data directory (archiving preserved: it stays the primary)');
        state = `the data directory ${host.paths.dataDir} may be partly restored (run this again: --delta resumes); the API replicas are stopped`;
        const args = pgbackrestRestoreArgs(target, base, host.paths.dataDir, false);
        await must(
          host,
          pgbackrestArgv(host, db.stanza, 'restore', ['--delta', ...args]),
          'pgbackrest restore --delta',
        );
        state = `the data directory is restored (${what}); the API replicas are stopped`;

        out.step('start it again and wait for recovery to end (promoted on a new timeline)');
        const pg = (await stack.start('postgres')) as PostgresInfo;
        state = `the live ${env.name} database is restored (${what}), not verified; the API replicas are stopped`;

        out.step('verify against the backup’s record');
        const verdict = record
          ? await verifyRestored(host, db, record, { port: pg.port, socketDir: pg.socketDir })
          : { rows: [], missing: [], differs: [] };
        if (!flags.json) {
          if (verdict.rows.length > 0) out.table(verdict.rows as unknown as Record<string, unknown>[]);
          else out.line('the backup has no record: only the restore itself was checked');
        }
        const strict = target.kind === 'backup';
        if (verdict.missing.length > 0 || (strict && verdict.differs.length > 0))
          throw new UserError(
            `the restored database does not match the backup's record: ${[
              ...verdict.missing.map((t) => `table ${t} missing`),
              ...(strict ? verdict.differs.map((t) => `${t} differs`) : []),
            ].join(', ')}`,
            {
              hint: 'try an earlier backup with --set; the API stays stopped until the database is right (make up starts it)',
            },
          );
        if (verdict.differs.length > 0)
          out.line(`note: ${verdict.differs.join(', ')} changed after the backup (expected for a later target)`);

        if (apis.length > 0) {
          out.step(`start the API replicas again (${apis.join(', ')})`);
          for (const name of apis) await stack.start(name);
        }
        if (flags.json)
          out.data({
            environment: env.name,
            inPlace: true,
            target: what,
            backup: base.label,
            port: pg.port,
            verification: verdict,
            apiStarted: apis,
          });
        out.ok(
          `the live ${env.name} database is restored (${what}) on port ${pg.port}; verified` +
            (apis.length > 0 ? `; API replicas ${apis.join(', ')} running again` : ''),
        );
      } catch (err) {
        if (restartApis)
          for (const name of apis)
            await stack.start(name).catch(() => (state += ` (starting ${name} failed: make up)`));
        if (pgStopped) {
          const runs = Stack.restore({ runDir, readOnly: true })
            .status()
            .some((s) => s.name === 'postgres' && s.state === 'running');
          state += runs ? `; PostgreSQL runs on port ${host.paths.port}` : '; PostgreSQL is stopped';
        }
        // One line: a failed start's message carries log lines (its hint names the log).
        const message = (err as Error).message.replace(/:?\s*\n[\s\S]*$/, '');
        if (err instanceof UserError) {
          if (!pgStopped) throw err;
          throw new UserError(`${message}; ${state}`, { hint: err.hint, cause: err });
        }
        throw new UserError(`restore --in-place failed: ${message}; ${state}`, {
          hint: `see ${path.join(runDir, 'logs')} and ${path.join(path.dirname(host.paths.pgbackrestConfig), 'log')}; make up starts what is stopped`,
        });
      } finally {
        await releaseBackupLock(host);
      }
    }
  },
);
