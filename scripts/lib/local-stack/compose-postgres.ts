// The compose stack's PostgreSQL (postgres/Dockerfile, service `postgres` of compose/compose.yaml):
// where things are inside its container, the pgBackRest configuration `make up` renders for it
// (mounted read-only at /etc/mytv/pgbackrest; postgres/entrypoint.sh copies it to /run/pgbackrest),
// and how the backup scripts run a command in it (database kind local + a compose stack: see
// connectDbHost in db-host.ts).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough, type Duplex } from 'node:stream';
import Modem from 'docker-modem';
import type { ClusterPaths } from '../db-host.js';
import { podmanConf, type EngineName } from '../container-engine.js';
import type { DatabaseConfig } from '../environments.js';
import { renderPgbackrestConfig, renderSecretsConfig } from '../pgbackrest.js';

/** The pgBackRest named volume's mount point (repository, spool, logs, locks, scratch restores). */
const PGBACKREST_VOLUME = '/var/lib/pgbackrest';

/**
 * Paths inside the container. The superuser is compose.yaml's POSTGRES_USER (the official image
 * makes no `postgres` role); pgbackrestConfig is PGBACKREST_CONFIG of postgres/Dockerfile.
 */
export const COMPOSE_POSTGRES = {
  /** Where compose.yaml mounts the rendered config (read-only). */
  configMount: '/etc/mytv/pgbackrest',
  paths: {
    dataDir: '/var/lib/postgresql/data',
    port: 5432,
    socketDir: '/var/run/postgresql',
    binDir: '/usr/lib/postgresql/15/bin',
    pgbackrestConfig: '/run/pgbackrest/pgbackrest.conf',
    scratchDir: `${PGBACKREST_VOLUME}/restore`,
    lockDir: `${PGBACKREST_VOLUME}/backup.lock`,
    scratchPort: 5433,
    superuser: 'mytv',
  } satisfies ClusterPaths,
};

/**
 * The postgres container `make up` started, as recorded in the run directory's state.json: reached
 * through an engine's CLI (docker, podman), or through the Docker Engine API on a unix socket
 * (`docker-api`: the scheduler container, which has the socket mounted and no CLI).
 */
export interface RecordedContainer {
  engine: EngineName | 'docker-api';
  /** docker-api: the Engine API's unix socket (/var/run/docker.sock, or podman system service's). */
  socket?: string;
  /** Container name (stable across re-creation by compose, unlike its id). */
  name: string;
  /** PostgreSQL's port inside the container (5432 unless PGPORT says otherwise). */
  port?: number;
}

/** ClusterPaths of a recorded container. */
export function containerPaths(c: RecordedContainer): ClusterPaths {
  return { ...COMPOSE_POSTGRES.paths, port: c.port ?? COMPOSE_POSTGRES.paths.port };
}

/**
 * `<engine> exec -i --user postgres NAME argv…`: the program, its arguments and the environment the
 * engine CLI needs (CONTAINERS_CONF for podman, scripts/lib/container-engine.ts).
 */
export function containerExecArgv(
  c: RecordedContainer & { engine: EngineName },
  argv: string[],
): { bin: string; args: string[]; env: Record<string, string> } {
  return {
    bin: c.engine,
    args: ['exec', '-i', '--user', 'postgres', c.name, ...argv],
    env: c.engine === 'podman' ? { CONTAINERS_CONF: podmanConf } : {},
  };
}

export interface RenderedPgbackrest {
  /** pgbackrest.conf (no secret). */
  config: string;
  /** conf.d/secrets.conf (repository key, cipher passphrase), when the repository needs one. */
  secrets?: string;
}

/**
 * pgBackRest's configuration for the compose container, from the environment's `database` block:
 * the same renderer as the native stack and the database hosts (scripts/lib/pgbackrest.ts); a
 * POSIX repository lives on the pgBackRest volume (`repo/`), whatever path the environment gives
 * for the native stack. Errors: UserError naming a missing secret variable.
 */
export function renderComposePgbackrest(
  db: DatabaseConfig,
  vars: Record<string, string | undefined>,
  envName: string,
  o: { port?: number } = {},
): RenderedPgbackrest {
  const p = COMPOSE_POSTGRES.paths;
  const onVolume: DatabaseConfig =
    db.repository.type === 'posix'
      ? { ...db, repository: { ...db.repository, path: `${PGBACKREST_VOLUME}/repo` } }
      : db;
  return {
    config: renderPgbackrestConfig(onVolume, {
      cluster: { dataDir: p.dataDir, port: o.port ?? p.port, socketDir: p.socketDir, user: p.superuser },
      base: PGBACKREST_VOLUME,
    }),
    secrets: renderSecretsConfig(db, vars, envName),
  };
}

/**
 * Writes dir/pgbackrest.conf (0644) and dir/conf.d/secrets.conf (0600, directory 0700); a stale
 * secrets.conf is removed when the repository needs none.
 */
export function writeComposePgbackrest(dir: string, r: RenderedPgbackrest): void {
  const confD = path.join(dir, 'conf.d');
  mkdirSync(confD, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(dir, 'pgbackrest.conf'), r.config, { mode: 0o644 });
  const secrets = path.join(confD, 'secrets.conf');
  if (r.secrets) writeFileSync(secrets, r.secrets, { mode: 0o600 });
  else rmSync(secrets, { force: true });
}

/**
 * Runs argv in the container as postgres through the Docker Engine API (POST /containers/{id}/exec,
 * then /exec/{id}/start hijacked: stdin written and half-closed, stdout/stderr demultiplexed, the
 * exit code from /exec/{id}/json). Works against Docker and podman's `system service`. Never
 * rejects for a non-zero exit; an unreachable socket or unknown container gives code 125 with the
 * reason on stderr (as `docker exec` does).
 */
export async function execViaApi(
  c: RecordedContainer,
  argv: string[],
  o: { input?: string; timeoutMs?: number } = {},
): Promise<{ stdout: string; stderr: string; code: number }> {
  const modem = new Modem({ socketPath: c.socket ?? '/var/run/docker.sock' });
  let stdout = '';
  let stderr = '';
  try {
    // Engine API: ExecConfig (https://docs.docker.com/reference/api/engine/version/v1.43/#tag/Exec).
    const created = await dial<{ Id: string }>(modem, {
      path: `/containers/${encodeURIComponent(c.name)}/exec`,
      method: 'POST',
      options: { Cmd: argv, User: 'postgres', AttachStdin: true, AttachStdout: true, AttachStderr: true },
      statusCodes: {
        200: true,
        201: true,
        404: 'no such container',
        409: 'container stopped/paused',
        500: 'server error',
      },
    });
    const stream = await dial<Duplex>(modem, {
      path: `/exec/${created.Id}/start`,
      method: 'POST',
      options: { Detach: false, Tty: false },
      isStream: true,
      allowEmpty: true,
      hijack: true,
      openStdin: true,
      statusCodes: {
        200: true,
        204: true,
        404: 'no such exec',
        409: 'container stopped/paused',
        500: 'container not running',
      },
    });
    const out = new PassThrough();
    const err = new PassThrough();
    out.on('data', (d: Buffer) => (stdout += d.toString()));
    err.on('data', (d: Buffer) => (stderr += d.toString()));
    modem.demuxStream(stream, out, err);
    const ended = new Promise<boolean>((resolve) => {
      const timer = o.timeoutMs ? setTimeout(() => resolve(false), o.timeoutMs) : undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        resolve(true);
      };
      stream.on('end', done);
      stream.on('close', done);
      stream.on('error', done);
    });
    stream.end(o.input ?? '');
    if (!(await ended)) {
      stream.destroy();
      return { stdout, stderr: `${stderr}timed out after ${o.timeoutMs} ms`, code: 124 };
    }
    const info = await dial<{ ExitCode?: number }>(modem, {
      path: `/exec/${created.Id}/json`,
      method: 'GET',
      statusCodes: { 200: true, 404: 'no such exec', 500: 'server error' },
    });
    return { stdout, stderr, code: info.ExitCode ?? 1 };
  } catch (e) {
    return { stdout, stderr: `${stderr}${(e as Error).message}`, code: 125 };
  }
}

/** docker-modem's callback dial as a promise (the calls dockerode makes, without its BuildKit/gRPC dependencies). */
function dial<T>(modem: Modem, opts: Modem.DialOptions): Promise<T> {
  return new Promise<T>((resolve, reject) => modem.dial(opts, (err, data) => (err ? reject(err) : resolve(data as T))));
}

/**
 * A compose service's running container, found through the Engine API by the labels compose sets on
 * it (com.docker.compose.project / .service): its name, and PostgreSQL's port when the container's
 * environment sets PGPORT (only that variable is read). undefined when none runs.
 */
export async function findComposeContainer(
  socket: string,
  project: string,
  service: string,
): Promise<RecordedContainer | undefined> {
  const modem = new Modem({ socketPath: socket });
  const found = await dial<{ Names: string[] }[]>(modem, {
    path: '/containers/json?',
    method: 'GET',
    options: {
      filters: {
        label: [`com.docker.compose.project=${project}`, `com.docker.compose.service=${service}`],
        status: ['running'],
      },
    },
    statusCodes: { 200: true, 400: 'bad parameter', 500: 'server error' },
  });
  const name = found[0]?.Names[0]?.replace(/^\//, '');
  if (!name) return undefined;
  const inspected = await dial<{ Config?: { Env?: string[] } }>(modem, {
    path: `/containers/${encodeURIComponent(name)}/json?`,
    method: 'GET',
    options: {},
    statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
  });
  const env = inspected.Config?.Env ?? [];
  const pgport = env.find((e) => e.startsWith('PGPORT='))?.slice('PGPORT='.length);
  return { engine: 'docker-api', socket, name, ...(pgport ? { port: Number(pgport) } : {}) };
}
