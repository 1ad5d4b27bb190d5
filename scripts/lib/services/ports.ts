// Loopback ports: free ones for tests, and who holds a taken one (for a readable conflict error).
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';

/** A port the kernel reports free on host right now. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address() as net.AddressInfo;
      srv.close(() => resolve(addr.port));
    });
  });
}

/** Distinct free ports (a port handed out once is not handed out again by this process). */
const handedOut = new Set<number>();
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const out: number[] = [];
  while (out.length < count) {
    const p = await freePort(host);
    if (!handedOut.has(p)) {
      handedOut.add(p);
      out.push(p);
    }
  }
  return out;
}

export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** Ports in LISTEN state on this machine (IPv4 and IPv6), from /proc. */
export function listeningPorts(): Map<number, string> {
  const byPort = new Map<number, string>(); // port -> socket inode
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A = LISTEN
      byPort.set(parseInt(f[1].split(':')[1], 16), f[9]);
    }
  }
  return byPort;
}

/** "nginx (pid 1234)" for the process listening on port, when it can be seen. */
export function portOwner(port: number): string | undefined {
  const inode = listeningPorts().get(port);
  if (!inode) return undefined;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) {
          const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
          return `${comm} (pid ${pid})`;
        }
      } catch {
        /* fd closed meanwhile */
      }
    }
  }
  return 'another process';
}
