// make backup ENV=… [TYPE=full|diff|incr] — a pgBackRest backup where the environment's
// PostgreSQL lives (the local stack's instance, or the database host over SSH).
//   preflight: database section, connect, pgBackRest and the stanza answer, WAL archiving state
//   plan:      printed; --dry-run stops here
//   act:       take the backup lock, record the verification data (tables, row counts, checksums
//              of the key tables) as annotations, run the backup with progress
//   verify:    the new backup is listed; metrics written (textfile) and pushed (Pushgateway)
//   failure:   the lock is released, a failed-run metric is published, the repository keeps the
//              previous backups (pgBackRest never changes a finished backup)
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  archiveStatus,
  backupMetrics,
  formatAge,
  formatBytes,
  metricsTextfile,
  parseBackupType,
  publishMetrics,
  pushgatewayUrl,
  recordVerification,
  renderMetrics,
  runBackup,
  verificationAnnotations,
} from './lib/backup.js';
import { connectDbHost, databaseConfig, localRunDir, type DbHost } from './lib/db-host.js';
import { loadEnvironment } from './lib/environments.js';
import { runScript } from './lib/main.js';
import { releaseBackupLock, stanzaInfo, takeBackupLock } from './lib/pgbackrest.js';
import { lockOwner } from './lib/ssh.js';

await runScript(
  {
    summary: 'Take a pgBackRest backup of the environment’s PostgreSQL (lock, progress, metrics).',
    usage: 'make backup ENV=dev|staging|prod [TYPE=full|diff|incr] [DRY_RUN=1] [JSON=1]',
    options: { type: { type: 'string' }, 'run-dir': { type: 'string' } },
    optionsHelp: [
      'Options:',
      '  --type T        full, diff or incr (default incr; pgBackRest makes the first one full) (TYPE=…)',
      '  --run-dir DIR   the local stack’s run directory (kind local; default .run/ or MYTV_RUN_DIR)',
    ].join('\n'),
  },
  async (ctx) => {
    const { out, flags, values } = ctx;
    const type = parseBackupType(values.type as string | undefined);
    const env = loadEnvironment(flags.env);
    const db = databaseConfig(env);
    const runDir = localRunDir(values);

    out.step(`connect to the ${env.name} database (${db.kind === 'local' ? 'local stack' : db.ssh?.host})`);
    const host = await connectDbHost(env, { runDir });
    try {
      const info = await stanzaInfo(host, db.stanza);
      const archive = await archiveStatus(host);
      const newest = info.backups.at(-1);
      out.table(
        [
          { what: 'database', value: `${db.name} on ${host.label}` },
          { what: 'stanza', value: `${db.stanza} (${info.status.message})` },
          { what: 'repository', value: repoLabel(db.repository) },
          { what: 'backup type', value: newest ? type : `${type} (no backup yet: pgBackRest takes a full one)` },
          {
            what: 'newest backup',
            value: newest ? `${newest.label}, ${formatAge(Date.now() / 1000 - newest.stop)} ago` : '(none)',
          },
          {
            what: 'WAL archiving',
            value:
              archive.ageSeconds > 0
                ? `${archive.pending} segment(s) waiting for ${formatAge(archive.ageSeconds)}`
                : 'up to date',
          },
        ],
        ['what', 'value'],
      );
      if (flags.dryRun) {
        out.line('dry run: nothing was changed');
        return;
      }
      if (env.production) await ctx.confirm(`take a ${type} backup of ${env.name}?`);

      out.step(`take the backup lock (${host.paths.lockDir})`);
      await takeBackupLock(host, lockOwner(`backup ${env.name} ${type}`));
      const started = Date.now();
      try {
        const record = await recordVerification(host, db);
        const made = await out.task(`pgbackrest backup --type=${type}`, (update) =>
          runBackup(host, db, type, verificationAnnotations(record), update),
        );
        const after = await stanzaInfo(host, db.stanza);
        const published = await publish(host, env.name, db, runDir, after, await archiveStatus(host), 1, env.vars);
        const row = {
          label: made.label,
          type: made.type,
          size: formatBytes(made.size),
          added: formatBytes(made.repoSize),
          duration: `${made.stop - made.start}s`,
          tables: record.tables.length,
        };
        history(runDir, { environment: env.name, ok: true, ...row, at: new Date().toISOString() });
        if (flags.json) out.data({ environment: env.name, backup: made, verification: record, metrics: published });
        else out.table([row]);
        out.ok(
          `backup ${made.label} of ${env.name} done (${made.type}); metrics: ${[published.textfile, published.pushed].filter(Boolean).join(', ') || 'none'}`,
        );
        if (published.pushError) out.warn(`Pushgateway push failed: ${published.pushError}`);
      } catch (err) {
        history(runDir, {
          environment: env.name,
          ok: false,
          type,
          error: (err as Error).message,
          at: new Date().toISOString(),
        });
        const info2 = await stanzaInfo(host, db.stanza).catch(() => undefined);
        if (info2)
          await publish(host, env.name, db, runDir, info2, undefined, 0, env.vars, (Date.now() - started) / 1000).catch(
            () => undefined,
          );
        throw err;
      } finally {
        await releaseBackupLock(host);
      }
    } finally {
      host.dispose();
    }
  },
);

function repoLabel(r: ReturnType<typeof databaseConfig>['repository']): string {
  return r.type === 'posix'
    ? `posix ${r.path} (cipher ${r.cipher})`
    : `s3 ${r.bucket}${r.path} at ${r.endpoint} (region ${r.region}, cipher ${r.cipher})`;
}

async function publish(
  host: DbHost,
  envName: string,
  db: ReturnType<typeof databaseConfig>,
  runDir: string,
  info: Awaited<ReturnType<typeof stanzaInfo>>,
  archive: Awaited<ReturnType<typeof archiveStatus>> | undefined,
  ok: 0 | 1,
  vars: Record<string, string | undefined>,
  failedAfterSeconds?: number,
): ReturnType<typeof publishMetrics> {
  const metrics = [
    ...backupMetrics(info, archive),
    {
      name: 'pgbackrest_backup_last_run_success',
      help: '1 when the last make backup run succeeded, 0 when it failed.',
      value: ok,
    },
    {
      name: 'pgbackrest_backup_last_run_timestamp_seconds',
      help: 'End time of the last make backup run.',
      value: Date.now() / 1000,
    },
  ];
  if (failedAfterSeconds !== undefined)
    metrics.push({
      name: 'pgbackrest_backup_last_run_duration_seconds',
      help: 'Duration of the last make backup run.',
      value: failedAfterSeconds,
    });
  return publishMetrics(renderMetrics(metrics, { environment: envName, stanza: db.stanza }), {
    job: 'pgbackrest_backup',
    environment: envName,
    pushgatewayUrl: pushgatewayUrl(db, vars),
    textfile: { host, file: metricsTextfile(db, host, runDir, 'pgbackrest') },
  });
}

/** One JSON line per run in <run dir>/backups/history.jsonl (what ran from this machine, when, result). */
function history(runDir: string, entry: Record<string, unknown>): void {
  const dir = path.join(runDir, 'backups');
  mkdirSync(dir, { recursive: true });
  appendFileSync(path.join(dir, 'history.jsonl'), JSON.stringify(entry) + '\n');
}
