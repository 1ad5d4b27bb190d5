// The database a DB entry script (migrate, seed) works on: --database-url, else DATABASE_URL.
import { UsageError } from './errors.js';

export function databaseUrlFrom(
  values: Record<string, unknown>,
  env: Record<string, string | undefined> = process.env,
): string {
  const url = (values['database-url'] as string | undefined) ?? env.DATABASE_URL;
  if (!url) {
    throw new UsageError(
      'no database given',
      'set DATABASE_URL=postgres://user:pass@host:5432/db in the environment or .env.<env> (or pass --database-url)',
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError('the database URL is not a URL', 'expected postgres://user:pass@host:5432/db');
  }
  if (!['postgres:', 'postgresql:'].includes(parsed.protocol)) {
    throw new UsageError(`the database URL must start with postgres:// (got ${parsed.protocol}//)`);
  }
  return url;
}

/** The URL without its password, for messages. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
