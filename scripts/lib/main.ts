// The frame of every entry script: parse flags once, build the shared context, run, and turn
// errors into the exit-code contract (see errors.ts).
import { parseCli, commonHelp, type CommonFlags, type ParsedCli } from './cli.js';
import { exitCodeOf, formatError } from './errors.js';
import { Exec } from './exec.js';
import { Output } from './output.js';
import { confirm } from './prompt.js';
import type { ParseArgsConfig } from 'node:util';

export interface ScriptContext {
  flags: CommonFlags;
  values: ParsedCli['values'];
  positionals: string[];
  out: Output;
  exec: Exec;
  /** Asks before a change unless --yes; refuses without a terminal. Always resolves under --dry-run. */
  confirm: (question: string) => Promise<void>;
}

export interface ScriptDefinition {
  /** One line for --help: what the script does. */
  summary: string;
  usage?: string;
  options?: NonNullable<ParseArgsConfig['options']>;
  optionsHelp?: string;
  allowPositionals?: boolean;
}

export function createContext(parsed: ParsedCli): ScriptContext {
  const out = new Output(parsed.flags.json);
  const exec = new Exec({ dryRun: parsed.flags.dryRun, verbose: parsed.flags.verbose, out });
  return {
    flags: parsed.flags,
    values: parsed.values,
    positionals: parsed.positionals,
    out,
    exec,
    confirm: async (question) => {
      if (parsed.flags.dryRun) return;
      await confirm(question, { yes: parsed.flags.yes });
    },
  };
}

/** Runs an entry script; sets process.exitCode, never throws. */
export async function runScript(
  def: ScriptDefinition,
  body: (ctx: ScriptContext) => Promise<void>,
  argv: string[] = process.argv.slice(2),
): Promise<void> {
  // A reader that stopped early (`make status | head -2`) is not an error of the script: stop
  // writing, keep the exit code the work gives (EPIPE from a closed pipe, as a shell pipeline does).
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.stdout.write = () => true;
  });
  try {
    const parsed = parseCli(argv, def.options ?? {}, { allowPositionals: def.allowPositionals });
    if (parsed.help) {
      process.stdout.write(
        [
          def.summary,
          def.usage ? `\nUsage: ${def.usage}` : '',
          def.optionsHelp ? `\n${def.optionsHelp}` : '',
          `\n${commonHelp}\n`,
        ].join(''),
      );
      return;
    }
    await body(createContext(parsed));
  } catch (err) {
    process.stderr.write(formatError(err) + '\n');
    process.exitCode = exitCodeOf(err);
  }
}
