// make image-test: the API image built from the repository and run for real.
//   preflight: a container engine (Docker, else podman); none -> one line naming both, exit 1
//   act:       base image (podman: made once) -> build (layer cache) -> PostgreSQL + Redis from the
//              service runner -> migrate with the image -> run it (--read-only, tmpfs /tmp, host network)
//   verify:    health endpoints, tini as PID 1, non-root uid, read-only root, image contents
//              (no dev deps, tests, .env, npmrc, secret values), SIGTERM drain exit 0, size
//   always:    every container, image tag, service and temporary file it made is removed
import { requireContainerEngine } from './lib/container-engine.js';
import { UserError } from './lib/errors.js';
import { ImageTest } from './lib/image-test.js';
import { runScript } from './lib/main.js';

await runScript(
  {
    summary: 'Build the API image and check the running container against real PostgreSQL and Redis.',
    usage: 'make image-test [BASE_IMAGE=ref]',
    options: { 'base-image': { type: 'string' } },
    optionsHelp:
      "      --base-image REF  the Dockerfile's NODE_IMAGE (podman default: the local base of make image-base)",
  },
  async ({ exec, out, flags, values }) => {
    if (flags.dryRun)
      throw new UserError('make image-test has no dry run: it only builds and removes its own test image');
    const engine = await requireContainerEngine();
    const test = new ImageTest(exec, out, engine, {
      baseImage: values['base-image'] ? String(values['base-image']) : undefined,
    });
    const rows: { check: string; result: string; detail: string }[] = [];
    try {
      await test.setup();
      for (const check of test.checks()) {
        try {
          rows.push({ check: check.name, result: 'ok', detail: await check.run() });
        } catch (err) {
          rows.push({ check: check.name, result: 'FAIL', detail: (err as Error).message });
        }
      }
    } finally {
      const problems = await test.teardown();
      for (const p of problems) out.warn(`cleanup: ${p}`);
    }
    const figures = {
      image: test.image,
      base: test.baseImage ?? 'Dockerfile default',
      baseCreated: test.baseCreated,
      buildSeconds: Number((test.buildMs / 1000).toFixed(1)),
      startToReadyMs: test.startToReadyMs,
    };
    if (flags.json) out.data({ ...figures, checks: rows });
    else {
      out.table(rows, ['check', 'result', 'detail']);
      out.line(
        `build ${figures.buildSeconds}s on ${figures.base}${figures.baseCreated ? ' (made now)' : ''}; start to ready ${figures.startToReadyMs} ms`,
      );
    }
    const failed = rows.filter((r) => r.result !== 'ok');
    if (failed.length > 0) {
      throw new UserError(`image test failed: ${failed.map((f) => f.check).join('; ')}`, {
        hint: 'see the table above',
      });
    }
    out.ok(`image test passed; test image and containers removed`);
  },
);
