// What every generator shares: the shapes, and how a committed file is made machine-independent.
// Kept apart from index.ts (the registry) so a generator can import it without an import cycle.
import { format, resolveConfig } from 'prettier';
import { fromRoot } from '../paths.js';

/** One derived file: path relative to the repository root, full content. */
export interface GeneratedFile {
  path: string;
  content: string;
}

export interface Generator {
  /** Short name shown in the report, e.g. "slo-rules". */
  name: string;
  /** What the files are made from, for the report (e.g. "environments/*.yaml slo"). */
  source: string;
  /** Renders every file this generator owns; must be deterministic (no timestamps). */
  render(): Promise<GeneratedFile[]>;
}

/** Formats a generated file as the repository's Prettier config does, so `make lint` agrees with it. */
export async function formatLikeRepo(file: string, text: string): Promise<string> {
  const options = await resolveConfig(fromRoot(file));
  return format(text, { ...options, filepath: fromRoot(file) });
}

/**
 * How generators load environments/*.yaml: with no variables and no .env files, so `${VAR:-default}`
 * renders its default and a committed file never depends on the machine that generated it.
 */
export const COMMITTED = { env: {}, dotenvDir: '/nonexistent' } as const;
