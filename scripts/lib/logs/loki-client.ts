// Loki's HTTP query API as make logs uses it: GET /loki/api/v1/query_range, paged past the server's
// per-query limit, with the tenant header (X-Scope-OrgID) and credentials from the environment,
// retries with backoff on 429 and 5xx, and Loki's own message on a 400. Protocol:
// https://grafana.com/docs/loki/latest/reference/loki-http-api/#query-logs-within-a-range-of-time
import { UserError } from '../errors.js';
import { sleep } from '../wait.js';

export interface LokiEntry {
  /** Nanoseconds since the epoch, as Loki returns it (a decimal string; too big for a double). */
  ns: bigint;
  line: string;
  labels: Record<string, string>;
}

export interface LokiClientOptions {
  /** Base URL, e.g. https://loki.example.net (no trailing /loki/api/...). */
  url: string;
  tenant?: string;
  /** Basic auth (Grafana Cloud, an authenticating proxy) or a bearer token. */
  username?: string;
  password?: string;
  token?: string;
  /** Attempts per request for 429/5xx/network errors (default 5). */
  attempts?: number;
  /** First backoff in ms, doubled each retry (default 500); Retry-After wins when Loki sends it. */
  backoffMs?: number;
  /** Entries per request (default 1000); Loki's max_entries_limit_per_query caps it server-side. */
  pageSize?: number;
  fetch?: typeof fetch;
  onRetry?: (attempt: number, why: string, waitMs: number) => void;
}

interface StreamsResponse {
  status: string;
  data?: { resultType: string; result: { stream: Record<string, string>; values: [string, string][] }[] };
  error?: string;
}

const msToNs = (ms: number): bigint => BigInt(Math.round(ms)) * 1_000_000n;

export class LokiClient {
  private readonly fetchImpl: typeof fetch;
  constructor(private readonly o: LokiClientOptions) {
    this.fetchImpl = o.fetch ?? fetch;
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json' };
    if (this.o.tenant) h['X-Scope-OrgID'] = this.o.tenant;
    if (this.o.token) h.authorization = `Bearer ${this.o.token}`;
    else if (this.o.username || this.o.password)
      h.authorization = `Basic ${Buffer.from(`${this.o.username ?? ''}:${this.o.password ?? ''}`).toString('base64')}`;
    return h;
  }

  /** One GET with retries; returns the parsed JSON of a 200. Throws UserError on 4xx and on exhausted retries. */
  async get(pathname: string, params: Record<string, string>): Promise<StreamsResponse> {
    const url = new URL(pathname, this.o.url.endsWith('/') ? this.o.url : `${this.o.url}/`);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const attempts = this.o.attempts ?? 5;
    let last = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let retryAfterMs: number | undefined;
      try {
        const res = await this.fetchImpl(url, { headers: this.headers(), signal: AbortSignal.timeout(30_000) });
        const body = await res.text();
        if (res.ok) {
          const parsed = JSON.parse(body) as StreamsResponse;
          if (parsed.status !== 'success')
            throw new UserError(`Loki answered status ${parsed.status}: ${parsed.error ?? body.slice(0, 200)}`);
          return parsed;
        }
        const message = body.trim().split('\n')[0].slice(0, 300);
        if (res.status === 400) {
          throw new UserError(`Loki refused the query (400): ${message}`, {
            hint: 'check the options (make logs ARGS=--print-query shows the LogQL sent)',
          });
        }
        if (res.status === 401 || res.status === 403) {
          throw new UserError(`Loki refused the credentials (${res.status}): ${message}`, {
            hint: 'set LOKI_USERNAME/LOKI_PASSWORD or LOKI_TOKEN (and the tenant) in .env.<env>',
          });
        }
        if (res.status !== 429 && res.status < 500) throw new UserError(`Loki answered ${res.status}: ${message}`);
        last = `${res.status} ${message}`;
        const ra = res.headers.get('retry-after');
        if (ra && /^\d+$/.test(ra)) retryAfterMs = Number(ra) * 1000;
      } catch (err) {
        if (err instanceof UserError) throw err;
        if (err instanceof SyntaxError) throw new UserError(`Loki's answer is not JSON: ${err.message}`);
        last = (err as Error).message;
      }
      if (attempt === attempts) break;
      const wait = retryAfterMs ?? (this.o.backoffMs ?? 500) * 2 ** (attempt - 1);
      this.o.onRetry?.(attempt, last, wait);
      await sleep(wait);
    }
    throw new UserError(`Loki did not answer after ${attempts} attempts: ${last}`, {
      hint: `check ${this.o.url} (is Loki up? make logs retries 429 and 5xx with backoff)`,
    });
  }

  /**
   * The newest `limit` entries of `logql` in [fromMs, toMs], oldest first, across every stream.
   * Loki returns at most `limit` entries per request (and caps it by max_entries_limit_per_query),
   * so this asks page after page, direction=backward, moving `end` to the oldest entry seen; entries
   * sharing that nanosecond are de-duplicated by stream and line.
   */
  async queryRange(logql: string, fromMs: number, toMs: number, limit: number): Promise<LokiEntry[]> {
    const pageSize = Math.min(this.o.pageSize ?? 1000, limit);
    const start = msToNs(fromMs);
    let end = msToNs(toMs) + 1n;
    const out: LokiEntry[] = [];
    const seen = new Set<string>();
    while (out.length < limit) {
      const asked = Math.min(pageSize, limit - out.length + 1); // +1: the boundary entry comes back
      const page = await this.page(logql, start, end, asked, 'backward');
      const fresh = page.filter((e) => {
        const key = `${e.ns}\u0000${JSON.stringify(e.labels)}\u0000${e.line}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
      out.push(...fresh);
      if (page.length < asked || fresh.length === 0) break;
      const oldest = page.reduce((min, e) => (e.ns < min ? e.ns : min), page[0].ns);
      end = oldest + 1n;
    }
    return sortByTime(out).slice(-limit);
  }

  /** Entries after `afterNs` (exclusive), oldest first: one poll of FOLLOW=1. */
  async since(logql: string, afterNs: bigint, limit: number): Promise<LokiEntry[]> {
    const entries = await this.page(logql, afterNs + 1n, msToNs(Date.now()) + 1n, limit, 'forward');
    return sortByTime(entries);
  }

  private async page(
    logql: string,
    start: bigint,
    end: bigint,
    limit: number,
    direction: 'forward' | 'backward',
  ): Promise<LokiEntry[]> {
    const r = await this.get('loki/api/v1/query_range', {
      query: logql,
      start: start.toString(),
      end: end.toString(),
      limit: String(limit),
      direction,
    });
    if (r.data?.resultType !== 'streams') {
      throw new UserError(`Loki answered a ${r.data?.resultType ?? 'missing'} result, expected streams`);
    }
    return r.data.result.flatMap((s) => s.values.map(([ns, line]) => ({ ns: BigInt(ns), line, labels: s.stream })));
  }
}

function sortByTime(entries: LokiEntry[]): LokiEntry[] {
  return entries.sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
}
