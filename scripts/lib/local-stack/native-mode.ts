// `make up` without Docker: the plan's services as processes from the Debian packages on loopback,
// started by the service runner in dependency stages and tracked in the run directory (.run/).
// Services an earlier `make up` left running and healthy are kept; a failure stops only what this
// run started.
import path from 'node:path';
import { appBuildReason, buildApp } from '../app-build.js';
import type { Environment } from '../environments.js';
import { UserError } from '../errors.js';
import type { ScriptContext } from '../main.js';
import { repoRoot } from '../paths.js';
import { registerSecret } from '../secrets.js';
import { isPortFree, portOwner, serviceSpec, Stack, type ServiceStatus } from '../services/index.js';
import { findTool, toolSpec } from '../tools.js';
import { migrateAndSeed, SEED_CHANNELS, type LocalStackMode } from './mode.js';
import { nativePlan, type PlannedService, type Profile } from './plan.js';
import { writeState, readState } from './state.js';

/** Tools the plan needs that this machine lacks, each with its Debian package when known. */
function missingTools(plan: PlannedService[]): string[] {
  const tools = [...new Set(plan.flatMap((s) => serviceSpec(s.kind).tools))];
  return tools
    .filter((t) => !findTool(t))
    .map((t) => {
      let pkg: string | undefined;
      try {
        pkg = toolSpec(t).pkg;
      } catch {
        pkg = undefined;
      }
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

export class NativeMode implements LocalStackMode {
  private readonly plan: PlannedService[];
  private readonly missing: string[];
  /** The run directory as an earlier `make up` left it (adopted processes). */
  private previous!: Stack;
  private running = new Map<string, ServiceStatus>();
  private readonly healthy = new Set<string>();
  private buildReason: string | undefined;
  /** What this run starts (set by act()). */
  private stack?: Stack;

  constructor(
    private readonly ctx: ScriptContext,
    private readonly env: Environment,
    private readonly profile: Profile,
    private readonly runDir: string,
  ) {
    ({ services: this.plan, missing: this.missing } = nativePlan(env, profile));
  }

  async preflight(): Promise<string | undefined> {
    const { out, flags } = this.ctx;
    for (const m of this.missing) out.warn(`not part of the native stack yet: ${m}`);
    const absent = missingTools(this.plan);
    if (absent.length > 0) {
      throw new UserError(`missing tool${absent.length > 1 ? 's' : ''} for the native stack: ${absent.join(', ')}`, {
        hint: 'run `make setup` (installs the Debian packages), then make up again',
      });
    }

    this.previous = Stack.restore({ runDir: this.runDir, readOnly: flags.dryRun });
    for (const name of this.previous.staleCleaned) {
      out.warn(
        `${name}: its PID file was stale (the process is gone or the PID now belongs to another one); removed, nothing signalled`,
      );
    }
    this.running = new Map(
      this.previous
        .status()
        .filter((s) => s.state === 'running')
        .map((s) => [s.name, s]),
    );
    await Promise.all(
      this.plan.map(async (s) => {
        if (this.running.get(s.name)?.port === s.port && (await this.previous.healthy(s.name)))
          this.healthy.add(s.name);
      }),
    );
    if (this.healthy.size === this.plan.length && readState(this.runDir)?.mode === 'native') {
      return `the local stack is already up: ${this.plan.length} services running and healthy; nothing changed`;
    }

    // Every port a service about to start needs must be free.
    const conflicts: string[] = [];
    for (const s of this.plan.filter((p) => !this.running.has(p.name))) {
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
        hint: `stop that process (make down, if it is an earlier stack), or choose other ports under local.ports in ${path.relative(repoRoot, this.env.file) || this.env.file}`,
      });
    }
    this.buildReason = appBuildReason();
    return undefined;
  }

  printPlan(): void {
    const { out } = this.ctx;
    out.heading(`Plan (run directory ${this.runDir}):`);
    if (this.buildReason) out.line(`  build the app with tsc (${this.buildReason})`);
    out.table(
      this.plan.map((s) => {
        const r = this.running.get(s.name);
        return {
          service: s.name,
          port: [s.port, ...Object.values(s.extraPorts)].join(','),
          role: s.role,
          action: !r
            ? 'start'
            : this.healthy.has(s.name)
              ? `keep (pid ${r.pid})`
              : `keep (pid ${r.pid}, not healthy yet)`,
        };
      }),
    );
    out.line(`  then: migrate the database and seed ${SEED_CHANNELS} channels`);
  }

  dryRun(): Promise<string> {
    return Promise.resolve('dry run: nothing started');
  }

  async act(): Promise<void> {
    const { out, exec } = this.ctx;
    if (this.buildReason) await out.task('build the app (tsc)', () => buildApp(exec));
    writeState(this.runDir, {
      mode: 'native',
      profile: this.profile,
      environment: this.env.name,
      startedAt: new Date().toISOString(),
    });
    const stack = (this.stack = new Stack({ runDir: this.runDir, detach: true }));
    for (const group of stages(this.plan)) {
      await out.task(`start ${group.map((s) => s.name).join(', ')}`, async (update) => {
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
        const note = await out.task('migrate and seed the database', (update) => migrateAndSeed(url, update));
        if (note) out.line(note);
      }
    }
  }

  async verify(): Promise<void> {
    const stack = this.stack!;
    const unhealthy: string[] = [];
    await Promise.all(
      this.plan.map(async (s) => {
        if (!(await stack.healthy(s.name))) unhealthy.push(s.name);
      }),
    );
    if (unhealthy.length > 0) {
      throw new UserError(`not healthy after start: ${unhealthy.join(', ')}`, {
        hint: `see their logs: make logs-local SERVICE=${unhealthy[0]}`,
      });
    }
  }

  async rollBack(): Promise<void> {
    const started = this.stack?.startedHere() ?? [];
    if (started.length === 0) return;
    this.ctx.out.warn(`stopping what this run started: ${started.join(', ')}`);
    await this.stack!.stopSome(started).catch(() => undefined);
  }

  summary(): string {
    return `${this.plan.length} services healthy`;
  }

  report(): void {
    const { out, flags } = this.ctx;
    const stack = this.stack ?? this.previous;
    const url = (name: string): string | undefined =>
      stack.has(name) ? String(stack.info<{ url?: string }>(name).url ?? '') || undefined : undefined;
    const rows: { what: string; service: string; url: string }[] = [];
    const nginxUrl = url('nginx');
    if (nginxUrl) rows.push({ what: 'API through Nginx', service: 'nginx', url: `${nginxUrl}/v2/channels` });
    for (const s of this.plan.filter((p) => p.kind === 'api')) {
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
      out.data({ mode: 'native', profile: this.profile, runDir: stack.runDir, services: stack.status(), urls: rows });
      return;
    }
    out.table(rows, ['what', 'service', 'url']);
    out.line(`status: make status   logs: make logs-local SERVICE=api   stop: make down`);
  }
}
