// Flags of every entry script: read from argv, then from the environment (as `make X ENV=prod
// DRY_RUN=1` passes them), then defaults; validated once, before anything else runs.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';

export interface CommonFlags {
  env: string;
  dryRun: boolean;
  yes: boolean;
  json: boolean;
  verbose: boolean;
}

type Options = NonNullable<ParseArgsConfig['options']>;

const commonOptions = {
  env: { type: 'string', short: 'e' },
  'dry-run': { type: 'boolean', short: 'n' },
  yes: { type: 'boolean', short: 'y' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

/** Parses "1/true/yes/on" and "0/false/no/off/''"; anything else is a usage error. */
export function envBool(name: string, env: NodeJS.ProcessEnv = process.env): boolean | undefined {
  const raw = env[name];
  if (raw === undefined) return undefined;
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['', '0', 'false', 'no', 'off'].includes(v)) return false;
  throw new UsageError(`${name}=${raw} is not a yes/no value`, `use ${name}=1 or leave it unset`);
}

/** A whole-number option (`--name N`), checked against its range; absent or empty -> the default. */
export function intOption(raw: unknown, name: string, o: { default: number; min: number; max: number }): number {
  if (raw === undefined || raw === '') return o.default;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < o.min || n > o.max) {
    throw new UsageError(
      `--${name} must be a whole number from ${o.min} to ${o.max} (got ${JSON.stringify(raw)})`,
      `pass --${name}=N with N in that range`,
    );
  }
  return n;
}

export interface ParsedCli {
  flags: CommonFlags;
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
  help: boolean;
}

export function parseCli(
  argv: string[],
  options: Options = {},
  { env = process.env, allowPositionals = false } = {},
): ParsedCli {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...commonOptions, ...options },
      allowPositionals,
      strict: true,
    });
  } catch (err) {
    // node's messages are already one readable line ("Unknown option '--foo'…").
    const msg = (err as Error).message.split('\n')[0];
    throw new UsageError(msg, 'run with --help to see the options');
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const flags: CommonFlags = {
    env: (v.env as string | undefined) ?? (env.ENV || undefined) ?? 'dev',
    dryRun: (v['dry-run'] as boolean | undefined) ?? envBool('DRY_RUN', env) ?? false,
    yes: (v.yes as boolean | undefined) ?? envBool('YES', env) ?? false,
    json: (v.json as boolean | undefined) ?? envBool('JSON', env) ?? false,
    verbose: (v.verbose as boolean | undefined) ?? envBool('VERBOSE', env) ?? false,
  };
  return {
    flags,
    values: parsed.values,
    positionals: parsed.positionals,
    help: Boolean(v.help),
  };
}

export const commonHelp = `Common options:
  -e, --env NAME   environment (default: dev; or ENV=NAME)
  -n, --dry-run    print what would change, change nothing (or DRY_RUN=1)
  -y, --yes        do not ask for confirmation (or YES=1)
      --json       machine-readable output on stdout (or JSON=1)
  -v, --verbose    echo every command run, secrets masked (or VERBOSE=1)
  -h, --help       this help`;
