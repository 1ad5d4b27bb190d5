// Processes the service runner starts: spawned in their own process group with output to a log
// file, tracked by a PID file that records the kernel start time so a PID reused by an unrelated
// process after a crash is never signalled.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { toolEnvPath } from '../tools.js';
import { waitFor } from '../wait.js';

const execFileAsync = promisify(execFile);

export interface Identity {
  uid: number;
  gid: number;
  user: string;
}

export interface PidRecord {
  pid: number;
  /** Start time in clock ticks since boot (field 22 of /proc/PID/stat). */
  startTime: number;
  command: string;
  name: string;
}

/** Start time of a live process, or undefined when there is none. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

/** True when `pid` is a zombie (exited, not yet reaped by its parent), or gone. */
export function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** True when the PID file's process is still the one we started. */
export function isSameProcessAlive(rec: PidRecord): boolean {
  const start = processStartTime(rec.pid);
  return start !== undefined && start === rec.startTime && !isZombie(rec.pid);
}

export function readPidFile(file: string): PidRecord | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const rec = JSON.parse(readFileSync(file, 'utf8')) as PidRecord;
    return Number.isInteger(rec.pid) && Number.isFinite(rec.startTime) ? rec : undefined;
  } catch {
    return undefined;
  }
}

export function writePidFile(file: string, rec: PidRecord): void {
  writeFileSync(file, JSON.stringify(rec) + '\n');
}

/** Looks up a system user (root is refused by PostgreSQL, so servers that need it run as one). */
export function lookupUser(name: string): Identity | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name) return { user: name, uid: Number(f[2]), gid: Number(f[3]) };
    }
  } catch {
    /* no passwd file: no such user */
  }
  return undefined;
}

export interface SpawnSpec {
  bin: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  logFile: string;
  runAs?: Identity;
}

export function spawnService(spec: SpawnSpec): ChildProcess {
  const fd = openSync(spec.logFile, 'a');
  try {
    const child = spawn(spec.bin, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, PATH: toolEnvPath(), ...spec.env },
      stdio: ['ignore', fd, fd],
      detached: true, // own process group: stopping it stops its children too
      uid: spec.runAs?.uid,
      gid: spec.runAs?.gid,
    });
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

/** Runs a one-shot command (initdb, psql …) to completion, optionally as another user. */
export async function runOnce(
  bin: string,
  args: string[],
  o: { env?: Record<string, string>; runAs?: Identity; cwd?: string; timeoutMs?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileAsync(bin, args, {
      env: { ...process.env, PATH: toolEnvPath(), ...o.env },
      uid: o.runAs?.uid,
      gid: o.runAs?.gid,
      cwd: o.cwd,
      timeout: o.timeoutMs ?? 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    const detail = (e.stderr || e.stdout || e.message).trim().split('\n').slice(-3).join(' | ');
    throw new Error(`${bin} ${args[0] ?? ''} failed: ${detail}`, { cause: err });
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Stops a tracked process: `signal` to its group, then SIGKILL after `graceMs`.
 * Returns 'stopped', 'not-running' (stale PID file: nothing signalled) or 'killed'.
 */
export async function stopProcess(
  rec: PidRecord,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 10_000,
): Promise<'stopped' | 'not-running' | 'killed'> {
  if (!isSameProcessAlive(rec)) return 'not-running';
  signalGroup(rec.pid, signal);
  const gone = () => !isSameProcessAlive(rec);
  if (await waitFor(gone, { timeoutMs: graceMs, intervalMs: 50 })) return 'stopped';
  signalGroup(rec.pid, 'SIGKILL');
  // SIGKILL cannot be ignored: the kernel removes the process; wait for that without a limit.
  await waitFor(gone, { timeoutMs: Infinity, intervalMs: 20 });
  return 'killed';
}

/** Synchronous last resort for process exit: no awaiting is possible there. */
export function killNow(rec: PidRecord): void {
  if (isSameProcessAlive(rec)) signalGroup(rec.pid, 'SIGKILL');
}

/**
 * PIDs whose parent is `pid` (Linux /proc/<n>/stat, field 4: ppid; proc(5)). [] when none or when
 * /proc cannot be read.
 */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // "pid (comm) state ppid …": comm may contain spaces and parentheses; fields follow the last ')'.
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(e));
    } catch {
      // the process exited while we looked
    }
  }
  return children;
}

export function removeFile(file: string): void {
  rmSync(file, { force: true });
}

export function tailFile(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
