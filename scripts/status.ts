// make status: each service of the local stack with its state, PID or container, port and health.
import { Compose, composeCommand, engineStatus } from './lib/docker.js';
import { readState, runDirFrom } from './lib/local-stack/state.js';
import { runScript } from './lib/main.js';
import { readManifest, Stack } from './lib/services/index.js';

interface Row {
  service: string;
  state: string;
  pid?: number;
  container?: string;
  port?: number | string;
  health: string;
  url?: string;
}

await runScript(
  {
    summary: 'Show the local stack: each service with state, PID or container, port and health.',
    usage: 'make status [JSON=1]',
    options: { 'run-dir': { type: 'string' } },
    optionsHelp: '      --run-dir DIR  run directory of the native stack (default .run/, or MYTV_RUN_DIR)',
  },
  async ({ values, flags, out, exec }) => {
    const runDir = runDirFrom(values);
    const state = readState(runDir);
    let rows: Row[] = [];

    if (state?.mode === 'docker' && (await engineStatus()).available) {
      const compose = new Compose(exec, await composeCommand(), state.profile);
      const r = await compose.run(['ps', '--format', 'json'], {
        readOnly: true,
      });
      // `ps --format json` prints one array (compose < 2.21) or one object per line.
      const text = r.stdout.trim();
      const items = (
        text.startsWith('[')
          ? JSON.parse(text)
          : text
              .split('\n')
              .filter(Boolean)
              .map((l) => JSON.parse(l) as unknown)
      ) as {
        Service: string;
        Name: string;
        State: string;
        Health?: string;
        Publishers?: { PublishedPort: number }[];
      }[];
      rows = items.map((c) => ({
        service: c.Service,
        state: c.State,
        container: c.Name,
        port:
          (c.Publishers ?? [])
            .map((p) => p.PublishedPort)
            .filter(Boolean)
            .join(',') || undefined,
        health: c.Health || (c.State === 'running' ? 'running' : '-'),
      }));
    } else if (readManifest(runDir).length > 0) {
      const stack = Stack.restore({ runDir, readOnly: true });
      rows = await Promise.all(
        stack.status().map(async (s) => {
          const info = stack.info<{ url?: string }>(s.name);
          const stale = stack.staleCleaned.includes(s.name);
          return {
            service: s.name,
            state: stale ? 'crashed (stale PID file)' : s.state,
            pid: s.pid,
            port: s.port,
            health: s.state !== 'running' ? '-' : (await stack.healthy(s.name)) ? 'healthy' : 'unhealthy',
            url: info.url?.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1@'), // never a password, even masked
          };
        }),
      );
    }

    // A probe: exit 1 when a service of a recorded stack is not running and healthy.
    const up = rows.filter((r) => r.health === 'healthy' || r.health === 'running').length;
    if (up < rows.length) process.exitCode = 1;
    if (flags.json) {
      out.data({ mode: state?.mode ?? null, profile: state?.profile ?? null, runDir, services: rows });
      return;
    }
    if (rows.length === 0) {
      out.line(`no local stack (nothing recorded in ${runDir}); start it with: make up`);
      return;
    }
    out.line(`${state?.mode ?? 'native'} mode, profile ${state?.profile ?? '?'} (run directory ${runDir})`);
    out.table(rows as unknown as Record<string, unknown>[], [
      'service',
      'state',
      state?.mode === 'docker' ? 'container' : 'pid',
      'port',
      'health',
      ...(state?.mode === 'docker' ? [] : ['url']),
    ]);
    out.line(`${up}/${rows.length} healthy${up < rows.length ? ' (exit 1)' : ''}`);
  },
);
