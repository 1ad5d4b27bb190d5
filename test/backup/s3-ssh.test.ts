// make backup / backup-status / restore on the database-host path (database.kind ssh): a real sshd
// on loopback in front of a real PostgreSQL 15 (started by the runner, as on a DB host), which
// archives with pgBackRest into an encrypted S3 repository (s3rver over TLS standing in for R2,
// region auto, path style). Metrics go to a real Pushgateway. The SSH path is run, not assumed.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { selfSignedCertificate } from '../../scripts/lib/edge/check.js';
import { freePort, Stack, type PostgresInfo } from '../../scripts/lib/services/index.js';
import { lookupUser } from '../../scripts/lib/services/process.js';
import type { SshdInfo } from '../../scripts/lib/services/sshd.js';
import { requireTool } from '../../scripts/lib/tools.js';
import type { ScriptResult } from '../support/run-script.js';
import { runner, sql, startArchivingPostgres, writeDbEnvironment, writeLocalSecrets } from './support.js';

const CIPHER = 's3-test-cipher-Hk3#pX81';

describe('backup: pgBackRest on a database host over SSH (S3 repository over TLS, encrypted)', function () {
  this.timeout(300_000);
  let tmp: string;
  let stack: Stack;
  let pg: PostgresInfo;
  let pushgateway: string;
  let run: ReturnType<typeof runner>;
  const outputs: string[] = [];
  const script = async (name: string, args: string[]): Promise<ScriptResult> => {
    const r = await run(name, ['--env=dbhost', ...args]);
    outputs.push(r.stdout, r.stderr);
    return r;
  };

  before(async function () {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-backup-s3-'));
    chmodSync(tmp, 0o755);
    const runDir = path.join(tmp, 'run');
    stack = new Stack({ runDir });
    const tls = await selfSignedCertificate(path.join(tmp, 'tls'), '127.0.0.1');
    const clientKey = path.join(tmp, 'client_ed25519');
    execFileSync(requireTool('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', '', '-C', 'backup-test', '-f', clientKey]);
    writeFileSync(path.join(tmp, 'authorized_keys'), readFileSync(`${clientKey}.pub`));
    const [s3, sshd, pgw] = await Promise.all([
      stack.start('s3', {
        options: { buckets: ['mytv-backups'], tls: { cert: tls.certificate, key: tls.certificateKey } },
      }),
      stack.start('sshd', { options: { authorizedKeysFile: path.join(tmp, 'authorized_keys') } }) as Promise<SshdInfo>,
      stack.start('pushgateway'),
    ]);
    pushgateway = pgw.url as string;
    writeFileSync(path.join(tmp, 'known_hosts'), `${sshd.knownHostsLine}\n`);

    // The "database host": its scratch and lock directories belong to postgres, as on a real one.
    const hostDir = path.join(tmp, 'host');
    mkdirSync(hostDir);
    const postgresUser = lookupUser('postgres')!;
    chownSync(hostDir, postgresUser.uid, postgresUser.gid);
    const envDir = path.join(tmp, 'environments');
    const scratchPort = await freePort();
    const database = (pgInfo?: PostgresInfo): Record<string, unknown> => ({
      kind: 'ssh',
      ssh: {
        host: '127.0.0.1',
        port: sshd.port,
        user: sshd.user,
        keyFile: clientKey,
        knownHostsFile: path.join(tmp, 'known_hosts'),
      },
      host: {
        runAs: 'runuser -u postgres --',
        dataDir: pgInfo?.dataDir ?? '/unused',
        port: pgInfo?.port ?? 5432,
        socketDir: pgInfo?.socketDir ?? '/unused',
        pgbackrestConfig: path.join(runDir, 'pgbackrest', 'pgbackrest.conf'),
        scratchDir: path.join(hostDir, 'restore'),
        lockDir: path.join(hostDir, 'backup.lock'),
        scratchPort,
      },
      repository: {
        type: 's3',
        bucket: 'mytv-backups',
        endpoint: `127.0.0.1:${s3.port as number}`,
        region: 'auto',
        path: '/pgbackrest/test',
        uriStyle: 'path',
        verifyTls: false,
        cipher: 'aes-256-cbc',
      },
      metrics: { pushgatewayUrl: pushgateway, textfile: path.join(hostDir, 'metrics', 'pgbackrest.prom') },
    });
    // Provisioning of the host: pgBackRest's secrets file (conf.d, mode 600), then PostgreSQL archiving.
    const db = writeDbEnvironment(envDir, 'dbhost', database());
    await writeLocalSecrets(runDir, db, {
      BACKUP_REPO_KEY: 'S3RVER',
      BACKUP_REPO_KEY_SECRET: 'S3RVER',
      BACKUP_CIPHER_PASSWORD: CIPHER,
    });
    pg = await startArchivingPostgres(stack, db);
    writeDbEnvironment(envDir, 'dbhost', database(pg));
    await sql(pg, 'CREATE TABLE channels (id int PRIMARY KEY, name text NOT NULL)');
    await sql(pg, `INSERT INTO channels SELECT g, 'channel ' || g FROM generate_series(1, 20) g`);
    run = runner({ MYTV_ENVIRONMENTS_DIR: envDir, MYTV_RUN_DIR: runDir });
  });

  after(async function () {
    this.timeout(60_000);
    await stack?.stopAll();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('backs up over SSH into the S3 repository (full, then incremental) and pushes the metrics', async () => {
    const full = await script('backup', ['--type=full']);
    expect(full.code, full.stderr).to.equal(0);
    expect(full.stdout).to.match(/database\s+mytv on root@127\.0\.0\.1:\d+|database\s+mytv on \w+@127\.0\.0\.1:\d+/);
    await sql(pg, `INSERT INTO channels VALUES (21, 'channel 21')`);
    const incr = await script('backup', ['--type=incr']);
    expect(incr.code, incr.stderr).to.equal(0);
    expect(incr.stdout).to.match(/_\d{8}-\d{6}I of dbhost done \(incr\)/);
    const metrics = await (await fetch(`${pushgateway}/metrics`)).text();
    expect(metrics).to.match(
      /^pgbackrest_backup_last_success_timestamp_seconds\{[^}]*environment="dbhost"[^}]*type="incr"\} /m,
    );
    expect(readFileSync(path.join(tmp, 'host', 'metrics', 'pgbackrest.prom'), 'utf8')).to.match(
      /^pgbackrest_backups\{.*\} 2$/m,
    );
  });

  it('restores to a timestamp over SSH: the key table holds exactly the rows committed before it', async () => {
    await sql(pg, `INSERT INTO channels SELECT g, 'before ' || g FROM generate_series(100, 104) g`);
    await new Promise((r) => setTimeout(r, 1100));
    const target = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1100));
    await sql(pg, `INSERT INTO channels SELECT g, 'after ' || g FROM generate_series(200, 209) g`);
    const current = await sql(pg, 'SELECT pg_walfile_name(pg_current_wal_lsn())');
    await sql(pg, 'SELECT pg_switch_wal()');
    while ((await sql(pg, `SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver`)).slice(0, 24) < current)
      await new Promise((r) => setTimeout(r, 250));

    const r = await script('restore', [`--target-time=${target}`, '--drop', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const res = JSON.parse(r.stdout) as {
      verification: { rows: { table: string; restoredRows: number }[] };
      kept: boolean;
    };
    // 20 at the full backup + 1 + 5 before the target; the 10 after it are not there.
    expect(res.verification.rows.find((x) => x.table === 'channels')?.restoredRows).to.equal(26);
    expect(res.kept).to.equal(false);
  });

  it('reports WAL archiving stale and exits non-zero while the repository is down', async function () {
    this.timeout(600_000);
    const healthy = await script('backup-status', ['--json']);
    expect(healthy.code, healthy.stderr).to.equal(0);
    await stack.stop('s3');
    try {
      await sql(pg, `INSERT INTO channels VALUES (300, 'while the repository is down')`);
      await sql(pg, 'SELECT pg_switch_wal()');
      let r: ScriptResult;
      const deadline = Date.now() + 480_000; // a loop that cannot outlive the test
      for (;;) {
        r = await script('backup-status', ['--max-wal-age=1', '--json']);
        if (Date.now() > deadline) break;
        if (r.code !== 0 && /WAL archiving is stale/.test(r.stderr)) break;
        await new Promise((res) => setTimeout(res, 1000));
      }
      expect(r.code).to.equal(1);
      const report = JSON.parse(r.stdout) as { status: string; walArchive: { pendingSegments: number } };
      expect(report.status).to.equal('failing');
      expect(report.walArchive.pendingSegments).to.be.greaterThan(0);
      expect(r.stderr).to.match(/the repository cannot be read/);
    } finally {
      await stack.start('s3');
    }
  });

  it('never prints the repository passphrase', () => {
    expect(outputs.join('\n')).to.not.include(CIPHER);
  });
});
