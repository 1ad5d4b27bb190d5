// Running commands: on top of zx `$`, quiet by default, echoed with secrets masked under
// --verbose, and the --dry-run primitive: a command that changes something is printed, not run.
import { $, type ProcessOutput } from 'zx';
import { UserError } from './errors.js';
import type { Output } from './output.js';
import { maskSecrets } from './secrets.js';
import { toolEnvPath } from './tools.js';

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  input?: string;
  /** Read-only commands (default false) run also under --dry-run. */
  readOnly?: boolean;
  /** Return the result instead of throwing on a non-zero exit. */
  nothrow?: boolean;
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  skipped: boolean;
}

export function quoteForDisplay(cmd: string, args: string[]): string {
  const q = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return maskSecrets([cmd, ...args].map(q).join(' '));
}

export class CommandError extends UserError {
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    const lastLines = (result.stderr || result.stdout).trim().split('\n').slice(-3).join(' | ');
    super(`command failed (exit ${result.exitCode}): ${command}${lastLines ? `: ${maskSecrets(lastLines)}` : ''}`);
    this.name = 'CommandError';
  }
}

export class Exec {
  constructor(readonly opts: { dryRun: boolean; verbose: boolean; out: Output }) {}

  get dryRun(): boolean {
    return this.opts.dryRun;
  }

  async run(cmd: string, args: string[] = [], o: RunOptions = {}): Promise<RunResult> {
    const shown = quoteForDisplay(cmd, args);
    if (this.opts.dryRun && !o.readOnly) {
      this.opts.out.line(`would run: ${shown}`);
      return { stdout: '', stderr: '', exitCode: 0, skipped: true };
    }
    if (this.opts.verbose) this.opts.out.line(`$ ${shown}`);
    const env = { ...process.env, PATH: toolEnvPath(), ...o.env } as NodeJS.ProcessEnv;
    const p = $({
      cwd: o.cwd,
      env,
      input: o.input,
      quiet: true,
      nothrow: true,
      timeout: o.timeoutMs,
      verbose: false,
    })`${cmd} ${args}`;
    const res: ProcessOutput = await p;
    const result: RunResult = {
      stdout: res.stdout,
      stderr: res.stderr,
      exitCode: res.exitCode ?? 1,
      skipped: false,
    };
    if (result.exitCode !== 0 && !o.nothrow) throw new CommandError(shown, result);
    return result;
  }

  /** Shorthand for a read-only command's trimmed stdout. */
  async read(cmd: string, args: string[] = [], o: Omit<RunOptions, 'readOnly'> = {}): Promise<string> {
    return (await this.run(cmd, args, { ...o, readOnly: true })).stdout.trim();
  }

  /** A change that is not a command (a file written, a directory removed): skipped under --dry-run. */
  async change<T>(description: string, fn: () => Promise<T> | T): Promise<T | undefined> {
    if (this.opts.dryRun) {
      this.opts.out.line(`would ${description}`);
      return undefined;
    }
    if (this.opts.verbose) this.opts.out.line(`# ${description}`);
    return await fn();
  }
}
