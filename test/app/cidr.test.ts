// One CIDR parser for the app (TRUSTED_PROXIES) and the scripts (Cloudflare's ranges for Nginx):
// what it accepts, the one-line problem for what it refuses, and matching peers against ranges.
import { expect } from 'chai';
import { cidrMatcher, cidrProblem, ipFamily, parseCidr } from '../../app/src/net/cidr.js';

describe('app: CIDR ranges (app/src/net/cidr.ts)', () => {
  it('accepts networks of both families and refuses set host bits only when asked', () => {
    expect(parseCidr('173.245.48.0/20')).to.deep.equal({
      ok: true,
      cidr: { address: '173.245.48.0', prefix: 20, family: 4 },
    });
    expect(parseCidr('2a06:98c0::/29', { network: true }).ok).to.equal(true);
    expect(parseCidr('10.1.2.3/8').ok).to.equal(true);
    expect(parseCidr('10.1.2.3/8', { network: true })).to.deep.equal({
      ok: false,
      problem: 'host bits are set (the network of /8 starts elsewhere)',
    });
  });

  it('takes a bare address as a one-address range only when allowed', () => {
    expect(parseCidr('::1', { bareAddress: true })).to.deep.equal({
      ok: true,
      cidr: { address: '::1', prefix: 128, family: 6 },
    });
    expect(cidrProblem('10.0.0.1')).to.equal('not of the form address/prefix');
  });

  it('gives a one-line problem, never an exception, for malformed text', () => {
    const cases: [string, RegExp][] = [
      ['fe80::%eth0/64', /zone id/],
      ['fe80::1%25eth0/64', /zone id/],
      ['10.0.0.0/abc', /not a number of bits/],
      ['10.0.0.0/08', /not a number of bits/],
      ['10.0.0.0/33', /longer than 32 bits/],
      ['::/129', /longer than 128 bits/],
      ['0x0a.0.0.0/8', /not an IP address/],
      ['010.0.0.0/8', /not an IP address/],
      ['10.0.0.0/8/8', /address\/prefix/],
      ['', /address\/prefix/],
    ];
    for (const [text, problem] of cases) {
      let result: string | undefined;
      expect(() => (result = cidrProblem(text)), text).not.to.throw();
      expect(result, text).to.match(problem);
      expect(result, text).not.to.include('\n');
    }
  });

  it('tells the family of a plain address, and nothing for a zone id or a range', () => {
    expect(ipFamily('192.0.2.1')).to.equal(4);
    expect(ipFamily('2001:db8::1')).to.equal(6);
    expect(ipFamily('fe80::1%eth0')).to.equal(undefined);
    expect(ipFamily('192.0.2.0/24')).to.equal(undefined);
  });

  it('matches peers against ranges, IPv4-mapped IPv6 included; skips entries that do not parse', () => {
    const inRange = cidrMatcher(['10.0.0.0/8', '2001:db8::/32', 'nonsense']);
    expect(inRange('10.200.0.1')).to.equal(true);
    expect(inRange('::ffff:10.200.0.1')).to.equal(true);
    expect(inRange('2001:db8:1::5')).to.equal(true);
    expect(inRange('2001:db9::5')).to.equal(false);
    expect(inRange('11.0.0.1')).to.equal(false);
    expect(inRange('not an address')).to.equal(false);
    expect(inRange(undefined)).to.equal(false);
    expect(cidrMatcher([])('10.0.0.1')).to.equal(false);
  });
});
