// Alertmanager's config as a given binary can load it. alertmanager/alertmanager.yml is written for
// Alertmanager >= 0.26 (compose and the cluster run 0.27): receivers read their URLs with
// `url_file`, resolved against the config's folder. The Debian 0.25 on these machines predates
// `url_file`, so for it a private copy (mode 600, in the caller's run directory) gets each URL
// inlined from the same secret files. Same routes, receivers and templates either way.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { UserError } from '../errors.js';
import { fromRoot } from '../paths.js';
import { registerSecret } from '../secrets.js';
import { requireTool, toolSpec } from '../tools.js';

export const alertmanagerSourceDir = fromRoot('alertmanager');

/** Secret files a receiver reads (relative to the config folder), by receiver name. */
export function receiverUrlFiles(configText: string): Record<string, string[]> {
  const doc = parseDocument(configText).toJS() as {
    receivers?: { name: string; webhook_configs?: { url_file?: string }[] }[];
  };
  const out: Record<string, string[]> = {};
  for (const r of doc.receivers ?? []) {
    out[r.name] = (r.webhook_configs ?? []).map((w) => w.url_file).filter((f): f is string => Boolean(f));
  }
  return out;
}

export interface RenderedAlertmanager {
  dir: string;
  configFile: string;
}

/**
 * Copies alertmanager/ (config + templates) into `dir`, writes `urls` (secret file → URL) into
 * dir/secrets/ (mode 600), and when `inlineUrls` (Alertmanager < 0.26) replaces each `url_file`
 * with `url` read from those files. A receiver file with no URL is left out: that notification
 * fails and is logged, the others go on.
 * @throws UserError when `urls` names a file no receiver reads (a typo would silently page nobody).
 */
export function renderAlertmanagerConfig(
  dir: string,
  o: { urls?: Record<string, string>; inlineUrls: boolean; timings?: RouteTimings },
): RenderedAlertmanager {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const source = readFileSync(path.join(alertmanagerSourceDir, 'alertmanager.yml'), 'utf8');
  cpSync(path.join(alertmanagerSourceDir, 'templates'), path.join(dir, 'templates'), { recursive: true });
  const known = new Set(Object.values(receiverUrlFiles(source)).flat());
  const secrets = path.join(dir, 'secrets');
  mkdirSync(secrets, { recursive: true, mode: 0o700 });
  for (const [file, url] of Object.entries(o.urls ?? {})) {
    if (!known.has(file)) {
      throw new UserError(`no Alertmanager receiver reads ${file}`, {
        hint: `receivers read: ${[...known].join(', ')} (alertmanager/alertmanager.yml)`,
      });
    }
    writeFileSync(path.join(dir, file), url + '\n', { mode: 0o600 });
  }
  const config = parseDocument(source).toJS() as Record<string, unknown> & {
    receivers?: { webhook_configs?: Record<string, unknown>[] }[];
  };
  if (o.inlineUrls) {
    for (const r of config.receivers ?? []) {
      r.webhook_configs = (r.webhook_configs ?? []).flatMap((w) => {
        if (typeof w.url_file !== 'string') return [w];
        const file = path.join(dir, w.url_file);
        const { url_file: _dropped, ...rest } = w;
        return existsSync(file) ? [{ ...rest, url: readFileSync(file, 'utf8').trim() }] : [];
      });
    }
  }
  if (o.timings) applyTimings(config.route as Route, o.timings);
  const configFile = path.join(dir, 'alertmanager.yml');
  writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  return { dir, configFile };
}

/** Group/repeat waits (Alertmanager durations such as "1s"); tests shorten them, nothing else. */
export interface RouteTimings {
  group_wait?: string;
  group_interval?: string;
  repeat_interval?: string;
}

interface Route extends RouteTimings {
  routes?: Route[];
}

/** Sets the given waits on the route and every child route that sets its own. */
function applyTimings(route: Route, t: RouteTimings, root = true): void {
  for (const key of ['group_wait', 'group_interval', 'repeat_interval'] as const) {
    if (t[key] && (root || route[key] !== undefined)) route[key] = t[key];
  }
  for (const child of route.routes ?? []) applyTimings(child, t, false);
}

/** Whether an Alertmanager version string (0.25.0) predates webhook `url_file` (0.26). */
export function needsInlineUrls(version: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) throw new UserError(`cannot read the Alertmanager version '${version}'`, { hint: 'run make setup' });
  return Number(m[1]) === 0 && Number(m[2]) < 26;
}

/** Version of the installed Alertmanager (`prometheus-alertmanager --version`), e.g. "0.25.0". */
export function installedAlertmanagerVersion(): string {
  const spec = toolSpec('prometheus-alertmanager');
  const r = spawnSync(requireTool(spec.bin), spec.versionArgs, { encoding: 'utf8' });
  const found = spec.versionPattern.exec(`${r.stdout}\n${r.stderr}`)?.[1];
  if (!found) throw new UserError('cannot read the Alertmanager version', { hint: 'run make setup' });
  return found;
}

/** Receiver secret files from the environment (ALERTMANAGER_PAGER_URL → secrets/pager-url …). */
export function receiverUrlsFromEnv(vars: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, file] of [
    ['ALERTMANAGER_PAGER_URL', 'secrets/pager-url'],
    ['ALERTMANAGER_CHAT_URL', 'secrets/chat-url'],
    ['ALERTMANAGER_DEADMANS_SWITCH_URL', 'secrets/deadmans-switch-url'],
  ] as const) {
    const v = vars[name];
    if (v) {
      registerSecret(v);
      out[file] = v;
    }
  }
  return out;
}
