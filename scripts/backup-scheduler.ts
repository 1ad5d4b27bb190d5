// make backup-scheduler ENV=… — runs the environment's database.schedule in the foreground: backup
// full / diff / incr, backup-status --publish, dump, dr-drill, each at its cron time (croner; the
// CronJobs of Kubernetes get the same list from scripts/lib/generated/backup-jobs.ts). The compose
// stack's `backup-scheduler` service runs it in the ops image; beside a native stack it can run by hand.
//   preflight: the jobs (cron lines checked); with --compose-project (MYTV_COMPOSE_PROJECT), the
//              project's running `postgres` container found through the Docker Engine API
//              (--docker-socket, default /var/run/docker.sock) by the labels compose sets
//   plan:      the jobs with their next run (--list stops here; --dry-run too)
//   act:       each job at its time as a child entry script, its output prefixed with the job's
//              name. A job still running at its next time is skipped and said so (croner's overrun
//              protection); the scripts' own backup lock keeps a full and an incremental apart.
//              With --compose-project, the container is looked up again before every run and
//              recorded in the run directory's state.json (engine docker-api), which is how the
//              job scripts find it (connectDbHost).
//   stop:      SIGTERM / SIGINT: nothing new starts; running jobs are waited for. With --runs=N it
//              exits after N runs, 1 when one of them failed.
import { mkdirSync } from 'node:fs';
import { Cron } from 'croner';
import { scheduledJobs, type BackupJob } from './lib/generated/backup-jobs.js';
import { runEntryScript } from './lib/child-script.js';
import { loadEnvironment } from './lib/environments.js';
import { UsageError, UserError } from './lib/errors.js';
import { findComposeContainer } from './lib/local-stack/compose-postgres.js';
import { readState, runDirFrom, writeState } from './lib/local-stack/state.js';
import { runScript } from './lib/main.js';

/** The longest a job may run before it is killed (a drill or a full backup of a large database). */
const JOB_TIMEOUT_MS = 6 * 3600_000;

await runScript(
  {
    summary:
      'Run the environment’s backup schedule (database.schedule) in the foreground: the compose stack’s scheduler.',
    usage: 'make backup-scheduler ENV=… [ARGS="--list --only=backup-status --runs=N --compose-project=mytv"] [JSON=1]',
    options: {
      'run-dir': { type: 'string' },
      list: { type: 'boolean' },
      only: { type: 'string' },
      runs: { type: 'string' },
      'compose-project': { type: 'string' },
      'docker-socket': { type: 'string' },
    },
    optionsHelp: [
      '  --list                 print the jobs and their next run, then exit',
      '  --only=NAME[,NAME]     run only these jobs (backup-full, backup-diff, backup-incr, backup-status, dr-drill, dump)',
      '  --runs=N               exit after N job runs (a one-off, a check)',
      '  --compose-project=P    the database is compose project P’s postgres container, reached through',
      '                         the Docker Engine API (default MYTV_COMPOSE_PROJECT; the compose service sets it)',
      '  --docker-socket=PATH   the Engine API socket (default /var/run/docker.sock)',
    ].join('\n'),
  },
  async (ctx) => {
    const { out, flags, values } = ctx;
    const env = loadEnvironment(flags.env);
    const runDir = runDirFrom(values);
    const project = (values['compose-project'] as string | undefined) ?? process.env.MYTV_COMPOSE_PROJECT;
    const socket = (values['docker-socket'] as string | undefined) ?? '/var/run/docker.sock';
    const maxRuns = values.runs === undefined ? undefined : Number(values.runs);
    if (maxRuns !== undefined && !(Number.isInteger(maxRuns) && maxRuns > 0))
      throw new UsageError(`--runs must be a whole number above 0, not ${String(values.runs)}`);

    let jobs: BackupJob[] = scheduledJobs(env);
    if (jobs.length === 0)
      throw new UserError(`environment ${env.name} has no database section: nothing to schedule`, {
        hint: `describe its PostgreSQL under database: in environments/${env.name}.yaml`,
      });
    if (values.only) {
      const wanted = String(values.only).split(',');
      const unknown = wanted.filter((w) => !jobs.some((j) => j.name === w));
      if (unknown.length > 0)
        throw new UsageError(`unknown job ${unknown.join(', ')}`, `the jobs are ${jobs.map((j) => j.name).join(', ')}`);
      jobs = jobs.filter((j) => wanted.includes(j.name));
    }
    if (project) {
      const existing = readState(runDir);
      if (existing && existing.mode !== 'docker')
        throw new UserError(`${runDir} holds a ${existing.mode} stack, not compose project ${project}`, {
          hint: 'give the scheduler its own run directory (--run-dir) or leave out --compose-project',
        });
    }

    const crons = jobs.map((j) => ({
      job: j,
      cron: new Cron(j.schedule, { paused: true, protect: true, name: j.name }),
    }));
    const plan = crons.map(({ job, cron }) => ({
      job: job.name,
      schedule: job.schedule,
      next: cron.nextRun()?.toISOString() ?? '-',
      command: job.args.join(' '),
    }));
    if (values.list || flags.dryRun) {
      if (flags.json) out.data({ environment: env.name, composeProject: project ?? null, jobs: plan });
      else out.table(plan);
      for (const { cron } of crons) cron.stop();
      return;
    }
    out.table(plan);
    out.line(
      `scheduler for ${env.name} started${project ? ` (compose project ${project}, Engine API ${socket})` : ''}; SIGTERM stops it`,
    );

    let runs = 0;
    let failures = 0;
    const running = new Set<Promise<void>>();
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));

    const runJob = async (job: BackupJob): Promise<void> => {
      const started = new Date();
      if (project) {
        const container = await findComposeContainer(socket, project, 'postgres').catch((e: Error) => {
          out.warn(`${job.name}: the Docker Engine API at ${socket} did not answer: ${e.message}`);
          return undefined;
        });
        if (!container) {
          out.warn(`${job.name}: skipped, no running postgres container in compose project ${project}`);
          failures += 1;
          return;
        }
        mkdirSync(runDir, { recursive: true });
        writeState(runDir, {
          mode: 'docker',
          profile: readState(runDir)?.profile ?? 'dev',
          environment: env.name,
          startedAt: readState(runDir)?.startedAt ?? started.toISOString(),
          postgres: container,
        });
      }
      out.line(`${started.toISOString()} ${job.name}: start (${job.args.join(' ')})`);
      const r = await runEntryScript(job.args[0], job.args.slice(1), {
        env: { MYTV_RUN_DIR: runDir },
        timeoutMs: JOB_TIMEOUT_MS,
        onOutput: (chunk) => {
          for (const line of chunk.split('\n').filter(Boolean)) out.line(`  [${job.name}] ${line}`);
        },
      });
      const seconds = ((Date.now() - started.getTime()) / 1000).toFixed(1);
      if (r.code === 0) out.line(`${new Date().toISOString()} ${job.name}: finished (exit 0, ${seconds}s)`);
      else {
        failures += 1;
        out.warn(`${new Date().toISOString()} ${job.name}: FAILED (exit ${r.code ?? 'signal'}, ${seconds}s)`);
      }
    };

    for (const { job, cron } of crons) {
      cron.schedule(() => {
        const p = runJob(job)
          .catch((e: Error) => out.warn(`${job.name}: ${e.message}`))
          .finally(() => {
            running.delete(p);
            runs += 1;
            if (maxRuns !== undefined && runs >= maxRuns) finish();
          });
        running.add(p);
        return p;
      });
      cron.options.protect = (c: Cron) =>
        out.warn(`${new Date().toISOString()} ${c.name ?? job.name}: skipped, the previous run is still going`);
      cron.resume();
    }
    const onSignal = (sig: string) => {
      out.line(`${sig}: no new job starts; waiting for ${running.size} running`);
      finish();
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
    await finished;
    for (const { cron } of crons) cron.stop();
    await Promise.all([...running]);
    // A one-off (--runs) says whether its runs worked; a long-running scheduler only logs them.
    if (maxRuns !== undefined && failures > 0)
      throw new UserError(`${failures} of ${runs} scheduled run(s) failed (see the output above)`);
    out.ok(`scheduler stopped after ${runs} run(s)`);
  },
);
