import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifyServerFactory,
  FastifyServerOptions,
} from 'fastify';
import fresh from 'fresh';
import type { CacheLookup } from '../cache/cache.service.js';
import { UNMATCHED_ROUTE } from '../metrics/metrics.js';
import type { Lifecycle } from '../shutdown/lifecycle.js';
import { accessLineConstants, type AccessLineConstants } from '../logging/logger.js';
import { type DurationLabels, requestIdFrom, type RequestObserver } from './hooks.js';

/**
 * HTTP caching of the public read endpoints: strong ETags, If-None-Match → 304, per-endpoint
 * Cache-Control for the layers in front (Cloudflare, Nginx), and the replica's fast path that
 * answers a repeated cached read from pre-serialised bytes in the HTTP server's request listener,
 * before Fastify and Nest's pipeline (hooks, routing, pipes, interceptors, handler) run at all.
 */

/**
 * Cache-Control for shared caches (RFC 9111 §5.2.2.10 s-maxage, RFC 5861 stale-while-revalidate).
 * Browsers get max-age=0 and revalidate with If-None-Match (a 304 without a body). The documented
 * staleness bound of a write seen through a shared cache is sMaxAge + staleWhileRevalidate seconds.
 */
export interface CachePolicy {
  /** Seconds a shared cache (Cloudflare, Nginx) may answer without asking the origin. */
  sMaxAge: number;
  /** Seconds a shared cache may still serve a stale copy while it revalidates in the background. */
  staleWhileRevalidate: number;
}

export const CACHE_POLICIES = {
  /** Channel list and channel: change only on admin writes. */
  channels: { sMaxAge: 10, staleWhileRevalidate: 20 },
  /** A channel's schedule: changes on EPG imports. */
  schedule: { sMaxAge: 10, staleWhileRevalidate: 20 },
  /** Now/next: also changes at every programme boundary; never cached past the next one. */
  nowNext: { sMaxAge: 5, staleWhileRevalidate: 5 },
} as const satisfies Record<string, CachePolicy>;

/** The header value for a policy; `validUntil` (epoch ms) caps s-maxage and forbids staleness past it. */
export function cacheControl(policy: CachePolicy, validUntil?: number, now = Date.now()): string {
  if (validUntil === undefined) {
    return `public, max-age=0, s-maxage=${policy.sMaxAge}, stale-while-revalidate=${policy.staleWhileRevalidate}`;
  }
  const left = Math.floor((validUntil - now) / 1000);
  if (left <= 0) return 'public, max-age=0, s-maxage=0, must-revalidate';
  return `public, max-age=0, s-maxage=${Math.min(policy.sMaxAge, left)}, stale-while-revalidate=${Math.min(policy.staleWhileRevalidate, Math.max(0, left - policy.sMaxAge))}`;
}

/** A strong validator (RFC 9110 §8.8.3): the base64url SHA-1 of the exact body bytes, quoted. */
export function strongEtag(body: Buffer): string {
  return `"${createHash('sha1').update(body).digest('base64url')}"`;
}

/** A cached answer ready to be written as is: body bytes, validator and caching headers. */
export interface PreparedReply {
  body: Buffer;
  etag: string;
  policy: CachePolicy;
  validUntil?: number;
  /** Epoch ms after which the fast path must not use it (the cache's local expiry). */
  expires: number;
  /** The route template it answers (`/v2/channels/:slug`): the metrics label and the log's `route`. */
  route: string;
}

const CONTENT_TYPE = 'application/json; charset=utf-8';
/** Requests answered with 304 Not Modified (RFC 9110 §15.4.5: no body). */
const notModified = new WeakSet<FastifyRequest>();

function write(request: FastifyRequest, reply: FastifyReply, prepared: PreparedReply, hit: boolean): Buffer | string {
  void reply
    .header('content-type', CONTENT_TYPE)
    .header('x-content-type-options', 'nosniff')
    .header('x-cache', hit ? 'hit' : 'miss')
    .header('etag', prepared.etag)
    .header('cache-control', cacheControl(prepared.policy, prepared.validUntil));
  const inm = request.headers['if-none-match'];
  // Only If-None-Match is passed: fresh() treats a request's `Cache-Control: no-cache` as a forced
  // reload, but that directive is for caches; the origin evaluates the condition (RFC 9110 §13.2.1).
  // fetch() adds it to every conditional request.
  if (inm !== undefined && fresh({ 'if-none-match': inm }, { etag: prepared.etag })) {
    // The status is set in onSend: Nest sets the route's status (200) after the handler returns.
    notModified.add(request);
    return '';
  }
  return prepared.body;
}

/**
 * Sends a cached (or freshly built) JSON body with its ETag and Cache-Control, or a 304 when the
 * client's If-None-Match matches; remembers the prepared answer for the fast path when the cache
 * says it may (lookup.keep).
 */
export function sendCached(reply: FastifyReply, lookup: CacheLookup, policy: CachePolicy): Buffer | string {
  const body = Buffer.from(lookup.body);
  const prepared: PreparedReply = {
    body,
    etag: strongEtag(body),
    policy,
    validUntil: lookup.validUntil,
    expires: lookup.keepUntil ?? 0,
    // Never the raw URL: it would become a metrics label (unbounded series).
    route: reply.request.routeOptions.url ?? UNMATCHED_ROUTE,
  };
  if (lookup.keep && reply.request.method === 'GET') lookup.keep(reply.request.url, prepared);
  return write(reply.request, reply, prepared, lookup.hit);
}

/** Prepared answers of one replica by raw request URL, grouped by cache family for invalidation. */
export interface PreparedReplies {
  /** The unexpired prepared answer for a raw URL (counted as a cache hit), or undefined. */
  get(url: string): PreparedReply | undefined;
}

/**
 * The 304 of the Nest path: Nest sets the route's status (200) after a passthrough handler
 * returns, so the status of a matched If-None-Match is set in onSend.
 */
export function installNotModifiedHook(fastify: FastifyInstance): void {
  fastify.addHook('onSend', (request, reply, payload, done) => {
    if (!notModified.has(request)) return done(null, payload);
    void reply.code(304);
    done(null, '');
  });
}

/**
 * The fast path, in front of Fastify: a GET whose exact raw URL has a prepared, unexpired answer
 * is answered by the HTTP server's request listener itself, with one `writeHead` of a header list
 * and the prepared bytes. Fastify (routing, request/reply objects, its hooks and Nest's) is not
 * entered; what an operator relies on is kept: X-Request-Id, the duration histogram with the route
 * template the answer was prepared under, the access line (RequestObserver), `nosniff`, the
 * ETag/304 and `Connection: close` while draining. The in-flight gauge is not touched: the whole
 * answer is synchronous, so no scrape could see it in flight. Everything else goes to Fastify.
 */
export class CachedReplyFastPath {
  /** Requests answered here since the start (the tests tell the two paths apart with it). */
  answered = 0;
  private store: PreparedReplies | undefined;
  /** Per prepared answer, what every answer from it repeats (made at its first use). */
  private readonly repeated = new WeakMap<PreparedReply, Repeated>();

  constructor(
    private readonly observer: RequestObserver,
    private readonly lifecycle: Lifecycle,
  ) {}

  /** Starts answering from `store` (the cache service's prepared answers, once Nest made it). */
  use(store: PreparedReplies): void {
    this.store = store;
  }

  /** Answers `req` when it can and returns true; false leaves `req` and `res` untouched. */
  answer(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.store === undefined || req.method !== 'GET' || req.url === undefined) return false;
    const started = performance.now();
    const url = req.url;
    const prepared = this.store.get(url);
    if (prepared === undefined) return false;
    let repeated = this.repeated.get(prepared);
    if (repeated === undefined) {
      const q = url.indexOf('?');
      repeated = {
        left: NaN,
        cacheControl: '',
        contentLength: String(prepared.body.length),
        access: accessLineConstants('GET', prepared.route, q === -1 ? url : url.slice(0, q)),
        ok: this.observer.durationLabels('GET', prepared.route, 200),
        notModified: this.observer.durationLabels('GET', prepared.route, 304),
      };
      this.repeated.set(prepared, repeated);
    }
    const requestId = requestIdFrom(req);
    const inm = req.headers['if-none-match'];
    // Only If-None-Match is passed to fresh(): see write().
    const status = inm !== undefined && fresh({ 'if-none-match': inm }, { etag: prepared.etag }) ? 304 : 200;
    const headers = [
      'content-type',
      CONTENT_TYPE,
      'x-content-type-options',
      'nosniff',
      'x-cache',
      'hit',
      'etag',
      prepared.etag,
      'cache-control',
      this.cacheControl(prepared, repeated),
      'x-request-id',
      requestId,
    ];
    // None on a 304, as Fastify sends none (RFC 9110 §8.6 would allow only the 200's length there).
    if (status === 200) headers.push('content-length', repeated.contentLength);
    // A response sent while draining closes its connection, so keep-alive clients move elsewhere.
    if (this.lifecycle.draining) headers.push('connection', 'close');
    res.writeHead(status, headers);
    res.end(status === 200 ? prepared.body : undefined);
    this.answered++;
    this.observer.record({
      requestId,
      method: 'GET',
      route: prepared.route,
      url,
      status,
      seconds: (performance.now() - started) / 1000,
      req,
      known: { labels: status === 200 ? repeated.ok : repeated.notModified, access: repeated.access },
    });
    return true;
  }

  /** The Cache-Control of `prepared`, computed again only when its seconds left change. */
  private cacheControl(prepared: PreparedReply, repeated: Repeated): string {
    const now = Date.now();
    const left = prepared.validUntil === undefined ? Infinity : Math.floor((prepared.validUntil - now) / 1000);
    if (repeated.left !== left) {
      repeated.left = left;
      repeated.cacheControl = cacheControl(prepared.policy, prepared.validUntil, now);
    }
    return repeated.cacheControl;
  }
}

/** What every fast-path answer from one prepared answer repeats. */
interface Repeated {
  /** Whole seconds left until validUntil (Infinity without one) that cacheControl was made for. */
  left: number;
  cacheControl: string;
  contentLength: string;
  access: AccessLineConstants;
  ok: DurationLabels;
  notModified: DurationLabels;
}

/**
 * Fastify's `serverFactory`: the HTTP/1.1 server Fastify would make (same timeouts, as in
 * fastify/lib/server.js), whose requests meet the fast path first. A failure of the fast path
 * before anything was sent hands the request to Fastify.
 */
export function fastPathServerFactory(fastPath: CachedReplyFastPath): FastifyServerFactory {
  return (handler, options: FastifyServerOptions) => {
    const server = createServer((req, res) => {
      try {
        if (fastPath.answer(req, res)) return;
      } catch (err) {
        if (res.headersSent) throw err;
      }
      handler(req, res);
    });
    if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout;
    if (options.requestTimeout !== undefined) server.requestTimeout = options.requestTimeout;
    if (options.connectionTimeout !== undefined) server.setTimeout(options.connectionTimeout);
    if (options.maxRequestsPerSocket) server.maxRequestsPerSocket = options.maxRequestsPerSocket;
    return server;
  };
}
