import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { PART_SIZE } from '../config';
import type { Payload } from '../payload';
import type { Target, UploadOutcome } from './target';

/** (a) The ceiling: lib-storage streams the bytes straight into a multipart upload, 4 parts at once. */
export class DirectTarget implements Target {
  readonly name = 'direct' as const;
  private count = 0;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
    private readonly payload: Payload,
  ) {}

  async upload(size: number): Promise<UploadOutcome> {
    const key = `${this.prefix}${++this.count}.bin`;
    await new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: this.payload.stream(0, size) },
      partSize: PART_SIZE,
      queueSize: 4,
    }).done();
    return { key };
  }
}
