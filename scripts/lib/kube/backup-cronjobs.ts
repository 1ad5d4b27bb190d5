// The backup CronJobs of a render against the environment's data: one CronJob per job of
// backupJobs(env) (scripts/lib/generated/backup-jobs.ts), with its schedule and arguments, the SSH
// Secret mounted as files, and nothing else scheduled. make k8s-check runs it on the chart
// (the environment's values file) and on every overlay of the environment's namespace, so a wrong,
// missing or extra CronJob fails the checks even when the generated files were edited by hand.
import type { Environment } from '../environments.js';
import { backupJobs, sshFiles } from '../generated/backup-jobs.js';
import { podSpecOf, type K8sObject } from './manifests.js';

type CronJobSpec = { schedule?: string };
type SecretVolume = { name: string; secret?: { secretName?: string; items?: { key: string; path: string }[] } };

/** The job a CronJob runs: its pod template's label mytv.app/backup-job. */
export function backupJobOf(o: K8sObject): string | undefined {
  return (o.spec as { jobTemplate?: { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } } })
    .jobTemplate?.spec?.template?.metadata?.labels?.['mytv.app/backup-job'];
}

/** The CronJob of `objects` running job `name`. */
export function backupCronJob(objects: K8sObject[], name: string): K8sObject | undefined {
  return objects.find((o) => o.kind === 'CronJob' && backupJobOf(o) === name);
}

/**
 * Every difference between the render's CronJobs and `env`'s jobs, as readable lines ([] = agree):
 * a job missing, a schedule or arguments that differ, a CronJob no job asks for, the SSH key or
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
