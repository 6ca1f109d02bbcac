import type { ServerResponse } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import type { TusHooks } from '../../hooks/tus-hooks';
import { TusDataStore } from '../../store/tus-data-store';
import { TUS_HOOKS, TUS_STORE } from '../../tus-s3.constants';
import { TusRequest } from '../request';
import { send } from '../tus-response';
import { FinishedAnnouncements } from '../announcements';
import { UploadExpiry, uploadExpiresHeader } from '../upload-expiry';
import { UploadLocks } from '../upload-locks';

/** HEAD: where an upload stands, read under its lock so that a PATCH in flight is not seen half-way. */
@Injectable()
export class HeadHandler {
  constructor(
    @Inject(TUS_STORE) private readonly store: TusDataStore,
    @Inject(TUS_HOOKS) private readonly hooks: TusHooks,
    private readonly locks: UploadLocks,
    private readonly announcements: FinishedAnnouncements,
    private readonly expiry: UploadExpiry,
  ) {}

  async handle(req: TusRequest, res: ServerResponse, uploadId: string): Promise<void> {
    const upload = await this.locks.withLock(uploadId, (lock) => this.store.get(uploadId, lock));
    await this.hooks.onUploadRequest?.({ req, upload, kind: 'head' });
    this.expiry.assertLive(upload);
    void this.announcements.resume(upload);
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
}
