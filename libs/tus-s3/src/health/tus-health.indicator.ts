import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Inject, Injectable } from '@nestjs/common';
import type * as Terminus from '@nestjs/terminus';
import type { HealthIndicatorService } from '@nestjs/terminus';
import type { Locker } from '../locker/locker.interface';
import { loadOptionalPeer } from '../metrics/optional-peer';
import { TUS_LOCKER, TUS_S3_CLIENT, TUS_S3_OPTIONS } from '../tus-s3.constants';
import type { ResolvedTusS3Options } from '../tus-s3.options';

/**
 * What an indicator answers: Terminus's `HealthIndicatorResult`, spelled out here so that apps without
 * @nestjs/terminus (an optional peer) compile against the published types.
 */
export type TusHealthResult<Key extends string> = Record<
  Key,
  { status: 'up' | 'down' | 'degraded'; [detail: string]: unknown }
>;

export interface TusHealthCheckOptions {
  /** Longest wait for an answer; the indicator is `down` past it. Default 2000 for S3, 1000 for Redis. */
  timeoutMs?: number;
}

/**
 * Health indicators for @nestjs/terminus (12+, an optional peer dependency loaded on first use):
 *
 * ```ts
 * this.health.check([() => this.tusHealth.s3(), () => this.tusHealth.redis()])
 * ```
 *
 * - `s3()`: the upload bucket answers HeadBucket.
 * - `redis()`: a majority of the Redlock masters answer PING, so locks can be granted. With the in-memory locker
 *   (no `redis.urls`) it is `up` with a message saying there is no Redis.
 */
@Injectable()
export class TusHealthIndicator {
  private indicators: HealthIndicatorService | undefined;

  constructor(
    @Inject(TUS_S3_CLIENT) private readonly client: S3Client,
    @Inject(TUS_S3_OPTIONS) private readonly options: ResolvedTusS3Options,
    @Inject(TUS_LOCKER) private readonly locker: Locker,
  ) {}

  async s3<const Key extends string = 's3'>(
    key: Key = 's3' as Key,
    { timeoutMs = 2_000 }: TusHealthCheckOptions = {},
  ): Promise<TusHealthResult<Key>> {
    const bucket = this.options.bucket;
    return await this.service()
      .check(key)
      .attempt(async ({ signal }) => {
        try {
          await this.client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal });
        } catch (error) {
          throw new Error(`bucket ${bucket} did not answer HeadBucket: ${describeS3Error(error)}`);
        }
        return { bucket };
      })
      .withTimeout(timeoutMs);
  }

  async redis<const Key extends string = 'redis'>(
    key: Key = 'redis' as Key,
    { timeoutMs = 1_000 }: TusHealthCheckOptions = {},
  ): Promise<TusHealthResult<Key>> {
    return await this.service()
      .check(key)
      .attempt(async () => {
        const { masters, up, needed } = await this.locker.ping(timeoutMs);
        if (masters === 0) return { message: 'no Redis configured: in-memory locker, one instance only' };
        if (up < needed) {
          throw new Error(`${up} of ${masters} Redis lock masters answered PING, ${needed} are needed for a lock`);
        }
        return { masters, answering: up, quorum: needed };
      })
      // ping() bounds itself by timeoutMs; this is a backstop for a locker that does not.
      .withTimeout(timeoutMs + 500);
  }

  private service(): HealthIndicatorService {
    if (!this.indicators) {
      const terminus = loadOptionalPeer<typeof Terminus>('@nestjs/terminus');
      if (!terminus) throw new Error('TusHealthIndicator needs @nestjs/terminus: npm install @nestjs/terminus');
      this.indicators = new terminus.HealthIndicatorService();
    }
    return this.indicators;
  }
}

function describeS3Error(error: unknown): string {
  const { name, message, $metadata } = (error ?? {}) as {
    name?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const status = $metadata?.httpStatusCode;
  // HEAD answers have no body, so the SDK's message is often just "UnknownError": the status says more.
  return [name, status && `HTTP ${status}`, message && message !== name && message !== 'UnknownError' && message]
    .filter(Boolean)
    .join(', ');
}
