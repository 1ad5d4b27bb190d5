// `make up` with Docker: compose/compose.yaml with one profile, the repository's configs mounted,
// Nginx's config rendered for the compose network, pgBackRest's rendered from the environment's
// `database` block (PostgreSQL archives WAL from its first start; the container is recorded in
// state.json so make backup / restore / dr-drill run there). A failed health check stops the services this
// run started (volumes, i.e. data, are kept), as the native mode does.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { connectDbHost, databaseConfig } from '../db-host.js';
import { Compose, composeCommand, composeEnvFile, composeFile } from '../docker.js';
import { renderNginxConfig, writeNginxConfig } from '../edge/render.js';
import type { Environment } from '../environments.js';
import { UserError } from '../errors.js';
import type { ScriptContext } from '../main.js';
import { repoRoot } from '../paths.js';
import { ensureStanza } from '../pgbackrest.js';
import { registerSecret } from '../secrets.js';
import { waitForUrl } from '../wait.js';
import { migrateAndSeed, SEED_CHANNELS, type LocalStackMode } from './mode.js';
import { composePortEnv, localPorts, type LocalPorts, type Profile } from './plan.js';
import { renderComposePgbackrest, writeComposePgbackrest, type RenderedPgbackrest } from './compose-postgres.js';
import { writeState, type StackState } from './state.js';

/** How long the API may take to answer /health/ready once compose reports it healthy. */
const READY_TIMEOUT_MS = 60_000;

export class ComposeMode implements LocalStackMode {
  private readonly ports: LocalPorts;
  private readonly nginxConfDir: string;
  private readonly pgbackrestConfDir: string;
  private pgbackrest!: RenderedPgbackrest;
  private secrets: Record<string, string> = {};
  private compose!: Compose;
  /** Services running before this run (kept on roll back). */
  private runningBefore: string[] = [];

  constructor(
    private readonly ctx: ScriptContext,
    private readonly env: Environment,
    private readonly profile: Profile,
    private readonly runDir: string,
  ) {
    this.ports = localPorts(env);
    this.nginxConfDir = path.join(runDir, 'compose', 'nginx');
    this.pgbackrestConfDir = path.join(runDir, 'compose', 'pgbackrest');
  }

  async preflight(): Promise<string | undefined> {
    if (!existsSync(composeEnvFile)) {
      throw new UserError(`compose/.env is missing (the stack's secrets: database password, JWT secret …)`, {
        hint: 'cp compose/.env.example compose/.env and replace every CHANGE_ME (the file is git-ignored)',
      });
    }
    this.secrets = parseDotenv(readFileSync(composeEnvFile));
    for (const [k, v] of Object.entries(this.secrets)) if (/PASSWORD|SECRET|KEY/.test(k)) registerSecret(v);
    // Rendered now so a missing repository secret (BACKUP_CIPHER_PASSWORD …) stops before any change.
    const db = databaseConfig(this.env);
    this.pgbackrest = renderComposePgbackrest(db, this.env.vars, this.env.name);
    this.compose = new Compose(this.ctx.exec, await composeCommand(), this.profile, {
      ...composePortEnv(this.ports),
      MYTV_NGINX_CONF_DIR: this.nginxConfDir,
      MYTV_PGBACKREST_CONF_DIR: this.pgbackrestConfDir,
      MYTV_PGBACKREST_STANZA: db.stanza,
    });
    this.runningBefore = await this.compose.runningServices();
    return undefined;
  }

  printPlan(): void {
    const { out } = this.ctx;
    out.heading('Plan:');
    out.line(`  docker compose --profile ${this.profile} up -d --wait   (${path.relative(repoRoot, composeFile)})`);
    out.line(
      `  PostgreSQL archives WAL with pgBackRest (stanza ${databaseConfig(this.env).stanza}, volume pgbackrest)`,
    );
    out.line(`  then: migrate the database and seed ${SEED_CHANNELS} channels`);
  }

  async dryRun(): Promise<string> {
    await this.compose.run(['config', '--quiet'], { readOnly: true });
    return 'dry run: nothing started (compose config is valid)';
  }

  async act(): Promise<void> {
    const { out } = this.ctx;
    const state: StackState = {
      mode: 'docker',
      profile: this.profile,
      environment: this.env.name,
      startedAt: new Date().toISOString(),
    };
    writeState(this.runDir, state);
    writeNginxConfig(this.renderNginx(), this.nginxConfDir);
    writeComposePgbackrest(this.pgbackrestConfDir, this.pgbackrest);
    await out.task(`docker compose --profile ${this.profile} up --wait`, () =>
      this.compose.run(['up', '-d', '--wait'], { timeoutMs: 600_000 }),
    );
    await out.task('pgBackRest stanza (WAL archiving)', async (update) => {
      const ps = await this.compose.run(['ps', '-q', 'postgres'], { readOnly: true });
      const id = ps.stdout.trim().split('\n')[0];
      const inspected = await this.ctx.exec.run('docker', ['inspect', '--format', '{{.Name}}', id], { readOnly: true });
      writeState(this.runDir, {
        ...state,
        postgres: { engine: 'docker', name: inspected.stdout.trim().replace(/^\//, '') },
      });
      // Created at first init; idempotent here, so a data volume from before archiving gets it too.
      const host = await connectDbHost(this.env, { runDir: this.runDir });
      await ensureStanza(host, databaseConfig(this.env).stanza);
      update(`stanza ${databaseConfig(this.env).stanza} in ${host.label}`);
    });
    const note = await out.task('migrate and seed the database', async (update) => {
      if (this.profile === 'prod') {
        // prod publishes no database port: migrate from inside, as the deploy job does; no seed data.
        await this.compose.run(['exec', '-T', 'api-1', 'node', 'dist/migrate.js']);
        update('migrated (prod profile: not seeded)');
        return undefined;
      }
      const pw = this.secrets.POSTGRES_PASSWORD ?? '';
      const url = `postgres://mytv:${encodeURIComponent(pw)}@127.0.0.1:${this.ports.postgres}/mytv`;
      registerSecret(url);
      return migrateAndSeed(url, update);
    });
    if (note) out.line(note);
  }

  async verify(): Promise<void> {
    const ready = `http://127.0.0.1:${this.ports.api}/health/ready`;
    if (!(await waitForUrl(ready, { timeoutMs: READY_TIMEOUT_MS, intervalMs: 500 }))) {
      throw new UserError(`the API is not ready: ${ready} did not answer 200 within ${READY_TIMEOUT_MS / 1000}s`, {
        hint: `see its logs: docker compose -p mytv logs ${this.profile === 'dev' ? 'api' : 'api-1'}`,
      });
    }
  }

  async rollBack(): Promise<void> {
    const started = (await this.compose.runningServices().catch(() => [])).filter(
      (s) => !this.runningBefore.includes(s),
    );
    if (started.length === 0) return;
    this.ctx.out.warn(`stopping what this run started: ${started.join(', ')} (volumes kept)`);
    await this.compose.run(['stop', ...started]).catch(() => undefined);
  }

  summary(): string {
    return `compose profile ${this.profile}`;
  }

  report(): void {
    const { out, flags } = this.ctx;
    const p = this.ports;
    const rows = [
      { what: 'API through Nginx', url: `http://127.0.0.1:${p.nginx}/v2/channels` },
      { what: 'API direct', url: `http://127.0.0.1:${p.api}/v2/channels` },
      { what: 'Prometheus', url: `http://127.0.0.1:${p.prometheus}` },
      { what: 'Alertmanager', url: `http://127.0.0.1:${p.alertmanager}` },
      { what: 'Grafana', url: `http://127.0.0.1:${p.grafana}` },
    ];
    if (this.profile === 'dev') rows.splice(0, 1);
    if (flags.json) out.data({ mode: 'docker', profile: this.profile, urls: rows });
    else out.table(rows);
  }

  /** The repository's nginx/ rendered for the compose network: upstreams are the replicas' service names, logs go to the container's stdout/stderr. */
  private renderNginx(): ReturnType<typeof renderNginxConfig> {
    return renderNginxConfig(this.env, {
      site: 'local',
      upstreams: ['api-1:3000', 'api-2:3000'],
      realIpFrom: ['172.16.0.0/12', '10.0.0.0/8', '127.0.0.1/32'],
      originLock: false,
      authenticatedOriginPulls: false,
      listen: { address: '0.0.0.0', http: 8080, status: 8081, statusAddress: '0.0.0.0' },
      runtime: {
        user: undefined,
        workerProcesses: 2,
        pidFile: '/tmp/nginx.pid',
        errorLog: '/dev/stderr',
        accessLog: '/dev/stdout',
        tempDir: '/tmp/nginx',
        cacheDir: '/var/cache/nginx/mytv', // compose's tmpfs
        maintenanceFlag: '/tmp/maintenance',
      },
      releaseId: 'compose',
    });
  }
}
