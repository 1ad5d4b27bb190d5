// The one service runner: starts real servers (PostgreSQL, Redis, and whatever registry.ts lists)
// as processes on loopback, each in its own directory under one run directory, waits until each
// is ready, hands back connection settings, and stops them all — on teardown, on a failing test,
// on Ctrl-C. Tests use it with a temporary run directory; `make up` (native mode) with .run/.
// A `Stack` is one runner object: the instances of one run directory, stopped dependents first.
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../errors.js';
import { requireTool } from '../tools.js';
import { isPortFree, freePorts, portOwner } from './ports.js';
import {
  isSameProcessAlive,
  killNow,
  lookupUser,
  processStartTime,
  readPidFile,
  removeFile,
  spawnService,
  stopProcess,
  tailFile,
  writePidFile,
  type PidRecord,
} from './process.js';
import { serviceSpec } from './registry.js';
import type { ServiceContext, ServiceSpec } from './types.js';
import { waitFor } from '../wait.js';

export interface StackOptions {
  /** Where state, logs and PID files live; default: a new temporary directory, removed by stopAll(). */
  runDir?: string;
  host?: string;
  /** Fixed main ports by instance name; others get free ports. */
  ports?: Record<string, number>;
  /** Processes outlive this process (make up); otherwise they are killed when it exits. */
  detach?: boolean;
}

export interface StartOptions {
  /** Service kind when the instance name differs ('api-1' of kind 'api'). */
  kind?: string;
  spec?: ServiceSpec;
  port?: number;
  options?: Record<string, unknown>;
}

interface Instance {
  name: string;
  spec: ServiceSpec;
  ctx: ServiceContext;
  pidFile: string;
  record?: PidRecord;
  /** Started by this Stack object (not found running from an earlier one). */
  startedHere?: boolean;
}

/** What a run directory remembers of its instances (stack.json), so a later process can find them again. */
export interface ManifestEntry {
  name: string;
  kind: string;
  port: number;
  ports: Record<string, number>;
  options: Record<string, unknown>;
}

const MANIFEST = 'stack.json';

export interface ServiceStatus {
  name: string;
  kind: string;
  state: 'running' | 'stopped';
  pid?: number;
  port: number;
  log: string;
}

/** Reads stack.json of a run directory (empty when there is none). */
export function readManifest(runDir: string): ManifestEntry[] {
  const file = path.join(runDir, MANIFEST);
  if (!existsSync(file)) return [];
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { instances?: ManifestEntry[] };
    return Array.isArray(parsed.instances) ? parsed.instances : [];
  } catch {
    return [];
  }
}

const liveStacks = new Set<Stack>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // 'exit' cannot await: kill what is left outright. Signals get the graceful path first.
  process.on('exit', () => {
    for (const s of liveStacks) s.killAllNow();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      void Promise.allSettled([...liveStacks].map((s) => s.stopAll())).finally(() => {
        process.exit(sig === 'SIGINT' ? 130 : 143);
      });
    });
  }
}

export class Stack {
  readonly runDir: string;
  readonly host: string;
  private readonly ownsRunDir: boolean;
  private readonly instances = new Map<string, Instance>();
  /** PID files found stale (their process gone or the PID reused) and removed, by instance name. */
  readonly staleCleaned: string[] = [];

  constructor(private readonly opts: StackOptions = {}) {
    this.host = opts.host ?? '127.0.0.1';
    if (opts.runDir) {
      this.runDir = opts.runDir;
      this.ownsRunDir = false;
      mkdirSync(this.runDir, { recursive: true });
    } else {
      this.runDir = mkdtempSync(path.join(os.tmpdir(), 'mytv-'));
      this.ownsRunDir = true;
    }
    // Unprivileged servers (PostgreSQL as 'postgres') must be able to reach their directory.
    chmodSync(this.runDir, 0o755);
    mkdirSync(path.join(this.runDir, 'logs'), { recursive: true });
    mkdirSync(path.join(this.runDir, 'pids'), { recursive: true });
    if (!opts.detach) {
      installExitHooks();
      liveStacks.add(this);
    }
  }

  names(): string[] {
    return [...this.instances.keys()];
  }

  /**
   * Instance names selected by `selectors`: each is an instance name (api-2) or a kind (api = every
   * replica), in start order. Errors: UserError naming the unknown selector and the valid ones.
   */
  namesMatching(selectors: string[]): string[] {
    const all = [...this.instances.values()];
    for (const sel of selectors)
      if (!all.some((i) => i.name === sel || i.spec.kind === sel))
        throw new UserError(`no service or kind '${sel}' in the local stack (${this.runDir})`, {
          hint: `use one of: ${[...new Set(all.flatMap((i) => [i.spec.kind, i.name]))].join(', ')}`,
        });
    return all.filter((i) => selectors.includes(i.name) || selectors.includes(i.spec.kind)).map((i) => i.name);
  }

  has(name: string): boolean {
    return this.instances.has(name);
  }

  info<T extends Record<string, unknown> = Record<string, unknown>>(name: string): T {
    const inst = this.instances.get(name);
    if (!inst) throw new Error(`service ${name} was never started in this stack`);
    return inst.spec.info(inst.ctx) as T;
  }

  pid(name: string): number | undefined {
    const rec = this.instances.get(name)?.record;
    return rec && isSameProcessAlive(rec) ? rec.pid : undefined;
  }

  logFile(name: string): string {
    return path.join(this.runDir, 'logs', `${name}.log`);
  }

  private async createInstance(name: string, o: StartOptions): Promise<Instance> {
    const spec = o.spec ?? serviceSpec(o.kind ?? name);
    for (const tool of spec.tools) requireTool(tool);
    const fixed = o.port ?? this.opts.ports?.[name];
    const wanted = (o.options?.ports as Record<string, number> | undefined) ?? {};
    const missing = (spec.extraPorts ?? []).filter((p) => wanted[p] === undefined).length;
    const free = await freePorts((fixed ? 0 : 1) + missing, this.host);
    const port = fixed ?? free.shift()!;
    const ports = Object.fromEntries((spec.extraPorts ?? []).map((p) => [p, wanted[p] ?? free.shift()!]));
    return this.instanceFor(name, spec, port, ports, o.options ?? {});
  }

  private instanceFor(
    name: string,
    spec: ServiceSpec,
    port: number,
    ports: Record<string, number>,
    options: Record<string, unknown>,
  ): Instance {
    const dir = path.join(this.runDir, name);
    mkdirSync(dir, { recursive: true });
    let runAs;
    if (spec.unprivileged && process.getuid?.() === 0) {
      runAs = lookupUser(spec.kind) ?? lookupUser('postgres') ?? lookupUser('nobody');
      if (!runAs)
        throw new UserError(`${name} cannot run as root and no unprivileged user exists`, {
          hint: 'create one: useradd --system postgres',
        });
      const blocking = unsearchableAncestor(dir, runAs);
      if (blocking)
        throw new UserError(
          `${name} runs as ${runAs.user}, who cannot reach ${dir}: ${blocking} is not searchable by other users (mode ${(statSync(blocking).mode & 0o777).toString(8).padStart(4, '0')})`,
          {
            hint: `chmod o+x ${blocking}, or put the run directory where ${runAs.user} can reach it (MYTV_RUN_DIR=/var/tmp/mytv-run)`,
          },
        );
      chownSync(dir, runAs.uid, runAs.gid);
    }
    const peers: ServiceContext['peers'] = {};
    for (const [n, other] of this.instances) peers[n] = other.spec.info(other.ctx);
    return {
      name,
      spec,
      pidFile: path.join(this.runDir, 'pids', `${name}.json`),
      ctx: {
        name,
        dir,
        logFile: this.logFile(name),
        host: this.host,
        port,
        ports,
        runAs,
        options,
        peers,
      },
    };
  }

  private writeManifest(): void {
    const instances: ManifestEntry[] = [...this.instances.values()].map((i) => ({
      name: i.name,
      kind: i.spec.kind,
      port: i.ctx.port,
      ports: i.ctx.ports,
      options: i.ctx.options,
    }));
    writeFileSync(path.join(this.runDir, MANIFEST), JSON.stringify({ instances }, null, 2) + '\n');
  }

  /**
   * A process from an earlier run still tracked by this instance's PID file: adopted when it is the
   * same process (PID and kernel start time), otherwise the stale file is removed and nothing is
   * signalled — the PID may belong to an unrelated process by now.
   */
  private adoptTracked(inst: Instance, readOnly = false): boolean {
    if (inst.record) return isSameProcessAlive(inst.record);
    const rec = readPidFile(inst.pidFile);
    if (rec && isSameProcessAlive(rec)) {
      inst.record = rec;
      return true;
    }
    if (existsSync(inst.pidFile)) {
      if (!readOnly) removeFile(inst.pidFile);
      this.staleCleaned.push(inst.name);
    }
    return false;
  }

  /**
   * The stack a run directory describes (stack.json), with the processes its PID files still
   * track: what `make status` and `make down` work on. Stale PID files are cleaned (staleCleaned).
   */
  static restore(opts: StackOptions & { runDir: string; readOnly?: boolean }): Stack {
    const stack = new Stack({ ...opts, detach: true });
    for (const e of readManifest(opts.runDir)) {
      const inst = stack.instanceFor(e.name, serviceSpec(e.kind), e.port, e.ports ?? {}, e.options ?? {});
      stack.instances.set(e.name, inst);
      stack.adoptTracked(inst, opts.readOnly);
    }
    return stack;
  }

  /** Names of the instances this Stack object started itself (not adopted from an earlier run). */
  startedHere(): string[] {
    return [...this.instances.values()].filter((i) => i.startedHere).map((i) => i.name);
  }

  /** One readiness probe of a running instance (false when it is not running). */
  async healthy(name: string): Promise<boolean> {
    const inst = this.instances.get(name);
    if (!inst?.record || !isSameProcessAlive(inst.record)) return false;
    try {
      return await inst.spec.ready(inst.ctx);
    } catch {
      return false;
    }
  }

  /** Starts one instance (or restarts a stopped one on the same port with the same data). */
  async start(name: string, o: StartOptions = {}): Promise<Record<string, unknown>> {
    let inst = this.instances.get(name);
    if (!inst) {
      inst = await this.createInstance(name, o);
      this.instances.set(name, inst);
      this.writeManifest();
    }
    if (this.adoptTracked(inst)) return inst.spec.info(inst.ctx);
    const { ctx, spec } = inst;

    for (const p of [ctx.port, ...Object.values(ctx.ports)]) {
      if (!(await isPortFree(p, this.host))) {
        const owner = portOwner(p);
        throw new UserError(`port ${p} for ${name} is already in use${owner ? ` by ${owner}` : ''}`, {
          hint: `stop that process or choose another port for ${name}`,
        });
      }
    }
    await spec.prepare?.(ctx);
    const cmd = spec.command(ctx);
    const child = spawnService({ ...cmd, logFile: ctx.logFile, runAs: ctx.runAs });
    const pid = child.pid;
    if (pid === undefined)
      throw new UserError(`${name} could not be started (${cmd.bin})`, { hint: `see ${ctx.logFile}` });
    let exited: number | string | null | undefined;
    child.once('exit', (code, signal) => (exited = code ?? signal));
    child.once('error', (err) => (exited = err.message));
    inst.record = { pid, startTime: processStartTime(pid) ?? -1, command: cmd.bin, name };
    inst.startedHere = true;
    writePidFile(inst.pidFile, inst.record);

    const timeout = spec.readyTimeoutMs ?? 20_000;
    const ready = await waitFor(() => spec.ready(ctx), { timeoutMs: timeout, giveUpIf: () => exited !== undefined });
    if (!ready) {
      const why = exited !== undefined ? `exited (${String(exited)})` : `was not ready within ${timeout / 1000}s`;
      await this.stop(name);
      throw new UserError(`${name} ${why}; last log lines:\n${tailFile(ctx.logFile, 12)}`, {
        hint: `full log: ${ctx.logFile}`,
      });
    }
    await spec.afterReady?.(ctx);
    return spec.info(ctx);
  }

  /** The options an instance was started (or last reconfigured) with. */
  options(name: string): Record<string, unknown> {
    const inst = this.instances.get(name);
    if (!inst) throw new Error(`service ${name} was never started in this stack`);
    return inst.ctx.options;
  }

  /**
   * Applies changed options to a running instance without restarting it (ServiceSpec.reload), e.g.
   * Nginx draining an upstream. The options are merged into the instance's and kept in stack.json.
   * Errors: UserError when the instance is not running or its kind cannot reload; the spec's own
   * error when the reload fails (the previous options are kept then).
   */
  async reconfigure(name: string, options: Record<string, unknown>): Promise<void> {
    const inst = this.instances.get(name);
    if (!inst?.record || !isSameProcessAlive(inst.record))
      throw new UserError(`${name} is not running`, { hint: 'start the stack first (make up)' });
    if (!inst.spec.reload)
      throw new UserError(`${name} (${inst.spec.kind}) cannot be reconfigured while running`, {
        hint: 'restart it instead',
      });
    const previous = inst.ctx.options;
    inst.ctx.options = { ...previous, ...options };
    try {
      await inst.spec.reload(inst.ctx, inst.record.pid);
    } catch (err) {
      inst.ctx.options = previous;
      throw err;
    }
    this.writeManifest();
  }

  /** Stops one instance; keeps its directory and port so start() brings it back as it was. */
  async stop(name: string): Promise<void> {
    const inst = this.instances.get(name);
    if (!inst?.record) return;
    await stopProcess(inst.record, inst.spec.stopSignal ?? 'SIGTERM', inst.spec.stopGraceMs ?? 10_000);
    inst.record = undefined;
    removeFile(inst.pidFile);
  }

  /**
   * Stops the named instances one at a time, dependents first: in the reverse of the order they were
   * first started (a service starts after the peers it needs, so the API stops before the
   * database). Stops the rest when one fails, then throws the first failure. `onStopped` is called
   * after each one (progress).
   */
  async stopSome(names: string[], onStopped?: (name: string) => void): Promise<void> {
    const order = [...this.instances.keys()].filter((n) => names.includes(n)).reverse();
    let failure: Error | undefined;
    for (const name of order) {
      try {
        await this.stop(name);
        onStopped?.(name);
      } catch (err) {
        failure ??= err instanceof Error ? err : new Error(String(err));
      }
    }
    if (failure) throw failure;
  }

  /** Stops everything in dependency order (as stopSome); removes a temporary run directory. */
  async stopAll(): Promise<void> {
    try {
      await this.stopSome([...this.instances.keys()]);
    } finally {
      liveStacks.delete(this);
      if (this.ownsRunDir) rmSync(this.runDir, { recursive: true, force: true });
    }
  }

  killAllNow(): void {
    for (const inst of this.instances.values()) if (inst.record) killNow(inst.record);
    if (this.ownsRunDir) rmSync(this.runDir, { recursive: true, force: true });
  }

  status(): ServiceStatus[] {
    return [...this.instances.values()].map((i) => ({
      name: i.name,
      kind: i.spec.kind,
      state: i.record && isSameProcessAlive(i.record) ? 'running' : 'stopped',
      pid: i.record && isSameProcessAlive(i.record) ? i.record.pid : undefined,
      port: i.ctx.port,
      log: i.ctx.logFile,
    }));
  }

  /** Extra named ports of an instance (nginx's status listener …). */
  extraPorts(name: string): Record<string, number> {
    return this.instances.get(name)?.ctx.ports ?? {};
  }
}

/** PID files left in a run directory (by a detached stack, or a crash). */
export function trackedProcesses(runDir: string): { name: string; record?: PidRecord; alive: boolean; file: string }[] {
  const dir = path.join(runDir, 'pids');
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return files.map((f) => {
    const file = path.join(dir, f);
    const record = readPidFile(file);
    return { name: f.slice(0, -5), record, alive: record ? isSameProcessAlive(record) : false, file };
  });
}

/** Starts the named services in one new stack; on any failure stops what did start. */
export async function startServices(names: string[], opts: StackOptions = {}): Promise<Stack> {
  const stack = new Stack(opts);
  try {
    await Promise.all(names.map((n) => stack.start(n)));
    return stack;
  } catch (err) {
    await stack.stopAll().catch(() => undefined);
    throw err;
  }
}

/**
 * The first directory above `dir` (from the root down) that `who` may not search: not owned by
 * it and without the execute bit for others (group membership is not counted: services are
 * spawned with the user's primary group only). Undefined when every one is searchable.
 */
export function unsearchableAncestor(dir: string, who: { uid: number; gid: number }): string | undefined {
  const ancestors: string[] = [];
  for (let d = path.dirname(path.resolve(dir)); ; d = path.dirname(d)) {
    ancestors.unshift(d);
    if (d === path.dirname(d)) break;
  }
  for (const d of ancestors) {
    const st = statSync(d);
    const searchable =
      st.uid === who.uid
        ? (st.mode & 0o100) !== 0
        : st.gid === who.gid
          ? (st.mode & 0o010) !== 0
          : (st.mode & 0o001) !== 0;
    if (!searchable) return d;
  }
  return undefined;
}
