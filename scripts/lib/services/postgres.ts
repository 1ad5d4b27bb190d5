// PostgreSQL 15 from the Debian binaries: its own cluster in dir, loopback TCP with a password
// (scram), a socket directory for local tools (pgBackRest), one application database.
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DatabaseConfig } from '../environments.js';
import { UserError } from '../errors.js';
import { archiveEnv, archiveSettings, localPgbackrestDirs, renderPgbackrestConfig } from '../pgbackrest.js';
import { registerSecret } from '../secrets.js';
import { requireTool } from '../tools.js';
import { waitFor } from '../wait.js';
import { runOnce } from './process.js';
import type { ServiceContext, ServiceSpec } from './types.js';

/** How long afterReady waits for a restored server to finish recovery (ms). */
const RECOVERY_TIMEOUT_MS = 600_000;
/** How long stanza-create is retried while pgBackRest's archive lock is held (ms). */
const STANZA_LOCK_TIMEOUT_MS = 120_000;

export interface PostgresInfo extends Record<string, unknown> {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  url: string;
  dataDir: string;
  socketDir: string;
}

const SUPERUSER = 'postgres';

function dataDir(ctx: ServiceContext): string {
  return path.join(ctx.dir, 'data');
}

function socketDir(ctx: ServiceContext): string {
  return path.join(ctx.dir, 'run');
}

function database(ctx: ServiceContext): string {
  return (ctx.options.database as string | undefined) ?? 'mytv';
}

/** The cluster's password lives beside it (mode 600), so a restarted stack reuses it. */
function password(ctx: ServiceContext): string {
  const file = path.join(ctx.dir, 'password');
  if (!existsSync(file)) writeFileSync(file, randomBytes(18).toString('base64url'), { mode: 0o600 });
  const pw = readFileSync(file, 'utf8').trim();
  registerSecret(pw);
  return pw;
}

function own(ctx: ServiceContext, p: string): void {
  if (ctx.runAs) chownSync(p, ctx.runAs.uid, ctx.runAs.gid);
}

/**
 * options.pgbackrest = { database } (an environment's `database` section): the server archives
 * WAL with pgBackRest (postgres/archiving.conf) into that repository; its config is
 * <run dir>/pgbackrest/pgbackrest.conf, secrets in conf.d/ beside it (written by the caller).
 */
function pgbackrestOf(ctx: ServiceContext): { database: DatabaseConfig; base: string; config: string } | undefined {
  const o = ctx.options.pgbackrest as { database: DatabaseConfig } | undefined;
  if (!o) return undefined;
  const base = path.join(path.dirname(ctx.dir), 'pgbackrest');
  return { database: o.database, base, config: path.join(base, 'pgbackrest.conf') };
}

function preparePgbackrest(ctx: ServiceContext): void {
  const pb = pgbackrestOf(ctx);
  if (!pb) return;
  const dirs = localPgbackrestDirs(pb.base);
  for (const d of [pb.base, dirs.spool, dirs.log, dirs.lock, dirs.confD]) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
    own(ctx, d);
  }
  const repo = pb.database.repository;
  if (repo.type === 'posix') {
    const repoPath = path.isAbsolute(repo.path) ? repo.path : path.join(path.dirname(ctx.dir), repo.path);
    mkdirSync(repoPath, { recursive: true, mode: 0o750 });
    own(ctx, repoPath);
  }
  writeFileSync(
    pb.config,
    renderPgbackrestConfig(pb.database, {
      cluster: { dataDir: dataDir(ctx), port: ctx.port, socketDir: socketDir(ctx) },
      base: pb.base,
    }),
    { mode: 0o600 },
  );
  own(ctx, pb.config);
}

export const postgresService: ServiceSpec<PostgresInfo> = {
  kind: 'postgres',
  tools: ['postgres', 'initdb', 'pg_isready', 'psql'],
  unprivileged: true,
  stopSignal: 'SIGINT',
  readyTimeoutMs: 30_000,

  async prepare(ctx) {
    const data = dataDir(ctx);
    mkdirSync(socketDir(ctx), { recursive: true, mode: 0o700 });
    own(ctx, socketDir(ctx));
    preparePgbackrest(ctx);
    if (existsSync(path.join(data, 'PG_VERSION'))) return;
    const pwFile = path.join(ctx.dir, '.initdb-pw');
    writeFileSync(pwFile, password(ctx) + '\n', { mode: 0o600 });
    own(ctx, pwFile);
    try {
      await runOnce(
        requireTool('initdb'),
        [
          '-D',
          data,
          '-U',
          SUPERUSER,
          '--pwfile',
          pwFile,
          '--auth-host=scram-sha-256',
          '--auth-local=trust',
          '-E',
          'UTF8',
          '--locale=C.UTF-8',
          '--no-sync',
        ],
        { runAs: ctx.runAs },
      );
    } finally {
      writeFileSync(pwFile, '');
    }
    chmodSync(data, 0o700);
  },

  command(ctx) {
    const pb = pgbackrestOf(ctx);
    const settings = {
      ...(pb ? archiveSettings() : {}),
      ...((ctx.options.settings as Record<string, string | number> | undefined) ?? {}),
    };
    const args = [
      '-D',
      dataDir(ctx),
      '-p',
      String(ctx.port),
      '-c',
      `listen_addresses=${ctx.host}`,
      '-c',
      `unix_socket_directories=${socketDir(ctx)}`,
      '-c',
      'fsync=on',
      '-c',
      'log_destination=stderr',
      '-c',
      'logging_collector=off',
    ];
    for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
    return {
      bin: requireTool('postgres'),
      args,
      env: pb ? archiveEnv(pb.config, pb.database.stanza) : undefined,
    };
  },

  async ready(ctx) {
    try {
      await runOnce(requireTool('pg_isready'), ['-q', '-h', ctx.host, '-p', String(ctx.port)], { timeoutMs: 3000 });
      return true;
    } catch {
      return false;
    }
  },

  async afterReady(ctx) {
    const db = database(ctx);
    const psql = (sql: string): Promise<{ stdout: string }> =>
      runOnce(
        requireTool('psql'),
        ['-h', ctx.host, '-p', String(ctx.port), '-U', SUPERUSER, '-d', 'postgres', '-tAc', sql],
        {
          env: { PGPASSWORD: password(ctx), PGCONNECT_TIMEOUT: '5' },
        },
      );
    // After a pgBackRest restore the server answers while it still replays WAL (hot standby,
    // read-only): CREATE DATABASE and stanza-create ("[056] unable to find primary cluster") need
    // the promoted primary, so wait for the end of recovery first.
    const promoted = await waitFor(
      async () => (await psql('SELECT pg_is_in_recovery()').catch(() => ({ stdout: 't' }))).stdout.trim() === 'f',
      { timeoutMs: RECOVERY_TIMEOUT_MS, intervalMs: 250 },
    );
    if (!promoted)
      throw new UserError(`PostgreSQL on port ${ctx.port} is still in recovery after ${RECOVERY_TIMEOUT_MS / 1000}s`, {
        hint: `it keeps replaying WAL in the background; see ${ctx.logFile}, then start it again when it is promoted`,
      });
    const exists = (await psql(`SELECT 1 FROM pg_database WHERE datname = '${db.replace(/'/g, "''")}'`)).stdout.trim();
    if (exists !== '1') await psql(`CREATE DATABASE "${db.replace(/"/g, '""')}"`);
    const pb = pgbackrestOf(ctx);
    // The stanza is created once the server answers (idempotent), so `make backup` needs no setup.
    // stanza-create takes the stanza's archive lock too: right after a start (a restore's new
    // timeline) the async archive-push may hold it for a moment ("[050] unable to acquire lock"),
    // so that error is retried until STANZA_LOCK_TIMEOUT_MS.
    if (pb) {
      let last: unknown;
      const created = await waitFor(
        async () => {
          try {
            await runOnce(
              requireTool('pgbackrest'),
              [
                `--config=${pb.config}`,
                `--config-include-path=${path.join(pb.base, 'conf.d')}`,
                `--stanza=${pb.database.stanza}`,
                'stanza-create',
              ],
              { runAs: ctx.runAs, cwd: '/', timeoutMs: 120_000 },
            );
            return true;
          } catch (err) {
            last = err;
            const message = String((err as Error).message);
            // [028] BackupMismatchError: the repository's stanza was made for another cluster (another
            // system identifier), e.g. the data directory was deleted but not the repository.
            if (/\[028\]/.test(message))
              throw new UserError(
                `the pgBackRest repository under ${pb.base} holds the backups of another PostgreSQL cluster than the one in ${dataDir(ctx)}`,
                {
                  hint: `keep them: move ${path.join(pb.base, 'repo')} aside (mv it to repo.old); start afresh: make down VOLUMES=1 (deletes the database and its backups); then make up again`,
                },
              );
            if (!/\[050\]/.test(message)) throw err;
            return false;
          }
        },
        { timeoutMs: STANZA_LOCK_TIMEOUT_MS, intervalMs: 500 },
      );
      if (!created)
        throw new UserError(
          `pgbackrest stanza-create: the archive lock stayed taken for ${STANZA_LOCK_TIMEOUT_MS / 1000}s (${String((last as Error).message)})`,
          { hint: `PostgreSQL runs on port ${ctx.port}; see ${path.join(pb.base, 'log')}` },
        );
    }
  },

  info(ctx) {
    const pw = password(ctx);
    const db = database(ctx);
    return {
      host: ctx.host,
      port: ctx.port,
      user: SUPERUSER,
      password: pw,
      database: db,
      url: `postgres://${SUPERUSER}:${encodeURIComponent(pw)}@${ctx.host}:${ctx.port}/${encodeURIComponent(db)}`,
      dataDir: dataDir(ctx),
      socketDir: socketDir(ctx),
    };
  },
};
