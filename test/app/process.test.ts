// The built app as a process (node app/dist/main.js): JSON access and audit logs on stdout,
// redaction of secrets, client IP from trusted proxies, and graceful shutdown on SIGTERM.
import { expect } from 'chai';
import pg from 'pg';
import { runMigrations } from '../../app/src/db/migrator.js';
import { seedDatabase } from '../../app/src/db/seed.js';
import { useServices } from '../support/services.js';
import {
  adminToken,
  appEnv,
  ensureAppBuilt,
  eventually,
  JWT_SECRET,
  JWT_SECRET_PREVIOUS,
  spawnApp,
  type SpawnedApp,
} from './support.js';
import { expectEvery } from '../support/assertions.js';

describe('app: the built process (logs, shutdown)', function () {
  const stack = useServices(['postgres', 'redis', 's3']);
  const apps: SpawnedApp[] = [];
  let env: ReturnType<typeof appEnv>;

  before(async function () {
    this.timeout(120_000);
    ensureAppBuilt();
    env = appEnv(stack());
    await runMigrations(env.DATABASE_URL);
    await seedDatabase(env.DATABASE_URL, { channels: 10 });
  });

  after(async function () {
    this.timeout(60_000);
    await Promise.all(apps.map((a) => a.stop()));
  });

  async function start(extra: Record<string, string> = {}): Promise<SpawnedApp> {
    const app = await spawnApp({ ...env, ...extra });
    apps.push(app);
    return app;
  }

  describe('logs', function () {
    // A secret of its own (s3rver's fixed key would hide a leak): no request here reaches R2.
    const R2_SECRET_FOR_LOGS = 'r2-secret-never-logged-7f3a9c';
    let app: SpawnedApp;
    before(async function () {
      app = await start({ R2_SECRET_ACCESS_KEY: R2_SECRET_FOR_LOGS });
    });

    it('writes one JSON access line per request with the documented fields', async function () {
      const res = await fetch(`${app.url}/v2/channels/seed-0001`, {
        headers: { 'x-request-id': 'req-test-0001', 'user-agent': 'mocha-test/1.0' },
      });
      expect(res.headers.get('x-request-id')).to.equal('req-test-0001');
      await res.text();
      const generated = await fetch(`${app.url}/v2/channels/seed-0002`);
      await generated.text();
      const id = generated.headers.get('x-request-id')!;
      expect(id).to.match(/^[0-9a-f-]{36}$/);
      await eventually(() => app.logs().some((l) => l.request_id === id));
      const line = app.logs().find((l) => l.request_id === 'req-test-0001')!;
      expect(line).to.include({
        level: 'info',
        log_type: 'access',
        msg: 'request',
        method: 'GET',
        route: '/v2/channels/:slug',
        status: 200,
        user_agent: 'mocha-test/1.0',
        client_ip: '127.0.0.1',
      });
      expect(line.duration_ms).to.be.a('number');
      expect(Date.parse(line.timestamp as string)).to.be.closeTo(Date.now(), 60_000);
      expect(app.logs().filter((l) => l.request_id === 'req-test-0001')).to.have.length(1);
      expectEvery(app.stdout, (l) => l.startsWith('{'), 'stdout lines are JSON objects');
    });

    it('takes the client IP from CF-Connecting-IP / X-Forwarded-For only from a trusted proxy', async function () {
      await (
        await fetch(`${app.url}/health/live`, {
          headers: { 'x-request-id': 'ip-cf', 'cf-connecting-ip': '203.0.113.7' },
        })
      ).text();
      await (
        await fetch(`${app.url}/v2/channels`, {
          headers: { 'x-request-id': 'ip-xff', 'x-forwarded-for': '198.51.100.9, 127.0.0.1' },
        })
      ).text();
      await eventually(() => app.logs().some((l) => l.request_id === 'ip-xff'));
      expect(app.logs().find((l) => l.request_id === 'ip-xff')!.client_ip).to.equal('198.51.100.9');

      const untrusting = await start({ TRUSTED_PROXIES: '10.0.0.0/8' });
      await (
        await fetch(`${untrusting.url}/v2/channels`, {
          headers: {
            'x-request-id': 'ip-untrusted',
            'cf-connecting-ip': '203.0.113.7',
            'x-forwarded-for': '198.51.100.9',
          },
        })
      ).text();
      await eventually(() => untrusting.logs().some((l) => l.request_id === 'ip-untrusted'));
      expect(untrusting.logs().find((l) => l.request_id === 'ip-untrusted')!.client_ip).to.equal('127.0.0.1');
      await untrusting.stop();
    });

    it('never logs tokens, Authorization values or passwords; admin writes leave an audit record', async function () {
      const token = adminToken({ sub: 'auditor@mytv.test' });
      const old = adminToken({ sub: 'auditor@mytv.test' }, JWT_SECRET_PREVIOUS);
      const forged = adminToken({ sub: 'mallory' }, 'forged-secret-forged-secret-forged-secret');
      const post = (auth: string, body: unknown) =>
        fetch(`${app.url}/v2/admin/channels?token=${auth}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json', 'x-request-id': 'audit-1' },
          body: JSON.stringify(body),
        });
      const created = await post(token, {
        slug: 'audit-me',
        name: 'Audit',
        category: 'news',
        country: 'GB',
        position: 1,
        password: 'hunter2-in-body',
      });
      expect(created.status).to.equal(400); // unknown field "password"
      expect(
        (await post(token, { slug: 'audit-me', name: 'Audit', category: 'news', country: 'GB', position: 1 })).status,
      ).to.equal(201);
      expect(
        (await post(old, { slug: 'audit-me', name: 'Audit', category: 'news', country: 'GB', position: 1 })).status,
      ).to.equal(409);
      expect((await post(forged, { slug: 'x' })).status).to.equal(401);
      await eventually(() => app.logs().filter((l) => l.log_type === 'audit').length >= 3);

      const all = app.stdout.join('\n') + app.stderr.join('');
      const dbPassword = new URL(env.DATABASE_URL).password;
      for (const secret of [
        token,
        old,
        forged,
        JWT_SECRET,
        JWT_SECRET_PREVIOUS,
        dbPassword,
        'hunter2-in-body',
        R2_SECRET_FOR_LOGS,
      ]) {
        expect(all).to.not.include(secret);
      }
      expect(all).to.not.match(/Bearer\s+eyJ/);

      const audit = app.logs().filter((l) => l.log_type === 'audit');
      expect(audit.map((a) => [a.actor, a.action, a.target, a.outcome])).to.deep.include.members([
        ['auditor@mytv.test', 'channel.create', 'audit-me', 'success'],
        ['auditor@mytv.test', 'channel.create', 'audit-me', 'failure'],
      ]);
      for (const a of audit) {
        expect(a).to.have.keys([
          'timestamp',
          'level',
          'msg',
          'log_type',
          'actor',
          'actor_key',
          'action',
          'target',
          'outcome',
          'request_id',
          ...(a.status ? ['status'] : []),
        ]);
        expect(a.request_id).to.equal('audit-1');
      }
    });

    it('serves repeated reads from the in-process layer and still sees its own writes at once', async function () {
      const path = `${app.url}/v2/channels/seed-0003`;
      const localHits = async () => {
        const text = await (await fetch(app.metricsUrl)).text();
        const m = /^app_cache_hits_total\{cache="channels",layer="local"\} (\d+)/m.exec(text);
        return m ? Number(m[1]) : 0;
      };
      await (await fetch(path)).text();
      const before = await localHits();
      const second = await fetch(path);
      await second.text();
      expect(second.headers.get('x-cache'), 'second read is a cache hit').to.equal('hit');
      expect(await localHits(), 'the second read came from the in-process layer').to.equal(before + 1);
      const res = await fetch(`${app.url}/v2/admin/channels/seed-0003`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${adminToken()}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Layered' }),
      });
      expect(res.status).to.equal(200);
      const fresh = await fetch(path);
      expect(fresh.headers.get('x-cache')).to.equal('miss');
      expect(((await fresh.json()) as { data: { name: string } }).data.name).to.equal('Layered');
    });
  });

  describe('graceful shutdown', function () {
    /** Holds an exclusive lock on channels so an uncached read waits (a real slow request). */
    async function lockChannels(): Promise<pg.Client> {
      const client = new pg.Client({ connectionString: env.DATABASE_URL });
      await client.connect();
      await client.query('BEGIN');
      await client.query('LOCK TABLE channels IN ACCESS EXCLUSIVE MODE');
      return client;
    }
    const release = async (client: pg.Client) => {
      await client.query('COMMIT').catch(() => undefined);
      await client.end().catch(() => undefined);
    };

    it('turns readiness 503 at once, refuses new connections after the pre-stop delay, finishes in-flight requests, exits 0', async function () {
      this.timeout(60_000);
      const app = await start({ SHUTDOWN_PRESTOP_DELAY_MS: '3000', SHUTDOWN_DRAIN_TIMEOUT_MS: '10000' });
      expect((await fetch(`${app.url}/health/ready`)).status).to.equal(200);
      const lock = await lockChannels();
      try {
        const slow = fetch(`${app.url}/v2/channels?limit=9&offset=1`).then(async (r) => ({
          status: r.status,
          body: await r.text(),
        }));
        await eventually(async () => /http_requests_in_flight [1-9]/.test(await (await fetch(app.metricsUrl)).text()));
        app.proc.kill('SIGTERM');
        // Readiness turns 503 while liveness still answers: the process serves during the pre-stop delay.
        await eventually(
          async () => (await fetch(`${app.url}/health/ready`, { headers: { connection: 'close' } })).status === 503,
        );
        expect((await fetch(`${app.url}/health/live`, { headers: { connection: 'close' } })).status).to.equal(200);
        expect(app.logs().map((l) => l.msg)).to.not.include('stopped accepting connections; draining');
        const refusesConnections = async () =>
          fetch(`${app.url}/health/live`, { headers: { connection: 'close' } }).then(
            () => false,
            () => true,
          );
        await eventually(refusesConnections, 20_000);
        expect(app.logs().map((l) => l.msg)).to.include('stopped accepting connections; draining');
        expect(app.proc.exitCode, 'still draining the slow request').to.equal(null);
        await release(lock);
        const result = await slow;
        expect(result.status).to.equal(200);
        expect((JSON.parse(result.body) as { data: unknown[] }).data).to.have.length(9);
        expect(await app.exited).to.equal(0);
      } finally {
        await release(lock);
      }
      const messages = app.logs().map((l) => l.msg);
      expect(messages).to.include.members([
        'shutdown started: readiness is now 503',
        'stopped accepting connections; draining',
        'shutdown complete',
      ]);
    });

    it('gives up on requests still running after the drain timeout and exits 0', async function () {
      this.timeout(60_000);
      const app = await start({ SHUTDOWN_PRESTOP_DELAY_MS: '0', SHUTDOWN_DRAIN_TIMEOUT_MS: '800' });
      const lock = await lockChannels();
      try {
        const slow = fetch(`${app.url}/v2/channels?limit=8&offset=2`).then(
          (r) => r.status,
          () => 'aborted',
        );
        await eventually(async () => /http_requests_in_flight [1-9]/.test(await (await fetch(app.metricsUrl)).text()));
        app.proc.kill('SIGTERM');
        expect(await app.exited).to.equal(0);
        expect(await slow).to.equal('aborted');
        expect(app.logs().map((l) => l.msg)).to.include('drain timeout reached; closing remaining connections');
      } finally {
        await release(lock);
      }
    });
  });
});
