// Where an environment's PostgreSQL lives (environments/<env>.yaml `database`): the local stack's
// own instance (kind local: commands run here, as the postgres OS user when we are root), or —
// when that local stack was started by compose (its recorded state, .run/state.json) — the
// compose postgres container (commands run in it as postgres through the container engine's
// `exec`), or a database host reached over SSH (kind ssh: commands run there through
// `database.host.runAs`). Backup, status, restore, drill and dump scripts talk to each through
// this one interface.
import { spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DatabaseConfig, Environment } from './environments.js';
import { UserError } from './errors.js';
import {
  containerExecArgv,
  containerPaths,
  execViaApi,
  type RecordedContainer,
} from './local-stack/compose-postgres.js';
import { readState, runDirFrom } from './local-stack/state.js';
import { renderSecretsConfig } from './pgbackrest.js';
import { maskSecrets } from './secrets.js';
import { lookupUser, type Identity } from './services/process.js';
import { Stack, type PostgresInfo } from './services/index.js';
import { shq, SshClient } from './ssh.js';
import { findTool, toolEnvPath } from './tools.js';

export interface HostResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Paths and ports of the cluster a DbHost backs up (as seen on that host). */
export interface ClusterPaths {
  dataDir: string;
  port: number;
  socketDir: string;
  binDir: string;
  /** pgBackRest main config on the host. */
  pgbackrestConfig: string;
  scratchDir: string;
  lockDir: string;
  scratchPort: number;
  /** The database superuser psql/pg_dump log in as (postgres; the compose image's POSTGRES_USER). */
  superuser: string;
}

export interface DbHost {
  /** "local stack (.run)" or "deploy@db.example:22". */
  readonly label: string;
  readonly kind: 'local' | 'container' | 'ssh';
  readonly paths: ClusterPaths;
  /** Runs argv as the postgres OS user; never throws on a non-zero exit (check .code). */
  run(argv: string[], o?: { input?: string; timeoutMs?: number }): Promise<HostResult>;
  dispose(): void;
}

/** Runs argv on the host and returns stdout; a failure is a UserError naming `what` and the last output lines. */
export async function must(host: DbHost, argv: string[], what: string, o: { input?: string } = {}): Promise<string> {
  const r = await host.run(argv, o);
  if (r.code !== 0) {
    const tail = (r.stderr || r.stdout).trim().split('\n').slice(-4).join(' | ');
    throw new UserError(`${what} failed on ${host.label} (exit ${r.code})${tail ? `: ${maskSecrets(tail)}` : ''}`);
  }
  return r.stdout;
}

/** Writes a file on the host as the postgres OS user (content through stdin, never argv). */
export async function writeHostFile(host: DbHost, file: string, content: string, mode = '600'): Promise<void> {
  await must(host, ['sh', '-c', 'umask 077 && cat > "$1" && chmod "$2" "$1"', 'sh', file, mode], `writing ${file}`, {
    input: content,
  });
}

/** Runs a program with stdin from `input`; resolves with its output and exit code, never rejects. */
function runChild(
  bin: string,
  args: string[],
  o: { input?: string; timeoutMs?: number; uid?: number; gid?: number; env?: Record<string, string> },
): Promise<HostResult> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, {
      env: { ...process.env, PATH: toolEnvPath(), ...o.env },
      uid: o.uid,
      gid: o.gid,
      cwd: '/',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = o.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), o.timeoutMs) : undefined;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      resolve({ stdout, stderr: stderr + err.message, code: 127 });
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? (signal ? 128 : 1) });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(o.input ?? '');
  });
}

class LocalDbHost implements DbHost {
  readonly kind = 'local' as const;
  constructor(
    readonly label: string,
    readonly paths: ClusterPaths,
    private readonly runAs: Identity | undefined,
  ) {}

  run(argv: string[], o: { input?: string; timeoutMs?: number } = {}): Promise<HostResult> {
    const bin = argv[0].includes('/') ? argv[0] : (findTool(argv[0]) ?? argv[0]);
    return runChild(bin, argv.slice(1), { ...o, uid: this.runAs?.uid, gid: this.runAs?.gid });
  }

  dispose(): void {}
}

class SshDbHost implements DbHost {
  readonly kind = 'ssh' as const;
  readonly label: string;
  constructor(
    private readonly ssh: SshClient,
    private readonly runAsPrefix: string,
    readonly paths: ClusterPaths,
  ) {
    this.label = ssh.label;
  }

  run(argv: string[], o: { input?: string } = {}): Promise<HostResult> {
    // runAs is the environment file's own shell prefix (sudo -n -u postgres …); the words are quoted.
    return this.ssh.run(`cd / && ${this.runAsPrefix} ${argv.map(shq).join(' ')}`, { stdin: o.input });
  }

  dispose(): void {
    this.ssh.dispose();
  }
}

/**
 * The compose stack's PostgreSQL container: argv runs in it as the postgres OS user through
 * `<engine> exec -i --user postgres` (stdin passed through, never an argument), or, from the
 * scheduler container (no CLI there, the Engine API socket mounted), through the Docker Engine
 * API's exec endpoints (dockerode): same user, same stdin.
 */
class ContainerDbHost implements DbHost {
  readonly kind = 'container' as const;
  readonly label: string;
  constructor(
    private readonly container: RecordedContainer,
    readonly paths: ClusterPaths,
  ) {
    this.label = `compose container ${container.name} (${container.engine})`;
  }

  run(argv: string[], o: { input?: string; timeoutMs?: number } = {}): Promise<HostResult> {
    const c = this.container;
    if (c.engine === 'docker-api') return execViaApi(c, argv, o);
    const { bin, args, env } = containerExecArgv({ ...c, engine: c.engine }, argv);
    return runChild(bin, args, { env, input: o.input, timeoutMs: o.timeoutMs });
  }

  dispose(): void {}
}

/** The `database` section of an environment; a missing one is an operator error naming the fix. */
export function databaseConfig(env: Environment): DatabaseConfig {
  if (!env.database)
    throw new UserError(`environment ${env.name} has no database section`, {
      hint: `describe where its PostgreSQL lives under database: in ${path.basename(env.file)} (see environments/dev.yaml)`,
    });
  return env.database;
}

/** The run directory of the local stack the environment's database belongs to (kind local). */
export function localRunDir(values: Record<string, unknown> = {}): string {
  return runDirFrom(values);
}

/**
 * Connects to where the environment's PostgreSQL lives. kind local: the postgres instance of the
 * local stack in runDir (it must be running: `make up`); kind ssh: the database host, host key
 * checked against known_hosts. Errors: UserError naming the next command.
 */
export async function connectDbHost(env: Environment, o: { runDir: string }): Promise<DbHost> {
  const db = databaseConfig(env);
  if (db.kind === 'local') {
    // `make up` in compose mode records the postgres container it started: back that one up.
    const state = readState(o.runDir);
    if (state?.mode === 'docker') {
      if (!state.postgres)
        throw new UserError(
          `the local stack in ${o.runDir} runs in compose, but its PostgreSQL container is not recorded`,
          {
            hint: 'run `make up` again (it records the container), then run this again',
          },
        );
      return new ContainerDbHost(state.postgres, containerPaths(state.postgres));
    }
    const stack = Stack.restore({ runDir: o.runDir, readOnly: true });
    if (!stack.has('postgres') || !stack.pid('postgres'))
      throw new UserError(`the local stack's PostgreSQL is not running (run directory ${o.runDir})`, {
        hint: 'start it with `make up` (it archives WAL into the local repository), then run this again',
      });
    const pg = stack.info<PostgresInfo>('postgres');
    const runAs = process.getuid?.() === 0 ? lookupUser('postgres') : undefined;
    const base = path.join(o.runDir, 'pgbackrest');
    writeLocalSecrets(base, db, env, runAs);
    return new LocalDbHost(
      `local stack (${o.runDir})`,
      {
        dataDir: pg.dataDir,
        port: pg.port,
        socketDir: pg.socketDir,
        binDir: path.dirname(findTool('postgres') ? realBin('postgres') : '/usr/lib/postgresql/15/bin/postgres'),
        pgbackrestConfig: path.join(base, 'pgbackrest.conf'),
        scratchDir: path.join(base, 'restore'),
        lockDir: path.join(base, 'backup.lock'),
        scratchPort: 0,
        superuser: 'postgres',
      },
      runAs,
    );
  }
  if (!db.ssh)
    throw new UserError(`environment ${env.name}: database.kind is ssh but database.ssh is missing`, {
      hint: `add database.ssh (host, user, keyFile, knownHostsFile) to ${path.basename(env.file)}`,
    });
  const ssh = await SshClient.connect(db.ssh, { configKey: 'database.ssh' });
  const h = db.host;
  return new SshDbHost(ssh, h.runAs, {
    dataDir: h.dataDir,
    port: h.port,
    socketDir: h.socketDir,
    binDir: h.binDir,
    pgbackrestConfig: h.pgbackrestConfig,
    scratchDir: h.scratchDir,
    lockDir: h.lockDir,
    scratchPort: h.scratchPort,
    superuser: 'postgres',
  });
}

/**
 * conf.d/secrets.conf of the local stack's pgBackRest (mode 600, owned by postgres) from the
 * environment's variables; on a database host that file is provisioned once (runbook).
 */
export function writeLocalSecrets(base: string, db: DatabaseConfig, env: Environment, runAs?: Identity): void {
  const text = renderSecretsConfig(db, env.vars, env.name);
  if (!text) return;
  const dir = path.join(base, 'conf.d');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, 'secrets.conf');
  writeFileSync(file, text, { mode: 0o600 });
  if (runAs) {
    chownSync(dir, runAs.uid, runAs.gid);
    chownSync(file, runAs.uid, runAs.gid);
  }
}

/** The PostgreSQL binaries' directory behind a PATH symlink (/usr/local/bin/postgres -> …/15/bin/postgres). */
function realBin(name: string): string {
  const found = findTool(name)!;
  const pgBin = '/usr/lib/postgresql/15/bin';
  return existsSync(path.join(pgBin, name)) ? path.join(pgBin, name) : found;
}
