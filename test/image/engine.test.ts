// The image scripts' bad-input paths, for real: no container engine, a base image whose Debian
// mirror cannot be reached, an image build that fails at a step.
import { expect } from 'chai';
import { buildApiImage, npmBuildSecrets } from '../../scripts/lib/api-image.js';
import { baseImageTag } from '../../scripts/lib/base-image.js';
import { findContainerEngine, imageExists } from '../../scripts/lib/container-engine.js';
import { Exec } from '../../scripts/lib/exec.js';
import { Output } from '../../scripts/lib/output.js';
import { runEntryScript } from '../support/run-script.js';

const noEngine = { MYTV_DOCKER: '0', MYTV_PODMAN: '0' };

describe('image: bad input (no engine, unreachable mirror, failing build step)', function () {
  this.timeout(180_000);

  it('make image-test without an engine: one line naming docker and podman, hint to install podman, exit 1', async function () {
    const r = await runEntryScript('scripts/image-test.ts', [], { env: noEngine });
    expect(r.code).to.equal(1);
    const [first, hint] = r.stderr.trim().split('\n');
    expect(first).to.match(
      /^error: no container engine: docker: disabled by MYTV_DOCKER=0; podman: disabled by MYTV_PODMAN=0$/,
    );
    expect(hint).to.match(/hint: .*make setup.*podman/);
  });

  it('make build without an engine: the image step is skipped with the reason, exit 0', async function () {
    const r = await runEntryScript('scripts/build.ts', ['--dry-run'], { env: noEngine });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/image step skipped: no container engine: docker: .*; podman: /);
    expect(r.stdout).to.match(/would run: .*tsc -p tsconfig\.build\.json/);
  });

  it('make image-base with an unreachable Debian mirror: one line naming the debootstrap step, nothing made', async function () {
    const lookup = await findContainerEngine();
    if (lookup.engine?.name !== 'podman') this.skip();
    const mirror = 'http://127.0.0.1:9/debian';
    const r = await runEntryScript('scripts/image-base.ts', [], { env: { MYTV_DEBIAN_MIRROR: mirror } });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(
      /^error: base image step "debootstrap --variant=minbase bookworm \(http:\/\/127\.0\.0\.1:9\/debian\)" failed/m,
    );
    expect(r.stderr).to.match(/hint: .*127\.0\.0\.1:9.*cannot be reached|hint: run make image-base VERBOSE=1/);
    const prev = process.env.MYTV_DEBIAN_MIRROR;
    process.env.MYTV_DEBIAN_MIRROR = mirror;
    try {
      const out = new Output(false);
      const exists = await imageExists(new Exec({ dryRun: false, verbose: false, out }), lookup.engine, baseImageTag());
      expect(exists).to.equal(false);
    } finally {
      if (prev === undefined) delete process.env.MYTV_DEBIAN_MIRROR;
      else process.env.MYTV_DEBIAN_MIRROR = prev;
    }
  });

  it('a failing image build names the failing step and shows its last lines', async function () {
    const lookup = await findContainerEngine();
    if (!lookup.engine) this.skip();
    const out = new Output(false);
    const exec = new Exec({ dryRun: false, verbose: false, out });
    const secrets = await npmBuildSecrets(exec);
    try {
      let error: Error | undefined;
      try {
        await buildApiImage(exec, lookup.engine, {
          tags: ['localhost/mytv-api:never-built'],
          version: '0.0.0',
          revision: 'failing',
          // Not present locally, and no registry answers on the discard port.
          baseImage: '127.0.0.1:9/mytv/missing:none',
          secrets,
        });
      } catch (err) {
        error = err as Error;
      }
      expect(error?.message).to.match(/^image build failed \(exit \d+\)/);
      expect(error?.message).to.match(/STEP 1\/\d+: FROM 127\.0\.0\.1:9\/mytv\/missing:none/);
      expect(await imageExists(exec, lookup.engine, 'localhost/mytv-api:never-built')).to.equal(false);
    } finally {
      secrets.cleanup();
    }
  });
});
