import type { ServerResponse } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import type { TusHooks } from '../../hooks/tus-hooks';
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
 * every byte stored but not finished (its instance died finishing it, or S3 failed while completing it) is finished
 * here: a client that sees Upload-Offset equal to Upload-Length takes the upload as done (tus-js-client does) and
 * sends nothing more, so no PATCH would ever finish it.
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
    let finishedHere = false;
    const upload = await this.locks.withLock(
      uploadId,
      async (lock) => {
        const stored = await this.store.get(uploadId, lock);
        if (!allStoredButUnfinished(stored)) return stored;
        // The app decides who may see the upload before anything is written for them.
        await this.allowed(req, stored);
        finishedHere = true;
        return this.writes.finishStored(req, stored, lock, 'head');
      },
      (upload) => !isFinished(upload),
    );
    if (finishedHere) await this.writes.announce(upload);
    else {
      await this.allowed(req, upload);
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

  private async allowed(req: TusRequest, upload: Upload): Promise<void> {
    await this.hooks.onUploadRequest?.({ req, upload, kind: 'head' });
    this.expiry.assertLive(upload);
  }
}

function allStoredButUnfinished(upload: Upload): boolean {
  return upload.size !== null && upload.offset === upload.size && !isFinished(upload);
}
