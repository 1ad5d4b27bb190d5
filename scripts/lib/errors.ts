// The error contract of every entry script:
//   UserError   -> one line "error: …" plus "hint: …", exit 1 (failure) or 2 (usage), no stack;
//   anything else is a bug -> its stack, exit 1.

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class UserError extends Error {
  readonly hint?: string;
  readonly exitCode: number;
  constructor(message: string, opts: { hint?: string; exitCode?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'UserError';
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? EXIT_FAILURE;
  }
}

/** Bad flags, unknown environment, malformed input: the caller must change the command. */
export class UsageError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, { hint, exitCode: EXIT_USAGE });
    this.name = 'UsageError';
  }
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}

/** Text an operator sees for an error; a bug keeps its stack. */
export function formatError(err: unknown): string {
  if (isUserError(err)) {
    return `error: ${err.message}` + (err.hint ? `\n  hint: ${err.hint}` : '');
  }
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return `error: ${String(err)}`;
}

export function exitCodeOf(err: unknown): number {
  return isUserError(err) ? err.exitCode : EXIT_FAILURE;
}
