// pgBackRest, driven from the environment's `database` section: its configuration (one renderer
// for the local stack, the tests and the database hosts), the archiving settings every PostgreSQL
// here runs with (postgres/archiving.conf), `info` parsed, and the backup lock.
// Option names and JSON fields: https://pgbackrest.org/configuration.html, /command.html#command-info
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { DatabaseConfig } from './environments.js';
import { UserError } from './errors.js';
import { fromRoot } from './paths.js';
import { must, writeHostFile, type DbHost } from './db-host.js';
import { registerSecret } from './secrets.js';

/** postgres/archiving.conf as name -> value (quotes removed), for `postgres -c name=value`. */
export function archiveSettings(file = fromRoot('postgres', 'archiving.conf')): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const m = /^([a-z_]+)\s*=\s*(.+)$/.exec(line);
    if (!m) throw new Error(`${file}: cannot read the line "${raw}"`);
    out[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
  }
  return out;
}

export interface ClusterLocation {
  dataDir: string;
  port: number;
  socketDir: string;
  /** pg1-user; pgBackRest's default is the OS user (postgres) or PGUSER. */
  user?: string;
}

/** Where pgBackRest keeps spool, logs and locks next to a local config (base = its directory). */
export function localPgbackrestDirs(base: string): { spool: string; log: string; lock: string; confD: string } {
  return {
    spool: path.join(base, 'spool'),
    log: path.join(base, 'log'),
    lock: path.join(base, 'lock'),
    confD: path.join(base, 'conf.d'),
  };
}

/**
 * PIDs on this machine holding the flock of pgBackRest's archive lock file
 * `<lockDir>/<stanza>-archive.lock` (the async archive-push of a cluster holds it while it pushes;
 * pgBackRest locks its lock files with flock(LOCK_EX | LOCK_NB), src/common/lock.c), read from
 * /proc/locks without touching the file. [] when the file does not exist or nobody holds it.
 */
export function archiveLockHolders(lockDir: string, stanza: string): number[] {
  let ino: number;
  try {
    ino = statSync(path.join(lockDir, `${stanza}-archive.lock`)).ino;
  } catch {
    return [];
  }
  const holders: number[] = [];
  // "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234567 0 EOF" (waiters have "->" after the number).
  for (const line of readFileSync('/proc/locks', 'utf8').split('\n')) {
    const f = line
      .trim()
      .split(/\s+/)
      .filter((x) => x !== '->');
    if (f[1] !== 'FLOCK' || Number(f[5]?.split(':')[2]) !== ino) continue;
    holders.push(Number(f[4]));
  }
  return holders;
}

function splitEndpoint(endpoint: string): { host: string; port?: number } {
  const m = /^(.*?)(?::(\d+))?$/.exec(endpoint.replace(/^https?:\/\//, '').replace(/\/+$/, ''))!;
  return { host: m[1], port: m[2] ? Number(m[2]) : undefined };
}

/**
 * pgbackrest.conf (without secrets: those are repo1-s3-key, repo1-s3-key-secret, repo1-cipher-pass
 * in conf.d/secrets.conf, see renderSecretsConfig). `base` holds spool/log/lock and a relative POSIX
 * repository path. Retention: repo1-retention-full/-diff; async archiving (archive-async, spool-path).
 */
export function renderPgbackrestConfig(
  db: DatabaseConfig,
  o: { cluster: ClusterLocation; base: string; processMax?: number },
): string {
  const dirs = localPgbackrestDirs(o.base);
  const repo = db.repository;
  const lines = [
    '# Rendered from the environment file by scripts/lib/pgbackrest.ts; secrets live in conf.d/ (mode 600).',
    '[global]',
  ];
  if (repo.type === 'posix') {
    lines.push(
      'repo1-type=posix',
      `repo1-path=${path.isAbsolute(repo.path) ? repo.path : path.join(o.base, '..', repo.path)}`,
    );
  } else {
    const ep = splitEndpoint(repo.endpoint);
    lines.push(
      'repo1-type=s3',
      `repo1-path=${repo.path}`,
      `repo1-s3-bucket=${repo.bucket}`,
      `repo1-s3-endpoint=${ep.host}`,
      `repo1-s3-region=${repo.region}`,
      `repo1-s3-uri-style=${repo.uriStyle}`,
    );
    if (ep.port) lines.push(`repo1-storage-port=${ep.port}`);
    if (!repo.verifyTls) lines.push('repo1-storage-verify-tls=n');
  }
  if (repo.cipher !== 'none') lines.push(`repo1-cipher-type=${repo.cipher}`);
  lines.push(
    `repo1-retention-full=${db.retention.full}`,
    `repo1-retention-diff=${db.retention.diff}`,
    `compress-type=${db.compress}`,
    'archive-async=y',
    `spool-path=${dirs.spool}`,
    `log-path=${dirs.log}`,
    `lock-path=${dirs.lock}`,
    'log-level-console=warn',
    'log-level-file=info',
    'start-fast=y',
    `process-max=${o.processMax ?? 2}`,
    // archive-push waits this long for the async process, then PostgreSQL retries the segment.
    'archive-timeout=60',
    '',
    `[${db.stanza}]`,
    `pg1-path=${o.cluster.dataDir}`,
    `pg1-port=${o.cluster.port}`,
    `pg1-socket-path=${o.cluster.socketDir}`,
  );
  if (o.cluster.user) lines.push(`pg1-user=${o.cluster.user}`);
  lines.push('');
  return lines.join('\n');
}

/** Variables holding the repository's secrets (in .env.<env> or the environment; never in git). */
export const SECRET_VARS = {
  s3Key: 'BACKUP_REPO_KEY',
  s3KeySecret: 'BACKUP_REPO_KEY_SECRET',
  cipherPass: 'BACKUP_CIPHER_PASSWORD',
} as const;

/**
 * conf.d/secrets.conf for the repository, from the environment's variables; undefined when the
 * repository needs none. A needed but missing variable is a UserError naming it.
 */
export function renderSecretsConfig(
  db: DatabaseConfig,
  vars: Record<string, string | undefined>,
  envName: string,
): string | undefined {
  const lines: string[] = [];
  const need = (name: string, option: string): void => {
    const value = vars[name];
    if (!value)
      throw new UserError(`missing ${name} (pgBackRest ${option}) for environment ${envName}`, {
        hint: `set ${name} in .env.${envName} (never in git); see .env.example`,
      });
    registerSecret(value);
    lines.push(`${option}=${value}`);
  };
  if (db.repository.type === 's3') {
    need(SECRET_VARS.s3Key, 'repo1-s3-key');
    need(SECRET_VARS.s3KeySecret, 'repo1-s3-key-secret');
  }
  if (db.repository.cipher !== 'none') need(SECRET_VARS.cipherPass, 'repo1-cipher-pass');
  return lines.length > 0 ? ['[global]', ...lines, ''].join('\n') : undefined;
}

/** Environment of a PostgreSQL server archiving with the config at `config` (used by archive_command). */
export function archiveEnv(config: string, stanza: string): Record<string, string> {
  return {
    PGBACKREST_CONFIG: config,
    PGBACKREST_STANZA: stanza,
    PGBACKREST_CONFIG_INCLUDE_PATH: path.join(path.dirname(config), 'conf.d'),
  };
}

// ---------------------------------------------------------------------------------------------
// pgbackrest on the database host

/** argv of a pgbackrest command on the host, with its config, include path and stanza. */
export function pgbackrestArgv(host: DbHost, stanza: string, command: string, args: string[] = []): string[] {
  return [
    'pgbackrest',
    `--config=${host.paths.pgbackrestConfig}`,
    `--config-include-path=${path.join(path.dirname(host.paths.pgbackrestConfig), 'conf.d')}`,
    `--stanza=${stanza}`,
    ...args,
    command,
  ];
}

export interface BackupInfo {
  label: string;
  type: 'full' | 'diff' | 'incr';
  start: number;
  stop: number;
  /** Database size (bytes) and the backup's size in the repository (bytes). */
  size: number;
  repoSize: number;
  archiveStart?: string;
  archiveStop?: string;
  error: boolean;
  annotation: Record<string, string>;
  prior?: string;
}

export interface StanzaInfo {
  name: string;
  status: { code: number; message: string; backupRunning: boolean; progress?: { done: number; total: number } };
  backups: BackupInfo[];
  archiveMin?: string;
  archiveMax?: string;
}

interface RawInfo {
  name: string;
  status: {
    code: number;
    message: string;
    lock?: { backup?: { held?: boolean; size?: number; 'size-cplt'?: number } };
  };
  repo?: { key: number; status: { code: number; message: string } }[];
  archive?: { min?: string | null; max?: string | null }[];
  backup?: {
    label: string;
    type: 'full' | 'diff' | 'incr';
    timestamp: { start: number; stop: number };
    info: { size: number; repository: { delta: number; size: number } };
    archive?: { start?: string; stop?: string };
    error?: boolean;
    annotation?: Record<string, string>;
    prior?: string | null;
  }[];
}

/** Parses `pgbackrest info --output=json` for one stanza. */
export function parseInfo(json: string, stanza: string): StanzaInfo {
  const all = JSON.parse(json) as RawInfo[];
  const raw = all.find((s) => s.name === stanza);
  if (!raw) return { name: stanza, status: { code: 1, message: 'missing stanza', backupRunning: false }, backups: [] };
  const lock = raw.status.lock?.backup;
  return {
    name: raw.name,
    status: {
      code: raw.status.code,
      // 99 "other": the reason is per repository (an unreachable S3 endpoint, a wrong key …).
      message:
        raw.status.code === 99
          ? (raw.repo?.find((r) => r.status.code !== 0)?.status.message ?? raw.status.message)
          : raw.status.message,
      backupRunning: Boolean(lock?.held),
      progress: lock?.held && lock.size ? { done: lock['size-cplt'] ?? 0, total: lock.size } : undefined,
    },
    backups: (raw.backup ?? []).map((b) => ({
      label: b.label,
      type: b.type,
      start: b.timestamp.start,
      stop: b.timestamp.stop,
      size: b.info.size,
      repoSize: b.info.repository.delta,
      archiveStart: b.archive?.start,
      archiveStop: b.archive?.stop,
      error: Boolean(b.error),
      annotation: b.annotation ?? {},
      prior: b.prior ?? undefined,
    })),
    archiveMin: raw.archive?.[0]?.min ?? undefined,
    archiveMax: raw.archive?.[0]?.max ?? undefined,
  };
}

/** `pgbackrest info` of the stanza; extra args such as --io-timeout=10 bound it for a probe. */
export async function stanzaInfo(host: DbHost, stanza: string, extra: string[] = []): Promise<StanzaInfo> {
  const out = await must(host, pgbackrestArgv(host, stanza, 'info', ['--output=json', ...extra]), 'pgbackrest info');
  return parseInfo(out, stanza);
}

/** Creates the stanza when missing (idempotent: stanza-create on an existing stanza is a no-op). */
export async function ensureStanza(host: DbHost, stanza: string): Promise<void> {
  await must(host, pgbackrestArgv(host, stanza, 'stanza-create'), 'pgbackrest stanza-create');
}

// ---------------------------------------------------------------------------------------------
// The backup lock: mkdir is atomic on the host, so of two backups exactly one wins.

export class BackupLockHeldError extends UserError {
  constructor(lockDir: string, holder: string, where: string) {
    super(`another backup or restore holds the lock on ${where}: ${holder}`, {
      hint: `wait for it to finish; if it died, check and remove ${lockDir} on the database host`,
    });
    this.name = 'BackupLockHeldError';
  }
}

export async function takeBackupLock(host: DbHost, owner: string): Promise<void> {
  const dir = host.paths.lockDir;
  const r = await host.run(['mkdir', dir]);
  if (r.code === 0) {
    await writeHostFile(host, path.join(dir, 'owner'), owner + '\n', '644');
    return;
  }
  const holder = (await host.run(['cat', path.join(dir, 'owner')])).stdout.trim();
  throw new BackupLockHeldError(dir, holder || '(unknown holder, lock just taken)', host.label);
}

export async function releaseBackupLock(host: DbHost): Promise<void> {
  await host.run(['rm', '-rf', host.paths.lockDir]);
}
