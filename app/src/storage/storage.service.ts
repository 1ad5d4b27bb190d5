import { createHash } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { isStorageUnavailable, OutageReporter } from '../http/dependency.js';
import { APP_LOGGER, type AppLogger } from '../logging/logger.js';

export const LOGO_CONTENT_TYPES: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'image/svg+xml': 'svg',
};

/** Channel logos in R2 (any S3-compatible endpoint): upload, and presigned GET URLs for clients. */
@Injectable()
export class StorageService implements OnModuleDestroy {
  private readonly s3: S3Client;
  private readonly bucket: string;
  private readonly urlTtlSeconds: number;
  private readonly outages: OutageReporter;

  constructor(@Inject(APP_CONFIG) config: AppConfig, @Inject(APP_LOGGER) logger: AppLogger) {
    this.outages = new OutageReporter(logger);
    this.bucket = config.r2.bucket;
    this.urlTtlSeconds = config.r2.logoUrlTtlSeconds;
    this.s3 = new S3Client({
      endpoint: config.r2.endpoint,
      region: config.r2.region,
      forcePathStyle: config.r2.forcePathStyle,
      credentials: {
        accessKeyId: config.r2.accessKeyId,
        secretAccessKey: config.r2.secretAccessKey,
      },
      maxAttempts: 3,
      // an unreachable or silent endpoint fails the request in seconds (then 503 r2_unavailable)
      requestHandler: { connectionTimeout: 2000, requestTimeout: 10_000 },
    });
  }

  /** Content-addressed key: a new logo gets a new URL, so CDN and browser caches never go stale. */
  logoKey(slug: string, body: Buffer, contentType: string): string {
    const digest = createHash('sha256').update(body).digest('hex').slice(0, 16);
    return `logos/${slug}-${digest}.${LOGO_CONTENT_TYPES[contentType] ?? 'bin'}`;
  }

  /** @throws DependencyUnavailable('r2') when R2 is unreachable or answers 5xx/429. */
  async putLogo(key: string, body: Buffer, contentType: string): Promise<void> {
    await this.s3
      .send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentType: contentType,
          CacheControl: 'public, max-age=31536000, immutable',
        }),
      )
      .catch((err: unknown) => {
        throw isStorageUnavailable(err) ? this.outages.unavailable('r2', err) : err;
      });
  }

  async presignLogo(key: string): Promise<string> {
    return getSignedUrl(this.s3, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
      expiresIn: this.urlTtlSeconds,
    });
  }

  onModuleDestroy(): void {
    this.s3.destroy();
  }
}
