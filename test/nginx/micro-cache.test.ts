// The Nginx micro-cache (nginx/snippets/micro-cache*.conf) in front of two real API replicas on
// PostgreSQL, Redis and s3rver, with the environment's default validity (dev: 1 s): what is
// answered from the cache, what never is, and how soon an admin write is seen through it.
// Nothing here times the machine: a "within the cache time" claim is checked only for request
// pairs the test itself saw start within that time (a slower pair is retried, not failed), and
// the invalidation bound is asserted on the data the reads return.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { runMigrations } from '../../app/src/db/migrator.js';
import { seedDatabase } from '../../app/src/db/seed.js';
import { loadEnvironment } from '../../scripts/lib/environments.js';
import type { NginxInfo } from '../../scripts/lib/services/nginx.js';
import { sleep } from '../../scripts/lib/wait.js';
import { adminToken, appEnv, eventually, spawnApp, type SpawnedApp } from '../app/support.js';
import { expectEvery } from '../support/assertions.js';
import { useServices } from '../support/services.js';

/** The app's in-process cache TTL (CACHE_LOCAL_TTL_MS), set explicitly so the bound below is known. */
const LOCAL_TTL_MS = 1000;

interface Answer {
  status: number;
  cache: string | null;
  requestId: string;
  body: string;
  /** Epoch ms when the request was sent and when its answer was complete (the test's own clock). */
  sentAt: number;
  doneAt: number;
}

let seq = 0;
async function send(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const requestId = `micro-cache-${process.pid}-${++seq}`;
  const sentAt = Date.now();
  const res = await fetch(url, { ...init, headers: { 'x-request-id': requestId, ...init.headers } });
  const body = await res.text();
  return { status: res.status, cache: res.headers.get('x-cache-status'), requestId, body, sentAt, doneAt: Date.now() };
}

describe('nginx: micro-cache of the public reads in front of two real API replicas', function () {
  this.timeout(60_000);
  const stack = useServices(['postgres', 'redis', 's3']);
  const apps: SpawnedApp[] = [];
  let edge: NginxInfo;
  /** The cache validity Nginx was rendered with (environments/dev.yaml, nginx.microCache.validSeconds). */
  const validMs = loadEnvironment('dev').nginx!.microCache.validSeconds * 1000;
  // Signed when used: a token made while mocha loads the files would expire (600 s) before a long
  // suite reaches this one.
  const admin = (): Record<string, string> => ({
    authorization: `Bearer ${adminToken()}`,
    'content-type': 'application/json',
  });

  const reachedReplica = (requestId: string) =>
    apps.some((a) => a.logs().some((l) => l.request_id === requestId && l.log_type === 'access'));
  const edgeLine = (requestId: string): Record<string, unknown> | undefined =>
    readFileSync(edge.accessLog, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((e) => e.request_id === requestId);

  /**
   * Two identical requests, the second sent within the cache validity of the first's answer (by
   * the test's clock); retried on a new URL when the machine was slower than that.
   */
  async function pairWithinValidity(
    makeUrl: (attempt: number) => string,
    first: Parameters<typeof send>[1],
    second: Parameters<typeof send>[1],
  ): Promise<[Answer, Answer, string]> {
    for (let attempt = 1; attempt <= 5; attempt++) {
      const url = makeUrl(attempt);
      const a = await send(url, first);
      const b = await send(url, second);
      if (b.sentAt - a.doneAt < validMs / 2) return [a, b, url];
    }
    throw new Error('five request pairs in a row were further apart than half the cache validity: machine too busy');
  }

  before(async function () {
    this.timeout(120_000);
    const env = appEnv(stack(), { CACHE_LOCAL_TTL_MS: String(LOCAL_TTL_MS) });
    await runMigrations(env.DATABASE_URL);
    await seedDatabase(env.DATABASE_URL, { channels: 5, anchor: new Date(), hoursBefore: 2, hoursAfter: 2 });
    for (let i = 0; i < 2; i++) apps.push(await spawnApp(env));
    edge = (await stack().start('nginx', {
      options: {
        environment: 'dev',
        upstreams: apps.map((a) => `127.0.0.1:${a.port}`),
        // The polling below must not meet the per-IP limit; admin writes are few.
        rateLimit: { perSecond: 1000, burst: 1000 },
      },
    })) as NginxInfo;
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all(apps.map((a) => a.stop()));
  });

  it('answers a second identical anonymous GET from the cache (HIT in the header and the access log), not from a replica', async () => {
    const [first, second] = await pairWithinValidity((n) => `${edge.url}/v2/channels?limit=${10 + n}`, {}, {});
    expect([first.status, second.status]).to.deep.equal([200, 200]);
    expect(first.cache).to.equal('MISS');
    expect(second.cache).to.equal('HIT');
    expect(second.body).to.equal(first.body);
    await eventually(() => reachedReplica(first.requestId) && edgeLine(second.requestId) !== undefined, 10_000);
    expect(reachedReplica(second.requestId), 'the HIT never reached a replica').to.equal(false);
    expect(edgeLine(first.requestId)).to.include({ upstream_cache_status: 'MISS', upstream_status: '200' });
    expect(edgeLine(second.requestId)).to.include({ upstream_cache_status: 'HIT', status: 200 });
    // The query string is part of the key: another query is not this entry.
    const other = await send(`${edge.url}/v2/channels?limit=3`);
    expect(other.cache).to.equal('MISS');
  });

  it('never answers a request with Authorization or a cookie from the cache, and never stores its answer', async () => {
    // An entry is in the cache (the anonymous pair HITs) …
    const [, cached, url] = await pairWithinValidity((n) => `${edge.url}/v2/channels?limit=${20 + n}`, {}, {});
    expect(cached.cache).to.equal('HIT');
    // … yet credentials go past it to a replica.
    const credentials: Record<string, string>[] = [{ authorization: admin().authorization }, { cookie: 'session=abc' }];
    for (const headers of credentials) {
      const r = await send(url, { headers });
      expect(r.status).to.equal(200);
      expect(r.cache, `with ${Object.keys(headers).join(', ')}`).to.equal('BYPASS');
      await eventually(() => reachedReplica(r.requestId), 10_000);
    }
    // An authenticated answer is not stored: the anonymous request right after it is a MISS.
    const [authed, anonymous] = await pairWithinValidity(
      (n) => `${edge.url}/v2/channels?limit=${30 + n}`,
      { headers: { authorization: admin().authorization } },
      {},
    );
    expect(authed.cache).to.equal('BYPASS');
    expect(anonymous.cache, 'the authenticated answer was not stored').to.equal('MISS');
    await eventually(() => reachedReplica(anonymous.requestId), 10_000);
  });

  it('never caches a POST or a PATCH: each one reaches a replica', async () => {
    const patch = () =>
      send(`${edge.url}/v2/admin/channels/seed-0003`, {
        method: 'PATCH',
        headers: admin(),
        body: JSON.stringify({ category: 'news' }),
      });
    const post = () => send(`${edge.url}/v2/channels`, { method: 'POST', body: '{}' });
    const answers = [await patch(), await patch(), await post(), await post()];
    expect(answers.map((a) => a.status).slice(0, 2)).to.deep.equal([200, 200]);
    for (const a of answers) {
      expect(a.cache, `${a.requestId}: the cache is not used`).to.not.be.oneOf(['HIT', 'STALE', 'UPDATING']);
      await eventually(() => reachedReplica(a.requestId), 10_000);
    }
  });

  it('shows an admin write to anonymous readers within micro-cache validity + the app local TTL (+ 1 s for one refresh)', async () => {
    const url = `${edge.url}/v2/channels/seed-0004`;
    const nameOf = (a: Answer) => (JSON.parse(a.body) as { data: { name: string } }).data.name;
    // The old answer is in Nginx's cache right before the write.
    const [, primed] = await pairWithinValidity(() => url, {}, {});
    expect(primed.cache).to.equal('HIT');
    const newName = `Renamed ${Date.now()}`;
    const write = await send(url.replace('/v2/', '/v2/admin/'), {
      method: 'PATCH',
      headers: admin(),
      body: JSON.stringify({ name: newName }),
    });
    expect(write.status, write.body).to.equal(200);
    // The documented bound (nginx/README.md): validity of the micro-cache + the other replica's
    // in-process layer + one refresh. Were Nginx to keep the API's s-maxage (10 s) + stale-while-
    // revalidate (20 s), the old name would still be served after it and this test would fail.
    const boundMs = validMs + LOCAL_TTL_MS + 1000;
    const reads: Answer[] = [];
    const deadline = write.doneAt + boundMs + 2000;
    while (Date.now() < deadline) {
      reads.push(await send(url));
      await sleep(100);
    }
    expectEvery(reads, (r) => r.status === 200, 'reads after the write answered 200');
    const lateOld = reads.filter((r) => r.sentAt > write.doneAt + boundMs && nameOf(r) !== newName);
    expect(
      lateOld.map((r) => `${r.sentAt - write.doneAt} ms after the write: ${nameOf(r)} (${r.cache})`),
      'reads sent after the bound still showed the old data',
    ).to.deep.equal([]);
    expect(
      reads.filter((r) => r.sentAt > write.doneAt + boundMs),
      'some reads were sent after the bound',
    ).to.not.be.empty;
  });
});
