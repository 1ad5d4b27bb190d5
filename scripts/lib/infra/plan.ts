// The part make infra-plan and make infra-apply share: preflight (generated variables current,
// terraform at the pinned version, credentials, state backend reachable), init, plan -out, the
// summary by resource type and action, and the destroy guard. Nothing here changes infrastructure.
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { loadEnvironment, type Environment } from '../environments.js';
import { UserError } from '../errors.js';
import { allTfVars, backendConfigPath, cloudflareTarget, renderTfvars, tfvarsPath } from './vars.js';
import type { ScriptContext } from '../main.js';
import { fromRoot } from '../paths.js';
import {
  checkBackendReachable,
  infraCredentials,
  plannedChanges,
  protectedDestroys,
  requiredTerraformVersion,
  summarisePlan,
  TerraformCli,
  terraformConstraintToRange,
  terraformWorkDir,
  type PlannedChange,
  type PlanOutcome,
} from './terraform-cli.js';
import { findTool } from '../tools.js';

export interface InfraPlan {
  env: Environment;
  terraform: TerraformCli;
  planFile: string;
  outcome: PlanOutcome;
  changes: PlannedChange[];
}

/** Fails unless terraform/env/<env>.tfvars is what `make generate` would write now. */
function requireCurrentTfvars(envName: string): void {
  const expected = allTfVars().get(envName);
  const file = tfvarsPath(envName);
  let committed: string | undefined;
  try {
    committed = readFileSync(fromRoot(file), 'utf8');
  } catch {
    committed = undefined;
  }
  if (!expected || committed !== renderTfvars(expected))
    throw new UserError(`${file} does not match environments/${envName}.yaml and nginx/ (stale or missing)`, {
      hint: 'run `make generate` and commit the result; nothing was changed',
    });
}

/**
 * Preflight, init and a saved plan for the --env of ctx, printed as a table of changes per
 * resource type and action. Throws a UserError (nothing applied) on any failed check, and when
 * the plan destroys a DNS record, zone setting or bucket unless allowDestroy.
 */
export async function planInfrastructure(ctx: ScriptContext, o: { allowDestroy: boolean }): Promise<InfraPlan> {
  const { out, flags } = ctx;
  const env = loadEnvironment(flags.env);
  const target = cloudflareTarget(env);

  out.step(`preflight: ${path.basename(tfvarsPath(env.name))} current, terraform version, credentials, state backend`);
  requireCurrentTfvars(env.name);
  const credentials = infraCredentials(env);
  if (!findTool('terraform'))
    throw new UserError('terraform is not installed (no terraform on PATH)', {
      hint: 'install the version terraform/versions.tf pins (required_version); the GitHub workflow uses hashicorp/setup-terraform',
    });
  const terraform = new TerraformCli(ctx.exec, env.name, credentials.childEnv);
  const constraint = await requiredTerraformVersion();
  const version = await terraform.version();
  if (!semver.satisfies(version, terraformConstraintToRange(constraint)))
    throw new UserError(
      `terraform ${version} does not satisfy required_version "${constraint}" (terraform/versions.tf)`,
      {
        hint: `install terraform ${constraint}; nothing was changed`,
      },
    );
  const status = await checkBackendReachable(credentials.stateEndpoint, target.cloudflare.stateBucket);
  out.table(
    [
      { check: 'environment', value: `${env.name}: ${target.hostname} in zone ${target.cloudflare.zone}` },
      { check: 'terraform', value: `${version} (required ${constraint})` },
      {
        check: 'credentials',
        value: 'CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID, TF_STATE_ACCESS_KEY_ID, TF_STATE_SECRET_ACCESS_KEY set',
      },
      {
        check: 'state',
        value: `${credentials.stateEndpoint}/${target.cloudflare.stateBucket} (HTTP ${status}), ${path.basename(backendConfigPath(env.name))}`,
      },
    ],
    ['check', 'value'],
  );

  out.step('terraform init (this environment’s state key)');
  await terraform.init();

  const work = terraformWorkDir(env.name);
  mkdirSync(work, { recursive: true });
  const planFile = path.join(work, 'plan.tfplan');
  out.step(`terraform plan -out=${planFile}`);
  const outcome = await terraform.plan(planFile);
  const changes = outcome === 'changes' ? plannedChanges(await terraform.showJson(planFile)) : [];

  if (changes.length === 0) out.line(`no changes: ${env.name}'s Cloudflare zone and buckets match terraform/`);
  else out.table(summarisePlan(changes), ['type', 'action', 'count']);

  const destroys = protectedDestroys(changes);
  if (destroys.length > 0) {
    for (const d of destroys) out.warn(`PLAN DESTROYS ${d.address} (${d.action})`);
    if (!o.allowDestroy)
      throw new UserError(
        `the plan destroys ${destroys.length} protected resource(s) (${destroys.map((d) => d.address).join(', ')}); refused`,
        {
          hint: 'read the plan; if the destruction is intended, run again with ARGS=--allow-destroy. Nothing was applied',
        },
      );
    out.warn('--allow-destroy given: the destruction above is allowed');
  }
  return { env, terraform, planFile, outcome, changes };
}
