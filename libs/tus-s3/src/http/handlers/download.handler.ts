import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Inject, Injectable } from '@nestjs/common';
import type { TusHooks } from '../../hooks/tus-hooks';
import { contentTypeOf } from '../../protocol/content-type';
import { parseRange } from '../../protocol/range';
import { TUS_RESUMABLE } from '../../protocol/tus-constants';
import { TusErrors } from '../../protocol/tus-error';
import { isFinished, TusDataStore } from '../../store/tus-data-store';
import { TUS_HOOKS, TUS_STORE } from '../../tus-s3.constants';
import { contentDispositionOf } from '../content-disposition';
import { tusHeader, TusRequest } from '../request';
import { send } from '../tus-response';
import { FinishedAnnouncements } from '../announcements';
import { UploadExpiry } from '../upload-expiry';
import { UploadLocks } from '../upload-locks';

/** GET: a finished upload's bytes, whole or a range, with headers that keep a browser from running them. */
@Injectable()
export class DownloadHandler {
  constructor(
    @Inject(TUS_STORE) private readonly store: TusDataStore,
    @Inject(TUS_HOOKS) private readonly hooks: TusHooks,
    private readonly locks: UploadLocks,
    private readonly announcements: FinishedAnnouncements,
    private readonly expiry: UploadExpiry,
  ) {}

  async handle(req: TusRequest, res: ServerResponse, uploadId: string): Promise<void> {
    let upload = await this.store.get(uploadId);
    await this.hooks.onUploadRequest?.({ req, upload, kind: 'download' });
    if (!isFinished(upload)) {
      // It may be finishing right now: look again under the lock before refusing.
      upload = await this.locks.withLock(uploadId, (lock) => this.store.get(uploadId, lock));
      this.expiry.assertLive(upload);
      if (!isFinished(upload))
        throw TusErrors.badRequest('the upload is not finished yet; only finished uploads can be downloaded');
    }
    void this.announcements.resume(upload);
    const size = upload.size ?? 0;
    const range = parseRange(tusHeader(req, 'Range'), size);
    if (range.kind === 'unsatisfiable') {
      return send(res, 416, { 'Content-Range': `bytes */${size}` }, 'the requested range is outside the upload');
    }
    const { mime, inlineSafe } = contentTypeOf(upload.metadata);
    const content = await this.store.read(upload, range.kind === 'partial' ? range : undefined);
    res.statusCode = range.kind === 'partial' ? 206 : 200;
    res.setHeader('Tus-Resumable', TUS_RESUMABLE);
    res.setHeader('Content-Type', mime);
    res.setHeader('Content-Length', content.contentLength);
    res.setHeader('Content-Disposition', contentDispositionOf(upload.metadata, inlineSafe));
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Accept-Ranges', 'bytes');
    if (range.kind === 'partial') res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    // pipeline() also ends the storage response when the client goes away, so no connection is left hanging.
    await pipeline(content.body, res).catch(() => undefined);
  }
}
