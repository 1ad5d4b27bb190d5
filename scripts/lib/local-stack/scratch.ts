// The PostgreSQL instances the backup scripts start beside the local stack's own: scratch
// instances of `make restore` (kept running for the operator on purpose) and the drill's, all
// under <run dir>/pgbackrest/restore. `make down` stops them with the stack, so nothing of the
// run directory keeps running (and, with --volumes, nothing runs on deleted files).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { isZombie, lookupUser, processStartTime } from '../services/process.js';
import { findTool } from '../tools.js';

export interface ScratchInstance {
  /** The instance's data directory (where postmaster.pid is). */
  dataDir: string;
  pid: number;
  port: number;
}

/** Where the local stack's restores and drills put their instances (scripts/lib/db-host.ts, kind local). */
export function scratchRoot(runDir: string): string {
  return path.join(runDir, 'pgbackrest', 'restore');
}

/**
 * A process that still runs: it exists and is no zombie. A postmaster started by `pg_ctl start`
 * is reparented once pg_ctl exits; where PID 1 does not reap (some sandboxes), its zombie stays.
 */
export function processRuns(pid: number): boolean {
  return processStartTime(pid) !== undefined && !isZombie(pid);
}

/**
 * The running instances under `scratchRoot(runDir)`: every data directory (at most 4 levels down)
 * whose postmaster.pid names a live process. postmaster.pid's lines 1 and 4 are the PID and the
 * port (PostgreSQL's src/include/utils/pidfile.h: LOCK_FILE_LINE_PID, LOCK_FILE_LINE_PORT).
 */
export function runningScratchInstances(runDir: string): ScratchInstance[] {
  const found: ScratchInstance[] = [];
  const walk = (dir: string, depth: number): void => {
    const pidFile = path.join(dir, 'postmaster.pid');
    if (existsSync(pidFile)) {
      const lines = readFileSync(pidFile, 'utf8').split('\n');
      const pid = Number(lines[0]);
      if (Number.isInteger(pid) && pid > 0 && processRuns(pid))
        found.push({ dataDir: dir, pid, port: Number(lines[3]) });
      return;
    }
    if (depth === 0) return;
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const e of entries) {
      const sub = path.join(dir, e);
      try {
        if (statSync(sub).isDirectory()) walk(sub, depth - 1);
      } catch {
        /* gone meanwhile */
      }
    }
  };
  const root = scratchRoot(runDir);
  if (existsSync(root)) walk(root, 4);
  return found;
}

/**
 * Stops an instance with `pg_ctl stop -m fast -w` (as the postgres OS user when we are root:
 * pg_ctl refuses root). Returns an error message, or undefined once it has stopped.
 */
export function stopScratchInstance(inst: ScratchInstance): string | undefined {
  const asUser = process.getuid?.() === 0 ? lookupUser('postgres') : undefined;
  const r = spawnSync(findTool('pg_ctl') ?? 'pg_ctl', ['-D', inst.dataDir, '-m', 'fast', '-w', '-t', '60', 'stop'], {
    encoding: 'utf8',
    cwd: '/',
    uid: asUser?.uid,
    gid: asUser?.gid,
  });
  if (r.status === 0) {
    // pg_ctl -w returns once postmaster.pid is gone; the process may need a moment more to exit.
    const until = Date.now() + 10_000;
    while (processRuns(inst.pid) && Date.now() < until) spawnSync('sleep', ['0.1']);
    if (!processRuns(inst.pid)) return undefined;
  }
  return (r.stderr || r.stdout || r.error?.message || `pg_ctl exit ${r.status}`).trim().split('\n').pop();
}
