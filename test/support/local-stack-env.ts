// A local stack of its own for a test: free loopback ports for every local.ports key and a copy of
// environments/ whose dev.yaml uses them (passed to the scripts as MYTV_ENVIRONMENTS_DIR).
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { fromRoot } from '../../scripts/lib/paths.js';
import { freePorts, isPortFree } from '../../scripts/lib/services/index.js';

/** Free ports for every local.ports key; api gets two consecutive free ones (two replicas). */
export async function freeLocalPorts(): Promise<Record<string, number>> {
  const keys = ['nginx', 'nginxStatus', 'postgres', 'redis', 'prometheus', 'alertmanager', 'grafana', 's3'];
  const more = ['postgresExporter', 'redisExporter', 'nginxExporter'];
  const ports = await freePorts(keys.length + more.length);
  const out: Record<string, number> = {};
  [...keys, ...more].forEach((k, i) => (out[k] = ports[i]));
  for (;;) {
    const [p] = await freePorts(1);
    if (p < 65000 && (await isPortFree(p + 1))) {
      out.api = p;
      break;
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
      // Every port is set or the test stops: a key left alone would fall back to a fixed dev port.
      const doc = parseDocument(text);
      for (const [k, v] of Object.entries(ports)) {
        if (!doc.hasIn(['local', 'ports', k])) throw new Error(`environments/dev.yaml has no local.ports.${k}`);
        doc.setIn(['local', 'ports', k], v);
      }
      text = doc.toString();
    }
    writeFileSync(path.join(dir, f), text);
  }
  return dir;
}
