// make dr-drill ENV=… — a measured disaster-recovery drill that never touches the live cluster or
// its repository. On the environment's database host:
//   1. a drill primary: the environment's latest backup restored into a new instance (so the
//      drill also proves the real repository restores), archiving into its own drill repository;
//   2. marker rows written continuously; a full backup of the drill primary; more markers;
//   3. loss of the primary: killed (immediate stop) while writing, its data directory destroyed;
//   4. restore to latest from the drill repository into a new instance (archive_mode=off);
//   5. the API started against it with an empty Redis (kind local), waiting for readiness, and a
//      request proving the cache refills (Redis holds only cache: nothing to restore there);
//   6. RPO = last marker acknowledged before the loss - last marker recovered;
//      RTO = loss -> API ready (database ready when the API cannot run here).
// Report: markdown table + JSON (<run dir>/drills/), metrics to the textfile and Pushgateway.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  drDrillMetrics,
  formatAge,
  hostSql,
  metricsTextfile,
  publishMetrics,
  pushgatewayUrl,
  renderMetrics,
  restoreIntoScratchInstance,
  scratchPort,
  stopScratch,
  type ScratchInstance,
} from './lib/backup.js';
import { appBuildReason, buildApp } from './lib/app-build.js';
import { intOption } from './lib/cli.js';
import { connectDbHost, databaseConfig, localRunDir, must, writeHostFile, type DbHost } from './lib/db-host.js';
import { loadEnvironment, type DatabaseConfig } from './lib/environments.js';
import { UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import { parseInfo, renderPgbackrestConfig, stanzaInfo } from './lib/pgbackrest.js';
import { apiService } from './lib/services/api.js';
import { Stack, type ServiceSpec } from './lib/services/index.js';
import { runOnce } from './lib/services/process.js';
import { requireTool } from './lib/tools.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Marker {
  id: number;
  at: number;
}

await runScript(
  {
    summary: 'Disaster-recovery drill: markers, backup, loss of the primary, restore, API up; RPO/RTO measured.',
    usage: 'make dr-drill ENV=… [ARGS="--write-seconds=20 --keep --no-api"] [JSON=1]',
    options: {
      'write-seconds': { type: 'string' },
      keep: { type: 'boolean' },
      'no-api': { type: 'boolean' },
      'run-dir': { type: 'string' },
      'report-dir': { type: 'string' },
    },
    optionsHelp: [
      'Options:',
      '  --write-seconds=S  markers written after the backup, before the loss (default 20)',
      '  --keep             keep the drill’s instances and directories for inspection',
      '  --no-api           measure RTO to the database being ready, without starting the API',
      '  --report-dir DIR   where the report goes (default <run dir>/drills)',
    ].join('\n'),
  },
  async (ctx) => {
    const { out, flags, values, exec } = ctx;
    const env = loadEnvironment(flags.env);
    const db = databaseConfig(env);
    const runDir = localRunDir(values);
    const writeSeconds = intOption(values['write-seconds'], 'write-seconds', { default: 20, min: 1, max: 3600 });
    const reportDir = path.resolve((values['report-dir'] as string | undefined) ?? path.join(runDir, 'drills'));

    const host = await connectDbHost(env, { runDir });
    // The API is started here against the drill copy only where that copy is reachable from here:
    // the native stack's instance (not a database host, not inside the compose container).
    const withApi = !values['no-api'] && host.kind === 'local';
    const stack = new Stack();
    const cleanup: (() => Promise<void>)[] = [];
    try {
      const info = await stanzaInfo(host, db.stanza);
      const latest = info.backups.filter((b) => !b.error).at(-1);
      if (!latest)
        throw new UserError(`the ${env.name} repository has no backup to start the drill from`, {
          hint: `take one first: make backup ENV=${env.name} TYPE=full`,
        });
      const id = `drill-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}`;
      const dir = path.join(host.paths.scratchDir, id);
      out.table(
        [
          { step: '1', what: `drill primary: ${env.name}'s latest backup (${latest.label}) restored under ${dir}` },
          { step: '2', what: `markers every 250 ms; full backup to a drill repository; ${writeSeconds}s more markers` },
          { step: '3', what: 'loss: the drill primary is killed and its data directory destroyed' },
          { step: '4', what: 'restore to latest into a new instance (archive_mode=off)' },
          {
            step: '5',
            what: withApi
              ? 'API started on it with an empty Redis; ready; cache refills'
              : 'database ready (no API here)',
          },
        ],
        ['step', 'what'],
      );
      out.line(`the live cluster and the ${env.name} repository are only read`);
      if (flags.dryRun) {
        out.line('dry run: nothing was changed');
        return;
      }
      if (withApi && appBuildReason()) await out.task('build the app (tsc)', () => buildApp(exec));

      // --- 1. drill primary, archiving into its own repository
      const primaryPort = await scratchPort(host);
      const drill = await prepareDrillRepository(host, db, dir, {
        dataDir: path.join(dir, 'primary', 'data'),
        port: primaryPort,
        socketDir: path.join(dir, 'primary'),
      });
      const primary = await out.task('drill primary from the latest backup', (update) =>
        restoreIntoScratchInstance(host, db, { kind: 'latest' }, latest, {
          id: `${id}/primary`,
          port: primaryPort,
          onProgress: update,
          settings: [
            'archive_mode=on',
            `archive_command='pgbackrest --config=${drill.config} --config-include-path=${drill.confD} --stanza=drill archive-push %p'`,
            'archive_timeout=60s',
          ],
        }),
      );
      cleanup.push(() => stopScratch(host, primary, { remove: true }));
      const pg = { port: primary.port, socketDir: primary.socketDir, database: db.name };
      await must(host, [...drill.pgbackrest, 'stanza-create'], 'pgbackrest stanza-create (drill repository)');
      await hostSql(
        host,
        'CREATE TABLE IF NOT EXISTS mytv_drill_marker (id bigserial PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT clock_timestamp())',
        pg,
      );

      // --- 2. markers, backup, markers
      let lastAck: Marker | undefined;
      let writing = true;
      let written = 0;
      const writer = (async () => {
        while (writing) {
          const rows = await hostSql(
            host,
            'INSERT INTO mytv_drill_marker DEFAULT VALUES RETURNING id, extract(epoch FROM written_at)',
            pg,
          ).catch(() => undefined);
          if (rows && writing) {
            lastAck = { id: Number(rows[0][0]), at: Number(rows[0][1]) };
            written++;
          }
          await sleep(250);
        }
      })();
      try {
        await out.task('full backup of the drill primary', () =>
          must(host, [...drill.pgbackrest, '--type=full', 'backup'], 'pgbackrest backup (drill)'),
        );
        await out.task(`write markers for ${writeSeconds}s`, async (update) => {
          const until = Date.now() + writeSeconds * 1000;
          while (Date.now() < until) {
            await sleep(1000);
            update(`${written} markers, last #${lastAck?.id ?? '-'}`);
          }
        });

        // --- 3. loss of the primary, while the writer is still writing
        out.step('loss of the primary: immediate stop, data directory destroyed');
        const before = lastAck;
        await host.run([
          path.join(host.paths.binDir, 'pg_ctl'),
          '-D',
          primary.dataDir,
          '-m',
          'immediate',
          '-w',
          'stop',
        ]);
        const lossAt = Date.now();
        writing = false;
        await writer;
        // The last marker the database acknowledged before it died (an ack in flight at the kill may be later).
        const lastWritten = lastAck ?? before;
        await must(host, ['rm', '-rf', primary.dataDir], 'destroying the drill primary');
        if (!lastWritten) throw new UserError('no marker was acknowledged before the loss: nothing to measure');

        // --- 4. restore to latest from the drill repository
        const drillInfo = parseInfo(
          await must(host, [...drill.pgbackrest, '--output=json', 'info'], 'pgbackrest info (drill)'),
          'drill',
        );
        const restored = await out.task('restore the drill primary to latest (new instance)', (update) =>
          restoreIntoScratchInstance(host, db, { kind: 'latest' }, drillInfo.backups.at(-1) ?? latest, {
            id: `${id}/restored`,
            onProgress: update,
            from: { config: drill.config, stanza: 'drill' },
          }),
        );
        cleanup.push(() => stopScratch(host, restored, { remove: true }));
        const dbReadyAt = Date.now();
        const [rec] = await hostSql(
          host,
          'SELECT coalesce(max(id), 0), coalesce(extract(epoch FROM max(written_at)), 0), count(*) FROM mytv_drill_marker',
          { port: restored.port, socketDir: restored.socketDir, database: db.name },
        );
        const recovered: Marker = { id: Number(rec[0]), at: Number(rec[1]) };

        // --- 5. the API on the restored database, with an empty Redis
        let apiReadyAt: number | undefined;
        let cacheRefilled: boolean | undefined;
        if (withApi) {
          const api = await out.task('start the API on the restored database (empty Redis)', () =>
            startApiOn(stack, restored, db, runDir),
          );
          apiReadyAt = Date.now();
          cacheRefilled = await cacheRefills(api.url, api.redisPort);
        }

        // --- 6. measure and report
        const rpoSeconds = Math.max(0, lastWritten.at - recovered.at);
        const rtoSeconds = ((apiReadyAt ?? dbReadyAt) - lossAt) / 1000;
        const report = {
          environment: env.name,
          drill: id,
          startedFrom: latest.label,
          markers: {
            written,
            lastWrittenId: lastWritten.id,
            lastRecoveredId: recovered.id,
            lost: lastWritten.id - recovered.id,
          },
          rpoSeconds: Number(rpoSeconds.toFixed(3)),
          rtoSeconds: Number(rtoSeconds.toFixed(3)),
          rtoUntil: withApi ? 'API ready' : 'database ready',
          databaseReadySeconds: Number(((dbReadyAt - lossAt) / 1000).toFixed(3)),
          cacheRefilledFromEmptyRedis: cacheRefilled ?? null,
          slo: { rpoSeconds: env.slo.rpoMinutes * 60, rtoSeconds: env.slo.rtoMinutes * 60 },
          met: rpoSeconds <= env.slo.rpoMinutes * 60 && rtoSeconds <= env.slo.rtoMinutes * 60,
          at: new Date().toISOString(),
        };
        const files = writeReport(reportDir, id, report);
        const published = await publishMetrics(
          renderMetrics(
            drDrillMetrics({
              rpoSeconds: report.rpoSeconds,
              rtoSeconds: report.rtoSeconds,
              markersLost: report.markers.lost,
              met: report.met,
            }),
            { environment: env.name },
          ),
          {
            job: 'dr_drill',
            environment: env.name,
            pushgatewayUrl: pushgatewayUrl(db, env.vars),
            textfile: { host, file: metricsTextfile(db, host, runDir, 'dr-drill') },
          },
        );
        if (published.pushError) out.warn(`Pushgateway push failed: ${published.pushError}`);
        if (flags.json) out.data({ ...report, report: files });
        else out.line(markdown(report));
        out.ok(
          `drill done: RPO ${report.rpoSeconds}s, RTO ${report.rtoSeconds}s (${report.met ? 'within' : 'OUTSIDE'} the SLO); report ${files.markdown}`,
        );
      } finally {
        writing = false;
        await writer;
      }
      if (!values.keep)
        cleanup.push(() => must(host, ['rm', '-rf', dir], 'removing the drill directory').then(() => undefined));
    } finally {
      await stack.stopAll().catch(() => undefined);
      if (!values.keep) for (const c of cleanup.reverse()) await c().catch(() => undefined);
      host.dispose();
    }
  },
);

/**
 * The drill's own pgBackRest config and POSIX repository under the drill directory (no secrets,
 * its own conf.d so the host's repository secrets are never merged in); pg1 = the drill primary.
 */
async function prepareDrillRepository(
  host: DbHost,
  db: DatabaseConfig,
  dir: string,
  primary: { dataDir: string; port: number; socketDir: string },
): Promise<{ config: string; confD: string; pgbackrest: string[] }> {
  const base = path.join(dir, 'pgbackrest');
  const config = path.join(base, 'pgbackrest.conf');
  const confD = path.join(base, 'conf.d');
  for (const d of [
    confD,
    path.join(base, 'spool'),
    path.join(base, 'log'),
    path.join(base, 'lock'),
    path.join(dir, 'repo'),
  ])
    await must(host, ['mkdir', '-p', '-m', '700', d], `creating ${d}`);
  const drillDb: DatabaseConfig = {
    ...db,
    stanza: 'drill',
    repository: { type: 'posix', path: path.join(dir, 'repo'), cipher: 'none' },
  };
  // pg1-user: the cluster's superuser (the compose image has no `postgres` role).
  const cluster = { ...primary, user: host.paths.superuser };
  await writeHostFile(host, config, renderPgbackrestConfig(drillDb, { cluster, base }));
  return {
    config,
    confD,
    pgbackrest: ['pgbackrest', `--config=${config}`, `--config-include-path=${confD}`, '--stanza=drill'],
  };
}

async function startApiOn(
  stack: Stack,
  restored: ScratchInstance,
  db: DatabaseConfig,
  runDir: string,
): Promise<{ url: string; redisPort: number }> {
  const redis = (await stack.start('redis')) as { url: string; port: number };
  const source = Stack.restore({ runDir, readOnly: true }).info<{ user: string; password: string }>('postgres');
  const pgInfo = {
    host: '127.0.0.1',
    port: restored.port,
    url: `postgres://${source.user}:${encodeURIComponent(source.password)}@127.0.0.1:${restored.port}/${db.name}`,
  };
  const spec: ServiceSpec = {
    ...apiService,
    command: (c) => apiService.command({ ...c, peers: { ...c.peers, postgres: pgInfo } }),
  };
  const api = (await stack.start('api', { spec, options: { nodeEnv: 'production' } })) as { url: string };
  return { url: api.url, redisPort: redis.port };
}

/** Redis starts empty; two reads of the channel list must leave cache keys behind. */
async function cacheRefills(apiUrl: string, redisPort: number): Promise<boolean> {
  const keys = async (): Promise<number> =>
    Number(
      (await runOnce(requireTool('redis-cli'), ['-h', '127.0.0.1', '-p', String(redisPort), 'DBSIZE'])).stdout.trim(),
    );
  const empty = (await keys()) === 0;
  for (let i = 0; i < 2; i++) await fetch(`${apiUrl}/v2/channels`).then((r) => r.text());
  return empty && (await keys()) > 0;
}

interface Report {
  environment: string;
  drill: string;
  startedFrom: string;
  markers: { written: number; lastWrittenId: number; lastRecoveredId: number; lost: number };
  rpoSeconds: number;
  rtoSeconds: number;
  rtoUntil: string;
  databaseReadySeconds: number;
  cacheRefilledFromEmptyRedis: boolean | null;
  slo: { rpoSeconds: number; rtoSeconds: number };
  met: boolean;
  at: string;
}

function markdown(r: Report): string {
  return [
    `# DR drill ${r.drill} (${r.environment})`,
    '',
    '| measure | value | target |',
    '|---|---|---|',
    `| RPO (last marker written → last recovered) | ${r.rpoSeconds} s | ≤ ${r.slo.rpoSeconds} s |`,
    `| RTO (loss → ${r.rtoUntil}) | ${r.rtoSeconds} s (${formatAge(r.rtoSeconds)}) | ≤ ${r.slo.rtoSeconds} s |`,
    `| database ready after the loss | ${r.databaseReadySeconds} s | |`,
    `| markers written / last written / last recovered / lost | ${r.markers.written} / #${r.markers.lastWrittenId} / #${r.markers.lastRecoveredId} / ${r.markers.lost} | |`,
    `| API on an empty Redis refilled the cache | ${r.cacheRefilledFromEmptyRedis === null ? 'not run' : r.cacheRefilledFromEmptyRedis ? 'yes' : 'NO'} | yes |`,
    `| started from backup | ${r.startedFrom} | |`,
    `| result | ${r.met ? 'within the SLO' : 'OUTSIDE the SLO'} | |`,
    '',
  ].join('\n');
}

function writeReport(dir: string, id: string, r: Report): { markdown: string; json: string } {
  mkdirSync(dir, { recursive: true });
  const files = { markdown: path.join(dir, `${id}.md`), json: path.join(dir, `${id}.json`) };
  writeFileSync(files.markdown, markdown(r));
  writeFileSync(files.json, JSON.stringify(r, null, 2) + '\n');
  return files;
}
