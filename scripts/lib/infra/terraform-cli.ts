// The Terraform CLI for terraform/ (Cloudflare zone and R2 buckets): version pin, credentials,
// state backend reachability, init/plan/show/apply, and what a saved plan would do. Used by
// scripts/infra-plan.ts and scripts/infra-apply.ts (through plan.ts).
// CLI contract (developer.hashicorp.com/terraform/cli/commands/plan): `plan -detailed-exitcode`
// exits 0 = no changes, 1 = error, 2 = changes present; `show -json PLAN` prints the plan
// representation (developer.hashicorp.com/terraform/internals/json-format): resource_changes[]
// with type, address and change.actions (["create"], ["update"], ["delete"], ["delete","create"] …).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseHcl } from './hcl.js';
import type { Environment } from '../environments.js';
import { UserError } from '../errors.js';
import type { Exec } from '../exec.js';
import { backendConfigPath, terraformDir, tfvarsPath } from './vars.js';
import { defaultRunDir, fromRoot } from '../paths.js';

/** Resource types whose destruction takes the API off the air or loses data: refused without --allow-destroy. */
export const PROTECTED_TYPES = ['cloudflare_dns_record', 'cloudflare_zone_setting', 'cloudflare_r2_bucket'];

/** Variables make infra-plan/infra-apply need (names only are ever printed). */
export const CREDENTIAL_VARS = [
  { name: 'CLOUDFLARE_API_TOKEN', purpose: 'Cloudflare API token for the provider (zone, DNS, WAF, R2 edit)' },
  { name: 'CLOUDFLARE_ACCOUNT_ID', purpose: 'account of the R2 buckets and of the state endpoint' },
  { name: 'TF_STATE_ACCESS_KEY_ID', purpose: 'R2 S3 access key of the state bucket' },
  { name: 'TF_STATE_SECRET_ACCESS_KEY', purpose: 'R2 S3 secret key of the state bucket' },
] as const;

/**
 * Terraform's version constraint syntax (`~> 1.14.0`, `>= 1.11, < 2.0`) as a semver range.
 * `~> X.Y.Z` allows only the rightmost part to grow (~X.Y.Z), `~> X.Y` likewise (^X.Y.0 for X ≥ 1)
 * (developer.hashicorp.com/terraform/language/expressions/version-constraints).
 */
export function terraformConstraintToRange(constraint: string): string {
  return constraint
    .split(',')
    .map((part) => {
      const m = /^\s*(~>|>=|<=|!=|=|>|<)?\s*(\d+(?:\.\d+){0,2})\s*$/.exec(part);
      if (!m) throw new Error(`unsupported version constraint '${part.trim()}' in terraform/versions.tf`);
      const [, op = '=', v] = m;
      const parts = v.split('.');
      if (op === '~>')
        return parts.length === 3 ? `~${v}` : `>=${parts[0]}.${parts[1] ?? 0}.0 <${Number(parts[0]) + 1}.0.0`;
      if (op === '!=') return `<${v} || >${v}`;
      return `${op === '=' ? '' : op}${v}`;
    })
    .join(' ');
}

/** `required_version` of terraform/versions.tf (parsed as HCL). */
export async function requiredTerraformVersion(dir = fromRoot(terraformDir)): Promise<string> {
  const file = path.join(dir, 'versions.tf');
  const parsed = (await parseHcl(file, readFileSync(file, 'utf8'))) as {
    terraform?: { required_version?: string }[];
  };
  const constraint = parsed.terraform?.find((t) => t.required_version)?.required_version;
  if (!constraint) throw new Error(`${file} has no terraform { required_version }`);
  return constraint;
}

/** Effective credentials of an environment, for the terraform child process only. */
export interface InfraCredentials {
  /** Variables for the child (provider token, backend keys and endpoint, account id). */
  childEnv: Record<string, string>;
  stateEndpoint: string;
}

/**
 * Reads every credential at once; a missing one is an operator error naming all that are missing
 * (names only) and where to set them. TF_STATE_ENDPOINT overrides the R2 endpoint of the account.
 */
export function infraCredentials(env: Environment): InfraCredentials {
  const missing = CREDENTIAL_VARS.filter((c) => !env.vars[c.name]);
  if (missing.length > 0)
    throw new UserError(
      `missing ${missing.map((c) => c.name).join(', ')} for environment ${env.name} (${missing.map((c) => c.purpose).join('; ')})`,
      { hint: `set them in .env.${env.name} (git-ignored) or export them; see terraform/README.md` },
    );
  const v = (name: string): string => env.vars[name]!;
  const accountId = v('CLOUDFLARE_ACCOUNT_ID');
  if (!/^[0-9a-f]{32}$/.test(accountId))
    throw new UserError('CLOUDFLARE_ACCOUNT_ID is not a Cloudflare account id (32 hexadecimal characters)', {
      hint: 'copy it from the dashboard (Account home → the account → Account ID)',
    });
  const endpoint = env.vars.TF_STATE_ENDPOINT || `https://${accountId}.r2.cloudflarestorage.com`;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UserError(`TF_STATE_ENDPOINT is not a URL: ${endpoint}`, {
      hint: 'unset it to use the account’s R2 endpoint',
    });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new UserError(`TF_STATE_ENDPOINT must be http(s): ${endpoint}`, {
      hint: 'unset it to use the account’s R2 endpoint',
    });
  const stateEndpoint = url.origin;
  return {
    stateEndpoint,
    childEnv: {
      CLOUDFLARE_API_TOKEN: v('CLOUDFLARE_API_TOKEN'),
      TF_VAR_account_id: accountId,
      AWS_ACCESS_KEY_ID: v('TF_STATE_ACCESS_KEY_ID'),
      AWS_SECRET_ACCESS_KEY: v('TF_STATE_SECRET_ACCESS_KEY'),
      AWS_ENDPOINT_URL_S3: stateEndpoint,
      TF_IN_AUTOMATION: '1',
      TF_INPUT: '0',
    },
  };
}

/**
 * The state backend answers HTTP at all (any status: the request is unsigned); a refused
 * connection, a DNS failure or no answer within timeoutMs is an operator error.
 */
export async function checkBackendReachable(endpoint: string, bucket: string, timeoutMs = 10_000): Promise<number> {
  try {
    const res = await fetch(`${endpoint}/${bucket}`, { method: 'HEAD', signal: AbortSignal.timeout(timeoutMs) });
    return res.status;
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new UserError(
      `the state backend ${endpoint} is not reachable: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
      { hint: 'check the network and TF_STATE_ENDPOINT / CLOUDFLARE_ACCOUNT_ID; nothing was changed' },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Plans

export type PlanAction = 'create' | 'update' | 'delete' | 'replace';

export interface PlannedChange {
  address: string;
  type: string;
  action: PlanAction;
}

interface PlanJson {
  resource_changes?: { address: string; type: string; mode?: string; change: { actions: string[] } }[];
}

function actionOf(actions: string[]): PlanAction | undefined {
  if (actions.includes('delete') && actions.includes('create')) return 'replace';
  if (actions.includes('delete')) return 'delete';
  if (actions.includes('create')) return 'create';
  if (actions.includes('update')) return 'update';
  return undefined; // no-op, read
}

/** The managed resources a plan changes (`terraform show -json` output). */
export function plannedChanges(planJsonText: string): PlannedChange[] {
  let plan: PlanJson;
  try {
    plan = JSON.parse(planJsonText) as PlanJson;
  } catch {
    throw new UserError('terraform show -json did not print JSON', { hint: 'run it by hand to see why' });
  }
  const changes: PlannedChange[] = [];
  for (const rc of plan.resource_changes ?? []) {
    if (rc.mode === 'data') continue;
    const action = actionOf(rc.change?.actions ?? []);
    if (action) changes.push({ address: rc.address, type: rc.type, action });
  }
  return changes;
}

/** Counts per resource type and action, sorted: the plan summary table. */
export function summarisePlan(changes: PlannedChange[]): { type: string; action: PlanAction; count: number }[] {
  const counts = new Map<string, number>();
  for (const c of changes) counts.set(`${c.type}\t${c.action}`, (counts.get(`${c.type}\t${c.action}`) ?? 0) + 1);
  return [...counts]
    .map(([k, count]) => {
      const [type, action] = k.split('\t') as [string, PlanAction];
      return { type, action, count };
    })
    .sort((a, b) => a.type.localeCompare(b.type) || a.action.localeCompare(b.action));
}

/** Changes that destroy a protected resource (delete or replace). */
export function protectedDestroys(changes: PlannedChange[]): PlannedChange[] {
  return changes.filter((c) => (c.action === 'delete' || c.action === 'replace') && PROTECTED_TYPES.includes(c.type));
}

// ---------------------------------------------------------------------------------------------
// The CLI

export type PlanOutcome = 'no-changes' | 'changes';

/** Where an environment's working data (TF_DATA_DIR, saved plans) lives; MYTV_TERRAFORM_WORK_DIR overrides. */
export function terraformWorkDir(envName: string): string {
  return path.join(process.env.MYTV_TERRAFORM_WORK_DIR ?? path.join(defaultRunDir, 'terraform'), envName);
}

export class TerraformCli {
  private readonly dir = fromRoot(terraformDir);

  constructor(
    private readonly exec: Exec,
    private readonly envName: string,
    private readonly childEnv: Record<string, string>,
  ) {}

  private get env(): Record<string, string> {
    return { ...this.childEnv, TF_DATA_DIR: path.join(terraformWorkDir(this.envName), 'data') };
  }

  /** `terraform version -json` → the version (e.g. "1.14.2"). */
  async version(): Promise<string> {
    const out = await this.exec.read('terraform', ['version', '-json'], { env: this.env });
    const v = (JSON.parse(out) as { terraform_version?: string }).terraform_version;
    if (!v) throw new UserError('terraform version -json printed no terraform_version');
    return v;
  }

  /** init against this environment's state key (read-only for the infrastructure). */
  async init(): Promise<void> {
    await this.exec.run(
      'terraform',
      [
        `-chdir=${this.dir}`,
        'init',
        '-input=false',
        '-reconfigure',
        `-backend-config=${path.relative(terraformDir, backendConfigPath(this.envName))}`,
      ],
      { env: this.env, readOnly: true },
    );
  }

  /** plan -out=planFile with -detailed-exitcode: 0 no changes, 2 changes, anything else an error. */
  async plan(planFile: string): Promise<PlanOutcome> {
    const args = [
      `-chdir=${this.dir}`,
      'plan',
      '-input=false',
      '-detailed-exitcode',
      `-var-file=${path.relative(terraformDir, tfvarsPath(this.envName))}`,
      `-out=${planFile}`,
    ];
    const r = await this.exec.run('terraform', args, { env: this.env, readOnly: true, nothrow: true });
    if (r.exitCode === 0) return 'no-changes';
    if (r.exitCode === 2) return 'changes';
    const last = (r.stderr || r.stdout).trim().split('\n').filter(Boolean).slice(-3).join(' | ');
    throw new UserError(`terraform plan failed for ${this.envName} (exit ${r.exitCode}): ${last}`, {
      hint: 'nothing was applied; fix the error above (VERBOSE=1 shows the command)',
    });
  }

  async showJson(planFile: string): Promise<string> {
    return this.exec.read('terraform', [`-chdir=${this.dir}`, 'show', '-json', planFile], { env: this.env });
  }

  /** Applies exactly the saved plan (terraform refuses it if the state moved since). */
  async apply(planFile: string): Promise<{ ok: boolean; output: string }> {
    const r = await this.exec.run('terraform', [`-chdir=${this.dir}`, 'apply', '-input=false', planFile], {
      env: this.env,
      nothrow: true,
    });
    return { ok: r.exitCode === 0, output: (r.stderr || r.stdout).trim() };
  }
}
