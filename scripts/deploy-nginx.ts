// make deploy-nginx ENV=staging|prod — the edge config to the environment's Nginx host over SSH.
// Preflight (render, local nginx -t, connect with the host key verified, diff against the live
// config), then: lock, read the live release and diff again (another deploy may have finished
// while this one waited), upload a new release, nginx -t on the host, switch, reload, verify health
// through the proxy, prune old releases. A failure before the switch leaves the live config
// untouched; after it, the previous release is restored. Either way the message says which.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadEnvironment } from './lib/environments.js';
import { UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import { checkNginxConfig } from './lib/edge/check.js';
import { renderNginxConfig, writeNginxConfig } from './lib/edge/render.js';
import { configDiff, edgeTarget, EdgeReleases, newReleaseId, restoreAndFail, waitLockMs } from './lib/edge/releases.js';
import { lockOwner, SshClient } from './lib/ssh.js';

const lastLines = (text: string, n = 4): string => text.trim().split('\n').slice(-n).join(' | ');

await runScript(
  {
    summary: 'Deploy the Nginx edge config to the environment’s host over SSH (test, switch, reload, verify).',
    usage: 'make deploy-nginx ENV=staging|prod [DRY_RUN=1] [YES=1] [ARGS="--wait-lock=SECONDS --force"]',
    options: { 'wait-lock': { type: 'string' }, force: { type: 'boolean' } },
    optionsHelp: [
      'Options:',
      '  --wait-lock=SECONDS  wait this long for another deploy’s lock (default: fail at once, naming the holder)',
      '  --force              deploy a new release even when the config did not change',
    ].join('\n'),
  },
  async (ctx) => {
    const { out, flags } = ctx;
    const env = loadEnvironment(flags.env);
    const { ssh: target, deploy, healthUrl } = edgeTarget(env);
    const waitMs = waitLockMs(ctx.values['wait-lock'] as string | undefined);

    out.step(`render the ${env.name} config and check it here (nginx -t, stand-in certificates)`);
    const check = await checkNginxConfig(env);
    if (!check.ok)
      throw new UserError(`the rendered ${env.name} config fails nginx -t here: ${lastLines(check.output)}`, {
        hint: `fix nginx/ or ${path.basename(env.file)}; nothing was changed`,
      });
    const id = newReleaseId();
    const work = mkdtempSync(path.join(os.tmpdir(), 'mytv-deploy-nginx-'));
    try {
      writeNginxConfig(renderNginxConfig(env, { releaseId: id }), path.join(work, 'new'));

      out.step(`connect to ${target.user}@${target.host}:${target.port} (host key checked against known_hosts)`);
      const ssh = await SshClient.connect(target);
      try {
        const releases = new EdgeReleases(ssh, deploy, healthUrl);
        /** The live release and the diff of the new one against it, read from the host now. */
        const readLive = async (): Promise<{ live: string | undefined; diff: string }> => {
          const current = await releases.live();
          rmSync(path.join(work, 'live'), { recursive: true, force: true });
          mkdirSync(path.join(work, 'live'), { recursive: true });
          if (current && !(await releases.fetch(current, path.join(work, 'live'))))
            throw new UserError(`could not read the live release ${current} on ${target.host}`, {
              hint: `check ${releases.currentLink} on the host`,
            });
          return { live: current ?? undefined, diff: await configDiff(ctx, work, 'live', 'new') };
        };
        let { live, diff } = await readLive();

        out.table(
          [
            { what: 'host', value: ssh.label },
            { what: 'live release', value: live ?? '(none: first deploy)' },
            { what: 'new release', value: `${id} (${deploy.root}/releases/${id})` },
            { what: 'health check', value: healthUrl },
          ],
          ['what', 'value'],
        );
        if (diff) out.line(diff.trimEnd());
        else out.line('no changes against the live config');
        if (!diff && !ctx.values.force) {
          out.ok(`the live config of ${env.name} is already up to date: nothing to deploy`);
          return;
        }
        if (flags.dryRun) {
          out.line('dry run: nothing was changed');
          return;
        }
        if (env.production) await ctx.confirm(`deploy Nginx release ${id} to ${env.name} (${target.host})?`);

        out.step(`take the deploy lock (${releases.lockDir})`);
        await releases.lock(lockOwner(`deploy-nginx ${env.name} ${id}`), waitMs, (holder) =>
          out.info(`waiting up to ${waitMs / 1000} s for the deploy lock held by ${holder}`),
        );
        try {
          // What was shown above may be stale: another deploy can have finished while this one
          // waited. The live release (restored on failure) and the diff are read again under the lock.
          const underLock = await readLive();
          if (underLock.live !== live) {
            out.info(`the live release changed while waiting: ${live ?? 'none'} -> ${underLock.live ?? 'none'}`);
            ({ live, diff } = underLock);
            out.line(diff ? diff.trimEnd() : 'no changes against the live config');
            if (!diff && !ctx.values.force) {
              out.ok(`the live config of ${env.name} is already up to date: nothing to deploy`);
              return;
            }
            if (env.production) await ctx.confirm(`deploy Nginx release ${id} over ${live ?? 'none'} to ${env.name}?`);
          }

          out.step(`upload release ${id}`);
          await releases.upload(path.join(work, 'new'), id);

          out.step('nginx -t on the host');
          const tested = await releases.test(id);
          if (!tested.ok) {
            await releases.remove(id);
            throw new UserError(
              `nginx -t on ${target.host} refused release ${id}: ${lastLines(tested.output)}; the live config is untouched (${live ?? 'none'})`,
              { hint: 'fix the config (see the nginx output above); the release was removed' },
            );
          }

          out.step(`switch ${releases.currentLink} -> releases/${id} and reload`);
          await releases.switchTo(id);
          const reload = await releases.reload();
          if (!reload.ok)
            await restoreAndFail(releases, live, id, `reload of release ${id} failed: ${lastLines(reload.output)}`);

          out.step('verify health through the proxy');
          const health = await releases.verify(id);
          if (!health.ok) await restoreAndFail(releases, live, id, `release ${id} is not healthy: ${health.detail}`);

          const pruned = await releases.prune(env.nginx!.releasesKept, [id, live]);
          if (pruned.length > 0) out.line(`removed old releases: ${pruned.join(', ')}`);
          out.ok(`release ${id} is live on ${target.host} (${health.detail}); previous: ${live ?? 'none'}`);
          if (flags.json)
            out.data({ environment: env.name, host: target.host, release: id, previous: live ?? null, pruned });
        } finally {
          await releases.unlock();
        }
      } finally {
        ssh.dispose();
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
);
