// make check-monitoring: every static check of prometheus/, alertmanager/ and grafana/ — promtool
// (config per environment, rules, unit tests), amtool (config, routes), alerts' labels/links/tests,
// dashboards (uids, datasources, PromQL/LogQL grammar), Loki's recording rules (LogQL metric queries
// whose names the alerts read). Exits 1 naming what failed.
import { UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import { allMonitoringChecks } from './lib/monitoring/checks.js';
import { checkLokiRules } from './lib/monitoring/loki-rules.js';

await runScript(
  {
    summary: 'Run every static check of the monitoring configs (promtool, amtool, alerts, dashboards).',
    usage: 'make check-monitoring [JSON=1]',
  },
  async ({ flags, out }) => {
    const results = await out.task('promtool, amtool, alert metadata, dashboards, Loki rules', async () => [
      ...(await allMonitoringChecks()),
      ...checkLokiRules(),
    ]);
    if (flags.json) out.data(results);
    else
      out.table(
        results.map((r) => ({ check: r.check, target: r.target, result: r.ok ? 'ok' : 'FAIL', detail: r.detail })),
      );
    const failed = results.filter((r) => !r.ok);
    if (failed.length) {
      throw new UserError(
        `${failed.length} of ${results.length} monitoring checks failed: ${failed.map((f) => f.target).join(', ')}`,
        {
          hint: 'each FAIL line says what is wrong; generated files: make generate',
        },
      );
    }
    if (!flags.json) out.ok(`${results.length} monitoring checks passed`);
  },
);
