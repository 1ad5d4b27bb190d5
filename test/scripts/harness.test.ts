import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../scripts/lib/errors.js';
import { repoRoot } from '../../scripts/lib/paths.js';
import {
  Stack,
  listeningPorts,
  startServices,
  type PostgresInfo,
  type RedisInfo,
  trackedProcesses,
} from '../../scripts/lib/services/index.js';
import { lookupUser, processStartTime, stopProcess, runOnce } from '../../scripts/lib/services/process.js';
import { unsearchableAncestor } from '../../scripts/lib/services/runner.js';
import { requireTool } from '../../scripts/lib/tools.js';
import { expectEvery } from '../support/assertions.js';

interface Report {
  runDir: string;
  ports: number[];
  pids: number[];
}

function alive(pid: number): boolean {
  return processStartTime(pid) !== undefined && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
}

function expectGone(r: Report): void {
  const listening = listeningPorts();
  for (const port of r.ports) expect(listening.has(port), `port ${port} still listening`).to.equal(false);
  for (const pid of r.pids) expect(alive(pid), `process ${pid} still running`).to.equal(false);
  expect(existsSync(r.runDir), `run dir ${r.runDir} left behind`).to.equal(false);
}

function psql(pg: PostgresInfo, sql: string): Promise<{ stdout: string }> {
  return runOnce(
    requireTool('psql'),
    ['-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', pg.database, '-tAc', sql],
    {
      env: { PGPASSWORD: pg.password },
    },
  );
}

/** A raw RESP exchange, so the test does not depend on a Redis client library. */
function redis(info: RedisInfo, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(info.port, info.host);
    let buf = '';
    sock.on('error', reject);
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.endsWith('\r\n') && !/^\$\d+\r\n$/.test(buf)) {
        sock.end();
        resolve(buf);
      }
    });
    sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  });
}

/**
 * Runs a fixture script as a child process with a TMPDIR of its own, so every run directory its
 * services use is known. Afterwards — also when the test fails or the child hangs (killed after
 * `timeoutMs`) — the child is killed and every service tracked under that TMPDIR is stopped.
 */
async function withFixture(
  command: string,
  args: string[],
  body: (
    fixture: {
      env: NodeJS.ProcessEnv;
      start(stdout: 'ignore' | 'pipe'): { process: ChildProcess; closed: Promise<number | null> };
    },
    tmp: string,
  ) => Promise<void>,
  timeoutMs = 120_000,
): Promise<void> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-fixture-'));
  chmodSync(tmp, 0o755); // PostgreSQL runs as its own user and must reach the run directories
  let child: ChildProcess | undefined;
  const fixture = {
    env: { ...process.env, TMPDIR: tmp } as NodeJS.ProcessEnv,
    start(stdout: 'ignore' | 'pipe') {
      const proc = spawn(command, args, { cwd: repoRoot, env: fixture.env, stdio: ['ignore', stdout, 'inherit'] });
      child = proc;
      const closed = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
      return { process: proc, closed };
    },
  };
  const timer = setTimeout(() => child?.kill('SIGKILL'), timeoutMs);
  try {
    await body(fixture, tmp);
  } finally {
    clearTimeout(timer);
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const dir of readdirSync(tmp)) {
      for (const t of trackedProcesses(path.join(tmp, dir))) {
        if (!t.alive || !t.record) continue;
        try {
          process.kill(-t.record.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    rmSync(tmp, { recursive: true, force: true });
  }
}

describe('service harness (real PostgreSQL 15 and Redis 7 on loopback)', function () {
  this.timeout(120_000);

  describe('a started stack', () => {
    let stack: Stack;
    let report: Report;
    before(async () => {
      stack = await startServices(['postgres', 'redis']);
    });
    after(async () => {
      await stack?.stopAll();
    });

    it('hands back connection settings on free loopback ports', () => {
      const pg = stack.info<PostgresInfo>('postgres');
      const rd = stack.info<RedisInfo>('redis');
      expect(pg.host).to.equal('127.0.0.1');
      expect(pg.port).to.not.equal(5432);
      expect(pg.url).to.equal(`postgres://postgres:${encodeURIComponent(pg.password)}@127.0.0.1:${pg.port}/mytv`);
      expect(rd.url).to.equal(`redis://127.0.0.1:${rd.port}`);
      expect(listeningPorts().has(pg.port)).to.equal(true);
    });

    it('runs a query against PostgreSQL with the password it handed back', async () => {
      const pg = stack.info<PostgresInfo>('postgres');
      await psql(pg, 'CREATE TABLE harness_check (id int PRIMARY KEY, note text)');
      await psql(pg, "INSERT INTO harness_check VALUES (1, 'kept')");
      expect((await psql(pg, 'SELECT note FROM harness_check WHERE id = 1')).stdout.trim()).to.equal('kept');
      expect((await psql(pg, 'SHOW server_version_num')).stdout.trim()).to.match(/^15\d{4}$/);
    });

    it('refuses a wrong password (the cluster is not open to anyone)', async () => {
      const pg = stack.info<PostgresInfo>('postgres');
      let failed = false;
      await psql({ ...pg, password: 'wrong-password' }, 'SELECT 1').catch(() => (failed = true));
      expect(failed).to.equal(true);
    });

    it('runs a command against Redis', async () => {
      const rd = stack.info<RedisInfo>('redis');
      expect(await redis(rd, 'SET', 'harness', 'ok')).to.equal('+OK\r\n');
      expect(await redis(rd, 'GET', 'harness')).to.equal('$2\r\nok\r\n');
    });

    it('stops one service and starts it again on the same port with the same data', async () => {
      const pg = stack.info<PostgresInfo>('postgres');
      const oldPid = stack.pid('postgres')!;
      await stack.stop('postgres');
      expect(alive(oldPid)).to.equal(false);
      expect(listeningPorts().has(pg.port)).to.equal(false);
      await stack.start('postgres');
      expect(stack.info<PostgresInfo>('postgres').port).to.equal(pg.port);
      expect((await psql(pg, 'SELECT note FROM harness_check WHERE id = 1')).stdout.trim()).to.equal('kept');
    });

    it('stopAll leaves no process, no listening port and no run directory', async () => {
      report = {
        runDir: stack.runDir,
        ports: [stack.info('postgres').port as number, stack.info('redis').port as number],
        pids: [stack.pid('postgres')!, stack.pid('redis')!],
      };
      await stack.stopAll();
      expectGone(report);
    });
  });

  it('cleans up after a failing test (child mocha run)', async () => {
    await withFixture(
      path.join(repoRoot, 'node_modules', '.bin', 'mocha'),
      // --no-config: the fixture alone, never the repository's default spec (which includes this file).
      [
        '--no-config',
        '--node-option',
        'import=@swc-node/register/esm-register',
        '--extension',
        'ts',
        '--timeout',
        '60000',
        '--reporter',
        'dot',
        'test/fixtures/harness-failing.fixture.ts',
      ],
      async (fixture, tmp) => {
        const reportFile = path.join(tmp, 'report.json');
        fixture.env.HARNESS_REPORT = reportFile;
        const code = await fixture.start('ignore').closed;
        expect(code, 'the fixture suite must fail').to.equal(1);
        const report = JSON.parse(readFileSync(reportFile, 'utf8')) as Report;
        expectEvery(report.pids, (p) => p > 0, 'service PIDs');
        expectGone(report);
      },
    );
  });

  it('cleans up when the process is interrupted (SIGINT)', async () => {
    await withFixture(
      process.execPath,
      ['--import', '@swc-node/register/esm-register', 'test/fixtures/harness-interrupt.ts'],
      async (fixture) => {
        const run = fixture.start('pipe');
        const report = await new Promise<Report>((resolve, reject) => {
          let out = '';
          run.process.stdout!.on('data', (d: Buffer) => {
            out += d.toString();
            if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]) as Report);
          });
          void run.closed.then((c) => reject(new Error(`fixture exited early (${c})`)));
        });
        expectEvery(report.pids, alive, 'service processes alive');
        run.process.kill('SIGINT');
        expect(await run.closed).to.equal(130);
        expectGone(report);
      },
    );
  });

  it('never signals a process that reused a PID from a stale PID file', async () => {
    // Our own PID with another start time: what a PID file left by a crash looks like after reuse.
    const stale = {
      pid: process.pid,
      startTime: processStartTime(process.pid)! + 1,
      command: 'postgres',
      name: 'postgres',
    };
    expect(await stopProcess(stale, 'SIGKILL', 100)).to.equal('not-running');
    expect(alive(process.pid)).to.equal(true);
  });

  it('names the port and its owner when a fixed port is taken', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const stack = new Stack({ ports: { redis: port } });
    try {
      const err = await stack.start('redis').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(UserError);
      expect((err as UserError).message).to.equal(
        `port ${port} for redis is already in use by node (pid ${process.pid})`,
      );
    } finally {
      server.close();
      await stack.stopAll();
    }
  });

  it('reports a service that dies before it is ready, with its last log lines', async () => {
    const stack = new Stack();
    try {
      const err = await stack
        .start('broken', {
          spec: {
            kind: 'broken',
            tools: [],
            command: () => ({ bin: 'sh', args: ['-c', 'echo "config line 3: unknown directive" >&2; exit 3'] }),
            ready: () => Promise.resolve(false),
            info: () => ({}),
          },
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).to.be.instanceOf(UserError);
      expect((err as UserError).message)
        .to.contain('broken exited (3)')
        .and.contain('config line 3: unknown directive');
    } finally {
      await stack.stopAll();
    }
  });
  it('a run directory its unprivileged user cannot reach is refused naming the directory to open, before anything starts', async function () {
    if (process.getuid?.() !== 0) this.skip(); // only root hands PostgreSQL to the postgres user
    const closed = mkdtempSync(path.join(os.tmpdir(), 'mytv-closed-')); // mode 0700, as mktemp -d makes it
    const stack = new Stack({ runDir: path.join(closed, 'repo', '.run') });
    try {
      const err = await stack.start('postgres').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(UserError);
      expect((err as UserError).message).to.match(
        new RegExp(
          `^postgres runs as postgres, who cannot reach \\S+: ${closed} is not searchable by other users \\(mode 0700\\)$`,
        ),
      );
      expect((err as UserError).hint).to.equal(
        `chmod o+x ${closed}, or put the run directory where postgres can reach it (MYTV_RUN_DIR=/var/tmp/mytv-run)`,
      );
      expect(stack.status().filter((x) => x.state === 'running')).to.deep.equal([]);
      chmodSync(closed, 0o711);
      expect(unsearchableAncestor(path.join(closed, 'repo', '.run', 'postgres'), lookupUser('postgres')!)).to.equal(
        undefined,
      );
    } finally {
      await stack.stopAll();
      rmSync(closed, { recursive: true, force: true });
    }
  });
});
