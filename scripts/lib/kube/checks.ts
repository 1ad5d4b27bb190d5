// The offline checks of kustomize/ and helm/mytv-api (make k8s-check, and the tests): helm lint
// --strict and helm template with every values file (lint passes a missing `required` value, only
// template fails on it), kubectl kustomize on every overlay, every object against the Kubernetes
// schemas, the policy, and the deployed environments' pods compared (staging kustomize vs production Helm).
import { existsSync, readdirSync } from 'node:fs';
import { overlaysForNamespace, scheduledEnvironments } from '../generated/backup-jobs.js';
import path from 'node:path';
import { listEnvironments, loadEnvironment } from '../environments.js';
import type { Exec } from '../exec.js';
import { fromRoot } from '../paths.js';
import { requireTool } from '../tools.js';
import { backupCronJobProblems } from './backup-cronjobs.js';
import { compareEssentials, podEssentials } from './consistency.js';
import { parseManifests, type K8sObject } from './manifests.js';
import { checkPolicies } from './policy.js';
import { lastLine, renderEnvironment } from './render.js';
import { validateObjects } from './schema.js';

export const CHART_DIR = 'helm/mytv-api';
export const OVERLAYS_DIR = 'kustomize/overlays';
/** Renders for checks carry a fixed, valid tag; a deploy sets the commit. */
export const CHECK_TAG = '0000000';
export const HELM_CHECK_API_VERSIONS = [
  'monitoring.coreos.com/v1/ServiceMonitor',
  'monitoring.coreos.com/v1/PrometheusRule',
];

export interface CheckRow {
  check: string;
  target: string;
  ok: boolean;
  detail: string;
}

/** values-*.yaml of the chart (values.yaml is the defaults every one of them extends). */
export function chartValuesFiles(): string[] {
  return readdirSync(fromRoot(CHART_DIR))
    .filter((f) => /^values-.+\.ya?ml$/.test(f))
    .sort()
    .map((f) => `${CHART_DIR}/${f}`);
}

export function overlays(): string[] {
  const dir = fromRoot(OVERLAYS_DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((d) => existsSync(path.join(dir, d, 'kustomization.yaml')))
    .sort()
    .map((d) => `${OVERLAYS_DIR}/${d}`);
}

export async function helmTemplate(
  exec: Exec,
  valuesFile: string,
  extra: string[] = ['--set', `image.tag=${CHECK_TAG}`],
) {
  return exec.run(
    requireTool('helm'),
    [
      'template',
      'mytv-api',
      fromRoot(CHART_DIR),
      '-f',
      fromRoot(valuesFile),
      ...HELM_CHECK_API_VERSIONS.flatMap((v) => ['--api-versions', v]),
      ...extra,
    ],
    { readOnly: true, nothrow: true },
  );
}

export async function helmLint(exec: Exec, valuesFile: string) {
  return exec.run(
    requireTool('helm'),
    ['lint', '--strict', fromRoot(CHART_DIR), '-f', fromRoot(valuesFile), '--set', `image.tag=${CHECK_TAG}`],
    {
      readOnly: true,
      nothrow: true,
    },
  );
}

export async function kustomize(exec: Exec, overlay: string) {
  return exec.run(requireTool('kubectl'), ['kustomize', fromRoot(overlay)], { readOnly: true, nothrow: true });
}

async function objectChecks(target: string, objects: K8sObject[]): Promise<CheckRow[]> {
  const schema = await validateObjects(objects);
  const policy = checkPolicies(objects);
  return [
    {
      check: 'schemas',
      target,
      ok: schema.length === 0,
      detail: schema.length
        ? schema.map((p) => `${p.object}: ${p.message}`).join('; ')
        : `${objects.length} objects valid`,
    },
    {
      check: 'policy',
      target,
      ok: policy.length === 0,
      detail: policy.length ? policy.map((v) => `${v.rule} ${v.object}: ${v.message}`).join('; ') : 'every rule holds',
    },
  ];
}

/** Every check over every overlay, values file and deployed environment; never throws for a failed check. */
export async function runK8sChecks(exec: Exec): Promise<CheckRow[]> {
  const rows: CheckRow[] = [];
  for (const values of chartValuesFiles()) {
    const lint = await helmLint(exec, values);
    rows.push({
      check: 'helm lint --strict',
      target: values,
      ok: lint.exitCode === 0,
      detail: lint.exitCode === 0 ? 'ok' : lastLine(lint.stdout + lint.stderr),
    });
    const t = await helmTemplate(exec, values);
    rows.push({
      check: 'helm template',
      target: values,
      ok: t.exitCode === 0,
      detail: t.exitCode === 0 ? 'ok' : lastLine(t.stderr),
    });
    if (t.exitCode === 0) rows.push(...(await objectChecks(values, parseManifests(t.stdout, values))));
  }
  for (const overlay of overlays()) {
    const k = await kustomize(exec, overlay);
    rows.push({
      check: 'kubectl kustomize',
      target: overlay,
      ok: k.exitCode === 0,
      detail: k.exitCode === 0 ? 'ok' : lastLine(k.stderr),
    });
    if (k.exitCode === 0) rows.push(...(await objectChecks(overlay, parseManifests(k.stdout, overlay))));
  }
  rows.push(...(await consistencyChecks(exec)));
  rows.push(...(await backupScheduleChecks(exec)));
  return rows;
}

/**
 * The backup CronJobs of every environment with a database.schedule, as rendered where it is
 * deployed: its chart values file (deploy.kind helm) and every overlay of its namespace, against
 * the environment's data (backupCronJobProblems).
 */
export async function backupScheduleChecks(exec: Exec): Promise<CheckRow[]> {
  const rows: CheckRow[] = [];
  for (const env of scheduledEnvironments()) {
    if (env.deploy.kind === 'local') continue;
    const targets: { target: string; render: () => Promise<{ exitCode: number; stdout: string; stderr: string }> }[] =
      overlaysForNamespace(env.deploy.namespace).map((overlay) => ({
        target: overlay,
        render: () => kustomize(exec, overlay),
      }));
    if (env.deploy.kind === 'helm') {
      const values = env.deploy.valuesFile;
      targets.push({ target: values, render: () => helmTemplate(exec, values) });
    }
    for (const t of targets) {
      const r = await t.render();
      const problems =
        r.exitCode === 0 ? backupCronJobProblems(parseManifests(r.stdout, t.target), env) : [lastLine(r.stderr)];
      rows.push({
        check: 'backup schedules',
        target: `${t.target} (${env.name})`,
        ok: problems.length === 0,
        detail: problems.length
          ? problems.join('; ')
          : `CronJobs match environments/${env.name}.yaml database.schedule`,
      });
    }
  }
  return rows;
}

/** The pod of every Kubernetes environment against the first one's (staging kustomize vs prod Helm). */
export async function consistencyChecks(exec: Exec): Promise<CheckRow[]> {
  const envs = listEnvironments()
    .map((n) => loadEnvironment(n))
    .filter((e) => e.deploy.kind !== 'local');
  const record = { by: 'k8s-check', commit: CHECK_TAG, at: '1970-01-01T00:00:00Z' };
  const rendered = [];
  for (const env of envs)
    rendered.push({
      env,
      essentials: podEssentials((await renderEnvironment(exec, env, { tag: CHECK_TAG, record })).objects),
    });
  const rows: CheckRow[] = [];
  for (const other of rendered.slice(1)) {
    const diffs = compareEssentials(rendered[0].essentials, other.essentials);
    rows.push({
      check: 'same pod',
      target: `${rendered[0].env.name} (${rendered[0].env.deploy.kind}) vs ${other.env.name} (${other.env.deploy.kind})`,
      ok: diffs.length === 0,
      detail: diffs.length
        ? diffs.map((x) => `${x.field}: ${x.left} vs ${x.right}`).join('; ')
        : 'image, ports, probes, env names, security context, resources, shutdown agree',
    });
  }
  return rows;
}
