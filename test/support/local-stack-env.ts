// A local stack of its own for a test: free loopback ports for every local.ports key and a copy of
// environments/ whose dev.yaml uses them (passed to the scripts as MYTV_ENVIRONMENTS_DIR).
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { loadEnvironment } from '../../scripts/lib/environments.js';
import { fromRoot } from '../../scripts/lib/paths.js';
import { freePorts, isPortFree } from '../../scripts/lib/services/index.js';

/** Keys whose port is the first of one port per API replica (replica i listens on port + i). */
const PER_REPLICA = new Set(['api', 'apiMetrics']);

/**
 * Free loopback ports for every `local.ports` key of the dev environment as the schema reads it
 * (so keys left to their default, such as pushgateway, are covered too); per-replica keys get
 * `api.replicas` consecutive free ports.
 */
export async function freeLocalPorts(): Promise<Record<string, number>> {
  const dev = loadEnvironment('dev', { dir: fromRoot('environments') });
  if (!dev.local) throw new Error('environments/dev.yaml has no local block');
  const keys = Object.keys(dev.local.ports);
  const replicas = dev.api.replicas;
  const single = keys.filter((k) => !PER_REPLICA.has(k));
  const ports = await freePorts(single.length);
  const out: Record<string, number> = {};
  single.forEach((k, i) => (out[k] = ports[i]));
  const taken = new Set(ports);
  for (const key of keys.filter((k) => PER_REPLICA.has(k))) {
    for (;;) {
      const [p] = await freePorts(1);
      const run = Array.from({ length: replicas }, (_, i) => p + i);
      if (
        p + replicas < 65000 &&
        run.every((q) => !taken.has(q)) &&
        (await Promise.all(run.map((q) => isPortFree(q)))).every(Boolean)
      ) {
        run.forEach((q) => taken.add(q));
        out[key] = p;
        break;
      }
    }
  }
  return out;
}

/** A copy of environments/ whose dev.yaml has the given local ports. */
export function environmentsWith(dir: string, ports: Record<string, number>): string {
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(fromRoot('environments'))) {
    let text = readFileSync(fromRoot('environments', f), 'utf8');
    if (f === 'dev.yaml') {
      // Every port is set, also those the file leaves to the schema's default (a fixed port).
      const doc = parseDocument(text);
      for (const [k, v] of Object.entries(ports)) doc.setIn(['local', 'ports', k], v);
      text = doc.toString();
    }
    writeFileSync(path.join(dir, f), text);
  }
  return dir;
}
