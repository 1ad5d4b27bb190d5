// make down: stops everything `make up` started — the processes its PID files track (native
// mode) or the compose project (docker mode) — and with --volumes deletes the stack's data, after
// confirmation unless --yes. A PID file whose process is gone (a crash) is cleaned, and a PID that
// now belongs to an unrelated process is never signalled (PID files record the start time).
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Compose, composeCommand, engineStatus } from './lib/docker.js';
import { UserError } from './lib/errors.js';
import { readState, runDirFrom } from './lib/local-stack/state.js';
import { runScript } from './lib/main.js';
import { runningScratchInstances, stopScratchInstance } from './lib/local-stack/scratch.js';
import { isPortFree, readManifest, Stack } from './lib/services/index.js';

/** What --volumes deletes, as the plan says it. */
const DATA_DELETED = 'databases, backups and dumps (pgbackrest/, backups/), metrics, logs';

await runScript(
  {
    summary: 'Stop the local stack (tracked processes or compose); --volumes also deletes its data.',
    usage: 'make down [SERVICE=api[,redis…]] [VOLUMES=1] [YES=1]',
    options: { volumes: { type: 'boolean' }, service: { type: 'string' }, 'run-dir': { type: 'string' } },
    optionsHelp: [
      '      --service=S    stop only these services (names like api-2, or kinds: api = every replica); make up starts them again',
      '      --volumes      also delete the data (databases, backups and dumps, metrics, logs) — asks first unless --yes',
      '      --run-dir DIR  run directory of the native stack (default .run/, or MYTV_RUN_DIR)',
    ].join('\n'),
  },
  async ({ values, flags, out, exec, confirm }) => {
    const runDir = runDirFrom(values);
    const volumes = Boolean(values.volumes);
    const state = readState(runDir);
    const only = ((values.service as string | undefined) ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (only.length > 0 && volumes)
      throw new UserError('--volumes deletes the whole stack’s data: it cannot be combined with --service', {
        hint: 'make down SERVICE=… (data kept), or make down VOLUMES=1 for everything',
      });

    if (state?.mode === 'docker') {
      const engine = await engineStatus();
      if (!engine.available) {
        throw new UserError(
          `the stack was started with Docker compose, but no Docker engine answers (${engine.detail})`,
          {
            hint: 'start the Docker engine, then make down again',
          },
        );
      }
      if (volumes) await confirm('Delete the compose volumes (database, backups, metrics) of the local stack?');
      const compose = new Compose(exec, await composeCommand(), state.profile);
      if (only.length > 0) {
        await out.task(`docker compose stop ${only.join(' ')}`, () => compose.run(['stop', ...only]));
        out.ok(`stopped ${only.join(', ')} (make up starts them again)`);
        return;
      }
      await out.task('docker compose down', () => compose.run(['down', ...(volumes ? ['--volumes'] : [])]));
      await exec.change(`remove ${path.join(runDir, 'state.json')}`, () =>
        rmSync(path.join(runDir, 'state.json'), { force: true }),
      );
      out.ok(volumes ? 'stopped; volumes deleted' : 'stopped (data kept; VOLUMES=1 deletes it)');
      return;
    }

    // Native mode (or nothing recorded): whatever the run directory tracks.
    if (!existsSync(runDir) || readManifest(runDir).length === 0) {
      out.ok(`nothing to stop: no local stack in ${runDir}`);
      return;
    }
    const stack = Stack.restore({ runDir, readOnly: flags.dryRun });
    for (const name of stack.staleCleaned) {
      out.warn(
        `${name}: stale PID file (its process is gone, or the PID now belongs to another process) — removed, nothing signalled`,
      );
    }
    const selected = only.length > 0 ? stack.namesMatching(only) : undefined;
    const running = stack
      .status()
      .filter((s) => s.state === 'running' && (selected === undefined || selected.includes(s.name)));
    // make restore's scratch instances and a drill's: started beside the stack, stopped with it
    // (not by make down SERVICE=…).
    const scratch = selected ? [] : runningScratchInstances(runDir);
    out.heading(`Plan (run directory ${runDir}):`);
    if (running.length + scratch.length === 0) out.line('  nothing is running');
    else
      out.table(
        [
          ...running.map((s) => ({ service: s.name, pid: s.pid, port: s.port })),
          ...scratch.map((i) => ({
            service: `scratch PostgreSQL ${path.relative(runDir, i.dataDir)}`,
            pid: i.pid,
            port: i.port,
          })),
        ].map((row) => ({ ...row, action: 'stop' })),
      );
    if (volumes) out.line(`  delete the data: ${runDir} (${DATA_DELETED})`);
    if (flags.dryRun) {
      out.line('dry run: nothing stopped');
      return;
    }
    if (volumes) await confirm(`Delete the local stack's data in ${runDir}, its backups included?`);

    const scratchLeft: string[] = [];
    for (const inst of scratch) {
      const problem = await exec.change(`pg_ctl stop ${inst.dataDir}`, () => stopScratchInstance(inst));
      if (problem) scratchLeft.push(`scratch PostgreSQL ${inst.dataDir} (pid ${inst.pid}: ${problem})`);
    }

    if (running.length > 0) {
      await out.task(`stop ${running.length} services`, async (update) => {
        // Dependency order: Prometheus, exporters, Nginx and the API first, the databases last.
        let stopped = 0;
        await stack.stopSome(
          running.map((s) => s.name),
          (name) => update(`${++stopped}/${running.length} stopped (${name})`),
        );
      });
    }
    const stillListening: string[] = [...scratchLeft];
    for (const s of stack.status()) {
      if (!running.some((r) => r.name === s.name)) continue;
      if (s.state === 'running') stillListening.push(`${s.name} (pid ${s.pid})`);
      else if (!(await isPortFree(s.port))) stillListening.push(`port ${s.port}`);
    }
    if (stillListening.length > 0) {
      throw new UserError(`still running after stop: ${stillListening.join(', ')}`, {
        hint: `see the logs in ${path.join(runDir, 'logs')}`,
      });
    }
    if (volumes) {
      // Only what the stack wrote: its service directories, logs, PID files and records.
      // pgbackrest/ (repository, dumps, scratch instances), backups/ and metrics/ go too: the
      // repository's stanza belongs to the deleted cluster, and a new one could not archive into it.
      const known = [
        'logs',
        'pids',
        'stack.json',
        'state.json',
        'api-jwt-secret',
        'pgbackrest',
        'backups',
        'metrics',
        ...readManifest(runDir).map((m) => m.name),
      ];
      for (const entry of readdirSync(runDir)) {
        if (known.includes(entry)) {
          rmSync(path.join(runDir, entry), { recursive: true, force: true });
        }
      }
    }
    out.ok(
      `stopped ${running.length} service${running.length === 1 ? '' : 's'}` +
        (selected
          ? ` (${running.map((s) => s.name).join(', ') || 'none was running'}; make up starts them again)`
          : '') +
        (scratch.length ? ` and ${scratch.length} scratch PostgreSQL instance(s)` : '') +
        (volumes ? '; data deleted' : selected ? '' : ' (data kept; VOLUMES=1 deletes it)'),
    );
  },
);
