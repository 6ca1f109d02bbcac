import { Logger } from '@nestjs/common';
import { ObjectKeys } from '../object-keys';
import { S3Objects } from '../s3-objects';
import { isHeldBytesMissing, isS3NotFound } from '../store-errors';
import { isFinished } from '../tus-data-store';
import { partsEnd, UploadInfo } from '../upload-info';
import { RedisRuns } from './redis-runs';

/** At most this many parts per flush run; the next PATCH schedules another. */
const PARTS_PER_RUN = 64;

/** One flush on this instance: `stopping` once a request asked it to end after its current part. */
interface FlushRun {
  stopping: boolean;
  done: Promise<void>;
}

/**
 * Uploads full parts from an upload's Redis run in the background, so that small PATCHes answer as soon as their
 * bytes are in Redis instead of waiting for a part upload every few requests.
 *
 * It takes no lock. Part n that it uploads is the `partSize` bytes after the first n - 1 parts, which never change
 * once in the journal; a request that uploads part n meanwhile cuts it at `partSize` too (it sees the flusher's
 * announcement in Redis, set before the flusher looks at the upload), so both store the same bytes under the same
 * number. It records each part in Redis with the offset where it starts; the next request that holds the lock
 * adopts it if the upload's parts still end there.
 *
 * It never uploads the part that ends an upload of known length: the request that brings the last byte cuts that
 * part itself, and a flush of it would race that request every time, sending the same megabytes to S3 twice.
 * A request about to cut parts from held bytes settles this instance's flush first (see `settle`) for the same
 * reason.
 */
export class PartFlusher {
  private readonly logger = new Logger('TusS3');
  private readonly running = new Map<string, FlushRun>();

  constructor(
    private readonly objects: S3Objects,
    private readonly keys: ObjectKeys,
    private readonly runs: RedisRuns,
    private readonly readUpload: (uploadId: string) => Promise<UploadInfo>,
  ) {}

  /** Starts flushing this upload unless this instance already is. Never throws. */
  schedule(uploadId: string): void {
    if (this.running.has(uploadId)) return;
    const run: FlushRun = { stopping: false, done: Promise.resolve() };
    this.running.set(uploadId, run);
    run.done = this.flush(uploadId, run).finally(() => this.running.delete(uploadId));
  }

  /**
   * Asks this instance's flush of the upload, if one runs, to stop after the part it is uploading, and waits until
   * it has (that part recorded in Redis, or given up). Returns whether one was running.
   */
  async settle(uploadId: string): Promise<boolean> {
    const run = this.running.get(uploadId);
    if (!run) return false;
    run.stopping = true;
    await run.done;
    return true;
  }

  /** Resolves once no flush runs on this instance (for orderly shutdown and tests). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  private async flush(uploadId: string, run: Readonly<FlushRun>): Promise<void> {
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
        const start = partsEnd(upload);
        if (run.stopping || (upload.size !== null && start + upload.partSize >= upload.size)) return;
        const partNumber = upload.parts.length + 1;
        const segments = { uploadId, base: held.base };
        const bytes = this.runs.read(segments, upload.partSize, held.skip);
        let etag: string | undefined;
        try {
          const part = { partNumber, size: upload.partSize, body: () => bytes.open() };
          etag = await this.objects.uploadPart(this.keys.final(uploadId), upload.multipartUploadId, part, undefined);
        } finally {
          bytes.end(etag !== undefined);
        }
        await this.runs.recordFlushed(segments, { partNumber, size: upload.partSize, etag: etag!, start });
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
