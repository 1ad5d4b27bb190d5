// Token verification (issue 16 item 1): whatever a client sends as a bearer token, verification
// answers { ok: false, reason } and never throws — an unauthenticated client never reaches a 500.
import { expect } from 'chai';
import fc from 'fast-check';
import { signJwt, verifyJwt } from '../../app/src/auth/jwt.js';

const secrets = { current: 'test-current-secret-0123456789abcdef', previous: 'test-previous-secret-0123456789abcdef' };
const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

async function rejected(token: string): Promise<string> {
  const result = await verifyJwt(token, secrets);
  expect(result.ok, `token ${token} was accepted`).to.equal(false);
  if (result.ok) throw new Error('unreachable');
  expect(result.reason)
    .to.be.a('string')
    .and.not.match(/\n|at .*\(/);
  return result.reason;
}

describe('app: JWT verification', function () {
  it('accepts the current and the previous secret (rotation)', async function () {
    const claims = { sub: 'ops@mytv.test', role: 'admin', exp: now() + 600 };
    const current = await verifyJwt(signJwt(claims, secrets.current), secrets);
    expect(current).to.include({ ok: true, secret: 'current' });
    const previous = await verifyJwt(signJwt(claims, secrets.previous), secrets);
    expect(previous).to.include({ ok: true, secret: 'previous' });
  });

  it('refuses malformed tokens with a reason, without throwing', async function () {
    // a header that decodes to JSON null: the field report that made a 500
    await rejected('bnVsbA.e30.x');
    await rejected(`${b64('null')}.${b64('null')}.x`);
    await rejected(`${b64([])}.${b64({ sub: 'a', exp: now() + 60 })}.x`);
    await rejected(`${b64('"HS256"')}.${b64('1')}.x`);
    await rejected('not-a-jwt');
    await rejected('a.b.c.d');
    await rejected('..');
    await rejected(`${b64({ alg: 'HS256' })}.%%%.x`);
  });

  it('refuses forged, unsigned, wrong-algorithm, expired and incomplete tokens', async function () {
    const claims = { sub: 'ops@mytv.test', role: 'admin', exp: now() + 600 };
    expect(await rejected(signJwt(claims, 'some-other-secret-that-is-long-enough!!'))).to.match(/signature/);
    // alg "none" (unsigned), and HS256 claims under another alg name
    await rejected(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`);
    const good = signJwt(claims, secrets.current).split('.');
    await rejected(`${b64({ alg: 'HS512', typ: 'JWT' })}.${good[1]}.${good[2]}`);
    expect(await rejected(signJwt({ ...claims, exp: now() - 120 }, secrets.current))).to.match(/expired/);
    expect(await rejected(signJwt({ sub: 'x', role: 'admin' }, secrets.current))).to.match(/exp/);
    expect(await rejected(signJwt({ role: 'admin', exp: now() + 60 }, secrets.current))).to.match(/sub/);
    await rejected(signJwt({ ...claims, nbf: now() + 3600 }, secrets.current));
    await rejected(signJwt({ ...claims, exp: 'tomorrow' }, secrets.current));
  });

  it('never throws and never accepts, for any string or any JSON header/payload (property)', async function () {
    await fc.assert(
      fc.asyncProperty(fc.string(), async (token) => {
        const result = await verifyJwt(token, secrets);
        return result.ok === false;
      }),
      { numRuns: 300 },
    );
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), fc.jsonValue(), fc.string(), async (header, payload, signature) => {
        const result = await verifyJwt(`${b64(header)}.${b64(payload)}.${b64(signature)}`, secrets);
        return result.ok === false;
      }),
      { numRuns: 300 },
    );
  });
});
