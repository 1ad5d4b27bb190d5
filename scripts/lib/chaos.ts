// make chaos: faults injected into a running native local stack (make up MODE=native) one at a
// time, under steady read load through Nginx, each judged against the aims of issue 15:
//   zero failed requests for an Nginx reload, a rolling restart and a replica killed with SIGKILL;
//   Redis loss: reads keep being answered; PostgreSQL loss: cached reads keep being answered,
//   uncached ones get a fast 503 with Retry-After (never a 500, never a hang); everything recovers
//   without a manual action. The stack is left as it was found (services restarted), also on failure.
import { UsageError, UserError } from './errors.js';
import { readState } from './local-stack/state.js';
import { ConstantRateLoad, isServed, readMix, summarize, type LoadSummary, type RequestRecord } from './load.js';
import { LocalStackRoller } from './rotation.js';
import { Stack } from './services/index.js';
import { childPids } from './services/process.js';
import { waitFor } from './wait.js';

export interface ChaosOptions {
  /** Run directory of the native stack (make up's .run/ or --run-dir). */
  runDir: string;
  /** Requests per second through Nginx. */
  rate: number;
  /** Load before the fault, in ms (the "before" p99). */
  warmupMs: number;
  /** After the fault: this long with every request served and every service healthy = recovered. */
  settleMs: number;
  /** Not recovered this long after the fault ended: the scenario fails ("needs a manual action"). */
  recoveryTimeoutMs: number;
  /** How long Redis stays stopped in redis-restart. */
  redisOutageMs: number;
  /** How long PostgreSQL stays stopped in postgres-outage. */
  postgresOutageMs: number;
  /** A 503 for an uncached read slower than this is not "fast" (ms). */
  fast503Ms: number;
  /** Client-side limit of one request (ms): longer is a hang, counted as 'timeout'. */
  requestTimeoutMs: number;
  /** Optional extra aim: p99 during the event below this (ms). */
  maxP99Ms?: number;
  /** Called with progress lines. */
  progress?: (line: string) => void;
  /** Aborted (Ctrl-C): the current scenario stops early and the stack is restored. */
  signal?: AbortSignal;
}

export interface ScenarioResult {
  scenario: string;
  description: string;
  aim: string;
  /** When the fault started (ISO) and how long injecting and healing it took (ms). */
  startedAt: string;
  faultMs: number;
  /** What was done: PIDs signalled, replaced … (scenario-specific). */
  details: Record<string, unknown>;
  /** Every request of the scenario (warm-up, fault, recovery), overall and by kind. */
  requests: LoadSummary & { cached: LoadSummary; uncached: LoadSummary };
  /** p99 latency of the warm-up (before the fault), and of the requests sent from the fault's start until recovery (ms). */
  p99BeforeMs: number | null;
  p99DuringMs: number | null;
  /** Uncached 503 answers without a Retry-After header, and 503 answers slower than fast503Ms. */
  unavailableWithoutRetryAfter: number;
  slow503: number;
  recovered: boolean;
  /** From the end of the fault until every service was healthy and no request failed any more (ms); null when not recovered. */
  recoveryMs: number | null;
  aimMet: boolean;
  /** Each missed aim, in words. */
  missed: string[];
}

interface ScenarioContext {
  stack: Stack;
  runDir: string;
  o: ChaosOptions;
  progress: (line: string) => void;
  /** Waits ms (shorter when aborted). */
  pause: (ms: number) => Promise<void>;
}

interface Scenario {
  name: string;
  description: string;
  aim: string;
  /** 'none': no failed request at all. 'postgres-loss': cached served; uncached only fast 503 + Retry-After. */
  tolerance: 'none' | 'postgres-loss';
  /** Injects the fault and heals it; returns what it did. */
  run(ctx: ScenarioContext): Promise<Record<string, unknown>>;
}

function pidOf(stack: Stack, name: string): number {
  const pid = stack.pid(name);
  if (pid === undefined) throw new UserError(`${name} is not running`, { hint: 'make status; make up' });
  return pid;
}

/** True while a process with this PID exists (signal 0: nothing is sent). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function restartAfter(ctx: ScenarioContext, name: string, outageMs: number): Promise<Record<string, unknown>> {
  const before = pidOf(ctx.stack, name);
  ctx.progress(`stopping ${name} (pid ${before})`);
  await ctx.stack.stop(name);
  if (outageMs > 0) {
    ctx.progress(`${name} stopped; starting it again in ${outageMs / 1000} s`);
    await ctx.pause(outageMs);
  }
  await ctx.stack.start(name);
  const after = pidOf(ctx.stack, name);
  ctx.progress(`${name} running again (pid ${after})`);
  return { service: name, pidBefore: before, pidAfter: after, stoppedForMs: outageMs };
}

const ZERO_FAILED = 'zero failed requests';
const POSTGRES_AIM =
  'cached reads served; uncached reads only a fast 503 with Retry-After (no 500, no hang); recovers by itself';

export const SCENARIOS: Scenario[] = [
  {
    name: 'nginx-reload',
    description: 'Nginx reloads its configuration (nginx -t, SIGHUP: new workers, the old ones finish their requests)',
    aim: ZERO_FAILED,
    tolerance: 'none',
    async run(ctx) {
      const master = pidOf(ctx.stack, 'nginx');
      const workersBefore = childPids(master);
      // The stack's own reload: config re-rendered, `nginx -t`, SIGHUP; resolves once the old workers exited.
      ctx.progress(`reloading Nginx (master pid ${master})`);
      await ctx.stack.reconfigure('nginx', {});
      const workersAfter = childPids(master);
      return { masterPid: master, workersBefore, workersAfter };
    },
  },
  {
    name: 'rolling-restart',
    description: 'every API replica restarted one by one (SIGTERM, graceful drain), each ready before the next',
    aim: ZERO_FAILED,
    tolerance: 'none',
    async run(ctx) {
      const replicas = ctx.stack.status().filter((s) => s.kind === 'api');
      const before = Object.fromEntries(replicas.map((s) => [s.name, s.pid]));
      await new LocalStackRoller(ctx.runDir).roll(ctx.progress);
      const fresh = Stack.restore({ runDir: ctx.runDir });
      const after = Object.fromEntries(replicas.map((s) => [s.name, fresh.pid(s.name)]));
      return { replicas: replicas.map((s) => s.name), pidsBefore: before, pidsAfter: after };
    },
  },
  {
    name: 'kill-replica',
    description: 'one API replica killed with SIGKILL (no drain), then started again as a supervisor would',
    aim: ZERO_FAILED,
    tolerance: 'none',
    async run(ctx) {
      const victim = ctx.stack.status().find((s) => s.kind === 'api' && s.state === 'running');
      if (!victim?.pid) throw new UserError('no running API replica to kill', { hint: 'make status' });
      process.kill(victim.pid, 'SIGKILL');
      ctx.progress(`SIGKILL sent to ${victim.name} (pid ${victim.pid})`);
      const gone = await waitFor(() => !isAlive(victim.pid!), { timeoutMs: 10_000, intervalMs: 20 });
      if (!gone) throw new UserError(`${victim.name} (pid ${victim.pid}) still exists 10 s after SIGKILL`, {});
      // Nginx must route around the dead replica on its own for a while, as it would in production.
      await ctx.pause(2000);
      await ctx.stack.start(victim.name);
      const replacement = pidOf(ctx.stack, victim.name);
      ctx.progress(`${victim.name} started again (pid ${replacement})`);
      return { replica: victim.name, killedPid: victim.pid, replacementPid: replacement };
    },
  },
  {
    name: 'redis-restart',
    description: 'Redis stopped, then started again (an empty cache unless it persists)',
    aim: 'reads keep being answered (zero failed requests)',
    tolerance: 'none',
    run: (ctx) => restartAfter(ctx, 'redis', ctx.o.redisOutageMs),
  },
  {
    name: 'postgres-restart',
    description: 'PostgreSQL restarted (fast shutdown, then started again at once)',
    aim: POSTGRES_AIM,
    tolerance: 'postgres-loss',
    run: (ctx) => restartAfter(ctx, 'postgres', 0),
  },
  {
    name: 'postgres-outage',
    description: 'PostgreSQL stopped for a while (--postgres-outage), then started again',
    aim: POSTGRES_AIM,
    tolerance: 'postgres-loss',
    run: (ctx) => restartAfter(ctx, 'postgres', ctx.o.postgresOutageMs),
  },
];

export const SCENARIO_NAMES = SCENARIOS.map((s) => s.name);

/** Scenarios named in a comma-separated list (all when empty). @throws UserError naming an unknown one. */
export function selectScenarios(raw: string | undefined): Scenario[] {
  if (!raw) return SCENARIOS;
  return raw.split(',').map((name) => {
    const s = SCENARIOS.find((x) => x.name === name.trim());
    if (!s) throw new UsageError(`unknown scenario '${name}'`, `the scenarios are ${SCENARIO_NAMES.join(', ')}`);
    return s;
  });
}

export interface RunningStack {
  /** Names of the services running (and healthy) now, in start order. */
  running: string[];
  nginxUrl: string;
  /** The environment `make up` rendered the stack for (state.json). */
  environment: string;
  stack: Stack;
}

/**
 * The native stack of `runDir` (make up MODE=native), with `needed` running and every running
 * service healthy: what chaos and soak start from. Changes nothing.
 * @throws UserError naming what is missing or unhealthy, with the command that fixes it.
 */
export async function requireRunningStack(runDir: string, needed: string[]): Promise<RunningStack> {
  const state = readState(runDir);
  if (state?.mode !== 'native') {
    throw new UserError(`no native local stack in ${runDir}`, {
      hint: 'start one: make up MODE=native (or pass --run-dir DIR of a running one)',
    });
  }
  const stack = Stack.restore({ runDir, readOnly: true });
  const running = stack
    .status()
    .filter((s) => s.state === 'running')
    .map((s) => s.name);
  const absent = needed.filter((n) => !running.includes(n));
  if (absent.length > 0)
    throw new UserError(`not running in ${runDir}: ${absent.join(', ')}`, { hint: 'make status; make up MODE=native' });
  const unhealthy: string[] = [];
  for (const n of running) if (!(await stack.healthy(n))) unhealthy.push(n);
  if (unhealthy.length > 0)
    throw new UserError(`not healthy: ${unhealthy.join(', ')}`, {
      hint: `start from a healthy stack: make status; make logs-local SERVICE=${unhealthy[0]}`,
    });
  return { running, nginxUrl: stack.info<{ url: string }>('nginx').url, environment: state.environment, stack };
}

/**
 * Starts again every service of `wanted` that is not running (in start order) and waits until each
 * is healthy; returns the names it had to start. @throws UserError naming a service that stays unhealthy.
 */
export async function restoreServices(runDir: string, wanted: string[]): Promise<string[]> {
  const stack = Stack.restore({ runDir });
  const started: string[] = [];
  for (const s of stack.status()) {
    if (!wanted.includes(s.name) || s.state === 'running') continue;
    await stack.start(s.name);
    started.push(s.name);
  }
  const unhealthy: string[] = [];
  for (const name of wanted) {
    if (!(await waitFor(() => stack.healthy(name), { timeoutMs: 30_000, intervalMs: 250 }))) unhealthy.push(name);
  }
  if (unhealthy.length > 0)
    throw new UserError(`not healthy after the chaos run: ${unhealthy.join(', ')}`, {
      hint: `make status; make logs-local SERVICE=${unhealthy[0]}`,
    });
  return started;
}

async function allHealthy(stack: Stack, names: string[]): Promise<boolean> {
  const results = await Promise.all(names.map((n) => stack.healthy(n)));
  return results.every(Boolean);
}

/**
 * Runs one scenario under load through `nginxUrl`: warm-up, fault, then load until recovered
 * (settleMs with every request served and every service healthy) or recoveryTimeoutMs. Judges
 * the records against the scenario's aim.
 */
export async function runScenario(scenario: Scenario, nginxUrl: string, o: ChaosOptions): Promise<ScenarioResult> {
  const progress = o.progress ?? (() => undefined);
  const pause = async (ms: number): Promise<void> => {
    await waitFor(() => false, { timeoutMs: ms, intervalMs: 50, giveUpIf: () => o.signal?.aborted ?? false });
  };
  const stack = Stack.restore({ runDir: o.runDir });
  const watched = stack
    .status()
    .filter((s) => s.state === 'running')
    .map((s) => s.name);
  const load = new ConstantRateLoad(nginxUrl, readMix(), { rate: o.rate, timeoutMs: o.requestTimeoutMs });
  load.start();
  let details: Record<string, unknown> = {};
  let faultStart = 0;
  let faultEnd = 0;
  let healthyAt: number | undefined;
  const startedAt = new Date();
  let failure: Error | undefined;
  try {
    await pause(o.warmupMs);
    faultStart = load.now();
    startedAt.setTime(Date.now());
    details = await scenario.run({ stack, runDir: o.runDir, o, progress, pause });
    faultEnd = load.now();
    // Recovered: every service healthy and nothing failed during the last settleMs.
    await waitFor(
      async () => {
        const t = load.now();
        if (healthyAt === undefined && (await allHealthy(Stack.restore({ runDir: o.runDir }), watched)))
          healthyAt = load.now();
        if (healthyAt === undefined) return false;
        const lastFailure = load.records.filter((r) => r.sentAt >= faultStart && !isServed(r)).at(-1);
        const quietSince = Math.max(faultEnd, healthyAt, lastFailure ? lastFailure.sentAt + lastFailure.latencyMs : 0);
        return t - quietSince >= o.settleMs;
      },
      { timeoutMs: o.recoveryTimeoutMs, intervalMs: 250, giveUpIf: () => o.signal?.aborted ?? false },
    );
  } catch (err) {
    failure = err instanceof Error ? err : new Error(String(err));
  }
  const records = await load.stop();
  if (failure) throw failure;
  return judge(scenario, records, { faultStart, faultEnd, healthyAt, startedAt, details }, o);
}

function judge(
  scenario: Scenario,
  records: RequestRecord[],
  t: { faultStart: number; faultEnd: number; healthyAt?: number; startedAt: Date; details: Record<string, unknown> },
  o: ChaosOptions,
): ScenarioResult {
  const served = (r: RequestRecord): boolean => isServed(r);
  const after = records.filter((r) => r.sentAt >= t.faultStart);
  const lastFailure = after.filter((r) => !served(r)).at(-1);
  const quietSince =
    t.healthyAt === undefined
      ? undefined
      : Math.max(t.faultEnd, t.healthyAt, lastFailure ? lastFailure.sentAt + lastFailure.latencyMs : 0);
  const end = records.length ? Math.max(...records.map((r) => r.sentAt)) : 0;
  const recovered = quietSince !== undefined && end - quietSince >= o.settleMs * 0.9;
  const during = after.filter((r) => quietSince === undefined || r.sentAt <= quietSince);
  const summary = summarize(records);
  const cached = records.filter((r) => r.kind === 'cached');
  const uncached = records.filter((r) => r.kind === 'uncached');
  const unavailable = records.filter((r) => r.status === 503);
  const without = unavailable.filter((r) => !r.retryAfter).length;
  const slow503 = unavailable.filter((r) => r.latencyMs > o.fast503Ms).length;
  const missed: string[] = [];
  const list = (s: LoadSummary): string =>
    Object.entries(s.failedByStatus)
      .map(([k, v]) => `${v}× ${k}`)
      .join(', ');
  if (scenario.tolerance === 'none') {
    if (summary.failed > 0) missed.push(`${summary.failed} failed requests (${list(summary)}); aim: none`);
  } else {
    const c = summarize(cached);
    if (c.failed > 0) missed.push(`${c.failed} cached reads failed (${list(c)}); aim: all served`);
    const wrong = uncached.filter((r) => !served(r) && r.status !== 503);
    if (wrong.length > 0)
      missed.push(
        `${wrong.length} uncached reads failed otherwise than 503 (${list(summarize(wrong))}); aim: 503 only`,
      );
    if (without > 0) missed.push(`${without} answers 503 without Retry-After`);
    if (slow503 > 0) missed.push(`${slow503} answers 503 slower than ${o.fast503Ms} ms (not fast)`);
  }
  if (!recovered)
    missed.push(
      `not recovered within ${o.recoveryTimeoutMs / 1000} s of the fault's end (services healthy and ${o.settleMs / 1000} s without a failure)`,
    );
  const p99During = summarize(during).p99Ms;
  if (o.maxP99Ms !== undefined && (p99During === null || p99During > o.maxP99Ms))
    missed.push(`p99 during the event ${p99During ?? '–'} ms; aim: below ${o.maxP99Ms} ms`);
  return {
    scenario: scenario.name,
    description: scenario.description,
    aim: scenario.aim + (o.maxP99Ms !== undefined ? `; p99 during < ${o.maxP99Ms} ms` : ''),
    startedAt: t.startedAt.toISOString(),
    faultMs: Math.round(t.faultEnd - t.faultStart),
    details: t.details,
    requests: { ...summary, cached: summarize(cached), uncached: summarize(uncached) },
    p99BeforeMs: summarize(records.filter((r) => r.sentAt < t.faultStart)).p99Ms,
    p99DuringMs: p99During,
    unavailableWithoutRetryAfter: without,
    slow503,
    recovered,
    recoveryMs: recovered && quietSince !== undefined ? Math.round(quietSince - t.faultEnd) : null,
    aimMet: missed.length === 0,
    missed,
  };
}

/** One line per scenario for the table. */
export function tableRow(r: ScenarioResult): Record<string, string | number> {
  const failed = Object.entries(r.requests.failedByStatus)
    .map(([k, v]) => `${v}×${k}`)
    .join(' ');
  return {
    scenario: r.scenario,
    sent: r.requests.sent,
    failed: r.requests.failed === 0 ? '0' : `${r.requests.failed} (${failed})`,
    retried: r.requests.retriedOnClosedConnection,
    'p99 before': r.p99BeforeMs === null ? '–' : `${r.p99BeforeMs} ms`,
    'p99 during': r.p99DuringMs === null ? '–' : `${r.p99DuringMs} ms`,
    fault: `${(r.faultMs / 1000).toFixed(1)} s`,
    recovery: r.recoveryMs === null ? 'NOT RECOVERED' : `${(r.recoveryMs / 1000).toFixed(1)} s`,
    aim: r.aimMet ? 'met' : 'MISSED',
  };
}
