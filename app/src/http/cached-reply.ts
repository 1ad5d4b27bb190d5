import type { FastifyReply } from 'fastify';
import type { CacheLookup } from '../cache/cache.service.js';

/** Sends a cached (or freshly built) JSON body as is, saying whether it came from the cache (X-Cache). */
export function sendCached(reply: FastifyReply, lookup: CacheLookup): string {
  void reply.header('content-type', 'application/json; charset=utf-8');
  void reply.header('x-cache', lookup.hit ? 'hit' : 'miss');
  return lookup.body;
}
