// Where things live. Every script resolves paths from here, never from process.cwd().
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** helm, kubectl and other unpacked tools (git-ignored). */
export const toolsDir = path.join(repoRoot, '.tools');
export const toolsBinDir = path.join(toolsDir, 'bin');

/** State and logs of the native local stack (git-ignored). */
export const defaultRunDir = path.join(repoRoot, '.run');

/** Environment descriptions; MYTV_ENVIRONMENTS_DIR points elsewhere (tests). */
export function environmentsDir(): string {
  return process.env.MYTV_ENVIRONMENTS_DIR ?? path.join(repoRoot, 'environments');
}

export function fromRoot(...parts: string[]): string {
  return path.join(repoRoot, ...parts);
}
