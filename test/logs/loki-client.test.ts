// The Loki client and make logs against a stand-in that answers as Loki's HTTP API documents
// (GET /loki/api/v1/query_range: start inclusive, end exclusive, limit, direction; streams result;
// 400 with a plain-text message; 401 "no org id" without X-Scope-OrgID; 429/5xx when overloaded).
// Loki itself cannot run here; the real one is exercised in the GitHub Actions workflow.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { UserError } from '../../scripts/lib/errors.js';
import { LokiClient } from '../../scripts/lib/logs/loki-client.js';
import { expectEvery } from '../support/assertions.js';
import { runEntryScript } from '../support/run-script.js';

interface StoredEntry {
  ns: bigint;
  labels: Record<string, string>;
  line: string;
}

/** A Loki stand-in: query_range over stored entries; `failures` answers the next requests with those statuses. */
class FakeLoki {
  entries: StoredEntry[] = [];
  failures: { status: number; body: string; retryAfter?: string }[] = [];
  requests: URL[] = [];
  headers: http.IncomingHttpHeaders[] = [];
  maxEntriesLimit = 5000;
  private server = http.createServer((req, res) => this.handle(req, res));
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push(url);
    this.headers.push(req.headers);
    const text = (status: number, body: string, extra: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...extra });
      res.end(body + '\n');
    };
    if (url.pathname !== '/loki/api/v1/query_range') return text(404, '404 page not found');
    if (!req.headers['x-scope-orgid']) return text(401, 'no org id');
    const failure = this.failures.shift();
    if (failure)
      return text(failure.status, failure.body, failure.retryAfter ? { 'retry-after': failure.retryAfter } : {});
    const query = url.searchParams.get('query') ?? '';
    if (!query.startsWith('{')) return text(400, 'parse error at line 1, col 1: syntax error: unexpected IDENTIFIER');
    const limit = Number(url.searchParams.get('limit') ?? 100);
    if (limit > this.maxEntriesLimit)
      return text(
        400,
        `max entries limit per query exceeded, limit > max_entries_limit_per_query (${limit} > ${this.maxEntriesLimit})`,
      );
    const start = BigInt(url.searchParams.get('start')!);
    const end = BigInt(url.searchParams.get('end')!);
    const backward = url.searchParams.get('direction') !== 'forward';
    const selected = this.entries
      .filter((e) => e.ns >= start && e.ns < end)
      .sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
    if (backward) selected.reverse();
    const page = selected.slice(0, limit);
    const streams = new Map<string, { stream: Record<string, string>; values: [string, string][] }>();
    for (const e of page) {
      const key = JSON.stringify(e.labels);
      if (!streams.has(key)) streams.set(key, { stream: e.labels, values: [] });
      streams.get(key)!.values.push([e.ns.toString(), e.line]);
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        status: 'success',
        data: {
          resultType: 'streams',
          result: [...streams.values()],
          stats: { summary: { totalEntriesReturned: page.length } },
        },
      }),
    );
  }
}

const T0 = Date.parse('2026-11-29T12:00:00Z');
const ns = (ms: number): bigint => BigInt(ms) * 1_000_000n;

function seed(loki: FakeLoki, count: number): void {
  for (let i = 0; i < count; i++) {
    const service = i % 2 === 0 ? 'api' : 'nginx';
    loki.entries.push({
      ns: ns(T0 + i * 10),
      labels: { env: 'prod', service, log_type: 'access', level: 'info' },
      line: JSON.stringify({ timestamp: new Date(T0 + i * 10).toISOString(), level: 'info', msg: 'request', n: i }),
    });
  }
}

describe('logs: the Loki client against a stand-in following the HTTP API', function () {
  let loki: FakeLoki;
  beforeEach(async function () {
    loki = new FakeLoki();
    await loki.start();
  });
  afterEach(async function () {
    await loki.stop();
  });

  const client = (o: Partial<ConstructorParameters<typeof LokiClient>[0]> = {}) =>
    new LokiClient({ url: loki.url, tenant: 'mytv-prod', backoffMs: 5, ...o });

  it('pages past the per-query limit and returns the newest entries oldest first, each once', async function () {
    seed(loki, 250);
    // Two entries sharing a nanosecond across a page boundary must both come back.
    loki.entries.push({ ns: ns(T0 + 1000), labels: { env: 'prod', service: 'api' }, line: '{"twin":1}' });
    const entries = await client({ pageSize: 40 }).queryRange('{env="prod"}', T0, T0 + 10_000, 200);
    expect(entries).to.have.length(200);
    const ordered = entries.every((e, i) => i === 0 || entries[i - 1].ns <= e.ns);
    expect(ordered).to.equal(true);
    expect(JSON.parse(entries[entries.length - 1].line)).to.include({ n: 249 });
    expect(entries.filter((e) => e.ns === ns(T0 + 1000))).to.have.length(2);
    expect(new Set(entries.map((e) => `${e.ns}${e.line}`)).size).to.equal(200);
    expect(loki.requests.length).to.be.greaterThan(4);
    expectEvery(loki.requests, (u) => Number(u.searchParams.get('limit')) <= 40, 'limits asked');
  });

  it('sends the tenant and the credentials', async function () {
    seed(loki, 3);
    await client({ username: 'ops', password: 'pa55' }).queryRange('{env="prod"}', T0, T0 + 1000, 10);
    expect(loki.headers[0]['x-scope-orgid']).to.equal('mytv-prod');
    expect(loki.headers[0].authorization).to.equal(`Basic ${Buffer.from('ops:pa55').toString('base64')}`);
    await client({ token: 'tok' }).queryRange('{env="prod"}', T0, T0 + 1000, 10);
    expect(loki.headers[1].authorization).to.equal('Bearer tok');
  });

  it('retries 429 and 5xx with backoff, honouring Retry-After', async function () {
    seed(loki, 5);
    loki.failures.push(
      { status: 429, body: 'Too Many Requests', retryAfter: '0' },
      { status: 500, body: 'internal' },
      { status: 503, body: 'unavailable' },
    );
    const retries: string[] = [];
    const entries = await client({ onRetry: (_a, why, wait) => retries.push(`${why} ${wait}`) }).queryRange(
      '{env="prod"}',
      T0,
      T0 + 1000,
      10,
    );
    expect(entries).to.have.length(5);
    expect(retries).to.deep.equal(['429 Too Many Requests 0', '500 internal 10', '503 unavailable 20']);
  });

  it('gives up after the last attempt with what Loki said', async function () {
    loki.failures.push(...Array.from({ length: 3 }, () => ({ status: 502, body: 'bad gateway' })));
    const err = await client({ attempts: 3 })
      .queryRange('{env="prod"}', T0, T0 + 1000, 10)
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(UserError);
    expect((err as Error).message).to.equal('Loki did not answer after 3 attempts: 502 bad gateway');
  });

  it('turns a 400 into one clear error without retrying, and a missing tenant into a credentials error', async function () {
    const err = await client()
      .queryRange('nonsense', T0, T0 + 1000, 10)
      .catch((e: unknown) => e);
    expect((err as Error).message).to.equal(
      'Loki refused the query (400): parse error at line 1, col 1: syntax error: unexpected IDENTIFIER',
    );
    expect(loki.requests).to.have.length(1);
    const noTenant = await client({ tenant: undefined })
      .queryRange('{env="prod"}', T0, T0 + 1000, 10)
      .catch((e: unknown) => e);
    expect((noTenant as Error).message).to.equal('Loki refused the credentials (401): no org id');
  });

  it('FOLLOW polls forward from the last entry seen, without repeating it', async function () {
    const now = Date.now();
    for (const [i, ms] of [now - 3000, now - 2000, now - 1000].entries())
      loki.entries.push({ ns: ns(ms), labels: { env: 'prod', service: 'api' }, line: `{"n":${i}}` });
    const c = client();
    const after = await c.since('{env="prod"}', ns(now - 2000), 100);
    expect(after.map((e) => e.line)).to.deep.equal(['{"n":2}']);
    const last = loki.requests.at(-1)!;
    expect(last.searchParams.get('direction')).to.equal('forward');
    expect(BigInt(last.searchParams.get('start')!)).to.equal(ns(now - 2000) + 1n);
    expect(await c.since('{env="prod"}', after[0].ns, 100)).to.deep.equal([]);
  });

  it('make logs ENV=prod queries Loki with the built LogQL and prints aligned entries; JSON output for tools', async function () {
    const now = Date.now();
    loki.entries.push(
      {
        ns: ns(now - 2000),
        labels: { env: 'prod', service: 'nginx' },
        line: JSON.stringify({
          timestamp: new Date(now - 2000).toISOString(),
          level: 'error',
          msg: 'request',
          method: 'GET',
          path: '/v2/x',
          status: 502,
          duration_ms: 12,
          request_id: 'r-1',
        }),
      },
      {
        ns: ns(now - 1000),
        labels: { env: 'prod', service: 'api' },
        line: JSON.stringify({
          timestamp: new Date(now - 1000).toISOString(),
          level: 'error',
          msg: 'request',
          method: 'GET',
          route: '/v2/x',
          path: '/v2/x',
          status: 500,
          duration_ms: 7.5,
          request_id: 'r-1',
        }),
      },
    );
    const env = { PROD_LOKI_URL: loki.url, LOKI_USERNAME: 'ops', LOKI_PASSWORD: 'not-shown-anywhere' };
    const r = await runEntryScript('scripts/logs.ts', ['--env=prod', '--view=errors', '--since=5m'], { env });
    expect(r.stderr).to.equal('');
    expect(r.code).to.equal(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).to.have.length(2);
    expect(lines[0]).to.match(/^\S+Z {2}nginx {5}ERROR {2}request {2}GET \/v2\/x 502 12ms request_id=r-1$/);
    expect(lines[1]).to.match(/^\S+Z {2}api {7}ERROR {2}request {2}GET \/v2\/x 500 7.5ms request_id=r-1$/);
    expect(loki.requests[0].searchParams.get('query')).to.equal('{env="prod", service=~".+", level=~"error"}');
    const json = await runEntryScript('scripts/logs.ts', ['--env=prod', '--output=json', '--request-id=r-1'], { env });
    const objects = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { service: string; fields: { status: number } });
    expect(objects.map((o) => [o.service, o.fields.status])).to.deep.equal([
      ['nginx', 502],
      ['api', 500],
    ]);
  });
});
