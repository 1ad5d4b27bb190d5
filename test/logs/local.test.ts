// The local backend of make logs on real log files: a stack of PostgreSQL, Redis, the S3 stand-in,
// one API replica (the built app) and Nginx in front of it, started by the same service runner as
// `make up`; requests through Nginx, then make logs-local reads the run directory. Also: the log
// schema against real lines of both, a raw non-UTF-8 User-Agent, a multi-byte character cut by a
// read while following, and local times without a zone merged with UTC lines (TZ=Europe/Paris).
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { runMigrations } from '../../app/src/db/migrator.js';
import { seedDatabase } from '../../app/src/db/seed.js';
import { composeLogEntry, FileFollower, lineTime, mergeByTime, toEntry } from '../../scripts/lib/logs/local.js';
import { schemaFields, schemaProblems } from '../../scripts/lib/logs/schema.js';
import type { NginxInfo } from '../../scripts/lib/services/nginx.js';
import { ensureAppBuilt, eventually } from '../app/support.js';
import { expectEvery } from '../support/assertions.js';
import { runEntryScript } from '../support/run-script.js';
import { useServices } from '../support/services.js';

/** One GET through Nginx with a raw (latin1 = byte-for-byte) User-Agent. */
function get(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

describe('logs: the local backend on real API and Nginx log files', function () {
  this.timeout(120_000);
  const stack = useServices(['postgres', 'redis', 's3']);
  let nginx: NginxInfo;
  const id = `local-logs-${process.pid}`;
  const badUa = `${id}-ua`;

  before(async function () {
    this.timeout(180_000);
    ensureAppBuilt();
    const pg = stack().info<{ url: string }>('postgres');
    await runMigrations(pg.url);
    await seedDatabase(pg.url, { channels: 3 });
    const api = await stack().start('api-1', { kind: 'api', options: { s3: 's3', logLevel: 'info' } });
    nginx = (await stack().start('nginx', {
      options: { environment: 'dev', upstreams: [`127.0.0.1:${api.port as number}`] },
    })) as NginxInfo;
    expect(await get(`${nginx.url}/v2/channels`, { 'X-Request-Id': id, 'User-Agent': 'mocha' })).to.equal(200);
    // Raw bytes 0xC3 0x28: not UTF-8 (curl -A $'ua\xc3\x28'); latin1 sends each char as one byte.
    expect(
      await get(`${nginx.url}/v2/channels/nope`, { 'X-Request-Id': `${id}-bad`, 'User-Agent': `${badUa}\u00c3(` }),
    ).to.equal(404);
    await eventually(() => readFileSync(nginx.accessLog, 'utf8').includes(`${id}-bad`), 10_000);
    await eventually(() => readFileSync(stack().logFile('api-1'), 'utf8').includes(`${id}-bad`), 10_000);
  });

  const logs = (args: string[], env: Record<string, string> = {}) =>
    runEntryScript('scripts/logs-local.ts', ['--env=dev', `--run-dir=${stack().runDir}`, ...args], { env });

  it('the API and Nginx lines both follow the log schema (README table = schema)', function () {
    const apiLines = readFileSync(stack().logFile('api-1'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'));
    const nginxLines = readFileSync(nginx.accessLog, 'utf8').split('\n').filter(Boolean);
    expect(apiLines.length).to.be.greaterThan(1);
    expect(nginxLines.length).to.be.greaterThan(1);
    for (const line of [...apiLines, ...nginxLines]) {
      expect(schemaProblems(JSON.parse(line)), line).to.deep.equal([]);
    }
    const access = apiLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.request_id === id)!;
    expect(access).to.include({
      log_type: 'access',
      msg: 'request',
      route: '/v2/channels',
      path: '/v2/channels',
      status: 200,
    });
    const edge = nginxLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.request_id === id)!;
    expect(edge).to.include({
      log_type: 'access',
      msg: 'request',
      level: 'info',
      path: '/v2/channels',
      status: 200,
      user_agent: 'mocha',
    });
    expect(edge.duration_ms).to.be.a('number');
    expect(schemaProblems({ ...edge, status: '200' })).to.deep.equal([
      'status: Invalid input: expected number, received string',
    ]);
    const documented = [
      ...readFileSync('loki/README.md', 'utf8').matchAll(/^\| `([a-z_]+)` \| (string|number) \|/gm),
    ].map((m) => m[1]);
    expect(documented.sort()).to.deep.equal(schemaFields());
  });

  it('repairs a non-UTF-8 User-Agent in Nginx: the line is valid UTF-8 JSON, and make logs finds it', async function () {
    const raw = readFileSync(nginx.accessLog);
    const line = raw
      .toString('latin1')
      .split('\n')
      .find((l) => l.includes(`${id}-bad`))!;
    const bytes = Buffer.from(line, 'latin1');
    expect(new TextDecoder('utf-8', { fatal: true }).decode(bytes), 'strictly valid UTF-8').to.be.a('string');
    expect((JSON.parse(bytes.toString('utf8')) as { user_agent: string }).user_agent).to.equal(`${badUa}\ufffd(`);
    const r = await logs(['--service=nginx', `--grep=${badUa}`, '--output=json']);
    expect(r.code, r.stderr).to.equal(0);
    const found = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { service: string; fields: { status: number } });
    expect(found.map((f) => [f.service, f.fields.status])).to.deep.equal([['nginx:access', 404]]);
  });

  it('make logs-local REQUEST_ID shows the request on Nginx and the API, in time order', async function () {
    const r = await logs([], { REQUEST_ID: id });
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(/\s+/)[1])).to.have.members(['api-1', 'nginx:access']);
    expectEvery(lines, (l) => l.includes(`request_id=${id}`), 'lines of the request');
    expect(Date.parse(lines[0].split(' ')[0])).to.be.at.most(Date.parse(lines[1].split(' ')[0]));
  });

  it('filters by status, level and route with the same options as Loki, and refuses an unknown service', async function () {
    const r = await logs(['--status=4xx', '--output=raw']);
    expect(r.code, r.stderr).to.equal(0);
    const statuses = r.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { status: number }).status);
    expect(statuses.length).to.be.at.least(2);
    expectEvery(statuses, (s) => s === 404, 'statuses of STATUS=4xx');
    const route = await logs(['--route=/v2/channels/:slug', '--output=raw', '--service=api']);
    expect(route.stdout).to.include(`${id}-bad`).and.not.include(`"request_id":"${id}"`);
    const unknown = await logs(['--service=mysql']);
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr.split('\n')[0]).to.match(/^error: unknown service mysql: the local stack has /);
  });
});

describe('logs: reading and merging local files', function () {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'mytv-logs-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('following a file decodes a multi-byte character cut by a read boundary whole', function () {
    const file = path.join(dir, 'api.log');
    writeFileSync(file, '');
    const follower = new FileFollower([{ service: 'api', file }]);
    const line = JSON.stringify({ msg: 'chaîne € 📺 ok' }) + '\n';
    const bytes = Buffer.from(line, 'utf8');
    const euro = bytes.indexOf(Buffer.from('€'));
    const seen: string[] = [];
    // Appends cut inside "€" (3 bytes) and "📺" (4 bytes); each poll reads what is there.
    let at = 0;
    for (const cut of [euro + 1, euro + 2, bytes.indexOf(Buffer.from('📺')) + 3, bytes.length]) {
      appendFileSync(file, bytes.subarray(at, cut));
      at = cut;
      seen.push(...follower.poll().map((e) => e.line));
    }
    // And a 2-byte read size: every character crosses a read boundary.
    appendFileSync(file, bytes);
    seen.push(...follower.poll(2).map((e) => e.line));
    expect(seen).to.deep.equal([line.trim(), line.trim()]);
  });

  it('merges local times without a zone (TZ=Europe/Paris) in the right order with UTC JSON lines', function () {
    const saved = process.env.TZ;
    process.env.TZ = 'Europe/Paris';
    try {
      // 10:00:01Z in JSON; 11:00:00 and 11:00:02 Paris time (= 10:00:00Z, 10:00:02Z) in local formats.
      const api = ['{"timestamp":"2026-11-29T10:00:01.000Z","level":"info","msg":"request"}'];
      const pg = ['2026-11-29 11:00:00.000 CET [42] LOG:  checkpoint starting: time'];
      const nginxErr = ['2026/11/29 11:00:02 [warn] 7#7: *1 upstream response is buffered'];
      const redis = ['1234:M 29 Nov 2026 11:00:01.500 * Background saving started'];
      expect(lineTime(pg[0])).to.equal(Date.parse('2026-11-29T10:00:00Z'));
      expect(lineTime(nginxErr[0])).to.equal(Date.parse('2026-11-29T10:00:02Z'));
      expect(lineTime(redis[0])).to.equal(Date.parse('2026-11-29T10:00:01.500Z'));
      expect(lineTime('2026-11-29 10:00:00.000 UTC [42] LOG: x')).to.equal(Date.parse('2026-11-29T10:00:00Z'));
      const merged = mergeByTime([
        api.map((l) => toEntry('api-1', l)),
        pg.map((l) => toEntry('postgres', l)),
        nginxErr.map((l) => toEntry('nginx:error', l)),
        redis.map((l) => toEntry('redis', l)),
      ]);
      expect(merged.map((e) => e.service)).to.deep.equal(['postgres', 'api-1', 'redis', 'nginx:error']);
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});

describe('logs: docker compose lines (make logs-local in docker mode)', function () {
  it('reads the service from the prefix and keeps the line, its time first and compose time otherwise', function () {
    const line = '{"timestamp":"2026-11-29T10:00:01.000Z","level":"info","msg":"request","log_type":"access"}';
    const a = composeLogEntry(`api-1  | 2026-11-29T10:00:05.123456789Z ${line}`)!;
    expect(a).to.include({ service: 'api', line, time: Date.parse('2026-11-29T10:00:01.000Z') });
    expect(a.fields).to.include({ level: 'info' });
    const pg = composeLogEntry('postgres-1  | 2026-11-29T10:00:02.5Z some text without a time')!;
    expect(pg).to.include({ service: 'postgres', time: Date.parse('2026-11-29T10:00:02.5Z') });
    expect(composeLogEntry('api-2  | 2026-11-29T10:00:02Z x')!.service).to.equal('api-2');
    expect(composeLogEntry('Attaching to api-1')).to.equal(undefined);
  });
});
