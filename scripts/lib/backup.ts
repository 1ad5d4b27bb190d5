// What make backup, backup-status, restore and dr-drill share on top of pgBackRest: SQL on the
// database host, the verification record kept with each backup (annotations), WAL archiving age
// from pg_stat_archiver, restoring into a scratch instance, and the Prometheus metrics.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DatabaseConfig } from './environments.js';
import { UserError } from './errors.js';
import { must, writeHostFile, type DbHost } from './db-host.js';
import { MONITORING_APPLICATION_NAME } from './services/exporters.js';
import { freePort } from './services/ports.js';
import { pgbackrestArgv, stanzaInfo, type BackupInfo, type StanzaInfo } from './pgbackrest.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * libpq client arguments for the host's cluster as its superuser over its Unix socket:
 * `-h socketDir -p port -U superuser -d database` (psql, pg_dump, pg_restore take the same ones).
 * The superuser is `postgres`, or the compose image's POSTGRES_USER (host.paths.superuser).
 * `o` points at another instance (a scratch one) or database; default the cluster's `postgres`.
 */
export function clusterArgs(host: DbHost, o: { port?: number; socketDir?: string; database?: string } = {}): string[] {
  return [
    '-h',
    o.socketDir ?? host.paths.socketDir,
    '-p',
    String(o.port ?? host.paths.port),
    '-U',
    host.paths.superuser,
    '-d',
    o.database ?? 'postgres',
  ];
}

/** Runs SQL through psql on the host's socket as the postgres OS user; returns unaligned rows. */
export async function hostSql(
  host: DbHost,
  sql: string,
  o: { port?: number; socketDir?: string; database?: string } = {},
): Promise<string[][]> {
  const out = await must(
    host,
    [
      path.join(host.paths.binDir, 'psql'),
      '-X',
      '-q',
      '-t',
      '-A',
      '-F',
      '\t',
      '-v',
      'ON_ERROR_STOP=1',
      ...clusterArgs(host, o),
      '-c',
      // One line: the statement travels through a remote shell for kind ssh.
      sql.replace(/\s*\n\s*/g, ' '),
    ],
    'psql',
  );
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
}

/** Client sessions of one kind on a database: who is connected (pg_stat_activity). */
export interface ClientSessions {
  usename: string;
  applicationName: string;
  client: string;
  sessions: number;
}

/**
 * The client sessions on `database` that a restore over it would cut off: client backends other
 * than this one, monitoring's (the postgres-exporter, application_name MONITORING_APPLICATION_NAME)
 * and pgBackRest's, grouped by usename / application_name / client address, most sessions first.
 */
export async function clientSessions(host: DbHost, database: string): Promise<ClientSessions[]> {
  const lit = (v: string): string => `'${v.replace(/'/g, "''")}'`;
  const rows = await hostSql(
    host,
    `SELECT coalesce(usename, '?'), coalesce(nullif(application_name, ''), '(no application_name)'),
            coalesce(host(client_addr), 'local socket'), count(*)
       FROM pg_stat_activity
      WHERE datname = ${lit(database)} AND backend_type = 'client backend' AND pid <> pg_backend_pid()
        AND application_name <> ${lit(MONITORING_APPLICATION_NAME)} AND application_name NOT LIKE 'pgbackrest%'
      GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2`,
  );
  return rows.map(([usename, applicationName, client, n]) => ({
    usename,
    applicationName,
    client,
    sessions: Number(n),
  }));
}

/** "mytv-api as postgres from 127.0.0.1 (4)" for each group, comma-separated. */
export function describeSessions(s: ClientSessions[]): string {
  return s.map((x) => `${x.applicationName} as ${x.usename} from ${x.client} (${x.sessions})`).join(', ');
}

// ---------------------------------------------------------------------------------------------
// Verification record: tables present and, for the key tables, row count + checksum.

export interface TableStat {
  table: string;
  rows: number;
  checksum: string;
}

export interface VerificationRecord {
  tables: string[];
  stats: TableStat[];
}

/** Order-independent checksum of a table's rows (md5 of the sorted row md5s). */
function statSql(table: string): string {
  return `SELECT '${table}', count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') FROM public."${table}" t`;
}

export async function recordVerification(
  host: DbHost,
  db: DatabaseConfig,
  o: { port?: number; socketDir?: string } = {},
): Promise<VerificationRecord> {
  const q = { ...o, database: db.name };
  const tables = (await hostSql(host, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`, q)).map(
    (r) => r[0],
  );
  const key = db.verifyTables.filter((t) => tables.includes(t));
  const stats: TableStat[] = [];
  for (const t of key) {
    const [row] = await hostSql(host, statSql(t), q);
    stats.push({ table: row[0], rows: Number(row[1]), checksum: row[2] });
  }
  return { tables, stats };
}

/** pgBackRest --annotation arguments carrying the record (shown by `info --output=json`). */
export function verificationAnnotations(r: VerificationRecord): string[] {
  return [
    `--annotation=mytv-tables=${r.tables.join(',')}`,
    `--annotation=mytv-verify=${r.stats.map((s) => `${s.table}:${s.rows}:${s.checksum}`).join(';')}`,
  ];
}

export function verificationFromAnnotation(a: Record<string, string>): VerificationRecord | undefined {
  if (a['mytv-tables'] === undefined) return undefined;
  return {
    tables: a['mytv-tables'].split(',').filter(Boolean),
    stats: (a['mytv-verify'] ?? '')
      .split(';')
      .filter(Boolean)
      .map((s) => {
        const [table, rows, checksum] = s.split(':');
        return { table, rows: Number(rows), checksum };
      }),
  };
}

export interface VerificationRow {
  table: string;
  recordedRows: number | string;
  restoredRows: number | string;
  checksum: 'match' | 'differs' | 'missing table' | '-';
}

/** Compares a restored instance with the record; `missing` lists tables absent after the restore. */
export async function verifyRestored(
  host: DbHost,
  db: DatabaseConfig,
  record: VerificationRecord,
  o: { port: number; socketDir: string },
): Promise<{ rows: VerificationRow[]; missing: string[]; differs: string[] }> {
  const now = await recordVerification(host, db, o);
  const missing = record.tables.filter((t) => !now.tables.includes(t));
  const rows: VerificationRow[] = [];
  const differs: string[] = [];
  for (const s of record.stats) {
    const r = now.stats.find((x) => x.table === s.table);
    if (!r) {
      rows.push({ table: s.table, recordedRows: s.rows, restoredRows: '-', checksum: 'missing table' });
      continue;
    }
    const same = r.rows === s.rows && r.checksum === s.checksum;
    if (!same) differs.push(s.table);
    rows.push({ table: s.table, recordedRows: s.rows, restoredRows: r.rows, checksum: same ? 'match' : 'differs' });
  }
  return { rows, missing, differs };
}

// ---------------------------------------------------------------------------------------------
// WAL archiving, from the server's own view (pg_stat_archiver).

export interface ArchiveStatus {
  lastArchivedAt?: number;
  lastArchivedWal?: string;
  lastFailedAt?: number;
  /** Completed WAL segments not yet archived. */
  pending: number;
  /** Seconds WAL has been waiting for the archive (0 when nothing waits). */
  ageSeconds: number;
}

function segmentNumber(wal: string): number {
  return parseInt(wal.slice(8, 16), 16) * 0x100 + parseInt(wal.slice(16, 24), 16);
}

export async function archiveStatus(host: DbHost): Promise<ArchiveStatus> {
  const [r] = await hostSql(
    host,
    `SELECT coalesce(extract(epoch FROM last_archived_time)::text, '-'), coalesce(last_archived_wal, '-'),
            coalesce(extract(epoch FROM last_failed_time)::text, '-'), pg_walfile_name(pg_current_wal_lsn()),
            extract(epoch FROM now()), extract(epoch FROM pg_postmaster_start_time())
       FROM pg_stat_archiver`,
  );
  if (!r) throw new UserError(`pg_stat_archiver returned nothing on ${host.label}`);
  // '-' for NULL: an empty leading field would be trimmed away by an SSH client.
  const [archivedAt, archivedWal, failedAt, currentWal, now, started] = r.map((f) => (f === '-' ? '' : f));
  const lastArchivedAt = archivedAt ? Number(archivedAt) : undefined;
  const lastFailedAt = failedAt ? Number(failedAt) : undefined;
  // The segment being written is never archived yet; everything between it and the last archived one waits.
  const pending =
    archivedWal && archivedWal.slice(0, 8) === currentWal.slice(0, 8)
      ? Math.max(0, segmentNumber(currentWal) - segmentNumber(archivedWal) - 1)
      : archivedWal
        ? 1
        : lastFailedAt
          ? 1
          : 0;
  const failing = lastFailedAt !== undefined && (lastArchivedAt === undefined || lastFailedAt > lastArchivedAt);
  const waiting = pending > 0 || failing;
  const ageSeconds = waiting ? Math.max(0, Number(now) - (lastArchivedAt ?? Number(started))) : 0;
  return { lastArchivedAt, lastArchivedWal: archivedWal || undefined, lastFailedAt, pending, ageSeconds };
}

// ---------------------------------------------------------------------------------------------
// Backup

export type BackupType = 'full' | 'diff' | 'incr';

export function parseBackupType(raw: string | undefined): BackupType {
  const v = raw === undefined || raw === '' ? 'incr' : raw;
  if (!['full', 'diff', 'incr'].includes(v))
    throw new UserError(`unknown backup type '${v}'`, { hint: 'pass TYPE=full|diff|incr', exitCode: 2 });
  return v as BackupType;
}

/**
 * Runs `pgbackrest backup` on the host, reporting progress from `info` while it runs; returns the
 * new backup's info. pgBackRest itself turns an incr/diff without a prior full into a full.
 */
export async function runBackup(
  host: DbHost,
  db: DatabaseConfig,
  type: BackupType,
  annotations: string[],
  onProgress: (detail: string) => void,
): Promise<BackupInfo> {
  const before = new Set((await stanzaInfo(host, db.stanza)).backups.map((b) => b.label));
  const started = Date.now();
  let done = false;
  const running = host
    .run(pgbackrestArgv(host, db.stanza, 'backup', [`--type=${type}`, ...annotations]))
    .finally(() => (done = true));
  while (!done) {
    await Promise.race([running, sleep(2000)]);
    if (done) break;
    const info = await stanzaInfo(host, db.stanza).catch(() => undefined);
    const p = info?.status.progress;
    const secs = Math.round((Date.now() - started) / 1000);
    onProgress(
      p ? `${((100 * p.done) / p.total).toFixed(1)} % of ${formatBytes(p.total)}, ${secs}s` : `running, ${secs}s`,
    );
  }
  const r = await running;
  if (r.code !== 0) {
    const tail = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ');
    throw new UserError(`pgbackrest backup failed on ${host.label} (exit ${r.code}): ${tail}`, {
      hint: 'see the pgBackRest log on the database host (log-path); `make backup-status` shows the repository',
    });
  }
  const info = await stanzaInfo(host, db.stanza);
  const made = info.backups.filter((b) => !before.has(b.label)).pop();
  if (!made) throw new UserError('pgbackrest reported success but no new backup is listed by pgbackrest info');
  return made;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatAge(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} d`;
}

// ---------------------------------------------------------------------------------------------
// Restore into a scratch instance

export interface RestoreTarget {
  /** 'latest' (end of the archive), an ISO time, or a backup label (restored to its consistent point). */
  kind: 'latest' | 'time' | 'backup';
  time?: Date;
  label?: string;
}

/**
 * Recoverable window: from the end of the oldest good backup until the last archived WAL
 * (lastArchivedAt, epoch seconds; now when the primary cannot be asked).
 */
export function recoverableWindow(info: StanzaInfo, lastArchivedAt?: number): { from: Date; to: Date } | undefined {
  const good = info.backups.filter((b) => !b.error);
  if (good.length === 0) return undefined;
  const to = lastArchivedAt !== undefined ? Math.max(lastArchivedAt, good.at(-1)!.stop) * 1000 : Date.now();
  return { from: new Date(good[0].stop * 1000), to: new Date(to) };
}

/**
 * Checks a restore target against the repository; returns the backup the restore starts from.
 * Errors (UserError): no backups, unknown label (lists the labels), time outside the window (gives it).
 */
export function resolveRestoreTarget(info: StanzaInfo, t: RestoreTarget, lastArchivedAt?: number): BackupInfo {
  const good = info.backups.filter((b) => !b.error);
  if (good.length === 0)
    throw new UserError(`the repository has no backup of stanza ${info.name} to restore`, {
      hint: 'take one first: make backup TYPE=full',
    });
  if (t.kind === 'backup') {
    const b = good.find((x) => x.label === t.label);
    if (!b)
      throw new UserError(`unknown backup label ${t.label}`, {
        hint: `the backups are: ${good.map((x) => x.label).join(', ')} (make backup-status)`,
        exitCode: 2,
      });
    return b;
  }
  if (t.kind === 'time') {
    const w = recoverableWindow(info, lastArchivedAt)!;
    const ts = t.time!.getTime();
    if (ts < w.from.getTime() || ts > w.to.getTime())
      throw new UserError(
        `target time ${t.time!.toISOString()} is outside the recoverable window ${w.from.toISOString()} .. ${w.to.toISOString()}`,
        {
          hint: 'pass TARGET_TIME inside that range (ISO 8601 with a time zone; the end is the last archived WAL), or latest',
          exitCode: 2,
        },
      );
    return [...good].reverse().find((b) => b.stop * 1000 <= ts)!;
  }
  return good[good.length - 1];
}

export function parseRestoreTarget(time: string | undefined, label: string | undefined): RestoreTarget {
  if (label) {
    if (time && time !== 'latest')
      throw new UserError('pass either TARGET_TIME or --set=LABEL, not both', { exitCode: 2 });
    return { kind: 'backup', label };
  }
  if (time === undefined || time === '' || time === 'latest') return { kind: 'latest' };
  const raw = time;
  const d = new Date(raw);
  if (!/\d{4}-\d{2}-\d{2}/.test(raw) || Number.isNaN(d.getTime()) || !/(Z|[+-]\d{2}(:?\d{2})?)$/.test(raw))
    throw new UserError(`TARGET_TIME=${raw} is not an ISO 8601 time with a time zone`, {
      hint: 'e.g. TARGET_TIME=2026-11-29T18:30:00Z, or latest',
      exitCode: 2,
    });
  return { kind: 'time', time: d };
}

export interface ScratchInstance {
  id: string;
  dir: string;
  dataDir: string;
  port: number;
  socketDir: string;
  logFile: string;
}

/** A free port for a scratch instance: chosen by the kernel locally, probed from database.host.scratchPort on a host. */
export async function scratchPort(host: DbHost): Promise<number> {
  return host.kind === 'local' ? await freePort() : await freeHostPort(host, host.paths.scratchPort);
}

/** A port on the host nothing answers on (pg_isready exit 2 = no response), from `first`. */
async function freeHostPort(host: DbHost, first: number): Promise<number> {
  for (let p = first; p < first + 50; p++) {
    const r = await host.run([path.join(host.paths.binDir, 'pg_isready'), '-q', '-h', '127.0.0.1', '-p', String(p)]);
    if (r.code === 2) return p;
  }
  throw new UserError(`no free port for a scratch instance on ${host.label} from ${first}`);
}

export function pgbackrestRestoreArgs(
  t: RestoreTarget,
  base: BackupInfo,
  dataDir: string,
  archiveOff: boolean,
): string[] {
  const args = [`--pg1-path=${dataDir}`];
  if (archiveOff) args.push('--archive-mode=off');
  // latest = pgBackRest's default type: replay all archived WAL, then promote.
  if (t.kind === 'time')
    args.push(
      '--type=time',
      `--target=${t.time!.toISOString().replace('T', ' ').replace('Z', '+00')}`,
      '--target-action=promote',
    );
  else if (t.kind === 'backup') args.push(`--set=${base.label}`, '--type=immediate', '--target-action=promote');
  return args;
}

/**
 * Restores into a NEW instance on the database host (its own data directory under scratchDir and
 * its own port), with archive_mode=off so it never writes into the repository, then starts it and
 * waits until recovery has ended (promoted). Never touches the live cluster.
 */
export async function restoreIntoScratchInstance(
  host: DbHost,
  db: DatabaseConfig,
  target: RestoreTarget,
  base: BackupInfo,
  o: {
    port?: number;
    onProgress?: (d: string) => void;
    /** Directory name of the instance under scratchDir (default restore-<time>-<pid>). */
    id?: string;
    from?: { config: string; stanza: string };
    settings?: string[];
  } = {},
): Promise<ScratchInstance> {
  const id = o.id ?? `restore-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}-${process.pid}`;
  const dir = path.join(host.paths.scratchDir, id);
  const inst: ScratchInstance = {
    id,
    dir,
    dataDir: path.join(dir, 'data'),
    socketDir: dir,
    logFile: path.join(dir, 'postgres.log'),
    port: o.port ?? (await scratchPort(host)),
  };
  await must(host, ['mkdir', '-p', '-m', '700', inst.dataDir], `creating ${inst.dataDir}`);
  o.onProgress?.(`pgbackrest restore into ${inst.dataDir}`);
  const restoreArgs = pgbackrestRestoreArgs(target, base, inst.dataDir, true);
  await must(
    host,
    o.from
      ? ['pgbackrest', `--config=${o.from.config}`, `--stanza=${o.from.stanza}`, ...restoreArgs, 'restore']
      : pgbackrestArgv(host, db.stanza, 'restore', restoreArgs),
    'pgbackrest restore',
  );
  // A packaged (Debian) cluster keeps its configuration in /etc, outside the data directory.
  await must(
    host,
    [
      'sh',
      '-c',
      'test -f "$1/postgresql.conf" || : > "$1/postgresql.conf"; test -f "$1/pg_hba.conf" || printf "local all all peer\\nhost all all 127.0.0.1/32 scram-sha-256\\n" > "$1/pg_hba.conf"; test -f "$1/pg_ident.conf" || : > "$1/pg_ident.conf"',
      'sh',
      inst.dataDir,
    ],
    'completing the restored configuration',
  );
  o.onProgress?.(`start on port ${inst.port} (archive_mode=off) and replay WAL`);
  await startScratch(host, inst, o.settings);
  return inst;
}

/** Starts a restored instance with pg_ctl (archive_mode=off unless `settings` say otherwise) and waits until promoted. */
export async function startScratch(host: DbHost, inst: ScratchInstance, settings: string[] = []): Promise<void> {
  const opts = [
    `-p ${inst.port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${inst.socketDir}`,
    '-c archive_mode=off',
    '-c hba_file=' + path.join(inst.dataDir, 'pg_hba.conf'),
    '-c ident_file=' + path.join(inst.dataDir, 'pg_ident.conf'),
    ...settings.map((x) => `-c ${x}`),
  ].join(' ');
  const r = await host.run(
    [
      path.join(host.paths.binDir, 'pg_ctl'),
      '-D',
      inst.dataDir,
      '-l',
      inst.logFile,
      '-w',
      '-t',
      '1800',
      '-o',
      opts,
      'start',
    ],
    { timeoutMs: 1_900_000 },
  );
  if (r.code !== 0) {
    const log = (await host.run(['tail', '-n', '5', inst.logFile])).stdout.trim().split('\n').join(' | ');
    throw new UserError(`the restored instance did not start on ${host.label}: ${log}`, {
      hint: `see ${inst.logFile}; the live cluster was not touched`,
    });
  }
  // pg_ctl returns once connections are accepted (hot standby); wait until recovery has ended.
  for (;;) {
    const rows = await hostSql(host, 'SELECT pg_is_in_recovery()', {
      port: inst.port,
      socketDir: inst.socketDir,
    }).catch(() => [['t']]);
    if (rows[0]?.[0] === 'f') return;
    await sleep(300);
  }
}

/** Stops a scratch instance (fast shutdown) and, with remove, deletes its directory. */
export async function stopScratch(host: DbHost, inst: ScratchInstance, o: { remove: boolean }): Promise<void> {
  await host.run([path.join(host.paths.binDir, 'pg_ctl'), '-D', inst.dataDir, '-m', 'fast', '-w', 'stop']);
  if (o.remove) await host.run(['rm', '-rf', inst.dir]);
}

// ---------------------------------------------------------------------------------------------
// Metrics (Prometheus text format 0.0.4), to a textfile and/or the Pushgateway.

export interface Metric {
  name: string;
  help: string;
  type?: 'gauge' | 'counter';
  value: number;
  labels?: Record<string, string>;
}

export function renderMetrics(metrics: Metric[], common: Record<string, string>): string {
  const lines: string[] = [];
  const seen = new Set<string>();
  const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  for (const m of metrics) {
    if (!seen.has(m.name)) {
      lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type ?? 'gauge'}`);
      seen.add(m.name);
    }
    const labels = Object.entries({ ...common, ...m.labels })
      .map(([k, v]) => `${k}="${esc(v)}"`)
      .join(',');
    lines.push(`${m.name}${labels ? `{${labels}}` : ''} ${Number.isFinite(m.value) ? m.value : 'NaN'}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * Publishes metrics: into `textfile` (node_exporter textfile collector format, written atomically;
 * on the database host for kind ssh) and, with a Pushgateway URL, PUT to
 * /metrics/job/<job>/environment/<env> (the group is replaced). A Pushgateway failure is
 * reported in the result, not thrown: the backup itself succeeded.
 */
export async function publishMetrics(
  text: string,
  o: { job: string; environment: string; pushgatewayUrl?: string; textfile?: { host: DbHost; file: string } },
): Promise<{ textfile?: string; pushed?: string; pushError?: string }> {
  const result: { textfile?: string; pushed?: string; pushError?: string } = {};
  if (o.textfile) {
    const { host, file } = o.textfile;
    // kind container: the textfile stays in the run directory here (the container's root is read-only).
    if (host.kind !== 'ssh') {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(`${file}.tmp`, text, { mode: 0o644 });
      renameSync(`${file}.tmp`, file);
    } else {
      await must(host, ['mkdir', '-p', path.dirname(file)], `creating ${path.dirname(file)}`);
      await writeHostFile(host, `${file}.tmp`, text, '644');
      await must(host, ['mv', `${file}.tmp`, file], `moving ${file} into place`);
    }
    result.textfile = file;
  }
  if (o.pushgatewayUrl) {
    const url = `${o.pushgatewayUrl.replace(/\/+$/, '')}/metrics/job/${encodeURIComponent(o.job)}/environment/${encodeURIComponent(o.environment)}`;
    try {
      const res = await fetch(url, {
        method: 'PUT',
        body: text,
        headers: { 'content-type': 'text/plain; version=0.0.4' },
      });
      if (!res.ok) result.pushError = `${res.status} ${res.statusText}: ${(await res.text()).slice(0, 200)}`;
      else result.pushed = url;
    } catch (err) {
      result.pushError = (err as Error).message;
    }
  }
  return result;
}

/**
 * Textfile for one job's metrics (`name`.prom) in the directory of database.metrics.textfile:
 * relative = under the run directory (kind local) or node_exporter's textfile directory on the host.
 */
export function metricsTextfile(db: DatabaseConfig, host: DbHost, runDir: string, name: string): string {
  const dir = path.dirname(db.metrics.textfile);
  if (path.isAbsolute(dir)) return path.join(dir, `${name}.prom`);
  return host.kind !== 'ssh'
    ? path.join(runDir, dir, `${name}.prom`)
    : path.join('/var/lib/prometheus/node-exporter', `${name}.prom`);
}

/** Pushgateway base URL: PUSHGATEWAY_URL from the environment's variables, else database.metrics. */
export function pushgatewayUrl(db: DatabaseConfig, vars: Record<string, string | undefined>): string | undefined {
  return vars.PUSHGATEWAY_URL || db.metrics.pushgatewayUrl;
}

/** The metrics issue 12's alerts and dashboard read (names listed in docs/runbooks/backup-restore.md). */
export function backupMetrics(info: StanzaInfo, archive: ArchiveStatus | undefined): Metric[] {
  const m: Metric[] = [];
  const good = info.backups.filter((b) => !b.error);
  for (const type of ['full', 'diff', 'incr'] as const) {
    const b = [...good].reverse().find((x) => x.type === type);
    if (!b) continue;
    const labels = { type };
    m.push(
      {
        name: 'pgbackrest_backup_last_success_timestamp_seconds',
        help: 'End time of the newest good backup of this type.',
        value: b.stop,
        labels,
      },
      {
        name: 'pgbackrest_backup_last_duration_seconds',
        help: 'Duration of the newest good backup of this type.',
        value: b.stop - b.start,
        labels,
      },
      {
        name: 'pgbackrest_backup_last_size_bytes',
        help: 'Database size covered by the newest backup of this type.',
        value: b.size,
        labels,
      },
      {
        name: 'pgbackrest_backup_last_repo_size_bytes',
        help: 'Bytes the newest backup of this type added to the repository.',
        value: b.repoSize,
        labels,
      },
    );
  }
  m.push(
    { name: 'pgbackrest_backups', help: 'Backups in the repository.', value: good.length },
    {
      name: 'pgbackrest_repository_size_bytes',
      help: 'Bytes of all backups in the repository (WAL excluded).',
      value: good.reduce((a, b) => a + b.repoSize, 0),
    },
  );
  if (archive) {
    if (archive.lastArchivedAt !== undefined)
      m.push({
        name: 'pgbackrest_wal_archive_last_timestamp_seconds',
        help: 'Time the last WAL segment was archived.',
        value: archive.lastArchivedAt,
      });
    m.push(
      {
        name: 'pgbackrest_wal_archive_age_seconds',
        help: 'Seconds completed WAL has been waiting for the archive (0 = nothing waits).',
        value: archive.ageSeconds,
      },
      {
        name: 'pgbackrest_wal_archive_pending_segments',
        help: 'Completed WAL segments not archived yet.',
        value: archive.pending,
      },
    );
  }
  return m;
}

/**
 * The metrics make dr-drill publishes (issue 12's DrDrillOutsideObjective alert and backups
 * dashboard read them): RPO/RTO in seconds, marker rows lost, 1/0 objective met, and now as the
 * last success time (seconds since the epoch).
 */
export function drDrillMetrics(r: {
  rpoSeconds: number;
  rtoSeconds: number;
  markersLost: number;
  met: boolean;
}): Metric[] {
  return [
    { name: 'mytv_dr_drill_rpo_seconds', help: 'RPO measured by the last DR drill.', value: r.rpoSeconds },
    {
      name: 'mytv_dr_drill_rto_seconds',
      help: 'RTO measured by the last DR drill (loss to API ready).',
      value: r.rtoSeconds,
    },
    { name: 'mytv_dr_drill_markers_lost', help: 'Marker rows acknowledged but not recovered.', value: r.markersLost },
    {
      name: 'mytv_dr_drill_last_success_timestamp_seconds',
      help: 'End time of the last successful DR drill.',
      value: Date.now() / 1000,
    },
    { name: 'mytv_dr_drill_slo_met', help: '1 when the last drill met the RPO and RTO targets.', value: r.met ? 1 : 0 },
  ];
}
