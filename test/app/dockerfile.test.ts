// app/Dockerfile checked statically (test/image/ builds and runs it for real): syntax and best-practice
// diagnostics from dockerfile-utils, plus the properties the platform relies on.
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { validate, ValidationSeverity } from 'dockerfile-utils';
import { APP_DIR, ROOT } from './support.js';
import { expectEvery } from '../support/assertions.js';

const dockerfile = readFileSync(path.join(APP_DIR, 'Dockerfile'), 'utf8');
const instructions = dockerfile
  .replace(/\\\n\s*/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const stages = instructions
  .join('\n')
  .split(/^FROM /m)
  .slice(1);
const runtime = stages[stages.length - 1];

describe('app: Dockerfile (static lint)', function () {
  it('has no dockerfile-utils diagnostics', function () {
    const problems = validate(dockerfile, { deprecatedMaintainer: ValidationSeverity.ERROR });
    expect(problems.map((p) => `${p.range.start.line + 1}: ${JSON.stringify(p.message)}`)).to.deep.equal([]);
  });

  it('is multi-stage on Node 22 LTS, production deps via npm ci --omit=dev', function () {
    expect(stages.length).to.be.at.least(2);
    expect(dockerfile).to.match(/ARG NODE_IMAGE=node:22[.\d]*-bookworm-slim/);
    expectEvery(
      instructions.filter((l) => l.startsWith('FROM')),
      (l) => l.includes('${NODE_IMAGE}'),
      'FROM lines use the NODE_IMAGE argument',
    );
    expect(dockerfile).to.match(/npm ci --omit=dev/);
    expect(runtime).to.not.match(/npm ci(?!.*--omit=dev)/);
  });

  it('runs as a non-root user behind an init process, with a liveness HEALTHCHECK', function () {
    const users = runtime.split('\n').filter((l) => l.startsWith('USER '));
    expect(users).to.have.length(1);
    expect(users[0]).to.not.match(/USER (root|0)\b/);
    expect(runtime).to.match(/ENTRYPOINT \["\/usr\/bin\/tini", "--"\]/);
    expect(runtime).to.match(/CMD \["node",.*"dist\/main\.js"\]/);
    const healthcheck = runtime.split('\n').find((l) => l.startsWith('HEALTHCHECK'));
    expect(healthcheck).to.include('/health/live');
    expect(runtime).to.match(/EXPOSE 3000/);
  });

  it('labels the image with OCI version and revision', function () {
    expect(runtime).to.match(/org\.opencontainers\.image\.version="\$\{VERSION\}"/);
    expect(runtime).to.match(/org\.opencontainers\.image\.revision="\$\{COMMIT\}"/);
    expect(runtime).to.match(/APP_VERSION=\$\{VERSION\}/);
  });

  it('copies only what exists, and .dockerignore keeps secrets and build output out', function () {
    for (const line of instructions.filter((l) => l.startsWith('COPY') && !l.includes('--from'))) {
      const sources = line.replace(/--\S+/g, '').split(/\s+/).slice(1, -1);
      for (const source of sources) {
        expect(() => readFileSync(path.join(ROOT, source)), `${source} (context is the repo root)`).to.not.throw(
          /ENOENT/,
        );
      }
    }
    const ignore = readFileSync(path.join(APP_DIR, '.dockerignore'), 'utf8').split('\n');
    expect(ignore).to.include.members(['**/node_modules', '**/dist', '**/.env', '.git']);
    // BuildKit reads <Dockerfile>.dockerignore when the context is the repository root.
    expect(realpathSync(path.join(APP_DIR, 'Dockerfile.dockerignore'))).to.equal(
      realpathSync(path.join(APP_DIR, '.dockerignore')),
    );
  });
});
