// The ops image (ops/Dockerfile): the scripts, environments, Node, pgBackRest, psql and ssh that the
// scheduled backup jobs run. Built with the API image's mechanics (api-image.ts: NODE_IMAGE, OCI
// labels, npm's registry as build secrets) and tagged with a hash of every input it copies, so an
// image built from the same files is found and reused instead of rebuilt (make build-ops, the test).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { buildApiImage, type NpmBuildSecrets } from './api-image.js';
import { engineRun, imageExists, type ContainerEngine } from './container-engine.js';
import type { Exec } from './exec.js';
import { fromRoot } from './paths.js';

export const OPS_IMAGE_REPO = 'localhost/mytv-ops';
export const opsDockerfile = fromRoot('ops', 'Dockerfile');
export const opsIgnoreFile = fromRoot('ops', '.dockerignore');

/** What ops/Dockerfile copies (relative to the repository root), and the recipe itself. */
export const OPS_INPUTS = [
  'ops/Dockerfile',
  'ops/.dockerignore',
  'package.json',
  'package-lock.json',
  'app/package.json',
  'tsconfig.json',
  'tsconfig.base.json',
  'app/src',
  'environments',
  'postgres',
  'scripts',
];

function filesUnder(rel: string): string[] {
  const abs = fromRoot(rel);
  if (!statSync(abs).isDirectory()) return [rel];
  return readdirSync(abs, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.env'))
    .flatMap((e) => filesUnder(path.posix.join(rel, e.name)))
    .sort();
}

/**
 * 12 hex digits of a sha256 over every input file (path and content) and the base image reference:
 * the same tree and base give the same tag. Throws (ENOENT) when an input is missing.
 */
export function opsInputsHash(baseImage = ''): string {
  const h = createHash('sha256').update(`base ${baseImage}\n`);
  for (const file of OPS_INPUTS.flatMap(filesUnder)) h.update(`${file}\n`).update(readFileSync(fromRoot(file)));
  return h.digest('hex').slice(0, 12);
}

export interface OpsImageResult {
  /** localhost/mytv-ops:<inputs hash>. */
  image: string;
  /** Every tag it carries: the hash, then `alsoTag`. */
  tags: string[];
  /** false: an image of the same inputs existed and was reused. */
  built: boolean;
}

/** What make build-ops tags besides the hash: the version, the commit, and `local` (compose). */
export function opsReleaseTags(version: string, revision: string): string[] {
  return [`${OPS_IMAGE_REPO}:${version}`, `${OPS_IMAGE_REPO}:${revision}`, `${OPS_IMAGE_REPO}:local`];
}

/**
 * Builds ops/Dockerfile unless an image of the same inputs exists, then tags it with `alsoTag`.
 * Errors: the build's UserError naming the failing step (api-image.ts).
 */
export async function ensureOpsImage(
  exec: Exec,
  engine: ContainerEngine,
  o: {
    version: string;
    revision: string;
    baseImage?: string;
    secrets: () => Promise<NpmBuildSecrets>;
    alsoTag?: string[];
    force?: boolean;
  },
): Promise<OpsImageResult> {
  const image = `${OPS_IMAGE_REPO}:${opsInputsHash(o.baseImage)}`;
  const tags = [image, ...(o.alsoTag ?? [])];
  if (!o.force && (await imageExists(exec, engine, image))) {
    for (const t of tags.slice(1)) await engineRun(exec, engine, ['tag', image, t]);
    return { image, tags, built: false };
  }
  const secrets = await o.secrets();
  try {
    await buildApiImage(exec, engine, {
      tags,
      version: o.version,
      revision: o.revision,
      baseImage: o.baseImage,
      secrets,
      dockerfile: opsDockerfile,
      ignoreFile: opsIgnoreFile,
    });
  } finally {
    secrets.cleanup();
  }
  // Images of older inputs go (their layers stay shared with this one while the cache needs them).
  const listed = await engineRun(exec, engine, ['images', '--format', '{{.Repository}}:{{.Tag}}', OPS_IMAGE_REPO], {
    readOnly: true,
    nothrow: true,
  });
  for (const old of listed.stdout.split('\n').filter((t) => /:[0-9a-f]{12}$/.test(t) && t !== image))
    await engineRun(exec, engine, ['rmi', old], { nothrow: true });
  return { image, tags, built: true };
}
