// make rollback-staging | make rollback-prod — back to the previous revision (or --to=REVISION):
// kubectl rollout undo + rollout status (kustomize), helm rollback --wait (Helm); then the same
// public checks as a deploy, and the result recorded on the Deployment.
import { intOption } from './lib/cli.js';
import { loadEnvironment } from './lib/environments.js';
import { UsageError } from './lib/errors.js';
import { createDeployer } from './lib/kube/deployers.js';
import { deployedBy } from './lib/kube/git.js';
import { guardContext } from './lib/kube/preflight.js';
import { kubeDeploy, type DeployRecord } from './lib/kube/render.js';
import { verifyPublic } from './lib/kube/verify.js';
import { runScript } from './lib/main.js';
import { UserError } from './lib/errors.js';

/** The API Deployment's name in both the overlay and the chart (release mytv-api). */
const DEPLOYMENT = 'mytv-api';

await runScript(
  {
    summary: 'Roll ENV’s API back to the previous revision (or --to=REVISION), then verify it through the public URL.',
    usage: 'make rollback-staging | make rollback-prod [DRY_RUN=1] [YES=1] [ARGS="--to=REVISION --timeout=600"]',
    options: { to: { type: 'string' }, timeout: { type: 'string' }, 'verify-timeout': { type: 'string' } },
    optionsHelp: [
      'Options:',
      '  --to=REVISION           the revision to return to (kubectl rollout history / helm history); default: the previous one',
      '  --timeout=SECONDS       how long the rollback may take to be ready (default 600)',
      '  --verify-timeout=SEC    how long the public URL may take to answer ready (default 120)',
    ].join('\n'),
  },
  async (ctx) => {
    const { out, flags, exec, values } = ctx;
    const env = loadEnvironment(flags.env);
    const d = kubeDeploy(env);
    const to = values.to as string | undefined;
    if (to !== undefined && !/^[1-9][0-9]*$/.test(to))
      throw new UsageError(
        `--to must be a revision number (got ${JSON.stringify(to)})`,
        'see the revisions with kubectl rollout history / helm history',
      );
    const rolloutSeconds = intOption(values.timeout, 'timeout', { default: 600, min: 30, max: 3600 });
    const verifySeconds = intOption(values['verify-timeout'], 'verify-timeout', { default: 120, min: 0, max: 1800 });
    const record: DeployRecord = {
      by: await deployedBy(exec),
      commit: `rollback${to ? ` to ${to}` : ''}`,
      at: new Date().toISOString(),
    };
    const deployer = createDeployer(
      exec,
      env,
      { rolloutSeconds, migrationSeconds: rolloutSeconds, testSeconds: 300 },
      record,
      'rollback',
    );
    await guardContext(deployer, env);

    if (!flags.dryRun) out.line(await deployer.history(DEPLOYMENT));
    const target = to ? `revision ${to}` : 'the previous revision';
    out.line(`plan: roll ${env.name} (${d.kubeContext}/${d.namespace}) back to ${target}`);
    if (env.production) await ctx.confirm(`roll ${env.name} back to ${target}?`);

    const state = await deployer.rollback({ deployment: DEPLOYMENT }, to);
    if (flags.dryRun) {
      out.line(`would check ${env.api.publicUrl}/health/ready and a read endpoint; dry run: nothing was changed`);
      return;
    }
    const checks = await verifyPublic(env.api.publicUrl, verifySeconds * 1000);
    out.table(checks.map((c) => ({ check: c.url, result: c.ok ? 'ok' : 'FAILED', detail: c.detail })));
    const bad = checks.find((c) => !c.ok);
    await deployer
      .recordResult(DEPLOYMENT, bad ? 'rolled back, verification failed' : 'rolled back')
      .catch(() => undefined);
    if (bad)
      throw new UserError(`${state}, but ${bad.url} answered ${bad.detail}`, {
        hint: 'the rollback is in place; look at the pods and the edge (make status is local only)',
      });
    out.ok(state);
    if (flags.json) out.data({ environment: env.name, result: 'rolled back', to: to ?? 'previous', record });
  },
);
