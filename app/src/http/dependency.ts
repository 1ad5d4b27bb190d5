import type { AppLogger } from '../logging/logger.js';

/**
 * A dependency that is down is not a bug in the app: requests that cannot be answered without it
 * get 503 with Retry-After and a code naming it (`postgres_unavailable`, `r2_unavailable`…),
 * counted per request in `app_dependency_unavailable_total{dependency}` (http/hooks.ts) and logged
 * once per burst.
 */

export type Dependency = 'postgres' | 'redis' | 'r2';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when the request is answered 503 for this dependency (counted once per request). */
    unavailableDependency?: Dependency;
  }
}

/** Seconds a client is told to wait (Retry-After, RFC 9110 §10.2.3). */
export const RETRY_AFTER_SECONDS = 5;
/** A burst ends after this long without a failure of the same dependency; the next one logs again. */
const BURST_QUIET_MS = 30_000;

export class DependencyUnavailable extends Error {
  constructor(
    readonly dependency: Dependency,
    readonly reason: string,
  ) {
    super(`${dependency} is unavailable, retry later`);
    this.name = 'DependencyUnavailable';
  }
}

/** Node/libpq/S3-SDK error codes of a dependency that cannot be reached or is not accepting work. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ENOENT', // a Unix socket path without a server behind it
]);

/**
 * True when `error` says the dependency is unreachable or refusing work, as opposed to a bad query.
 * PostgreSQL SQLSTATE classes (PostgreSQL docs, Appendix A): 08 connection exception, 53 insufficient
 * resources, 57P01–57P03 admin shutdown / crash shutdown / cannot connect now; node-postgres raises
 * "Connection terminated…" and "timeout exceeded when trying to connect" without a code; a client-side
 * query_timeout says "Query read timeout".
 */
export function isPostgresUnavailable(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  if (typeof e !== 'object' || e === null) return false;
  const code = typeof e.code === 'string' ? e.code : '';
  if (NETWORK_CODES.has(code) || /^08|^53|^57P0[123]$/.test(code)) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error/i.test(
    message,
  );
}

/** True for an S3/R2 call that failed on the network or with a 5xx/429 from the service. */
export function isStorageUnavailable(error: unknown): boolean {
  const e = error as { code?: unknown; name?: unknown; $metadata?: { httpStatusCode?: number } } | null;
  if (typeof e !== 'object' || e === null) return false;
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number') return status >= 500 || status === 429;
  return (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) || e.name === 'TimeoutError';
}

/** Logs the first failure of each burst per dependency (with how many the previous burst had). */
export class OutageReporter {
  private readonly bursts = new Map<Dependency, { last: number; count: number }>();

  constructor(
    private readonly logger: AppLogger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records one failed call to `dependency`; returns the error to throw (answered 503 by the filter). */
  unavailable(dependency: Dependency, cause: unknown): DependencyUnavailable {
    const reason = cause instanceof Error ? cause.message || cause.name : String(cause);
    const t = this.now();
    const burst = this.bursts.get(dependency);
    if (burst && t - burst.last < BURST_QUIET_MS) {
      burst.last = t;
      burst.count += 1;
    } else {
      this.logger.warn('dependency unavailable', {
        log_type: 'app',
        dependency,
        error: reason,
        ...(burst ? { previous_burst_failures: burst.count } : {}),
      });
      this.bursts.set(dependency, { last: t, count: 1 });
    }
    return new DependencyUnavailable(dependency, reason);
  }
}
