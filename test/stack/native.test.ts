// Native mode end to end, through the real entry scripts (up, status, logs-local, down) on free
// loopback ports in a temporary run directory: a request through Nginx returns the seeded
// channels, Prometheus scrapes each API replica, a second `up` changes nothing, a crashed
// service's stale PID file is cleaned without touching the process that reused the PID, a port
// conflict is refused naming the port and its owner, and `down` leaves no process and no port.
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { signJwt } from '../../app/src/auth/jwt.js';
import { fromRoot } from '../../scripts/lib/paths.js';
import { freePort, isPortFree, trackedProcesses } from '../../scripts/lib/services/index.js';
import { isSameProcessAlive, lookupUser, processStartTime } from '../../scripts/lib/services/process.js';
import { findTool } from '../../scripts/lib/tools.js';
import { processRuns, runningScratchInstances, stopScratchInstance } from '../../scripts/lib/local-stack/scratch.js';
import { waitFor } from '../../scripts/lib/wait.js';
import { environmentsWith, freeLocalPorts } from '../support/local-stack-env.js';
import { runEntryScript, type ScriptResult } from '../support/run-script.js';
import { expectEvery } from '../support/assertions.js';

describe('local stack: native mode end to end (make up / status / logs-local / down)', function () {
  this.timeout(120_000);
  let tmp: string;
  let runDir: string;
  let envDir: string;
  let ports: Record<string, number>;
  let firstUp: ScriptResult;
  const bystanders: ChildProcess[] = [];

  const script = (name: string, args: string[] = [], dir = runDir, environments = envDir): Promise<ScriptResult> =>
    runEntryScript(`scripts/${name}.ts`, ['--run-dir', dir, ...args], {
      env: { MYTV_ENVIRONMENTS_DIR: environments, MYTV_DOCKER: '0', ENV: 'dev', PROFILE: undefined, MODE: undefined },
      timeoutMs: 110_000,
    });
  const pids = (): Record<string, number> =>
    Object.fromEntries(trackedProcesses(runDir).map((t) => [t.name, t.record?.pid ?? -1]));

  before(async function () {
    this.timeout(180_000);
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-stack-'));
    chmodSync(tmp, 0o755); // PostgreSQL runs as its own user and must reach the run directory
    runDir = path.join(tmp, 'run');
    ports = await freeLocalPorts();
    envDir = environmentsWith(path.join(tmp, 'environments'), ports);
    firstUp = await script('up', ['--mode', 'native'], runDir);
  });

  after(async function () {
    this.timeout(60_000);
    await script('down').catch(() => undefined);
    for (const inst of runningScratchInstances(runDir)) stopScratchInstance(inst);
    // Whatever down left behind, in every run directory this file used; one failure stops nothing.
    for (const dir of [runDir, path.join(tmp, 'run-conflict')]) {
      for (const t of trackedProcesses(dir)) {
        if (!t.alive || !t.record) continue;
        try {
          process.kill(-t.record.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    for (const b of bystanders) b.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  });

  it('up starts every service, waits for health and prints the URLs', () => {
    expect(firstUp.code, firstUp.stderr + firstUp.stdout).to.equal(0);
    expect(firstUp.stdout).to.contain('the local stack is up');
    expect(firstUp.stdout).to.match(
      new RegExp(`API through Nginx\\s+nginx\\s+http://127\\.0\\.0\\.1:${ports.nginx}/v2/channels`),
    );
    expect(firstUp.stdout).to.contain(`http://127.0.0.1:${ports.prometheus}`);
    expect(Object.keys(pids()).sort()).to.deep.equal(
      [
        'alertmanager',
        'api-1',
        'api-2',
        'blackbox-exporter',
        'nginx',
        'nginx-exporter',
        'postgres',
        'postgres-exporter',
        'prometheus',
        'pushgateway',
        'redis',
        'redis-exporter',
        's3',
      ].sort(),
    );
  });

  it('a request through Nginx returns the seeded channels, with a request id', async () => {
    const res = await fetch(`http://127.0.0.1:${ports.nginx}/v2/channels?limit=5`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('x-request-id')).to.be.a('string');
    const body = (await res.json()) as { data: { slug: string }[] };
    expect(body.data.map((c) => c.slug)).to.include('seed-0001');
  });

  it('an admin logo upload through Nginx lands in the S3 stand-in and its presigned URL serves it', async () => {
    const secret = readFileSync(path.join(runDir, 'api-jwt-secret'), 'utf8').trim();
    const token = signJwt({ sub: 'ops@test', role: 'admin', exp: Math.floor(Date.now() / 1000) + 300 }, secret);
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      Buffer.from('stack-test'),
    ]);
    const put = await fetch(`http://127.0.0.1:${ports.nginx}/v2/admin/channels/seed-0002/logo`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png' },
      body: png,
    });
    expect(put.status, await put.clone().text()).to.equal(200);
    const { data } = (await put.json()) as { data: { logo_url: string } };
    expect(data.logo_url.startsWith(`http://127.0.0.1:${ports.s3}/mytv-logos/`)).to.equal(true);
    const logo = await fetch(data.logo_url);
    expect(logo.status).to.equal(200);
    expect(Buffer.from(await logo.arrayBuffer()).equals(png)).to.equal(true);
  });

  it('Prometheus runs the repository config unchanged and scrapes each API replica as up', async function () {
    this.timeout(60_000);
    expect(readFileSync(path.join(runDir, 'prometheus', 'config', 'prometheus.yml'), 'utf8')).to.equal(
      readFileSync(fromRoot('prometheus', 'prometheus.yml'), 'utf8'),
    );
    // The replica is the target's `pod` label (relabelled from the file_sd `service`).
    let api: { labels: { pod: string }; health: string }[] = [];
    await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${ports.prometheus}/api/v1/targets?state=active`);
        const body = (await res.json()) as {
          data: { activeTargets: { labels: { job: string; pod: string }; health: string }[] };
        };
        api = body.data.activeTargets.filter((t) => t.labels.job === 'api');
        return api.length === 2 && api.every((t) => t.health === 'up');
      },
      { timeoutMs: 50_000, intervalMs: 500 },
    );
    expect(api.map((t) => `${t.labels.pod}:${t.health}`).sort()).to.deep.equal(['api-1:up', 'api-2:up']);
  });

  it('status --json reports every service running and healthy with its PID and port', async () => {
    const r = await script('status', ['--json']);
    expect(r.code, r.stderr).to.equal(0);
    const status = JSON.parse(r.stdout) as {
      mode: string;
      services: { service: string; state: string; pid: number; port: number; health: string }[];
    };
    expect(status.mode).to.equal('native');
    expect(status.services).to.have.length(13);
    for (const s of status.services)
      expect(`${s.service}:${s.state}:${s.health}`).to.equal(`${s.service}:running:healthy`);
    expect(status.services.find((s) => s.service === 'nginx')?.port).to.equal(ports.nginx);
    expect(r.stdout).not.to.match(/postgres:\/\/[^@\s]*:[^@\s]+@/); // no password, not even masked
  });

  it('a second up reports the stack is up and changes nothing', async () => {
    const before = pids();
    const r = await script('up', ['--mode', 'native']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('already up').and.contain('nothing changed');
    expect(pids()).to.deep.equal(before);
  });

  it('logs-local merges the replicas’ logs by time', async () => {
    const r = await script('logs-local', ['--service', 'api', '--limit', '50', '--output', 'json']);
    expect(r.code, r.stderr).to.equal(0);
    const entries = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { service: string; fields?: { timestamp?: string } });
    expect(entries.map((e) => e.service)).to.include.members(['api-1', 'api-2']);
    // Merged by time: the lines' own timestamps never go backwards across the two replicas.
    const times = entries.flatMap((e) => (e.fields?.timestamp ? [Date.parse(e.fields.timestamp)] : []));
    expect(times.length, 'timestamped lines').to.be.greaterThan(2);
    const backwards = times.filter((t, i) => i > 0 && t < times[i - 1]);
    expect(backwards, 'lines out of time order').to.deep.equal([]);
    const bad = await script('logs-local', ['--service', 'nosuch']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.contain('unknown service nosuch');
  });

  it('a crashed service: its stale PID file is cleaned, the process now holding the PID is left alone, up restarts it', async () => {
    const file = path.join(runDir, 'pids', 'redis-exporter.json');
    const rec = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; startTime: number };
    process.kill(rec.pid, 'SIGKILL');
    await waitFor(
      () => processStartTime(rec.pid) === undefined || !isSameProcessAlive({ ...rec, command: '', name: '' }),
      { timeoutMs: Infinity, intervalMs: 20 },
    );
    // An unrelated process that "reused" the PID: the file now names it, with the old start time.
    const bystander = spawn('sleep', ['300'], { stdio: 'ignore' });
    bystanders.push(bystander);
    writeFileSync(file, JSON.stringify({ ...rec, pid: bystander.pid }));
    const status = await script('status', ['--json']);
    expect(status.code, 'a probe: not every service is healthy').to.equal(1);
    const row = (JSON.parse(status.stdout) as { services: { service: string; state: string }[] }).services.find(
      (s) => s.service === 'redis-exporter',
    );
    expect(row?.state).to.contain('stale');
    const r = await script('up', ['--mode', 'native']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain('redis-exporter: its PID file was stale');
    expect(bystander.exitCode).to.equal(null);
    expect(bystander.signalCode).to.equal(null);
    expect(trackedProcesses(runDir).find((t) => t.name === 'redis-exporter')?.alive).to.equal(true);
  });

  it('a port conflict is refused naming the port and its owner, and nothing starts', async () => {
    const blocker = net.createServer();
    const otherPorts = await freeLocalPorts();
    await new Promise<void>((resolve) => blocker.listen(otherPorts.nginx, '127.0.0.1', resolve));
    try {
      const otherRun = path.join(tmp, 'run-conflict');
      const otherEnv = environmentsWith(path.join(tmp, 'environments-conflict'), otherPorts);
      const r = await script('up', ['--mode', 'native'], otherRun, otherEnv);
      expect(r.code).to.equal(1);
      expect(r.stderr.split('\n')[0]).to.match(
        new RegExp(`^error: port ${otherPorts.nginx} \\(nginx\\) is already in use by node \\(pid ${process.pid}\\)`),
      );
      expect(r.stderr).to.contain('hint:');
      expect(existsSync(path.join(otherRun, 'pids')) ? readdirSync(path.join(otherRun, 'pids')) : []).to.deep.equal([]);
    } finally {
      blocker.close();
    }
  });

  it('an unknown profile or mode is a usage error (exit 2)', async () => {
    const p = await script('up', ['--profile', 'qa']);
    expect(p.code).to.equal(2);
    expect(p.stderr).to.match(/^error: unknown profile 'qa'/);
    const m = await script('up', ['--mode', 'podman']);
    expect(m.code).to.equal(2);
    expect(m.stderr).to.match(/^error: unknown mode 'podman'/);
  });

  it('down stops everything: no tracked process alive, no port of the stack listening, a restore’s scratch instance too', async () => {
    const tracked = trackedProcesses(runDir).map((t) => t.record!);
    // A scratch instance as make restore leaves one for the operator, under <run dir>/pgbackrest/restore.
    const scratch = path.join(runDir, 'pgbackrest', 'restore', 'restore-test', 'data');
    const scratchPort = await freePort();
    const asPostgres = {
      uid: lookupUser('postgres')!.uid,
      gid: lookupUser('postgres')!.gid,
      cwd: '/',
      encoding: 'utf8' as const,
    };
    mkdirSync(path.dirname(scratch), { recursive: true });
    chownSync(path.dirname(scratch), asPostgres.uid, asPostgres.gid);
    const initdb = spawnSync(findTool('initdb')!, ['-D', scratch, '-A', 'trust', '-U', 'postgres'], asPostgres);
    expect(initdb.status, initdb.stderr).to.equal(0);
    const started = spawnSync(
      findTool('pg_ctl')!,
      [
        '-D',
        scratch,
        '-l',
        `${scratch}.log`,
        '-w',
        '-o',
        `-p ${scratchPort} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${path.dirname(scratch)}`,
        'start',
      ],
      asPostgres,
    );
    expect(started.status, started.stderr).to.equal(0);
    const scratchPid = Number(readFileSync(path.join(scratch, 'postmaster.pid'), 'utf8').split('\n')[0]);

    const r = await script('down');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/scratch PostgreSQL pgbackrest\/restore\/restore-test\/data/);
    expect(r.stdout).to.match(/stopped 13 services and 1 scratch PostgreSQL instance/);
    expect(processRuns(scratchPid), 'the scratch instance is stopped').to.equal(false);
    expect(await isPortFree(scratchPort), 'scratch port').to.equal(true);
    expect(existsSync(scratch), 'its data is kept without --volumes').to.equal(true);
    for (const rec of tracked) expect(isSameProcessAlive(rec), rec.name).to.equal(false);
    expect(trackedProcesses(runDir)).to.deep.equal([]);
    for (const [k, p] of Object.entries(ports)) {
      if (['grafana', 's3'].includes(k)) continue;
      expect(await isPortFree(p), `${k} port ${p}`).to.equal(true);
    }
    expect(await isPortFree(ports.api + 1), 'api-2 port').to.equal(true);
    expect(await isPortFree(ports.apiMetrics + 1), 'api-2 metrics port').to.equal(true);
    const again = await script('status', ['--json']);
    const rows = (JSON.parse(again.stdout) as { services: { state: string }[] }).services;
    expectEvery(rows, (s) => s.state === 'stopped', 'services after down');
  });
  it('down --volumes deletes the database with its backups, and up then starts afresh and archives again', async function () {
    this.timeout(240_000);
    const up = await script('up', ['--mode', 'native']);
    expect(up.code, up.stderr).to.equal(0);
    const backup = await script('backup', ['--type', 'full']);
    expect(backup.code, backup.stderr).to.equal(0);
    const down = await script('down', ['--volumes', '--yes']);
    expect(down.code, down.stderr).to.equal(0);
    expect(down.stdout).to.include('backups and dumps (pgbackrest/, backups/)');
    for (const gone of ['postgres', 'pgbackrest', 'backups', 'metrics'])
      expect(existsSync(path.join(runDir, gone)), `${gone} deleted`).to.equal(false);
    // A stanza left from the deleted cluster made this up fail (pgBackRest [028]).
    const again = await script('up', ['--mode', 'native']);
    expect(again.code, again.stderr).to.equal(0);
    const second = await script('backup', ['--type', 'full']);
    expect(second.code, second.stderr).to.equal(0);
  });
});
