// The local stack's run directory (.run/ by default) and what it remembers of the last `make up`
// (state.json: mode, profile, environment), read by down, status and logs-local.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { defaultRunDir } from '../paths.js';
import type { RecordedContainer } from './compose-postgres.js';
import type { Mode, Profile } from './plan.js';

/** --run-dir, else MYTV_RUN_DIR, else .run/ in the repository. */
export function runDirFrom(values: Record<string, unknown>): string {
  const raw = (values['run-dir'] as string | undefined) ?? process.env.MYTV_RUN_DIR;
  return raw ? path.resolve(raw) : defaultRunDir;
}
/** What `make up` recorded in the run directory, for down / status / logs-local. */
export interface StackState {
  mode: Mode;
  profile: Profile;
  environment: string;
  startedAt: string;
  /** compose mode: the PostgreSQL container, where make backup / restore / dr-drill run their commands. */
  postgres?: RecordedContainer;
}

export function stateFile(runDir: string): string {
  return path.join(runDir, 'state.json');
}

export function readState(runDir: string): StackState | undefined {
  const file = stateFile(runDir);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StackState;
  } catch {
    return undefined;
  }
}

export function writeState(runDir: string, state: StackState): void {
  writeFileSync(stateFile(runDir), JSON.stringify(state, null, 2) + '\n');
}
