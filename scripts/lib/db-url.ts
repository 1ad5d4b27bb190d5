// The database a DB entry script (migrate, seed) works on: --database-url, else DATABASE_URL.
import { databaseUrlProblem } from '../../app/src/db/database-url.js';
import { redactText } from '../../app/src/logging/redact.js';
import { parse } from 'pg-connection-string';
import { UsageError, UserError } from './errors.js';
import { registerSecret } from './secrets.js';

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

export interface DatabaseCredentials {
  user: string;
  password: string;
}

/**
 * The role and password of a postgres:// URL as pg reads them (pg-connection-string, the parser of
 * `pg`, percent-decoding included). Both values are registered for masking.
 * @throws UserError when the URL is not usable or names no user/password (the message never holds the URL).
 */
export function databaseUrlCredentials(url: string): DatabaseCredentials {
  const problem = databaseUrlProblem(url);
  if (problem) throw new UserError(`DATABASE_URL ${problem}`, { hint: 'expected postgres://user:pass@host:5432/db' });
  const c = parse(url);
  if (!c.user || !c.password)
    throw new UserError('DATABASE_URL names no user or no password', {
      hint: 'expected postgres://user:pass@host:5432/db',
    });
  registerSecret(c.password);
  return { user: c.user, password: c.password };
}

/**
 * The same URL with another role and/or password: the WHATWG URL parser (Node's URL) replaces the
 * userinfo (each value percent-encoded as a URI component); host, port, database and query (sslmode …) are kept.
 * The result is read back with pg-connection-string and must give exactly the new credentials and
 * the old host/port/database, so what pg will use is what was meant.
 * @throws UserError when the URL has no host to carry a userinfo (the socket form) or the round trip differs.
 */
export function withDatabaseCredentials(url: string, change: Partial<DatabaseCredentials>): string {
  const before = parse(url);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError('DATABASE_URL is not a URL with a host', {
      hint: 'expected postgres://user:pass@host:5432/db',
    });
  }
  if (!u.host)
    throw new UserError('DATABASE_URL has no host part to carry a user and password (socket form)', {
      hint: 'expected postgres://user:pass@host:5432/db',
    });
  // The setters leave '%' (and a few others) as they are, while pg percent-decodes the userinfo:
  // each value goes in as a percent-encoded URI component.
  if (change.user !== undefined) u.username = encodeURIComponent(change.user);
  if (change.password !== undefined) {
    registerSecret(change.password);
    u.password = encodeURIComponent(change.password);
  }
  const next = u.toString();
  registerSecret(next);
  const after = parse(next);
  const same =
    after.user === (change.user ?? before.user) &&
    after.password === (change.password ?? before.password) &&
    after.host === before.host &&
    after.port === before.port &&
    after.database === before.database;
  if (!same)
    throw new UserError('rebuilding DATABASE_URL with the new credentials did not read back the same', {
      hint: 'the role name or URL has characters pg and the URL standard encode differently; nothing was changed',
    });
  return next;
}
