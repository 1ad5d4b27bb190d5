// Staging (kustomize) and production (Helm) must describe the same API pod. podEssentials() reduces
// a render to what must not drift between them; compareEssentials() lists every difference.
// Sizes (replicas, resource amounts, address ranges, log level) may differ; their presence may not.
import { envValue, objectName, podSpecOf, type Container, type K8sObject, type Probe } from './manifests.js';

export interface PodEssentials {
  image: string;
  ports: Record<string, number>;
  probes: Record<string, Record<string, unknown>>;
  envNames: string[];
  podSecurityContext: unknown;
  securityContext: unknown;
  resourcesPresent: string[];
  terminationGracePeriodSeconds: number | undefined;
  shutdown: { preStopDelayMs: string | undefined; drainTimeoutMs: string | undefined };
  volumeMounts: string[];
  automountServiceAccountToken: boolean | undefined;
  command: unknown;
}

function probeShape(p: Probe | undefined): Record<string, unknown> {
  if (!p) return { missing: true };
  return {
    path: p.httpGet?.path,
    port: p.httpGet?.port,
    periodSeconds: p.periodSeconds,
    timeoutSeconds: p.timeoutSeconds,
    failureThreshold: p.failureThreshold,
    initialDelaySeconds: p.initialDelaySeconds ?? 0,
  };
}

function envNames(c: Container, objects: K8sObject[]): string[] {
  const names = new Set((c.env ?? []).map((e) => e.name));
  for (const from of c.envFrom ?? []) {
    const cm = objects.find((x) => x.kind === 'ConfigMap' && x.metadata.name === from.configMapRef?.name);
    for (const key of Object.keys((cm?.data as Record<string, string> | undefined) ?? {})) names.add(key);
  }
  return [...names].sort();
}

/** The essentials of the render's API Deployment (its container named `api`, else its first). */
export function podEssentials(objects: K8sObject[], deploymentName?: string): PodEssentials {
  const deployment = objects.find(
    (o) => o.kind === 'Deployment' && (!deploymentName || o.metadata.name === deploymentName),
  );
  if (!deployment) throw new Error('the render has no Deployment');
  const pod = podSpecOf(deployment)!;
  const c = pod.containers.find((x) => x.name === 'api') ?? pod.containers[0];
  if (!c) throw new Error(`${objectName(deployment)} has no container`);
  const present = (group: 'requests' | 'limits') => Object.keys(c.resources?.[group] ?? {}).map((k) => `${group}.${k}`);
  return {
    image: c.image ?? '',
    ports: Object.fromEntries((c.ports ?? []).map((p) => [p.name ?? String(p.containerPort), p.containerPort])),
    probes: {
      startup: probeShape(c.startupProbe),
      liveness: probeShape(c.livenessProbe),
      readiness: probeShape(c.readinessProbe),
    },
    envNames: envNames(c, objects),
    podSecurityContext: pod.securityContext ?? {},
    securityContext: c.securityContext ?? {},
    resourcesPresent: [...present('requests'), ...present('limits')].sort(),
    terminationGracePeriodSeconds: pod.terminationGracePeriodSeconds,
    shutdown: {
      preStopDelayMs: envValue(c, 'SHUTDOWN_PRESTOP_DELAY_MS', objects),
      drainTimeoutMs: envValue(c, 'SHUTDOWN_DRAIN_TIMEOUT_MS', objects),
    },
    volumeMounts: (c.volumeMounts ?? []).map((m) => `${m.name}:${m.mountPath}`).sort(),
    automountServiceAccountToken: pod.automountServiceAccountToken,
    command: c.command ?? null,
  };
}

/** Flattens to dotted paths so a difference names its field (probes.readiness.path). */
function flatten(value: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b));
    if (entries.length === 0) out[prefix] = '{}';
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else out[prefix] = JSON.stringify(value);
  return out;
}

export interface EssentialDifference {
  field: string;
  left: string | undefined;
  right: string | undefined;
}

/** Every field whose value differs between two renders' essentials (empty = the same pod). */
export function compareEssentials(left: PodEssentials, right: PodEssentials): EssentialDifference[] {
  const a = flatten(left);
  const b = flatten(right);
  const fields = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return fields.filter((f) => a[f] !== b[f]).map((field) => ({ field, left: a[field], right: b[field] }));
}
