// The edge config as data: every environment renders and passes the real `nginx -t`, rendering
// refuses what an environment lacks, the Cloudflare list is validated, `make cloudflare-ips`
// works against a local HTTP server (and fails cleanly without one), known_hosts matching.
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { listEnvironments, loadEnvironment, type Environment } from '../../scripts/lib/environments.js';
import { checkNginxConfig } from '../../scripts/lib/edge/check.js';
import { cidrProblem } from '../../app/src/net/cidr.js';
import { cloudflareIpsFile, parseCidrList, readCloudflareRanges } from '../../scripts/lib/edge/cloudflare-ranges.js';
import { renderNginxConfig } from '../../scripts/lib/edge/render.js';
import { freePort } from '../../scripts/lib/services/index.js';
import { parseKnownHosts, verifyHostKey } from '../../scripts/lib/ssh.js';
import { runEntryScript } from '../support/run-script.js';

const env = (name: string): Environment => loadEnvironment(name, { env: {} });

describe('nginx: config rendering and nginx -t', function () {
  this.timeout(30_000);

  for (const name of listEnvironments()) {
    it(`nginx -t accepts the rendered ${name} config`, async () => {
      const r = await checkNginxConfig(env(name));
      expect(r.ok, r.output).to.equal(true);
      expect(r.output).to.include('test is successful');
    });
  }

  it('renders the local site as plain HTTP on the given loopback port, TLS sites with http2, HSTS and a redirect', () => {
    const local = renderNginxConfig(env('dev'), { listen: { address: '127.0.0.1', http: 18080 } });
    const site = local.files.get('sites/local.conf')!;
    expect(site).to.include('listen 127.0.0.1:18080;');
    expect(site).to.not.match(/ssl|443/);
    const prod = renderNginxConfig(env('prod')).files.get('sites/prod.conf')!;
    expect(prod).to.include('listen 443 ssl http2;');
    expect(prod).to.include('listen [::]:443 ssl http2;');
    // The redirect names the configured host, never the client's Host (issue 16 item 6).
    expect(prod).to.include('return 301 https://api.mytelevision.app$request_uri;');
    expect(prod).to.not.include('$host');
    const defaults = renderNginxConfig(env('prod')).files.get('snippets/default-server.conf')!;
    expect(prod).to.include('include snippets/default-server.conf;');
    expect(defaults).to.include('listen [::]:443 ssl http2 default_server;');
    expect(defaults).to.include('ssl_reject_handshake on;');
    expect(defaults).to.include('listen [::]:80 default_server;');
    expect(prod).to.include('ssl_verify_client on;');
    expect(prod).to.include('if ($from_cloudflare = 0)');
    const staging = renderNginxConfig(env('staging')).files.get('sites/staging.conf')!;
    expect(staging).to.include('Origin lock off');
    expect(staging).to.not.include('ssl_verify_client');
    // No placeholder survives, and every main-config include exists in the rendering.
    for (const [file, text] of renderNginxConfig(env('prod')).files) expect(text, file).to.not.match(/\{\{/);
  });

  it('puts every Cloudflare range into set_real_ip_from and the origin-lock geo map', () => {
    const ranges = readCloudflareRanges();
    expect(
      ranges.some((r) => r.includes(':')),
      'IPv6 ranges',
    ).to.equal(true);
    const files = renderNginxConfig(env('prod')).files;
    for (const r of ranges) {
      expect(files.get('cloudflare-realip.conf')).to.include(`set_real_ip_from ${r};`);
      expect(files.get('cloudflare-geo.conf')).to.include(`    ${r} 1;`);
    }
    expect(files.get('cloudflare-realip.conf')).to.include('real_ip_header CF-Connecting-IP;');
  });

  it('refuses what an environment lacks: a TLS site without certificates, an unknown site, AOP without a CA', () => {
    const prod = env('prod');
    const noTls = { ...prod, nginx: { ...prod.nginx!, tls: undefined } };
    expect(() => renderNginxConfig(noTls)).to.throw(/serves TLS but has no nginx\.tls/);
    expect(() => renderNginxConfig(prod, { site: 'nope' })).to.throw(/site 'nope', which does not exist/);
    const noCa = { ...prod, nginx: { ...prod.nginx!, tls: { ...prod.nginx!.tls!, originPullCa: undefined } } };
    expect(() => renderNginxConfig(noCa)).to.throw(/Authenticated Origin Pulls without a CA/);
    expect(() => renderNginxConfig(prod, { realIpFrom: ['10.0.0.1/8'] })).to.throw(/host bits are set/);
  });

  it('the environment schema refuses Authenticated Origin Pulls without an origin-pull CA', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mytv-nginx-env-'));
    try {
      const prodFile = path.join(path.dirname(cloudflareIpsFile), '..', 'environments', 'prod.yaml');
      const text = readFileSync(prodFile, 'utf8');
      expect(text).to.match(/^\s+originPullCa: .*\n/m);
      writeFileSync(path.join(dir, 'prod.yaml'), text.replace(/^\s+originPullCa: .*\n/m, ''));
      expect(() => loadEnvironment('prod', { dir, env: {} })).to.throw(
        /nginx\.tls\.originPullCa: authenticatedOriginPulls needs the CA of this zone's or host name's own origin-pull certificate/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the environment schema refuses paths and upstreams that could inject Nginx directives', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mytv-nginx-env-'));
    try {
      const text = readFileSync(
        path.join(path.dirname(cloudflareIpsFile), '..', 'environments', 'staging.yaml'),
        'utf8',
      )
        .replace(
          'certificate: /etc/ssl/mytv/staging-api.mytelevision.app.pem',
          'certificate: "/etc/x.pem; include /etc/passwd"',
        )
        .replace('${STAGING_API_UPSTREAM_1:-10.20.0.11:30080}', '"10.0.0.1:80 backup; }"');
      writeFileSync(path.join(dir, 'staging.yaml'), text);
      expect(() => loadEnvironment('staging', { dir, env: {} }))
        .to.throw(/nginx\.tls\.certificate: expected an absolute path/)
        .and.to.match(/nginx\.upstreams\.0: expected host:port/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('micro-cache: on by default in the public read location only, off by a render option (still nginx -t clean), cache path from runtime', async () => {
    const on = renderNginxConfig(env('prod'), { runtime: { cacheDir: '/srv/edge-cache' } }).files;
    expect(on.get('snippets/micro-cache.conf')).to.match(/^proxy_cache mytv_micro;$/m);
    expect(on.get('snippets/micro-cache.conf')).to.match(/^proxy_cache_valid 200 1s;$/m);
    expect(on.get('snippets/micro-cache-zone.conf')).to.match(
      /^proxy_cache_path \/srv\/edge-cache levels=1:2 keys_zone=mytv_micro:/m,
    );
    const site = on.get('snippets/api-server.conf')!.replace(/#[^\n]*/g, '');
    const cachedLocations = [...site.matchAll(/location ([^{]+)\{([^}]*)\}/g)].filter((m) =>
      m[2].includes('snippets/micro-cache.conf'),
    );
    expect(cachedLocations.map((m) => m[1].trim())).to.have.length(1);
    expect(cachedLocations[0][1]).to.not.include('admin');
    const off = await checkNginxConfig(env('prod'), { microCache: { enabled: false } });
    expect(off.ok, off.output).to.equal(true);
    expect(off.rendered.files.get('snippets/micro-cache.conf')).to.match(/^proxy_cache off;$/m);
  });

  it('validates CIDRs: family, prefix length and host bits', () => {
    expect(cidrProblem('173.245.48.0/20')).to.equal(undefined);
    expect(cidrProblem('2a06:98c0::/29')).to.equal(undefined);
    expect(cidrProblem('173.245.48.1/20')).to.match(/host bits/);
    expect(cidrProblem('10.0.0.0/33')).to.match(/longer than 32/);
    expect(cidrProblem('2400:cb00::1/32')).to.match(/host bits/);
    expect(cidrProblem('300.1.1.0/24')).to.match(/not an IP address/);
    expect(cidrProblem('10.0.0.0')).to.match(/address\/prefix/);
    const parsed = parseCidrList('# c\n1.2.3.0/24\n\nbad\n1.2.3.0/24\n', 'x');
    expect(parsed.cidrs).to.deep.equal(['1.2.3.0/24']);
    expect(parsed.problems).to.deep.equal(["x:4: 'bad': not of the form address/prefix"]);
  });
});

describe('nginx: make cloudflare-ips', function () {
  this.timeout(30_000);
  let server: http.Server;
  let base: string;
  let tmp: string;
  const lists: Record<string, string> = {};

  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-cfips-'));
    server = http.createServer((req, res) => {
      const body = lists[req.url ?? ''];
      res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'text/plain' });
      res.end(body ?? 'not found');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => {
    server?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  const run = (file: string, extra: string[] = [], v4 = '/v4', v6 = '/v6') =>
    runEntryScript('scripts/cloudflare-ips.ts', [
      `--file=${file}`,
      `--v4-url=${base}${v4}`,
      `--v6-url=${base}${v6}`,
      ...extra,
    ]);

  it('shows the diff and writes the validated lists; --dry-run writes nothing; a second run is a no-op', async () => {
    const file = path.join(tmp, 'cf.txt');
    writeFileSync(file, readFileSync(cloudflareIpsFile));
    const current = readCloudflareRanges(file);
    lists['/v4'] = current.filter((c) => !c.includes(':') && c !== '131.0.72.0/22').join('\n') + '\n198.51.100.0/24\n';
    lists['/v6'] = current.filter((c) => c.includes(':')).join('\n');

    const dry = await run(file, ['--dry-run']);
    expect(dry.code, dry.stderr).to.equal(0);
    expect(dry.stdout).to.include('- 131.0.72.0/22');
    expect(dry.stdout).to.include('+ 198.51.100.0/24');
    expect(dry.stdout).to.include('would write');
    expect(readCloudflareRanges(file)).to.deep.equal(current);

    const real = await run(file);
    expect(real.code, real.stderr).to.equal(0);
    expect(real.stdout).to.include('1 added, 1 removed');
    const now = readCloudflareRanges(file);
    expect(now).to.include('198.51.100.0/24');
    expect(now).to.not.include('131.0.72.0/22');

    const again = await run(file);
    expect(again.code).to.equal(0);
    expect(again.stdout).to.include('is up to date');
  });

  it('refuses an invalid list naming the bad line, and changes nothing', async () => {
    const file = path.join(tmp, 'cf-invalid.txt');
    writeFileSync(file, readFileSync(cloudflareIpsFile));
    const before = readFileSync(file, 'utf8');
    lists['/bad4'] = '173.245.48.0/20\n103.21.244.7/22\n';
    lists['/v6ok'] = '2400:cb00::/32\n';
    const r = await run(file, [], '/bad4', '/v6ok');
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/bad4:2: '103\.21\.244\.7\/22': host bits are set/);
    lists['/v4as6'] = '2400:cb00::/32\n';
    const wrong = await run(file, [], '/v4as6', '/v6ok');
    expect(wrong.stderr).to.include('is not an IPv4 range');
    expect(readFileSync(file, 'utf8')).to.equal(before);
  });

  it('without a reachable source says it could not reach Cloudflare and changes nothing', async () => {
    const file = path.join(tmp, 'cf-offline.txt');
    writeFileSync(file, readFileSync(cloudflareIpsFile));
    const before = readFileSync(file, 'utf8');
    const closed = await freePort(); // nothing listens there
    const r = await runEntryScript('scripts/cloudflare-ips.ts', [
      `--file=${file}`,
      `--v4-url=http://127.0.0.1:${closed}/ips-v4`,
      `--v6-url=http://127.0.0.1:${closed}/ips-v6`,
    ]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(
      /^error: could not reach Cloudflare \(http:\/\/127\.0\.0\.1:\d+\/ips-v[46]: ECONNREFUSED\)/m,
    );
    expect(r.stderr).to.include('is unchanged');
    expect(readFileSync(file, 'utf8')).to.equal(before);
  });
});

describe('nginx: known_hosts verification (ssh.ts)', () => {
  const key = (type: string): Buffer => {
    const t = Buffer.from(type);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(t.length);
    return Buffer.concat([len, t, randomBytes(32)]);
  };

  it('matches plain, [host]:port and hashed entries; tells unknown from changed and revoked', () => {
    const k1 = key('ssh-ed25519');
    const k2 = key('ssh-ed25519');
    const salt = randomBytes(20);
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[10.0.0.5]:2222').digest('base64')}`;
    const entries = parseKnownHosts(
      [
        `edge.example,10.0.0.4 ssh-ed25519 ${k1.toString('base64')}`,
        `${hashed} ssh-ed25519 ${k1.toString('base64')}`,
        `@revoked * ssh-ed25519 ${k2.toString('base64')}`,
      ].join('\n'),
    );
    expect(verifyHostKey(entries, 'edge.example', 22, k1)).to.deep.equal({ ok: true });
    expect(verifyHostKey(entries, '10.0.0.5', 2222, k1)).to.deep.equal({ ok: true });
    expect(verifyHostKey(entries, '10.0.0.5', 22, k1)).to.deep.equal({ ok: false, reason: 'unknown' });
    expect(verifyHostKey(entries, 'edge.example', 22, key('ssh-ed25519'))).to.deep.equal({
      ok: false,
      reason: 'changed',
    });
    expect(verifyHostKey(entries, 'edge.example', 22, k2)).to.deep.equal({ ok: false, reason: 'revoked' });
    expect(verifyHostKey(entries, 'edge.example', 22, key('ecdsa-sha2-nistp256'))).to.deep.equal({
      ok: false,
      reason: 'unknown',
    });
  });
});
