// make cloudflare-ips — refresh nginx/cloudflare-ips.txt (set_real_ip_from and the origin lock)
// from Cloudflare's published lists: fetch both, validate every CIDR, show the diff, write.
// Without network it says so and changes nothing.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError, UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import { cloudflareIpsFile, parseCidrList } from './lib/edge/cloudflare-ranges.js';
import { fromRoot } from './lib/paths.js';
import { ipFamily } from '../app/src/net/cidr.js';

const DEFAULT_V4 = 'https://www.cloudflare.com/ips-v4';
const DEFAULT_V6 = 'https://www.cloudflare.com/ips-v6';

async function fetchList(url: string, family: 4 | 6, timeoutMs: number, file: string): Promise<string[]> {
  let text: string;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
    if (!res.ok) throw new UserError(`${url} answered HTTP ${res.status}; ${file} is unchanged`);
    text = await res.text();
  } catch (err) {
    if (err instanceof UserError) throw err;
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = e.cause?.code ?? e.cause?.message ?? e.message;
    throw new UserError(`could not reach Cloudflare (${url}: ${why}); ${file} is unchanged`, {
      hint: 'run it where the network reaches www.cloudflare.com; the current list stays in use',
    });
  }
  const { cidrs, problems } = parseCidrList(text, url);
  const wrongFamily = cidrs.filter((c) => ipFamily(c.split('/')[0]) !== family);
  problems.push(...wrongFamily.map((c) => `${url}: '${c}' is not an IPv${family} range`));
  if (problems.length > 0)
    throw new UserError(`Cloudflare's list is not valid, refusing it:\n  ${problems.join('\n  ')}`, {
      hint: `${file} is unchanged; check ${url} by hand`,
    });
  if (cidrs.length === 0)
    throw new UserError(`${url} lists no IPv${family} ranges; refusing an empty list`, {
      hint: `${file} is unchanged`,
    });
  return cidrs;
}

export function renderCloudflareFile(v4: string[], v6: string[]): string {
  return [
    "# Cloudflare's published edge ranges (https://www.cloudflare.com/ips-v4, https://www.cloudflare.com/ips-v6).",
    '# The data behind set_real_ip_from and the origin lock. Refresh with `make cloudflare-ips`; review the diff.',
    "# One CIDR per line; '#' starts a comment.",
    '',
    '# IPv4',
    ...v4,
    '',
    '# IPv6',
    ...v6,
    '',
  ].join('\n');
}

await runScript(
  {
    summary: "Refresh nginx/cloudflare-ips.txt from Cloudflare's published IP lists (validated, with a diff).",
    usage: 'make cloudflare-ips [DRY_RUN=1] [ARGS="--v4-url=URL --v6-url=URL --file=PATH"]',
    options: {
      file: { type: 'string' },
      'v4-url': { type: 'string' },
      'v6-url': { type: 'string' },
      'timeout-seconds': { type: 'string' },
    },
    optionsHelp: [
      'Options:',
      `  --v4-url=URL, --v6-url=URL  the lists (default ${DEFAULT_V4}, ${DEFAULT_V6};`,
      '                              env CLOUDFLARE_IPS_V4_URL, CLOUDFLARE_IPS_V6_URL)',
      '  --file=PATH                 the data file (default nginx/cloudflare-ips.txt)',
      '  --timeout-seconds=N         per request (default 10)',
    ].join('\n'),
  },
  async ({ values, out, exec, flags }) => {
    const file = path.resolve((values.file as string | undefined) ?? cloudflareIpsFile);
    const shown = path.relative(fromRoot(), file).startsWith('..') ? file : path.relative(fromRoot(), file);
    const v4Url = (values['v4-url'] as string | undefined) ?? process.env.CLOUDFLARE_IPS_V4_URL ?? DEFAULT_V4;
    const v6Url = (values['v6-url'] as string | undefined) ?? process.env.CLOUDFLARE_IPS_V6_URL ?? DEFAULT_V6;
    const timeout = Number((values['timeout-seconds'] as string | undefined) ?? '10');
    if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 120)
      throw new UsageError(
        `--timeout-seconds must be a number of seconds (1-120), got '${String(values['timeout-seconds'])}'`,
      );
    for (const u of [v4Url, v6Url]) if (!/^https?:\/\//.test(u)) throw new UsageError(`'${u}' is not an http(s) URL`);

    out.step(`fetch ${v4Url} and ${v6Url}`);
    const [v4, v6] = await Promise.all([
      fetchList(v4Url, 4, timeout * 1000, shown),
      fetchList(v6Url, 6, timeout * 1000, shown),
    ]);

    const current = existsSync(file) ? parseCidrList(readFileSync(file, 'utf8'), shown) : { cidrs: [], problems: [] };
    if (current.problems.length > 0) out.warn(`the current ${shown} has invalid lines; they are replaced`);
    const fresh = [...v4, ...v6];
    const removed = current.cidrs.filter((c) => !fresh.includes(c));
    const added = fresh.filter((c) => !current.cidrs.includes(c));
    const text = renderCloudflareFile(v4, v6);
    if (removed.length === 0 && added.length === 0 && existsSync(file) && readFileSync(file, 'utf8') === text) {
      out.ok(`${shown} is up to date (${v4.length} IPv4, ${v6.length} IPv6 ranges)`);
      if (flags.json) out.data({ file: shown, added, removed, changed: false });
      return;
    }
    for (const c of removed) out.line(`- ${c}`);
    for (const c of added) out.line(`+ ${c}`);
    if (removed.length === 0 && added.length === 0) out.line('(same ranges; layout of the file changes)');
    await exec.change(`write ${shown} (${added.length} added, ${removed.length} removed)`, () => {
      writeFileSync(file, text);
    });
    if (!exec.dryRun)
      out.ok(`${shown} updated: ${added.length} added, ${removed.length} removed; deploy with make deploy-nginx`);
    if (flags.json) out.data({ file: shown, added, removed, changed: !exec.dryRun });
  },
);
