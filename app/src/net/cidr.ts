// IP ranges in CIDR notation (RFC 4632; IPv6 RFC 4291 §2.3), parsed in one place for the app
// (TRUSTED_PROXIES) and the scripts (Cloudflare's ranges for Nginx: the scripts import this file,
// the app's image holds only app/). Address syntax is ipaddr.js's: dotted quads for IPv4 (no
// octal, hex or short forms), RFC 4291 text for IPv6.
import ipaddr from 'ipaddr.js';

export type IpFamily = 4 | 6;

export interface Cidr {
  /** The address as written (without the prefix). */
  address: string;
  /** Prefix length in bits: 0–32 for IPv4, 0–128 for IPv6. */
  prefix: number;
  family: IpFamily;
}

export interface CidrRules {
  /** A bare address is accepted as a one-address range (/32 or /128). Default: the prefix is required. */
  bareAddress?: boolean;
  /** The host bits must be zero, i.e. the range is written as its network address (what Nginx and Cloudflare's lists use). */
  network?: boolean;
}

export type CidrResult = { ok: true; cidr: Cidr } | { ok: false; problem: string };

/** Family of a plain IP address (no zone id, no prefix), or undefined when it is not one. */
export function ipFamily(address: string): IpFamily | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(address)) return 4;
  if (!address.includes('%') && ipaddr.IPv6.isValid(address)) return 6;
  return undefined;
}

/**
 * Parses `address/prefix` (or a bare address when `rules.bareAddress`). Never throws: an invalid
 * text gives `{ ok: false, problem }`, one line saying what is wrong.
 */
export function parseCidr(text: string, rules: CidrRules = {}): CidrResult {
  const fail = (problem: string): CidrResult => ({ ok: false, problem });
  const parts = text.trim().split('/');
  if (parts.length > 2 || parts[0] === '' || (parts.length === 1 && !rules.bareAddress))
    return fail(rules.bareAddress ? 'not an address or address/prefix' : 'not of the form address/prefix');
  const [address, prefixText] = parts;
  if (address.includes('%'))
    return fail(`'${address}' carries a zone id (%…), which only means something on one host; drop it`);
  const family = ipFamily(address);
  if (!family) return fail(`'${address}' is not an IP address`);
  const bits = family === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^(0|[1-9]\d{0,2})$/.test(prefixText))
    return fail(`prefix '/${prefixText}' is not a number of bits`);
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefix > bits) return fail(`prefix /${prefix} is longer than ${bits} bits`);
  if (rules.network) {
    const bytes = ipaddr.parse(address).toByteArray();
    const mask = (family === 4 ? ipaddr.IPv4 : ipaddr.IPv6).subnetMaskFromPrefixLength(prefix).toByteArray();
    if (bytes.some((b, i) => (b & ~mask[i] & 0xff) !== 0))
      return fail(`host bits are set (the network of /${prefix} starts elsewhere)`);
  }
  return { ok: true, cidr: { address, prefix, family } };
}

/** Why `text` is not a valid network range (prefix required, host bits zero), or undefined when it is. */
export function cidrProblem(text: string): string | undefined {
  const r = parseCidr(text, { network: true });
  return r.ok ? undefined : r.problem;
}

/**
 * A matcher for a list of ranges: true when `ip` (a peer address as Node reports it) lies in one of
 * them. IPv4-mapped IPv6 peers (::ffff:a.b.c.d) match IPv4 ranges. Entries that do not parse are
 * ignored (validate them first with parseCidr).
 */
export function cidrMatcher(
  entries: string[],
  rules: CidrRules = { bareAddress: true },
): (ip: string | undefined) => boolean {
  const ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];
  for (const entry of entries) {
    const r = parseCidr(entry, rules);
    if (r.ok) ranges.push([ipaddr.parse(r.cidr.address), r.cidr.prefix]);
  }
  if (ranges.length === 0) return () => false;
  return (ip) => {
    if (!ip || !ipaddr.isValid(ip)) return false;
    const addr = ipaddr.process(ip);
    return ranges.some(([net, prefix]) => net.kind() === addr.kind() && addr.match(net, prefix));
  };
}
