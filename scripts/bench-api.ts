// make bench-api: seeds data, starts the built API against real PostgreSQL and Redis, and drives
// the cached read endpoints with autocannon next to a bare node:http hello-world baseline.
// Prints RPS and p50/p95/p99 per target, the ratio to the baseline, and p95 at half the app's
// maximum rate. Every process it starts is stopped, also on failure or Ctrl-C.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { runMigrations } from '../app/src/db/migrator.js';
import { seedDatabase } from '../app/src/db/seed.js';
import { appBuildReason, buildApp } from './lib/app-build.js';
import { intOption } from './lib/cli.js';
import { UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import { renderTable } from './lib/output.js';
import { repoRoot } from './lib/paths.js';
import { freePort, startServices, type Stack } from './lib/services/index.js';

interface AutocannonResult {
  requests: { average: number; total: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
}
interface AutocannonInstance {
  on(event: 'response', fn: (client: unknown, status: number, bytes: number, ms: number) => void): void;
  then: Promise<AutocannonResult>['then'];
}
type Autocannon = (opts: Record<string, unknown>) => AutocannonInstance;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

interface Measurement {
  target: string;
  path: string;
  mode: 'max' | 'half-rate';
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
  non2xx: number;
  ratio?: number;
  /** Lowest and highest req/s over the rounds (max mode). */
  rpsRange?: [number, number];
}

/** The middle element by key (the lower middle for an even count). */
function medianBy<T>(items: T[], key: (t: T) => number): T {
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

const APP_DIR = path.join(repoRoot, 'app');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function drive(url: string, opts: { connections: number; duration: number; rate?: number }) {
  const latencies: number[] = [];
  const instance = autocannon({
    url,
    connections: opts.connections,
    duration: opts.duration,
    // Per-connection pacing spreads the load over the second (overallRate sends it in bursts).
    ...(opts.rate ? { connectionRate: Math.max(1, Math.floor(opts.rate / opts.connections)) } : {}),
  });
  instance.on('response', (_c, _s, _b, ms) => latencies.push(ms));
  const result = await instance;
  latencies.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    rps: Math.round(result.requests.total / (result.duration || opts.duration)),
    p50: round(percentile(latencies, 50)),
    p95: round(percentile(latencies, 95)),
    p99: round(percentile(latencies, 99)),
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

async function waitForHttp(url: string, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new UserError(`${what} exited with code ${child.exitCode} before it was ready`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not yet
    }
    await sleep(100);
  }
  throw new UserError(`${what} did not answer ${url} within 90 s`);
}

// The baseline is a bare hello-world. A second reference serves, from the same kind of
// bare server, the exact bytes of a cached /v2/channels response: what is left between it and the
// app is the framework's cost, not the payload's or the load generator's (autocannon parses every
// body in JS: on 8.6 KB bodies it alone costs ~25 % of the rate).
const BASELINE_SOURCE = `const body = process.env.BODY_B64 ? Buffer.from(process.env.BODY_B64, 'base64') : Buffer.from('hello world');
require('node:http').createServer((q, r) => { r.writeHead(200, { 'content-type': process.env.BODY_B64 ? 'application/json' : 'text/plain' }); r.end(body); }).listen(Number(process.env.PORT), '127.0.0.1');`;

await runScript(
  {
    summary: 'Benchmark the cached read endpoints of the built API against a node:http baseline.',
    usage: 'make bench-api [BENCH_ARGS="--duration 10 --connections 50"] | scripts/bench-api.ts [--json]',
    options: {
      connections: { type: 'string' },
      duration: { type: 'string' },
      channels: { type: 'string' },
      rounds: { type: 'string' },
      'cpu-prof': { type: 'string' },
    },
    optionsHelp: [
      '  --connections N   concurrent connections (default 50)',
      '  --duration S      seconds per measurement (default 10)',
      '  --channels N      seeded channels (default 50)',
      '  --rounds N        baseline and app measured in turn N times; medians reported (default 3)',
      '  --cpu-prof DIR    write a V8 CPU profile of the API (node --cpu-prof) into DIR',
    ].join('\n'),
  },
  async ({ values, out, flags, exec }) => {
    const connections = intOption(values['connections'], 'connections', { default: 50, min: 1, max: 1000 });
    const duration = intOption(values['duration'], 'duration', { default: 10, min: 1, max: 600 });
    const channels = intOption(values['channels'], 'channels', { default: 50, min: 1, max: 10_000 });
    const rounds = intOption(values['rounds'], 'rounds', { default: 3, min: 1, max: 20 });
    const children: ChildProcess[] = [];
    let stack: Stack | undefined;
    const stopChildren = async () => {
      await Promise.all(
        children.map(async (c) => {
          if (c.exitCode !== null || c.signalCode !== null) return;
          const gone = new Promise((r) => c.once('exit', r));
          c.kill('SIGTERM');
          await Promise.race([gone, sleep(5000).then(() => c.kill('SIGKILL'))]);
        }),
      );
    };
    const onExit = () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL'));
    process.once('exit', onExit);
    try {
      const buildReason = appBuildReason();
      if (buildReason) {
        out.step(`building the app (${buildReason})`);
        await buildApp(exec);
      }
      out.step('starting PostgreSQL and Redis');
      stack = await startServices(['postgres', 'redis']);
      const pgUrl = stack.info<{ url: string }>('postgres').url;
      const redisUrl = stack.info<{ url: string }>('redis').url;
      await runMigrations(pgUrl);
      const seeded = await seedDatabase(pgUrl, { channels });
      out.ok(`seeded ${seeded.channels} channels, ${seeded.programmes} programmes`);

      const [basePort, appPort] = [await freePort(), await freePort()];
      const baseline = spawn(process.execPath, ['-e', BASELINE_SOURCE], {
        env: { PORT: String(basePort) },
        stdio: 'ignore',
      });
      children.push(baseline);
      const cpuProf = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(values['cpu-prof'])] : [];
      const app = spawn(process.execPath, ['--no-warnings', ...cpuProf, path.join(APP_DIR, 'dist', 'main.js')], {
        env: {
          PATH: process.env.PATH ?? '',
          NODE_ENV: 'production',
          HOST: '127.0.0.1',
          PORT: String(appPort),
          LOG_LEVEL: 'info',
          DATABASE_URL: pgUrl,
          REDIS_URL: redisUrl,
          R2_ENDPOINT: 'http://127.0.0.1:9',
          R2_BUCKET: 'bench-logos',
          R2_ACCESS_KEY_ID: 'bench',
          R2_SECRET_ACCESS_KEY: 'bench',
          JWT_SECRET: 'bench-secret-bench-secret-bench-secret',
          SHUTDOWN_PRESTOP_DELAY_MS: '0',
          SHUTDOWN_DRAIN_TIMEOUT_MS: '2000',
        },
        stdio: ['ignore', 'ignore', 'inherit'], // access logs are written (as in production), not kept
      });
      children.push(app);
      const baseUrl = `http://127.0.0.1:${basePort}`;
      const appUrl = `http://127.0.0.1:${appPort}`;
      await waitForHttp(`${baseUrl}/`, baseline, 'baseline server');
      await waitForHttp(`${appUrl}/health/ready`, app, 'API');
      const channelsBody = Buffer.from(await (await fetch(`${appUrl}/v2/channels`)).arrayBuffer());
      const payloadPort = await freePort();
      const payloadBaseline = spawn(process.execPath, ['-e', BASELINE_SOURCE], {
        env: { PORT: String(payloadPort), BODY_B64: channelsBody.toString('base64') },
        stdio: 'ignore',
      });
      children.push(payloadBaseline);
      await waitForHttp(`http://127.0.0.1:${payloadPort}/`, payloadBaseline, 'same-body baseline server');

      const targets = [
        { target: 'baseline node:http', url: `${baseUrl}/`, path: '/' },
        {
          target: `node:http, same ${channelsBody.length} B body`,
          url: `http://127.0.0.1:${payloadPort}/`,
          path: 'same-body',
        },
        { target: 'api channels (cached)', url: `${appUrl}/v2/channels`, path: '/v2/channels' },
        { target: 'api now/next (cached)', url: `${appUrl}/v2/now-next`, path: '/v2/now-next' },
      ];
      // The baseline and the app are measured in turn, round after round, and each round's app figure
      // is divided by the same round's baseline: on a shared 2-core VM a single run of each swings
      // too much (the baseline alone moved between 25k and 49k req/s in consecutive runs).
      for (const t of targets) await drive(t.url, { connections: 10, duration: 1 }); // warm-up: JIT, pool, cache
      const byPath = new Map<string, Measurement[]>(targets.map((t) => [t.path, []]));
      for (let round = 1; round <= rounds; round++) {
        for (const t of targets) {
          out.step(`round ${round}/${rounds}: ${t.target}, ${connections} connections for ${duration}s`);
          byPath
            .get(t.path)!
            .push({ target: t.target, path: t.path, mode: 'max', ...(await drive(t.url, { connections, duration })) });
        }
      }
      const baseRounds = byPath.get(targets[0].path)!;
      const results: Measurement[] = targets.map((t) => {
        const runs = byPath.get(t.path)!;
        const ratios = runs.map((m, i) => m.rps / baseRounds[i].rps);
        const rps = runs.map((m) => m.rps);
        return {
          ...medianBy(runs, (m) => m.rps),
          ratio: Math.round(medianBy(ratios, (r) => r) * 1000) / 1000,
          rpsRange: [Math.min(...rps), Math.max(...rps)] as [number, number],
        };
      });
      const apiTargets = targets.filter((t) => t.path.startsWith('/v2/'));
      for (const t of apiTargets) {
        const max = results.find((r) => r.path === t.path && r.mode === 'max')!.rps;
        out.step(`${t.target}: at half of its maximum (${Math.floor(max / 2)} req/s)`);
        results.push({
          target: t.target,
          path: t.path,
          mode: 'half-rate',
          ...(await drive(t.url, { connections, duration, rate: max / 2 })),
        });
      }

      const verdict = apiTargets.map((t) => {
        const max = results.find((r) => r.path === t.path && r.mode === 'max')!;
        const half = results.find((r) => r.path === t.path && r.mode === 'half-rate')!;
        return {
          path: t.path,
          ratioOk: (max.ratio ?? 0) >= 0.4,
          p95AtHalfOk: half.p95 < 10,
          errorsOk: max.errors === 0 && max.non2xx === 0 && half.errors === 0 && half.non2xx === 0,
        };
      });
      const report = { connections, duration, rounds, channels, results, verdict, node: process.version };
      if (flags.json) {
        out.data(report);
      } else {
        out.line();
        out.line(
          renderTable(
            results.map((r) => ({
              target: r.target,
              mode: r.mode,
              'req/s': r.rps,
              'range (rounds)': r.rpsRange ? `${r.rpsRange[0]}–${r.rpsRange[1]}` : '',
              'p50 ms': r.p50,
              'p95 ms': r.p95,
              'p99 ms': r.p99,
              'vs baseline (median)': r.mode === 'max' ? `${Math.round((r.ratio ?? 0) * 100)} %` : '',
              errors: r.errors + r.non2xx,
            })),
          ),
        );
        for (const v of verdict) {
          out.line(
            `${v.path}: ${v.ratioOk ? 'OK' : 'BELOW'} >= 40 % of baseline; ${v.p95AtHalfOk ? 'OK' : 'ABOVE'} p95 < 10 ms at half rate; ${v.errorsOk ? 'no errors' : 'ERRORS'}`,
          );
        }
      }
      if (verdict.some((v) => !v.errorsOk)) throw new UserError('requests failed during the benchmark');
    } finally {
      await stopChildren();
      await stack?.stopAll();
      process.removeListener('exit', onExit);
    }
  },
);
