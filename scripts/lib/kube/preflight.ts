// The checks of a deploy that need no cluster: render, Kubernetes schemas, policy, and the kube
// context guard (reads the kubeconfig only). Shared by make deploy-* and make rollback-*.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Environment } from '../environments.js';
import { UserError } from '../errors.js';
import type { Deployer } from './deployers.js';
import type { K8sObject } from './manifests.js';
import { checkPolicies } from './policy.js';
import { kubeDeploy } from './render.js';
import { validateObjects } from './schema.js';

/** Schema and policy problems of a render, as one operator error listing each (first 10). */
export async function checkRender(objects: K8sObject[], source: string): Promise<void> {
  const schema = (await validateObjects(objects)).map((p) => `schema: ${p.object}: ${p.message}`);
  const policy = checkPolicies(objects).map((v) => `policy ${v.rule}: ${v.object}: ${v.message}`);
  const problems = [...schema, ...policy];
  if (problems.length === 0) return;
  const shown = problems.slice(0, 10).map((p) => `  - ${p}`);
  if (problems.length > 10) shown.push(`  … and ${problems.length - 10} more`);
  throw new UserError(
    `the render of ${source} has ${problems.length} problem(s); nothing was changed:\n${shown.join('\n')}`,
    {
      hint: `fix ${source} (make k8s-check shows every render's problems)`,
    },
  );
}

/** Refuses when kubectl's current context is not the one the environment names. */
export async function guardContext(deployer: Pick<Deployer, 'currentContext'>, env: Environment): Promise<string> {
  const want = kubeDeploy(env).kubeContext;
  const current = await deployer.currentContext();
  if (current !== want)
    throw new UserError(
      `the current kube context is ${current ? `'${current}'` : 'not set'} but ${path.basename(env.file)} names '${want}': refusing to touch the wrong cluster`,
      {
        hint: `kubectl config use-context ${want} (or set ${contextVariable(env) ?? `deploy.kubeContext in ${path.basename(env.file)}`} to the context to use); nothing was changed`,
      },
    );
  return want;
}

/** The variable deploy.kubeContext reads in the environment file (`${STAGING_KUBE_CONTEXT:-…}`), if any. */
function contextVariable(env: Environment): string | undefined {
  try {
    return /^\s*kubeContext:\s*\$\{([A-Z][A-Z0-9_]*)/m.exec(readFileSync(env.file, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}
