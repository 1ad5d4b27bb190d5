// terraform/ checked without terraform (it cannot be installed here): every file parses as HCL,
// the generated tfvars say what the environment files and the rendered Nginx config say, the
// structure the issue asks for is there, and the rule expressions match what they must (evaluated
// by test/support/cf-expression.ts, not compared as text). fmt/validate/plan/tflint run for real
// in the GitHub Actions workflow (terraform/README.md).
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseHcl } from '../../scripts/lib/infra/hcl.js';
import {
  allTfVars,
  backendConfigPath,
  committedEnvironment,
  managedEnvironmentNames,
  tfvarsPath,
} from '../../scripts/lib/infra/vars.js';
import { renderNginxConfig } from '../../scripts/lib/edge/render.js';
import { fromRoot } from '../../scripts/lib/paths.js';
import { evaluate, interpolate, type CfRequest } from '../support/cf-expression.js';

// hcl2json's output is untyped JSON whose shape is exactly what these tests assert.
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument */
type Hcl = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const tfDir = fromRoot('terraform');
const tfFiles = readdirSync(tfDir).filter((f) => f.endsWith('.tf'));

async function parseFile(rel: string): Promise<Hcl> {
  return parseHcl(rel, readFileSync(path.join(tfDir, rel), 'utf8'));
}

/** Every .tf file merged: resources by type and name, locals, variables … */
async function config(): Promise<{
  resources: Record<string, Record<string, Hcl>>;
  locals: Record<string, string>;
  all: Hcl[];
}> {
  const all = await Promise.all(tfFiles.map(parseFile));
  const resources: Record<string, Record<string, Hcl>> = {};
  const locals: Record<string, string> = {};
  for (const f of all) {
    for (const [type, byName] of Object.entries((f.resource ?? {}) as Record<string, Record<string, Hcl[]>>))
      for (const [name, blocks] of Object.entries(byName)) (resources[type] ??= {})[name] = blocks[0];
    for (const l of (f.locals ?? []) as Record<string, string>[]) Object.assign(locals, l);
  }
  return { resources, locals, all };
}

/** The /metrics spellings test/nginx/edge.test.ts sends to the edge (read from that file). */
function edgeMetricsSpellings(): string[] {
  const text = readFileSync(fromRoot('test/nginx/edge.test.ts'), 'utf8');
  const m = /for \(const p of (\[[^\]]*'\/metrics'[^\]]*\])/.exec(text);
  if (!m) throw new Error('test/nginx/edge.test.ts no longer lists its /metrics spellings in a for…of loop');
  return [...m[1].matchAll(/'([^']*)'/g)].map((x) => x[1]);
}

const request = (o: Partial<CfRequest>): CfRequest => ({
  host: 'api.mytelevision.app',
  method: 'GET',
  path: '/v2/channels',
  headers: {},
  ip: '203.0.113.10',
  ...o,
});

describe('terraform/: parses, matches the environments, and has what the zone needs', () => {
  it('every .tf file and every generated tfvars/backend file parses as HCL; a broken file does not', async () => {
    expect(tfFiles).to.include.members([
      'versions.tf',
      'variables.tf',
      'zone.tf',
      'dns.tf',
      'certificates.tf',
      'rules.tf',
      'r2.tf',
    ]);
    for (const f of tfFiles) expect(await parseFile(f), f).to.be.an('object');
    for (const env of managedEnvironmentNames()) {
      await parseFile(path.relative('terraform', tfvarsPath(env)));
      await parseFile(path.relative('terraform', backendConfigPath(env)));
    }
    let failed = false;
    try {
      await parseHcl('broken.tf', 'resource "cloudflare_dns_record" "x" {\n  name = \n}\n');
    } catch {
      failed = true;
    }
    expect(failed, 'the HCL parser accepts a broken file').to.equal(true);
  });

  it('staging and prod are managed; the generated tfvars equal what their environment files and Nginx config say', async () => {
    expect(managedEnvironmentNames()).to.include.members(['staging', 'prod']);
    const vars = allTfVars();
    for (const name of managedEnvironmentNames()) {
      const env = committedEnvironment(name);
      const parsed = await parseFile(path.relative('terraform', tfvarsPath(name)));
      expect(parsed, tfvarsPath(name)).to.deep.equal(JSON.parse(JSON.stringify(vars.get(name))));
      // Checked against the sources directly, not only against the generator.
      expect(parsed.hostname).to.equal(env.nginx!.serverName);
      expect(parsed.origin_address).to.equal(env.cloudflare!.originAddress);
      expect(parsed.zone_name).to.equal(env.cloudflare!.zone);
      expect(parsed.backups_bucket).to.equal(env.cloudflare!.r2.backupsBucket);
      expect(parsed.backup_retention_days).to.equal(env.cloudflare!.r2.backupRetentionDays);
      const backend = await parseFile(path.relative('terraform', backendConfigPath(name)));
      expect(backend.key).to.equal(`${name}/terraform.tfstate`);
      expect(backend.bucket).to.equal(env.cloudflare!.stateBucket);
    }
  });

  it('the zone owner carries rate limits for every host in the zone, each looser than what Nginx lets through', async () => {
    const prod = await parseFile(path.relative('terraform', tfvarsPath('prod')));
    expect(prod.manage_zone).to.equal(true);
    const hosts = prod.zone_hosts as Hcl[];
    expect(hosts.map((h) => h.environment).sort()).to.deep.equal(['prod', 'staging']);
    for (const h of hosts) {
      const env = committedEnvironment(h.environment as string);
      const rl = env.nginx!.rateLimit;
      // What one client may send Nginx in the window (rate × period + burst), from the environment file.
      expect(h.rate_limit.requests_per_period, h.hostname).to.be.greaterThan(
        rl.perSecond * h.rate_limit.period + rl.burst,
      );
      expect(h.admin_write_rate_limit.requests_per_period, h.hostname).to.be.greaterThan(
        (rl.adminWritesPerMinute / 60) * h.admin_write_rate_limit.period + rl.adminBurst,
      );
      // The zones named in the rendered config are the ones the rules mirror.
      const rendered = [...renderNginxConfig(env).files.values()].join('\n');
      expect(rendered).to.match(new RegExp(`rate=${rl.perSecond}r/s`));
      expect(h.admin_write_methods_exempt).to.deep.equal(['GET', 'HEAD', 'OPTIONS']);
    }
    const staging = await parseFile(path.relative('terraform', tfvarsPath('staging')));
    expect(staging.manage_zone, 'one owner per zone').to.equal(false);
  });

  it('provider pinned to the v5 major, terraform version pinned, S3 backend on R2 with path style and locking, no key in the config', async () => {
    const versions = await parseFile('versions.tf');
    const tf = versions.terraform[0] as Hcl;
    expect(tf.required_version).to.match(/^~> 1\.\d+\.\d+$/);
    const cloudflare = (tf.required_providers as Hcl[])[0].cloudflare as Hcl;
    expect(cloudflare.source).to.equal('cloudflare/cloudflare');
    expect(cloudflare.version).to.match(/^~> 5\.\d+$/);
    const backend = tf.backend.s3[0] as Hcl;
    expect(backend).to.include({ region: 'auto', use_path_style: true, use_lockfile: true, skip_s3_checksum: true });
    expect(backend, 'bucket/key come per environment from env/<env>.s3.tfbackend').to.not.have.any.keys(
      'key',
      'bucket',
    );
    expect(versions.provider.cloudflare[0], 'the token comes from the environment').to.deep.equal({});
  });

  it('DNS, TLS, Authenticated Origin Pulls, origin certificate, rulesets and buckets exist with the required settings', async () => {
    const { resources } = await config();
    expect(resources.cloudflare_dns_record.api).to.include({ proxied: true, ttl: 1, content: '${var.origin_address}' });
    const settings = Object.values(resources.cloudflare_zone_setting).map((s) => [s.setting_id, s.value]);
    expect(settings).to.deep.include.members([
      ['ssl', 'strict'],
      ['min_tls_version', '1.2'],
      ['tls_1_3', 'on'],
      ['always_use_https', 'on'],
    ]);
    // Per-hostname origin pulls with our own certificate, not Cloudflare's shared one.
    expect(resources.cloudflare_authenticated_origin_pulls_hostname_certificate.origin_pull.certificate).to.equal(
      '${tls_locally_signed_cert.origin_pull.cert_pem}',
    );
    const aop = resources.cloudflare_authenticated_origin_pulls.origin_pull.config[0] as Hcl;
    expect(aop).to.include({ enabled: true, hostname: '${var.hostname}' });
    expect(resources.cloudflare_origin_ca_certificate.origin.hostnames).to.deep.equal(['${var.hostname}']);
    const phases = Object.values(resources.cloudflare_ruleset).map((r) => r.phase);
    expect(phases).to.have.members([
      'http_request_firewall_managed',
      'http_request_firewall_custom',
      'http_ratelimit',
      'http_request_cache_settings',
    ]);
    const managedIds = (resources.cloudflare_ruleset.waf_managed.rules as Hcl[]).map((r) => r.action_parameters.id);
    expect(managedIds).to.include('efb7b8c949ac4650a09736fc376e9aee'); // Cloudflare Managed Ruleset
    expect(Object.keys(resources.cloudflare_r2_bucket)).to.have.members(['logos', 'backups']);
    const lifecycle = resources.cloudflare_r2_bucket_lifecycle.backups;
    expect(lifecycle.bucket_name).to.equal('${cloudflare_r2_bucket.backups.name}');
    expect(lifecycle.rules[0].delete_objects_transition.condition.max_age).to.equal(
      '${var.backup_retention_days * 86400}',
    );
  });

  it('rate limit and admin rules are built from zone_hosts with the generated numbers and the exempt methods', async () => {
    const { resources } = await config();
    const rl = resources.cloudflare_ruleset.rate_limits.rules as string;
    for (const ref of [
      'h.rate_limit.requests_per_period',
      'h.admin_write_rate_limit.requests_per_period',
      'h.admin_write_methods_exempt',
    ])
      expect(rl).to.include(ref);
    expect(rl).to.include('"ip.src"');
    const custom = resources.cloudflare_ruleset.waf_custom.rules as string;
    expect(custom).to.include('h.admin_allowed_cidrs').and.include('not ${local.authorised_expression}');
  });

  it('the WAF /metrics rule blocks every spelling the edge test tries, and nothing else', async () => {
    const { resources, locals } = await config();
    const spellings = edgeMetricsSpellings();
    expect(spellings.length).to.be.at.least(5);
    const rule = (resources.cloudflare_ruleset.waf_custom.rules as string).match(
      /ref\s*=\s*"block_metrics"[\s\S]*?expression\s*=\s*"((?:[^"\\]|\\.)*)"/,
    );
    expect(rule, 'block_metrics rule').to.not.equal(null);
    const managed = { ...locals, managed_hosts: '{"api.mytelevision.app" "staging-api.mytelevision.app"}' };
    const expression = interpolate(JSON.parse(`"${rule![1]}"`) as string, managed);
    // Rules see the path without the query; no URL normalization assumed (the rule holds alone).
    for (const s of spellings) {
      const p = s.split('?')[0];
      expect(evaluate(expression, request({ path: p })), s).to.equal(true);
      expect(evaluate(expression, request({ path: p, host: 'staging-api.mytelevision.app' })), s).to.equal(true);
    }
    for (const p of ['/v2/channels', '/metricsx', '/v2/metrics', '/health/live'])
      expect(evaluate(expression, request({ path: p })), p).to.equal(false);
    expect(evaluate(expression, request({ path: '/metrics', host: 'www.mytelevision.app' })), 'other hosts').to.equal(
      false,
    );
  });

  it('cache rules: anonymous reads are eligible (origin Cache-Control decides), admin and Authorization never', async () => {
    const { resources, locals } = await config();
    const [cacheRule, bypassRule] = resources.cloudflare_ruleset.cache.rules as Hcl[];
    expect(cacheRule.action_parameters).to.deep.include({ cache: true, edge_ttl: { mode: 'bypass_by_default' } });
    expect(bypassRule.action_parameters).to.deep.equal({ cache: false });
    const managed = { ...locals, managed_hosts: '{"api.mytelevision.app" "staging-api.mytelevision.app"}' };
    const cacheable = (r: CfRequest): boolean => evaluate(interpolate(cacheRule.expression as string, managed), r);
    const bypassed = (r: CfRequest): boolean => evaluate(interpolate(bypassRule.expression as string, managed), r);
    const cases: [string, CfRequest, boolean][] = [
      ['anonymous read', request({}), true],
      ['HEAD read', request({ method: 'HEAD' }), true],
      ['POST', request({ method: 'POST' }), false],
      ['admin read', request({ path: '/v2/admin/channels' }), false],
      ['admin read, other case', request({ path: '/V2/Admin/channels' }), false],
      ['admin read, encoded', request({ path: '/v2/%61dmin/channels' }), false],
      ['authorised read', request({ headers: { Authorization: 'Bearer x' } }), false],
      ['authorised read, lower-case header', request({ headers: { authorization: 'Bearer x' } }), false],
      ['health', request({ path: '/health/ready' }), false],
    ];
    for (const [what, r, eligible] of cases) {
      // The bypass rule comes last and wins: eligible means matched by the first and not the second.
      expect(cacheable(r) && !bypassed(r), what).to.equal(eligible);
    }
    expect(bypassed(request({ path: '/v2/admin/x' }))).to.equal(true);
    expect(bypassed(request({ headers: { AUTHORIZATION: 'x' } }))).to.equal(true);
  });

  it('no secret is committed under terraform/ (tokens, keys, private keys)', () => {
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.name === '.terraform') continue;
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(tfDir);
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      expect(text, f).to.not.match(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
      expect(text, f).to.not.match(/\b(api_token|api_key|access_key|secret_key|private_key)\s*=\s*"[^"$]/);
      expect(text, f).to.not.match(/\b[A-Za-z0-9_-]{40}\b/); // Cloudflare API tokens are 40 characters
      expect(text, f).to.not.match(/\baccount_id\s*=\s*"[0-9a-f]{32}"/);
    }
  });
});
