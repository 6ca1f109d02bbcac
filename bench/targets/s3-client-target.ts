import type { S3Client } from '@aws-sdk/client-s3';
import type { TargetName } from '../config';
import type { Payload } from '../payload';
import type { Target, UploadOutcome } from './target';

/** A target that uploads straight into S3 with its own client, each upload to the next numbered key under `prefix`. */
export abstract class S3ClientTarget implements Target {
  abstract readonly name: TargetName;
  private count = 0;

  constructor(
    protected readonly client: S3Client,
    protected readonly bucket: string,
    private readonly prefix: string,
    protected readonly payload: Payload,
  ) {}

  abstract upload(size: number): Promise<UploadOutcome>;

  protected nextKey(): string {
    return `${this.prefix}${++this.count}.bin`;
  }
}
