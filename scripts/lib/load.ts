// Steady load at a fixed rate (open loop), one record per request: what `make chaos` and
// `make soak` send through Nginx. Open loop on purpose: a request is sent when it is due, whether
// or not earlier ones have answered, so a stalled server shows up as timeouts and latency instead
// of silently lowering the rate (autocannon's connections wait for their answer: closed loop, the
// "coordinated omission" of load generators, which would hide a hang during a chaos event).
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { loadEnvironment } from './environments.js';
import type { Output } from './output.js';

/** What a request is for: `cached` reads are answered from a cache layer, `uncached` ones need PostgreSQL. */
export type RequestKind = 'cached' | 'uncached';

export interface LoadTarget {
  name: string;
  kind: RequestKind;
  /** Path and query of the next request (called once per request). */
  path: () => string;
}

export interface RequestRecord {
  target: string;
  kind: RequestKind;
  /** Milliseconds since the load started (performance clock) when the request was sent. */
  sentAt: number;
  /** Milliseconds until the whole answer was read (or the error). */
  latencyMs: number;
  /** HTTP status, or the error: 'timeout', 'ECONNREFUSED', 'ECONNRESET' … */
  status: number | string;
  /** The Retry-After header of the answer, when it had one. */
  retryAfter?: string;
  /** Sent a second time: the kept-alive connection was closed by the server as the request went out. */
  retriedOnClosedConnection?: boolean;
}

/** A 2xx or 304 answer: the request was served. */
export function isServed(r: Pick<RequestRecord, 'status'>): boolean {
  return typeof r.status === 'number' && ((r.status >= 200 && r.status < 300) || r.status === 304);
}

/**
 * The read mix of the chaos and soak runs, on the seeded data set (app/src/db/seed.ts: slugs
 * seed-0001 …): the cached list, now/next and one channel, and a schedule window never asked
 * before (a miss in both cache layers: a PostgreSQL read every time).
 */
export function readMix(): LoadTarget[] {
  // A different window per run and per request: never answered from a cache.
  let n = 0;
  const base = Date.UTC(2000, 0, 1) + (Date.now() % 1e11);
  return [
    { name: 'GET /v2/channels', kind: 'cached', path: () => '/v2/channels' },
    { name: 'GET /v2/now-next', kind: 'cached', path: () => '/v2/now-next' },
    { name: 'GET /v2/channels/:slug', kind: 'cached', path: () => '/v2/channels/seed-0001' },
    {
      name: 'GET /v2/channels/:slug/programmes?from=<new>',
      kind: 'uncached',
      path: () => `/v2/channels/seed-0002/programmes?from=${new Date(base + ++n * 60_000).toISOString()}`,
    },
  ];
}

export interface LoadOptions {
  /** Requests per second, over all targets (taken in turn). */
  rate: number;
  /** A request without a complete answer after this many milliseconds counts as 'timeout'. */
  timeoutMs: number;
  /** Sent with every request (Host …). */
  headers?: Record<string, string>;
}

/**
 * Sends GET requests to `baseUrl` at `rate` per second over the targets in turn until stop();
 * every answer (or error) is one RequestRecord. Keep-alive connections, like a browser or
 * Cloudflare; no limit on concurrent requests (open loop).
 */
export class ConstantRateLoad {
  readonly records: RequestRecord[] = [];
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  private readonly inFlight = new Set<Promise<void>>();
  private timer?: NodeJS.Timeout;
  private startedAt = 0;
  private sent = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly targets: LoadTarget[],
    private readonly o: LoadOptions,
  ) {
    if (!(o.rate > 0)) throw new Error(`rate must be positive (got ${o.rate})`);
    if (targets.length === 0) throw new Error('no load target');
  }

  /** Milliseconds since start() on the clock of RequestRecord.sentAt. */
  now(): number {
    return performance.now() - this.startedAt;
  }

  start(): void {
    this.startedAt = performance.now();
    // Every 10 ms: send what is due by now (a late timer catches up instead of lowering the rate).
    this.timer = setInterval(() => {
      const due = Math.floor((this.now() / 1000) * this.o.rate);
      while (this.sent < due) this.send(this.targets[this.sent++ % this.targets.length]);
    }, 10);
  }

  /** Stops sending, waits for the requests in flight (each ends by its timeout) and returns every record. */
  async stop(): Promise<RequestRecord[]> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all([...this.inFlight]);
    this.agent.destroy();
    return this.records;
  }

  private send(target: LoadTarget): void {
    const sentAt = this.now();
    const url = new URL(target.path(), this.baseUrl);
    const done = new Promise<void>((resolve) => {
      let finished = false;
      let retried = false;
      const finish = (status: number | string, retryAfter?: string): void => {
        if (finished) return;
        finished = true;
        this.records.push({
          target: target.name,
          kind: target.kind,
          sentAt,
          latencyMs: this.now() - sentAt,
          status,
          ...(retryAfter !== undefined ? { retryAfter } : {}),
          ...(retried ? { retriedOnClosedConnection: true } : {}),
        });
        resolve();
      };
      const attempt = (): void => {
        let answered = false;
        // The retry goes on a new connection (agent: false): the pool may hold more closed ones.
        const req = http.get(url, { agent: retried ? false : this.agent, headers: this.o.headers });
        req.setTimeout(Math.max(1, this.o.timeoutMs - (this.now() - sentAt)), () => {
          finish('timeout');
          req.destroy();
        });
        req.on('response', (res) => {
          answered = true;
          const retryAfter = res.headers['retry-after'];
          res.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? 'error'));
          res.on('end', () => finish(res.statusCode ?? 'error', retryAfter));
          res.resume();
        });
        req.on('error', (err: NodeJS.ErrnoException) => {
          // A kept-alive connection the server closed as the request went out (Nginx's old workers
          // close their idle connections on a reload): a GET is retried once on a new connection, as
          // RFC 9112 §9.3.1 allows and browsers and Cloudflare do (Node's `reusedSocket` docs).
          if (!answered && !retried && !finished && req.reusedSocket && err.code === 'ECONNRESET') {
            retried = true;
            attempt();
            return;
          }
          finish(err.code ?? err.message);
        });
      };
      attempt();
    });
    this.inFlight.add(done);
    void done.then(() => this.inFlight.delete(done));
  }
}

/** Figures of a set of records: counts by status, served and failed, latency percentiles (ms). */
export interface LoadSummary {
  sent: number;
  served: number;
  failed: number;
  /** Failed requests by status or error ('503', '502', 'timeout', 'ECONNRESET' …). */
  failedByStatus: Record<string, number>;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** Requests sent again on a new connection after a kept-alive one was closed under them (not failures). */
  retriedOnClosedConnection: number;
}

/** Nearest-rank percentile (q in 0–1) of unsorted values; null for none. */
export function percentile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function summarize(records: RequestRecord[]): LoadSummary {
  const failedByStatus: Record<string, number> = {};
  let served = 0;
  for (const r of records) {
    if (isServed(r)) served++;
    else failedByStatus[String(r.status)] = (failedByStatus[String(r.status)] ?? 0) + 1;
  }
  const latencies = records.map((r) => r.latencyMs);
  const round = (v: number | null): number | null => (v === null ? null : Math.round(v * 10) / 10);
  return {
    sent: records.length,
    served,
    failed: records.length - served,
    failedByStatus,
    p50Ms: round(percentile(latencies, 0.5)),
    p95Ms: round(percentile(latencies, 0.95)),
    p99Ms: round(percentile(latencies, 0.99)),
    retriedOnClosedConnection: records.filter((r) => r.retriedOnClosedConnection).length,
  };
}

/**
 * Warns when `rate` exceeds the per-client rate limit Nginx was rendered with for `environment`
 * (nginx.rateLimit.perSecond + burst in environments/<env>.yaml): the excess is answered 429.
 */
export function warnAboveRateLimit(out: Output, environment: string, rate: number): void {
  const limit = loadEnvironment(environment).nginx?.rateLimit;
  if (limit && rate > limit.perSecond) {
    out.warn(
      `${rate} requests/s is above Nginx's per-client limit for ${environment} (${limit.perSecond}/s, burst ${limit.burst}): the excess is answered 429`,
    );
  }
}
