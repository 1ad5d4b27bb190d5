// make deploy-staging | make deploy-prod — the environment decides how: kustomize + kubectl
// (deploy.kind: kustomize) or the Helm chart (deploy.kind: helm).
// Preflight (clean tree, image tag = commit, render, Kubernetes schemas, policy, kube context,
// the Secret), plan (rendered objects against the live ones), confirm for production, apply
// (migration first, then the rollout), verify (helm test; readiness and a read endpoint through
// the public URL), and on failure roll back and say what state the environment is in. The deploy
// is recorded (who, commit, when, result) in the output and on the Deployment.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { intOption } from './lib/cli.js';
import { loadEnvironment } from './lib/environments.js';
import { UserError } from './lib/errors.js';
import { APP_SECRET, createDeployer, DeployFailure, migrationObjects } from './lib/kube/deployers.js';
import { deployCommit, deployedBy } from './lib/kube/git.js';
import { toYamlStream } from './lib/kube/manifests.js';
import { checkRender, guardContext } from './lib/kube/preflight.js';
import { kubeDeploy, renderEnvironment, type DeployRecord } from './lib/kube/render.js';
import { verifyPublic } from './lib/kube/verify.js';
import { runDirFrom } from './lib/local-stack/state.js';
import { runScript } from './lib/main.js';
import { repoRoot } from './lib/paths.js';

/** The Secret every pod reads (helm/mytv-api values app.existingSecret; kustomize/base). */

await runScript(
  {
    summary:
      'Deploy the API to ENV’s Kubernetes cluster: kustomize (staging) or Helm (production), migration first, verified, rolled back on failure.',
    usage:
      'make deploy-staging | make deploy-prod [DRY_RUN=1] [YES=1] [ARGS="--allow-dirty --timeout=600 --verify-timeout=120"]',
    options: {
      'allow-dirty': { type: 'boolean' },
      timeout: { type: 'string' },
      'verify-timeout': { type: 'string' },
    },
    optionsHelp: [
      'Options:',
      '  --allow-dirty           deploy although the working tree has uncommitted changes',
      '  --timeout=SECONDS       rollout / helm --timeout (default 600)',
      '  --verify-timeout=SEC    how long the public URL may take to answer ready (default 120)',
    ].join('\n'),
  },
  async (ctx) => {
    const { out, flags, exec, values } = ctx;
    // --- preflight: nothing below changes anything until the confirmation
    const env = loadEnvironment(flags.env);
    const d = kubeDeploy(env);
    const rolloutSeconds = intOption(values.timeout, 'timeout', { default: 600, min: 30, max: 3600 });
    const verifySeconds = intOption(values['verify-timeout'], 'verify-timeout', { default: 120, min: 0, max: 1800 });
    const { commit, tag } = await deployCommit(exec, Boolean(values['allow-dirty']));
    const record: DeployRecord = { by: await deployedBy(exec), commit: tag, at: new Date().toISOString() };

    out.step(`render ${d.kind === 'helm' ? `${d.chart} with ${d.valuesFile}` : d.overlay} for image tag ${tag}`);
    const render = await renderEnvironment(exec, env, { tag, record });
    out.step(`validate ${render.objects.length} objects (Kubernetes schemas, policy)`);
    await checkRender(render.objects, d.kind === 'helm' ? d.valuesFile : d.overlay);
    const deployer = createDeployer(
      exec,
      env,
      { rolloutSeconds, migrationSeconds: Math.min(rolloutSeconds, 600), testSeconds: 300 },
      record,
      tag,
    );
    await guardContext(deployer, env);

    const work = path.join(runDirFrom(values), 'deploy', env.name, tag);
    mkdirSync(work, { recursive: true });
    const file = path.join(work, 'render.yaml');
    const migrationFile = path.join(work, 'migration.yaml');
    writeFileSync(file, toYamlStream(render.objects));
    writeFileSync(migrationFile, toYamlStream(migrationObjects(render.objects)));

    out.table(
      [
        { what: 'environment', value: `${env.name} (${env.production ? 'production' : 'not production'})` },
        {
          what: 'how',
          value: d.kind === 'helm' ? `helm release ${d.release} from ${d.chart}` : `kustomize ${d.overlay}`,
        },
        { what: 'cluster', value: `context ${d.kubeContext}, namespace ${d.namespace}` },
        { what: 'image tag', value: `${tag} (commit ${commit})` },
        {
          what: 'render',
          value: `${file.startsWith(repoRoot + path.sep) ? path.relative(repoRoot, file) : file} (${render.objects.length} objects)`,
        },
        { what: 'deployed by', value: `${record.by} at ${record.at}` },
        {
          what: 'verify',
          value: `${d.kind === 'helm' ? 'helm test, then ' : ''}${env.api.publicUrl}/health/ready and a read endpoint`,
        },
      ],
      ['what', 'value'],
    );

    // --- plan
    if (flags.dryRun) {
      out.line('dry run (offline): the cluster was not contacted; the commands a deploy runs:');
      await deployer.apply(render, file, migrationFile, { detail: 'n/a (dry run)' });
      await deployer.verifyInCluster();
      out.line(`would check ${env.api.publicUrl}/health/ready and ${env.api.publicUrl}/v2/channels?limit=1`);
      await deployer.recordResult(render.deployment, 'succeeded');
      out.line('dry run: nothing was changed');
      if (flags.json)
        out.data({
          environment: env.name,
          kind: d.kind,
          tag,
          render: file,
          objects: render.objects.length,
          dryRun: true,
        });
      return;
    }
    await deployer.checkSecret(APP_SECRET);
    const live = await deployer.live(render);
    const plan = await deployer.plan(render, file);
    out.line(`live: ${live.detail}`);
    if (plan.diff) out.line(plan.diff.trimEnd());
    out.table(plan.rows.length ? plan.rows : [{ object: '(all objects)', change: 'unchanged' }], ['object', 'change']);
    if (env.production) await ctx.confirm(`deploy ${tag} to ${env.name} (${d.kubeContext}/${d.namespace})?`);

    // --- act, verify, and on failure roll back and say so
    const failed = async (failure: UserError, stage: string): Promise<never> => {
      await deployer.recordResult(render.deployment, `failed at ${stage}`).catch(() => undefined);
      if (flags.json)
        out.data({
          environment: env.name,
          tag,
          result: 'failed',
          stage,
          message: failure.message,
          state: failure.hint,
          record,
        });
      throw failure;
    };
    try {
      out.step(
        d.kind === 'helm'
          ? 'helm upgrade --install --atomic --wait (migration hook first)'
          : 'apply the migration job and wait for it, then apply and wait for the rollout',
      );
      await deployer.apply(render, file, migrationFile, live);
    } catch (err) {
      if (err instanceof DeployFailure) await failed(err, err.stage);
      throw err;
    }

    out.step('verify');
    let problem: string | undefined;
    try {
      await deployer.verifyInCluster();
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      problem = err.message;
    }
    if (!problem) {
      const checks = await verifyPublic(env.api.publicUrl, verifySeconds * 1000);
      out.table(checks.map((c) => ({ check: c.url, result: c.ok ? 'ok' : 'FAILED', detail: c.detail })));
      const bad = checks.find((c) => !c.ok);
      if (bad) problem = `${bad.url} answered ${bad.detail}`;
    }
    if (problem) {
      out.step(`verification failed (${problem}): rolling back`);
      let state: string;
      try {
        state = await deployer.rollbackAfterFailure(render, live);
      } catch (err) {
        state = err instanceof UserError ? `${err.message}; ${err.hint ?? ''}` : String(err);
      }
      await failed(
        new DeployFailure('verify', `${tag} was rolled out to ${env.name} but failed verification: ${problem}`, state),
        'verify',
      );
    }

    await deployer.recordResult(render.deployment, 'succeeded');
    out.ok(
      `${tag} is live on ${env.name} (${d.kubeContext}/${d.namespace}); deployed by ${record.by} at ${record.at}; previously ${live.detail}`,
    );
    if (flags.json)
      out.data({
        environment: env.name,
        kind: d.kind,
        tag,
        result: 'succeeded',
        previous: live.revision ?? null,
        record,
      });
  },
);
