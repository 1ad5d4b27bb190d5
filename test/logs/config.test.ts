// The logging configs as far as they can be checked without Loki, Alloy or Grafana (those run only
// in GitHub Actions): Loki's schema/retention keys, LogQL inside the configs parsed by Loki's
// grammar, Alloy's health-check drop expressions against schema lines, the derived field's link.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse } from 'yaml';
import { environmentSchema, hoursOf, listEnvironments, loadEnvironment } from '../../scripts/lib/environments.js';
import { COMMITTED } from '../../scripts/lib/generated/index.js';
import { lokiEnvPath } from '../../scripts/lib/generated/loki-env.js';
import { checkLogQL } from '../../scripts/lib/logs/query.js';

/**
 * Loki's -config.expand-env (drone/envsubst): ${VAR} -> its value or '', ${VAR:-default} -> its
 * value or default. `vars` stands for the process environment Loki gets.
 */
const expandEnv = (text: string, vars: Record<string, string> = {}): string =>
  text.replace(/\$\{([A-Z_]+)(?::-([^}]*))?\}/g, (_, name: string, dflt?: string) => vars[name] ?? dflt ?? '');

/** KEY=VALUE lines of a generated loki/env/<env>.env (comments and blank lines skipped). */
const readEnvFile = (file: string): Record<string, string> =>
  Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );

interface LokiRetention {
  limits_config: { retention_period: string; retention_stream: { selector: string; period: string }[] };
}

/** The retention Loki ends up with when it reads loki/loki.yaml with these variables. */
function effectiveRetention(vars: Record<string, string>): { default: string; audit: string | undefined } {
  const cfg = parse(expandEnv(readFileSync('loki/loki.yaml', 'utf8'), vars)) as LokiRetention;
  const audit = cfg.limits_config.retention_stream.find((r) => r.selector === '{log_type="audit"}');
  return { default: cfg.limits_config.retention_period, audit: audit?.period };
}

describe('logs: the Loki, Alloy and Grafana configs', function () {
  it('Loki: schema v13 on tsdb, compactor retention on, audit streams kept longer than the rest', function () {
    const cfg = parse(expandEnv(readFileSync('loki/loki.yaml', 'utf8'), readEnvFile('loki/env/dev.env'))) as {
      schema_config: { configs: { schema: string; store: string; object_store: string }[] };
      limits_config: { retention_period: string; retention_stream: { selector: string; period: string }[] };
      compactor: { retention_enabled: boolean; delete_request_store: string };
    };
    expect(cfg.schema_config.configs.at(-1)).to.include({ schema: 'v13', store: 'tsdb', object_store: 'filesystem' });
    expect(cfg.compactor).to.include({ retention_enabled: true, delete_request_store: 'filesystem' });
    const hours = (d: string) => Number(/^(\d+)h$/.exec(d)![1]);
    const audit = cfg.limits_config.retention_stream.find((r) => r.selector.includes('audit'))!;
    checkLogQL(audit.selector);
    expect(hours(audit.period)).to.be.greaterThan(hours(cfg.limits_config.retention_period));
    expect(hours(cfg.limits_config.retention_period)).to.equal(7 * 24);
    // Every ${VAR} has a default; only the retention variables' default is no duration: their values
    // come from loki/env/<env>.env, nowhere else. Unset, Loki refuses to start rather than keep logs
    // for a period nobody chose. Prometheus' model.ParseDuration grammar (prometheus/common model/time.go):
    const promDuration = /^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$/;
    expect(readFileSync('loki/loki.yaml', 'utf8')).to.not.match(/\$\{[A-Z_]+\}/);
    const unset = effectiveRetention({});
    expect(promDuration.test(unset.default), unset.default).to.equal(false);
    expect(promDuration.test(unset.audit!), unset.audit).to.equal(false);
    expect(promDuration.test(effectiveRetention(readEnvFile('loki/env/dev.env')).default)).to.equal(true);
  });

  it('Loki retention per environment: what loki.yaml yields with loki/env/<env>.env equals environments/*.yaml', function () {
    const envs = listEnvironments().map((n) => loadEnvironment(n, COMMITTED));
    // Every environment that ships logs to a Loki (logs.loki), and the compose stack (dev), has a retention.
    const withRetention = envs.filter((e) => e.logs?.retention);
    expect(withRetention.map((e) => e.name).sort()).to.include.members([
      'dev',
      ...envs.filter((e) => e.logs?.loki).map((e) => e.name),
    ]);
    for (const env of withRetention) {
      const got = effectiveRetention(readEnvFile(lokiEnvPath(env.name)));
      expect(got, env.name).to.deep.equal(env.logs!.retention);
    }
    // The issue's figures: staging 7 days, production 30 days, audit streams kept longer.
    const byName = (n: string) => envs.find((e) => e.name === n)!.logs!.retention!;
    expect(byName('staging').default).to.equal('168h');
    expect(byName('prod').default).to.equal('720h');
    for (const env of withRetention) {
      expect(hoursOf(env.logs!.retention!.audit), env.name).to.be.greaterThan(hoursOf(env.logs!.retention!.default));
    }
    // The comparison fails when a generated file and its environment differ (a stale env file).
    const stale = { ...readEnvFile(lokiEnvPath('prod')), LOKI_RETENTION_PERIOD: '168h' };
    expect(effectiveRetention(stale)).to.not.deep.equal(byName('prod'));
  });

  it('Loki retention in environments/*.yaml: bad periods are one-line schema errors', function () {
    const base = { default: '168h', audit: '2160h' };
    const check = (r: object) => environmentSchema.shape.logs.unwrap().shape.retention.unwrap().safeParse(r);
    expect(check(base).success).to.equal(true);
    for (const bad of [
      { ...base, default: '7d' },
      { ...base, default: '100h' },
      { ...base, audit: '24h' },
    ]) {
      const r = check(bad);
      expect(r.success, JSON.stringify(bad)).to.equal(false);
      expect(r.error!.issues[0].message).to.match(/whole hours|multiple of 24h|at least/);
    }
  });

  it('Alloy: succeeded health checks and scrapes are dropped, failing ones and requests kept', function () {
    const pipeline = readFileSync('loki/alloy/pipeline.alloy', 'utf8');
    const drops = [...pipeline.matchAll(/stage\.drop \{\s*expression\s*=\s*"((?:[^"\\]|\\.)*)"/g)].map(
      (m) => new RegExp(JSON.parse(`"${m[1]}"`) as string),
    );
    expect(drops).to.have.length(2);
    const line = (path: string, status: number, order: 'path-first' | 'status-first') =>
      order === 'path-first'
        ? `{"timestamp":"2026-11-29T10:00:00.000Z","level":"info","msg":"request","log_type":"access","method":"GET","path":"${path}","status":${status},"duration_ms":1}`
        : `{"timestamp":"2026-11-29T10:00:00.000Z","level":"info","msg":"request","log_type":"access","method":"GET","status":${status},"path":"${path}","duration_ms":1}`;
    const dropped = (l: string) => drops.some((d) => d.test(l));
    for (const order of ['path-first', 'status-first'] as const) {
      expect(dropped(line('/health/ready', 200, order)), order).to.equal(true);
      expect(dropped(line('/metrics', 200, order)), order).to.equal(true);
      expect(dropped(line('/health/ready', 503, order)), order).to.equal(false);
      expect(dropped(line('/v2/channels', 200, order)), order).to.equal(false);
      expect(dropped(line('/health/ready-not', 200, order)), order).to.equal(false);
    }
    // The labels promoted are the low-cardinality ones only; request_id goes to structured metadata.
    expect(/stage\.labels \{\s*values = \{ level = "", log_type = "" \}/.test(pipeline)).to.equal(true);
    expect(pipeline).to.match(/stage\.structured_metadata \{\s*values = \{ request_id = "" \}/);
    for (const f of ['docker', 'kubernetes', 'edge']) {
      const text = readFileSync(`loki/alloy/${f}.alloy`, 'utf8');
      expect(text, f).to.include('import.file "mytv"').and.include('mytv.mytv_pipeline').and.include('mytv.mytv_loki');
    }
  });

  it('Grafana: the request_id derived field finds the id in a schema line and links to a valid query', function () {
    const ds = parse(readFileSync('grafana/provisioning/datasources/datasources.yaml', 'utf8')) as {
      datasources: {
        uid: string;
        type: string;
        jsonData?: { derivedFields?: { name: string; matcherRegex: string; url: string; datasourceUid: string }[] };
      }[];
    };
    const loki = ds.datasources.find((d) => d.type === 'loki')!;
    const field = loki.jsonData!.derivedFields!.find((f) => f.name === 'request_id')!;
    expect(field.datasourceUid).to.equal(loki.uid);
    const id = new RegExp(field.matcherRegex).exec('{"timestamp":"x","request_id":"edge-1:ab.c","status":200}')?.[1];
    expect(id).to.equal('edge-1:ab.c');
    // $$ is Grafana provisioning's escape for a literal $.
    const query = field.url.replaceAll('$$', '$').replace('${__value.raw}', id!);
    checkLogQL(query);
    expect(query).to.equal('{service=~".+"} | request_id="edge-1:ab.c"');
  });
});
