// The process behind the 's3' service: s3rver (npm) standing in for Cloudflare R2 on loopback.
// Configured through the environment by s3.ts; stops cleanly on SIGTERM/SIGINT.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverClass = new (opts: Record<string, unknown>) => S3rverInstance;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;
const env = process.env;
const tls =
  env.S3_TLS_CERT && env.S3_TLS_KEY ? { cert: readFileSync(env.S3_TLS_CERT), key: readFileSync(env.S3_TLS_KEY) } : {};

const server = new S3rver({
  address: env.S3_HOST ?? '127.0.0.1',
  port: Number(env.S3_PORT),
  directory: env.S3_DIR,
  silent: false,
  configureBuckets: (env.S3_BUCKETS ?? '')
    .split(',')
    .filter(Boolean)
    .map((name) => ({ name })),
  ...tls,
});

const { port } = await server.run();
process.stdout.write(`s3rver listening on ${env.S3_HOST ?? '127.0.0.1'}:${port}\n`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void server.close().finally(() => process.exit(0));
  });
}
