import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fresh from 'fresh';
import type { CacheLookup } from '../cache/cache.service.js';

/**
 * HTTP caching of the public read endpoints: strong ETags, If-None-Match → 304, per-endpoint
 * Cache-Control for the layers in front (Cloudflare, Nginx), and the replica's fast path that
 * answers a repeated cached read from pre-serialised bytes in the onRequest hook, before Nest's
 * pipeline (pipes, interceptors, handler) runs at all.
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
 * The fast path: a GET whose exact URL has a prepared, unexpired answer is answered in onRequest
 * (the route is already matched there, so metrics and the access log keep the route template;
 * onSend and onResponse hooks still run). Everything else goes through Nest as usual.
 * Returns `use(store)`, to be called once the cache service exists.
 */
export function installCachedReplyFastPath(fastify: FastifyInstance): { use(store: PreparedReplies): void } {
  let store: PreparedReplies | undefined;
  fastify.addHook('onRequest', (request, reply, done) => {
    if (store === undefined || request.method !== 'GET') return done();
    const prepared = store.get(request.url);
    if (prepared === undefined) return done();
    void reply.send(write(request, reply, prepared, true));
  });
  fastify.addHook('onSend', (request, reply, payload, done) => {
    if (!notModified.has(request)) return done(null, payload);
    void reply.code(304);
    done(null, '');
  });
  return { use: (s) => void (store = s) };
}
