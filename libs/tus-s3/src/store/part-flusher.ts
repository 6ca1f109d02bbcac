import { S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { Logger } from '@nestjs/common';
import { sendWithBody } from './body-guard';
import { ObjectKeys } from './object-keys';
import { RedisHeldBytes } from './redis-held-bytes';
import { isHeldBytesMissing, isS3NotFound } from './store-errors';
import { isFinished } from './tus-data-store';
import { offsetOf, UploadInfo } from './upload-info';

/** At most this many parts per flush run; the next PATCH schedules another. */
const PARTS_PER_RUN = 64;

/**
 * Uploads full parts from an upload's Redis run in the background, so that small PATCHes answer as soon as their
 * bytes are in Redis instead of waiting for a part upload every few requests.
 *
 * It takes no lock. Part n that it uploads is the `partSize` bytes after the first n - 1 parts, which never change
 * once in the journal; a request that uploads part n meanwhile cuts it at `partSize` too (it sees the flusher's
 * announcement in Redis, set before the flusher looks at the upload), so both store the same bytes under the same
 * number. It records each part in Redis with the offset where it starts; the next request that holds the lock
 * adopts it if the upload's parts still end there.
 */
export class PartFlusher {
  private readonly logger = new Logger('TusS3');
  private readonly running = new Set<string>();

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly keys: ObjectKeys,
    private readonly held: RedisHeldBytes,
    private readonly readUpload: (uploadId: string) => Promise<UploadInfo>,
  ) {}

  /** Starts flushing this upload unless this instance already is. Never throws. */
  schedule(uploadId: string): void {
    if (this.running.has(uploadId)) return;
    this.running.add(uploadId);
    void this.flush(uploadId).finally(() => this.running.delete(uploadId));
  }

  /** Resolves once no flush runs on this instance (for orderly shutdown and tests). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  private async flush(uploadId: string): Promise<void> {
    let announced = false;
    try {
      // Before looking at the upload: a request that does not see this yet cannot be racing any part of this run.
      await this.held.announceFlush(uploadId);
      announced = true;
      for (let i = 0; i < PARTS_PER_RUN; i++) {
        if (i > 0) await this.held.renewFlush(uploadId);
        const upload = await this.readUpload(uploadId);
        const run = upload.pending[0];
        if (isFinished(upload) || !upload.multipartUploadId || !run || run.size < upload.partSize) return;
        const partNumber = upload.parts.length + 1;
        const start = offsetOf({ parts: upload.parts, pending: [] });
        const body = this.held.read(run.key, upload.partSize, run.skip ?? 0);
        const output = await sendWithBody(body, undefined, (abortSignal) =>
          this.client.send(
            new UploadPartCommand({
              Bucket: this.bucket,
              Key: this.keys.final(uploadId),
              UploadId: upload.multipartUploadId!,
              PartNumber: partNumber,
              ContentLength: upload.partSize,
              Body: body,
            }),
            { abortSignal },
          ),
        );
        await this.held.recordFlushed(uploadId, run.key, { partNumber, size: upload.partSize, etag: output.ETag!, start });
      }
    } catch (error) {
      // Terminated, finished or trimmed meanwhile, or Redis/S3 trouble: a request uploads what is still missing.
      if (!isS3NotFound(error) && !isHeldBytesMissing(error)) {
        this.logger.warn(`background part upload of ${uploadId} stopped: ${(error as Error).message}`);
      }
    } finally {
      if (announced) await this.held.endFlush(uploadId).catch(() => undefined);
    }
  }
}
