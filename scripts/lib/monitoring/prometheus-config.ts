// prometheus.yml for each environment, from one description of the jobs (this file) and the
// environment's data. The local stack (deploy.kind local: compose and the native stack) finds its
// targets in file_sd files (prometheus/targets/*.json name the compose services; the native stack
// writes its own); a cluster environment discovers the API pods through the Kubernetes API and
// reads the hosts outside the cluster from environments/<env>.yaml `monitoring.targets`.
//
// Labels hold in both worlds: `job` is the same, `instance` is host:port, and the replica is `pod`
// (the Kubernetes pod name, or the file_sd `service` label of the local targets relabelled).
import { stringify } from 'yaml';
import type { Environment } from '../environments.js';
import { UserError } from '../errors.js';
import { sloRulesPath } from './slo.js';

/** Local (file_sd) job → targets file; the native stack writes these files for its ports. */
export const LOCAL_TARGET_FILES = {
  prometheus: 'prometheus.json',
  alertmanager: 'alertmanager.json',
  api: 'api.json',
  nginx: 'nginx-exporter.json',
  postgres: 'postgres-exporter.json',
  redis: 'redis-exporter.json',
  pushgateway: 'pushgateway.json',
  'blackbox-edge': 'blackbox-edge.json',
  'api-readiness': 'api-readiness.json',
} as const;

/** Blackbox jobs: the probed URL is the target's `__param_target`, the exporter is its address. */
export const PROBE_JOBS = ['blackbox-edge', 'api-readiness'] as const;

/** The API's pods in a cluster (helm/kustomize label) and their container ports by name. */
export const API_POD_SELECTOR = { label: 'app.kubernetes.io/name', value: 'mytv-api' };
export const API_PORT_NAMES = { http: 'http', metrics: 'metrics' };

type Job = Record<string, unknown>;

const probeJob = (name: string, discovery: Job, relabel: Job[] = []): Job => ({
  job_name: name,
  metrics_path: '/probe',
  params: { module: ['http_2xx'] },
  ...discovery,
  relabel_configs: [
    ...relabel,
    // What was probed is the instance; the scrape goes to the exporter.
    { source_labels: ['__param_target'], target_label: 'instance' },
  ],
});

function localJobs(): { jobs: Job[]; alerting: Job } {
  // file_sd groups carry the replica as `service`; rules speak of `pod`.
  const podFromService = [
    { source_labels: ['service'], target_label: 'pod' },
    { action: 'labeldrop', regex: 'service' },
  ];
  const fileSd = (job: keyof typeof LOCAL_TARGET_FILES): Job => ({
    file_sd_configs: [{ files: [`targets/${LOCAL_TARGET_FILES[job]}`] }],
  });
  const plain = (job: keyof typeof LOCAL_TARGET_FILES, extra: Job = {}): Job => ({
    job_name: job,
    ...extra,
    ...fileSd(job),
    relabel_configs: podFromService,
  });
  return {
    alerting: { alertmanagers: [fileSd('alertmanager')] },
    jobs: [
      plain('prometheus'),
      plain('alertmanager'),
      // Every API replica directly (not through Nginx), so each one has its own `up`.
      plain('api', { metrics_path: '/metrics' }),
      plain('nginx'),
      plain('postgres'),
      plain('redis'),
      // Batch jobs (backups, drills) push here; their own job/instance labels are kept.
      plain('pushgateway', { honor_labels: true }),
      probeJob('blackbox-edge', fileSd('blackbox-edge'), podFromService),
      probeJob('api-readiness', fileSd('api-readiness'), podFromService),
    ],
  };
}

function clusterJobs(env: Environment): { jobs: Job[]; alerting: Job } {
  if (env.deploy.kind === 'local') throw new Error('clusterJobs called for a local environment');
  const t = env.monitoring?.targets;
  const need = (key: keyof NonNullable<typeof t>): string[] => {
    const list = t?.[key] ?? [];
    if (list.length === 0) {
      throw new UserError(`environments/${env.name}.yaml has no monitoring.targets.${key}`, {
        hint: `list the ${key} scrape target(s) as host:port under monitoring.targets.${key}`,
      });
    }
    return list;
  };
  const statics = (name: string, targets: string[], extra: Job = {}): Job => ({
    job_name: name,
    ...extra,
    static_configs: [{ targets }],
  });
  const pods = {
    kubernetes_sd_configs: [{ role: 'pod', namespaces: { names: [env.deploy.namespace] } }],
  };
  const podLabels = (portName: string): Job[] => [
    {
      action: 'keep',
      source_labels: [`__meta_kubernetes_pod_label_${API_POD_SELECTOR.label.replace(/[./]/g, '_')}`],
      regex: API_POD_SELECTOR.value,
    },
    { action: 'keep', source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: portName },
    { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
    { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
  ];
  const blackbox = need('blackbox')[0];
  const probes = env.monitoring?.probes ?? [`${env.api.publicUrl.replace(/\/$/, '')}/health/ready`];
  return {
    alerting: { alertmanagers: [{ static_configs: [{ targets: need('alertmanager') }] }] },
    jobs: [
      statics('prometheus', ['localhost:9090']),
      statics('alertmanager', need('alertmanager')),
      { job_name: 'api', metrics_path: '/metrics', ...pods, relabel_configs: podLabels(API_PORT_NAMES.metrics) },
      statics('nginx', need('nginx')),
      statics('postgres', need('postgres')),
      statics('redis', need('redis')),
      statics('pushgateway', need('pushgateway'), { honor_labels: true }),
      probeJob(
        'blackbox-edge',
        {
          static_configs: [{ targets: probes }],
        },
        [
          { source_labels: ['__address__'], target_label: '__param_target' },
          { target_label: '__address__', replacement: blackbox },
        ],
      ),
      probeJob('api-readiness', pods, [
        ...podLabels(API_PORT_NAMES.http),
        {
          source_labels: ['__address__'],
          target_label: '__param_target',
          replacement: 'http://$1/health/ready',
        },
        { target_label: '__address__', replacement: blackbox },
      ]),
    ],
  };
}

/** Repository path of an environment's Prometheus config. */
export function prometheusConfigPath(env: Pick<Environment, 'name' | 'deploy'>): string {
  return env.deploy.kind === 'local' ? 'prometheus/prometheus.yml' : `prometheus/prometheus-${env.name}.yml`;
}

/** prometheus.yml of one environment, as YAML text (paths relative to prometheus/). */
export function renderPrometheusConfig(env: Environment): string {
  const { jobs, alerting } = env.deploy.kind === 'local' ? localJobs() : clusterJobs(env);
  const config = {
    global: {
      scrape_interval: '15s',
      scrape_timeout: '10s',
      evaluation_interval: '15s',
      external_labels: { env: env.name },
    },
    rule_files: ['rules/*.yml', sloRulesPath(env.name).replace(/^prometheus\//, '')],
    alerting,
    scrape_configs: jobs,
  };
  const header =
    `# GENERATED by make generate for environment ${env.name} (environments/${env.name}.yaml) through\n` +
    `# scripts/lib/monitoring/prometheus-config.ts — do not edit; change those and run make generate.\n` +
    (env.deploy.kind === 'local'
      ? `# The local stack: compose mounts prometheus/ as it is (targets/*.json name the compose services);\n` +
        `# the native stack runs this same file with targets/ written for its loopback ports.\n`
      : `# Cluster: API pods found through the Kubernetes API in namespace ${env.deploy.namespace}; hosts\n` +
        `# outside the cluster from monitoring.targets.\n`);
  return header + stringify(config, { lineWidth: 150, minContentWidth: 40, aliasDuplicateObjects: false });
}
