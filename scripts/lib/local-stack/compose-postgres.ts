// The compose stack's PostgreSQL (postgres/Dockerfile, service `postgres` of compose/compose.yaml):
// where things are inside its container, the pgBackRest configuration `make up` renders for it
// (mounted read-only at /etc/mytv/pgbackrest; postgres/entrypoint.sh copies it to /run/pgbackrest),
// and how the backup scripts run a command in it (database kind local + a compose stack: see
// connectDbHost in db-host.ts).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
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

/** The postgres container `make up` started, as recorded in the run directory's state.json. */
export interface RecordedContainer {
  engine: EngineName;
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
  c: RecordedContainer,
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
