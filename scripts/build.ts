// make build: compiles the app (tsc -p app/tsconfig.build.json -> app/dist) and, when a Docker
// engine answers, builds its image tagged with the git commit (and :local); otherwise says the
// image step was skipped and why.
import { buildApp } from './lib/app-build.js';
import { engineStatus } from './lib/docker.js';
import { runScript } from './lib/main.js';
import { repoRoot } from './lib/paths.js';

const IMAGE = 'mytv-api';

await runScript(
  {
    summary: 'Build the app (tsc) and, when a Docker engine answers, its image tagged with the git commit.',
    usage: 'make build',
  },
  async ({ exec, out, flags }) => {
    const commit =
      (
        await exec.run('git', ['rev-parse', '--short', 'HEAD'], { readOnly: true, nothrow: true, cwd: repoRoot })
      ).stdout.trim() || 'unknown';
    const dirty =
      (await exec.read('git', ['status', '--porcelain', '--', 'app'], { cwd: repoRoot, nothrow: true })) !== '';
    const tag = dirty ? `${commit}-dirty` : commit;
    const engine = await engineStatus();

    await out.task('compile the app (tsc -p app/tsconfig.build.json)', () => buildApp(exec));
    const result: { app: string; image: string | null; imageSkipped?: string } = { app: 'app/dist', image: null };
    if (!engine.available) {
      out.warn(`image step skipped: no Docker engine answers (${engine.detail}); app/dist is built`);
      result.imageSkipped = engine.detail;
    } else {
      const args = [
        'build',
        '-f',
        'app/Dockerfile',
        '--build-arg',
        `COMMIT=${tag}`,
        '--build-arg',
        `CREATED=${new Date().toISOString()}`,
        '-t',
        `${IMAGE}:${tag}`,
        '-t',
        `${IMAGE}:local`,
        '.',
      ];
      await out.task(`docker build ${IMAGE}:${tag}`, () =>
        exec.run('docker', args, { cwd: repoRoot, timeoutMs: 1_800_000 }),
      );
      result.image = `${IMAGE}:${tag}`;
    }
    if (flags.json) out.data(result);
    else out.ok(`built app/dist${result.image ? ` and image ${result.image}` : ''}`);
  },
);
