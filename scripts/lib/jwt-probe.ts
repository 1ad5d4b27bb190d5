// Probing the API's admin authentication during a JWT rotation: a short-lived HS256 token signed
// with a given key (jose), sent to a route that changes nothing — PATCH of a channel that cannot
// exist. The guard answers 401 for a key the replica does not accept; any other status means the
// token was accepted (the handler then answers 400/404 without touching data).
import { SignJWT } from 'jose';

export const PROBE_PATH = '/v2/admin/channels/rotation-probe-does-not-exist';

/** HS256 token with role admin, valid for lifetimeSeconds (default 300). */
export async function signAdminToken(
  secret: string,
  lifetimeSeconds = 300,
  subject = 'rotate-secret@mytv',
): Promise<string> {
  return new SignJWT({ role: 'admin' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime(`${lifetimeSeconds}s`)
    .sign(new TextEncoder().encode(secret));
}

/** true when baseUrl's admin guard accepts the token (status other than 401/403). */
export async function tokenAccepted(baseUrl: string, token: string, timeoutMs = 5000): Promise<boolean> {
  const res = await fetch(new URL(PROBE_PATH, baseUrl), {
    method: 'PATCH',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: '{}',
    signal: AbortSignal.timeout(timeoutMs),
  });
  await res.arrayBuffer();
  return res.status !== 401 && res.status !== 403;
}
