// The two ways an environment reaches its cluster, behind one interface the runbook (scripts/deploy.ts,
// scripts/rollback.ts) drives: kustomize + kubectl for staging, Helm for production. Every call names
// the environment's kube context explicitly (--context / --kube-context), so a context switched in
// another terminal mid-deploy cannot redirect it. Exit codes and messages read here are the tools'
// documented ones (kubectl diff: 0 same, 1 differs, >1 error; kubectl wait / rollout status: non-zero
// on timeout or a failed rollout; helm upgrade --atomic: "has been rolled back due to atomic being set").
import { isDeepStrictEqual } from 'node:util';
import type { Environment } from '../environments.js';
import { UserError } from '../errors.js';
import type { Exec, RunResult } from '../exec.js';
import { fromRoot } from '../paths.js';
import { requireTool } from '../tools.js';
import { isHelmHook, objectName, parseManifests, type K8sObject } from './manifests.js';
import {
  helmValueArgs,
  kubeDeploy,
  lastLine,
  RECORD_ANNOTATIONS,
  recordAnnotations,
  type DeployRecord,
  type KubeDeploy,
  type Render,
} from './render.js';

export interface PlanRow {
  object: string;
  change: 'create' | 'update' | 'delete' | 'unchanged';
}

/** What runs now, before a change: the revision a rollback returns to. */
export interface LiveState {
  /** Deployment revision (kustomize) or Helm release revision; undefined = nothing deployed yet. */
  revision?: string;
  detail: string;
}

/** A failed step, with what was done about it: the one message the operator gets. */
export class DeployFailure extends UserError {
  constructor(
    readonly stage: string,
    message: string,
    hint: string,
  ) {
    super(message, { hint });
    this.name = 'DeployFailure';
  }
}

export interface DeployTimeouts {
  /** kubectl rollout status / wait, helm --timeout (seconds). */
  rolloutSeconds: number;
  migrationSeconds: number;
  testSeconds: number;
}

export interface Deployer {
  readonly kind: 'kustomize' | 'helm';
  readonly env: Environment;
  readonly context: string;
  readonly namespace: string;
  /** `kubectl config current-context` (reads the kubeconfig only; no server call). */
  currentContext(): Promise<string | undefined>;
  /** Preflight against the cluster: the Secret the pods read exists (read-only). */
  checkSecret(name: string): Promise<void>;
  live(render: Render): Promise<LiveState>;
  /** Rendered objects against the live ones (kubectl diff / helm get manifest). */
  plan(render: Render, file: string): Promise<{ rows: PlanRow[]; diff: string }>;
  /** Migration first, then the rollout; throws DeployFailure saying what state things are in. */
  apply(render: Render, file: string, migrationFile: string, live: LiveState): Promise<void>;
  /** In-cluster checks after the rollout (helm test). */
  verifyInCluster(): Promise<void>;
  /** Back to `to` (a revision), or the previous one; returns the state reached, in one line. */
  rollback(render: { deployment: string }, to: string | undefined): Promise<string>;
  /** After a failed step: back to the live revision when there is one; the state reached, in one line. */
  rollbackAfterFailure(render: { deployment: string }, live: LiveState): Promise<string>;
  history(deployment: string): Promise<string>;
  recordResult(deployment: string, result: string): Promise<void>;
}

const describe = (r: RunResult): string => lastLine(r.stderr || r.stdout);

/** Objects applied and awaited before the rollout: the migration Job and what it needs to start. */
export function migrationObjects(objects: K8sObject[]): K8sObject[] {
  return objects.filter((o) => ['Namespace', 'ServiceAccount', 'ConfigMap', 'Job'].includes(o.kind));
}

/** The app Secret every environment's pods read (overlay secretKeyRef, chart `existingSecret`). */
export const APP_SECRET = 'mytv-api';
/** The API Deployment (overlay base; the chart's fullname for release mytv-api). */
export const APP_DEPLOYMENT = 'mytv-api';

export class KustomizeDeployer implements Deployer {
  readonly kind = 'kustomize' as const;
  readonly context: string;
  readonly namespace: string;
  private readonly kubectlBin = requireTool('kubectl');

  constructor(
    private readonly exec: Exec,
    readonly env: Environment,
    private readonly timeouts: DeployTimeouts,
    private readonly record: DeployRecord,
  ) {
    const d = kubeDeploy(env);
    this.context = d.kubeContext;
    this.namespace = d.namespace;
  }

  private kubectl(args: string[], o: { readOnly?: boolean } = {}): Promise<RunResult> {
    return this.exec.run(this.kubectlBin, ['--context', this.context, '--namespace', this.namespace, ...args], {
      readOnly: o.readOnly,
      nothrow: true,
      // kubectl diff's documented default, whatever the operator's shell sets: plan() parses its headers.
      env: { KUBECTL_EXTERNAL_DIFF: 'diff -u -N' },
    });
  }

  async currentContext(): Promise<string | undefined> {
    const r = await this.exec.run(this.kubectlBin, ['config', 'current-context'], { readOnly: true, nothrow: true });
    return r.exitCode === 0 ? r.stdout.trim() : undefined;
  }

  async checkSecret(name: string): Promise<void> {
    await checkSecret((a) => this.kubectl(a, { readOnly: true }), name, this.env, this.namespace);
  }

  async live(render: Render): Promise<LiveState> {
    const r = await this.kubectl(
      [
        'get',
        'deployment',
        render.deployment,
        '-o',
        'jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision} {.spec.template.spec.containers[0].image}',
      ],
      { readOnly: true },
    );
    if (r.exitCode !== 0) {
      if (/NotFound|not found/.test(r.stderr)) return { detail: 'nothing deployed yet (first deploy)' };
      throw new UserError(`cannot read deployment/${render.deployment} in ${this.namespace}: ${describe(r)}`, {
        hint: `check access with kubectl --context ${this.context} -n ${this.namespace} get deployments; nothing was changed`,
      });
    }
    const [revision, image] = r.stdout.trim().split(' ');
    return { revision: revision || undefined, detail: `revision ${revision || '?'} (${image ?? 'unknown image'})` };
  }

  async plan(_render: Render, file: string): Promise<{ rows: PlanRow[]; diff: string }> {
    const r = await this.kubectl(['diff', '-f', file], { readOnly: true });
    if (r.exitCode > 1)
      throw new UserError(`kubectl diff failed (exit ${r.exitCode}): ${describe(r)}`, {
        hint: 'nothing was changed; check the cluster connection and the render',
      });
    // "diff -u -N /tmp/LIVE-…/apps.v1.Deployment.mytv-staging.mytv-api /tmp/MERGED-…/…" per changed object.
    const rows: PlanRow[] = [...r.stdout.matchAll(/^diff -u -N (\S+) (\S+)$/gm)].map((m) => {
      const parts = m[2].split('/').pop()!.split('.');
      const name = parts.slice(-1)[0];
      const kind = parts[parts.length - 3];
      return { object: `${kind}/${name}`, change: 'update' };
    });
    return { rows, diff: r.stdout };
  }

  async apply(render: Render, file: string, migrationFile: string, live: LiveState): Promise<void> {
    if (render.migrationJob) {
      const a = await this.kubectl(['apply', '-f', migrationFile]);
      if (a.exitCode !== 0)
        throw new DeployFailure(
          'migration',
          `kubectl apply of the migration failed: ${describe(a)}`,
          `nothing was rolled out; ${this.env.name} still runs ${live.detail}`,
        );
      const w = await this.kubectl([
        'wait',
        '--for=condition=complete',
        `job/${render.migrationJob}`,
        `--timeout=${this.timeouts.migrationSeconds}s`,
      ]);
      if (w.exitCode !== 0) {
        const logs = await this.kubectl(['logs', `job/${render.migrationJob}`, '--tail=20'], { readOnly: true });
        throw new DeployFailure(
          'migration',
          `the migration job/${render.migrationJob} did not complete: ${describe(w)}${logs.stdout.trim() ? ` (last log: ${lastLine(logs.stdout)})` : ''}`,
          `nothing was rolled out; ${this.env.name} still runs ${live.detail}; inspect with kubectl --context ${this.context} -n ${this.namespace} logs job/${render.migrationJob}`,
        );
      }
    }
    const a = await this.kubectl(['apply', '-f', file]);
    if (a.exitCode !== 0) {
      const state = await this.rollbackAfterFailure(render, live);
      throw new DeployFailure('apply', `kubectl apply failed: ${describe(a)}`, state);
    }
    const s = await this.kubectl([
      'rollout',
      'status',
      `deployment/${render.deployment}`,
      `--timeout=${this.timeouts.rolloutSeconds}s`,
    ]);
    if (s.exitCode !== 0) {
      const state = await this.rollbackAfterFailure(render, live);
      throw new DeployFailure(
        'rollout',
        `the rollout of deployment/${render.deployment} failed: ${describe(s)}`,
        state,
      );
    }
  }

  /** kubectl rollout undo to the revision that ran before, then wait for it; says where things stand. */
  async rollbackAfterFailure(render: { deployment: string }, live: LiveState): Promise<string> {
    if (!live.revision)
      return `first deploy: there is no earlier revision to return to; deployment/${render.deployment} stays as applied (not ready); fix and deploy again`;
    return `rolled back: ${await this.rollback(render, live.revision)}`;
  }

  async verifyInCluster(): Promise<void> {
    // kubectl rollout status already waited for every new pod to be ready.
  }

  async rollback(render: { deployment: string }, to: string | undefined): Promise<string> {
    const u = await this.kubectl([
      'rollout',
      'undo',
      `deployment/${render.deployment}`,
      ...(to ? [`--to-revision=${to}`] : []),
    ]);
    if (u.exitCode !== 0)
      throw new DeployFailure(
        'rollback',
        `kubectl rollout undo failed: ${describe(u)}`,
        `${this.env.name} is in an unknown state: check kubectl --context ${this.context} -n ${this.namespace} rollout history deployment/${render.deployment}`,
      );
    const s = await this.kubectl([
      'rollout',
      'status',
      `deployment/${render.deployment}`,
      `--timeout=${this.timeouts.rolloutSeconds}s`,
    ]);
    if (s.exitCode !== 0)
      throw new DeployFailure(
        'rollback',
        `the rollback of deployment/${render.deployment} is not ready either: ${describe(s)}`,
        `${this.env.name} is degraded: check kubectl --context ${this.context} -n ${this.namespace} get pods`,
      );
    return `${this.env.name} runs ${to ? `revision ${to}` : 'the previous revision'} of deployment/${render.deployment} again, ready`;
  }

  async history(deployment: string): Promise<string> {
    const r = await this.kubectl(['rollout', 'history', `deployment/${deployment}`], { readOnly: true });
    if (r.exitCode !== 0)
      throw new UserError(`cannot read the rollout history: ${describe(r)}`, {
        hint: `check kubectl --context ${this.context} -n ${this.namespace} get deployments`,
      });
    return r.stdout.trim();
  }

  async recordResult(deployment: string, result: string): Promise<void> {
    await this.kubectl(['annotate', `deployment/${deployment}`, '--overwrite', ...annotationArgs(this.record, result)]);
  }
}

export class HelmDeployer implements Deployer {
  readonly kind = 'helm' as const;
  readonly context: string;
  readonly namespace: string;
  private readonly d: Extract<KubeDeploy, { kind: 'helm' }>;
  private readonly helmBin = requireTool('helm');
  private readonly kubectlBin = requireTool('kubectl');

  constructor(
    private readonly exec: Exec,
    readonly env: Environment,
    private readonly timeouts: DeployTimeouts,
    private readonly record: DeployRecord,
    private readonly tag: string,
  ) {
    const d = kubeDeploy(env);
    if (d.kind !== 'helm') throw new Error('HelmDeployer needs deploy.kind helm');
    this.d = d;
    this.context = d.kubeContext;
    this.namespace = d.namespace;
  }

  private helm(args: string[], o: { readOnly?: boolean } = {}): Promise<RunResult> {
    return this.exec.run(this.helmBin, [...args, '--kube-context', this.context, '--namespace', this.namespace], {
      readOnly: o.readOnly,
      nothrow: true,
    });
  }

  private kubectl(args: string[], o: { readOnly?: boolean } = {}): Promise<RunResult> {
    return this.exec.run(this.kubectlBin, ['--context', this.context, '--namespace', this.namespace, ...args], {
      readOnly: o.readOnly,
      nothrow: true,
    });
  }

  async currentContext(): Promise<string | undefined> {
    const r = await this.exec.run(this.kubectlBin, ['config', 'current-context'], { readOnly: true, nothrow: true });
    return r.exitCode === 0 ? r.stdout.trim() : undefined;
  }

  async checkSecret(name: string): Promise<void> {
    await checkSecret((a) => this.kubectl(a, { readOnly: true }), name, this.env, this.namespace);
  }

  async live(): Promise<LiveState> {
    const r = await this.helm(['history', this.d.release, '--max', '1', '--output', 'json'], { readOnly: true });
    if (r.exitCode !== 0) {
      if (/release: not found/.test(r.stderr)) return { detail: 'nothing deployed yet (first install)' };
      throw new UserError(`helm history ${this.d.release} failed: ${describe(r)}`, {
        hint: 'nothing was changed; check the cluster connection',
      });
    }
    const last = (
      JSON.parse(r.stdout || '[]') as { revision: number; status: string; app_version?: string; description?: string }[]
    ).pop();
    if (!last) return { detail: 'nothing deployed yet (first install)' };
    return {
      revision: String(last.revision),
      detail: `release ${this.d.release} revision ${last.revision} (${last.status})`,
    };
  }

  async plan(render: Render): Promise<{ rows: PlanRow[]; diff: string }> {
    const r = await this.helm(['get', 'manifest', this.d.release], { readOnly: true });
    if (r.exitCode !== 0 && !/release: not found/.test(r.stderr))
      throw new UserError(`helm get manifest ${this.d.release} failed: ${describe(r)}`, {
        hint: 'nothing was changed; check the cluster connection',
      });
    const liveObjects = r.exitCode === 0 ? parseManifests(r.stdout, 'the live release') : [];
    return {
      rows: compareObjects(
        liveObjects,
        render.objects.filter((o) => !isHelmHook(o)),
      ),
      diff: '',
    };
  }

  async apply(): Promise<void> {
    const description = `${this.record.commit} by ${this.record.by} at ${this.record.at}`;
    const args = helmValueArgs(this.d, this.tag, this.record, [
      'upgrade',
      '--install',
      this.d.release,
      fromRoot(this.d.chart),
    ]);
    // --atomic: a failed upgrade (migration hook included) rolls back by itself; --wait: until pods are ready.
    const r = await this.helm([
      ...args,
      '--atomic',
      '--wait',
      '--wait-for-jobs',
      `--timeout=${this.timeouts.rolloutSeconds}s`,
      '--history-max=10',
      '--create-namespace',
      '--description',
      description,
    ]);
    if (r.exitCode === 0) return;
    const message = `helm upgrade of ${this.d.release} failed: ${describe(r)}`;
    if (/has been rolled back due to atomic being set/.test(r.stderr))
      throw new DeployFailure(
        'upgrade',
        message,
        `Helm rolled back by itself (--atomic): ${this.env.name} runs the previous revision again; nothing else to undo`,
      );
    if (/has been uninstalled due to atomic being set/.test(r.stderr))
      throw new DeployFailure(
        'upgrade',
        message,
        `first install: Helm removed the failed release (--atomic); ${this.env.name} has no release`,
      );
    throw new DeployFailure(
      'upgrade',
      message,
      `state unknown: check helm --kube-context ${this.context} -n ${this.namespace} history ${this.d.release}`,
    );
  }

  async verifyInCluster(): Promise<void> {
    const r = await this.helm(['test', this.d.release, '--logs', `--timeout=${this.timeouts.testSeconds}s`]);
    if (r.exitCode !== 0)
      throw new UserError(`helm test ${this.d.release} failed: ${(r.stderr || r.stdout).trim().replace(/\s+/g, ' ')}`);
  }

  async rollback(_render: { deployment: string }, to: string | undefined): Promise<string> {
    const r = await this.helm([
      'rollback',
      this.d.release,
      ...(to ? [to] : []),
      '--wait',
      `--timeout=${this.timeouts.rolloutSeconds}s`,
    ]);
    if (r.exitCode !== 0)
      throw new DeployFailure(
        'rollback',
        `helm rollback ${this.d.release} failed: ${describe(r)}`,
        `${this.env.name} is in an unknown state: check helm --kube-context ${this.context} -n ${this.namespace} history ${this.d.release}`,
      );
    return `${this.env.name} runs ${to ? `revision ${to}` : 'the previous revision'} of release ${this.d.release} again (as a new revision), ready`;
  }

  async rollbackAfterFailure(render: { deployment: string }, live: LiveState): Promise<string> {
    if (!live.revision)
      return `first install: there is no earlier revision; release ${this.d.release} stays installed as revision 1; fix and deploy again`;
    return `rolled back: ${await this.rollback(render, live.revision)}`;
  }

  async history(): Promise<string> {
    const r = await this.helm(['history', this.d.release, '--max', '10'], { readOnly: true });
    if (r.exitCode !== 0)
      throw new UserError(`helm history ${this.d.release} failed: ${describe(r)}`, {
        hint: 'check the release name and the cluster connection',
      });
    return r.stdout.trim();
  }

  async recordResult(deployment: string, result: string): Promise<void> {
    await this.kubectl(['annotate', `deployment/${deployment}`, '--overwrite', ...annotationArgs(this.record, result)]);
  }
}

function annotationArgs(record: DeployRecord, result: string): string[] {
  return Object.entries({ ...recordAnnotations(record), [RECORD_ANNOTATIONS.result]: result }).map(
    ([k, v]) => `${k}=${v}`,
  );
}

async function checkSecret(
  kubectl: (a: string[]) => Promise<RunResult>,
  name: string,
  env: Environment,
  namespace: string,
): Promise<void> {
  const r = await kubectl(['get', 'secret', name, '-o', 'name']);
  if (r.exitCode === 0) return;
  if (/NotFound|not found/.test(r.stderr))
    throw new UserError(
      `the Secret ${name} does not exist in namespace ${namespace} (the pods read their credentials from it)`,
      {
        hint: `create it from a file that is never committed: kubectl -n ${namespace} create secret generic ${name} --from-env-file=.env.${env.name}.secret (README, "Secrets")`,
      },
    );
  throw new UserError(`cannot check the Secret ${name} in ${namespace}: ${lastLine(r.stderr || r.stdout)}`, {
    hint: 'check the cluster connection; nothing was changed',
  });
}

/** create / update / delete / unchanged per object, live against rendered (by kind, namespace, name). */
export function compareObjects(live: K8sObject[], rendered: K8sObject[]): PlanRow[] {
  const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  const liveByKey = new Map(live.map((o) => [key(o), o]));
  const rows: PlanRow[] = rendered.map((o) => {
    const before = liveByKey.get(key(o));
    liveByKey.delete(key(o));
    return {
      object: objectName(o),
      change: !before ? 'create' : isDeepStrictEqual(before, o) ? 'unchanged' : 'update',
    };
  });
  for (const o of liveByKey.values()) rows.push({ object: objectName(o), change: 'delete' });
  return rows;
}

export function createDeployer(
  exec: Exec,
  env: Environment,
  timeouts: DeployTimeouts,
  record: DeployRecord,
  tag: string,
): Deployer {
  return kubeDeploy(env).kind === 'helm'
    ? new HelmDeployer(exec, env, timeouts, record, tag)
    : new KustomizeDeployer(exec, env, timeouts, record);
}
