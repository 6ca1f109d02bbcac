import { S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { Logger } from '@nestjs/common';
import { sendWithBody } from './body-guard';
import { ObjectKeys } from './object-keys';
import { RedisHeldBytes } from './redis-held-bytes';
import { isHeldBytesMissing, isS3NotFound } from './store-errors';
import { isFinished, UploadInfo } from './upload-info';

/** At most this many parts per flush run; the next PATCH schedules another. */
const PARTS_PER_RUN = 64;

/**
 * Uploads full parts from an upload's Redis run in the background, so that small PATCHes answer as soon as their
 * bytes are in Redis instead of waiting for a part upload every few requests.
 *
 * It takes no lock, and needs none: part n of such an upload is always the same `partSize` bytes (held bytes are
 * only ever appended), so uploading it twice, here and in a request, stores the same bytes with the same ETag. It
 * records each part in Redis; the next request that holds the lock adopts it into the journal.
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
    try {
      for (let i = 0; i < PARTS_PER_RUN; i++) {
        const upload = await this.readUpload(uploadId);
        const run = upload.pending[0];
        if (isFinished(upload) || !upload.multipartUploadId || !run || run.size < upload.partSize) return;
        const partNumber = upload.parts.length + 1;
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
        await this.held.recordFlushed(uploadId, run.key, { partNumber, size: upload.partSize, etag: output.ETag! });
      }
    } catch (error) {
      // Terminated, finished or trimmed meanwhile, or Redis/S3 trouble: a request uploads what is still missing.
      if (isS3NotFound(error) || isHeldBytesMissing(error)) return;
      this.logger.warn(`background part upload of ${uploadId} stopped: ${(error as Error).message}`);
    }
  }
}

