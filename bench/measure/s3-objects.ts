import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';

/** What the bench asks S3 directly: checks of the stored objects, and clean-up. */
export class BenchBucket {
  constructor(
    readonly client: S3Client,
    readonly bucket: string,
  ) {}

  async ensure(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    }
  }

  /** Size of the object, or -1 when there is none. */
  async sizeOf(key: string): Promise<number> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return head.ContentLength ?? -1;
    } catch {
      return -1;
    }
  }

  async sha256Of(key: string): Promise<string> {
    const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    const hash = createHash('sha256');
    for await (const chunk of object.Body as Readable) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  /** Deletes every object and aborts every multipart upload whose key starts with `prefix`; returns the objects' keys. */
  async deletePrefix(prefix: string): Promise<string[]> {
    const deleted: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      const keys = (page.Contents ?? []).map((o) => o.Key!).filter(Boolean);
      // One by one: DeleteObjects needs a Content-MD5/checksum that not every S3-compatible server takes.
      await inBatches(keys, 16, (key) => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
      deleted.push(...keys);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const uploads = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix }));
    await inBatches(uploads.Uploads ?? [], 16, (u) =>
      this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key!, UploadId: u.UploadId! })),
    );
    return deleted;
  }
}

async function inBatches<T>(items: T[], size: number, work: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}
