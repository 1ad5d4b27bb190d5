// Rendered Kubernetes objects: parsing a multi-document render (kubectl kustomize, helm template),
// naming objects, and walking the pod templates of workloads. Used by the deploy preflight, the
// policy checks and the staging/production consistency check.
import { parseAllDocuments, stringify } from 'yaml';

export interface K8sMetadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

/** One Kubernetes object as rendered (only apiVersion, kind and metadata.name are guaranteed). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: K8sMetadata;
  [key: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  securityContext?: Record<string, unknown>;
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: unknown; postStart?: unknown };
  volumeMounts?: { name: string; mountPath: string }[];
  [key: string]: unknown;
}

export interface Probe {
  httpGet?: { path?: string; port?: number | string };
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
  initialDelaySeconds?: number;
  [key: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  securityContext?: Record<string, unknown>;
  terminationGracePeriodSeconds?: number;
  automountServiceAccountToken?: boolean;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  volumes?: { name: string; [key: string]: unknown }[];
  [key: string]: unknown;
}

/** Parses a multi-document YAML render; empty documents (a template that rendered nothing) are skipped. */
export function parseManifests(text: string, source = 'render'): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${source}: invalid YAML: ${doc.errors[0].message.split('\n')[0]}`);
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    const o = value as Partial<K8sObject>;
    if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string')
      throw new Error(
        `${source}: a document without apiVersion, kind or metadata.name: ${JSON.stringify(value).slice(0, 120)}`,
      );
    objects.push(o as K8sObject);
  }
  return objects;
}

export function toYamlStream(objects: K8sObject[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

/** "Deployment/mytv-api" — how objects are named in messages and plans. */
export function objectName(o: K8sObject): string {
  return `${o.kind}/${o.metadata.name}`;
}

/** Objects Helm runs as hooks (migration, tests): not part of the release's manifest. */
export function isHelmHook(o: K8sObject): boolean {
  return Boolean(o.metadata.annotations?.['helm.sh/hook']);
}

/** The pod spec of a workload or a Pod; undefined for other kinds. */
export function podSpecOf(o: K8sObject): PodSpec | undefined {
  const spec = o.spec as Record<string, unknown> | undefined;
  if (!spec) return undefined;
  if (o.kind === 'Pod') return spec as unknown as PodSpec;
  if (o.kind === 'CronJob') {
    const job = (spec.jobTemplate as { spec?: { template?: { spec?: PodSpec } } } | undefined)?.spec;
    return job?.template?.spec;
  }
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(o.kind))
    return (spec.template as { spec?: PodSpec } | undefined)?.spec;
  return undefined;
}

/** Labels of the pods a workload creates (a Pod's own labels). */
export function podLabelsOf(o: K8sObject): Record<string, string> {
  if (o.kind === 'Pod') return o.metadata.labels ?? {};
  const template = (o.spec as { template?: { metadata?: { labels?: Record<string, string> } } } | undefined)?.template;
  return template?.metadata?.labels ?? {};
}

/** Every container of a pod spec, init containers included. */
export function containersOf(pod: PodSpec): Container[] {
  return [...(pod.initContainers ?? []), ...pod.containers];
}

/** True when every matchLabels pair is in labels (matchExpressions are not used in this repository). */
export function selectorMatches(
  selector: { matchLabels?: Record<string, string> } | undefined,
  labels: Record<string, string>,
): boolean {
  const want = selector?.matchLabels ?? {};
  return Object.keys(want).length > 0 && Object.entries(want).every(([k, v]) => labels[k] === v);
}

/** A container's value of an environment variable: env first, then the ConfigMaps of envFrom. */
export function envValue(c: Container, name: string, objects: K8sObject[]): string | undefined {
  const direct = c.env?.find((e) => e.name === name);
  if (direct) return direct.value;
  for (const from of c.envFrom ?? []) {
    const cm = objects.find((x) => x.kind === 'ConfigMap' && x.metadata.name === from.configMapRef?.name);
    const value = (cm?.data as Record<string, string> | undefined)?.[name];
    if (value !== undefined) return value;
  }
  return undefined;
}
