// make chaos: faults injected one at a time into the running native local stack (make up
// MODE=native, or --run-dir), under steady read load through Nginx; per scenario the requests
// sent, failed ones by status, p99 before and during the event, time to full recovery, and
// whether the aim of issue 15 is met. The stack is left as it was found, also on failure or Ctrl-C.
//   preflight: options, a native stack in the run directory, every service running and healthy
//   plan:      the scenarios and the load (printed; --dry-run stops here)
//   act:       each scenario: warm-up, fault, load until recovered
//   verify:    every service that ran before runs and is healthy again (restarted if needed)
//   report:    table or --json; --check exits 1 when an aim was missed
import { intOption } from './lib/cli.js';
import {
  requireRunningStack,
  restoreServices,
  runScenario,
  selectScenarios,
  SCENARIO_NAMES,
  tableRow,
  type ChaosOptions,
  type ScenarioResult,
} from './lib/chaos.js';
import { UserError } from './lib/errors.js';
import { runDirFrom } from './lib/local-stack/state.js';
import { runScript } from './lib/main.js';
import { parseDuration } from './lib/monitoring/api.js';
import { warnAboveRateLimit } from './lib/load.js';

await runScript(
  {
    summary: 'Inject faults into the running native local stack under load through Nginx, one at a time; report each.',
    usage: 'make chaos [SCENARIO=name[,name]] [ARGS="--rate=40 --postgres-outage=30s --check"] [JSON=1]',
    options: {
      scenario: { type: 'string' },
      rate: { type: 'string' },
      warmup: { type: 'string' },
      settle: { type: 'string' },
      'recovery-timeout': { type: 'string' },
      'redis-outage': { type: 'string' },
      'postgres-outage': { type: 'string' },
      'fast-503-ms': { type: 'string' },
      'request-timeout-ms': { type: 'string' },
      'max-p99-ms': { type: 'string' },
      check: { type: 'boolean' },
      'run-dir': { type: 'string' },
    },
    optionsHelp: [
      `      --scenario=A,B         only these (default all, in order): ${SCENARIO_NAMES.join(', ')}`,
      '      --rate=N               requests per second through Nginx (default 40; dev Nginx limits 50/s per client)',
      '      --warmup=DUR           load before each fault (default 5s)',
      '      --settle=DUR           recovered = this long with every request served and every service healthy (default 5s)',
      '      --recovery-timeout=DUR not recovered by then = aim missed (default 60s)',
      '      --redis-outage=DUR     how long Redis stays stopped (default 10s)',
      '      --postgres-outage=DUR  how long PostgreSQL stays stopped in postgres-outage (default 30s)',
      '      --fast-503-ms=N        a 503 slower than this is not "fast" (default 3000)',
      '      --request-timeout-ms=N a request unanswered this long is a hang (default 10000)',
      '      --max-p99-ms=N         also an aim: p99 during each event below N ms (default: no such aim)',
      '      --check                exit 1 when a scenario misses its aim',
      '      --run-dir DIR          the native stack to use (default .run/, or MYTV_RUN_DIR)',
    ].join('\n'),
  },
  async ({ values, flags, out }) => {
    // --- preflight
    const scenarios = selectScenarios((values.scenario as string | undefined) ?? process.env.SCENARIO);
    const seconds = (name: string, fallback: string): number =>
      parseDuration((values[name] as string | undefined) ?? fallback, `--${name}`) * 1000;
    const o: ChaosOptions = {
      runDir: runDirFrom(values),
      rate: intOption(values.rate, 'rate', { default: 40, min: 1, max: 5000 }),
      warmupMs: seconds('warmup', '5s'),
      settleMs: seconds('settle', '5s'),
      recoveryTimeoutMs: seconds('recovery-timeout', '60s'),
      redisOutageMs: seconds('redis-outage', '10s'),
      postgresOutageMs: seconds('postgres-outage', '30s'),
      fast503Ms: intOption(values['fast-503-ms'], 'fast-503-ms', { default: 3000, min: 1, max: 60_000 }),
      requestTimeoutMs: intOption(values['request-timeout-ms'], 'request-timeout-ms', {
        default: 10_000,
        min: 100,
        max: 120_000,
      }),
      maxP99Ms:
        values['max-p99-ms'] === undefined
          ? undefined
          : intOption(values['max-p99-ms'], 'max-p99-ms', { default: 0, min: 1, max: 600_000 }),
    };
    const {
      running: names,
      nginxUrl,
      environment,
      stack,
    } = await requireRunningStack(o.runDir, ['nginx', 'postgres', 'redis']);
    const replicas = stack.status().filter((s) => s.kind === 'api');
    const runningReplicas = replicas.filter((s) => s.state === 'running').length;
    if (runningReplicas < 2)
      throw new UserError(
        `${runningReplicas} of ${replicas.length} API replicas run: a replica fault would take the API down`,
        {
          hint:
            replicas.length >= 2
              ? 'start the stopped replicas: make up'
              : `set api.replicas ≥ 2 in environments/${environment}.yaml, then make up`,
        },
      );
    warnAboveRateLimit(out, environment, o.rate);

    // --- plan
    out.heading(`Chaos on the native stack in ${o.runDir} (${names.length} services), load through ${nginxUrl}:`);
    out.line(
      `  ${o.rate} GET/s (cached list, now/next, one channel; an uncached schedule window), warm-up ${o.warmupMs / 1000} s, recovered after ${o.settleMs / 1000} s clean (limit ${o.recoveryTimeoutMs / 1000} s)`,
    );
    out.table(scenarios.map((s) => ({ scenario: s.name, fault: s.description, aim: s.aim })));
    if (flags.dryRun) {
      out.line('dry run: no fault injected');
      return;
    }

    // --- act (Ctrl-C: the running scenario stops early, the stack is restored below)
    const abort = new AbortController();
    const onSigint = (): void => {
      out.warn('interrupted: stopping the scenario and restoring the stack (Ctrl-C again to quit at once)');
      abort.abort();
      process.once('SIGINT', () => process.exit(130));
    };
    process.once('SIGINT', onSigint);
    const results: ScenarioResult[] = [];
    let failure: Error | undefined;
    try {
      for (const scenario of scenarios) {
        if (abort.signal.aborted) break;
        const result = await out.task(scenario.name, (update) =>
          runScenario(scenario, nginxUrl, { ...o, progress: update, signal: abort.signal }),
        );
        results.push(result);
        // The next scenario starts from the stack as it was (a failed restart is caught here).
        const restarted = await restoreServices(o.runDir, names);
        if (restarted.length > 0) out.warn(`restarted after ${scenario.name}: ${restarted.join(', ')}`);
      }
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
    } finally {
      process.removeListener('SIGINT', onSigint);
      // --- verify: everything that ran before runs again and is healthy
      try {
        const restarted = await restoreServices(o.runDir, names);
        if (restarted.length > 0) out.warn(`restarted to leave the stack as it was: ${restarted.join(', ')}`);
      } catch (err) {
        failure ??= err instanceof Error ? err : new Error(String(err));
      }
    }
    if (failure) throw failure;
    if (abort.signal.aborted) throw new UserError('interrupted; the stack is as it was before', {});

    // --- report
    if (flags.json) out.data({ runDir: o.runDir, nginxUrl, rate: o.rate, scenarios: results });
    else {
      out.table(results.map(tableRow));
      for (const r of results.filter((x) => !x.aimMet)) out.warn(`${r.scenario}: ${r.missed.join('; ')}`);
    }
    const missed = results.filter((r) => !r.aimMet);
    if (missed.length > 0 && values.check) {
      throw new UserError(`aim missed by ${missed.map((r) => r.scenario).join(', ')}`, {
        hint: 'see the table (or --json); the stack is as it was before',
      });
    }
    if (!flags.json) {
      out.ok(
        missed.length === 0
          ? `${results.length} scenarios, every aim met; the stack is as it was`
          : `${results.length} scenarios, ${missed.length} missed an aim; the stack is as it was`,
      );
    }
  },
);
