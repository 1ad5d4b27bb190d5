// The scheduled backup CronJobs (backup full/diff/incr, backup-status --publish, dr-drill, dump) as
// the chart and the kustomize overlays render them with the real helm and kubectl, against the
// environments' database.schedule: present only where enabled, one per job with its schedule and
// arguments, never overlapping, the migration Job's security contexts, the SSH Secret as files.
import { expect } from 'chai';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { createContext } from '../../scripts/lib/main.js';
import { parseCli } from '../../scripts/lib/cli.js';
import { loadEnvironment, type Environment } from '../../scripts/lib/environments.js';
import { CHECK_TAG, backupScheduleChecks, helmTemplate, kustomize } from '../../scripts/lib/kube/checks.js';
import { backupCronJob, backupCronJobProblems, backupJobOf } from '../../scripts/lib/kube/backup-cronjobs.js';
import { parseManifests, podSpecOf, type K8sObject } from '../../scripts/lib/kube/manifests.js';
import { renderEnvironment } from '../../scripts/lib/kube/render.js';
import {
  CHART_BACKUP_JOBS,
  backupJobs,
  checkSchedule,
  overlaysForNamespace,
  renderOverlayCronJobs,
  sshFiles,
} from '../../scripts/lib/generated/backup-jobs.js';
import { COMMITTED } from '../../scripts/lib/generated/common.js';
import { fromRoot } from '../../scripts/lib/paths.js';
import { expectEvery } from '../support/assertions.js';

const exec = createContext(parseCli([])).exec;
const prod = loadEnvironment('prod', COMMITTED);
const staging = loadEnvironment('staging', COMMITTED);

async function helm(values: string, extra: string[] = []): Promise<K8sObject[]> {
  const r = await helmTemplate(exec, values, ['--set', `image.tag=${CHECK_TAG}`, ...extra]);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  return parseManifests(r.stdout);
}
async function overlay(dir: string): Promise<K8sObject[]> {
  const r = await kustomize(exec, dir);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  return parseManifests(r.stdout);
}
const cronJobs = (objects: K8sObject[]) => objects.filter((o) => o.kind === 'CronJob');
const migrationPod = (objects: K8sObject[]) => podSpecOf(objects.find((o) => o.kind === 'Job')!)!;

/** What every backup CronJob must hold whatever renders it. */
function expectWellFormed(objects: K8sObject[], env: Environment, where: string): void {
  const jobs = cronJobs(objects);
  expect(jobs.map(backupJobOf).sort(), where).to.deep.equal(
    backupJobs(env)
      .map((j) => j.name)
      .sort(),
  );
  expect(backupCronJobProblems(objects, env), where).to.deep.equal([]);
  const migration = migrationPod(objects);
  expectEvery(
    jobs,
    (o) => {
      const spec = o.spec as Record<string, unknown>;
      const pod = podSpecOf(o)!;
      const c = pod.containers[0];
      const volumes = (pod as { volumes: { name: string; secret?: { secretName: string } }[] }).volumes;
      type Mount = { name: string; mountPath: string; readOnly?: boolean };
      const mounts = (c as unknown as { volumeMounts?: Mount[] }).volumeMounts ?? [];
      return (
        spec.concurrencyPolicy === 'Forbid' &&
        typeof spec.startingDeadlineSeconds === 'number' &&
        typeof spec.successfulJobsHistoryLimit === 'number' &&
        typeof spec.failedJobsHistoryLimit === 'number' &&
        JSON.stringify(pod.securityContext) === JSON.stringify(migration.securityContext) &&
        JSON.stringify(c.securityContext) === JSON.stringify(migration.containers[0].securityContext) &&
        /\/mytv-ops:/.test(c.image ?? '') &&
        (c.env ?? []).every((e) => !(e as { valueFrom?: unknown }).valueFrom) &&
        volumes.some((v) => v.secret?.secretName === 'mytv-backup') &&
        mounts.some((m) => m.name === 'ssh' && m.mountPath === '/home/node/.ssh' && m.readOnly === true)
      );
    },
    `${where}: CronJob Forbid, deadline, history limits, the migration Job's security contexts, ops image, SSH Secret as read-only files`,
  );
}

describe('backup CronJobs (helm/mytv-api, kustomize/) from environments/*.yaml database.schedule', function () {
  this.timeout(120_000);

  it('the environments with a database host have one job per command, each with --env and --yes', () => {
    for (const env of [prod, staging]) {
      const jobs = backupJobs(env);
      expect(jobs.map((j) => j.name)).to.deep.equal([
        'backup-full',
        'backup-diff',
        'backup-incr',
        'backup-status',
        'dr-drill',
        'dump',
      ]);
      const s = env.database!.schedule;
      expect(jobs.map((j) => j.schedule)).to.deep.equal([s.full, s.diff, s.incr, s.status, s.drill, s.dump]);
      expectEvery(jobs, (j) => j.args.includes(`--env=${env.name}`) && j.args.includes('--yes'), 'env and --yes');
    }
    expect(backupJobs(loadEnvironment('dev', COMMITTED)), 'dev: the local stack, no CronJob').to.deep.equal([]);
  });

  it('a changed schedule in the environment changes the rendered CronJob; a bad cron line or key path is refused', () => {
    const db = prod.database!;
    const withSchedule = (schedule: Partial<typeof db.schedule>): Environment => ({
      ...prod,
      database: { ...db, schedule: { ...db.schedule, ...schedule } },
    });
    const docs = parseManifests(renderOverlayCronJobs(withSchedule({ full: '15 1 * * 6' })));
    expect((backupCronJob(docs, 'backup-full')!.spec as { schedule: string }).schedule).to.equal('15 1 * * 6');
    expect(checkSchedule('@daily', 'x')).to.equal('@daily');
    expect(checkSchedule('*/15 0-6 1,15 jan-jun mon', 'x')).to.equal('*/15 0-6 1,15 jan-jun mon');
    expect(() => backupJobs(withSchedule({ incr: 'every 6 hours' }))).to.throw(
      /environments\/prod\.yaml database\.schedule\.incr: 'every 6 hours'/,
    );
    const keyed: Environment = { ...prod, database: { ...db, ssh: { ...db.ssh!, keyFile: '/etc/keys/id' } } };
    expect(() => sshFiles(keyed)).to.throw(/database\.ssh\.keyFile defaults to \/etc\/keys\/id/);
  });

  it('the chart: no CronJob unless backups.enabled; values-prod.yaml schedules every job of prod', async () => {
    expect(cronJobs(await helm('helm/mytv-api/values-staging.yaml')), 'default: disabled').to.have.length(0);
    const objects = await helm('helm/mytv-api/values-prod.yaml');
    expect(cronJobs(objects)).to.have.length(6);
    expectWellFormed(objects, prod, 'values-prod.yaml');
    const generated = parse(readFileSync(fromRoot(CHART_BACKUP_JOBS), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(generated).sort()).to.deep.equal(['prod', 'staging']);
    // The ops image follows image.tag unless its own tag is set.
    expect(podSpecOf(cronJobs(objects)[0])!.containers[0].image).to.equal(`ghcr.io/mytelevision/mytv-ops:${CHECK_TAG}`);
    const own = await helm('helm/mytv-api/values-prod.yaml', ['--set', 'backups.image.tag=abcdef1']);
    expect(podSpecOf(cronJobs(own)[0])!.containers[0].image).to.equal('ghcr.io/mytelevision/mytv-ops:abcdef1');
  });

  it('the chart enabled for staging renders staging jobs; it refuses no environment or one without jobs, naming it', async () => {
    const objects = await helm('helm/mytv-api/values-staging.yaml', [
      '--set',
      'backups.enabled=true',
      '--set',
      'backups.environment=staging',
    ]);
    expectWellFormed(objects, staging, 'values-staging.yaml + backups.enabled');
    const none = await helmTemplate(exec, 'helm/mytv-api/values-staging.yaml', [
      '--set',
      `image.tag=${CHECK_TAG}`,
      '--set',
      'backups.enabled=true',
    ]);
    expect(none.exitCode).to.not.equal(0);
    expect(none.stderr).to.match(/backups\.environment is required/);
    const dev = await helmTemplate(exec, 'helm/mytv-api/values-staging.yaml', [
      '--set',
      `image.tag=${CHECK_TAG}`,
      '--set',
      'backups.enabled=true',
      '--set',
      'backups.environment=dev',
    ]);
    expect(dev.exitCode).to.not.equal(0);
    expect(dev.stderr).to.match(/backups\.environment "dev" has no jobs/);
    const bad = await helmTemplate(exec, 'helm/mytv-api/values-prod.yaml', [
      '--set',
      `image.tag=${CHECK_TAG}`,
      '--set',
      'backups.concurrency=Allow',
    ]);
    expect(bad.exitCode, 'values.schema.json refuses an unknown backups key').to.not.equal(0);
    expect(bad.stderr).to.match(/concurrency/);
  });

  it('kustomize: the staging and production overlays schedule their environment’s jobs', async () => {
    for (const env of [staging, prod]) {
      if (env.deploy.kind === 'local') throw new Error('expected a Kubernetes environment');
      const dirs = overlaysForNamespace(env.deploy.namespace);
      expect(dirs, env.name).to.have.length(1);
      expectWellFormed(await overlay(dirs[0]), env, dirs[0]);
    }
  });

  it('the chart and the production overlay run the same jobs in the same pod', async () => {
    const chart = await helm('helm/mytv-api/values-prod.yaml');
    const plain = await overlay('kustomize/overlays/production');
    for (const job of backupJobs(prod)) {
      const a = backupCronJob(chart, job.name)!;
      const b = backupCronJob(plain, job.name)!;
      expect(a.metadata.name.replace(/^[^-]+-/, '')).to.equal(b.metadata.name.replace(/^[^-]+-/, ''));
      const essentials = (o: K8sObject) => {
        const spec = o.spec as { jobTemplate: { spec: Record<string, unknown> } } & Record<string, unknown>;
        const pod = podSpecOf(o)!;
        const c = pod.containers[0];
        return {
          schedule: spec.schedule,
          concurrencyPolicy: spec.concurrencyPolicy,
          startingDeadlineSeconds: spec.startingDeadlineSeconds,
          backoffLimit: spec.jobTemplate.spec.backoffLimit,
          activeDeadlineSeconds: spec.jobTemplate.spec.activeDeadlineSeconds,
          command: c.command,
          args: (c as { args?: string[] }).args,
          env: c.env,
          mounts: c.volumeMounts,
          volumes: (pod as { volumes?: unknown }).volumes,
          resources: c.resources,
          podSecurity: pod.securityContext,
          security: c.securityContext,
        };
      };
      expect(essentials(b), job.name).to.deep.equal(essentials(a));
    }
  });

  it('make deploy-staging’s render gives the ops image the commit’s tag, like the API’s', async () => {
    const r = await renderEnvironment(exec, staging, {
      tag: 'abc1234',
      record: { by: 'test', commit: 'abc1234', at: '1970-01-01T00:00:00Z' },
    });
    const images = cronJobs(r.objects).map((o) => podSpecOf(o)!.containers[0].image);
    expect(images).to.have.length(6);
    expectEvery(images, (i) => i === 'ghcr.io/mytelevision/mytv-ops:abc1234', 'ops image at the commit');
  });

  it('a missing, wrong, unlabelled or extra CronJob is reported, and make k8s-check has a passing row per render', async () => {
    const good = await overlay('kustomize/overlays/staging');
    const bad = structuredClone(good);
    bad.splice(
      bad.findIndex((o) => o.kind === 'CronJob' && backupJobOf(o) === 'dump'),
      1,
    );
    (backupCronJob(bad, 'backup-full')!.spec as { schedule: string }).schedule = '0 3 * * 0';
    const extra = structuredClone(backupCronJob(good, 'backup-incr')!);
    extra.metadata.name = 'mytv-api-backup-extra';
    (
      extra.spec as { jobTemplate: { spec: { template: { metadata: { labels: Record<string, string> } } } } }
    ).jobTemplate.spec.template.metadata.labels['mytv.app/backup-job'] = 'extra';
    bad.push(extra);
    const secretEnv = podSpecOf(backupCronJob(bad, 'backup-diff')!)!.containers[0];
    secretEnv.env!.push({ name: 'KEY', valueFrom: { secretKeyRef: { name: 'mytv-backup', key: 'ssh-privatekey' } } });
    delete backupCronJob(bad, 'backup-status')!.metadata.labels!['mytv.app/backup-job'];
    const problems = backupCronJobProblems(bad, staging).join('\n');
    expect(problems).to.match(/no CronJob for dump/);
    expect(problems).to.match(/mytv-api-backup-status: label mytv\.app\/backup-job=backup-status missing/);
    expect(problems).to.match(/mytv-api-backup-full: schedule '0 3 \* \* 0', staging says '0 2 \* \* 0'/);
    expect(problems).to.match(/mytv-api-backup-extra runs no job/);
    expect(problems).to.match(/mytv-api-backup-diff: reads a Secret into an environment variable/);
    const rows = await backupScheduleChecks(exec);
    expect(rows.map((x) => x.target).sort()).to.deep.equal([
      'helm/mytv-api/values-prod.yaml (prod)',
      'kustomize/overlays/production (prod)',
      'kustomize/overlays/staging (staging)',
    ]);
    expectEvery(rows, (x) => x.ok, 'every backup schedules row passes');
  });
});
