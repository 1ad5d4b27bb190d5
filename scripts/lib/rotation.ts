// Zero-downtime secret rotation: where an environment keeps its secrets (SecretStore), how its
// API replicas are rolled (AppRoller), and the PostgreSQL role whose password rotates. The local
// stack (deploy.kind local) implements them here with the service runner: secret files in the run
// directory, replicas restarted one by one. A Kubernetes deploy (issue 10's deploy script) satisfies
// the same two interfaces with a Secret object and `kubectl rollout restart` + `rollout status`.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { alterRolePasswordSql } from './db-roles.js';
import { UserError } from './errors.js';
import { registerSecret } from './secrets.js';
import { Stack } from './services/index.js';
import { requireTool } from './tools.js';
import type { Exec } from './exec.js';
import type { PostgresInfo } from './services/index.js';

/** Where an environment's secret values live. Values pass through memory only, never argv or logs. */
export interface SecretStore {
  readonly description: string;
  read(name: string): Promise<string | undefined>;
  /** Sets (string) or removes (null) several values at once. */
  write(changes: Record<string, string | null>): Promise<void>;
}

/** Restarts the API replicas one at a time, each ready before the next: no moment without capacity. */
export interface AppRoller {
  readonly description: string;
  replicas(): string[];
  roll(progress: (detail: string) => void): Promise<void>;
  /** Base URLs of the replicas, to verify each one after the roll. */
  replicaUrls(): string[];
}

/** The PostgreSQL side of a password rotation. */
export interface PostgresRole {
  readonly role: string;
  setPassword(password: string): Promise<void>;
  /** true when a new connection with this password succeeds. */
  canLogin(password: string): Promise<boolean>;
}

export interface RotationTarget {
  store: SecretStore;
  roller: AppRoller;
  /** The local stack's role; absent on Kubernetes (rotate-secret goes to the database host, scripts/lib/db-roles.ts). */
  postgres?: PostgresRole;
}

// ---- the local stack ---------------------------------------------------------------------------

/** Secret name → file in the run directory (the files the service specs read at start). */
const LOCAL_FILES = new Map<string, string>([
  ['JWT_SECRET', 'api-jwt-secret'],
  ['JWT_SECRET_PREVIOUS', 'api-jwt-secret-previous'],
  ['POSTGRES_APP_PASSWORD', path.join('postgres', 'password')],
]);

export class LocalSecretStore implements SecretStore {
  constructor(readonly runDir: string) {}
  get description(): string {
    return `secret files in ${this.runDir}`;
  }
  private file(name: string): string {
    const rel = LOCAL_FILES.get(name);
    if (!rel) throw new Error(`the local stack keeps no secret named ${name}`);
    return path.join(this.runDir, rel);
  }
  async read(name: string): Promise<string | undefined> {
    const f = this.file(name);
    const v = existsSync(f) ? readFileSync(f, 'utf8').trim() : '';
    registerSecret(v);
    return v || undefined;
  }
  async write(changes: Record<string, string | null>): Promise<void> {
    for (const [name, value] of Object.entries(changes)) {
      const f = this.file(name);
      if (value === null) rmSync(f, { force: true });
      else {
        registerSecret(value);
        writeFileSync(f, value, { mode: 0o600 });
      }
    }
  }
}

/**
 * Restarts the local stack's API replicas one by one without a failed request: each replica is
 * first drained out of every Nginx of the stack that proxies to it (`server … down` and a reload:
 * once the old workers have exited no request can reach it), then stopped (SIGTERM, graceful drain),
 * started, checked ready, and put back with another reload before the next one. A reload also gives
 * Nginx fresh upstream failure state, so no replica stays marked unavailable (max_fails/fail_timeout
 * are per worker process). Without an Nginx in the stack the replicas are simply restarted in turn.
 */
export class LocalStackRoller implements AppRoller {
  constructor(readonly runDir: string) {}
  get description(): string {
    return `API replicas of the local stack in ${this.runDir}, drained from Nginx and restarted one by one`;
  }
  private stack(): Stack {
    return Stack.restore({ runDir: this.runDir });
  }
  replicas(): string[] {
    const stack = this.stack();
    return stack
      .status()
      .filter((s) => s.kind === 'api')
      .map((s) => s.name);
  }
  replicaUrls(): string[] {
    const stack = this.stack();
    return this.replicas().map((n) => stack.info<{ url: string }>(n).url);
  }
  async roll(progress: (detail: string) => void): Promise<void> {
    // A fresh view of the run directory: each restarted replica reads the current secret files
    // and its peers' current connection settings.
    const stack = this.stack();
    const running = stack.status().filter((s) => s.state === 'running');
    const proxies = running.filter((s) => s.kind === 'nginx').map((s) => s.name);
    const upstreamsOf = (nginx: string): string[] => (stack.options(nginx).upstreams as string[] | undefined) ?? [];
    const drain = async (address: string, on: boolean): Promise<void> => {
      for (const nginx of proxies) {
        if (!upstreamsOf(nginx).includes(address)) continue;
        const drained = ((stack.options(nginx).drained as string[] | undefined) ?? []).filter((a) => a !== address);
        await stack.reconfigure(nginx, { drained: on ? [...drained, address] : drained });
      }
    };
    for (const name of running.filter((s) => s.kind === 'api').map((s) => s.name)) {
      const address = `${stack.host}:${stack.status().find((s) => s.name === name)!.port}`;
      if (proxies.length > 0) progress(`draining ${name} (${address}) out of ${proxies.join(', ')}`);
      await drain(address, true);
      progress(`restarting ${name}`);
      await stack.stop(name);
      await stack.start(name);
      if (!(await stack.healthy(name)))
        throw new UserError(`${name} is not ready after its restart; it is still drained out of Nginx`, {
          hint: `see ${stack.logFile(name)}`,
        });
      if (proxies.length > 0) progress(`${name} ready; back in ${proxies.join(', ')}`);
      await drain(address, false);
    }
  }
}

/** The local stack's API connects as the cluster's login role; its password is rotated over the socket. */
export class LocalPostgresRole implements PostgresRole {
  constructor(
    readonly info: PostgresInfo,
    readonly exec: Exec,
  ) {}
  get role(): string {
    return this.info.user;
  }
  async setPassword(password: string): Promise<void> {
    registerSecret(password);
    // The statement goes on stdin (not argv), after the settings that keep it out of the server log.
    await this.exec.run(
      requireTool('psql'),
      [
        '-X',
        '-q',
        '-v',
        'ON_ERROR_STOP=1',
        '-h',
        this.info.socketDir,
        '-p',
        String(this.info.port),
        '-U',
        this.info.user,
        '-d',
        'postgres',
      ],
      { input: alterRolePasswordSql(this.role, password) },
    );
  }
  async canLogin(password: string): Promise<boolean> {
    const r = await this.exec.run(
      requireTool('psql'),
      [
        '-X',
        '-tAc',
        'SELECT 1',
        '-h',
        this.info.host,
        '-p',
        String(this.info.port),
        '-U',
        this.info.user,
        '-d',
        this.info.database,
      ],
      { env: { PGPASSWORD: password, PGCONNECT_TIMEOUT: '5' }, readOnly: true, nothrow: true },
    );
    return r.exitCode === 0 && r.stdout.trim() === '1';
  }
}

export function localRotationTarget(runDir: string, exec: Exec): RotationTarget {
  const stack = Stack.restore({ runDir, readOnly: true });
  const pg = stack.status().find((s) => s.kind === 'postgres');
  if (!pg || pg.state !== 'running') {
    throw new UserError(`no running local stack in ${runDir} (PostgreSQL is not running there)`, {
      hint: 'start it with `make up` (or pass --run-dir to the stack to rotate)',
    });
  }
  return {
    store: new LocalSecretStore(runDir),
    roller: new LocalStackRoller(runDir),
    postgres: new LocalPostgresRole(stack.info<PostgresInfo>(pg.name), exec),
  };
}

// ---- the record --------------------------------------------------------------------------------

export interface RotationRecord {
  secret: string;
  environment: string;
  /** 'rotated' (phase 1 of JWT: previous still accepted), 'finished' (previous dropped), 'failed', 'rolled-back'. */
  outcome: string;
  at: string;
  by: string;
  detail: string;
}

/** Appends one JSON line (names and times only, never a value). */
export function appendRotationRecord(file: string, record: RotationRecord): void {
  mkdirSync(path.dirname(file), { recursive: true });
  appendFileSync(file, JSON.stringify(record) + '\n');
}

export function readRotationRecords(file: string): RotationRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RotationRecord);
}
