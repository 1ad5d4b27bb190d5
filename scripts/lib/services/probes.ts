// Readiness probes shared by service definitions.
import net from 'node:net';
import http from 'node:http';

/** Sends `payload` over TCP and resolves true when the reply contains `expect`. */
export function tcpProbe(
  host: string,
  port: number,
  payload?: string,
  expect?: string,
  timeoutMs = 1000,
): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    let buf = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => {
      if (!payload) return done(true);
      sock.write(payload);
    });
    sock.on('data', (d) => {
      buf += d.toString();
      if (!expect || buf.includes(expect)) done(true);
    });
  });
}

/** GET url; true when the status is in [200, 400). */
export function httpProbe(url: string, timeoutMs = 1000, headers: Record<string, string> = {}): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs, headers }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
