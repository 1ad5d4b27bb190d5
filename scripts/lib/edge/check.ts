// `nginx -t` of a rendered config, and the self-signed stand-in certificates that let a TLS site
// be checked on a machine without the real ones.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Environment } from '../environments.js';
import { requireTool } from '../tools.js';
import {
  renderNginxConfig,
  writeNginxConfig,
  type NginxRenderOptions,
  type NginxTls,
  type RenderedNginxConfig,
} from './render.js';

const execFileAsync = promisify(execFile);

export interface NginxTestResult {
  ok: boolean;
  output: string;
}

/** `nginx -t` of a config file, with the error log and prefix in prefixDir. */
export async function nginxTest(confFile: string, prefixDir = path.dirname(confFile)): Promise<NginxTestResult> {
  const nginx = requireTool('nginx');
  try {
    const r = await execFileAsync(
      nginx,
      ['-t', '-p', prefixDir, '-c', confFile, '-e', path.join(prefixDir, 'nginx-t.log')],
      {
        timeout: 30_000,
      },
    );
    return { ok: true, output: (r.stderr + r.stdout).trim() };
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    return { ok: false, output: (e.stderr || e.stdout || e.message).trim() };
  }
}

/** A self-signed certificate (and key) for checking TLS sites here; not for serving real traffic. */
export async function selfSignedCertificate(dir: string, commonName: string): Promise<NginxTls> {
  mkdirSync(dir, { recursive: true });
  const certificate = path.join(dir, `${commonName}.pem`);
  const certificateKey = path.join(dir, `${commonName}.key`);
  if (!existsSync(certificate)) {
    await execFileAsync(
      requireTool('openssl'),
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'].concat([
        '-subj',
        `/CN=${commonName}`,
        '-keyout',
        certificateKey,
        '-out',
        certificate,
      ]),
      { timeout: 30_000 },
    );
  }
  return { certificate, certificateKey, originPullCa: certificate };
}

/**
 * Renders an environment's config as its server would get it, except that certificates are
 * self-signed stand-ins and runtime paths point into a scratch directory, then runs `nginx -t`.
 * The preflight of `make deploy-nginx` and the per-environment config test.
 */
export async function checkNginxConfig(
  env: Environment,
  o: NginxRenderOptions = {},
): Promise<NginxTestResult & { rendered: RenderedNginxConfig }> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'mytv-nginx-check-'));
  try {
    const tls = env.nginx?.tls
      ? await selfSignedCertificate(path.join(scratch, 'tls'), env.nginx.serverName)
      : undefined;
    const rendered = renderNginxConfig(env, {
      ...o,
      tls: o.tls ?? tls,
      runtime: {
        pidFile: path.join(scratch, 'nginx.pid'),
        errorLog: path.join(scratch, 'error.log'),
        accessLog: path.join(scratch, 'access.log'),
        tempDir: path.join(scratch, 'tmp'),
        cacheDir: path.join(scratch, 'cache'),
        maintenanceFlag: path.join(scratch, 'maintenance'),
        // `user` needs root; nginx -t as another user would fail on it for the wrong reason.
        ...(process.getuid?.() === 0 ? {} : { user: undefined }),
        ...o.runtime,
      },
    });
    mkdirSync(rendered.runtime.tempDir, { recursive: true });
    const conf = writeNginxConfig(rendered, path.join(scratch, 'conf'));
    const result = await nginxTest(conf, scratch);
    return { ...result, rendered };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
