// After a rollout: the environment answers as its users reach it (environments/<env>.yaml
// api.publicUrl, through Cloudflare and the Nginx edge): GET /health/ready 200, and one read
// endpoint 200 with a JSON `data` array. Polled until a deadline: the edge may take a moment to
// see the new pods.

import { sleep } from '../wait.js';

export interface PublicCheck {
  url: string;
  ok: boolean;
  detail: string;
}

/** The read endpoint every environment serves (app/src/channels/channels.controller.ts). */
export const READ_PATH = '/v2/channels?limit=1';

async function checkOnce(url: string, wantData: boolean): Promise<PublicCheck> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000), headers: { 'cache-control': 'no-cache' } });
    const text = await res.text();
    if (res.status !== 200) return { url, ok: false, detail: `HTTP ${res.status}` };
    if (wantData) {
      const body = JSON.parse(text) as { data?: unknown };
      if (!Array.isArray(body.data)) return { url, ok: false, detail: 'HTTP 200 but no `data` array in the body' };
    }
    return { url, ok: true, detail: 'HTTP 200' };
  } catch (err) {
    return { url, ok: false, detail: (err as Error).message };
  }
}

/**
 * Polls readiness and the read endpoint through the public URL until both pass or `timeoutMs`
 * (milliseconds) has passed; returns the last result of each (never throws).
 */
export async function verifyPublic(publicUrl: string, timeoutMs: number, intervalMs = 2000): Promise<PublicCheck[]> {
  const base = publicUrl.replace(/\/+$/, '');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const results = [await checkOnce(`${base}/health/ready`, false), await checkOnce(`${base}${READ_PATH}`, true)];
    if (results.every((r) => r.ok) || Date.now() >= deadline) return results;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}
