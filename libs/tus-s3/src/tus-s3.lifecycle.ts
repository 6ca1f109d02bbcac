import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { isS3NotFound } from './store/store-errors';
import { TUS_REDIS_CLIENTS, TUS_S3_CLIENT, TUS_S3_OPTIONS } from './tus-s3.constants';
import type { ResolvedTusS3Options } from './tus-s3.options';

/** Start-up checks, and shutdown of the clients this module opened for everyone (never those the user passed in). */
@Injectable()
export class TusS3Lifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('TusS3');

  constructor(
    @Inject(TUS_S3_OPTIONS) private readonly options: ResolvedTusS3Options,
    @Inject(TUS_S3_CLIENT) private readonly client: S3Client,
    @Inject(TUS_REDIS_CLIENTS) private readonly redis: Redis[],
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.options.createBucket) return;
    for (const bucket of [this.options.bucket, this.options.copyOnFinish?.bucket]) {
      if (bucket) await this.ensureBucket(bucket);
    }
  }

  onApplicationShutdown(): void {
    // The locker and the held-bytes store free what they own in their own hooks; these clients are the module's.
    if (!this.options.redis.clients) this.redis.forEach((client) => client.disconnect());
    if (!this.options.s3Client) this.client.destroy();
  }

  private async ensureBucket(bucket: string): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }));
    } catch (error) {
      if (!isS3NotFound(error)) throw error;
      this.logger.log(`creating bucket ${bucket}`);
      await this.client.send(new CreateBucketCommand({ Bucket: bucket }));
    }
  }
}
