import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import type { TusHooks } from '../../hooks/tus-hooks';
import type { UploadLock } from '../../locker/locker.interface';
import { isFinished, TusDataStore, Upload } from '../../store/tus-data-store';
import { TUS_HOOKS, TUS_STORE } from '../../tus-s3.constants';
import { TusRequest } from '../request';
import { send } from '../tus-response';
import { FinishedAnnouncements } from '../announcements';
import { UploadExpiry, uploadExpiresHeader } from '../upload-expiry';
import { UploadLocks } from '../upload-locks';
import { UploadWrites } from '../upload-writes';

/**
 * HEAD: where an upload stands, read under its lock so that a PATCH in flight is not seen half-way. An upload with
 * every byte stored but not finished (the request that brought its last byte failed to finish it: S3 failed while
 * completing it, or the process died meanwhile) is finished here: a client that sees Upload-Offset equal to
 * Upload-Length sends nothing more, so no PATCH would ever finish it.
 */
@Injectable()
export class HeadHandler {
  constructor(
    @Inject(TUS_STORE) private readonly store: TusDataStore,
    @Inject(TUS_HOOKS) private readonly hooks: TusHooks,
    private readonly locks: UploadLocks,
    private readonly announcements: FinishedAnnouncements,
    private readonly expiry: UploadExpiry,
    private readonly writes: UploadWrites,
  ) {}

  async handle(req: TusRequest, res: ServerResponse, uploadId: string): Promise<void> {
    const { upload, finishedNow } = await this.locks.withLock(uploadId, async (lock) => {
      const found = await this.store.get(uploadId, lock);
      if (!storedButUnfinished(found)) return { upload: found, finishedNow: false };
      // The checks a PATCH makes come first: who may continue it, and whether it expired.
      await this.hooks.onUploadRequest?.({ req, upload: found, kind: 'head' });
      this.expiry.assertLive(found);
      return { upload: await this.finish(req, found, lock), finishedNow: true };
    });
    if (finishedNow) await this.writes.announce(upload);
    else {
      await this.hooks.onUploadRequest?.({ req, upload, kind: 'head' });
      this.expiry.assertLive(upload);
      void this.announcements.resume(upload);
    }
    const concat = upload.concat;
    send(
      res,
      200,
      {
        'Upload-Offset': upload.offset,
        'Upload-Length': upload.size ?? undefined,
        'Upload-Defer-Length': upload.size === null ? 1 : undefined,
        'Upload-Metadata': upload.metadataHeader || undefined,
        'Upload-Concat': concat ? (concat.kind === 'partial' ? 'partial' : concat.header) : undefined,
        'Upload-Expires': uploadExpiresHeader(upload),
        'Cache-Control': 'no-store',
      },
      undefined,
      true,
    );
  }

  /** An empty write: the store finds every byte there and finishes the upload, `beforeFinish` first. */
  private async finish(req: TusRequest, upload: Upload, lock: UploadLock): Promise<Upload> {
    const outcome = await this.writes.gatingFinish(req, upload, lock, 'head', (beforeFinish) =>
      this.store.write(upload, Readable.from([]), lock, { maxBytes: 0, beforeFinish }),
    );
    if (outcome.failure) throw outcome.failure;
    await this.writes.noteFinished(outcome.upload);
    return outcome.upload;
  }
}

function storedButUnfinished(upload: Upload): boolean {
  return !isFinished(upload) && upload.size !== null && upload.offset === upload.size;
}
