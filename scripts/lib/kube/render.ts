// Rendering an environment's Kubernetes objects offline, exactly as they will be applied:
// kustomize (`kubectl kustomize <overlay>`) or Helm (`helm template` with the environment's values
// file), with the image tag set to the commit and the deploy recorded in the Deployment's annotations.
import path from 'node:path';
import type { Environment } from '../environments.js';
import { UsageError, UserError } from '../errors.js';
import type { Exec } from '../exec.js';
import { fromRoot } from '../paths.js';
import { requireTool } from '../tools.js';
import { containersOf, podSpecOf, type K8sObject, parseManifests } from './manifests.js';

export type KubeDeploy = Exclude<Environment['deploy'], { kind: 'local' }>;

/** The environment's Kubernetes deploy settings; a usage error for an environment that has none. */
export function kubeDeploy(env: Environment): KubeDeploy {
  if (env.deploy.kind === 'local')
    throw new UsageError(
      `environment ${env.name} is not deployed to Kubernetes (deploy.kind is local in ${path.basename(env.file)})`,
      'use ENV=staging or ENV=prod (make deploy-staging / make deploy-prod); the local stack is `make up`',
    );
  return env.deploy;
}

/** Who, what and when: written on the Deployment and printed. */
export interface DeployRecord {
  by: string;
  commit: string;
  at: string;
}

export const RECORD_ANNOTATIONS = {
  by: 'mytv.app/deployed-by',
  commit: 'mytv.app/deployed-commit',
  at: 'mytv.app/deployed-at',
  result: 'mytv.app/deploy-result',
} as const;

export function recordAnnotations(r: DeployRecord): Record<string, string> {
  return {
    [RECORD_ANNOTATIONS.by]: r.by,
    [RECORD_ANNOTATIONS.commit]: r.commit,
    [RECORD_ANNOTATIONS.at]: r.at,
    // Shown by `kubectl rollout history`.
    'kubernetes.io/change-cause': `deploy of ${r.commit} by ${r.by} at ${r.at}`,
  };
}

/** The monitoring CRDs are rendered for validation; in a cluster Helm renders them only when they exist. */
const HELM_API_VERSIONS = ['monitoring.coreos.com/v1/ServiceMonitor', 'monitoring.coreos.com/v1/PrometheusRule'];

export interface Render {
  objects: K8sObject[];
  /** The API Deployment's name (rollout status, undo, annotate). */
  deployment: string;
  /** The migration Job (kustomize: applied and awaited first; Helm: its pre-upgrade hook). */
  migrationJob?: string;
}

/** The repository of an image reference (without tag or digest). */
export function imageRepository(image: string): string {
  const at = image.indexOf('@');
  const base = at >= 0 ? image.slice(0, at) : image;
  const slash = base.lastIndexOf('/');
  const colon = base.lastIndexOf(':');
  return colon > slash ? base.slice(0, colon) : base;
}

function apiDeployment(objects: K8sObject[], source: string): K8sObject {
  const found = objects.filter((o) => o.kind === 'Deployment');
  if (found.length !== 1)
    throw new UserError(`${source} renders ${found.length} Deployments; exactly one (the API) is expected`, {
      hint: `check ${source}`,
    });
  return found[0];
}

/**
 * Renders the environment. kustomize: the overlay, then the tag set on every container of the
 * API's image repository, the migration Job named after the tag (a Job's pod template cannot change)
 * and the record on the Deployment's metadata. Helm: `helm template` with the same values the
 * upgrade gets. Throws UserError naming the tool's message when the render fails.
 */
export async function renderEnvironment(
  exec: Exec,
  env: Environment,
  o: { tag: string; record: DeployRecord },
): Promise<Render> {
  const d = kubeDeploy(env);
  if (d.kind === 'kustomize') {
    const r = await exec.run(requireTool('kubectl'), ['kustomize', fromRoot(d.overlay)], {
      readOnly: true,
      nothrow: true,
    });
    if (r.exitCode !== 0)
      throw new UserError(`kubectl kustomize ${d.overlay} failed: ${lastLine(r.stderr)}`, { hint: `fix ${d.overlay}` });
    const objects = parseManifests(r.stdout, d.overlay);
    const deployment = apiDeployment(objects, d.overlay);
    const apiImage = podSpecOf(deployment)?.containers[0]?.image;
    if (!apiImage)
      throw new UserError(`${d.overlay}: the Deployment's first container has no image`, { hint: `fix ${d.overlay}` });
    const repository = imageRepository(apiImage);
    // The API's image and the images the overlay tags like it beside it in the registry (the ops
    // image of the backup CronJobs: built from the same commit) get the commit's tag.
    const sameRelease = (image: string): boolean => {
      const repo = imageRepository(image);
      return (
        repo === repository ||
        (path.posix.dirname(repo) === path.posix.dirname(repository) &&
          image.slice(repo.length) === apiImage.slice(repository.length))
      );
    };
    let migrationJob: string | undefined;
    for (const obj of objects) {
      const pod = podSpecOf(obj);
      if (pod)
        for (const c of containersOf(pod))
          if (c.image && sameRelease(c.image)) c.image = `${imageRepository(c.image)}:${o.tag}`;
      if (obj.kind === 'Job') {
        obj.metadata.name = `${obj.metadata.name}-${o.tag.toLowerCase()}`.slice(0, 63).replace(/-+$/, '');
        migrationJob = obj.metadata.name;
      }
    }
    deployment.metadata.annotations = { ...deployment.metadata.annotations, ...recordAnnotations(o.record) };
    return { objects, deployment: deployment.metadata.name, migrationJob };
  }
  const r = await exec.run(
    requireTool('helm'),
    helmValueArgs(d, o.tag, o.record, [
      'template',
      d.release,
      fromRoot(d.chart),
      '--namespace',
      d.namespace,
      ...HELM_API_VERSIONS.flatMap((v) => ['--api-versions', v]),
    ]),
    { readOnly: true, nothrow: true },
  );
  if (r.exitCode !== 0)
    throw new UserError(`helm template ${d.chart} -f ${d.valuesFile} failed: ${lastLine(r.stderr)}`, {
      hint: `fix ${d.valuesFile} (the schema is ${d.chart}/values.schema.json)`,
    });
  const objects = parseManifests(r.stdout, d.chart);
  const deployment = apiDeployment(objects, d.chart);
  const migrationJob = objects.find((x) => x.kind === 'Job')?.metadata.name;
  return { objects, deployment: deployment.metadata.name, migrationJob };
}

/** `-f <values> --set image.tag=… --set-string deploymentAnnotations.…`: the same for template and upgrade. */
export function helmValueArgs(
  d: Extract<KubeDeploy, { kind: 'helm' }>,
  tag: string,
  record: DeployRecord,
  head: string[],
): string[] {
  const annotations = recordAnnotations(record);
  return [
    ...head,
    '-f',
    fromRoot(d.valuesFile),
    '--set',
    `image.tag=${tag}`,
    ...Object.entries(annotations).flatMap(([k, v]) => [
      '--set-string',
      `deploymentAnnotations.${k.replace(/\./g, '\\.')}=${v.replace(/,/g, '\\,')}`,
    ]),
  ];
}

export function lastLine(text: string): string {
  return text.trim().split('\n').filter(Boolean).slice(-1)[0] ?? '(no output)';
}
