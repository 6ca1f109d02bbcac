import { Logger } from '@nestjs/common';
import { ObjectKeys } from '../object-keys';
import { S3Objects } from '../s3-objects';
import { isHeldBytesMissing, isS3NotFound } from '../store-errors';
import { isFinished } from '../tus-data-store';
import { partsEnd, UploadInfo } from '../upload-info';
import { RedisRuns } from './redis-runs';

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
    private readonly objects: S3Objects,
    private readonly keys: ObjectKeys,
    private readonly runs: RedisRuns,
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
      await this.runs.announceFlush(uploadId);
      announced = true;
      for (let i = 0; i < PARTS_PER_RUN; i++) {
        if (i > 0) await this.runs.renewFlush(uploadId);
        const upload = await this.readUpload(uploadId);
        const held = upload.pending[0];
        if (isFinished(upload) || !upload.multipartUploadId || held?.in !== 'redis' || held.size < upload.partSize)
          return;
        const partNumber = upload.parts.length + 1;
        const start = partsEnd(upload);
        const run = { uploadId, base: held.base };
        const part = { partNumber, size: upload.partSize, body: () => this.runs.read(run, upload.partSize, held.skip) };
        const etag = await this.objects.uploadPart(
          this.keys.final(uploadId),
          upload.multipartUploadId,
          part,
          undefined,
        );
        await this.runs.recordFlushed(run, { partNumber, size: upload.partSize, etag: etag!, start });
      }
    } catch (error) {
      // Terminated, finished or trimmed meanwhile, or Redis/S3 trouble: a request uploads what is still missing.
      if (!isS3NotFound(error) && !isHeldBytesMissing(error)) {
        this.logger.warn(`upload ${uploadId}: background part upload stopped: ${(error as Error).message}`);
      }
    } finally {
      if (announced) await this.runs.endFlush(uploadId).catch(() => undefined);
    }
  }
}
