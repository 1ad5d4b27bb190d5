// Input validation (issue 16 item 5): connection strings checked by the parser pg uses, in one
// place for the app and the scripts; addresses and ports by the schema library's validators;
// hashed known_hosts entries matched as ssh does (host name lowercased before hashing).
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { validateConfig } from '../../app/src/config/config.js';
import { databaseUrlFrom, redactDatabaseUrl } from '../../scripts/lib/db-url.js';
import { loadEnvironment } from '../../scripts/lib/environments.js';
import { UserError } from '../../scripts/lib/errors.js';
import { fromRoot } from '../../scripts/lib/paths.js';
import { parseKnownHosts, SshClient, verifyHostKey } from '../../scripts/lib/ssh.js';

const appEnv = {
  REDIS_URL: 'redis://127.0.0.1:6379',
  R2_ENDPOINT: 'https://account.r2.cloudflarestorage.com',
  R2_BUCKET: 'mytv-logos',
  R2_ACCESS_KEY_ID: 'key-id',
  R2_SECRET_ACCESS_KEY: 'r2-secret-value',
  JWT_SECRET: 'a'.repeat(32),
};

const accepted = [
  'postgres:///mytv?host=/run/postgresql',
  'postgres://u:p@/mytv?host=/run/postgresql',
  'postgresql://api:p%40ss@db.internal:5432/mytv?sslmode=require',
  'postgres://api@[::1]:5432/mytv',
];
const refused = ['http://db/mytv', 'postgres://db:99999/mytv', 'postgres:///mytv', 'not a url'];

describe('scripts: input validation', function () {
  it('the app and the scripts accept every connection string form pg accepts, and refuse the same bad ones', function () {
    for (const url of accepted) {
      const config = validateConfig({ ...appEnv, DATABASE_URL: url });
      expect(config.ok, `app refused ${url}: ${config.ok ? '' : config.problems.join('; ')}`).to.equal(true);
      expect(databaseUrlFrom({}, { DATABASE_URL: url })).to.equal(url);
    }
    for (const url of refused) {
      const config = validateConfig({ ...appEnv, DATABASE_URL: url });
      expect(config.ok, `app accepted ${url}`).to.equal(false);
      if (!config.ok) expect(config.problems.join('\n')).to.match(/DATABASE_URL/);
      expect(() => databaseUrlFrom({}, { DATABASE_URL: url }), url).to.throw(/database URL/);
    }
    expect(redactDatabaseUrl('postgres://u:p@ss@/mytv?host=/run/postgresql')).to.equal(
      'postgres://u:***@/mytv?host=/run/postgresql',
    );
  });

  describe('environment addresses', function () {
    let dir: string;
    before(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'mytv-env-'));
      mkdirSync(path.join(dir, 'env'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));
    const staging = readFileSync(fromRoot('environments', 'staging.yaml'), 'utf8');
    const load = (text: string) => {
      writeFileSync(path.join(dir, 'env', 'staging.yaml'), text);
      return () => loadEnvironment('staging', { dir: path.join(dir, 'env'), dotenvDir: dir, env: {} });
    };

    it('refuses impossible IP addresses, host names and ports', function () {
      const cases: [string, string, string][] = [
        ['${STAGING_API_UPSTREAM_1:-10.20.0.11:30080}', '999.999.999.999:30080', 'nginx.upstreams.0'],
        ['${STAGING_API_UPSTREAM_2:-10.20.0.12:30080}', '10.20.0.12:99999', 'nginx.upstreams.1'],
        ['${STAGING_SSH_HOST:-staging-api.mytelevision.app}', '999.999.999.999', 'nginx.ssh.host'],
        ['serverName: staging-api.mytelevision.app', 'serverName: -bad-.example', 'nginx.serverName'],
      ];
      for (const [from, to, field] of cases) {
        expect(staging).to.contain(from);
        const err = (() => {
          try {
            load(staging.replace(from, to))();
          } catch (e) {
            return e;
          }
          return undefined;
        })();
        expect(err, `${to} accepted`).to.be.instanceOf(UserError);
        expect((err as UserError).message).to.contain(`- ${field}`);
      }
    });

    it('accepts IPv4, bracketed IPv6 and host names', function () {
      const text = staging
        .replace('${STAGING_API_UPSTREAM_1:-10.20.0.11:30080}', '"[fd00::11]:30080"')
        .replace('${STAGING_API_UPSTREAM_2:-10.20.0.12:30080}', 'api-1.internal:30080')
        .replace('${STAGING_SSH_HOST:-staging-api.mytelevision.app}', '10.20.0.5');
      const env = load(text)();
      expect(env.nginx?.upstreams).to.deep.equal(['[fd00::11]:30080', 'api-1.internal:30080']);
    });
  });

  it('matches a hashed known_hosts entry for a host name written in capitals (ssh lowercases it)', function () {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mytv-kh-'));
    try {
      const key = path.join(dir, 'id');
      expect(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]).status).to.equal(0);
      const [type, blob] = readFileSync(`${key}.pub`, 'utf8').split(' ');
      const known = path.join(dir, 'known_hosts');
      // ssh-keyscan/ssh write the lowercased name; ssh-keygen -H hashes it as written
      writeFileSync(known, `edge.example.com ${type} ${blob}\n[edge.example.com]:2222 ${type} ${blob}\n`);
      expect(spawnSync('ssh-keygen', ['-H', '-f', known]).status).to.equal(0);
      const entries = parseKnownHosts(readFileSync(known, 'utf8'));
      expect(entries[0].patterns[0]).to.match(/^\|1\|/);
      const key64 = Buffer.from(blob, 'base64');
      expect(verifyHostKey(entries, 'Edge.Example.COM', 22, key64)).to.deep.equal({ ok: true });
      expect(verifyHostKey(entries, 'EDGE.example.com', 2222, key64)).to.deep.equal({ ok: true });
      expect(verifyHostKey(entries, 'other.example.com', 22, key64)).to.deep.equal({ ok: false, reason: 'unknown' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('a missing SSH key names the environment file’s key it comes from (database.ssh for the backups, nginx.ssh by default)', async function () {
    const target = {
      host: '127.0.0.1',
      port: 22,
      user: 'deploy',
      keyFile: '/nonexistent/id',
      knownHostsFile: '/nonexistent/kh',
    };
    const hintOf = (p: Promise<unknown>) =>
      p.then(
        () => expect.fail('connected without a key'),
        (err: UserError) => err.hint ?? '',
      );
    expect(await hintOf(SshClient.connect(target, { configKey: 'database.ssh' }))).to.match(
      /^set database\.ssh\.keyFile /,
    );
    expect(await hintOf(SshClient.connect(target))).to.match(/^set nginx\.ssh\.keyFile /);
  });
});
