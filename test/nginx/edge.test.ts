// The edge in front of the real API: Nginx (rendered from nginx/ for the local site) proxying to
// two replicas of the built app (node app/dist/main.js) on PostgreSQL, Redis and s3rver. The
// Cloudflare list is replaced by 127.0.0.2/32, so a client bound to 127.0.0.2 is "Cloudflare" and
// one bound to 127.0.0.1 or 127.0.0.3 is not.
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { runMigrations } from '../../app/src/db/migrator.js';
import { seedDatabase } from '../../app/src/db/seed.js';
import type { NginxInfo } from '../../scripts/lib/services/nginx.js';
import { childPids } from '../../scripts/lib/services/process.js';
import { requireTool } from '../../scripts/lib/tools.js';
import { waitFor } from '../../scripts/lib/wait.js';
import { appEnv, eventually, spawnApp, type SpawnedApp } from '../app/support.js';
import { expectEvery } from '../support/assertions.js';
import { useServices } from '../support/services.js';

const execFileAsync = promisify(execFile);
const CLOUDFLARE_PEER = '127.0.0.2';
const OTHER_PEER = '127.0.0.3';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** The error code of a JSON error body ({ error: { code } }). */
function errorCode(body: string): string {
  return (JSON.parse(body) as { error: { code: string } }).error.code;
}

/** One request on a fresh connection, from a chosen loopback source address. */
function request(
  url: string,
  o: { method?: string; headers?: Record<string, string>; from?: string; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: o.method ?? 'GET', headers: o.headers, localAddress: o.from, agent: false },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

interface LoadResult {
  total: number;
  /** Requests answered 200. */
  ok: number;
  failures: string[];
}

/**
 * Bounded load from many "Cloudflare clients" (a new CF-Connecting-IP per request via the Cloudflare peer, so
 * the per-IP rate limit does not apply): `concurrency` loops until stop() (or maxRequests).
 * Each request uses a new connection, as Cloudflare would after a reset (see nginx/README.md).
 */
function startLoad(
  url: string | ((n: number) => string),
  concurrency = 6,
  maxRequests = 20_000,
): { result: LoadResult; stop(): Promise<LoadResult> } {
  let stopped = false;
  const result: LoadResult = { total: 0, ok: 0, failures: [] };
  const worker = async (): Promise<void> => {
    while (!stopped && result.total < maxRequests) {
      const n = result.total++;
      const ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`; // a new client per request
      try {
        const r = await request(typeof url === 'string' ? url : url(n), {
          from: CLOUDFLARE_PEER,
          headers: { 'CF-Connecting-IP': ip },
        });
        if (r.status === 200) result.ok++;
        else result.failures.push(`${r.status} ${r.body.slice(0, 120)}`);
      } catch (err) {
        result.failures.push((err as Error).message);
      }
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, worker)).then(() => result);
  return {
    result,
    stop: () => {
      stopped = true;
      return done;
    },
  };
}

/** Waits until `n` more requests have been answered 200 than when called (the load goes on past an event). */
async function moreAnswered(result: LoadResult, what: string, n = 10, timeoutMs = 30_000): Promise<void> {
  const mark = result.ok;
  // 'exhausted': the load has sent all it may (maxRequests) without enough answers.
  const answered = await waitFor(() => result.ok >= mark + n || (result.total >= 20_000 && 'exhausted'), {
    timeoutMs,
    intervalMs: 20,
  });
  if (answered !== true) throw new Error(`requests stopped being answered after ${what} (${result.ok - mark} of ${n})`);
}

/** Worker processes of an Nginx master (its children). */
function workerPids(pidFile: string): number[] {
  return childPids(Number(readFileSync(pidFile, 'utf8').trim()));
}

/** upstream_addr of the access-log lines written after byte offset `from`. */
function upstreamsSince(accessLog: string, from: number): string[] {
  return readFileSync(accessLog)
    .subarray(from)
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { upstream_addr: string }).upstream_addr);
}

describe('nginx: the edge in front of two real API replicas', function () {
  this.timeout(60_000);
  const stack = useServices(['postgres', 'redis', 's3']);
  const apps: SpawnedApp[] = [];
  let edge: NginxInfo;
  let locked: NginxInfo;

  before(async function () {
    this.timeout(120_000);
    const env = appEnv(stack(), { TRUSTED_PROXIES: '127.0.0.1/32', LOG_LEVEL: 'info' });
    await runMigrations(env.DATABASE_URL);
    await seedDatabase(env.DATABASE_URL, { channels: 5, anchor: new Date(), hoursBefore: 2, hoursAfter: 2 });
    // One at a time, each recorded as soon as it runs: after() stops whatever did start.
    for (let i = 0; i < 2; i++) apps.push(await spawnApp(env));
    const upstreams = apps.map((a) => `127.0.0.1:${a.port}`);
    const common = {
      environment: 'dev',
      upstreams,
      realIpFrom: [`${CLOUDFLARE_PEER}/32`],
      rateLimit: { perSecond: 5, burst: 20, adminWritesPerMinute: 6, adminBurst: 3 },
    };
    edge = (await stack().start('nginx', { options: { ...common, originLock: false } })) as NginxInfo;
    locked = (await stack().start('nginx-locked', {
      kind: 'nginx',
      options: { ...common, originLock: true },
    })) as NginxInfo;
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all(apps.map((a) => a.stop()));
  });

  it('proxies to the API with security headers, a request id and X-Forwarded-* set', async () => {
    const r = await request(`${edge.url}/v2/channels`);
    expect(r.status).to.equal(200);
    expect(JSON.parse(r.body)).to.be.an('object');
    expect(r.headers['x-content-type-options']).to.equal('nosniff');
    expect(r.headers['x-frame-options']).to.equal('DENY');
    expect(r.headers['referrer-policy']).to.equal('no-referrer');
    expect(r.headers['content-security-policy']).to.include("frame-ancestors 'none'");
    expect(r.headers['strict-transport-security'], 'no HSTS over plain HTTP').to.equal(undefined);
    expect(r.headers['x-request-id']).to.match(/^[0-9a-f]{32}$/);
    expect(r.headers.server).to.equal('nginx');
  });

  it("passes the client's X-Request-Id through to the app's log, and the real client IP from Cloudflare only", async () => {
    const viaCloudflare = `edge-test-${Date.now()}-cf`;
    const direct = `edge-test-${Date.now()}-direct`;
    // Distinct URLs: the micro-cache would answer the second identical read without the app.
    const a = await request(`${edge.url}/v2/channels?limit=41`, {
      from: CLOUDFLARE_PEER,
      headers: { 'X-Request-Id': viaCloudflare, 'CF-Connecting-IP': '203.0.113.50' },
    });
    const b = await request(`${edge.url}/v2/channels?limit=42`, {
      from: OTHER_PEER,
      headers: { 'X-Request-Id': direct, 'CF-Connecting-IP': '203.0.113.66' },
    });
    expect(a.headers['x-request-id']).to.equal(viaCloudflare);
    expect(b.headers['x-request-id']).to.equal(direct);
    const logLine = (id: string) => apps.flatMap((app) => app.logs()).find((l) => l.request_id === id);
    await eventually(() => Boolean(logLine(viaCloudflare) && logLine(direct)), 5000);
    expect(logLine(viaCloudflare)!.client_ip).to.equal('203.0.113.50');
    expect(logLine(direct)!.client_ip, 'a spoofed CF-Connecting-IP from a non-Cloudflare peer is ignored').to.equal(
      OTHER_PEER,
    );
    // A malformed id is replaced by one of Nginx's own.
    const c = await request(`${edge.url}/v2/channels`, { headers: { 'X-Request-Id': 'bad id; drop table' } });
    expect(c.headers['x-request-id']).to.match(/^[0-9a-f]{32}$/);
  });

  it('writes one JSON access log line per request with the fields the log pipeline reads', async () => {
    const id = `edge-log-${Date.now()}`;
    await request(`${edge.url}/v2/channels?limit=43`, {
      from: CLOUDFLARE_PEER,
      headers: { 'X-Request-Id': id, 'CF-Connecting-IP': '203.0.113.9' },
    });
    let entry: Record<string, unknown> | undefined;
    await eventually(() => {
      const lines = readFileSync(edge.accessLog, 'utf8').trim().split('\n');
      entry = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.request_id === id);
      return entry !== undefined;
    }, 5000);
    expect(entry).to.include({
      client_ip: '203.0.113.9',
      peer_ip: CLOUDFLARE_PEER,
      status: 200,
      upstream_status: '200',
    });
    expect(entry!.duration_ms).to.be.a('number');
    expect(entry!.upstream_response_time).to.match(/^\d+\.\d{3}$/);
    expect(apps.map((a) => `127.0.0.1:${a.port}`)).to.include(entry!.upstream_addr);
  });

  it('never serves the API /metrics through the edge: public or internal listener; stub_status stays internal', async () => {
    for (const p of ['/metrics', '//metrics', '/METRICS', '/metrics/', '/%6Detrics', '/metrics?x=1']) {
      const r = await request(`${edge.url}${p}`);
      expect(r.status, p).to.equal(404);
      expect(r.body, p).to.not.include('http_requests');
      expect(errorCode(r.body)).to.equal('not_found');
    }
    // The replicas serve it on their own METRICS_PORT only, which no upstream of the edge names.
    const internal = await request(`http://127.0.0.1:${edge.statusPort}/metrics`);
    expect(internal.status).to.equal(404);
    expect(internal.body).to.not.include('http_requests');
    const direct = await request(apps[0].metricsUrl);
    expect(direct.status).to.equal(200);
    expect(direct.body).to.match(/^# (HELP|TYPE) /m);
    const status = await request(edge.statusUrl);
    expect(status.body).to.match(/^Active connections: \d+/);
  });

  it('rate limits per real client IP with a JSON 429 and Retry-After; other clients are unaffected', async () => {
    const burst = (from: string, ip: (i: number) => string, n = 40) =>
      Promise.all(
        Array.from({ length: n }, (_, i) =>
          request(`${edge.url}/health/live`, { from, headers: { 'CF-Connecting-IP': ip(i) } }),
        ),
      );
    const limited = await burst(CLOUDFLARE_PEER, () => '203.0.113.7');
    const tooMany = limited.filter((r) => r.status === 429);
    expect(tooMany.length, 'requests past the burst are refused').to.be.greaterThan(0);
    expect(limited.filter((r) => r.status === 200).length).to.be.at.least(20);
    expect(tooMany[0].headers['retry-after']).to.equal('1');
    expect(tooMany[0].headers['content-type']).to.equal('application/json');
    expect(errorCode(tooMany[0].body)).to.equal('rate_limited');
    expect(tooMany[0].headers['x-content-type-options']).to.equal('nosniff');

    const other = await request(`${edge.url}/health/live`, {
      from: CLOUDFLARE_PEER,
      headers: { 'CF-Connecting-IP': '203.0.113.8' },
    });
    expect(other.status, 'another client IP behind Cloudflare').to.equal(200);

    // Not from Cloudflare: the header is ignored, the peer itself is the client, whatever it claims.
    const spoofed = await burst(OTHER_PEER, (i) => `192.0.2.${i + 1}`);
    expect(spoofed.filter((r) => r.status === 429).length).to.be.greaterThan(0);
  });

  it('admin writes have a stricter zone than reads', async () => {
    const writes = await Promise.all(
      Array.from({ length: 10 }, () =>
        request(`${edge.url}/v2/admin/channels`, {
          method: 'POST',
          from: CLOUDFLARE_PEER,
          headers: { 'CF-Connecting-IP': '203.0.113.77', 'content-type': 'application/json' },
          body: '{}',
        }),
      ),
    );
    // 10 requests are within the general burst (20) but past the admin one (3).
    expect(writes.filter((r) => r.status === 429).length).to.be.at.least(5);
    expect(writes.filter((r) => r.status === 401).length).to.be.at.least(1);
  });

  it('with the origin lock (production mode) refuses peers outside the Cloudflare ranges', async () => {
    const direct = await request(`${locked.url}/v2/channels`, { from: OTHER_PEER });
    expect(direct.status).to.equal(403);
    expect(errorCode(direct.body)).to.equal('forbidden');
    const spoofed = await request(`${locked.url}/v2/channels`, { headers: { 'CF-Connecting-IP': '173.245.48.1' } });
    expect(spoofed.status).to.equal(403);
    const viaCloudflare = await request(`${locked.url}/v2/channels`, {
      from: CLOUDFLARE_PEER,
      headers: { 'CF-Connecting-IP': '203.0.113.10' },
    });
    expect(viaCloudflare.status).to.equal(200);
  });

  it('the maintenance switch answers 503 JSON with Retry-After while the flag file exists', async () => {
    writeFileSync(edge.maintenanceFlag, '');
    try {
      const r = await request(`${edge.url}/v2/channels`);
      expect(r.status).to.equal(503);
      expect(r.headers['retry-after']).to.equal('300');
      expect(errorCode(r.body)).to.equal('maintenance');
      expect(r.headers['x-frame-options']).to.equal('DENY');
      // The internal listener (health checks, scraping) is not affected.
      expect((await request(`http://127.0.0.1:${edge.statusPort}/health/live`)).status).to.equal(200);
    } finally {
      rmSync(edge.maintenanceFlag, { force: true });
    }
    expect((await request(`${edge.url}/v2/channels`)).status).to.equal(200);
  });

  it('nginx -s reload under load fails no request', async () => {
    const nginx = requireTool('nginx');
    const workersBefore = workerPids(edge.pidFile);
    const load = startLoad(`${edge.url}/v2/channels`);
    try {
      await moreAnswered(load.result, 'the start');
      for (let i = 1; i <= 3; i++) {
        await execFileAsync(nginx, [
          '-p',
          `${edge.confDir}/..`,
          '-c',
          `${edge.confDir}/nginx.conf`,
          '-e',
          edge.errorLog,
          '-s',
          'reload',
        ]);
        await moreAnswered(load.result, `reload ${i}`);
      }
    } finally {
      await load.stop();
    }
    const { failures } = load.result;
    expect(failures, failures.slice(0, 5).join('\n')).to.deep.equal([]);
    // Old workers finish their in-flight requests before exiting: wait for that, then assert.
    const replaced = () => workerPids(edge.pidFile).filter((p) => workersBefore.includes(p)).length === 0;
    await waitFor(replaced, { timeoutMs: 30_000, intervalMs: 100 });
    expect(
      workerPids(edge.pidFile).filter((p) => workersBefore.includes(p)),
      'the reloads replaced every worker',
    ).to.deep.equal([]);
  });

  it('a drained replica (Stack.reconfigure: server … down, reload) gets no request, and gets them again once back', async () => {
    const [first, second] = apps.map((a) => `127.0.0.1:${a.port}`);
    const workersBefore = workerPids(edge.pidFile);
    await stack().reconfigure('nginx', { drained: [first] });
    try {
      expect(readFileSync(`${edge.confDir}/nginx.conf`, 'utf8')).to.contain(`server ${first} down;`);
      expect(
        workerPids(edge.pidFile).filter((p) => workersBefore.includes(p)),
        'no worker with the old config is left once reconfigure resolves',
      ).to.deep.equal([]);
      const mark = statSync(edge.accessLog).size;
      // Own peer addresses: the rate-limit bucket of the earlier tests' client is not this one's.
      // A new URL per request: the micro-cache would answer repeats without a replica.
      for (let i = 0; i < 12; i++)
        expect((await request(`${edge.url}/v2/channels?offset=${i}`, { from: '127.0.0.7' })).status).to.equal(200);
      const used = upstreamsSince(edge.accessLog, mark);
      expect(used).to.have.length(12);
      expectEvery(used, (u) => u === second, `every request went to ${second}`);
    } finally {
      await stack().reconfigure('nginx', { drained: [] });
    }
    const mark = statSync(edge.accessLog).size;
    for (let i = 0; i < 12; i++)
      expect((await request(`${edge.url}/v2/channels?offset=${100 + i}`, { from: '127.0.0.8' })).status).to.equal(200);
    expect(new Set(upstreamsSince(edge.accessLog, mark))).to.deep.equal(new Set([first, second]));
    // Draining every upstream would leave Nginx nothing to send to: refused, config unchanged.
    let refused: Error | undefined;
    await stack()
      .reconfigure('nginx', { drained: [first, second] })
      .catch((e: Error) => (refused = e));
    expect(refused?.message).to.match(/every upstream would be drained/);
    expect(readFileSync(`${edge.confDir}/nginx.conf`, 'utf8')).not.to.contain(' down;');
  });

  it('one replica killed under load: no GET fails (Nginx retries on the other replica)', async () => {
    // A new URL per request: each one reaches a replica (the micro-cache would answer repeats itself).
    const load = startLoad((n) => `${edge.url}/v2/channels?offset=${n}`);
    try {
      await moreAnswered(load.result, 'the start');
      apps[1].proc.kill('SIGKILL');
      await apps[1].exited;
      await moreAnswered(load.result, 'the kill', 30);
    } finally {
      await load.stop();
    }
    const { failures } = load.result;
    expect(failures, failures.slice(0, 5).join('\n')).to.deep.equal([]);
    const after = await request(`${edge.url}/v2/channels`);
    expect(after.status).to.equal(200);
  });
});
