// Runs an entry script the way make does (node + the swc loader) and captures what it printed:
// the tests drive scripts through it, and scripts that run another one (bench-backup) too.
// `script` is a path from the repository root (scripts/env-check.ts).
import { spawn } from 'node:child_process';
import { repoRoot } from './paths.js';

export interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runEntryScript(
  script: string,
  args: string[] = [],
  o: {
    env?: Record<string, string | undefined>;
    input?: string;
    timeoutMs?: number;
    /** Called with each chunk of stdout or stderr as it arrives (to wait for a message). */
    onOutput?: (chunk: string) => void;
  } = {},
): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1', ...o.env };
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    const child = spawn(
      process.execPath,
      ['--enable-source-maps', '--import', '@swc-node/register/esm-register', script, ...args],
      {
        cwd: repoRoot,
        env: env,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      o.onOutput?.(d.toString());
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      o.onOutput?.(d.toString());
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(o.input ?? '');
  });
}
