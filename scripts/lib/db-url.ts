// The database a DB entry script (migrate, seed) works on: --database-url, else DATABASE_URL.
import { databaseUrlProblem } from '../../app/src/db/database-url.js';
import { redactText } from '../../app/src/logging/redact.js';
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
  const problem = databaseUrlProblem(url);
  if (problem) {
    throw new UsageError(`the database URL ${problem}`, 'expected postgres://user:pass@host:5432/db');
  }
  return url;
}

/** The URL without its password, for messages (libpq forms included). */
export function redactDatabaseUrl(url: string): string {
  return redactText(url, '***');
}
