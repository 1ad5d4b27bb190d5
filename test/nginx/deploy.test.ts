// make deploy-nginx / rollback-nginx against a real OpenSSH server on loopback (own host key,
// key authentication) whose "server" runs a real Nginx from <root>/current/nginx.conf. The
// scripts run exactly as make runs them; only the environment file (MYTV_ENVIRONMENTS_DIR) points
// them at this host.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { expect } from 'chai';
import { stringify } from 'yaml';
import { loadEnvironment } from '../../scripts/lib/environments.js';
import { EdgeReleases, newReleaseId } from '../../scripts/lib/edge/releases.js';
import { selfSignedCertificate } from '../../scripts/lib/edge/check.js';
import { renderNginxConfig, writeNginxConfig } from '../../scripts/lib/edge/render.js';
import { freePorts, httpProbe, Stack, type ServiceSpec } from '../../scripts/lib/services/index.js';
import type { SshdInfo } from '../../scripts/lib/services/sshd.js';
import { SshClient } from '../../scripts/lib/ssh.js';
import { requireTool } from '../../scripts/lib/tools.js';
import { runEntryScript, type ScriptResult } from '../support/run-script.js';
import { eventually } from '../app/support.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** The environment's server name (edge.yaml); the edge answers only for it. */
const SERVER_NAME = 'edge.test';

/** GET by address, with `Host` (and for https the SNI) set to `name`: the edge answers only for its server name. */
function get(url: string, name = SERVER_NAME): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const options = { rejectUnauthorized: false, agent: false, servername: name, headers: { Host: name } };
    const req = mod.get(url, options, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

interface Exchange {
  /** The TLS handshake completed (always true for plain TCP). */
  handshake: boolean;
  /** Everything the server sent before closing ('' = closed without an answer). */
  answer: string;
  error?: string;
}

/**
 * One HTTP/1.1 request with `Host: host` on a new connection to 127.0.0.1:port, plain or TLS with
 * `sni` (undefined = no SNI extension, as a client connecting by address sends). Resolves when the
 * server closes; never rejects (a refused handshake is a result).
 */
function exchange(port: number, host: string, o: { tls: boolean; sni?: string }): Promise<Exchange> {
  return new Promise((resolve) => {
    const result: Exchange = { handshake: !o.tls, answer: '' };
    const request = `GET /v2/channels HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
    const socket = o.tls
      ? tls.connect({ host: '127.0.0.1', port, servername: o.sni, rejectUnauthorized: false }, () => {
          result.handshake = true;
          socket.write(request);
        })
      : net.connect(port, '127.0.0.1', () => socket.write(request));
    socket.on('data', (c: Buffer) => (result.answer += c.toString('latin1')));
    socket.on('error', (e: Error) => (result.error = e.message));
    socket.on('close', () => resolve(result));
    socket.setTimeout(20_000, () => socket.destroy(new Error('no close within 20 s')));
  });
}

describe('nginx: deploy-nginx and rollback-nginx over SSH to a real sshd + Nginx', function () {
  this.timeout(60_000);
  let tmp: string;
  /** The micro-cache's parent: Nginx's workers (nobody under root) must traverse it, unlike tmp (0700). */
  let cacheRoot: string;
  let stack: Stack;
  let upstream: http.Server;
  let upstreamHealthy = true;
  let envDir: string;
  let root: string;
  let ports: { http: number; https: number; status: number };
  let initialRelease: string;
  let knownHosts: string;
  const scriptEnv: Record<string, string> = {};

  const deploy = (
    args: string[] = [],
    extra: Record<string, string> = {},
    onOutput?: (chunk: string) => void,
  ): Promise<ScriptResult> =>
    runEntryScript('scripts/deploy-nginx.ts', ['--env=edge', ...args], {
      env: { ...scriptEnv, ...extra },
      onOutput,
    });
  const rollback = (args: string[] = [], extra: Record<string, string> = {}): Promise<ScriptResult> =>
    runEntryScript('scripts/rollback-nginx.ts', ['--env=edge', ...args], { env: { ...scriptEnv, ...extra } });
  const live = (): string => path.basename(readlinkSync(path.join(root, 'current')));
  const releases = (): string[] => readdirSync(path.join(root, 'releases')).filter((d) => !d.startsWith('.'));
  const servedRelease = async (): Promise<string | undefined> => {
    const r = await get(`http://127.0.0.1:${ports.status}/health/ready`);
    return r.headers['x-config-release'] as string | undefined;
  };

  before(async function () {
    this.timeout(60_000);
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-deploy-test-'));
    cacheRoot = mkdtempSync(path.join(os.tmpdir(), 'mytv-deploy-cache-'));
    chmodSync(cacheRoot, 0o755);
    stack = new Stack({ runDir: path.join(tmp, 'run') });

    // The API behind the edge: a minimal HTTP upstream (the deploy is about Nginx, not the API).
    upstream = http.createServer((req, res) => {
      const ok = !req.url?.startsWith('/health') || upstreamHealthy;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok, url: req.url }));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const upstreamPort = (upstream.address() as { port: number }).port;

    // Client key and authorized_keys; the host key is generated by the sshd service itself.
    const clientKey = path.join(tmp, 'client_ed25519');
    execFileSync(requireTool('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', '', '-C', 'deploy-test', '-f', clientKey]);
    const authorizedKeys = path.join(tmp, 'authorized_keys');
    writeFileSync(authorizedKeys, readFileSync(`${clientKey}.pub`));
    const sshd = (await stack.start('sshd', { options: { authorizedKeysFile: authorizedKeys } })) as SshdInfo;
    knownHosts = path.join(tmp, 'known_hosts');
    writeFileSync(knownHosts, `${sshd.knownHostsLine}\n`);

    // The "server": certificates, runtime paths and the release root in the temp dir.
    root = path.join(tmp, 'server', 'edge');
    const serverDir = path.join(tmp, 'server');
    mkdirSync(path.join(serverDir, 'tmp'), { recursive: true });
    const tls = await selfSignedCertificate(path.join(serverDir, 'tls'), 'edge.test');
    const [httpPort, httpsPort, statusPort] = await freePorts(3);
    ports = { http: httpPort, https: httpsPort, status: statusPort };
    const errLog = path.join(serverDir, 'nginx-cmd.log');
    envDir = path.join(tmp, 'environments');
    mkdirSync(envDir);
    writeFileSync(
      path.join(envDir, 'edge.yaml'),
      stringify({
        name: 'edge',
        description: 'deploy test target',
        production: false,
        api: { publicUrl: 'https://edge.test', port: upstreamPort, replicas: 1 },
        nginx: {
          serverName: '${EDGE_SERVER_NAME:-edge.test}',
          site: 'staging',
          originLock: false,
          upstreams: [`127.0.0.1:${upstreamPort}`],
          listen: { address: '127.0.0.1', http: httpPort, https: httpsPort, status: statusPort },
          tls: { certificate: '${EDGE_TLS_CERT:-' + tls.certificate + '}', certificateKey: tls.certificateKey },
          runtime: {
            workerProcesses: 1,
            pidFile: path.join(serverDir, 'nginx.pid'),
            errorLog: path.join(serverDir, 'error.log'),
            accessLog: path.join(serverDir, 'access.log'),
            tempDir: path.join(serverDir, 'tmp'),
            cacheDir: path.join(cacheRoot, 'cache'),
            maintenanceFlag: path.join(serverDir, 'maintenance'),
          },
          ssh: {
            host: '127.0.0.1',
            port: sshd.port,
            user: sshd.user,
            keyFile: clientKey,
            knownHostsFile: '${EDGE_KNOWN_HOSTS:-' + knownHosts + '}',
          },
          deploy: {
            root,
            testCommand: `nginx -t -q -e ${errLog} -c {conf}`,
            reloadCommand: `nginx -e ${errLog} -c {conf} -s reload`,
            healthTimeoutSeconds: 3,
          },
          releasesKept: 3,
        },
        slo: { availabilityPercent: 99.9, latencyP95Ms: 500, errorRatePercent: 0.1, rtoMinutes: 60, rpoMinutes: 15 },
      }),
    );
    scriptEnv.MYTV_ENVIRONMENTS_DIR = envDir;

    // Provisioning: a first release (slightly different, so the first deploy has a diff), then Nginx.
    const env = loadEnvironment('edge', { dir: envDir, env: {} });
    initialRelease = newReleaseId(new Date('2020-01-01T00:00:00Z'));
    writeNginxConfig(
      renderNginxConfig(env, { releaseId: initialRelease, rateLimit: { burst: 7 } }),
      path.join(root, 'releases', initialRelease),
    );
    symlinkSync(`releases/${initialRelease}`, path.join(root, 'current'));
    const serverNginx: ServiceSpec = {
      kind: 'edge-server-nginx',
      tools: ['nginx'],
      stopSignal: 'SIGQUIT',
      command: () => ({
        bin: requireTool('nginx'),
        args: ['-e', errLog, '-c', path.join(root, 'current', 'nginx.conf'), '-g', 'daemon off;'],
      }),
      ready: () => httpProbe(`http://127.0.0.1:${statusPort}/stub_status`),
      info: () => ({}),
    };
    await stack.start('edge-server-nginx', { spec: serverNginx, port: httpPort });
    expect(await servedRelease()).to.equal(initialRelease);
  });

  after(async function () {
    this.timeout(30_000);
    await stack?.stopAll();
    upstream?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    if (cacheRoot) rmSync(cacheRoot, { recursive: true, force: true });
  });

  it('--dry-run shows a unified diff against the live config and changes nothing', async () => {
    const r = await deploy(['--dry-run'], { EDGE_SERVER_NAME: 'dry.edge.test' });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^--- live\/sites\/staging\.conf/m);
    expect(r.stdout).to.include('-    server_name edge.test;');
    expect(r.stdout).to.include('+    server_name dry.edge.test;');
    expect(r.stdout).to.include('nothing was changed');
    expect(live()).to.equal(initialRelease);
    expect(releases()).to.deep.equal([initialRelease]);
  });

  it('deploys: uploads, tests, switches, reloads and verifies the new release through the proxy', async () => {
    const r = await deploy();
    expect(r.code, r.stderr + r.stdout).to.equal(0);
    const id = live();
    expect(id).to.not.equal(initialRelease);
    expect(r.stdout).to.include(`release ${id} is live`);
    expect(await servedRelease()).to.equal(id);
    const site = await get(`https://127.0.0.1:${ports.https}/v2/channels`);
    expect(site.status).to.equal(200);
    expect(site.headers['strict-transport-security']).to.match(/max-age=\d+/);
    const redirect = await get(`http://127.0.0.1:${ports.http}/v2/channels?x=1`);
    expect(redirect.status).to.equal(301);
    expect(redirect.headers.location).to.equal(`https://${SERVER_NAME}:${ports.https}/v2/channels?x=1`);
    // Unchanged config: nothing to deploy.
    const again = await deploy();
    expect(again.code).to.equal(0);
    expect(again.stdout).to.include('already up to date');
    expect(live()).to.equal(id);
  });

  it('answers only for its server name: another Host or SNI, or none, is closed without an answer', async () => {
    // The live release names edge.test (the previous test deployed it).
    const evil = 'evil.example';
    const plain = await exchange(ports.http, evil, { tls: false });
    expect(plain.answer, 'plain HTTP, Host: evil.example').to.equal('');
    const evilSni = await exchange(ports.https, evil, { tls: true, sni: evil });
    expect(evilSni.handshake, `TLS with SNI evil.example: ${evilSni.answer.slice(0, 80)}`).to.equal(false);
    expect(evilSni.error).to.match(/unrecognized name/i);
    const noSni = await exchange(ports.https, evil, { tls: true });
    expect(noSni.handshake, `TLS without SNI: ${noSni.answer.slice(0, 80)}`).to.equal(false);
    expect(noSni.answer).to.equal('');
    const evilHost = await exchange(ports.https, evil, { tls: true, sni: SERVER_NAME });
    expect(evilHost.handshake).to.equal(true);
    expect(evilHost.answer, 'TLS with SNI edge.test, Host: evil.example').to.equal('');
    // The server name itself is answered, on both ports; a client's Host never reaches a Location.
    expect((await exchange(ports.https, SERVER_NAME, { tls: true, sni: SERVER_NAME })).answer).to.match(
      /^HTTP\/1\.1 200 /,
    );
    const redirect = await exchange(ports.http, SERVER_NAME, { tls: false });
    expect(redirect.answer).to.match(/^HTTP\/1\.1 301 /);
    expect(redirect.answer).to.include(`\r\nLocation: https://${SERVER_NAME}:${ports.https}/v2/channels\r\n`);
  });

  it('a config refused by nginx -t on the host is not switched to; the live site keeps serving', async () => {
    const before = live();
    const r = await deploy([], { EDGE_TLS_CERT: '/nonexistent/edge.pem' });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/nginx -t on 127\.0\.0\.1 refused release \S+: .*nonexistent\/edge\.pem/);
    expect(r.stderr).to.include(`the live config is untouched (${before})`);
    expect(live()).to.equal(before);
    expect(releases()).to.have.length(2);
    expect(await servedRelease()).to.equal(before);
    expect((await get(`https://127.0.0.1:${ports.https}/v2/channels`)).status).to.equal(200);
  });

  it('an unhealthy release after the reload is replaced by the previous one again', async () => {
    const before = live();
    upstreamHealthy = false;
    try {
      const r = await deploy([], { EDGE_SERVER_NAME: 'sick.edge.test' });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/release \S+ is not healthy: .*answered 503/);
      expect(r.stderr).to.include(`restored the previous release ${before}, which is live again`);
    } finally {
      upstreamHealthy = true;
    }
    expect(live()).to.equal(before);
    expect(await servedRelease()).to.equal(before);
  });

  it('a second deploy fails naming the lock holder, or waits for the lock with --wait-lock', async () => {
    const env = loadEnvironment('edge', { dir: envDir, env: {} });
    const ssh = await SshClient.connect(env.nginx!.ssh!);
    const host = new EdgeReleases(ssh, env.nginx!.deploy, 'unused');
    try {
      await host.lock('deploy-nginx by alice@laptop pid 4242', 0);
      const before = live();
      const refused = await deploy([], { EDGE_SERVER_NAME: 'locked.edge.test' });
      expect(refused.code).to.equal(1);
      expect(refused.stderr).to.include('another deploy holds the lock');
      expect(refused.stderr).to.include('alice@laptop pid 4242');
      expect(live()).to.equal(before);

      let printed = '';
      const waiting = deploy(['--wait-lock=30'], { EDGE_SERVER_NAME: 'waited.edge.test' }, (c) => (printed += c));
      await eventually(
        () => printed.includes('for the deploy lock held by deploy-nginx by alice@laptop pid 4242'),
        25_000,
      );
      expect(live(), 'nothing deployed while waiting').to.equal(before);
      await host.unlock();
      const r = await waiting;
      expect(r.code, r.stderr).to.equal(0);
      expect(live()).to.not.equal(before);
      expect(readFileSync(path.join(root, 'current', 'sites', 'staging.conf'), 'utf8')).to.include(
        'server_name waited.edge.test;',
      );
    } finally {
      await host.unlock();
      ssh.dispose();
    }
    expect(existsSync(path.join(root, '.deploy.lock'))).to.equal(false);
  });

  it('rollback-nginx switches back to the previous release and keeps the last N releases', async () => {
    const before = live();
    const r = await rollback();
    expect(r.code, r.stderr).to.equal(0);
    const now = live();
    expect(now < before).to.equal(true);
    expect(r.stdout).to.include(`rolled back: release ${now} is live`);
    expect(await servedRelease()).to.equal(now);
    expect(readFileSync(path.join(root, 'current', 'sites', 'staging.conf'), 'utf8')).to.include(
      'server_name edge.test;',
    );
    // Two more deploys: at most releasesKept (3) releases stay, the live one among them.
    expect((await deploy([], { EDGE_SERVER_NAME: 'a.edge.test' })).code).to.equal(0);
    expect((await deploy([], { EDGE_SERVER_NAME: 'b.edge.test' })).code).to.equal(0);
    expect(releases()).to.have.length(3);
    expect(releases()).to.include(live());
  });

  it('two deploys at once: the one that waited reads the live release and diff again under the lock', async () => {
    const env = loadEnvironment('edge', { dir: envDir, env: {} });
    const ssh = await SshClient.connect(env.nginx!.ssh!);
    const host = new EdgeReleases(ssh, env.nginx!.deploy, 'unused');
    const before = live();
    try {
      // Both start from the same picture and both wait; which one gets the lock first is up to them.
      await host.lock('deploy-nginx by the test', 0);
      const printed = { a: '', b: '' };
      const a = deploy(
        ['--wait-lock=60', '--json'],
        { EDGE_SERVER_NAME: 'first-a.edge.test' },
        (c) => (printed.a += c),
      );
      const b = deploy(
        ['--wait-lock=60', '--json'],
        { EDGE_SERVER_NAME: 'first-b.edge.test' },
        (c) => (printed.b += c),
      );
      await eventually(
        () => printed.a.includes('for the deploy lock held by') && printed.b.includes('for the deploy lock held by'),
        40_000,
      );
      await host.unlock();
      const results = { a: await a, b: await b };
      for (const r of Object.values(results)) expect(r.code, r.stderr + r.stdout).to.equal(0);
      // with --json, stdout is one JSON document (human lines go to stderr)
      const outcome = (r: ScriptResult) => JSON.parse(r.stdout) as { release: string; previous: string | null };
      const [first, second] = outcome(results.a).previous === before ? (['a', 'b'] as const) : (['b', 'a'] as const);
      expect(outcome(results[first]).previous).to.equal(before);
      // the second restores and reports the first's release, and showed the diff against it
      expect(outcome(results[second]).previous).to.equal(outcome(results[first]).release);
      expect(results[second].stderr + results[second].stdout).to.include('the live release changed while waiting');
      expect(results[second].stderr + results[second].stdout).to.include(`-    server_name first-${first}.edge.test;`);
      expect(live()).to.equal(outcome(results[second]).release);
    } finally {
      await host.unlock();
      ssh.dispose();
    }
  });

  it('refuses a host whose key is unknown or changed, before anything else', async () => {
    const before = live();
    const otherKnownHosts = path.join(tmp, 'known_hosts_other');
    const otherKey = path.join(tmp, 'other_host_key');
    execFileSync(requireTool('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
    const otherPub = readFileSync(`${otherKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
    const port = Number(/\]:(\d+)/.exec(readFileSync(knownHosts, 'utf8'))![1]);

    writeFileSync(otherKnownHosts, `[127.0.0.1]:1 ${otherPub}\n`);
    const unknown = await deploy([], { EDGE_KNOWN_HOSTS: otherKnownHosts, EDGE_SERVER_NAME: 'x.edge.test' });
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.match(/refusing to connect: the host key of \S+ \(SHA256:\S+\) is not in/);
    expect(unknown.stderr).to.include('ssh-keyscan');

    writeFileSync(otherKnownHosts, `[127.0.0.1]:${port} ${otherPub}\n`);
    const changed = await rollback([], { EDGE_KNOWN_HOSTS: otherKnownHosts });
    expect(changed.code).to.equal(1);
    expect(changed.stderr).to.include('CHANGED');
    expect(live()).to.equal(before);
  });
});
