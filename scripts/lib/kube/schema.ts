// Validation of rendered objects against the Kubernetes OpenAPI schemas (kubernetes-models, the
// generated models of Kubernetes 1.x with @kubernetes-models/validate; the prometheus-operator
// models for ServiceMonitor and PrometheusRule). Catches wrong types, bad quantities and missing
// required fields; not unknown fields (the models do not refuse them).
import type { K8sObject } from './manifests.js';
import { objectName } from './manifests.js';

interface Model {
  validate(): void;
}
type ModelClass = new (data: unknown) => Model;

/** apiVersion -> module folder of its models. */
function modulePath(apiVersion: string, kind: string): string | undefined {
  if (!/^[A-Za-z0-9]+$/.test(kind)) return undefined;
  if (apiVersion === 'monitoring.coreos.com/v1')
    return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`;
  if (!/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion)) return undefined;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

export interface SchemaProblem {
  object: string;
  message: string;
}

/**
 * Validates each object against the schema of its apiVersion/kind. An object whose kind has no
 * model (a typo, or an API version Kubernetes does not serve) is a problem too.
 */
export async function validateObjects(objects: K8sObject[]): Promise<SchemaProblem[]> {
  const problems: SchemaProblem[] = [];
  for (const o of objects) {
    const name = `${objectName(o)} (${o.apiVersion})`;
    const mod = modulePath(o.apiVersion, o.kind);
    let Klass: ModelClass | undefined;
    if (mod) {
      try {
        const loaded = (await import(mod)) as Record<string, unknown>;
        Klass = loaded[o.kind] as ModelClass | undefined;
      } catch {
        Klass = undefined;
      }
    }
    if (!Klass) {
      problems.push({
        object: name,
        message: `no schema for kind ${o.kind} in ${o.apiVersion} (unknown kind or API version)`,
      });
      continue;
    }
    try {
      new Klass(o).validate();
    } catch (err) {
      const text = (err as Error).message.replace(/^data\//, '').replace(/, data\//g, '; ');
      problems.push({ object: name, message: text });
    }
  }
  return problems;
}
