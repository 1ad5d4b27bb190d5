// The secrets inventory (secrets/inventory.yaml): one entry per secret with its purpose, owner,
// environments, components and rotation — never a value — validated by one zod schema; and the
// presence check `make secrets-check` runs (names only, never values).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { mergedVariables } from './environments.js';
import { UserError } from './errors.js';
import { fromRoot, repoRoot } from './paths.js';

const secretEntry = z.strictObject({
  name: z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'expected an environment variable name'),
  purpose: z.string().min(10),
  owner: z.string().min(1),
  environments: z.array(z.string().min(1)).min(1),
  requiredIn: z.array(z.string().min(1)),
  components: z.array(z.string().min(1)).min(1),
  /** Days between rotations; 0 = not rotated on a schedule (say why in purpose). */
  rotationDays: z.number().int().min(0).max(730),
  rotation: z.enum(['jwt', 'postgres-password', 'manual', 'none']),
});
export type SecretEntry = z.infer<typeof secretEntry>;

const inventorySchema = z.strictObject({ secrets: z.array(secretEntry).min(1) });

export const inventoryFile = fromRoot('secrets', 'inventory.yaml');

/** Reads and validates the inventory; a bad file is one error listing every problem. */
export function loadInventory(file = inventoryFile): SecretEntry[] {
  const result = inventorySchema.safeParse(parseYaml(readFileSync(file, 'utf8')));
  const shown = path.relative(repoRoot, file);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`);
    throw new UserError(`${shown} is invalid:\n${lines.join('\n')}`, { hint: `fix ${shown}`, exitCode: 2 });
  }
  const names = result.data.secrets.map((s) => s.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new UserError(`${shown} lists ${dup} twice`, { hint: 'keep one entry per secret', exitCode: 2 });
  for (const s of result.data.secrets) {
    const extra = s.requiredIn.filter((e) => !s.environments.includes(e));
    if (extra.length)
      throw new UserError(`${shown}: ${s.name} is required in ${extra.join(', ')} but not used there`, { exitCode: 2 });
  }
  return result.data.secrets;
}

export function inventoryEntry(name: string, inventory = loadInventory()): SecretEntry {
  const entry = inventory.find((s) => s.name === name);
  if (!entry) {
    throw new UserError(`unknown secret ${name}: it is not in secrets/inventory.yaml`, {
      hint: `known: ${inventory.map((s) => s.name).join(', ')}`,
      exitCode: 2,
    });
  }
  return entry;
}

/** Variable names of a dotenv file (values are never returned). */
export function dotenvNames(file: string): string[] {
  return existsSync(file) ? Object.keys(parseDotenv(readFileSync(file))) : [];
}

/** Names that look like a secret: what an inventory must cover when an example file has one. */
export const SECRET_LIKE = /(SECRET|PASSWORD|PASS$|TOKEN|PRIVATE|_KEY$|_KEY_ID$|KUBECONFIG|^DATABASE_URL$|^REDIS_URL$)/;

export interface PresenceRow {
  name: string;
  required: boolean;
  present: boolean;
  /** Where the value was found: a file name or "environment" (never the value). */
  source: string;
  purpose: string;
}

/**
 * Presence of each secret used in `envName`: looked up like every script does (.env, .env.<env>,
 * then the process environment; later wins). Values are read only to test for non-empty.
 */
export function secretPresence(
  envName: string,
  inventory = loadInventory(),
  o: { dotenvDir?: string; env?: NodeJS.ProcessEnv } = {},
): PresenceRow[] {
  const env = o.env ?? process.env;
  const dotenvDir = o.dotenvDir ?? process.env.MYTV_DOTENV_DIR ?? repoRoot;
  const vars = mergedVariables(envName, { dotenvDir, env });
  const fileOf = (name: string): string => {
    if (env[name]) return 'environment';
    for (const f of [`.env.${envName}`, '.env']) if (dotenvNames(path.join(dotenvDir, f)).includes(name)) return f;
    return '';
  };
  return inventory
    .filter((s) => s.environments.includes(envName))
    .map((s) => {
      const present = Boolean(vars[s.name]);
      return {
        name: s.name,
        required: s.requiredIn.includes(envName),
        present,
        source: present ? fileOf(s.name) : '',
        purpose: s.purpose,
      };
    });
}
