import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Minimal HS256 JWT verification (and signing, for tools and tests). Tokens are checked against
 * the current secret and then the previous one, so the secret can be rotated without downtime:
 * deploy with JWT_SECRET=new, JWT_SECRET_PREVIOUS=old, then drop the previous one after the
 * longest token lifetime.
 */

export interface AdminClaims {
  sub: string;
  role: string;
  exp: number;
  iat?: number;
  nbf?: number;
  [claim: string]: unknown;
}

export type VerifyResult =
  { ok: true; claims: AdminClaims; secret: 'current' | 'previous' } | { ok: false; reason: string };

const CLOCK_SKEW_SECONDS = 30;

const b64url = (input: Buffer | string): string => Buffer.from(input).toString('base64url');

export function signJwt(claims: Record<string, unknown>, secret: string): string {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(JSON.stringify(claims));
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

export function verifyJwt(
  token: string,
  secrets: { current: string; previous?: string },
  nowSeconds = Math.floor(Date.now() / 1000),
): VerifyResult {
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'malformed token' };
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  let header: { alg?: unknown };
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(headerPart, 'base64url').toString('utf8')) as { alg?: unknown };
    claims = JSON.parse(Buffer.from(payloadPart, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return { ok: false, reason: 'malformed token' };
  }
  if (header.alg !== 'HS256') return { ok: false, reason: 'unsupported algorithm' };
  if (typeof claims !== 'object' || claims === null) return { ok: false, reason: 'malformed token' };

  const signature = Buffer.from(signaturePart, 'base64url');
  const signingInput = `${headerPart}.${payloadPart}`;
  const matches = (secret: string) => {
    const expected = createHmac('sha256', secret).update(signingInput).digest();
    return expected.length === signature.length && timingSafeEqual(expected, signature);
  };
  let which: 'current' | 'previous';
  if (matches(secrets.current)) which = 'current';
  else if (secrets.previous !== undefined && matches(secrets.previous)) which = 'previous';
  else return { ok: false, reason: 'invalid signature' };

  if (typeof claims.exp !== 'number') return { ok: false, reason: 'missing exp claim' };
  if (claims.exp + CLOCK_SKEW_SECONDS <= nowSeconds) return { ok: false, reason: 'token expired' };
  if (typeof claims.nbf === 'number' && claims.nbf - CLOCK_SKEW_SECONDS > nowSeconds) {
    return { ok: false, reason: 'token not yet valid' };
  }
  if (typeof claims.sub !== 'string' || claims.sub === '') {
    return { ok: false, reason: 'missing sub claim' };
  }
  return { ok: true, claims: claims as AdminClaims, secret: which };
}
