// make backup-status ENV=… [JSON=1] — the environment's backups (type, time, size, duration), the
// age of the newest one, the age of WAL waiting for the archive, the repository size. A probe:
// exit 0 when within policy (database.policy), 1 when the newest backup is too old or WAL
// archiving is stale (the repository down: async archiving retries silently, so this is how it
// shows), 2 on bad input. --publish also writes/pushes the metrics (for a frequent CronJob).
import {
  archiveStatus,
  backupMetrics,
  formatAge,
  formatBytes,
  metricsTextfile,
  publishMetrics,
  pushgatewayUrl,
  renderMetrics,
} from './lib/backup.js';
import { intOption } from './lib/cli.js';
import { connectDbHost, databaseConfig, localRunDir } from './lib/db-host.js';
import { loadEnvironment } from './lib/environments.js';
import { UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import { pgbackrestArgv, stanzaInfo } from './lib/pgbackrest.js';

await runScript(
  {
    summary: 'Show the environment’s backups and WAL archiving; exits non-zero when outside policy (a probe).',
    usage: 'make backup-status ENV=… [JSON=1] [ARGS="--max-wal-age=SECONDS --max-backup-age=HOURS --publish"]',
    options: {
      'max-wal-age': { type: 'string' },
      'max-backup-age': { type: 'string' },
      publish: { type: 'boolean' },
      verify: { type: 'boolean' },
      'run-dir': { type: 'string' },
    },
    optionsHelp: [
      'Options:',
      '  --max-wal-age=S      WAL archiving is stale beyond S seconds (default database.policy, 300)',
      '  --max-backup-age=H   the newest backup is too old beyond H hours (default database.policy, 26)',
      '  --publish            also write the metrics textfile and push to the Pushgateway',
      '  --verify             also run pgbackrest verify: every backup and WAL file read back and checksummed',
      '  --run-dir DIR        the local stack’s run directory (kind local)',
    ].join('\n'),
  },
  async (ctx) => {
    const { out, flags, values } = ctx;
    const env = loadEnvironment(flags.env);
    const db = databaseConfig(env);
    const maxWal = intOption(values['max-wal-age'], 'max-wal-age', {
      default: db.policy.maxWalArchiveAgeSeconds,
      min: 1,
      max: 86_400,
    });
    const maxBackupHours = intOption(values['max-backup-age'], 'max-backup-age', {
      default: db.policy.maxBackupAgeHours,
      min: 1,
      max: 24 * 60,
    });
    const runDir = localRunDir(values);
    const host = await connectDbHost(env, { runDir });
    try {
      const problems: string[] = [];
      // An unreadable repository (R2 down, credentials revoked) is a finding, not a crash.
      // A probe must answer: pgBackRest's default I/O timeout (60 s, retried) would take minutes.
      const info = await stanzaInfo(host, db.stanza, ['--io-timeout=10']).catch((err: Error) => {
        problems.push(`the repository cannot be read: ${err.message}`);
        return { name: db.stanza, status: { code: 99, message: 'unreadable', backupRunning: false }, backups: [] };
      });
      if (info.status.code === 99 && problems.length === 0)
        problems.push(`the repository cannot be read: ${info.status.message}`);
      const archive = await archiveStatus(host);
      const now = Date.now() / 1000;
      const good = info.backups.filter((b) => !b.error);
      const newest = good.at(-1);
      const backupAge = newest ? now - newest.stop : undefined;
      const repoSize = good.reduce((a, b) => a + b.repoSize, 0);
      if (!newest && problems.length === 0) problems.push('no backup in the repository');
      else if (backupAge! > maxBackupHours * 3600)
        problems.push(`the newest backup is ${formatAge(backupAge!)} old (policy: ${maxBackupHours} h)`);
      if (archive.ageSeconds > maxWal)
        problems.push(
          `WAL archiving is stale: ${archive.pending} segment(s) waiting for ${formatAge(archive.ageSeconds)} (policy: ${maxWal}s)`,
        );

      if (values.verify) {
        const r = await out.task('pgbackrest verify (reads the whole repository)', () =>
          host.run(pgbackrestArgv(host, db.stanza, 'verify', ['--output=text', '--log-level-console=warn'])),
        );
        const bad = (r.stdout + '\n' + r.stderr)
          .split('\n')
          .filter((l) => /invalid|error|checksum|missing|corrupt/i.test(l) && !/^\s*$/.test(l));
        if (r.code !== 0 || bad.some((l) => !/: 0\b|checksum invalid: 0|missing: 0/.test(l))) {
          problems.push(
            `pgbackrest verify found problems in the repository: ${bad.slice(0, 4).join(' | ').trim() || `exit ${r.code}`}`,
          );
        }
      }
      if (values.publish) {
        const published = await publishMetrics(
          renderMetrics(backupMetrics(info, archive), { environment: env.name, stanza: db.stanza }),
          {
            job: 'pgbackrest_status',
            environment: env.name,
            pushgatewayUrl: pushgatewayUrl(db, env.vars),
            textfile: { host, file: metricsTextfile(db, host, runDir, 'pgbackrest-status') },
          },
        );
        if (published.pushError) out.warn(`Pushgateway push failed: ${published.pushError}`);
      }

      const report = {
        environment: env.name,
        stanza: db.stanza,
        status: problems.length === 0 ? 'ok' : 'failing',
        problems,
        backups: good.map((b) => ({
          label: b.label,
          type: b.type,
          start: new Date(b.start * 1000).toISOString(),
          stop: new Date(b.stop * 1000).toISOString(),
          durationSeconds: b.stop - b.start,
          sizeBytes: b.size,
          repoSizeBytes: b.repoSize,
        })),
        newestBackupAgeSeconds: backupAge ?? null,
        walArchive: {
          lastArchivedAt: archive.lastArchivedAt ? new Date(archive.lastArchivedAt * 1000).toISOString() : null,
          lastArchivedWal: archive.lastArchivedWal ?? null,
          pendingSegments: archive.pending,
          ageSeconds: archive.ageSeconds,
        },
        repositorySizeBytes: repoSize,
        policy: { maxBackupAgeHours: maxBackupHours, maxWalArchiveAgeSeconds: maxWal },
      };
      if (flags.json) out.data(report);
      else {
        out.table(
          report.backups.map((b) => ({
            label: b.label,
            type: b.type,
            time: b.stop,
            size: formatBytes(b.sizeBytes),
            added: formatBytes(b.repoSizeBytes),
            duration: `${b.durationSeconds}s`,
          })),
          ['label', 'type', 'time', 'size', 'added', 'duration'],
        );
        out.table(
          [
            { what: 'newest backup age', value: backupAge === undefined ? '(none)' : formatAge(backupAge) },
            {
              what: 'WAL archiving',
              value:
                archive.ageSeconds > 0
                  ? `${archive.pending} segment(s) waiting for ${formatAge(archive.ageSeconds)}`
                  : archive.lastArchivedWal
                    ? `up to date (last ${archive.lastArchivedWal}${archive.lastArchivedAt ? `, ${formatAge(now - archive.lastArchivedAt)} ago` : ''})`
                    : 'nothing waiting; no segment archived yet (the first is at most archive_timeout away)',
            },
            { what: 'repository size', value: `${formatBytes(repoSize)} (backups, WAL excluded)` },
          ],
          ['what', 'value'],
        );
      }
      if (problems.length > 0)
        throw new UserError(`${env.name} backups are outside policy: ${problems.join('; ')}`, {
          hint:
            archive.ageSeconds > maxWal
              ? 'check the repository (reachable? credentials?) and the pgBackRest log on the database host'
              : 'take a backup: make backup ENV=' + env.name,
        });
      out.ok(`${env.name}: backups and WAL archiving within policy`);
    } finally {
      host.dispose();
    }
  },
);
