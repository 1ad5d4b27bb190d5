// Cloudflare's published address ranges as the edge uses them: nginx/cloudflare-ips.txt (one CIDR
// a line, '#' comments), validated line by line. Read by the renderer (set_real_ip_from, the origin
// lock's geo map) and written by scripts/cloudflare-ips.ts.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cidrProblem } from '../../../app/src/net/cidr.js';
import { UserError } from '../errors.js';
import { fromRoot } from '../paths.js';

export const cloudflareIpsFile = fromRoot('nginx', 'cloudflare-ips.txt');

export interface CidrList {
  cidrs: string[];
  problems: string[];
}

/** Parses a list (one CIDR a line, '#' comments); every invalid line is a problem naming its line. */
export function parseCidrList(text: string, source = 'list'): CidrList {
  const cidrs: string[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const problem = cidrProblem(line);
    if (problem) problems.push(`${source}:${i + 1}: '${line}': ${problem}`);
    else if (!cidrs.includes(line)) cidrs.push(line);
  });
  return { cidrs, problems };
}

export function readCloudflareRanges(file = cloudflareIpsFile): string[] {
  const shown = path.relative(fromRoot(), file) || file;
  if (!existsSync(file))
    throw new UserError(`${shown} is missing`, { hint: 'restore it from git, or run `make cloudflare-ips`' });
  const { cidrs, problems } = parseCidrList(readFileSync(file, 'utf8'), shown);
  if (problems.length > 0)
    throw new UserError(`${shown} has invalid ranges:\n  ${problems.join('\n  ')}`, {
      hint: `fix the lines, or run \`make cloudflare-ips\` to fetch the published lists`,
    });
  if (cidrs.length === 0) throw new UserError(`${shown} lists no ranges`, { hint: 'run `make cloudflare-ips`' });
  return cidrs;
}
