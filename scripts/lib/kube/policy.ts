// The policy every render must meet before a deploy (and in the tests, over every overlay and
// values file). Each rule returns the violations it finds; test/kube/policy.test.ts feeds each
// rule a deliberately bad manifest to prove it can fail.
// Sources: Pod Security Standards "restricted" (kubernetes.io/docs/concepts/security/pod-security-standards),
// the recommended labels (kubernetes.io/docs/concepts/overview/working-with-objects/common-labels).
import {
  containersOf,
  envValue,
  objectName,
  podLabelsOf,
  podSpecOf,
  selectorMatches,
  type K8sObject,
  type PodSpec,
} from './manifests.js';

export interface Violation {
  rule: string;
  object: string;
  message: string;
}

export interface PolicyRule {
  id: string;
  description: string;
  check(objects: K8sObject[]): Violation[];
}

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Pod', 'ReplicaSet']);
const workloads = (objects: K8sObject[]): { o: K8sObject; pod: PodSpec }[] =>
  objects.flatMap((o) => {
    const pod = WORKLOADS.has(o.kind) ? podSpecOf(o) : undefined;
    return pod ? [{ o, pod }] : [];
  });
const deployments = (objects: K8sObject[]) => workloads(objects).filter((w) => w.o.kind === 'Deployment');

function rule(
  id: string,
  description: string,
  check: (objects: K8sObject[], v: (o: K8sObject, m: string) => void) => void,
): PolicyRule {
  return {
    id,
    description,
    check(objects) {
      const out: Violation[] = [];
      check(objects, (o, message) => out.push({ rule: id, object: objectName(o), message }));
      return out;
    },
  };
}

/** Pod Security Standard "restricted", for every pod of every workload, test pods included. */
const restricted = rule('restricted-security-context', 'Pod Security Standard "restricted"', (objects, v) => {
  for (const { o, pod } of workloads(objects)) {
    const psc = pod.securityContext ?? {};
    if (pod.hostNetwork || pod.hostPID || pod.hostIPC) v(o, 'uses the host network, PID or IPC namespace');
    for (const vol of pod.volumes ?? []) if (vol.hostPath) v(o, `volume ${vol.name} is a hostPath`);
    if (psc.runAsUser === 0) v(o, 'pod runs as uid 0');
    const podSeccomp = (psc.seccompProfile as { type?: string } | undefined)?.type;
    for (const c of containersOf(pod)) {
      const sc = c.securityContext ?? {};
      const at = `container ${c.name}`;
      if (sc.allowPrivilegeEscalation !== false) v(o, `${at}: allowPrivilegeEscalation must be false`);
      if (sc.privileged === true) v(o, `${at}: privileged`);
      if (sc.readOnlyRootFilesystem !== true) v(o, `${at}: readOnlyRootFilesystem must be true`);
      const drop = ((sc.capabilities as { drop?: string[] } | undefined)?.drop ?? []).map((x) => x.toUpperCase());
      if (!drop.includes('ALL')) v(o, `${at}: capabilities must drop ALL`);
      const add = (sc.capabilities as { add?: string[] } | undefined)?.add ?? [];
      if (add.some((a) => a.toUpperCase() !== 'NET_BIND_SERVICE')) v(o, `${at}: adds capabilities ${add.join(', ')}`);
      if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) v(o, `${at}: runAsNonRoot must be true (pod or container)`);
      if (sc.runAsUser === 0) v(o, `${at}: runs as uid 0`);
      const seccomp = (sc.seccompProfile as { type?: string } | undefined)?.type ?? podSeccomp;
      if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost')
        v(o, `${at}: seccompProfile must be RuntimeDefault or Localhost (pod or container)`);
    }
  }
});

const resources = rule('resources', 'every container requests cpu and memory and limits memory', (objects, v) => {
  for (const { o, pod } of workloads(objects))
    for (const c of containersOf(pod)) {
      const missing = [
        c.resources?.requests?.cpu === undefined && 'requests.cpu',
        c.resources?.requests?.memory === undefined && 'requests.memory',
        c.resources?.limits?.memory === undefined && 'limits.memory',
      ].filter(Boolean);
      if (missing.length) v(o, `container ${c.name}: no ${missing.join(', ')}`);
    }
});

const probes = rule(
  'probes',
  'every Deployment container has startup, liveness and readiness HTTP probes',
  (objects, v) => {
    for (const { o, pod } of deployments(objects))
      for (const c of pod.containers)
        for (const kind of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const)
          if (!c[kind]?.httpGet?.path) v(o, `container ${c.name}: no ${kind} (httpGet path)`);
  },
);

/** image:tag or image@sha256:…; the tag neither missing nor "latest". */
export function imageProblem(image: string | undefined): string | undefined {
  if (!image) return 'no image';
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return undefined;
  const lastSegment = image.split('/').pop()!;
  const colon = lastSegment.lastIndexOf(':');
  if (colon < 0) return `image ${image} has no tag (pin one: the commit)`;
  const tag = lastSegment.slice(colon + 1);
  if (tag === '' || tag === 'latest') return `image ${image} is not pinned (tag "${tag}")`;
  return undefined;
}

const pinnedImages = rule('pinned-images', 'every image has a tag that is not latest, or a digest', (objects, v) => {
  for (const { o, pod } of workloads(objects))
    for (const c of containersOf(pod)) {
      const problem = imageProblem(c.image);
      if (problem) v(o, `container ${c.name}: ${problem}`);
    }
});

const pdbPerDeployment = rule('pdb', 'every Deployment has a PodDisruptionBudget selecting its pods', (objects, v) => {
  const pdbs = objects.filter((x) => x.kind === 'PodDisruptionBudget');
  for (const { o } of deployments(objects)) {
    const labels = podLabelsOf(o);
    if (
      !pdbs.some((p) =>
        selectorMatches((p.spec as { selector?: { matchLabels?: Record<string, string> } }).selector, labels),
      )
    )
      v(o, 'no PodDisruptionBudget selects its pods');
  }
});

const networkPolicyPerDeployment = rule(
  'network-policy',
  'every Deployment has a NetworkPolicy for its pods restricting both ingress and egress',
  (objects, v) => {
    const policies = objects.filter((x) => x.kind === 'NetworkPolicy');
    for (const { o } of deployments(objects)) {
      const labels = podLabelsOf(o);
      const mine = policies.filter((p) =>
        selectorMatches((p.spec as { podSelector?: { matchLabels?: Record<string, string> } }).podSelector, labels),
      );
      const types = new Set(mine.flatMap((p) => (p.spec as { policyTypes?: string[] }).policyTypes ?? []));
      if (!types.has('Ingress') || !types.has('Egress')) v(o, 'no NetworkPolicy restricts both its ingress and egress');
    }
  },
);

const gracePeriod = rule(
  'grace-period',
  "terminationGracePeriodSeconds covers the app's pre-stop delay plus drain timeout; no preStop hook besides",
  (objects, v) => {
    for (const { o, pod } of deployments(objects)) {
      const grace = pod.terminationGracePeriodSeconds ?? 30;
      for (const c of pod.containers) {
        if (c.lifecycle?.preStop)
          v(o, `container ${c.name}: has a preStop hook and the app's own delay (one mechanism only)`);
        // The app's defaults (app/src/config/config.ts) when the variables are not set.
        const preStop = Number(envValue(c, 'SHUTDOWN_PRESTOP_DELAY_MS', objects) ?? 5000);
        const drain = Number(envValue(c, 'SHUTDOWN_DRAIN_TIMEOUT_MS', objects) ?? 20_000);
        const needed = Math.ceil((preStop + drain) / 1000);
        if (!(grace > needed))
          v(
            o,
            `terminationGracePeriodSeconds ${grace} does not exceed pre-stop ${preStop} ms + drain ${drain} ms (${needed} s)`,
          );
      }
    }
  },
);

const rollingUpdate = rule('rolling-update', 'Deployments roll with maxUnavailable 0', (objects, v) => {
  for (const { o } of deployments(objects)) {
    const strategy = (o.spec as { strategy?: { type?: string; rollingUpdate?: { maxUnavailable?: unknown } } })
      .strategy;
    if (strategy?.type !== 'RollingUpdate' || strategy.rollingUpdate?.maxUnavailable !== 0)
      v(o, 'strategy must be RollingUpdate with maxUnavailable: 0');
  }
});

const SELECTOR_KEYS = ['app.kubernetes.io/instance', 'app.kubernetes.io/name'];
const REQUIRED_LABELS = [
  'app.kubernetes.io/name',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/managed-by',
  'app.kubernetes.io/part-of',
];

const labels = rule(
  'labels',
  'standard app.kubernetes.io labels on every object; selectors name + instance only',
  (objects, v) => {
    for (const o of objects) {
      if (o.kind === 'Namespace') continue;
      const missing = REQUIRED_LABELS.filter((k) => !o.metadata.labels?.[k]);
      if (missing.length) v(o, `missing labels ${missing.join(', ')}`);
    }
    for (const { o } of deployments(objects)) {
      const selector = (o.spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels ?? {};
      const keys = Object.keys(selector).sort();
      if (JSON.stringify(keys) !== JSON.stringify(SELECTOR_KEYS))
        v(o, `selector must be exactly ${SELECTOR_KEYS.join(' + ')} (is ${keys.join(', ') || 'empty'})`);
      if (!selectorMatches({ matchLabels: selector }, podLabelsOf(o)))
        v(o, 'its selector does not match its pod template labels');
    }
  },
);

const metricsPrivate = rule(
  'metrics-private',
  'no NodePort or LoadBalancer Service exposes the metrics port',
  (objects, v) => {
    const metricsPorts = new Set<number | string>(['metrics']);
    for (const { pod } of deployments(objects))
      for (const c of pod.containers)
        for (const p of c.ports ?? []) if (p.name === 'metrics') metricsPorts.add(p.containerPort);
    for (const s of objects.filter((x) => x.kind === 'Service')) {
      const spec = s.spec as { type?: string; ports?: { name?: string; port: number; targetPort?: number | string }[] };
      if (spec.type !== 'NodePort' && spec.type !== 'LoadBalancer') continue;
      for (const p of spec.ports ?? [])
        if (metricsPorts.has(p.targetPort ?? p.port) || p.name === 'metrics')
          v(s, `exposes the metrics port (${p.name ?? p.port}) outside the cluster`);
    }
  },
);

const noToken = rule('no-service-account-token', 'pods do not mount a service account token', (objects, v) => {
  for (const { o, pod } of workloads(objects))
    if (pod.automountServiceAccountToken !== false) v(o, 'automountServiceAccountToken must be false');
});

/**
 * Scheduled jobs never overlap (two backups of one stanza must not run at once), skip a run missed
 * by more than a bound instead of catching up, and keep a bounded history. Field semantics:
 * https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#cronjob-limitations
 */
const cronJobs = rule(
  'cronjobs',
  'every CronJob: concurrencyPolicy Forbid, startingDeadlineSeconds, successful/failed history limits',
  (objects, v) => {
    for (const o of objects.filter((x) => x.kind === 'CronJob')) {
      const spec = o.spec as {
        concurrencyPolicy?: string;
        startingDeadlineSeconds?: number;
        successfulJobsHistoryLimit?: number;
        failedJobsHistoryLimit?: number;
      };
      if (spec.concurrencyPolicy !== 'Forbid')
        v(o, `concurrencyPolicy must be Forbid (is ${spec.concurrencyPolicy ?? 'Allow, the default'})`);
      if (typeof spec.startingDeadlineSeconds !== 'number') v(o, 'no startingDeadlineSeconds');
      if (typeof spec.successfulJobsHistoryLimit !== 'number') v(o, 'no successfulJobsHistoryLimit');
      if (typeof spec.failedJobsHistoryLimit !== 'number') v(o, 'no failedJobsHistoryLimit');
    }
  },
);

export const POLICY_RULES: PolicyRule[] = [
  restricted,
  resources,
  probes,
  pinnedImages,
  pdbPerDeployment,
  networkPolicyPerDeployment,
  gracePeriod,
  rollingUpdate,
  labels,
  metricsPrivate,
  noToken,
  cronJobs,
];

/** Every violation of every rule, in rule order. */
export function checkPolicies(objects: K8sObject[], rules: PolicyRule[] = POLICY_RULES): Violation[] {
  return rules.flatMap((r) => r.check(objects));
}
