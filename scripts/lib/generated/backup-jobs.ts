// The scheduled backup jobs of every environment whose PostgreSQL is a database host (database.kind
// ssh), from its database.schedule: one job per command (backup full/diff/incr, backup-status
// --publish, dr-drill, dump). Written for the two Kubernetes renderings so that no schedule string is
// typed twice:
//   - helm/mytv-api/files/backup-jobs.yaml: every environment's jobs, read by the chart's
//     templates/backup-cronjobs.yaml for `backups.environment` when `backups.enabled`;
//   - kustomize/overlays/<overlay>/backup-cronjobs.yaml: kustomize/backups/cronjob.yaml (the one
//     pod of these jobs) copied per job, for the overlay whose namespace is the environment's.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { listEnvironments, loadEnvironment, type Environment } from '../environments.js';
import { fromRoot } from '../paths.js';
import { COMMITTED, formatLikeRepo, type GeneratedFile, type Generator } from './common.js';

export const CHART_BACKUP_JOBS = 'helm/mytv-api/files/backup-jobs.yaml';
export const KUSTOMIZE_BACKUP_TEMPLATE = 'kustomize/backups/cronjob.yaml';
export const OVERLAY_BACKUP_CRONJOBS = 'backup-cronjobs.yaml';
/** The label of the backup CronJobs and of their pod templates: the job's name in database.schedule. */
export const BACKUP_JOB_LABEL = 'mytv.app/backup-job';
/** Where the ops image mounts the SSH Secret: HOME of its user `node` + .ssh (see ops/Dockerfile). */
export const OPS_SSH_DIR = '/home/node/.ssh';

/** One scheduled command: `node … <args>` in the ops image, at `schedule` (Kubernetes CronJob syntax). */
export interface BackupJob {
  /** Suffix of the CronJob name (`mytv-api-<name>`), e.g. "backup-full". */
  name: string;
  schedule: string;
  /** The entry script and its flags, relative to the ops image's working directory. */
  args: string[];
}

/** What the Secret's files are called inside ~/.ssh (from database.ssh keyFile / knownHostsFile). */
export interface SshFiles {
  keyFile: string;
  knownHostsFile: string;
}

/**
 * A cron line as Kubernetes' CronJob controller accepts it: five fields (minute hour day-of-month
 * month day-of-week; numbers, names, `*`, ranges, steps, lists) or one of the @yearly … @hourly
 * macros. Source: https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#schedule-syntax
 * Throws naming the environment and key when it is not one.
 */
export function checkSchedule(expr: string, where: string): string {
  const macro = /^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$/;
  const field = /^(\*|[0-9a-z]+(-[0-9a-z]+)?)(\/[0-9]+)?(,(\*|[0-9a-z]+(-[0-9a-z]+)?)(\/[0-9]+)?)*$/i;
  const fields = expr.trim().split(/\s+/);
  if (!(macro.test(expr.trim()) || (fields.length === 5 && fields.every((f) => field.test(f)))))
    throw new Error(
      `${where}: '${expr}' is not a cron schedule (five fields: minute hour day-of-month month day-of-week, or @daily …)`,
    );
  return expr.trim();
}

/**
 * The jobs of one environment, in a fixed order; [] when its database is not a host the jobs reach
 * over SSH (kind local: the local stack, no CronJob). Every job passes --yes: the schedule is the
 * approval (production asks otherwise, and a job has no terminal).
 */
export function backupJobs(env: Environment): BackupJob[] {
  return env.database?.kind === 'ssh' ? scheduledJobs(env) : [];
}

/**
 * Every job of the environment's database.schedule, whatever its database kind: the CronJobs'
 * list (backupJobs) and the compose stack's scheduler (scripts/backup-scheduler.ts) are this one.
 * [] without a database section. Throws naming a bad cron line (checkSchedule).
 */
export function scheduledJobs(env: Environment): BackupJob[] {
  const db = env.database;
  if (!db) return [];
  const s = db.schedule;
  const at = (key: keyof typeof s) => checkSchedule(s[key], `environments/${env.name}.yaml database.schedule.${key}`);
  const common = [`--env=${env.name}`, '--yes'];
  return [
    { name: 'backup-full', schedule: at('full'), args: ['scripts/backup.ts', '--type=full', ...common] },
    { name: 'backup-diff', schedule: at('diff'), args: ['scripts/backup.ts', '--type=diff', ...common] },
    { name: 'backup-incr', schedule: at('incr'), args: ['scripts/backup.ts', '--type=incr', ...common] },
    { name: 'backup-status', schedule: at('status'), args: ['scripts/backup-status.ts', '--publish', ...common] },
    { name: 'dr-drill', schedule: at('drill'), args: ['scripts/dr-drill.ts', ...common] },
    { name: 'dump', schedule: at('dump'), args: ['scripts/dump.ts', ...common] },
  ];
}

/**
 * The Secret's file names inside ~/.ssh. The scripts read database.ssh.keyFile/knownHostsFile; a job
 * can only provide them when they default to a file under ~/.ssh (the Secret is mounted there).
 * Throws naming the key otherwise.
 */
export function sshFiles(env: Environment): SshFiles {
  const ssh = env.database?.ssh;
  if (!ssh) throw new Error(`environments/${env.name}.yaml: database.kind is ssh but database.ssh is missing`);
  const name = (p: string, key: string): string => {
    const m = /^~\/\.ssh\/([A-Za-z0-9._-]+)$/.exec(p);
    if (!m)
      throw new Error(
        `environments/${env.name}.yaml database.ssh.${key} defaults to ${p}: the backup jobs mount their Secret at ~/.ssh, so the default must be ~/.ssh/<file>`,
      );
    return m[1];
  };
  return { keyFile: name(ssh.keyFile, 'keyFile'), knownHostsFile: name(ssh.knownHostsFile, 'knownHostsFile') };
}

/** Environments with backup jobs, loaded as committed files are (variables at their defaults). */
export function scheduledEnvironments(): Environment[] {
  return listEnvironments()
    .map((n) => loadEnvironment(n, COMMITTED))
    .filter((e) => backupJobs(e).length > 0);
}

/** kustomize/overlays/* whose kustomization's namespace is `namespace`. */
export function overlaysForNamespace(namespace: string): string[] {
  const dir = fromRoot('kustomize', 'overlays');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((d) => {
      const file = path.join(dir, d, 'kustomization.yaml');
      return existsSync(file) && (parse(readFileSync(file, 'utf8')) as { namespace?: string }).namespace === namespace;
    })
    .sort()
    .map((d) => `kustomize/overlays/${d}`);
}

type CronJobDoc = {
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    schedule: string;
    jobTemplate: {
      spec: {
        template: {
          metadata?: { labels?: Record<string, string> };
          spec: {
            containers: { args?: string[] }[];
            volumes: { name: string; secret?: { items?: { key: string; path: string }[] } }[];
          };
        };
      };
    };
  };
};

/** The CronJobs of one environment for kustomize: the template copied per job (name, schedule, args, Secret file names). */
export function renderOverlayCronJobs(
  env: Environment,
  template = readFileSync(fromRoot(KUSTOMIZE_BACKUP_TEMPLATE), 'utf8'),
): string {
  const docs = parseAllDocuments(template).map((d) => d.toJS() as CronJobDoc);
  if (docs.length !== 1 || !docs[0]?.spec?.jobTemplate)
    throw new Error(`${KUSTOMIZE_BACKUP_TEMPLATE} must hold exactly one CronJob`);
  const files = sshFiles(env);
  const objects = backupJobs(env).map((job) => {
    const o = structuredClone(docs[0]);
    o.metadata.name = `${o.metadata.name.replace(/-backup$/, '')}-${job.name}`;
    o.metadata.labels = { ...o.metadata.labels, [BACKUP_JOB_LABEL]: job.name };
    o.spec.schedule = job.schedule;
    const pod = o.spec.jobTemplate.spec.template;
    pod.metadata = { ...pod.metadata, labels: { ...pod.metadata?.labels, [BACKUP_JOB_LABEL]: job.name } };
    pod.spec.containers[0].args = job.args;
    const ssh = pod.spec.volumes.find((v) => v.name === 'ssh')?.secret;
    if (!ssh) throw new Error(`${KUSTOMIZE_BACKUP_TEMPLATE}: no volume 'ssh' from a Secret`);
    ssh.items = [
      { key: 'ssh-privatekey', path: files.keyFile },
      { key: 'known_hosts', path: files.knownHostsFile },
    ];
    return stringify(o, { lineWidth: 0 });
  });
  return [
    `# Generated by make generate from environments/${env.name}.yaml database.schedule and`,
    `# ${KUSTOMIZE_BACKUP_TEMPLATE}; do not edit (scripts/lib/generated/backup-jobs.ts).`,
    objects.join('---\n'),
  ].join('\n');
}

/** files/backup-jobs.yaml of the chart: environment name -> { sshFiles, jobs }. */
export function renderChartBackupJobs(envs: Environment[]): string {
  const doc = Object.fromEntries(envs.map((e) => [e.name, { ssh: sshFiles(e), jobs: backupJobs(e) }]));
  return [
    '# Generated by make generate from environments/*.yaml database.schedule; do not edit',
    '# (scripts/lib/generated/backup-jobs.ts). templates/backup-cronjobs.yaml reads the entry of',
    '# backups.environment: one CronJob per job.',
    stringify(doc, { lineWidth: 0 }),
  ].join('\n');
}

export const backupJobsGenerator: Generator = {
  name: 'backup-jobs',
  source: `environments/*.yaml database.schedule + ${KUSTOMIZE_BACKUP_TEMPLATE}`,
  async render(): Promise<GeneratedFile[]> {
    const envs = scheduledEnvironments();
    const files: GeneratedFile[] = [{ path: CHART_BACKUP_JOBS, content: renderChartBackupJobs(envs) }];
    for (const env of envs) {
      if (env.deploy.kind === 'local') continue;
      for (const overlay of overlaysForNamespace(env.deploy.namespace))
        files.push({ path: `${overlay}/${OVERLAY_BACKUP_CRONJOBS}`, content: renderOverlayCronJobs(env) });
    }
    return Promise.all(files.map(async (f) => ({ path: f.path, content: await formatLikeRepo(f.path, f.content) })));
  },
};
