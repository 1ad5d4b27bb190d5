import { parse } from 'pg-connection-string';

/**
 * The one check of a PostgreSQL connection string, for the app's configuration and the scripts
 * (scripts/lib/db-url.ts). It uses pg-connection-string, the parser `pg` itself uses, so every
 * form pg accepts is accepted (libpq's `postgres:///db?host=/run/postgresql` socket form, a
 * password with an escaped `@`…) and nothing pg would refuse gets through.
 *
 * @returns undefined when the string is usable, else a short problem ("must start with …").
 */
export function databaseUrlProblem(url: string): string | undefined {
  if (!/^postgres(ql)?:\/\//i.test(url)) return 'must start with postgres:// or postgresql://';
  let host: string | null | undefined;
  try {
    host = parse(url).host;
  } catch (error) {
    return `is not a connection string pg can read (${(error as Error).message})`;
  }
  if (!host) return 'names no host (give one after // or as ?host=/run/postgresql for a socket)';
  return undefined;
}
