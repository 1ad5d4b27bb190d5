// kustomize/ and helm/mytv-api offline, with the real helm and kubectl: lint and render with every
// values file and overlay, every object against the Kubernetes schemas, the policy over every render
// (with a deliberately bad manifest per rule, so each rule is proven able to fail), and staging
// (kustomize) against production (Helm) on the pod's essentials.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { createContext } from '../../scripts/lib/main.js';
import { parseCli } from '../../scripts/lib/cli.js';
import {
  chartValuesFiles,
  consistencyChecks,
  helmLint,
  helmTemplate,
  kustomize,
  overlays,
  runK8sChecks,
} from '../../scripts/lib/kube/checks.js';
import { compareEssentials, podEssentials } from '../../scripts/lib/kube/consistency.js';
import { parseManifests, podSpecOf, type K8sObject } from '../../scripts/lib/kube/manifests.js';
import { checkPolicies, POLICY_RULES } from '../../scripts/lib/kube/policy.js';
import { validateObjects } from '../../scripts/lib/kube/schema.js';
import { chartRuleGroups } from '../../scripts/lib/generated/chart-rules.js';
import { fromRoot } from '../../scripts/lib/paths.js';
import { runEntryScript } from '../support/run-script.js';

const exec = createContext(parseCli([])).exec;

async function renderHelm(values: string, extra?: string[]): Promise<K8sObject[]> {
  const r = await helmTemplate(exec, values, extra);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  return parseManifests(r.stdout);
}
async function renderOverlay(overlay: string): Promise<K8sObject[]> {
  const r = await kustomize(exec, overlay);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  return parseManifests(r.stdout);
}
const find = (objects: K8sObject[], kind: string) => objects.find((o) => o.kind === kind)!;
const api = (objects: K8sObject[]) => podSpecOf(find(objects, 'Deployment'))!;

describe('kubernetes manifests (helm/mytv-api, kustomize/), offline with the real helm and kubectl', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => (tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-chart-'))));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  describe('the chart', () => {
    it('has values files for staging and production; helm lint --strict and helm template pass with each', async () => {
      expect(chartValuesFiles()).to.include.members([
        'helm/mytv-api/values-prod.yaml',
        'helm/mytv-api/values-staging.yaml',
      ]);
      for (const values of chartValuesFiles()) {
        const lint = await helmLint(exec, values);
        expect(lint.exitCode, `${values}: ${lint.stdout}${lint.stderr}`).to.equal(0);
        expect((await renderHelm(values)).map((o) => o.kind)).to.include.members([
          'Deployment',
          'Service',
          'ConfigMap',
          'HorizontalPodAutoscaler',
          'PodDisruptionBudget',
          'NetworkPolicy',
          'ServiceMonitor',
          'PrometheusRule',
          'Job',
          'Pod',
        ]);
      }
    });

    it('refuses a missing image tag in helm template (helm lint alone lets it pass)', async () => {
      const lint = await exec.run(
        fromRoot('.tools/bin/helm'),
        ['lint', '--strict', fromRoot('helm/mytv-api'), '-f', fromRoot('helm/mytv-api/values-prod.yaml')],
        { readOnly: true, nothrow: true },
      );
      expect(lint.exitCode, 'lint passes a missing required value (why both run)').to.equal(0);
      const t = await helmTemplate(exec, 'helm/mytv-api/values-prod.yaml', []);
      expect(t.exitCode).to.not.equal(0);
      expect(t.stderr).to.include('image.tag is required');
    });

    it('values.schema.json refuses unknown keys, secret names in app.config and a lax security context, naming the field', async () => {
      const cases: [string, RegExp][] = [
        ['replicas: 3', /Additional property replicas is not allowed/],
        ['image:\n  tagg: x', /image: Additional property tagg is not allowed/],
        ['app:\n  config:\n    JWT_SECRET: hunter2hunter2', /app\.config/],
        ['securityContext:\n  readOnlyRootFilesystem: false', /securityContext\.readOnlyRootFilesystem/],
        ['image:\n  tag: latest', /image\.tag/],
      ];
      for (const [yaml, message] of cases) {
        const file = path.join(tmp, 'bad.yaml');
        writeFileSync(file, yaml + '\n');
        const r = await exec.run(
          fromRoot('.tools/bin/helm'),
          [
            'template',
            'x',
            fromRoot('helm/mytv-api'),
            '-f',
            file,
            ...(yaml.includes('tag:') ? [] : ['--set', 'image.tag=abc']),
          ],
          { readOnly: true, nothrow: true },
        );
        expect(r.exitCode, yaml).to.not.equal(0);
        expect(r.stderr, yaml).to.match(message);
      }
    });

    it('environment values files hold only differences from values.yaml', () => {
      const defaults = parse(readFileSync(fromRoot('helm/mytv-api/values.yaml'), 'utf8')) as Record<string, unknown>;
      const same: string[] = [];
      const walk = (v: unknown, d: unknown, at: string): void => {
        if (v && typeof v === 'object' && !Array.isArray(v)) {
          for (const [k, x] of Object.entries(v))
            walk(x, (d as Record<string, unknown> | undefined)?.[k], `${at}.${k}`);
        } else if (JSON.stringify(v) === JSON.stringify(d)) same.push(at);
      };
      for (const f of chartValuesFiles()) walk(parse(readFileSync(fromRoot(f), 'utf8')), defaults, f);
      expect(same, 'repeats a default').to.deep.equal([]);
    });

    it('rolls the pods when the config changes (checksum annotation) and covers pre-stop + drain with the grace period', async () => {
      const a = await renderHelm('helm/mytv-api/values-prod.yaml');
      const b = await renderHelm('helm/mytv-api/values-prod.yaml', [
        '--set',
        'image.tag=abc',
        '--set',
        'app.config.LOG_LEVEL=debug',
      ]);
      const checksum = (o: K8sObject[]) =>
        (find(o, 'Deployment').spec as { template: { metadata: { annotations: Record<string, string> } } }).template
          .metadata.annotations['checksum/config'];
      expect(checksum(a)).to.match(/^[0-9a-f]{64}$/);
      expect(checksum(b)).to.not.equal(checksum(a));
      const c = await renderHelm('helm/mytv-api/values-prod.yaml', [
        '--set',
        'image.tag=abc',
        '--set',
        'shutdown.drainTimeoutSeconds=50',
      ]);
      expect(api(c).terminationGracePeriodSeconds).to.equal(5 + 50 + 5);
      expect(find(c, 'ConfigMap').data).to.include({ SHUTDOWN_DRAIN_TIMEOUT_MS: '50000', METRICS_PORT: '9464' });
    });

    it('renders the ServiceMonitor and PrometheusRule only when the monitoring CRDs exist; the rules are prometheus/rules', async () => {
      const without = await exec.run(
        fromRoot('.tools/bin/helm'),
        [
          'template',
          'mytv-api',
          fromRoot('helm/mytv-api'),
          '-f',
          fromRoot('helm/mytv-api/values-prod.yaml'),
          '--set',
          'image.tag=abc',
        ],
        { readOnly: true, nothrow: true },
      );
      expect(parseManifests(without.stdout).map((o) => o.kind)).to.not.include.members([
        'ServiceMonitor',
        'PrometheusRule',
      ]);
      const objects = await renderHelm('helm/mytv-api/values-prod.yaml');
      expect((find(objects, 'PrometheusRule').spec as { groups: unknown[] }).groups).to.deep.equal(
        chartRuleGroups().groups,
      );
      const sm = find(objects, 'ServiceMonitor').spec as { endpoints: { port: string }[] };
      expect(sm.endpoints[0].port).to.equal('metrics');
      const check = await exec.run(
        'promtool',
        ['check', 'rules', fromRoot('helm/mytv-api/files/prometheus-rules.yaml')],
        { readOnly: true, nothrow: true },
      );
      expect(check.exitCode, check.stdout + check.stderr).to.equal(0);
    });

    it('runs the migration as a pre-install/pre-upgrade hook and ships helm test pods for ready, read and a metric', async () => {
      const objects = await renderHelm('helm/mytv-api/values-prod.yaml');
      const job = find(objects, 'Job');
      expect(job.metadata.annotations).to.include({ 'helm.sh/hook': 'pre-install,pre-upgrade' });
      expect(podSpecOf(job)!.containers[0].command).to.deep.equal(['node', 'dist/migrate.js']);
      const tests = objects.filter((o) => o.metadata.annotations?.['helm.sh/hook'] === 'test');
      expect(tests.map((o) => o.metadata.name)).to.deep.equal([
        'mytv-api-test-ready',
        'mytv-api-test-read',
        'mytv-api-test-metric',
      ]);
      const scripts = tests.map((o) => podSpecOf(o)!.containers[0].command!.join(' '));
      expect(scripts[0]).to.include('http://mytv-api:3000/health/ready');
      expect(scripts[1]).to.include('/v2/channels?limit=1');
      expect(scripts[2])
        .to.include('http://mytv-api-metrics:9464/metrics')
        .and.include('http_request_duration_seconds_count');
    });
  });

  describe('kustomize', () => {
    it('renders every overlay; labels never enter selectors; the ConfigMap carries a hash suffix the pods reference', async () => {
      expect(overlays()).to.include.members(['kustomize/overlays/staging', 'kustomize/overlays/production']);
      for (const overlay of overlays()) {
        const objects = await renderOverlay(overlay);
        const deployment = find(objects, 'Deployment');
        expect(
          Object.keys((deployment.spec as { selector: { matchLabels: object } }).selector.matchLabels).sort(),
        ).to.deep.equal(['app.kubernetes.io/instance', 'app.kubernetes.io/name']);
        expect(deployment.metadata.labels).to.have.property('mytv.app/environment');
        const cm = find(objects, 'ConfigMap').metadata.name;
        expect(cm).to.match(/^mytv-api-[a-z0-9]{10}$/);
        expect(api(objects).containers[0].envFrom![0].configMapRef!.name).to.equal(cm);
        const text = readFileSync(fromRoot(overlay, 'kustomization.yaml'), 'utf8');
        expect(text).to.not.match(/^commonLabels:/m);
      }
    });
  });

  describe('every render against the Kubernetes schemas and the policy', () => {
    it('every object of every render is valid and meets every policy rule', async () => {
      const rows = (await runK8sChecks(exec)).filter((r) => !r.ok);
      expect(rows).to.deep.equal([]);
    });

    it('the schema check fails on a wrong type, a bad quantity and an unknown kind', async () => {
      const objects = await renderOverlay('kustomize/overlays/staging');
      const bad = structuredClone(find(objects, 'Deployment'));
      (bad.spec as Record<string, unknown>).revisionHistoryLimit = 'ten';
      podSpecOf(bad)!.containers[0].resources!.limits!.memory = 'lots';
      const problems = await validateObjects([
        bad,
        { apiVersion: 'apps/v1', kind: 'Deploymnet', metadata: { name: 'x' } },
      ]);
      expect(problems.map((p) => p.message).join('\n'))
        .to.include('spec/revisionHistoryLimit must be integer')
        .and.include('must match format "quantity"');
      expect(problems[1].message).to.include('no schema for kind Deploymnet');
    });

    // One deliberately bad variant of a good render per rule: each rule must be able to fail.
    const breakers: Record<string, (o: K8sObject[]) => void> = {
      'restricted-security-context': (o) =>
        void (api(o).containers[0].securityContext!.allowPrivilegeEscalation = true),
      resources: (o) => void delete api(o).containers[0].resources!.requests!.cpu,
      probes: (o) => void delete api(o).containers[0].readinessProbe,
      'pinned-images': (o) => void (api(o).containers[0].image = 'ghcr.io/mytelevision/mytv-api:latest'),
      pdb: (o) =>
        o.splice(
          o.findIndex((x) => x.kind === 'PodDisruptionBudget'),
          1,
        ),
      'network-policy': (o) =>
        void ((find(o, 'NetworkPolicy').spec as { policyTypes: string[] }).policyTypes = ['Ingress']),
      'grace-period': (o) => void (api(o).terminationGracePeriodSeconds = 20),
      'rolling-update': (o) =>
        void ((
          find(o, 'Deployment').spec as { strategy: { rollingUpdate: { maxUnavailable: number } } }
        ).strategy.rollingUpdate.maxUnavailable = 1),
      labels: (o) =>
        void ((
          find(o, 'Deployment').spec as { selector: { matchLabels: Record<string, string> } }
        ).selector.matchLabels['app.kubernetes.io/version'] = '1'),
      'metrics-private': (o) =>
        void (
          o.find((x) => x.kind === 'Service' && x.metadata.name === 'mytv-api')!.spec as { ports: unknown[] }
        ).ports.push({ name: 'metrics', port: 9464, targetPort: 'metrics', nodePort: 30090 }),
      'no-service-account-token': (o) => void delete api(o).automountServiceAccountToken,
      cronjobs: (o) => void ((find(o, 'CronJob').spec as { concurrencyPolicy: string }).concurrencyPolicy = 'Allow'),
    };

    it('has a bad manifest for every rule, and each one fails exactly its rule', async () => {
      expect(Object.keys(breakers).sort()).to.deep.equal(POLICY_RULES.map((r) => r.id).sort());
      for (const render of [
        await renderOverlay('kustomize/overlays/staging'),
        await renderHelm('helm/mytv-api/values-prod.yaml'),
      ]) {
        expect(checkPolicies(render)).to.deep.equal([]);
        for (const [id, breakIt] of Object.entries(breakers)) {
          const bad = structuredClone(render);
          breakIt(bad);
          const rules = [...new Set(checkPolicies(bad).map((v) => v.rule))];
          expect(rules, id).to.deep.equal([id]);
        }
      }
    });
  });

  describe('staging (kustomize) and production (Helm) describe the same pod', () => {
    it('agree on image, ports, probes, env names, security context, resources present and shutdown', async () => {
      const rows = await consistencyChecks(exec);
      expect(rows).to.have.length.greaterThan(0);
      expect(rows.filter((r) => !r.ok)).to.deep.equal([]);
    });

    it('names the field when one side drifts', async () => {
      const staging = await renderOverlay('kustomize/overlays/staging');
      const prod = await renderHelm('helm/mytv-api/values-prod.yaml');
      api(staging).containers[0].image = api(prod).containers[0].image;
      expect(compareEssentials(podEssentials(staging), podEssentials(prod))).to.deep.equal([]);
      api(staging).containers[0].readinessProbe!.httpGet!.path = '/health/live';
      api(staging).containers[0].env!.push({ name: 'EXTRA', value: '1' });
      delete api(staging).containers[0].resources!.limits;
      const fields = compareEssentials(podEssentials(staging), podEssentials(prod)).map((d) => d.field);
      expect(fields).to.include.members(['probes.readiness.path', 'envNames', 'resourcesPresent']);
    });
  });

  it('make k8s-check runs every check and exits 0', async () => {
    const r = await runEntryScript('scripts/k8s-check.ts', ['--json']);
    expect(r.code, r.stderr).to.equal(0);
    const rows = JSON.parse(r.stdout) as { check: string; ok: boolean }[];
    expect(rows.map((x) => x.check)).to.include.members([
      'helm lint --strict',
      'helm template',
      'kubectl kustomize',
      'schemas',
      'policy',
      'same pod',
    ]);
  });
});
