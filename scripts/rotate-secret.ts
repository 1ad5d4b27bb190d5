// make rotate-secret NAME=… ENV=… — rotate one secret of the inventory without downtime.
//   JWT_SECRET    new key becomes current, old becomes previous (the API accepts both), replicas
//                 rolled one by one, both keys verified on every replica; after the longest token
//                 lifetime `ARGS=--finish` drops the previous key (rolled and verified again).
//   DATABASE_URL  new password for the API's PostgreSQL role: set it, update the secret, roll the
//                 replicas, verify a login with the new password and the old one refused; a failure
//                 after the change puts the old password back. Kubernetes: over the database host
//                 (database.kind ssh); with database.appLoginRoles the API moves to the other login
//                 role of the pair and the old one is retired after the roll (no authentication gap).
//   R2_*          Cloudflare issues R2 keys (dashboard / API token): a checked manual procedure.
// Every run appends a record (names, times, outcome; never a value) to the rotation log.
import { createHash, randomBytes } from 'node:crypto';
import { connectDbHost, databaseConfig } from './lib/db-host.js';
import { createSecondRoleSql, HostPostgresRole, HostRoles } from './lib/db-roles.js';
import { databaseUrlCredentials } from './lib/db-url.js';
import { loadEnvironment, type Environment } from './lib/environments.js';
import { UsageError, UserError } from './lib/errors.js';
import { signAdminToken, tokenAccepted } from './lib/jwt-probe.js';
import { runDirFrom } from './lib/local-stack/state.js';
import { runScript, type ScriptContext } from './lib/main.js';
import { fromRoot } from './lib/paths.js';
import {
  appendRotationRecord,
  localRotationTarget,
  readRotationRecords,
  type PostgresRole,
  type RotationRecord,
  type RotationTarget,
} from './lib/rotation.js';
import { inventoryEntry, loadInventory } from './lib/secret-inventory.js';
import { intOption } from './lib/cli.js';
import { kubeRotationTarget } from './lib/kube/rotation.js';
import os from 'node:os';

const newSecret = (bytes: number): string => randomBytes(bytes).toString('base64url');
const fingerprint = (v: string | undefined): string =>
  v ? createHash('sha256').update(v).digest('hex').slice(0, 8) : '-';

async function rotationTarget(
  envName: string,
  values: Record<string, unknown>,
  ctx: ScriptContext,
): Promise<RotationTarget> {
  const env = loadEnvironment(envName);
  if (env.deploy.kind === 'local') return localRotationTarget(runDirFrom(values), ctx.exec);
  const timeout = intOption(values.timeout, 'timeout', { default: 600, min: 30, max: 3600 });
  return kubeRotationTarget(ctx.exec, env, timeout);
}

/**
 * After a failed rotation: the old values back into the store, then one more roll. Returns the
 * state in words for the error message and the record (never a value).
 */
async function restoreAndRoll(target: RotationTarget, old: Record<string, string | null>): Promise<string> {
  try {
    await target.store.write(old);
  } catch (err) {
    return `the old values could NOT be put back into ${target.store.description} (${(err as Error).message}): it holds the new value, the replicas may run either`;
  }
  try {
    await target.roller.roll(() => undefined);
  } catch (err) {
    return `the old values are back in ${target.store.description}, but the roll back onto them failed (${(err as Error).message}): replicas may still run the new value`;
  }
  return `rolled back: the old values are back in ${target.store.description} and every replica was rolled onto them`;
}

async function verifyEveryReplica(urls: string[], token: string, expectAccepted: boolean, what: string): Promise<void> {
  for (const url of urls) {
    const accepted = await tokenAccepted(url, token);
    if (accepted !== expectAccepted) {
      throw new UserError(`${url}: a token signed with the ${what} key is ${accepted ? 'accepted' : 'rejected'}`, {
        hint: 'the replica did not pick up the new secrets; see its log',
      });
    }
  }
}

type RecordFn = (outcome: string, detail: string) => void;

/** Roll-back steps in order, stopping at the first that fails (what follows it would be unsafe). */
async function rollBack(steps: { done: string; failed: string; run: () => Promise<unknown> }[]): Promise<string> {
  const said: string[] = [];
  for (const step of steps) {
    try {
      await step.run();
      said.push(step.done);
    } catch (err) {
      said.push(`${step.failed} (${(err as Error).message}); stopped there`);
      break;
    }
  }
  return said.join('; ');
}

/**
 * One role, its password changed in place. Between ALTER ROLE and a replica's restart a replica
 * that opens a NEW connection with the old password fails (open connections stay: PostgreSQL
 * checks passwords at login only). database.appLoginRoles avoids that gap (rotateAlternating).
 */
async function rotateInPlace(
  ctx: ScriptContext,
  env: Environment,
  target: RotationTarget,
  postgres: PostgresRole,
  record: RecordFn,
): Promise<void> {
  const { out, exec } = ctx;
  const role = postgres.role;
  const old = await target.store.read('POSTGRES_APP_PASSWORD');
  if (!old)
    throw new UserError(`no PostgreSQL password in ${target.store.description}`, { hint: 'start the stack first' });
  if (!(await postgres.canLogin(old))) {
    throw new UserError(`the stored password of role ${role} does not log in now`, {
      hint: 'fix the secret store before rotating; nothing was changed',
    });
  }
  const next = newSecret(24);
  out.heading(
    `Plan: PostgreSQL role ${role} of ${env.name}: new password ${fingerprint(next)} (was ${fingerprint(old)})`,
  );
  out.line(`  1. ALTER ROLE ${role} PASSWORD (existing connections stay open; PostgreSQL checks passwords at login)`);
  out.line(`  2. update ${target.store.description}`);
  out.line(`  3. ${target.roller.description}; 4. verify a login with the new password and the old one refused`);
  if (env.deploy.kind !== 'local')
    out.line(
      `  gap: a replica not yet rolled that opens a new connection fails until it is rolled (set database.appLoginRoles to avoid it)`,
    );
  if (env.production) await ctx.confirm(`rotate the PostgreSQL password of ${role} in ${env.name}?`);
  if (exec.dryRun) return;
  let secretHolds = 'the old password';
  try {
    await postgres.setPassword(next);
    await target.store.write({ POSTGRES_APP_PASSWORD: next });
    secretHolds = 'the new password';
    await out.task('roll the API replicas', (p) => target.roller.roll(p));
    if (!(await postgres.canLogin(next))) throw new UserError('a login with the new password failed');
    if (await postgres.canLogin(old)) throw new UserError('the old password still logs in');
  } catch (err) {
    const state = await rollBack([
      {
        done: `PostgreSQL: role ${role} has its old password again`,
        failed: `PostgreSQL: the old password of ${role} could NOT be set back, ${target.store.description} holds ${secretHolds}`,
        run: () => postgres.setPassword(old),
      },
      {
        done: `${target.store.description} holds the old password again`,
        failed: `${target.store.description} could NOT be set back: it holds ${secretHolds}`,
        run: () => target.store.write({ POSTGRES_APP_PASSWORD: old }),
      },
      {
        done: 'every replica was rolled onto it',
        failed: 'the roll onto it failed: replicas may still run the new password',
        run: () => target.roller.roll(() => undefined),
      },
    ]);
    record('rolled-back', `failed: ${(err as Error).message}; ${state}`);
    throw new UserError(`PostgreSQL password rotation failed: ${(err as Error).message}; ${state}`);
  }
  record('rotated', `role ${role}: ${fingerprint(old)} -> ${fingerprint(next)}`);
  out.ok(`role ${role} uses the new password; every replica reconnected with it`);
}

/**
 * Alternating users: the API moves from the active login role (the DATABASE_URL user) to the other
 * one of the pair with a new password; the active one keeps working until every replica has moved,
 * then gets NOLOGIN and a random password. Both must be members of the same group role(s), which
 * hold the grants. (AWS Secrets Manager's "alternating users" rotation strategy.)
 */
async function rotateAlternating(
  ctx: ScriptContext,
  env: Environment,
  target: RotationTarget,
  roles: HostRoles,
  pair: readonly [string, string],
  /** The Secret's DATABASE_URL; its user is one of the pair (checked by the caller). */
  oldUrl: string,
  record: RecordFn,
): Promise<void> {
  const { out, exec } = ctx;
  const { user: active, password: old } = databaseUrlCredentials(oldUrl);
  const inactive = pair[0] === active ? pair[1] : pair[0];
  if (!(await roles.canLogin(active, old)))
    throw new UserError(`the password in DATABASE_URL does not log in as ${active} now`, {
      hint: 'fix the Secret before rotating; nothing was changed',
    });
  const groups = await roles.memberships(active);
  if (groups.length === 0)
    throw new UserError(`role ${active} is a member of no group role, so ${inactive} could not share its grants`, {
      hint: `give the grants to a group role both belong to (README "Rotating a secret"); nothing was changed`,
    });
  if (!(await roles.exists(inactive)))
    throw new UserError(`the second login role ${inactive} does not exist yet on ${roles.host.label}`, {
      hint: `create it once there with psql: ${createSecondRoleSql(inactive, groups)} (README "Rotating a secret"); nothing was changed`,
    });
  const owned = await roles.ownedRelations(active);
  if (owned > 0)
    throw new UserError(
      `role ${active} itself owns ${owned} relation(s) of database ${roles.database}, which ${inactive} could not use`,
      {
        hint: `on the database host, in ${roles.database}: REASSIGN OWNED BY ${active} TO ${groups[0]}; nothing was changed`,
      },
    );
  const inactiveGroups = await roles.memberships(inactive);
  const lacking = groups.filter((g) => !inactiveGroups.includes(g));
  if (lacking.length)
    throw new UserError(
      `role ${inactive} is not a member of ${lacking.join(', ')} as ${active} is (it would lack those grants)`,
      {
        hint: `on the database host: GRANT ${lacking.join(', ')} TO ${inactive}; nothing was changed`,
      },
    );
  const next = newSecret(24);
  out.heading(
    `Plan: PostgreSQL login of ${env.name} moves from role ${active} (${fingerprint(old)}) to ${inactive} (new password ${fingerprint(next)})`,
  );
  out.line(`  1. ALTER ROLE ${inactive} LOGIN PASSWORD on ${roles.host.label}; ${active} keeps working meanwhile`);
  out.line(`  2. DATABASE_URL in ${target.store.description} logs in as ${inactive}; other keys kept`);
  out.line(`  3. ${target.roller.description}`);
  out.line(
    `  4. verify ${inactive} logs in, then ALTER ROLE ${active} NOLOGIN (random password), verify it is refused`,
  );
  if (env.production) await ctx.confirm(`move the PostgreSQL login of ${env.name} to ${inactive}?`);
  if (exec.dryRun) return;
  let secretRole = active;
  try {
    await roles.setPassword(inactive, next, true);
    await target.store.write({ POSTGRES_APP_USER: inactive, POSTGRES_APP_PASSWORD: next });
    secretRole = inactive;
    await out.task(`roll the API onto ${inactive}`, (p) => target.roller.roll(p));
    if (!(await roles.canLogin(inactive, next)))
      throw new UserError(`a login as ${inactive} with the new password failed`);
    await roles.retire(active);
    if (await roles.canLogin(active, old)) throw new UserError(`the old credentials of ${active} still log in`);
  } catch (err) {
    const state = await rollBack([
      {
        done: `PostgreSQL: ${active} logs in with its old password again`,
        failed: `PostgreSQL: ${active} could NOT be given its old password and LOGIN back, DATABASE_URL still logs in as ${secretRole}`,
        run: () => roles.setPassword(active, old, true),
      },
      {
        done: `DATABASE_URL in ${target.store.description} is the old one again`,
        failed: `DATABASE_URL could NOT be set back: it logs in as ${secretRole}`,
        run: () => target.store.write({ DATABASE_URL: oldUrl }),
      },
      {
        done: 'every replica was rolled onto it',
        failed: `the roll onto it failed: replicas may still log in as ${inactive}, which keeps working`,
        run: () => target.roller.roll(() => undefined),
      },
      {
        done: `${inactive} is NOLOGIN again`,
        failed: `${inactive} could NOT be set NOLOGIN: it still logs in with the new password`,
        run: () => roles.retire(inactive),
      },
    ]);
    record('rolled-back', `failed: ${(err as Error).message}; ${state}`);
    throw new UserError(`PostgreSQL rotation failed: ${(err as Error).message}; ${state}`);
  }
  record(
    'rotated',
    `login role ${active} -> ${inactive}: ${fingerprint(old)} -> ${fingerprint(next)}; ${active} NOLOGIN`,
  );
  out.ok(`every replica logs in as ${inactive} with the new password; ${active} can no longer log in`);
}

await runScript(
  {
    summary:
      'Rotate one secret of secrets/inventory.yaml without downtime (JWT key, PostgreSQL app password, R2 keys).',
    usage:
      'make rotate-secret NAME=JWT_SECRET|DATABASE_URL|R2_ACCESS_KEY_ID ENV=… [DRY_RUN=1] [YES=1] [ARGS="--finish --token-lifetime=SECONDS"]',
    options: {
      name: { type: 'string' },
      finish: { type: 'boolean' },
      'token-lifetime': { type: 'string' },
      'run-dir': { type: 'string' },
      record: { type: 'string' },
      timeout: { type: 'string' },
    },
    optionsHelp: [
      '      --name NAME               the secret (make: NAME=…)',
      '      --finish                  JWT: drop the previous key once the token lifetime has passed since the rotation',
      '      --token-lifetime=SECONDS  JWT: the longest lifetime of an issued admin token (default 86400)',
      '      --run-dir DIR             local stack: its run directory (default .run/ or MYTV_RUN_DIR)',
      '      --record FILE             the rotation log (default secrets/rotations.jsonl)',
      '      --timeout=SECONDS         Kubernetes: kubectl rollout status --timeout (default 600)',
    ].join('\n'),
  },
  async (ctx) => {
    const { flags, values, out, exec } = ctx;
    const name = values.name as string | undefined;
    if (!name)
      throw new UsageError('which secret? NAME is missing', 'pass NAME=JWT_SECRET (see secrets/inventory.yaml)');
    const entry = inventoryEntry(name, loadInventory());
    if (!entry.environments.includes(flags.env)) {
      throw new UsageError(
        `${name} is not used in ${flags.env} (inventory: ${entry.environments.join(', ')})`,
        'pick another ENV',
      );
    }
    const env = loadEnvironment(flags.env);
    const recordFile = (values.record as string | undefined) ?? fromRoot('secrets', 'rotations.jsonl');
    const tokenLifetime = intOption(values['token-lifetime'], 'token-lifetime', {
      default: 86_400,
      min: 1,
      max: 30 * 86_400,
    });
    const record = (outcome: string, detail: string): void => {
      if (exec.dryRun) return;
      const r: RotationRecord = {
        secret: name,
        environment: env.name,
        outcome,
        at: new Date().toISOString(),
        by: os.userInfo().username,
        detail,
      };
      appendRotationRecord(recordFile, r);
    };

    if (entry.rotation === 'manual' && name.startsWith('R2_')) {
      out.heading(`R2 keys of ${env.name}: Cloudflare issues them, so this is a checked manual procedure`);
      out.table(
        [
          'Cloudflare dashboard → R2 → Manage API tokens: create a token scoped to the logos bucket (Object Read & Write)',
          `put its key id and secret into ${env.name}'s secret store (R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY)`,
          `roll the API (make deploy-${env.name} re-applies the Secret and restarts replicas one by one)`,
          'check a logo URL from GET /v2/channels answers 200 (new key in use)',
          'delete the old API token in the dashboard',
        ].map((step, i) => ({ step: i + 1, action: step })),
      );
      if (exec.dryRun) return;
      await ctx.confirm('have all five steps been done and checked?');
      record('rotated', 'manual procedure confirmed by the operator');
      out.ok('recorded the R2 key rotation');
      return;
    }
    if (entry.rotation !== 'jwt' && entry.rotation !== 'postgres-password') {
      throw new UsageError(
        `${name} is rotated by hand (inventory rotation: ${entry.rotation})`,
        'see secrets/inventory.yaml for its owner',
      );
    }

    const target = await rotationTarget(env.name, values, ctx);
    const replicas = target.roller.replicas();
    if (replicas.length === 0) throw new UserError('no API replica to roll', { hint: 'start the stack first' });

    if (entry.rotation === 'jwt') {
      const current = await target.store.read('JWT_SECRET');
      const previous = await target.store.read('JWT_SECRET_PREVIOUS');
      if (!current)
        throw new UserError(`no JWT_SECRET in ${target.store.description}`, { hint: 'start the stack first' });
      if (values.finish) {
        if (!previous)
          throw new UserError('no rotation in progress: JWT_SECRET_PREVIOUS is not set', { hint: 'nothing to finish' });
        const last = readRotationRecords(recordFile)
          .filter((r) => r.secret === name && r.environment === env.name && r.outcome === 'rotated')
          .pop();
        const since = last ? (Date.now() - Date.parse(last.at)) / 1000 : Infinity;
        if (since < tokenLifetime) {
          throw new UserError(
            `the previous key may still sign valid tokens for ${Math.ceil(tokenLifetime - since)} s (token lifetime ${tokenLifetime} s)`,
            {
              hint: 'run --finish again after that; nothing was changed',
            },
          );
        }
        out.heading(
          `Plan: drop the previous JWT key of ${env.name} (${fingerprint(previous)}), keep ${fingerprint(current)}; roll ${replicas.join(', ')}`,
        );
        if (env.production) await ctx.confirm(`drop the previous JWT key in ${env.name}?`);
        if (exec.dryRun) return;
        await target.store.write({ JWT_SECRET_PREVIOUS: null });
        await out.task('roll the API replicas one by one', (p) => target.roller.roll(p));
        const urls = target.roller.replicaUrls();
        await verifyEveryReplica(urls, await signAdminToken(current), true, 'current');
        await verifyEveryReplica(urls, await signAdminToken(previous), false, 'dropped previous');
        record('finished', `previous key ${fingerprint(previous)} dropped`);
        out.ok(`previous JWT key dropped; every replica accepts only ${fingerprint(current)}`);
        return;
      }
      if (previous) {
        throw new UserError('a JWT rotation is already in progress (JWT_SECRET_PREVIOUS is set)', {
          hint: 'finish it first: ARGS=--finish once the token lifetime has passed',
        });
      }
      const next = newSecret(48);
      out.heading(
        `Plan: JWT key of ${env.name}: new ${fingerprint(next)} becomes current, ${fingerprint(current)} becomes previous`,
      );
      out.line(`  store: ${target.store.description}`);
      out.line(`  roll:  ${target.roller.description} (${replicas.join(', ')})`);
      out.line(`  then:  ARGS=--finish after ${tokenLifetime} s drops the previous key`);
      if (env.production) await ctx.confirm(`rotate the JWT key in ${env.name}?`);
      if (exec.dryRun) return;
      await target.store.write({ JWT_SECRET: next, JWT_SECRET_PREVIOUS: current });
      try {
        await out.task('roll the API replicas one by one', (p) => target.roller.roll(p));
        const urls = target.roller.replicaUrls();
        await verifyEveryReplica(urls, await signAdminToken(next), true, 'new');
        await verifyEveryReplica(urls, await signAdminToken(current), true, 'previous');
      } catch (err) {
        const state = await restoreAndRoll(target, { JWT_SECRET: current, JWT_SECRET_PREVIOUS: null });
        record('rolled-back', `failed: ${(err as Error).message}; ${state}`);
        throw new UserError(`JWT rotation failed: ${(err as Error).message}; ${state}`);
      }
      record('rotated', `current ${fingerprint(next)}, previous ${fingerprint(current)}`);
      out.ok(
        `every replica accepts the new key and still the previous one; drop it with ARGS=--finish after ${tokenLifetime} s`,
      );
      return;
    }

    // PostgreSQL application password. Local stack: its own role over the socket. Kubernetes: the
    // database host of the environment (database.kind ssh), two alternating login roles when
    // database.appLoginRoles names them, else the DATABASE_URL role rotated in place.
    if (target.postgres) {
      await rotateInPlace(ctx, env, target, target.postgres, record);
      return;
    }
    // What the Secret says first (kubectl only), then the database host over SSH.
    const db = databaseConfig(env);
    const oldUrl = await target.store.read('DATABASE_URL');
    if (!oldUrl)
      throw new UserError(`no DATABASE_URL in ${target.store.description}`, {
        hint: `deploy first (make deploy-${env.name}); nothing was changed`,
      });
    const { user } = databaseUrlCredentials(oldUrl);
    const pair = db.appLoginRoles;
    if (pair && !pair.includes(user))
      throw new UserError(
        `DATABASE_URL logs in as ${user}, not as one of database.appLoginRoles (${pair.join(', ')}) of ${env.name}`,
        {
          hint: `create both roles (README "Rotating a secret") and point DATABASE_URL at ${pair[0]}, or remove appLoginRoles to rotate ${user} in place; nothing was changed`,
        },
      );
    const host = await connectDbHost(env, { runDir: runDirFrom(values) });
    try {
      const roles = new HostRoles(host, db.name);
      if (pair) await rotateAlternating(ctx, env, target, roles, pair, oldUrl, record);
      else await rotateInPlace(ctx, env, target, new HostPostgresRole(roles, user), record);
    } finally {
      host.dispose();
    }
  },
);
