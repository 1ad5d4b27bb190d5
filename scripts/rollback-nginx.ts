// make rollback-nginx ENV=staging|prod — switch the edge host back to the previous config release
// (or --to=ID): lock, nginx -t of that release on the host, switch, reload, verify health; a
// failure switches back to the release that was live.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadEnvironment } from './lib/environments.js';
import { UsageError, UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import { configDiff, edgeTarget, EdgeReleases, lastLines, waitLockMs } from './lib/edge/releases.js';
import { lockOwner, SshClient } from './lib/ssh.js';

await runScript(
  {
    summary: 'Switch the environment’s Nginx host back to the previous config release (test, switch, reload, verify).',
    usage: 'make rollback-nginx ENV=staging|prod [DRY_RUN=1] [YES=1] [ARGS="--to=RELEASE --wait-lock=SECONDS"]',
    options: { to: { type: 'string' }, 'wait-lock': { type: 'string' } },
    optionsHelp: [
      'Options:',
      '  --to=RELEASE         the release to make live (default: the one before the live release)',
      '  --wait-lock=SECONDS  wait this long for another deploy’s lock (default: fail at once, naming the holder)',
    ].join('\n'),
  },
  async (ctx) => {
    const { out, flags } = ctx;
    const env = loadEnvironment(flags.env);
    const { ssh: target, deploy, healthUrl } = edgeTarget(env);
    const waitMs = waitLockMs(ctx.values['wait-lock'] as string | undefined);
    const wanted = ctx.values.to as string | undefined;

    out.step(`connect to ${target.user}@${target.host}:${target.port} (host key checked against known_hosts)`);
    const ssh = await SshClient.connect(target);
    const work = mkdtempSync(path.join(os.tmpdir(), 'mytv-rollback-nginx-'));
    try {
      const releases = new EdgeReleases(ssh, deploy, healthUrl);
      const live = await releases.live();
      const all = await releases.list();
      if (!live)
        throw new UserError(`${target.host} has no live Nginx release (${releases.currentLink} is missing)`, {
          hint: `run make deploy-nginx ENV=${env.name} first`,
        });
      let to: string | undefined;
      if (wanted) {
        if (!all.includes(wanted))
          throw new UsageError(
            `release '${wanted}' does not exist on ${target.host}`,
            `known releases: ${all.join(', ') || '(none)'}`,
          );
        if (wanted === live)
          throw new UsageError(`release ${wanted} is already live`, 'pick another with --to=RELEASE');
        to = wanted;
      } else {
        to = await releases.previous(live);
        if (!to)
          throw new UserError(`there is no release before the live one (${live}) on ${target.host}`, {
            hint: `known releases: ${all.join(', ')}; pass --to=RELEASE to choose one`,
          });
      }

      for (const [dir, id] of [
        ['live', live],
        ['target', to],
      ] as const) {
        mkdirSync(path.join(work, dir), { recursive: true });
        await releases.fetch(id, path.join(work, dir));
      }
      const diff = await configDiff(ctx, work, 'live', 'target');
      out.table(
        [
          { what: 'host', value: ssh.label },
          { what: 'live release', value: live },
          { what: 'roll back to', value: to },
        ],
        ['what', 'value'],
      );
      out.line(diff ? diff.trimEnd() : 'the two releases have the same config');
      if (flags.dryRun) {
        out.line('dry run: nothing was changed');
        return;
      }
      if (env.production) await ctx.confirm(`roll Nginx of ${env.name} (${target.host}) back to release ${to}?`);

      out.step(`take the deploy lock (${releases.lockDir})`);
      await releases.lock(lockOwner(`rollback-nginx ${env.name} to ${to}`), waitMs);
      try {
        out.step(`nginx -t of release ${to} on the host`);
        const tested = await releases.test(to);
        if (!tested.ok)
          throw new UserError(
            `nginx -t on ${target.host} refused release ${to}: ${lastLines(tested.output)}; the live config is untouched (${live})`,
            { hint: 'pick another release with --to=RELEASE' },
          );
        out.step(`switch ${releases.currentLink} -> releases/${to} and reload`);
        await releases.switchTo(to);
        const reload = await releases.reload();
        if (!reload.ok) await switchBack(releases, live, `reload of release ${to} failed: ${lastLines(reload.output)}`);
        out.step('verify health through the proxy');
        const health = await releases.verify(to);
        if (!health.ok) await switchBack(releases, live, `release ${to} is not healthy: ${health.detail}`);
        out.ok(`rolled back: release ${to} is live on ${target.host} (was ${live})`);
        if (flags.json) out.data({ environment: env.name, host: target.host, release: to, previous: live });
      } finally {
        await releases.unlock();
      }
    } finally {
      ssh.dispose();
      rmSync(work, { recursive: true, force: true });
    }
  },
);

/** A rollback keeps every release: switching back must not delete the one that failed. */
async function switchBack(releases: EdgeReleases, live: string, why: string): Promise<never> {
  await releases.switchTo(live);
  const reload = await releases.reload();
  if (!reload.ok)
    throw new UserError(`${why}; switched back to ${live} but reloading it failed too: ${lastLines(reload.output)}`, {
      hint: `the host needs attention now: ssh ${releases.ssh.label} and check Nginx`,
    });
  throw new UserError(`${why}; switched back to release ${live}, which is live again`, {
    hint: 'the release stays on the host for inspection',
  });
}
