// Configuration: the pure validator lists every problem; the built app refuses to start with a
// bad environment, printing one message (no stack trace, no secret values) and exiting 78.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import {
  CONFIG_VARIABLES,
  formatConfigProblems,
  trustedProxyMatcher,
  validateConfig,
} from '../../app/src/config/config.js';
import { APP_DIR, ensureAppBuilt } from './support.js';

const good = {
  DATABASE_URL: 'postgres://api:s3cret-db-pass@127.0.0.1:5432/mytv',
  REDIS_URL: 'redis://127.0.0.1:6379',
  R2_ENDPOINT: 'https://account.r2.cloudflarestorage.com',
  R2_BUCKET: 'mytv-logos',
  R2_ACCESS_KEY_ID: 'key-id',
  R2_SECRET_ACCESS_KEY: 'r2-secret-value',
  JWT_SECRET: 'a'.repeat(32),
};

describe('app: configuration', function () {
  it('accepts a minimal environment and fills in defaults', function () {
    const result = validateConfig(good);
    expect(result.ok).to.equal(true);
    if (!result.ok) return;
    expect(result.config.port).to.equal(3000);
    expect(result.config.metrics.port).to.equal(9464);
    expect(result.config.database.poolMax).to.equal(10);
    expect(result.config.cache.ttlSeconds).to.equal(60);
    expect(result.config.shutdown).to.deep.equal({ preStopDelayMs: 5000, drainTimeoutMs: 20000 });
    expect(result.config.trustedProxies).to.deep.equal([]);
    expect(result.config.logLevel).to.equal('info');
  });

  it('reports every bad or missing variable at once, by name', function () {
    const result = validateConfig({
      PORT: '70000',
      LOG_LEVEL: 'loud',
      DATABASE_URL: 'mysql://x@y/z',
      DATABASE_POOL_MAX: 'many',
      R2_ENDPOINT: 'not a url',
      R2_BUCKET: 'Bad_Bucket',
      JWT_SECRET: 'short',
      JWT_SECRET_PREVIOUS: 'also-short',
      TRUSTED_PROXIES: '10.0.0.0/8, 300.1.1.1, 10.0.0.0/33',
      SHUTDOWN_DRAIN_TIMEOUT_MS: '-5',
      R2_FORCE_PATH_STYLE: 'maybe',
    });
    expect(result.ok).to.equal(false);
    if (result.ok) return;
    const names = result.problems.map((p) => p.split(':')[0]);
    expect(names).to.have.members([
      'DATABASE_POOL_MAX',
      'DATABASE_URL',
      'JWT_SECRET',
      'JWT_SECRET_PREVIOUS',
      'LOG_LEVEL',
      'PORT',
      'R2_ACCESS_KEY_ID',
      'R2_BUCKET',
      'R2_ENDPOINT',
      'R2_FORCE_PATH_STYLE',
      'R2_SECRET_ACCESS_KEY',
      'REDIS_URL',
      'SHUTDOWN_DRAIN_TIMEOUT_MS',
      'TRUSTED_PROXIES',
    ]);
    expect(result.problems.find((p) => p.startsWith('REDIS_URL'))).to.equal('REDIS_URL: is required');
    expect(result.problems.find((p) => p.startsWith('TRUSTED_PROXIES')))
      .to.include('300.1.1.1')
      .and.include('10.0.0.0/33');
  });

  it('checks cross-field rules (presigned URLs outlive cache entries, distinct JWT secrets)', function () {
    const result = validateConfig({
      ...good,
      CACHE_TTL_SECONDS: '3600',
      LOGO_URL_TTL_SECONDS: '3600',
      JWT_SECRET_PREVIOUS: good.JWT_SECRET,
      PORT: '9464',
    });
    expect(result.ok).to.equal(false);
    if (result.ok) return;
    expect(result.problems.map((p) => p.split(':')[0])).to.have.members([
      'LOGO_URL_TTL_SECONDS',
      'JWT_SECRET_PREVIOUS',
      'METRICS_PORT',
    ]);
  });

  it('matches trusted proxies by CIDR, IPv4-mapped IPv6 included', function () {
    const trusted = trustedProxyMatcher(['10.0.0.0/8', '::1', '173.245.48.0/20']);
    expect(trusted('10.1.2.3')).to.equal(true);
    expect(trusted('::ffff:10.1.2.3')).to.equal(true);
    expect(trusted('173.245.63.1')).to.equal(true);
    expect(trusted('::1')).to.equal(true);
    expect(trusted('11.0.0.1')).to.equal(false);
    expect(trusted(undefined)).to.equal(false);
  });

  it('the built app exits 78 with one message listing the problems, no stack, no secrets', function () {
    this.timeout(60_000);
    ensureAppBuilt();
    const result = spawnSync(process.execPath, [path.join(APP_DIR, 'dist', 'main.js')], {
      env: { PATH: process.env.PATH ?? '', ...good, JWT_SECRET: 'too-short-secret', REDIS_URL: '', PORT: 'x' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).to.equal(78);
    expect(result.stdout).to.equal('');
    const expected = formatConfigProblems([
      'JWT_SECRET: must be at least 32 characters long',
      'PORT: must be an integer between 0 and 65535',
      'REDIS_URL: is required',
    ]);
    expect(result.stderr).to.equal(expected);
    expect(result.stderr).to.not.match(/\n\s+at /);
    expect(result.stderr).to.not.include('too-short-secret');
    expect(result.stderr).to.not.include('s3cret-db-pass');
  });
});

describe('app: .env.example', function () {
  it('documents every variable the schema reads, and its placeholders validate', async function () {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(path.join(APP_DIR, '.env.example'), 'utf8');
    const env: Record<string, string> = {};
    for (const line of text.split('\n')) {
      const m = /^([A-Z0-9_]+)=(\S*)/.exec(line);
      if (m) env[m[1]] = m[2]!;
    }
    expect(CONFIG_VARIABLES, 'the schema reads variables').to.include.members(['DATABASE_URL', 'JWT_SECRET']);
    const undocumented = CONFIG_VARIABLES.filter((name) => !(name in env));
    expect(undocumented, 'variables missing from app/.env.example').to.deep.equal([]);
    expect(validateConfig(env)).to.deep.include({ ok: true });
  });
});
