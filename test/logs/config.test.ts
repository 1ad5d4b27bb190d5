// The logging configs as far as they can be checked without Loki, Alloy or Grafana (those run only
// in GitHub Actions): Loki's schema/retention keys, LogQL inside the configs parsed by Loki's
// grammar, Alloy's health-check drop expressions against schema lines, the derived field's link.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse } from 'yaml';
import { checkLogQL } from '../../scripts/lib/logs/query.js';

/** Loki's -config.expand-env: ${VAR:-default} -> default (what compose gets without overrides). */
const expandDefaults = (text: string): string => text.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

describe('logs: the Loki, Alloy and Grafana configs', function () {
  it('Loki: schema v13 on tsdb, compactor retention on, audit streams kept longer than the rest', function () {
    const cfg = parse(expandDefaults(readFileSync('loki/loki.yaml', 'utf8'))) as {
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
    // Every ${VAR} has a default, so the compose stack starts without extra variables.
    expect(readFileSync('loki/loki.yaml', 'utf8')).to.not.match(/\$\{[A-Z_]+\}/);
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
