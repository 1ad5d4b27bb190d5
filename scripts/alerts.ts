// make alerts ENV=…: what is firing in the environment's Alertmanager (active, silenced, inhibited).
import { loadEnvironment } from './lib/environments.js';
import { runScript } from './lib/main.js';
import { AlertmanagerClient, monitoringUrl } from './lib/monitoring/api.js';

function age(since: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

await runScript(
  {
    summary: "List the alerts in an environment's Alertmanager: firing, silenced or inhibited.",
    usage: 'make alerts ENV=dev|staging|prod [JSON=1] [ARGS=--active]',
    options: { active: { type: 'boolean' } },
    optionsHelp: '      --active     only alerts that notify (not silenced, not inhibited)',
  },
  async ({ flags, values, out }) => {
    const env = loadEnvironment(flags.env);
    const am = new AlertmanagerClient(monitoringUrl(env, 'alertmanager'));
    const all = await am.alerts();
    const shown = values.active ? all.filter((a) => a.status.state === 'active') : all;
    const rows = shown
      .map((a) => ({
        alertname: a.labels.alertname,
        severity: a.labels.severity ?? '',
        service: a.labels.service ?? '',
        state: a.status.silencedBy.length ? 'silenced' : a.status.inhibitedBy.length ? 'inhibited' : a.status.state,
        since: a.startsAt,
        for: age(a.startsAt),
        receivers: a.receivers.map((r) => r.name).join(','),
        summary: a.annotations.summary ?? '',
        labels: a.labels,
        runbook_url: a.annotations.runbook_url ?? '',
      }))
      .sort((x, y) => x.severity.localeCompare(y.severity) || x.alertname.localeCompare(y.alertname));
    if (flags.json) {
      out.data(rows);
      return;
    }
    out.heading(`Alerts in ${env.name} (${am.baseUrl})`);
    if (rows.length === 0) out.line('none');
    else out.table(rows, ['alertname', 'severity', 'service', 'state', 'for', 'receivers', 'summary']);
    const watchdog = all.some((a) => a.labels.alertname === 'Watchdog');
    if (!watchdog)
      out.warn('the Watchdog is not firing: the path Prometheus → Alertmanager is broken (docs/runbooks/Watchdog.md)');
  },
);
