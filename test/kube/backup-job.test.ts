// make backup-job: a scheduled backup CronJob run now, as a Job from its template. kubectl is the
// deploy tests' stand-in (no API server runs here); the CronJob is found by its label, the Job is
// polled until its Complete/Failed condition, its log printed, and refusals change nothing.
import { expect } from 'chai';
import { changingCalls, KubeWorld, words, type Scenario } from '../support/kube-world.js';
import { jobState, runJobName } from '../../scripts/lib/kube/backup-cronjobs.js';

const PROD: Scenario = {
  currentContext: 'mytv-prod',
  backupCronJobs: [{ name: 'mytv-api-dr-drill', job: 'dr-drill' }],
};
const DRILL_LOG = '| measure | value |\n| RTO | 31 s |\n| RPO | 9 s |';

describe('make backup-job (kubectl stand-in)', function () {
  this.timeout(120_000);
  const world = new KubeWorld();
  before(async () => world.start());
  after(async () => world.stop());

  it('creates a Job from the CronJob found by its label, waits for Complete, prints its log', async () => {
    const r = await world.run('backup-job', ['--env=prod', '--job=dr-drill', '--yes', '--poll=0.1'], {
      ...PROD,
      jobLog: DRILL_LOG,
    });
    expect(r.code, r.stderr).to.equal(0);
    const calls = r.calls.filter((c) => c.tool === 'kubectl' && words(c)[0] !== 'config');
    for (const c of calls)
      expect(c.args.slice(0, 4), words(c).join(' ')).to.deep.equal([
        '--context',
        'mytv-prod',
        '--namespace',
        'mytv-prod',
      ]);
    const seen = calls.map((c) => words(c).slice(0, 2).join(' '));
    expect(seen).to.deep.equal(['get cronjob', 'create job', 'get job', 'get job', 'logs job/' + words(calls[1])[2]]);
    expect(words(calls[0])).to.include.members(['-l', 'mytv.app/backup-job=dr-drill']);
    const [, , run, from] = words(calls[1]);
    expect(run).to.match(/^mytv-api-dr-drill-run-[0-9a-z]+$/);
    expect(from).to.equal('--from=cronjob/mytv-api-dr-drill');
    expect(r.stdout).to.include('| RTO | 31 s |');
    expect(r.stdout).to.include(`dr-drill ran in prod as job/${run} and completed`);
  });

  it('a failed Job exits non-zero with the condition reason, after printing the log', async () => {
    const r = await world.run('backup-job', ['--env=prod', '--job=dr-drill', '--yes', '--poll=0.1'], {
      ...PROD,
      backupJob: 'failed',
      jobLog: 'error: restore failed on deploy@db: pgbackrest exit 56',
    });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/job\/mytv-api-dr-drill-run-\S+ \(dr-drill\) failed: BackoffLimitExceeded/);
    expect(r.stdout).to.include('pgbackrest exit 56');
  });

  it('a Job still running at --timeout is an error that says it keeps running and how to follow it', async () => {
    const r = await world.run('backup-job', ['--env=prod', '--job=dr-drill', '--yes', '--poll=0.2', '--timeout=1'], {
      ...PROD,
      backupJob: 'running',
    });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/did not finish within 1s; it keeps running in the cluster/);
    expect(r.stderr).to.match(/kubectl --context mytv-prod -n mytv-prod logs -f job\/mytv-api-dr-drill-run-/);
  });

  it('--json prints the run as one JSON document with its phase and log', async () => {
    const r = await world.run('backup-job', ['--env=prod', '--job=dr-drill', '--yes', '--poll=0.1', '--json'], {
      ...PROD,
      jobLog: DRILL_LOG,
    });
    expect(r.code, r.stderr).to.equal(0);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(doc).to.include({
      environment: 'prod',
      job: 'dr-drill',
      cronJob: 'mytv-api-dr-drill',
      phase: 'complete',
      log: `${DRILL_LOG}\n`,
    });
  });

  it('--dry-run finds the CronJob and prints the create, changing nothing', async () => {
    const r = await world.run('backup-job', ['--env=prod', '--job=dr-drill', '--dry-run'], PROD);
    expect(r.code, r.stderr).to.equal(0);
    expect(changingCalls(r.calls)).to.deep.equal([]);
    expect(r.stdout).to.match(
      /would run: \S*kubectl --context mytv-prod --namespace mytv-prod create job mytv-api-dr-drill-run-\S+ --from=cronjob\/mytv-api-dr-drill/,
    );
  });

  it('production without --yes and without a terminal is refused before the Job is created', async () => {
    const r = await world.run('backup-job', ['--env=prod', '--job=dr-drill', '--poll=0.1'], PROD);
    expect(r.code).to.not.equal(0);
    expect(changingCalls(r.calls)).to.deep.equal([]);
  });

  it('refuses, changing nothing: a job the environment does not schedule, a CronJob not in the cluster, a wrong context, a local environment', async () => {
    const unknown = await world.run('backup-job', ['--env=prod', '--job=vacuum', '--yes'], PROD);
    expect(unknown.code, 'a usage error').to.equal(2);
    expect(unknown.stderr.split('\n')[0]).to.equal("error: prod schedules no job 'vacuum'");
    expect(unknown.stderr).to.include('one of: backup-full, backup-diff, backup-incr, backup-status, dr-drill, dump');

    const missing = await world.run('backup-job', ['--env=prod', '--job=dump', '--yes'], PROD);
    expect(missing.code).to.equal(1);
    expect(missing.stderr.split('\n')[0]).to.equal(
      'error: no CronJob with label mytv.app/backup-job=dump in mytv-prod',
    );

    const twice = await world.run('backup-job', ['--env=prod', '--job=dr-drill', '--yes'], {
      ...PROD,
      backupCronJobs: [...PROD.backupCronJobs!, { name: 'old-dr-drill', job: 'dr-drill' }],
    });
    expect(twice.code).to.equal(1);
    expect(twice.stderr.split('\n')[0]).to.match(/2 CronJobs carry mytv\.app\/backup-job=dr-drill/);

    const context = await world.run('backup-job', ['--env=prod', '--job=dr-drill', '--yes'], {
      ...PROD,
      currentContext: 'mytv-staging',
    });
    expect(context.code).to.equal(1);
    expect(context.stderr.split('\n')[0]).to.match(
      /current kube context is 'mytv-staging' but prod\.yaml names 'mytv-prod'/,
    );

    const local = await world.run('backup-job', ['--env=dev', '--job=dr-drill', '--yes'], PROD);
    expect(local.code).to.equal(1);
    expect(local.stderr.split('\n')[0]).to.equal(
      'error: environment dev does not deploy to Kubernetes: it has no backup CronJobs',
    );

    const none = await world.run('backup-job', ['--env=prod', '--yes'], PROD);
    expect(none.code, 'a usage error').to.equal(2);
    expect(none.stderr.split('\n')[0]).to.equal('error: which job? JOB=… is required');
    expect(none.stderr).to.include('JOB=backup-full|backup-diff|backup-incr|backup-status|dr-drill|dump');

    for (const r of [unknown, missing, twice, context, local, none]) expect(changingCalls(r.calls)).to.deep.equal([]);
  });

  it('reads a Job’s conditions as the API reports them, and names runs within 63 characters', () => {
    expect(jobState('{"status":{"active":1}}')).to.deep.equal({ phase: 'running', active: 1 });
    expect(jobState('{"status":{"conditions":[{"type":"Complete","status":"True"}]}}').phase).to.equal('complete');
    expect(jobState('{"status":{"conditions":[{"type":"Complete","status":"False"}]}}').phase).to.equal('running');
    expect(
      jobState(
        '{"status":{"conditions":[{"type":"Failed","status":"True","reason":"DeadlineExceeded","message":"too long"}]}}',
      ),
    ).to.deep.equal({ phase: 'failed', active: 0, reason: 'DeadlineExceeded: too long' });
    const name = runJobName('x'.repeat(70), Date.UTC(2026, 10, 30));
    expect(name.length).to.be.at.most(63);
    expect(name).to.match(/^x+-run-[0-9a-z]+$/);
    expect(runJobName('mytv-api-dr-drill', 1_000_000_000_000)).to.equal(
      `mytv-api-dr-drill-run-${(1_000_000_000).toString(36)}`,
    );
  });
});
