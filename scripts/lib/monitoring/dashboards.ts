// Grafana dashboards (grafana/dashboards/*.json), described compactly here and rendered by
// `make generate` into Grafana's dashboard JSON model (schemaVersion 39). Datasources are referred
// to by the fixed uids of grafana/provisioning/datasources (never a ${DS_…} import placeholder), and
// every uid is one of links.ts DASHBOARD_UIDS, which the alerts' dashboard_url use.
import { DASHBOARD_UIDS } from './links.js';

export const DATASOURCES = {
  prometheus: { type: 'prometheus', uid: 'prometheus' },
  loki: { type: 'loki', uid: 'loki' },
  alertmanager: { type: 'alertmanager', uid: 'alertmanager' },
} as const;

type Unit = 'reqps' | 'percentunit' | 's' | 'bytes' | 'short' | 'ops' | 'none' | 'dtdurations';

export interface PanelSpec {
  title: string;
  kind: 'timeseries' | 'stat' | 'logs';
  /** PromQL (kind timeseries/stat) or LogQL (kind logs), with its legend. */
  queries: { expr: string; legend?: string }[];
  unit?: Unit;
  description?: string;
  /** Grid width (of 24); default 12 (stat 6, logs 24). */
  width?: number;
}

export interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  panels: PanelSpec[];
}

const API = 'job="api"';
const SLI = 'job="api",route!~"/health.*|/metrics"';

export const DASHBOARDS: DashboardSpec[] = [
  {
    uid: DASHBOARD_UIDS.apiOverview,
    title: 'MyTV API — overview',
    description: 'Traffic, errors, latency and dependencies of the API replicas.',
    tags: ['mytv', 'api'],
    panels: [
      { title: 'Replicas scraped', kind: 'stat', queries: [{ expr: `sum(up{${API}})` }], unit: 'short' },
      {
        title: 'Replicas ready',
        kind: 'stat',
        queries: [{ expr: 'sum(probe_success{job="api-readiness"})' }],
        unit: 'short',
        description: 'Blackbox probe of each replica /health/ready.',
      },
      {
        title: 'Requests in flight',
        kind: 'stat',
        queries: [{ expr: `sum(http_requests_in_flight{${API}})` }],
        unit: 'short',
      },
      {
        title: 'Redis connected (min over replicas)',
        kind: 'stat',
        queries: [{ expr: `min(app_redis_up{${API}})` }],
        unit: 'short',
      },
      {
        title: 'Requests per second by route',
        kind: 'timeseries',
        queries: [
          { expr: `sum by (route) (rate(http_request_duration_seconds_count{${API}}[5m]))`, legend: '{{route}}' },
        ],
        unit: 'reqps',
      },
      {
        title: '5xx ratio',
        kind: 'timeseries',
        queries: [
          {
            expr: `(sum(rate(http_request_duration_seconds_count{${SLI},status_code=~"5.."}[5m])) or vector(0)) / sum(rate(http_request_duration_seconds_count{${SLI}}[5m]))`,
            legend: '5xx / all',
          },
        ],
        unit: 'percentunit',
      },
      {
        title: 'Latency P95 by route',
        kind: 'timeseries',
        queries: [
          {
            expr: `histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket{${API}}[5m])))`,
            legend: '{{route}}',
          },
        ],
        unit: 's',
      },
      {
        title: 'Responses by status code',
        kind: 'timeseries',
        queries: [
          {
            expr: `sum by (status_code) (rate(http_request_duration_seconds_count{${API}}[5m]))`,
            legend: '{{status_code}}',
          },
        ],
        unit: 'reqps',
      },
      {
        title: 'Cache hit ratio',
        kind: 'timeseries',
        queries: [
          {
            expr: `sum(rate(app_cache_hits_total{${API}}[5m])) / (sum(rate(app_cache_hits_total{${API}}[5m])) + (sum(rate(app_cache_misses_total{${API}}[5m])) or vector(0)))`,
            legend: 'hits / lookups',
          },
        ],
        unit: 'percentunit',
      },
      {
        title: 'PostgreSQL pool by state',
        kind: 'timeseries',
        queries: [{ expr: `sum by (state) (app_pg_pool_connections{${API}})`, legend: '{{state}}' }],
        unit: 'short',
      },
      {
        // 503s for a dependency that is down (issue 16); or vector(0): the counter has no series until the first one.
        title: '503s by unavailable dependency',
        kind: 'timeseries',
        queries: [
          {
            expr: `sum by (dependency) (rate(app_dependency_unavailable_total{${API}}[5m])) or on () vector(0)`,
            legend: '{{dependency}}',
          },
        ],
        unit: 'reqps',
      },
      {
        title: 'API error logs',
        kind: 'logs',
        queries: [{ expr: '{service="api", level="error"} | json' }],
      },
    ],
  },
  {
    uid: DASHBOARD_UIDS.slo,
    title: 'MyTV API — SLO and error budget',
    description:
      'SLIs, error budget left over 30 days and burn rates of the SLOs generated from environments/<env>.yaml (prometheus/rules/slo/).',
    tags: ['mytv', 'slo'],
    panels: [
      {
        title: 'SLI over 30 days',
        kind: 'stat',
        queries: [{ expr: 'job:slo_sli:ratio_rate30d', legend: '{{slo}}' }],
        unit: 'percentunit',
        width: 8,
      },
      {
        title: 'Objective',
        kind: 'stat',
        queries: [{ expr: 'job:slo_objective:ratio', legend: '{{slo}}' }],
        unit: 'percentunit',
        width: 8,
      },
      {
        title: 'Error budget left (30 days)',
        kind: 'stat',
        queries: [{ expr: 'job:slo_error_budget_remaining:ratio_rate30d', legend: '{{slo}}' }],
        unit: 'percentunit',
        width: 8,
      },
      {
        title: 'Burn rate, page windows (1h, 5m, 6h, 30m)',
        kind: 'timeseries',
        queries: ['1h', '5m', '6h', '30m'].map((w) => ({
          expr: `job:slo_burn_rate:ratio_rate${w}`,
          legend: `{{slo}} ${w}`,
        })),
        unit: 'none',
      },
      {
        title: 'Burn rate, ticket windows (1d, 2h, 3d)',
        kind: 'timeseries',
        queries: ['1d', '2h', '3d'].map((w) => ({ expr: `job:slo_burn_rate:ratio_rate${w}`, legend: `{{slo}} ${w}` })),
        unit: 'none',
      },
      {
        title: 'SLI over 5 minutes',
        kind: 'timeseries',
        queries: [{ expr: 'job:slo_sli:ratio_rate5m', legend: '{{slo}}' }],
        unit: 'percentunit',
      },
    ],
  },
  {
    uid: DASHBOARD_UIDS.nodejs,
    title: 'MyTV API — Node.js runtime',
    description: 'Event loop, memory, CPU and GC of each API replica.',
    tags: ['mytv', 'api', 'nodejs'],
    panels: [
      {
        title: 'Event loop lag p99',
        kind: 'timeseries',
        queries: [{ expr: `nodejs_eventloop_lag_p99_seconds{${API}}`, legend: '{{pod}}' }],
        unit: 's',
      },
      {
        title: 'CPU (cores)',
        kind: 'timeseries',
        queries: [{ expr: `rate(process_cpu_seconds_total{${API}}[5m])`, legend: '{{pod}}' }],
        unit: 'short',
      },
      {
        title: 'Resident memory',
        kind: 'timeseries',
        queries: [{ expr: `process_resident_memory_bytes{${API}}`, legend: '{{pod}}' }],
        unit: 'bytes',
      },
      {
        title: 'Heap used',
        kind: 'timeseries',
        queries: [{ expr: `nodejs_heap_size_used_bytes{${API}}`, legend: '{{pod}}' }],
        unit: 'bytes',
      },
      {
        title: 'GC time per second by kind',
        kind: 'timeseries',
        queries: [
          {
            expr: `sum by (pod, kind) (rate(nodejs_gc_duration_seconds_sum{${API}}[5m]))`,
            legend: '{{pod}} {{kind}}',
          },
        ],
        unit: 's',
      },
      {
        title: 'Active handles',
        kind: 'timeseries',
        queries: [{ expr: `sum by (pod) (nodejs_active_handles{${API}})`, legend: '{{pod}}' }],
        unit: 'short',
      },
    ],
  },
  {
    uid: DASHBOARD_UIDS.postgres,
    title: 'MyTV — PostgreSQL',
    description: 'postgres_exporter: availability, connections against the limit, transactions, size.',
    tags: ['mytv', 'postgres'],
    panels: [
      { title: 'Up', kind: 'stat', queries: [{ expr: 'min(pg_up{job="postgres"})' }], unit: 'short' },
      {
        title: 'Connections used / max',
        kind: 'stat',
        queries: [
          {
            expr: 'sum(pg_stat_activity_count{job="postgres"}) / max(pg_settings_max_connections{job="postgres"})',
          },
        ],
        unit: 'percentunit',
      },
      {
        title: 'Connections by state',
        kind: 'timeseries',
        queries: [{ expr: 'sum by (state) (pg_stat_activity_count{job="postgres"})', legend: '{{state}}' }],
        unit: 'short',
      },
      {
        title: 'Transactions per second',
        kind: 'timeseries',
        queries: [
          {
            expr: 'sum by (datname) (rate(pg_stat_database_xact_commit{job="postgres"}[5m]) + rate(pg_stat_database_xact_rollback{job="postgres"}[5m]))',
            legend: '{{datname}}',
          },
        ],
        unit: 'ops',
      },
      {
        title: 'Database size',
        kind: 'timeseries',
        queries: [{ expr: 'pg_database_size_bytes{job="postgres"}', legend: '{{datname}}' }],
        unit: 'bytes',
      },
      {
        title: 'Deadlocks per second',
        kind: 'timeseries',
        queries: [{ expr: 'sum(rate(pg_stat_database_deadlocks{job="postgres"}[5m]))', legend: 'deadlocks' }],
        unit: 'ops',
      },
    ],
  },
  {
    uid: DASHBOARD_UIDS.redis,
    title: 'MyTV — Redis',
    description: 'redis_exporter: availability, memory, clients, commands and keyspace hit ratio.',
    tags: ['mytv', 'redis'],
    panels: [
      { title: 'Up', kind: 'stat', queries: [{ expr: 'min(redis_up{job="redis"})' }], unit: 'short' },
      {
        title: 'Connected clients',
        kind: 'stat',
        queries: [{ expr: 'sum(redis_connected_clients{job="redis"})' }],
        unit: 'short',
      },
      {
        title: 'Memory used',
        kind: 'timeseries',
        queries: [{ expr: 'redis_memory_used_bytes{job="redis"}', legend: '{{instance}}' }],
        unit: 'bytes',
      },
      {
        title: 'Commands per second',
        kind: 'timeseries',
        queries: [{ expr: 'sum(rate(redis_commands_processed_total{job="redis"}[5m]))', legend: 'commands' }],
        unit: 'ops',
      },
      {
        title: 'Keyspace hit ratio',
        kind: 'timeseries',
        queries: [
          {
            expr: 'sum(rate(redis_keyspace_hits_total{job="redis"}[5m])) / (sum(rate(redis_keyspace_hits_total{job="redis"}[5m])) + sum(rate(redis_keyspace_misses_total{job="redis"}[5m])))',
            legend: 'hits / lookups',
          },
        ],
        unit: 'percentunit',
      },
      {
        title: 'Keys',
        kind: 'timeseries',
        queries: [{ expr: 'sum by (db) (redis_db_keys{job="redis"})', legend: '{{db}}' }],
        unit: 'short',
      },
    ],
  },
  {
    uid: DASHBOARD_UIDS.nginx,
    title: 'MyTV — Nginx edge',
    description: 'nginx-prometheus-exporter (stub_status), the blackbox probe through Nginx, and the access log.',
    tags: ['mytv', 'nginx'],
    panels: [
      { title: 'Up', kind: 'stat', queries: [{ expr: 'min(nginx_up{job="nginx"})' }], unit: 'short' },
      {
        title: 'Probe through Nginx',
        kind: 'stat',
        queries: [{ expr: 'min(probe_success{job="blackbox-edge"})' }],
        unit: 'short',
      },
      {
        title: 'Requests per second',
        kind: 'timeseries',
        queries: [{ expr: 'sum(rate(nginx_http_requests_total{job="nginx"}[5m]))', legend: 'requests' }],
        unit: 'reqps',
      },
      {
        title: 'Connections by state',
        kind: 'timeseries',
        queries: [
          { expr: 'sum(nginx_connections_active{job="nginx"})', legend: 'active' },
          { expr: 'sum(nginx_connections_waiting{job="nginx"})', legend: 'waiting' },
        ],
        unit: 'short',
      },
      {
        title: 'Probe duration',
        kind: 'timeseries',
        queries: [{ expr: 'probe_duration_seconds{job="blackbox-edge"}', legend: '{{instance}}' }],
        unit: 's',
      },
      {
        title: '5xx in the access log',
        kind: 'logs',
        queries: [{ expr: '{service="nginx", log_type="access"} | json | status >= 500' }],
      },
    ],
  },
  {
    uid: DASHBOARD_UIDS.backups,
    title: 'MyTV — backups and disaster recovery',
    description:
      "pgBackRest backups and WAL archiving (pushed by make backup / backup-status --publish), restore drills (make dr-drill) against the RPO/RTO objectives of the environment's slo block.",
    tags: ['mytv', 'backups', 'dr'],
    panels: [
      {
        title: 'Last successful backup age',
        kind: 'stat',
        queries: [{ expr: 'time() - max(pgbackrest_backup_last_success_timestamp_seconds)' }],
        unit: 'dtdurations',
      },
      {
        title: 'Last backup run succeeded',
        kind: 'stat',
        queries: [{ expr: 'min(pgbackrest_backup_last_run_success)' }],
        unit: 'short',
      },
      {
        // Waiting completed WAL (0 when nothing waits), what PostgresWalArchivingStale alerts on.
        title: 'WAL waiting for the archive',
        kind: 'stat',
        queries: [{ expr: 'max(pgbackrest_wal_archive_age_seconds)' }],
        unit: 'dtdurations',
      },
      {
        title: 'WAL segments pending',
        kind: 'stat',
        queries: [{ expr: 'max(pgbackrest_wal_archive_pending_segments)' }],
        unit: 'short',
      },
      {
        // Measured by make dr-drill against the objective generated from the slo block.
        title: 'Last drill RPO vs objective',
        kind: 'timeseries',
        queries: [
          { expr: 'max by (environment) (mytv_dr_drill_rpo_seconds)', legend: 'RPO {{environment}}' },
          { expr: 'slo:dr_objective:seconds{objective="rpo"}', legend: 'objective' },
        ],
        unit: 's',
      },
      {
        title: 'Last drill RTO vs objective',
        kind: 'timeseries',
        queries: [
          { expr: 'max by (environment) (mytv_dr_drill_rto_seconds)', legend: 'RTO {{environment}}' },
          { expr: 'slo:dr_objective:seconds{objective="rto"}', legend: 'objective' },
        ],
        unit: 's',
      },
      {
        title: 'Last drill: markers lost, SLO met',
        kind: 'stat',
        queries: [
          { expr: 'max(mytv_dr_drill_markers_lost)', legend: 'markers lost' },
          { expr: 'min(mytv_dr_drill_slo_met)', legend: 'SLO met' },
        ],
        unit: 'short',
      },
      {
        title: 'Last successful drill age',
        kind: 'stat',
        queries: [{ expr: 'time() - max(mytv_dr_drill_last_success_timestamp_seconds)' }],
        unit: 'dtdurations',
      },
      {
        title: 'Backup duration',
        kind: 'timeseries',
        queries: [
          { expr: 'max by (stanza, type) (pgbackrest_backup_last_duration_seconds)', legend: '{{stanza}} {{type}}' },
        ],
        unit: 's',
      },
      {
        title: 'Backup size (database / added to the repository)',
        kind: 'timeseries',
        queries: [
          { expr: 'max by (stanza, type) (pgbackrest_backup_last_size_bytes)', legend: 'db {{stanza}} {{type}}' },
          {
            expr: 'max by (stanza, type) (pgbackrest_backup_last_repo_size_bytes)',
            legend: 'repo {{stanza}} {{type}}',
          },
        ],
        unit: 'bytes',
      },
      {
        title: 'Repository size and backups kept',
        kind: 'timeseries',
        queries: [
          { expr: 'max by (stanza) (pgbackrest_repository_size_bytes)', legend: 'bytes {{stanza}}' },
          { expr: 'max by (stanza) (pgbackrest_backups)', legend: 'backups {{stanza}}' },
        ],
        unit: 'short',
      },
    ],
  },
  {
    uid: DASHBOARD_UIDS.meta,
    title: 'MyTV — monitoring itself',
    description: 'Scrape targets, firing alerts, rule evaluation and notifications.',
    tags: ['mytv', 'monitoring'],
    panels: [
      {
        title: 'Targets down by job',
        kind: 'timeseries',
        queries: [{ expr: 'sum by (job) (1 - up)', legend: '{{job}}' }],
        unit: 'short',
      },
      {
        title: 'Firing alerts',
        kind: 'timeseries',
        queries: [{ expr: 'count by (alertname) (ALERTS{alertstate="firing"})', legend: '{{alertname}}' }],
        unit: 'short',
      },
      {
        title: 'Rule evaluation failures per second',
        kind: 'timeseries',
        queries: [{ expr: 'sum(rate(prometheus_rule_evaluation_failures_total[5m]))', legend: 'failures' }],
        unit: 'ops',
      },
      {
        title: 'Notifications per second by integration',
        kind: 'timeseries',
        queries: [
          {
            expr: 'sum by (integration) (rate(alertmanager_notifications_total{job="alertmanager"}[5m]))',
            legend: '{{integration}}',
          },
        ],
        unit: 'ops',
      },
    ],
  },
];

/** Grafana's dashboard JSON model for one spec: panels laid out left to right, top to bottom. */
export function renderDashboard(d: DashboardSpec): Record<string, unknown> {
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  const panels = d.panels.map((p, i) => {
    const w = p.width ?? (p.kind === 'stat' ? 6 : p.kind === 'logs' ? 24 : 12);
    const h = p.kind === 'stat' ? 4 : 8;
    if (x + w > 24) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    const gridPos = { x, y, w, h };
    x += w;
    rowHeight = Math.max(rowHeight, h);
    const datasource = p.kind === 'logs' ? DATASOURCES.loki : DATASOURCES.prometheus;
    return {
      id: i + 1,
      type: p.kind,
      title: p.title,
      ...(p.description ? { description: p.description } : {}),
      datasource,
      gridPos,
      targets: p.queries.map((q, j) => ({
        refId: String.fromCharCode(65 + j),
        datasource,
        expr: q.expr,
        ...(q.legend ? { legendFormat: q.legend } : {}),
        ...(p.kind === 'logs' ? { queryType: 'range' } : {}),
      })),
      ...(p.kind === 'logs'
        ? { options: { showTime: true, wrapLogMessage: true, sortOrder: 'Descending' } }
        : { fieldConfig: { defaults: { unit: p.unit ?? 'short' }, overrides: [] }, options: {} }),
    };
  });
  return {
    uid: d.uid,
    title: d.title,
    description: d.description,
    tags: d.tags,
    editable: false,
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-6h', to: 'now' },
    refresh: '30s',
    timezone: 'utc',
    links: [{ title: 'MyTV dashboards', type: 'dashboards', tags: ['mytv'], asDropdown: true }],
    templating: { list: [] },
    annotations: {
      list: [
        {
          name: 'Firing alerts',
          datasource: DATASOURCES.prometheus,
          enable: true,
          expr: 'ALERTS{alertstate="firing", alertname!="Watchdog"}',
          titleFormat: '{{alertname}}',
          iconColor: 'red',
        },
      ],
    },
    panels,
  };
}

/** Repository path of a dashboard's JSON. */
export function dashboardPath(uid: string): string {
  return `grafana/dashboards/${uid}.json`;
}
