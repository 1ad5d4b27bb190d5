// A database "environment" for the backup tests: a real PostgreSQL 15 started by the service
// runner, archiving with pgBackRest into a POSIX or S3 repository, described by an environment
// file in a temporary directory (MYTV_ENVIRONMENTS_DIR) exactly as environments/*.yaml describe one.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { databaseConfig } from '../../scripts/lib/db-host.js';
import { environmentSchema, type DatabaseConfig } from '../../scripts/lib/environments.js';
import { renderSecretsConfig } from '../../scripts/lib/pgbackrest.js';
import type { PostgresInfo, Stack } from '../../scripts/lib/services/index.js';
import { runOnce } from '../../scripts/lib/services/process.js';
import { requireTool } from '../../scripts/lib/tools.js';
import { runEntryScript, type ScriptResult } from '../support/run-script.js';

export const SLO = {
  availabilityPercent: 99.9,
  latencyP95Ms: 500,
  errorRatePercent: 0.1,
  rtoMinutes: 60,
  rpoMinutes: 15,
};

/** Writes <envDir>/<name>.yaml with the given database section; returns the parsed section. */
export function writeDbEnvironment(envDir: string, name: string, database: Record<string, unknown>): DatabaseConfig {
  mkdirSync(envDir, { recursive: true });
  const doc = {
    name,
    description: `backup test ${name}`,
    production: false,
    api: { publicUrl: 'http://127.0.0.1:3000', port: 3000, replicas: 1 },
    database,
    slo: SLO,
  };
  writeFileSync(path.join(envDir, `${name}.yaml`), stringify(doc));
  return databaseConfig({ ...environmentSchema.parse(doc), file: '', vars: {}, requireVar: () => '' });
}

/** Secrets file of a local repository (conf.d/secrets.conf, mode 600, owned by postgres). */
export async function writeLocalSecrets(
  runDir: string,
  db: DatabaseConfig,
  vars: Record<string, string>,
): Promise<void> {
  const text = renderSecretsConfig(db, vars, 'test');
  if (!text) return;
  const dir = path.join(runDir, 'pgbackrest', 'conf.d');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'secrets.conf'), text, { mode: 0o600 });
  if (process.getuid?.() === 0) await runOnce('chown', ['-R', 'postgres:postgres', path.join(runDir, 'pgbackrest')]);
}

export async function startArchivingPostgres(
  stack: Stack,
  db: DatabaseConfig,
  name = 'postgres',
): Promise<PostgresInfo> {
  return (await stack.start(name, { kind: 'postgres', options: { pgbackrest: { database: db } } })) as PostgresInfo;
}

/** psql as the superuser over TCP (password from the environment, never argv). */
export async function sql(pg: PostgresInfo, query: string, database = pg.database): Promise<string> {
  const r = await runOnce(
    requireTool('psql'),
    [
      '-X',
      '-q',
      '-tA',
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      pg.host,
      '-p',
      String(pg.port),
      '-U',
      pg.user,
      '-d',
      database,
      '-c',
      query,
    ],
    { env: { PGPASSWORD: pg.password } },
  );
  return r.stdout.trim();
}

export function runner(common: Record<string, string>) {
  return (
    script: string,
    args: string[],
    extra: Record<string, string> = {},
    timeoutMs = 900_000,
  ): Promise<ScriptResult> => runEntryScript(`scripts/${script}.ts`, args, { env: { ...common, ...extra }, timeoutMs });
}

/** Makes the current WAL segment complete (pg_switch_wal) and waits until the archiver has pushed it. */
export async function waitArchived(pg: PostgresInfo): Promise<void> {
  const before = await sql(pg, `SELECT pg_walfile_name(pg_current_wal_lsn())`);
  await sql(pg, 'SELECT pg_switch_wal()');
  for (;;) {
    const last = await sql(pg, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver");
    if (last.slice(0, 24) >= before) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}
