// make backup-job ENV=… JOB=backup-status|dr-drill|backup-full|… — runs one of the environment's
// scheduled backup CronJobs now, in the cluster: a Job made from the CronJob's own template
// (`kubectl create job --from=cronjob/…`), so it runs with the same ops image, SSH Secret and
// network path to the database host as the scheduled runs (a CI runner cannot reach that host).
// The dr-drill workflow (.github/workflows/dr-drill.yml) calls it; operators use it for an
// on-demand drill or backup.
//   preflight: the environment deploys to Kubernetes and schedules JOB (database.schedule); the
//              kube context is the environment's; the CronJob is in the cluster (by its label
//              mytv.app/backup-job, never by a guessed name)
//   plan:      printed; --dry-run stops here
//   act:       production asks first (--yes to skip); creates the Job
//   verify:    polls the Job until its Complete or Failed condition (progress shown), prints its log;
//              exits non-zero when the Job failed or did not finish within --timeout
//   failure:   nothing to roll back (the Job changes nothing by itself but what the job does);
//              on timeout the Job keeps running in the cluster and the message says how to follow it
import { intOption } from './lib/cli.js';
import { loadEnvironment } from './lib/environments.js';
import { UsageError, UserError } from './lib/errors.js';
import { BACKUP_JOB_LABEL, backupJobs } from './lib/generated/backup-jobs.js';
import { jobState, runJobName, type JobState } from './lib/kube/backup-cronjobs.js';
import { Kubectl } from './lib/kube/rotation.js';
import { guardContext } from './lib/kube/preflight.js';
import { runScript } from './lib/main.js';
import { sleep } from './lib/wait.js';

await runScript(
  {
    summary:
      'Run one of ENV’s scheduled backup CronJobs now in the cluster (a Job from its template), wait, print its log.',
    usage: 'make backup-job ENV=staging|prod JOB=name [DRY_RUN=1] [JSON=1] [ARGS="--timeout=SECONDS"]',
    options: {
      job: { type: 'string' },
      timeout: { type: 'string' },
      poll: { type: 'string' },
    },
    optionsHelp: [
      'Options:',
      '  --job NAME        the job of database.schedule: backup-full, backup-diff, backup-incr,',
      '                    backup-status, dr-drill, dump (JOB=…)',
      '  --timeout SECS    how long to wait for the Job (default 3600; the Job keeps running after)',
      '  --poll SECS       seconds between two looks at the Job (default 5)',
    ].join('\n'),
  },
  async (ctx) => {
    const { out, flags, values, exec } = ctx;
    const env = loadEnvironment(flags.env);
    const timeoutSeconds = intOption(values.timeout, 'timeout', { default: 3600, min: 1, max: 86_400 });
    const pollSeconds = Number(values.poll ?? 5);
    if (!(pollSeconds > 0 && pollSeconds <= 600))
      throw new UserError(
        `--poll must be a number of seconds above 0 and at most 600 (got ${JSON.stringify(values.poll)})`,
        {
          hint: 'pass --poll=5',
        },
      );

    // preflight
    if (env.deploy.kind === 'local')
      throw new UserError(`environment ${env.name} does not deploy to Kubernetes: it has no backup CronJobs`, {
        hint: `run the job directly, e.g. make dr-drill ENV=${env.name}`,
      });
    const jobs = backupJobs(env);
    const name = values.job as string | undefined;
    const names = jobs.map((j) => j.name).join('|') || '…';
    if (!name)
      throw new UsageError(
        `which job? JOB=… is required`,
        `make backup-job ENV=${env.name} JOB=${names} (database.schedule of ${env.name})`,
      );
    const job = jobs.find((j) => j.name === name);
    if (!job)
      throw new UsageError(
        `${env.name} schedules no job '${name}'`,
        jobs.length
          ? `one of: ${jobs.map((j) => j.name).join(', ')} (database.schedule in environments/${env.name}.yaml)`
          : `environments/${env.name}.yaml has no database.schedule (kind ssh) and so no CronJob`,
      );
    const kubectl = new Kubectl(exec, env);
    await guardContext(kubectl, env);
    out.step(`find the CronJob of ${name} in ${kubectl.namespace}`);
    const found = await kubectl.run(['get', 'cronjob', '-l', `${BACKUP_JOB_LABEL}=${name}`, '-o', 'name'], {
      readOnly: true,
    });
    if (found.exitCode !== 0)
      throw new UserError(`listing CronJobs failed: ${(found.stderr || found.stdout).trim().split('\n').pop()}`, {
        hint: 'check the kubeconfig and that its account may get cronjobs in the namespace; nothing was changed',
      });
    const cronJobs = found.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => l.replace(/^cronjob\.batch\//, '').replace(/^cronjob\//, ''));
    if (cronJobs.length !== 1)
      throw new UserError(
        cronJobs.length === 0
          ? `no CronJob with label ${BACKUP_JOB_LABEL}=${name} in ${kubectl.namespace}`
          : `${cronJobs.length} CronJobs carry ${BACKUP_JOB_LABEL}=${name} in ${kubectl.namespace}: ${cronJobs.join(', ')}`,
        {
          hint: `deploy the backup CronJobs first (make deploy-${env.name}; backups.enabled for Helm); ${kubectl.hint(`get cronjobs -l ${BACKUP_JOB_LABEL}`)}; nothing was changed`,
        },
      );
    const cronJob = cronJobs[0];
    const runName = runJobName(cronJob);

    // plan
    out.table(
      [
        { what: 'environment', value: `${env.name} (${kubectl.context}, namespace ${kubectl.namespace})` },
        { what: 'job', value: `${name}: ${job.args.join(' ')} (scheduled '${job.schedule}')` },
        { what: 'from', value: `cronjob/${cronJob}` },
        { what: 'creates', value: `job/${runName}` },
        { what: 'waits', value: `up to ${timeoutSeconds}s` },
      ],
      ['what', 'value'],
    );
    if (flags.dryRun) {
      await kubectl.run(['create', 'job', runName, `--from=cronjob/${cronJob}`]);
      out.line('dry run: nothing was changed');
      return;
    }
    if (env.production) await ctx.confirm(`run ${name} in ${env.name} now (job/${runName})?`);

    // act
    const created = await kubectl.run(['create', 'job', runName, `--from=cronjob/${cronJob}`]);
    if (created.exitCode !== 0)
      throw new UserError(
        `creating job/${runName} failed: ${(created.stderr || created.stdout).trim().split('\n').pop()}`,
        {
          hint: 'the account needs create on jobs in the namespace; nothing was created',
        },
      );

    // verify
    const deadline = Date.now() + timeoutSeconds * 1000;
    let state: JobState = { phase: 'running', active: 0 };
    let shown = '';
    await out.task(`job/${runName}`, async (update) => {
      for (;;) {
        const r = await kubectl.run(['get', 'job', runName, '-o', 'json'], { readOnly: true });
        if (r.exitCode === 0) state = jobState(r.stdout);
        const now = `${state.phase}${state.phase === 'running' ? `, ${state.active} pod(s) active` : ''}`;
        if (now !== shown) update((shown = now));
        if (state.phase !== 'running' || Date.now() >= deadline) return;
        await sleep(pollSeconds * 1000);
      }
    });
    const logs = await kubectl.run(['logs', `job/${runName}`, '--tail=-1'], { readOnly: true });
    const log = logs.exitCode === 0 ? logs.stdout : '';
    if (flags.json)
      out.data({
        environment: env.name,
        job: name,
        cronJob,
        run: runName,
        phase: state.phase,
        reason: state.reason,
        log,
      });
    else if (log.trim()) {
      out.line(`--- log of job/${runName} ---`);
      out.line(log.trimEnd());
      out.line('---');
    }
    if (state.phase === 'running')
      throw new UserError(`job/${runName} did not finish within ${timeoutSeconds}s; it keeps running in the cluster`, {
        hint: `follow it: ${kubectl.hint(`logs -f job/${runName}`)}; stop it: ${kubectl.hint(`delete job ${runName}`)}`,
      });
    if (state.phase === 'failed')
      throw new UserError(`job/${runName} (${name}) failed${state.reason ? `: ${state.reason}` : ''}`, {
        hint: `its log is above; ${kubectl.hint(`describe job ${runName}`)}`,
      });
    out.ok(`${name} ran in ${env.name} as job/${runName} and completed`);
  },
);
