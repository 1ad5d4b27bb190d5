// make slo-report ENV=… [WINDOW=30d]: the environment's SLIs over the window, from its Prometheus,
// against the SLA in environments/<env>.yaml (availability, P95, error rate, budget, burn rate).
import { loadEnvironment } from './lib/environments.js';
import { UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import { monitoringUrl, parseDuration, PrometheusClient } from './lib/monitoring/api.js';
import { sloReport } from './lib/monitoring/slo-report.js';

await runScript(
  {
    summary: "Report an environment's SLIs over a window against its SLA (from its Prometheus).",
    usage: 'make slo-report ENV=dev|staging|prod [WINDOW=30d] [JSON=1]',
    options: { window: { type: 'string' } },
    optionsHelp: '      --window=DUR  Prometheus duration of the window (default 30d; or WINDOW=)',
  },
  async ({ flags, values, out }) => {
    const env = loadEnvironment(flags.env);
    const window = ((values.window as string | undefined) ?? process.env.WINDOW ?? '') || '30d';
    parseDuration(window, 'WINDOW');
    const prom = new PrometheusClient(monitoringUrl(env, 'prometheus'));
    const report = await sloReport(env, prom, window);
    if (flags.json) {
      out.data(report);
    } else {
      out.heading(
        `SLO report — ${env.name}, last ${window} (${prom.baseUrl}), ${report.requests === null ? 'no' : Math.round(report.requests)} requests`,
      );
      out.table(
        report.rows.map((r) => ({ indicator: r.indicator, value: r.shown, target: r.target, status: r.status })),
      );
    }
    const breaches = report.rows.filter((r) => r.status === 'breach');
    if (report.requests === null || report.requests === 0) {
      throw new UserError(`no API requests in the last ${window} in ${env.name}'s Prometheus`, {
        hint: 'is the API scraped (make status, the Prometheus targets page)? try a longer WINDOW',
      });
    }
    if (breaches.length) {
      throw new UserError(`${breaches.map((b) => b.indicator).join(', ')} outside the SLA over ${window}`, {
        hint: 'see the SLO dashboard and docs/runbooks/ApiAvailabilityBudgetBurn.md / ApiLatencyBudgetBurn.md',
      });
    }
    if (!flags.json) out.ok(`within the SLA over ${window}`);
  },
);
