// What `make up` asks of a way to run the local stack (native processes or Docker compose), phase
// by phase, so scripts/up.ts reads as the runbook for both; and the database step both share.
import { runMigrations } from '../../../app/src/db/migrator.js';
import { seedDatabase } from '../../../app/src/db/seed.js';

/** Channels `make up` seeds (the deterministic data set of app/src/db/seed.ts). */
export const SEED_CHANNELS = 50;

export interface LocalStackMode {
  /** Everything checkable before a change; returns a sentence when the stack is already up as planned. */
  preflight(): Promise<string | undefined>;
  /** Prints what act() will do: the whole output of --dry-run. */
  printPlan(): void;
  /** Under --dry-run: the checks only a dry run can make; returns the closing line. */
  dryRun(): Promise<string>;
  /** Starts the stack, migrates and seeds the database. */
  act(): Promise<void>;
  /** Every health check; throws naming what is unhealthy. */
  verify(): Promise<void>;
  /** After a failed act or verify: stops what this run started, says so, leaves data in place. */
  rollBack(): Promise<void>;
  /** One line for the success message: what is up. */
  summary(): string;
  /** The URLs table (or --json document) of the running stack. */
  report(): void;
}

/**
 * Applies the pending migrations and loads the seed data into a database without channels; a
 * database that has some is kept as it is (data an operator changed or restored is never
 * overwritten; `make seed` replaces the seed data set on purpose). Progress through `update`;
 * returns a sentence worth showing after the task (data kept, schedule ended), or undefined.
 */
export async function migrateAndSeed(url: string, update: (detail: string) => void): Promise<string | undefined> {
  const migrated = await runMigrations(url, { log: () => undefined });
  update(`${migrated.applied.length} migrations applied, ${migrated.alreadyApplied} already there`);
  const seeded = await seedDatabase(url, { channels: SEED_CHANNELS, onlyIntoEmpty: true });
  if (!seeded.kept) {
    update(`${seeded.channels} channels, ${seeded.programmes} programmes`);
    return undefined;
  }
  const ends = seeded.kept.scheduleEnds;
  const ended = !ends || new Date(ends).getTime() < Date.now();
  update(`${seeded.kept.channels} channels already there: kept`);
  return `the database already had ${seeded.kept.channels} channels: kept as they are, not re-seeded${
    ended
      ? `; their schedule ${ends ? `ended ${ends}` : 'is empty'}, so now/next is empty: make seed replaces the seed data set`
      : ''
  }`;
}
