// HTTP caching of the read endpoints on two in-process replicas sharing real PostgreSQL and Redis:
// strong ETags and If-None-Match → 304, Cache-Control per endpoint, the fast path (a repeated
// cached read answered before Nest) keeping request id, access log and metrics, and an admin
// write on one replica seen by the other within the documented bound.
import { Writable } from 'node:stream';
import { expect } from 'chai';
import { createApp, type RunningApp } from '../../app/src/bootstrap.js';
import { validateConfig } from '../../app/src/config/config.js';
import { runMigrations } from '../../app/src/db/migrator.js';
import { seedDatabase } from '../../app/src/db/seed.js';
import { CACHE_POLICIES, cacheControl } from '../../app/src/http/cached-reply.js';
import { useServices } from '../support/services.js';
import { adminToken, appEnv, eventually } from './support.js';

describe('app: HTTP caching of reads (ETag, 304, Cache-Control, fast path, invalidation)', function () {
  const stack = useServices(['postgres', 'redis', 's3']);
  const replicas: { app: RunningApp; base: string; log: string[] }[] = [];

  before(async function () {
    this.timeout(90_000);
    // A local TTL long enough that only invalidation (not expiry) can make a replica see a write.
    const env = appEnv(stack(), { CACHE_LOCAL_TTL_MS: '60000' });
    await runMigrations(env.DATABASE_URL);
    await seedDatabase(env.DATABASE_URL, { channels: 6 });
    const parsed = validateConfig(env);
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    for (let i = 0; i < 2; i++) {
      const log: string[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _enc, cb) {
          log.push(...chunk.toString('utf8').split('\n').filter(Boolean));
          cb();
        },
      });
      const app = await createApp(parsed.config, { logStream: sink });
      replicas.push({ app, base: `http://127.0.0.1:${app.port}`, log });
    }
  });

  after(async function () {
    this.timeout(30_000);
    for (const r of replicas) await r.app.shutdown('end of the tests').catch(() => undefined);
  });

  const get = (replica: number, path: string, headers: Record<string, string> = {}) =>
    fetch(replicas[replica].base + path, { headers });

  it('answers a cached read with a strong ETag and Cache-Control, and 304 on If-None-Match', async function () {
    const path = '/v2/channels?limit=4';
    const first = await get(0, path);
    const body = await first.text();
    const etag = first.headers.get('etag');
    expect(etag).to.match(/^"[A-Za-z0-9_-]{27}"$/);
    expect(first.headers.get('cache-control')).to.equal(cacheControl(CACHE_POLICIES.channels));
    expect(first.headers.get('cache-control')).to.contain('s-maxage=').and.contain('stale-while-revalidate=');

    const again = await get(0, path);
    expect(again.headers.get('x-cache')).to.equal('hit');
    expect(again.headers.get('etag')).to.equal(etag);
    expect(await again.text()).to.equal(body);

    const revalidated = await get(0, path, { 'if-none-match': `"other", ${etag!}` });
    expect(revalidated.status).to.equal(304);
    expect(revalidated.headers.get('etag')).to.equal(etag);
    expect(await revalidated.text()).to.equal('');
    const weak = await get(0, path, { 'if-none-match': `W/${etag!}` });
    expect(weak.status, 'If-None-Match uses the weak comparison (RFC 9110 §13.1.2)').to.equal(304);

    const changed = await get(0, path, { 'if-none-match': '"not-the-etag"' });
    expect(changed.status).to.equal(200);
    expect(await changed.text()).to.equal(body);
  });

  it('keeps the request id, access log line and metrics on the fast path', async function () {
    const path = '/v2/channels?limit=2';
    await (await get(0, path)).text();
    await (await get(0, path)).text();
    const before = replicas[0].log.length;
    const res = await get(0, path, { 'x-request-id': 'fast-path-check-1' });
    await res.text();
    expect(res.headers.get('x-cache')).to.equal('hit');
    expect(res.headers.get('x-request-id')).to.equal('fast-path-check-1');
    await eventually(() => replicas[0].log.slice(before).some((l) => l.includes('fast-path-check-1')));
    const line = JSON.parse(replicas[0].log.slice(before).find((l) => l.includes('fast-path-check-1'))!) as Record<
      string,
      unknown
    >;
    expect(line).to.include({ log_type: 'access', route: '/v2/channels', status: 200, path: '/v2/channels' });
    const metrics = await replicas[0].app.metrics.registry.getSingleMetricAsString('http_request_duration_seconds');
    expect(metrics).to.match(
      /http_request_duration_seconds_count\{[^}]*route="\/v2\/channels"[^}]*status_code="200"[^}]*\} [1-9]/,
    );
  });

  // The fast path answers in front of Fastify: these check that what Fastify's hooks gave a cached
  // read is still there when the fast path (fastPath.answered) is what answered.
  const fastPathAnswer = async (path: string, headers: Record<string, string> = {}) => {
    const app = replicas[0].app;
    await (await get(0, path)).arrayBuffer(); // prepared by the Nest path
    const before = { answered: app.fastPath.answered, log: replicas[0].log.length };
    const res = await get(0, path, headers);
    const body = await res.text();
    expect(app.fastPath.answered, `${path} answered by the fast path`).to.equal(before.answered + 1);
    return { res, body, logFrom: before.log };
  };
  const durationCount = async (route: string, status: number) => {
    const text = await replicas[0].app.metrics.registry.getSingleMetricAsString('http_request_duration_seconds');
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.startsWith('http_request_duration_seconds_count{') &&
          l.includes(`route="${route}"`) &&
          l.includes(`status_code="${status}"`) &&
          l.includes('method="GET"'),
      );
    return line === undefined ? 0 : Number(line.split(' ').pop());
  };
  const localHits = async (family: string) => {
    const metric = await replicas[0].app.metrics.cacheHits.get();
    return metric.values.find((v) => v.labels.cache === family && v.labels.layer === 'local')?.value ?? 0;
  };

  it('fast path: route template in the histogram and the access line, a fresh request id, a local cache hit', async function () {
    const path = '/v2/channels/seed-0002?x=1';
    await (await get(0, path)).arrayBuffer();
    const [count, hits] = [await durationCount('/v2/channels/:slug', 200), await localHits('channels')];
    const { res, body, logFrom } = await fastPathAnswer(path, { 'user-agent': 'probe/1 Bearer abc.def' });
    expect(res.status).to.equal(200);
    expect(JSON.parse(body)).to.have.nested.property('data.slug', 'seed-0002');
    expect(res.headers.get('content-length')).to.equal(String(Buffer.byteLength(body)));
    expect(res.headers.get('content-type')).to.equal('application/json; charset=utf-8');
    expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(res.headers.get('cache-control')).to.equal(cacheControl(CACHE_POLICIES.channels));
    const id = res.headers.get('x-request-id');
    expect(id, 'a generated request id').to.match(/^[0-9a-f-]{36}$/);
    expect(await durationCount('/v2/channels/:slug', 200)).to.equal(count + 2);
    expect(await localHits('channels')).to.be.at.least(hits + 2);
    await eventually(() => replicas[0].log.slice(logFrom).some((l) => l.includes(id!)));
    const line = JSON.parse(replicas[0].log.slice(logFrom).find((l) => l.includes(id!))!) as Record<string, unknown>;
    expect(line).to.include({
      level: 'info',
      log_type: 'access',
      msg: 'request',
      method: 'GET',
      route: '/v2/channels/:slug',
      path: '/v2/channels/seed-0002',
      status: 200,
      client_ip: '127.0.0.1',
      user_agent: 'probe/1 Bearer [REDACTED]',
    });
    expect(line.duration_ms).to.be.a('number').and.at.least(0);
    expect(new Date(line.timestamp as string).toISOString()).to.equal(line.timestamp);
  });

  it('fast path: 304 without a body on a matching If-None-Match, counted and logged as 304', async function () {
    const path = '/v2/now-next';
    const first = await get(0, path);
    await first.arrayBuffer();
    const etag = first.headers.get('etag')!;
    const count = await durationCount('/v2/now-next', 304);
    const { res, body, logFrom } = await fastPathAnswer(path, { 'if-none-match': etag, 'x-request-id': 'fast-304' });
    expect(res.status).to.equal(304);
    expect(body).to.equal('');
    expect(res.headers.get('etag')).to.equal(etag);
    expect(res.headers.get('content-length')).to.equal(null);
    expect(res.headers.get('x-request-id')).to.equal('fast-304');
    expect(await durationCount('/v2/now-next', 304)).to.equal(count + 1);
    await eventually(() => replicas[0].log.slice(logFrom).some((l) => l.includes('"request_id":"fast-304"')));
    const line = JSON.parse(replicas[0].log.slice(logFrom).find((l) => l.includes('fast-304'))!) as Record<
      string,
      unknown
    >;
    expect(line).to.include({ status: 304, route: '/v2/now-next', path: '/v2/now-next' });
  });

  it('fast path: closes keep-alive connections while draining', async function () {
    const path = '/v2/channels?limit=5';
    const keepAlive = await fastPathAnswer(path);
    expect(keepAlive.res.headers.get('connection')).to.not.equal('close');
    replicas[0].app.lifecycle.draining = true;
    try {
      const { res } = await fastPathAnswer(path);
      expect(res.status).to.equal(200);
      expect(res.headers.get('connection')).to.equal('close');
    } finally {
      replicas[0].app.lifecycle.draining = false;
    }
  });

  it('gives now/next a shorter shared max-age that never passes the next programme boundary', async function () {
    const res = await get(0, '/v2/now-next');
    await res.text();
    const header = res.headers.get('cache-control') ?? '';
    const sMaxAge = Number(/s-maxage=(\d+)/.exec(header)?.[1]);
    expect(sMaxAge).to.be.at.most(CACHE_POLICIES.nowNext.sMaxAge);
    expect(CACHE_POLICIES.nowNext.sMaxAge).to.be.below(CACHE_POLICIES.channels.sMaxAge);
    expect(res.headers.get('etag')).to.match(/^"/);
    const boundary = Date.now() + 2500;
    expect(cacheControl(CACHE_POLICIES.nowNext, boundary))
      .to.contain('s-maxage=2,')
      .and.contain('stale-while-revalidate=0');
    expect(cacheControl(CACHE_POLICIES.nowNext, Date.now() - 1)).to.contain('s-maxage=0');
  });

  it('shows an admin write on the other replica (fast path invalidated through Redis)', async function () {
    this.timeout(30_000);
    const path = '/v2/channels/seed-0003';
    const name = async (replica: number) =>
      ((await (await get(replica, path)).json()) as { data: { name: string } }).data.name;
    const oldName = await name(1);
    const etag = (await get(1, path)).headers.get('etag')!;
    expect((await get(1, path)).headers.get('x-cache')).to.equal('hit');
    expect(oldName).to.not.equal('Renamed on replica 0');

    const write = await fetch(`${replicas[0].base}/v2/admin/channels/seed-0003`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${adminToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Renamed on replica 0' }),
    });
    expect(write.status).to.equal(200);
    // Bound: one pub/sub message (the local TTL here is 60 s, so expiry cannot explain it).
    await eventually(async () => (await name(1)) === 'Renamed on replica 0', 10_000);
    const after = await get(1, path, { 'if-none-match': etag });
    expect(after.status, 'the old ETag no longer matches').to.equal(200);
    expect(after.headers.get('etag')).to.not.equal(etag);
  });
});
