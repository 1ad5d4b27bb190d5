// Where an alert's links point. Every alert carries `runbook_url` (a file in docs/runbooks/ of
// this repository) and `dashboard_url` (a provisioned Grafana dashboard, by uid). The two bases
// live here once: the generated SLO rules use them, and test/monitoring checks the hand-written
// rules in prometheus/rules/ use the same bases and point at files and uids that exist.

/** Where docs/runbooks/ of this repository is browsed (GitHub). */
export const RUNBOOK_BASE_URL = 'https://github.com/mytelevision/mytv-api/blob/main/docs/runbooks';

/** The Grafana that provisions grafana/dashboards (one Grafana; dashboards filter by `env`). */
export const GRAFANA_BASE_URL = 'https://grafana.mytelevision.app';

/** Repository folder of the runbooks, one `<AlertName>.md` per alert. */
export const RUNBOOK_DIR = 'docs/runbooks';

export function runbookUrl(alertname: string): string {
  return `${RUNBOOK_BASE_URL}/${alertname}.md`;
}

/** Grafana's short dashboard URL form: /d/<uid>. */
export function dashboardUrl(uid: string): string {
  return `${GRAFANA_BASE_URL}/d/${uid}`;
}

/** Dashboard uids (grafana/dashboards/*.json); alerts and dashboards both take them from here. */
export const DASHBOARD_UIDS = {
  apiOverview: 'mytv-api-overview',
  slo: 'mytv-slo',
  nodejs: 'mytv-nodejs',
  postgres: 'mytv-postgres',
  redis: 'mytv-redis',
  nginx: 'mytv-nginx',
  backups: 'mytv-backups',
  meta: 'mytv-monitoring',
} as const;
