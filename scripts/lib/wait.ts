// Waiting: the one sleep, the one polling loop, and the one "wait until this URL answers", for
// scripts and tests alike. Polls for state; never a fixed pause where a condition can be checked.
import { setTimeout as delay } from 'node:timers/promises';

/** Resolves after `ms` milliseconds. */
export async function sleep(ms: number): Promise<void> {
  await delay(ms);
}

export interface WaitOptions {
  /** How long to keep trying, in milliseconds; the check runs at least once even with 0. */
  timeoutMs: number;
  /** Pause between two checks, in milliseconds (default 100). */
  intervalMs?: number;
  /** Stops waiting at once when it returns true (the process being waited for has exited …). */
  giveUpIf?: () => boolean;
}

/**
 * Calls `check` until it returns a value other than `undefined` or `false`, and returns that value;
 * returns `undefined` when `timeoutMs` has passed (or `giveUpIf` said so) without one. An
 * exception from `check` ends the wait and propagates. The caller words the error: it knows what
 * was awaited.
 */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  o: WaitOptions,
): Promise<Exclude<T, false> | undefined> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    if (o.giveUpIf?.()) return undefined;
    const value = await check();
    if (value !== undefined && value !== false) return value as Exclude<T, false>;
    if (Date.now() >= deadline) return undefined;
    await sleep(o.intervalMs ?? 100);
  }
}

export interface WaitForUrlOptions extends WaitOptions {
  /** Whether an answer counts (default: a 2xx status). */
  accept?: (response: Response) => boolean;
  /** Limit of one request, in milliseconds (default 5000). */
  requestTimeoutMs?: number;
  /** Request headers (Host, Authorization …). */
  headers?: Record<string, string>;
}

/**
 * Polls `url` with GET until it answers acceptably; returns that response (body unread), or
 * `undefined` on timeout. Connection errors count as "not yet".
 */
export async function waitForUrl(url: string | URL, o: WaitForUrlOptions): Promise<Response | undefined> {
  const accept = o.accept ?? ((r: Response) => r.ok);
  return waitFor(async () => {
    try {
      const response = await fetch(url, {
        headers: o.headers,
        signal: AbortSignal.timeout(o.requestTimeoutMs ?? 5000),
      });
      if (accept(response)) return response;
      await response.body?.cancel();
      return undefined;
    } catch {
      return undefined;
    }
  }, o);
}
