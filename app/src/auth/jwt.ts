import { createHmac } from 'node:crypto';
import { errors, jwtVerify, type JWTPayload } from 'jose';

/**
 * HS256 JWT verification on `jose` (jwtVerify, RFC 7519), and signing for tools and tests.
 * Tokens are checked against the current secret and then the previous one, so the secret can be
 * rotated without downtime: deploy with JWT_SECRET=new, JWT_SECRET_PREVIOUS=old, then drop the
 * previous one after the longest token lifetime.
 */

export interface AdminClaims extends JWTPayload {
  sub: string;
  exp: number;
  role?: unknown;
}

export type VerifyResult =
  { ok: true; claims: AdminClaims; secret: 'current' | 'previous' } | { ok: false; reason: string };

/** Accepted difference between our clock and the issuer's, in seconds (exp/nbf/iat checks). */
export const CLOCK_TOLERANCE_SECONDS = 30;
/** The only algorithm accepted: the header's `alg` is never trusted to choose another (RFC 8725 §2.1). */
const ALGORITHMS = ['HS256'];
const REQUIRED_CLAIMS = ['exp', 'sub'];

const b64url = (input: Buffer | string): string => Buffer.from(input).toString('base64url');

/** Signs claims as a compact HS256 JWT (tools and tests; the API only verifies). */
export function signJwt(claims: Record<string, unknown>, secret: string): string {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(JSON.stringify(claims));
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

/** A short reason for a client (no stack, no token content) from a jose error. */
function reasonOf(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') return `missing ${error.claim} claim`;
    if (error.claim === 'nbf') return 'token not yet valid';
    return `invalid ${error.claim} claim`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'invalid signature';
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return 'unsupported algorithm';
  }
  if (error instanceof errors.JOSEError) return 'malformed token';
  throw error; // not a token problem: a bug, let it surface
}

/**
 * Verifies a compact JWS: algorithm HS256 only, `exp` and `sub` required, exp/nbf with
 * CLOCK_TOLERANCE_SECONDS of tolerance, signature against `secrets.current` then `secrets.previous`.
 * Never throws for any token text: every malformed, forged, unsigned or expired token gives
 * `{ ok: false, reason }` with a short reason fit for a 401 body.
 */
export async function verifyJwt(
  token: string,
  secrets: { current: string; previous?: string },
  now: Date = new Date(),
): Promise<VerifyResult> {
  const keys: ['current' | 'previous', string][] = [['current', secrets.current]];
  if (secrets.previous !== undefined) keys.push(['previous', secrets.previous]);
  let reason = 'invalid signature';
  for (const [which, secret] of keys) {
    try {
      const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), {
        algorithms: ALGORITHMS,
        requiredClaims: REQUIRED_CLAIMS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: now,
      });
      if (typeof payload.sub !== 'string' || payload.sub === '') return { ok: false, reason: 'invalid sub claim' };
      return { ok: true, claims: payload as AdminClaims, secret: which };
    } catch (error) {
      reason = reasonOf(error);
      // only a signature mismatch may be a token of the other secret; anything else is final
      if (!(error instanceof errors.JWSSignatureVerificationFailed)) return { ok: false, reason };
    }
  }
  return { ok: false, reason };
}
