// make soak DURATION=10m RPS=20: steady read load through Nginx on the running native local stack,
// then availability and P95 over that window from the stack's Prometheus, against the SLA.
//   preflight: options, a healthy native stack with Nginx and Prometheus, the window ≥ two scrapes
//   act:       the load, with progress
//   verify:    Prometheus's SLIs over the window (and the client's own count beside them)
//   report:    table or --json; --check exits 1 when the SLA is missed. Changes nothing.
import { requireRunningStack } from './lib/chaos.js';
import { intOption } from './lib/cli.js';
import { loadEnvironment } from './lib/environments.js';
import { UserError } from './lib/errors.js';
import { warnAboveRateLimit } from './lib/load.js';
import { runDirFrom } from './lib/local-stack/state.js';
import { runScript } from './lib/main.js';
import { parseDuration } from './lib/monitoring/api.js';
import { runSoak } from './lib/soak.js';

await runScript(
  {
    summary:
      'Steady load through Nginx on the native local stack, then availability and P95 from its Prometheus vs the SLA.',
    usage: 'make soak [DURATION=10m] [RPS=20] [ARGS=--check] [JSON=1]',
    options: {
      duration: { type: 'string' },
      rps: { type: 'string' },
      'request-timeout-ms': { type: 'string' },
      check: { type: 'boolean' },
      'run-dir': { type: 'string' },
    },
    optionsHelp: [
      '      --duration=DUR         how long the load runs (default 10m; or DURATION=); at least two scrape intervals',
      '      --rps=N                requests per second through Nginx (default 20; or RPS=)',
      '      --request-timeout-ms=N a request unanswered this long counts as failed (default 10000)',
      '      --check                exit 1 when availability or P95 misses the SLA',
      '      --run-dir DIR          the native stack to use (default .run/, or MYTV_RUN_DIR)',
    ].join('\n'),
  },
  async ({ values, flags, out }) => {
    // --- preflight
    const durationS = parseDuration(
      ((values.duration as string | undefined) ?? process.env.DURATION ?? '') || '10m',
      'DURATION',
    );
    const rate = intOption(values.rps ?? process.env.RPS, 'rps', {
      default: 20,
      min: 1,
      max: 5000,
    });
    const requestTimeoutMs = intOption(values['request-timeout-ms'], 'request-timeout-ms', {
      default: 10_000,
      min: 100,
      max: 120_000,
    });
    const runDir = runDirFrom(values);
    const { nginxUrl, environment, stack } = await requireRunningStack(runDir, ['nginx', 'prometheus']);
    const env = loadEnvironment(environment);
    const prometheusUrl = stack.info<{ url: string }>('prometheus').url;
    warnAboveRateLimit(out, environment, rate);
    out.heading(
      `Soak: ${rate} GET/s through ${nginxUrl} for ${durationS} s, then the SLIs from ${prometheusUrl} (SLA of ${env.name})`,
    );
    if (flags.dryRun) {
      out.line('dry run: no load sent');
      return;
    }

    // --- act + verify
    const abort = new AbortController();
    const onSigint = (): void => abort.abort();
    process.once('SIGINT', onSigint);
    const report = await out
      .task('soak', (update) =>
        runSoak(env, {
          nginxUrl,
          prometheusUrl,
          durationS,
          rate,
          requestTimeoutMs,
          progress: update,
          signal: abort.signal,
        }),
      )
      .finally(() => process.removeListener('SIGINT', onSigint));

    // --- report
    if (flags.json) out.data(report);
    else {
      const c = report.client;
      out.line(
        `client: ${c.sent} sent, ${c.failed} failed${
          c.failed
            ? ` (${Object.entries(c.failedByStatus)
                .map(([k, v]) => `${v}×${k}`)
                .join(', ')})`
            : ''
        }, p95 ${c.p95Ms ?? '–'} ms, p99 ${c.p99Ms ?? '–'} ms; the API counted ${report.apiRequests ?? 'no'} requests over ${report.window}`,
      );
      out.table(
        report.sla.map((r) => ({
          indicator: r.indicator,
          'prometheus (window)': r.shown,
          SLA: r.target,
          status: r.status,
        })),
      );
    }
    if (!report.slaMet && values.check) {
      throw new UserError(
        `SLA missed over the soak: ${report.sla
          .filter((r) => r.status !== 'ok')
          .map((r) => `${r.indicator} ${r.shown} (${r.status})`)
          .join(', ')}`,
        { hint: 'make logs-local LEVEL=error; make logs-slow' },
      );
    }
    if (!flags.json) out.ok(report.slaMet ? 'within the SLA over the soak' : 'soak done; the SLA was NOT met');
  },
);
