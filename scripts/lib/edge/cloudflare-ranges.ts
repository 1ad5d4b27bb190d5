// Cloudflare's published address ranges as the edge uses them: nginx/cloudflare-ips.txt (one CIDR
// a line, '#' comments), validated line by line. Read by the renderer (set_real_ip_from, the origin
// lock's geo map) and written by scripts/cloudflare-ips.ts.
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { UserError } from '../errors.js';
import { fromRoot } from '../paths.js';

export const cloudflareIpsFile = fromRoot('nginx', 'cloudflare-ips.txt');

/** Why a CIDR is invalid, or undefined when it is a valid network (host bits zero). */
export function cidrProblem(cidr: string): string | undefined {
  const m = /^([^/\s]+)\/(\d{1,3})$/.exec(cidr);
  if (!m) return 'not of the form address/prefix';
  const family = isIP(m[1]);
  if (family === 0) return `'${m[1]}' is not an IP address`;
  const prefix = Number(m[2]);
  const bits = family === 4 ? 32 : 128;
  if (prefix > bits) return `prefix /${prefix} is longer than ${bits} bits`;
  const value = family === 4 ? ipv4ToBigInt(m[1]) : ipv6ToBigInt(m[1]);
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((value & hostMask) !== 0n) return `host bits are set (the network of /${prefix} starts elsewhere)`;
  return undefined;
}

function ipv4ToBigInt(ip: string): bigint {
  return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function ipv6ToBigInt(ip: string): bigint {
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = ipv4ToBigInt(v4[1]);
    text = text.slice(0, -v4[1].length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

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
