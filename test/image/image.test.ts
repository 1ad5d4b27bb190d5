// The API image, built from the repository and run for real (podman here, Docker where it answers):
// the same ImageTest as `make image-test`, one `it` per check. Runs once per `make test`; the base
// image and the build's layer cache are reused, so a second run rebuilds nothing that did not change.
import { expect } from 'chai';
import { findContainerEngine, noEngineReason } from '../../scripts/lib/container-engine.js';
import { Exec } from '../../scripts/lib/exec.js';
import { ImageTest } from '../../scripts/lib/image-test.js';
import { Output } from '../../scripts/lib/output.js';

describe('image: app/Dockerfile built and run (real container engine, PostgreSQL, Redis)', function () {
  let test: ImageTest | undefined;
  let setupError: unknown;
  const out = new Output(false);
  const exec = new Exec({ dryRun: false, verbose: false, out });

  before(async function () {
    // Cold: debootstrap + two npm ci on a busy machine; warm: seconds.
    this.timeout(1_200_000);
    const lookup = await findContainerEngine();
    if (!lookup.engine) throw new Error(`${noEngineReason(lookup)} (make setup installs podman)`);
    test = new ImageTest(exec, out, lookup.engine);
    try {
      await test.setup();
    } catch (err) {
      setupError = err;
      throw err;
    }
  });

  after(async function () {
    this.timeout(120_000);
    const problems = (await test?.teardown()) ?? [];
    expect(problems, 'cleanup').to.deep.equal([]);
  });

  // The checks are declared statically (names known before setup) and run against the one container.
  const names = [
    '/health/live and /health/ready answer 200',
    'PID 1 is tini and every process runs as a non-root uid',
    'root filesystem read-only, /tmp writable',
    'no dev dependency, test file, .env, npmrc or secret value in the image',
    'OCI labels and APP_VERSION/APP_COMMIT name this build',
    'SIGTERM drains and exits 0 within the drain time',
    'image size',
  ];
  for (const name of names) {
    it(name, async function () {
      this.timeout(300_000);
      expect(setupError).to.equal(undefined);
      const check = test!.checks().find((c) => c.name.startsWith(name));
      expect(check, `check "${name}" exists`).to.not.equal(undefined);
      const detail = await check!.run();
      if (process.env.MYTV_IMAGE_TEST_VERBOSE || name === 'image size') console.log(`      ${detail}`);
    });
  }
});
