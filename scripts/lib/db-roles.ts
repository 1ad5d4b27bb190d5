// PostgreSQL login roles on an environment's database host (scripts/lib/db-host.ts: argv runs as
// the postgres OS user, locally or over SSH). Used by make rotate-secret NAME=DATABASE_URL on the
// Kubernetes environments. Passwords travel only on stdin: never in an argv (process listings on
// the host, sshd's and sudo's logs) nor in the server log.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { must, type DbHost } from './db-host.js';
import { UserError } from './errors.js';
import type { PostgresRole } from './rotation.js';
import { registerSecret } from './secrets.js';

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** "role" → `"role"` (double quotes doubled); a name outside [a-z_][a-z0-9_]* is refused. */
export function roleIdentifier(role: string): string {
  if (!IDENTIFIER.test(role))
    throw new UserError(`'${role}' is not a plain PostgreSQL role name`, {
      hint: 'use lowercase letters, digits and _ (the DATABASE_URL user and database.appLoginRoles)',
    });
  return `"${role}"`;
}

/** A SQL string literal ('' for '). */
const literal = (v: string): string => `'${v.replace(/'/g, "''")}'`;

/**
 * SQL that sets a role's password with nothing of it in the server log: log_statement off,
 * no duration logging of the statement, no statement text on an error (all three superuser-only
 * settings; PostgreSQL docs "Error Reporting and Logging"). login: add LOGIN / NOLOGIN.
 */
export function alterRolePasswordSql(role: string, password: string, login?: boolean): string {
  const attr = login === undefined ? '' : login ? 'LOGIN ' : 'NOLOGIN ';
  return [
    "SET log_statement = 'none';",
    'SET log_min_duration_statement = -1;',
    "SET log_min_error_statement = 'panic';",
    `ALTER ROLE ${roleIdentifier(role)} WITH ${attr}PASSWORD ${literal(password)};`,
    '',
  ].join('\n');
}

/**
 * The SQL an operator runs once to create the second login role of the alternating pair: a member
 * of the same group role(s) as the active one, so it has the same grants (PostgreSQL "Role Membership").
 */
export function createSecondRoleSql(inactive: string, groups: string[]): string {
  return `CREATE ROLE ${roleIdentifier(inactive)} NOLOGIN IN ROLE ${groups.map(roleIdentifier).join(', ')};`;
}

/**
 * The login roles of one database on a DbHost. Administrative statements go over the Unix socket
 * as the postgres OS user (peer/local auth); a login check goes over TCP to 127.0.0.1:<port> like
 * a client, so the role's password (scram) is really checked.
 */
export class HostRoles {
  constructor(
    readonly host: DbHost,
    /** The application database (environment database.name). */
    readonly database: string,
  ) {}

  private psql(): string {
    return path.posix.join(this.host.paths.binDir, 'psql');
  }

  /** Runs SQL (on stdin) as the postgres superuser over the socket; returns psql's unaligned output. */
  async query(sql: string, what: string, database = 'postgres'): Promise<string> {
    const { socketDir, port } = this.host.paths;
    return must(
      this.host,
      [this.psql(), '-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-h', socketDir, '-p', String(port), '-d', database],
      what,
      { input: sql },
    );
  }

  /**
   * How many tables, sequences, views … of the application database `role` owns itself. An owner's
   * privileges are not inherited by the other members of its group role, so the other login role
   * of the pair could not use (or migrate) them: they belong to the group role.
   */
  async ownedRelations(role: string): Promise<number> {
    roleIdentifier(role);
    const out = await this.query(
      `SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = ${literal(role)};\n`,
      `counting the relations ${role} owns`,
      this.database,
    );
    return Number(out.trim());
  }

  async exists(role: string): Promise<boolean> {
    roleIdentifier(role);
    return (await this.query(`SELECT 1 FROM pg_roles WHERE rolname = ${literal(role)};\n`, `looking up role ${role}`))
      .trim()
      .startsWith('1');
  }

  /** The roles `role` is a member of (its group roles: where the grants of the app live), sorted. */
  async memberships(role: string): Promise<string[]> {
    roleIdentifier(role);
    const out = await this.query(
      'SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid ' +
        `JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = ${literal(role)} ORDER BY 1;\n`,
      `reading the memberships of ${role}`,
    );
    return out.split('\n').filter(Boolean);
  }

  /** ALTER ROLE … [LOGIN|NOLOGIN] PASSWORD, the SQL on psql's stdin (see alterRolePasswordSql). */
  async setPassword(role: string, password: string, login?: boolean): Promise<void> {
    registerSecret(password);
    await this.query(alterRolePasswordSql(role, password, login), `ALTER ROLE ${role} PASSWORD`);
  }

  /** The old login role stops working: NOLOGIN and a random password nobody knows. */
  async retire(role: string): Promise<void> {
    await this.setPassword(role, randomBytes(32).toString('base64url'), false);
  }

  /**
   * true when a new TCP connection as `role` with `password` succeeds. The password reaches psql as
   * PGPASSWORD in the environment of the remote process, read from stdin by the shell that execs it:
   * not in any argv (world-readable in `ps` on the host), not in a file that a dropped connection
   * could leave behind (a .pgpass), and a process's environment on Linux is readable only by its
   * own user and root (/proc/PID/environ, mode 0400).
   */
  async canLogin(role: string, password: string): Promise<boolean> {
    roleIdentifier(role);
    registerSecret(password);
    const script =
      'IFS= read -r PGPASSWORD; export PGPASSWORD; PGCONNECT_TIMEOUT=5; export PGCONNECT_TIMEOUT; ' +
      'exec "$1" -X -w -tA -h 127.0.0.1 -p "$2" -U "$3" -d "$4" -c "SELECT 1"';
    const r = await this.host.run(
      ['sh', '-c', script, 'sh', this.psql(), String(this.host.paths.port), role, this.database],
      { input: `${password}\n` },
    );
    return r.code === 0 && r.stdout.trim() === '1';
  }
}

/** One role whose password rotates in place (the single-role strategy, see README "Rotating a secret"). */
export class HostPostgresRole implements PostgresRole {
  constructor(
    private readonly roles: HostRoles,
    readonly role: string,
  ) {}
  setPassword(password: string): Promise<void> {
    return this.roles.setPassword(this.role, password);
  }
  canLogin(password: string): Promise<boolean> {
    return this.roles.canLogin(this.role, password);
  }
}
