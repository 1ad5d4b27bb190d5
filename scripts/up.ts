// make up: the whole stack locally — Docker compose (compose/compose.yaml, one profile) when a
// Docker engine answers, else native processes from the Debian packages on loopback (the same
// configs, only ports and paths substituted), tracked in the run directory (.run/).
//   preflight: profile, mode, environment, tools, ports, built app
//   plan:      printed; --dry-run stops here
//   act:       start in dependency order with progress; migrate and seed the database
//   verify:    every health check; a table of URLs
//   roll back: a service failing its health check shows its last log lines, and what this run
//              started is stopped again
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { runMigrations } from '../app/src/db/migrator.js';
import { seedDatabase } from '../app/src/db/seed.js';
import { appBuildReason, buildApp } from './lib/app-build.js';
import { Compose, composeCommand, composeEnvFile, composeFile, engineStatus, type EngineStatus } from './lib/docker.js';
import { renderNginxConfig, writeNginxConfig } from './lib/edge/render.js';
import { loadEnvironment, type Environment } from './lib/environments.js';
import { UserError } from './lib/errors.js';
import {
  composePortEnv,
  localPorts,
  nativePlan,
  parseMode,
  parseProfile,
  type Mode,
  type PlannedService,
  type Profile,
} from './lib/local-stack/plan.js';
import { readState, runDirFrom, writeState } from './lib/local-stack/state.js';
import { runScript, type ScriptContext } from './lib/main.js';
import { repoRoot } from './lib/paths.js';
import { registerSecret } from './lib/secrets.js';
import { isPortFree, portOwner, serviceSpec, Stack } from './lib/services/index.js';
import { findTool, toolSpec } from './lib/tools.js';

const SEED_CHANNELS = 50;

await runScript(
  {
    summary: 'Start the whole stack locally: Docker compose, or native processes where no Docker engine answers.',
    usage: 'make up [PROFILE=dev|staging|prod] [MODE=docker|native] [DRY_RUN=1]',
    options: {
      profile: { type: 'string' },
      mode: { type: 'string' },
      'run-dir': { type: 'string' },
    },
    optionsHelp: [
      '      --profile P    dev (default), staging or prod (PROFILE=…)',
      '      --mode M       docker or native; default: docker when an engine answers, else native (MODE=…)',
      '      --run-dir DIR  state and logs of the native stack (default .run/, or MYTV_RUN_DIR)',
    ].join('\n'),
  },
  async (ctx) => {
    const { values, flags, out } = ctx;
    // --- preflight: everything that can be checked before a change
    const profile = parseProfile(values.profile as string | undefined);
    const wanted = parseMode(values.mode as string | undefined);
    const env = loadEnvironment(flags.env);
    localPorts(env);
    const runDir = runDirFrom(values);
    const engine: EngineStatus =
      wanted === 'native' ? { available: false, detail: 'MODE=native' } : await engineStatus();
    if (wanted === 'docker' && !engine.available) {
      throw new UserError(`MODE=docker, but no Docker engine answers (${engine.detail})`, {
        hint: 'start the Docker engine, or run the stack as native processes: make up MODE=native',
      });
    }
    const mode: Mode = wanted ?? (engine.available ? 'docker' : 'native');
    out.step(
      `local stack: profile ${profile}, ${mode} mode` +
        (mode === 'native' && !wanted ? ` (no Docker engine answers: ${engine.detail})` : '') +
        `, environment ${env.name}`,
    );
    if (mode === 'docker') await upWithCompose(ctx, env, profile, runDir);
    else await upNative(ctx, env, profile, runDir);
  },
);

// ---------------------------------------------------------------------------------------------
// Native mode

function missingTools(plan: PlannedService[]): string[] {
  const tools = [...new Set(plan.flatMap((s) => serviceSpec(s.kind).tools))];
  return tools
    .filter((t) => !findTool(t))
    .map((t) => {
      const pkg = (() => {
        try {
          return toolSpec(t).pkg;
        } catch {
          return undefined;
        }
      })();
      return pkg ? `${t} (Debian package ${pkg})` : t;
    });
}

/** Start order in stages: each stage needs the ones before it (its peers); a stage starts in parallel. */
function stages(plan: PlannedService[]): PlannedService[][] {
  const stageOf = (s: PlannedService): number =>
    ({ postgres: 0, redis: 0, s3: 0, api: 1, nginx: 2, prometheus: 4 })[s.kind] ?? 3;
  const out: PlannedService[][] = [];
  for (const s of plan) (out[stageOf(s)] ??= []).push(s);
  return out.filter(Boolean);
}

async function upNative(ctx: ScriptContext, env: Environment, profile: Profile, runDir: string): Promise<void> {
  const { out, flags, exec } = ctx;
  const { services: plan, missing } = nativePlan(env, profile);
  for (const m of missing) out.warn(`not part of the native stack yet: ${m}`);

  const absent = missingTools(plan);
  if (absent.length > 0) {
    throw new UserError(`missing tool${absent.length > 1 ? 's' : ''} for the native stack: ${absent.join(', ')}`, {
      hint: 'run `make setup` (installs the Debian packages), then make up again',
    });
  }

  // What an earlier `make up` left running (adopted), and PID files whose process is gone.
  const previous = Stack.restore({ runDir, readOnly: flags.dryRun });
  for (const name of previous.staleCleaned) {
    out.warn(
      `${name}: its PID file was stale (the process is gone or the PID now belongs to another one); removed, nothing signalled`,
    );
  }
  const running = new Map(
    previous
      .status()
      .filter((s) => s.state === 'running')
      .map((s) => [s.name, s]),
  );
  const healthy = new Set<string>();
  await Promise.all(
    plan.map(async (s) => {
      if (running.get(s.name)?.port === s.port && (await previous.healthy(s.name))) healthy.add(s.name);
    }),
  );
  const state = readState(runDir);
  if (healthy.size === plan.length && state?.mode === 'native') {
    out.ok(`the local stack is already up: ${plan.length} services running and healthy; nothing changed`);
    report(ctx, previous, plan, 'native', profile);
    return;
  }

  // Ports: every one a service about to start needs must be free (not ours and running).
  const conflicts: string[] = [];
  for (const s of plan.filter((p) => !running.has(p.name))) {
    for (const [what, port] of [['', s.port] as const, ...Object.entries(s.extraPorts)]) {
      if (!(await isPortFree(port))) {
        const owner = portOwner(port);
        conflicts.push(
          `port ${port} (${s.name}${what ? ` ${what}` : ''}) is already in use${owner ? ` by ${owner}` : ''}`,
        );
      }
    }
  }
  if (conflicts.length > 0) {
    throw new UserError(conflicts.join('; '), {
      hint: `stop that process (make down, if it is an earlier stack), or choose other ports under local.ports in ${path.relative(repoRoot, env.file) || env.file}`,
    });
  }
  const buildReason = appBuildReason();

  // --- plan
  out.heading(`Plan (run directory ${runDir}):`);
  if (buildReason) out.line(`  build the app with tsc (${buildReason})`);
  out.table(
    plan.map((s) => {
      const r = running.get(s.name);
      return {
        service: s.name,
        port: [s.port, ...Object.values(s.extraPorts)].join(','),
        role: s.role,
        action: !r ? 'start' : healthy.has(s.name) ? `keep (pid ${r.pid})` : `keep (pid ${r.pid}, not healthy yet)`,
      };
    }),
  );
  out.line(`  then: migrate the database and seed ${SEED_CHANNELS} channels`);
  if (flags.dryRun) {
    out.line('dry run: nothing started');
    return;
  }

  // --- act
  if (buildReason) {
    await out.task('build the app (tsc)', () => buildApp(exec));
  }
  writeState(runDir, { mode: 'native', profile, environment: env.name, startedAt: new Date().toISOString() });
  const stack = new Stack({ runDir, detach: true });
  try {
    for (const group of stages(plan)) {
      const label = group.map((s) => s.name).join(', ');
      await out.task(`start ${label}`, async (update) => {
        await Promise.all(
          group.map(async (s) => {
            await stack.start(s.name, { kind: s.kind, port: s.port, options: s.options });
            update(`${s.name} ready`);
          }),
        );
      });
      if (group.some((s) => s.kind === 'postgres')) {
        const url = stack.info<{ url: string }>('postgres').url;
        registerSecret(url);
        await out.task('migrate and seed the database', async (update) => {
          const migrated = await runMigrations(url, { log: () => undefined });
          update(`${migrated.applied.length} migrations applied, ${migrated.alreadyApplied} already there`);
          const seeded = await seedDatabase(url, { channels: SEED_CHANNELS });
          update(`${seeded.channels} channels, ${seeded.programmes} programmes`);
        });
      }
    }
    // --- verify
    const unhealthy: string[] = [];
    await Promise.all(
      plan.map(async (s) => {
        if (!(await stack.healthy(s.name))) unhealthy.push(s.name);
      }),
    );
    if (unhealthy.length > 0) {
      throw new UserError(`not healthy after start: ${unhealthy.join(', ')}`, {
        hint: `see their logs: make logs-local SERVICE=${unhealthy[0]}`,
      });
    }
  } catch (err) {
    const started = stack.startedHere();
    if (started.length > 0) {
      out.warn(`stopping what this run started: ${started.join(', ')}`);
      await stack.stopSome(started.reverse()).catch(() => undefined);
    }
    throw err;
  }
  out.ok(`the local stack is up (${plan.length} services healthy)`);
  report(ctx, stack, plan, 'native', profile);
}

function report(ctx: ScriptContext, stack: Stack, plan: PlannedService[], mode: Mode, profile: Profile): void {
  const { out, flags } = ctx;
  const url = (name: string): string | undefined =>
    stack.has(name) ? String(stack.info<{ url?: string }>(name).url ?? '') || undefined : undefined;
  const rows: { what: string; service: string; url: string }[] = [];
  const nginxUrl = url('nginx');
  if (nginxUrl) rows.push({ what: 'API through Nginx', service: 'nginx', url: `${nginxUrl}/v2/channels` });
  for (const s of plan.filter((p) => p.kind === 'api')) {
    rows.push({ what: 'API direct', service: s.name, url: `${url(s.name)}/v2/channels` });
  }
  for (const [name, what] of [
    ['prometheus', 'Prometheus'],
    ['alertmanager', 'Alertmanager'],
    ['s3', 'S3 (R2 stand-in)'],
  ] as const) {
    const u = url(name);
    if (u) rows.push({ what, service: name, url: u });
  }
  if (flags.json) {
    out.data({ mode, profile, runDir: stack.runDir, services: stack.status(), urls: rows });
    return;
  }
  out.table(rows, ['what', 'service', 'url']);
  out.line(`status: make status   logs: make logs-local SERVICE=api   stop: make down`);
}

// ---------------------------------------------------------------------------------------------
// Docker compose mode

async function upWithCompose(ctx: ScriptContext, env: Environment, profile: Profile, runDir: string): Promise<void> {
  const { out, exec, flags } = ctx;
  if (!existsSync(composeEnvFile)) {
    throw new UserError(`compose/.env is missing (the stack's secrets: database password, JWT secret …)`, {
      hint: 'cp compose/.env.example compose/.env and replace every CHANGE_ME (the file is git-ignored)',
    });
  }
  const secrets = parseDotenv(readFileSync(composeEnvFile));
  for (const [k, v] of Object.entries(secrets)) if (/PASSWORD|SECRET|KEY/.test(k)) registerSecret(v);
  const ports = localPorts(env);
  const nginxConfDir = path.join(runDir, 'compose', 'nginx');
  const compose = new Compose(exec, await composeCommand(), profile, {
    ...composePortEnv(ports),
    MYTV_NGINX_CONF_DIR: nginxConfDir,
  });

  out.heading('Plan:');
  out.line(`  docker compose --profile ${profile} up -d --wait   (${path.relative(repoRoot, composeFile)})`);
  out.line(`  then: migrate the database and seed ${SEED_CHANNELS} channels`);
  if (flags.dryRun) {
    await compose.run(['config', '--quiet'], { readOnly: true });
    out.line('dry run: nothing started (compose config is valid)');
    return;
  }
  writeState(runDir, { mode: 'docker', profile, environment: env.name, startedAt: new Date().toISOString() });
  // Nginx runs the repository's config (nginx/) rendered for the compose network: upstreams are
  // the replicas' service names; logs go to the container's stdout/stderr.
  writeNginxConfig(
    renderNginxConfig(env, {
      site: 'local',
      upstreams: ['api-1:3000', 'api-2:3000'],
      realIpFrom: ['172.16.0.0/12', '10.0.0.0/8', '127.0.0.1/32'],
      originLock: false,
      authenticatedOriginPulls: false,
      listen: { address: '0.0.0.0', http: 8080, status: 8081, statusAddress: '0.0.0.0' },
      runtime: {
        user: undefined,
        workerProcesses: 2,
        pidFile: '/tmp/nginx.pid',
        errorLog: '/dev/stderr',
        accessLog: '/dev/stdout',
        tempDir: '/tmp/nginx',
        maintenanceFlag: '/tmp/maintenance',
      },
      releaseId: 'compose',
    }),
    nginxConfDir,
  );
  await out.task(`docker compose --profile ${profile} up --wait`, () =>
    compose.run(['up', '-d', '--wait'], { timeoutMs: 600_000 }),
  );
  await out.task('migrate and seed the database', async (update) => {
    if (profile === 'prod') {
      // prod publishes no database port: migrate from inside, as the deploy job does; no seed data.
      await compose.run([
        '--env-file',
        composeEnvFile,
        '--profile',
        profile,
        'exec',
        '-T',
        'api-1',
        'node',
        'dist/migrate.js',
      ]);
      update('migrated (prod profile: not seeded)');
      return;
    }
    const pw = secrets.POSTGRES_PASSWORD ?? '';
    const url = `postgres://mytv:${encodeURIComponent(pw)}@127.0.0.1:${ports.postgres}/mytv`;
    registerSecret(url);
    await runMigrations(url, { log: () => undefined });
    const seeded = await seedDatabase(url, { channels: SEED_CHANNELS });
    update(`${seeded.channels} channels`);
  });
  const rows = [
    { what: 'API through Nginx', url: `http://127.0.0.1:${ports.nginx}/v2/channels` },
    { what: 'API direct', url: `http://127.0.0.1:${ports.api}/v2/channels` },
    { what: 'Prometheus', url: `http://127.0.0.1:${ports.prometheus}` },
    { what: 'Alertmanager', url: `http://127.0.0.1:${ports.alertmanager}` },
    { what: 'Grafana', url: `http://127.0.0.1:${ports.grafana}` },
  ];
  if (profile === 'dev') rows.splice(0, 1);
  if (flags.json) out.data({ mode: 'docker', profile, urls: rows });
  else out.table(rows);
  out.ok(`the local stack is up (compose profile ${profile})`);
}
