// The backup CronJobs of a render against the environment's data: one CronJob per job of
// backupJobs(env) (scripts/lib/generated/backup-jobs.ts), with its schedule and arguments, the SSH
// Secret mounted as files, and nothing else scheduled. make k8s-check runs it on the chart
// (the environment's values file) and on every overlay of the environment's namespace, so a wrong,
// missing or extra CronJob fails the checks even when the generated files were edited by hand.
import type { Environment } from '../environments.js';
import { BACKUP_JOB_LABEL, backupJobs, sshFiles } from '../generated/backup-jobs.js';
import { podSpecOf, type K8sObject } from './manifests.js';

/** A Job's state as the API reports it (batch/v1 JobStatus: active pods, Complete/Failed conditions). */
export interface JobState {
  phase: 'running' | 'complete' | 'failed';
  active: number;
  /** The Failed condition's reason and message (BackoffLimitExceeded, DeadlineExceeded …). */
  reason?: string;
}

/**
 * The state of a Job from `kubectl get job -o json`: complete or failed when the condition of that
 * type has status "True" (batch/v1 JobCondition,
 * https://kubernetes.io/docs/concepts/workloads/controllers/job/#job-termination-and-cleanup), else running.
 */
export function jobState(json: string): JobState {
  const job = JSON.parse(json) as {
    status?: { active?: number; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
  };
  const conditions = job.status?.conditions ?? [];
  const active = job.status?.active ?? 0;
  const failed = conditions.find((c) => c.type === 'Failed' && c.status === 'True');
  if (failed) return { phase: 'failed', active, reason: [failed.reason, failed.message].filter(Boolean).join(': ') };
  if (conditions.some((c) => c.type === 'Complete' && c.status === 'True')) return { phase: 'complete', active };
  return { phase: 'running', active };
}

/**
 * A Job name for a run of `cronJob` at `now`: `<cronJob>-run-<base36 seconds>`, cut to 63
 * characters (a DNS-1123 label, the limit of a Job's name since its pods' labels carry it).
 */
export function runJobName(cronJob: string, now = Date.now()): string {
  const suffix = `-run-${Math.floor(now / 1000).toString(36)}`;
  return `${cronJob.slice(0, 63 - suffix.length).replace(/-+$/, '')}${suffix}`;
}

type CronJobSpec = { schedule?: string };
type SecretVolume = { name: string; secret?: { secretName?: string; items?: { key: string; path: string }[] } };

/** The job a CronJob runs: its pod template's label mytv.app/backup-job. */
export function backupJobOf(o: K8sObject): string | undefined {
  return (o.spec as { jobTemplate?: { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } } })
    .jobTemplate?.spec?.template?.metadata?.labels?.[BACKUP_JOB_LABEL];
}

/** The CronJob of `objects` running job `name`. */
export function backupCronJob(objects: K8sObject[], name: string): K8sObject | undefined {
  return objects.find((o) => o.kind === 'CronJob' && backupJobOf(o) === name);
}

/**
 * Every difference between the render's CronJobs and `env`'s jobs, as readable lines ([] = agree):
 * a job missing, a schedule or arguments that differ, a CronJob no job asks for, a CronJob without
 * the label BACKUP_JOB_LABEL of its job (what make backup-job selects by), the SSH key or
 * known_hosts not mounted from a Secret under the file names database.ssh names, a Secret read into
 * an environment variable.
 */
export function backupCronJobProblems(objects: K8sObject[], env: Environment): string[] {
  const problems: string[] = [];
  const jobs = backupJobs(env);
  const expected = new Set(jobs.map((j) => j.name));
  for (const o of objects.filter((x) => x.kind === 'CronJob')) {
    const job = backupJobOf(o) ?? '';
    if (!expected.has(job)) problems.push(`CronJob ${o.metadata.name} runs no job of ${env.name}'s database.schedule`);
  }
  const files = jobs.length ? sshFiles(env) : undefined;
  for (const job of jobs) {
    const o = backupCronJob(objects, job.name);
    if (!o) {
      problems.push(`no CronJob for ${job.name} (database.schedule of ${env.name})`);
      continue;
    }
    const at = `CronJob ${o.metadata.name}`;
    if (o.metadata.labels?.[BACKUP_JOB_LABEL] !== job.name)
      problems.push(`${at}: label ${BACKUP_JOB_LABEL}=${job.name} missing (make backup-job finds the CronJob by it)`);
    const schedule = (o.spec as CronJobSpec).schedule;
    if (schedule !== job.schedule) problems.push(`${at}: schedule '${schedule}', ${env.name} says '${job.schedule}'`);
    const pod = podSpecOf(o)!;
    const c = pod.containers[0];
    const args = (c as { args?: string[] }).args ?? [];
    if (JSON.stringify(args) !== JSON.stringify(job.args))
      problems.push(`${at}: args ${args.join(' ')}, expected ${job.args.join(' ')}`);
    if ((c.env ?? []).some((e) => (e as { valueFrom?: { secretKeyRef?: unknown } }).valueFrom?.secretKeyRef))
      problems.push(`${at}: reads a Secret into an environment variable (mount it as a file)`);
    const ssh = ((pod as { volumes?: SecretVolume[] }).volumes ?? []).find((v) => v.secret);
    const items = Object.fromEntries((ssh?.secret?.items ?? []).map((i) => [i.key, i.path]));
    if (!ssh || items['ssh-privatekey'] !== files?.keyFile || items.known_hosts !== files?.knownHostsFile)
      problems.push(
        `${at}: the SSH Secret must be mounted with ssh-privatekey -> ${files?.keyFile} and known_hosts -> ${files?.knownHostsFile}`,
      );
  }
  return problems;
}
