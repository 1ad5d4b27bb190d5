// Logical dumps (make dump / restore-dump): where they live on the database host and how they are named.
import path from 'node:path';
import type { DbHost } from './db-host.js';

/** <scratchDir>/../dumps on the host (local stack: <run dir>/pgbackrest/dumps). */
export function dumpDir(host: DbHost): string {
  return path.join(path.dirname(host.paths.scratchDir), 'dumps');
}

/** "<db>-20261129T203000Z.dump": sortable, so the newest is the last. */
export function dumpFileName(database: string, at: Date): string {
  return `${database}-${at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}.dump`;
}
