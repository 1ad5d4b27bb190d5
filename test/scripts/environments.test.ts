import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadEnvironment, listEnvironments } from '../../scripts/lib/environments.js';
import { UserError, UsageError } from '../../scripts/lib/errors.js';
import { fromRoot } from '../../scripts/lib/paths.js';
import { maskSecrets } from '../../scripts/lib/secrets.js';

const valid = readFileSync(fromRoot('environments', 'staging.yaml'), 'utf8');

function expectUserError(fn: () => unknown): UserError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(UserError);
    return err as UserError;
  }
  expect.fail('expected a UserError');
}

describe('environments (environments/*.yaml, .env files, schema)', () => {
  let dir: string;
  let envDir: string;
  let dotenvDir: string;
  const write = (name: string, text: string): void => writeFileSync(path.join(envDir, `${name}.yaml`), text);
  const load = (name: string, env: NodeJS.ProcessEnv = {}) => loadEnvironment(name, { dir: envDir, dotenvDir, env });

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mytv-envtest-'));
    envDir = path.join(dir, 'environments');
    dotenvDir = dir;
    mkdirSync(envDir);
    write('staging', valid);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('loads and validates every environment shipped in the repository', () => {
    const names = listEnvironments();
    expect(names).to.include.members(['dev', 'staging', 'prod']);
    for (const name of names) {
      const e = loadEnvironment(name, { env: {} });
      expect(e.name).to.equal(name);
      expect(e.slo.availabilityPercent).to.equal(99.9);
      expect(e.slo.latencyP95Ms).to.equal(500);
      expect(e.slo.rpoMinutes).to.equal(15);
    }
    expect(loadEnvironment('prod', { env: {} }).production).to.equal(true);
    expect(loadEnvironment('staging', { env: {} }).production).to.equal(false);
  });

  it('rejects an unknown environment as a usage error listing the known ones', () => {
    const err = expectUserError(() => load('qa'));
    expect(err).to.be.instanceOf(UsageError);
    expect(err.exitCode).to.equal(2);
    expect(err.message).to.contain("unknown environment 'qa'").and.contain('staging');
    expect(err.hint).to.contain('ENV=');
  });

  it('reports malformed YAML with file, line and column', () => {
    write('staging', 'name: staging\napi: [unclosed\n');
    const err = expectUserError(() => load('staging'));
    expect(err.exitCode).to.equal(2);
    expect(err.message).to.match(/staging\.yaml:\d+:\d+ is not valid YAML/);
  });

  it('lists every bad field with its path in one message', () => {
    const broken = valid
      .replace('replicas: 2', 'replicas: two') // wrong type
      .replace('publicUrl: https://staging-api.mytelevision.app', 'publicUrl: not a url') // bad format
      .replace('port: 3000', 'port: 70000') // out of range
      .replace('production: false', 'production: false\ncolour: blue') // unknown key
      .replace('  latencyP95Ms: 500\n', '') // missing required field
      .replace('kind: kustomize', 'kind: ansible') // not one of the deploy kinds
      .replace('namespace: mytv-staging', 'namespace: Mytv_Staging'); // bad Kubernetes name
    write('staging', broken);
    const err = expectUserError(() => load('staging'));
    expect(err.exitCode).to.equal(2);
    const m = err.message;
    expect(m).to.match(/invalid \(\d+ problems\)/);
    for (const field of ['api.replicas', 'api.publicUrl', 'api.port', 'colour', 'slo.latencyP95Ms', 'deploy.kind']) {
      expect(m, field).to.contain(`- ${field}`);
    }
    expect(err.hint).to.contain('scripts/lib/environments.ts');
  });

  it('reports a name that does not match the file name', () => {
    write('staging', valid.replace('name: staging', 'name: prod'));
    expect(expectUserError(() => load('staging')).message).to.contain('- name:');
  });

  it('names an unset variable used in the file, and the file to set it in', () => {
    write('staging', valid.replace('user: ${STAGING_SSH_USER:-deploy}', 'user: ${STAGING_SSH_USER}'));
    const err = expectUserError(() => load('staging'));
    expect(err.message).to.contain('nginx.ssh.user: variable STAGING_SSH_USER is not set').and.contain('.env.staging');
  });

  it('merges .env, then .env.<name>, then the process environment (later wins)', () => {
    writeFileSync(
      path.join(dotenvDir, '.env'),
      'STAGING_SSH_USER=from-dotenv\nSTAGING_SSH_HOST=host-from-dotenv\nA=1\n',
    );
    writeFileSync(path.join(dotenvDir, '.env.staging'), 'STAGING_SSH_USER=from-env-file\nB=2\n');
    let e = load('staging');
    expect(e.nginx?.ssh?.user).to.equal('from-env-file');
    expect(e.nginx?.ssh?.host).to.equal('host-from-dotenv');
    expect(e.vars.A).to.equal('1');
    e = load('staging', { STAGING_SSH_USER: 'from-process' });
    expect(e.nginx?.ssh?.user).to.equal('from-process');
  });

  it('requireVar names the missing variable and where to set it', () => {
    const e = load('staging');
    const err = expectUserError(() => e.requireVar('JWT_SECRET', 'signs admin tokens'));
    expect(err.message).to.equal('missing required variable JWT_SECRET (signs admin tokens) for environment staging');
    expect(err.hint).to.contain('.env.staging');
    expect(load('staging', { JWT_SECRET: 'abcdefgh' }).requireVar('JWT_SECRET')).to.equal('abcdefgh');
  });

  it('registers secret-looking variables so output masks them', () => {
    load('staging', { R2_SECRET_ACCESS_KEY: 'sup3r-s3cret-value' });
    expect(maskSecrets('key=sup3r-s3cret-value')).to.equal('key=***');
    expect(maskSecrets('postgres://app:hunter22@db:5432/mytv')).to.equal('postgres://app:***@db:5432/mytv');
  });
});
